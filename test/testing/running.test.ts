import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ArrowerJobsError, defineJob, InvalidOptionsError, snooze, UnrecoverableError, type Enqueuer, type HandlerContext } from "../../src/index.ts";
import { createTestingJobs, DrainLimitError, NoHandlerError, type TestingJobs } from "../../src/testing.ts";

const Order = defineJob<{ orderId: number }>("order");
const Charge = defineJob<{ orderId: number; cents: bigint }>("charge", { maxAttempts: 3 });
const Receipt = defineJob<{ orderId: number; at: Date }>("receipt");
const Ping = defineJob<{ n: number }>("ping");

/** The fake transaction client our handlers get: follow-ups go through `tx.$jobs`, as in production. */
interface FakeTx {
  $jobs: Enqueuer;
}

let jobs: TestingJobs<FakeTx>;
beforeEach(() => {
  jobs = createTestingJobs<FakeTx>({ tx: (queue) => ({ $jobs: queue }) });
});

describe("runAll()", () => {
  it("runs due jobs once, leaves future jobs and follow-ups for later", async () => {
    const ran: number[] = [];
    await jobs.register(Order, async ({ orderId }, { tx }) => {
      ran.push(orderId);
      await tx.$jobs.enqueue(Receipt({ orderId, at: new Date() }));
    });
    await jobs.register(Receipt, () => undefined);
    await jobs.enqueue(Order({ orderId: 1 }));
    await jobs.enqueue(Order({ orderId: 2 }), { runAt: new Date(Date.now() + 60_000) });

    expect(await jobs.runAll()).toEqual({ rounds: 1, attempts: 1, succeeded: 1, retried: 0, failed: 0 });
    expect(ran).toEqual([1]);
    jobs.assert().queuedTotal(2).contains(Order({ orderId: 2 })).queued(Receipt, 1);
    expect(jobs.succeeded().map((j) => [j.type, j.payload])).toEqual([["order", { orderId: 1 }]]);

    await jobs.runAll(); // the receipt is due now; order 2 is not
    jobs.assert().queuedTotal(1).contains(Order({ orderId: 2 }));
  });

  it("uses Date.now(), so fake timers bring future jobs due", async () => {
    vi.useFakeTimers({ now: new Date("2026-03-01T00:00:00Z") });
    try {
      const ran: string[] = [];
      await jobs.register(Ping, ({ n }) => void ran.push(`ping ${n}`));
      await jobs.enqueue(Ping({ n: 1 }), { runAt: new Date("2026-03-01T01:00:00Z") });
      await jobs.runAll();
      expect(ran).toEqual([]);
      vi.advanceTimersByTime(3_600_000);
      await jobs.runAll();
      expect(ran).toEqual(["ping 1"]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("with nothing due, runs nothing", async () => {
    expect(await jobs.runAll()).toEqual({ rounds: 0, attempts: 0, succeeded: 0, retried: 0, failed: 0 });
  });

  it("a failure is retried after the real queue's backoff, so not in the same runAll", async () => {
    let calls = 0;
    await jobs.register(Ping, () => {
      calls++;
      throw new Error("flaky");
    });
    await jobs.enqueue(Ping({ n: 1 }));
    const before = Date.now();
    expect(await jobs.runAll()).toMatchObject({ attempts: 1, retried: 1 });
    expect(calls).toBe(1);
    const [job] = jobs.all();
    expect(job).toMatchObject({ attempts: 1, lastError: expect.stringMatching(/^Error: flaky/) });
    // Default backoff: 1 s after the first failure (no jitter in memory).
    expect(job!.runAt.getTime() - before).toBeGreaterThanOrEqual(1000);
    expect(job!.runAt.getTime() - before).toBeLessThan(2000);
  });
});

describe("drain()", () => {
  it("runs a whole flow: future jobs, follow-ups of follow-ups, in order", async () => {
    const log: string[] = [];
    await jobs.register(Order, async ({ orderId }, { tx }) => {
      log.push(`order ${orderId}`);
      await tx.$jobs.enqueue(Charge({ orderId, cents: 1999n }));
    });
    await jobs.register(Charge, async ({ orderId, cents }, { tx }) => {
      log.push(`charge ${orderId} ${cents}`);
      await tx.$jobs.enqueue(Receipt({ orderId, at: new Date(0) }), { runAt: new Date(Date.now() + 86_400_000) });
    });
    await jobs.register(Receipt, ({ orderId }) => void log.push(`receipt ${orderId}`));
    await jobs.enqueue([Order({ orderId: 1 }), Order({ orderId: 2 })]);

    const summary = await jobs.drain();
    expect(summary).toEqual({ rounds: 3, attempts: 6, succeeded: 6, retried: 0, failed: 0 });
    expect(log).toEqual(["order 1", "order 2", "charge 1 1999", "charge 2 1999", "receipt 1", "receipt 2"]);
    jobs.assert().empty();
    expect(jobs.succeeded()).toHaveLength(6);
    expect(jobs.failed()).toEqual([]);
  });

  it("orders each round like the real queue: priority, then runAt, then id", async () => {
    const order: number[] = [];
    await jobs.register(Ping, ({ n }) => void order.push(n));
    const soon = new Date(Date.now() + 1000);
    const later = new Date(Date.now() + 2000);
    await jobs.enqueue(Ping({ n: 1 }), { runAt: later });
    await jobs.enqueue(Ping({ n: 2 }), { runAt: soon });
    await jobs.enqueue(Ping({ n: 3 }), { priority: -1, runAt: later });
    await jobs.enqueue(Ping({ n: 4 }), { runAt: soon });
    await jobs.enqueue(Ping({ n: 5 }), { priority: 1 });
    await jobs.enqueue(Ping({ n: 6 }));
    await jobs.drain();
    expect(order).toEqual([3, 6, 2, 4, 1, 5]);
  });

  it("retries a throwing handler up to maxAttempts, then keeps the job as failed with its errors", async () => {
    const attempts: Array<[number, number]> = [];
    await jobs.register(Charge, (_payload, { attempt, maxAttempts }) => {
      attempts.push([attempt, maxAttempts]);
      throw new Error(`card declined (attempt ${attempt})`);
    });
    const id = await jobs.enqueue(Charge({ orderId: 7, cents: 500n }));

    expect(await jobs.drain()).toEqual({ rounds: 3, attempts: 3, succeeded: 0, retried: 2, failed: 1 });
    expect(attempts).toEqual([[1, 3], [2, 3], [3, 3]]);
    jobs.assert().empty();
    const [failed] = jobs.failed();
    expect(failed).toMatchObject({ id, type: "charge", state: "failed", attempts: 3, maxAttempts: 3, payload: { orderId: 7, cents: 500n } });
    expect(failed!.errors).toHaveLength(3);
    expect(failed!.errors[0]).toMatch(/^Error: card declined \(attempt 1\)/);
    expect(failed!.lastError).toMatch(/^Error: card declined \(attempt 3\)/);
    expect(failed!.thrown).toBeInstanceOf(Error);
    expect(jobs.succeeded()).toEqual([]);
  });

  it("a job that succeeds on a retry counts its attempts", async () => {
    await jobs.register(Ping, (_p, { attempt }) => {
      if (attempt < 3) throw "not yet"; // a non-Error throw is recorded readably
    });
    await jobs.enqueue(Ping({ n: 1 }));
    expect(await jobs.drain()).toMatchObject({ attempts: 3, retried: 2, succeeded: 1 });
    const [done] = jobs.succeeded();
    expect(done).toMatchObject({ attempts: 3, state: "succeeded", errors: ["non-Error thrown: 'not yet'", "non-Error thrown: 'not yet'"] });
  });

  it("an UnrecoverableError fails the job at once, like the real queue", async () => {
    await jobs.register(Charge, () => {
      throw new UnrecoverableError("the card was deleted");
    });
    await jobs.enqueue(Charge({ orderId: 7, cents: 500n }));
    expect(await jobs.drain()).toEqual({ rounds: 1, attempts: 1, succeeded: 0, retried: 0, failed: 1 });
    expect(jobs.failed()[0]).toMatchObject({ attempts: 1, maxAttempts: 3, lastError: expect.stringMatching(/^UnrecoverableError: the card was deleted/) });
  });

  it("snooze(ms) runs the job again after ms, the attempt not counted and its follow-ups dropped", async () => {
    const seen: number[] = [];
    const events: unknown[] = [];
    jobs.on("snoozed", (event) => events.push(event));
    await jobs.register(Order, async ({ orderId }, { tx, attempt }) => {
      seen.push(attempt);
      await tx.$jobs.enqueue(Receipt({ orderId, at: new Date(0) }));
      if (seen.length === 1) return snooze(60_000);
    });
    await jobs.register(Receipt, () => undefined);
    const id = await jobs.enqueue(Order({ orderId: 1 }));
    const before = Date.now();
    expect(await jobs.runAll()).toEqual({ rounds: 1, attempts: 1, succeeded: 0, retried: 0, failed: 0 });
    const [snoozed] = jobs.all();
    expect(snoozed).toMatchObject({ id, state: "scheduled", attempts: 0 });
    expect(snoozed!.runAt.getTime()).toBeGreaterThanOrEqual(before + 60_000);
    jobs.assert().queuedTotal(1).queued(Receipt, 0);
    expect(events).toEqual([{ kind: "snoozed", jobId: id, type: "order", queue: "default", attempt: 1 }]);
    await jobs.drain();
    expect(seen).toEqual([1, 1]);
    expect(jobs.succeeded().map((j) => [j.type, j.attempts])).toEqual([["order", 1], ["receipt", 1]]);
  });

  it("drops the follow-ups of a failed attempt, like a rolled-back tx", async () => {
    await jobs.register(Order, async ({ orderId }, { tx, attempt }) => {
      await tx.$jobs.enqueue(Receipt({ orderId, at: new Date(0) }));
      if (attempt === 1) throw new Error("fails after enqueueing");
    });
    await jobs.register(Receipt, () => undefined);
    await jobs.enqueue(Order({ orderId: 1 }));
    await jobs.runAll();
    jobs.assert().queuedTotal(1).queued(Order, 1).queued(Receipt, 0);
    await jobs.drain({ maxRounds: 2 });
    expect(jobs.succeeded().map((j) => j.type)).toEqual(["order", "receipt"]);
  });

  it("stops with DrainLimitError when a handler re-enqueues itself forever", async () => {
    let runs = 0;
    await jobs.register(Ping, async ({ n }, { tx }) => {
      runs++;
      await tx.$jobs.enqueue(Ping({ n: n + 1 }));
    });
    await jobs.enqueue(Ping({ n: 0 }));
    const error = await jobs.drain({ maxRounds: 5 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DrainLimitError);
    expect(error).toBeInstanceOf(ArrowerJobsError);
    expect(error).toMatchObject({ code: "DRAIN_LIMIT", maxRounds: 5, remaining: [{ type: "ping", count: 1 }] });
    expect((error as Error).message).toBe(
      'drain() stopped after 5 rounds with 1 job still queued ("ping" ×1): a handler that enqueues a job every time it runs never lets the queue empty; ' +
        "if the flow is just long, raise the limit: drain({ maxRounds: 50 })",
    );
    expect(runs).toBe(5);
    expect(jobs.getFirstOf(Ping)).toEqual({ n: 5 });
  });

  it("the default limit is 100 rounds", async () => {
    await jobs.register(Ping, async ({ n }, { tx }) => void (await tx.$jobs.enqueue(Ping({ n: n + 1 }))));
    await jobs.enqueue(Ping({ n: 0 }));
    await expect(jobs.drain()).rejects.toThrow(/stopped after 100 rounds/);
  });

  it("validates its options", async () => {
    await expect(jobs.drain({ maxRounds: 0 })).rejects.toThrow(new InvalidOptionsError("maxRounds", "drain() options: maxRounds must be between 1 and 1000000, got 0"));
    await expect(jobs.drain({ maxRound: 3 } as never)).rejects.toThrow('unknown option "maxRound" for drain() options, did you mean "maxRounds"?');
  });
});

describe("a job type without a handler", () => {
  it("makes drain() and runAll() fail before running anything, naming the type and the registered ones", async () => {
    const ran: number[] = [];
    await jobs.register(Order, ({ orderId }) => void ran.push(orderId));
    await jobs.register(Receipt, () => undefined);
    await jobs.enqueue([Order({ orderId: 1 }), Charge({ orderId: 1, cents: 1n }), Charge({ orderId: 2, cents: 1n })]);
    const error = await jobs.drain().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoHandlerError);
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error).toMatchObject({ code: "INVALID_OPTIONS", option: "handlers", jobType: "charge", registered: ["order", "receipt"] });
    expect((error as Error).message).toBe(
      'no handler registered for job type "charge" (2 jobs queued); registered: "order", "receipt". Register one before running jobs: await jobs.register(Charge, handler)',
    );
    await expect(jobs.runAll()).rejects.toBeInstanceOf(NoHandlerError);
    expect(ran).toEqual([]);
    jobs.assert().queuedTotal(3);
  });

  it("with nothing registered", async () => {
    await jobs.enqueue(Ping({ n: 1 }));
    await expect(jobs.runAll()).rejects.toThrow('no handler registered for job type "ping" (1 job queued); registered: none.');
  });
});

describe("the handler's context", () => {
  it("has tx from the option, the job's id, attempt, queue, times and a signal", async () => {
    const contexts: HandlerContext<FakeTx>[] = [];
    await jobs.register(Receipt, (_p, context) => void contexts.push(context));
    const runAt = new Date(Date.now() + 5_000);
    const id = await jobs.enqueue(Receipt({ orderId: 1, at: new Date(0) }), { queue: "mail", runAt, maxAttempts: 4 });
    await jobs.drain();
    const [context] = contexts;
    expect(context!.tx.$jobs).toBe(jobs);
    expect(context).toMatchObject({ jobId: id, attempt: 1, maxAttempts: 4, queue: "mail", runAt });
    expect(context!.createdAt).toBeInstanceOf(Date);
    expect(context!.signal).toBeInstanceOf(AbortSignal);
    expect(context!.signal.aborted).toBe(false);
  });

  it("tx defaults to undefined; a plain value is passed as is", async () => {
    const plain = createTestingJobs();
    const seen: unknown[] = [];
    await plain.register(Ping, (_p, { tx }) => void seen.push(tx));
    await plain.enqueue(Ping({ n: 1 }));
    await plain.drain();
    const fake = { name: "fake tx" };
    const withValue = createTestingJobs({ tx: fake });
    await withValue.register(Ping, (_p, { tx }) => void seen.push(tx));
    await withValue.enqueue(Ping({ n: 1 }));
    await withValue.drain();
    expect(seen).toEqual([undefined, fake]);
    expect(seen[1]).toBe(fake);
  });

  it("the payload is decoded afresh for each attempt, as from the database", async () => {
    const Tagged = defineJob<{ tags: Set<string> }>("tagged");
    const seen: Array<Set<string>> = [];
    await jobs.register(Tagged, ({ tags }, { attempt }) => {
      seen.push(tags);
      tags.add(`mutated ${attempt}`);
      if (attempt === 1) throw new Error("again");
    });
    await jobs.enqueue(Tagged({ tags: new Set(["a"]) }));
    await jobs.drain();
    expect(seen[0]).not.toBe(seen[1]);
    expect([...seen[1]!]).toEqual(["a", "mutated 2"]);
  });
});

describe("job events", () => {
  it("are emitted under their kind, like the real pool's", async () => {
    const events: unknown[] = [];
    const listen = jobs as unknown as { on(event: string, listener: (e: unknown) => void): void };
    for (const kind of ["succeeded", "retrying", "failed"]) listen.on(kind, (e) => events.push(e));
    await jobs.register(Charge, (_p, { attempt }) => {
      if (attempt < 3) throw new Error("no");
    });
    const id = await jobs.enqueue(Charge({ orderId: 1, cents: 1n }));
    await jobs.drain();
    expect(events).toEqual([
      { kind: "retrying", jobId: id, type: "charge", queue: "default", attempt: 1, error: expect.stringMatching(/^Error: no/) },
      { kind: "retrying", jobId: id, type: "charge", queue: "default", attempt: 2, error: expect.stringMatching(/^Error: no/) },
      { kind: "succeeded", jobId: id, type: "charge", queue: "default", attempt: 3 },
    ]);
  });
});

describe("concurrent and nested runs", () => {
  afterEach(() => vi.restoreAllMocks());

  it("two drains at once run each job once", async () => {
    const ran: number[] = [];
    await jobs.register(Ping, async ({ n }) => {
      await new Promise((r) => setTimeout(r, 5));
      ran.push(n);
    });
    await jobs.enqueue([Ping({ n: 1 }), Ping({ n: 2 }), Ping({ n: 3 })]);
    await Promise.all([jobs.drain(), jobs.drain()]);
    expect(ran.sort()).toEqual([1, 2, 3]);
    expect(jobs.succeeded()).toHaveLength(3);
  });

  it("a handler may drain other jobs without running itself again", async () => {
    const ran: string[] = [];
    await jobs.register(Order, async ({ orderId }, { tx }) => {
      ran.push(`order ${orderId}`);
      await tx.$jobs.enqueue(Ping({ n: orderId }));
      await jobs.drain(); // its own follow-up is not committed yet: nothing to run but others
    });
    await jobs.register(Ping, ({ n }) => void ran.push(`ping ${n}`));
    await jobs.enqueue([Order({ orderId: 1 }), Ping({ n: 0 })]);
    await jobs.runAll();
    expect(ran).toEqual(["order 1", "ping 0"]);
    jobs.assert().queuedTotal(1).contains(Ping({ n: 1 }));
  });

  it("reset() while a handler runs discards its outcome and follow-ups", async () => {
    await jobs.register(Order, async ({ orderId }, { tx }) => {
      jobs.reset();
      await tx.$jobs.enqueue(Ping({ n: orderId }));
    });
    await jobs.enqueue(Order({ orderId: 1 }));
    await jobs.runAll();
    jobs.assert().empty();
    expect(jobs.succeeded()).toEqual([]);
  });
});

describe("fake timers", () => {
  const Reminder = defineJob<{ at: Date }>("reminder");

  // Fake timers replace the global Date with a subclass; its instances are still Dates.
  it("a Date made under vi.useFakeTimers() can be enqueued", async () => {
    vi.useFakeTimers({ now: new Date("2026-06-01T09:00:00Z") });
    try {
      await jobs.enqueue(Reminder({ at: new Date() }));
      expect(jobs.getFirstOf(Reminder)?.at.getTime()).toBe(Date.parse("2026-06-01T09:00:00Z"));
    } finally {
      vi.useRealTimers();
    }
  });
});
