/**
 * Lease mode and progress in the testing queue: what a test of an app's lease-mode handler sees
 * (the shared behaviour with the real queue is in test/conformance/lease.suite.ts). There is no
 * database: `jobs.transaction(fn)` stands in for `prisma.$transaction`, and `ctx.complete(tx)`
 * completes the job when that transaction commits, or at once outside one.
 */
import { afterEach, describe, expect, expectTypeOf, it, vi } from "vitest";
import { defineJob, type Enqueuer, type HandlerFor, type JobEvent } from "../../src/index.ts";
import { LeaseLostError } from "../../src/errors.ts";
import type { LeaseHandlerContext } from "../../src/handler.ts";
import { createTestingJobs } from "../../src/testing.ts";

const BuildReport = defineJob<{ month: string }, { rows: number }>("build-report", { mode: "lease", leaseTimeout: 90_000, maxAttempts: 2 });
const Notify = defineJob<{ month: string }>("notify");
const Import = defineJob<{ file: string }>("import", { maxAttempts: 2 });

/** The app's fake transaction client: follow-up jobs go through `tx.$jobs`, as in production. */
interface AppTx {
  $jobs: Enqueuer;
}

function testingJobs() {
  const jobs = createTestingJobs<AppTx>({ tx: (queue) => ({ $jobs: queue }) });
  // The app's Prisma client, faked: its transactions are the testing queue's.
  const prisma = { $transaction: <T>(fn: (tx: AppTx) => Promise<T>) => jobs.transaction(fn) };
  return { jobs, prisma };
}

/** A promise and its resolve, to hold a handler mid-run while the test looks. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("testing queue: lease-mode handlers", () => {
  it("get complete() and leaseExpiresAt instead of tx; the lease is renewed all along", async () => {
    vi.useFakeTimers({ now: new Date("2026-06-01T00:00:00Z") });
    const { jobs } = testingJobs();
    const expiries: Date[] = [];
    await jobs.register(BuildReport, async (_job, ctx) => {
      expectTypeOf(ctx).toEqualTypeOf<LeaseHandlerContext<AppTx, { rows: number }>>();
      // @ts-expect-error a lease-mode handler has no job transaction
      void ctx.tx;
      expiries.push(ctx.leaseExpiresAt);
      vi.advanceTimersByTime(60_000);
      expiries.push(ctx.leaseExpiresAt);
      return { rows: 1 };
    });
    await jobs.enqueue(BuildReport({ month: "2026-05" }));
    await jobs.drain();
    expect(expiries).toEqual([new Date("2026-06-01T00:01:30Z"), new Date("2026-06-01T00:02:30Z")]);
    const handler: HandlerFor<typeof BuildReport, AppTx> = async (_job, ctx) => {
      expectTypeOf(ctx.complete).parameters.toEqualTypeOf<[tx: AppTx, result: { rows: number }]>();
      return { rows: 0 };
    };
    void handler;
  });

  it("complete(tx, result) in jobs.transaction(): the job succeeds when the transaction commits, with the jobs it enqueued", async () => {
    const { jobs, prisma } = testingJobs();
    const inside: { succeeded: number; queued: number }[] = [];
    await jobs.register(Notify, () => undefined);
    await jobs.register(BuildReport, async (job, ctx) => {
      await prisma.$transaction(async (tx) => {
        await tx.$jobs.enqueue(Notify({ month: job.month }));
        await ctx.complete(tx, { rows: 42 });
        // Not committed yet: nobody sees the completion or the follow-up.
        inside.push({ succeeded: jobs.succeeded().length, queued: jobs.all().length });
      });
      inside.push({ succeeded: jobs.succeeded().length, queued: jobs.all().length });
      return { rows: -1 };
    });
    const id = await jobs.enqueue(BuildReport({ month: "2026-05" }));
    expect(await jobs.runAll()).toEqual({ rounds: 1, attempts: 1, succeeded: 1, retried: 0, failed: 0 });
    expect(inside).toEqual([
      { succeeded: 0, queued: 1 },
      { succeeded: 1, queued: 1 }, // the report is done, the notification queued
    ]);
    expect(await jobs.getResult(BuildReport, id)).toEqual({ rows: 42 });
    jobs.assert().queuedTotal(1).contains(Notify({ month: "2026-05" }));
  });

  it("complete(tx) in a jobs.transaction() that throws completes nothing: the attempt is retried", async () => {
    const { jobs, prisma } = testingJobs();
    await jobs.register(BuildReport, async (job, ctx) => {
      await prisma.$transaction(async (tx) => {
        await tx.$jobs.enqueue(Notify({ month: job.month }));
        await ctx.complete(tx, { rows: ctx.attempt });
        if (ctx.attempt === 1) throw new Error("deadlock detected");
      });
      return { rows: -1 };
    });
    await jobs.register(Notify, () => undefined);
    const id = await jobs.enqueue(BuildReport({ month: "2026-05" }));
    expect(await jobs.runAll()).toMatchObject({ succeeded: 0, retried: 1 });
    jobs.assert().queuedTotal(1).queued(BuildReport, 1); // no notification: rolled back
    await jobs.drain();
    expect(await jobs.getResult(BuildReport, id)).toEqual({ rows: 2 });
    expect(jobs.succeeded().map((j) => j.type)).toEqual(["build-report", "notify"]);
  });

  it("complete(tx) outside jobs.transaction() takes any tx and completes the job at the call", async () => {
    const { jobs } = testingJobs();
    // The app's own transaction, which the testing queue knows nothing of.
    const ownPrisma = { $transaction: <T>(fn: (tx: AppTx) => Promise<T>) => fn({ $jobs: jobs }) };
    let seen: { succeeded: unknown[]; queued: number } | undefined;
    await jobs.register(BuildReport, async (_job, ctx) => {
      await ownPrisma.$transaction((tx) => ctx.complete(tx, { rows: 7 }));
      seen = { succeeded: jobs.succeeded().map((j) => j.result), queued: jobs.all().length };
      return { rows: -1 };
    });
    await jobs.enqueue(BuildReport({ month: "2026-05" }));
    await jobs.drain();
    expect(seen).toEqual({ succeeded: [{ rows: 7 }], queued: 0 });
    expect(jobs.succeeded().map((j) => [j.attempts, j.result])).toEqual([[1, { rows: 7 }]]);
  });

  it("once completed, the job has succeeded: a later throw changes nothing, a second complete() is refused", async () => {
    const { jobs } = testingJobs();
    const events: JobEvent[] = [];
    jobs.on("succeeded", (e) => void events.push(e)).on("retrying", (e) => void events.push(e));
    let second: unknown;
    await jobs.register(BuildReport, async (_job, ctx) => {
      await ctx.complete(undefined as never, { rows: 1 });
      second = await ctx.complete(undefined as never, { rows: 2 }).catch((error: unknown) => error);
      throw new Error("the mail after the report failed");
    });
    const id = await jobs.enqueue(BuildReport({ month: "2026-05" }));
    expect(await jobs.drain()).toEqual({ rounds: 1, attempts: 1, succeeded: 1, retried: 0, failed: 0 });
    expect(second).toBeInstanceOf(LeaseLostError);
    expect(second).toMatchObject({ code: "LEASE_LOST", jobId: id, reason: "taken over" });
    expect(events).toEqual([{ kind: "succeeded", jobId: id, type: "build-report", queue: "default", attempt: 1 }]);
    expect(jobs.succeeded().map((j) => j.result)).toEqual([{ rows: 1 }]);
  });

  it("complete() after reset() is refused, as after a cancel: LeaseLostError (cancelled)", async () => {
    const { jobs } = testingJobs();
    let refused: unknown;
    await jobs.register(BuildReport, async (_job, ctx) => {
      jobs.reset();
      refused = await ctx.complete(undefined as never, { rows: 1 }).catch((error: unknown) => error);
      return { rows: 2 };
    });
    await jobs.enqueue(BuildReport({ month: "2026-05" }));
    await jobs.drain();
    expect(refused).toBeInstanceOf(LeaseLostError);
    expect((refused as LeaseLostError).reason).toBe("cancelled");
    expect([jobs.all(), jobs.succeeded(), jobs.failed()]).toEqual([[], [], []]);
  });

  it("enqueue outside a transaction is visible at once and stays when the handler throws (no job transaction)", async () => {
    const { jobs } = testingJobs();
    const queuedInside: string[][] = [];
    await jobs.register(BuildReport, async (job, ctx) => {
      await jobs.enqueue(Notify({ month: `${job.month} #${ctx.attempt}` }));
      queuedInside.push(jobs.all().map((j) => j.type));
      throw new Error("out of memory");
    });
    await jobs.enqueue(BuildReport({ month: "2026-05" }));
    await jobs.runAll();
    expect(queuedInside).toEqual([["build-report", "notify"]]);
    jobs.assert().contains(Notify({ month: "2026-05 #1" }));
  });
});

describe("testing queue: jobs.transaction()", () => {
  it("enqueues become visible when it resolves, and are dropped when it throws", async () => {
    const { jobs } = testingJobs();
    const value = await jobs.transaction(async (tx) => {
      await tx.$jobs.enqueue(Notify({ month: "a" }));
      jobs.assert().empty();
      return "done";
    });
    expect(value).toBe("done");
    jobs.assert().queuedTotal(1).contains(Notify({ month: "a" }));
    const error = new Error("rolled back");
    await expect(jobs.transaction(async (tx) => {
      await tx.$jobs.enqueue(Notify({ month: "b" }));
      throw error;
    })).rejects.toBe(error);
    jobs.assert().queuedTotal(1).notContains(Notify({ month: "b" }));
  });

  it("is a transaction of its own, as prisma.$transaction is beside a handler's tx: it commits even when the attempt fails", async () => {
    const { jobs } = testingJobs();
    await jobs.register(Import, async ({ file }, { attempt }) => {
      await jobs.transaction((tx) => tx.$jobs.enqueue(Notify({ month: `${file} #${attempt}` })));
      if (attempt === 1) throw new Error("corrupt file");
    });
    await jobs.register(Notify, () => undefined);
    await jobs.enqueue(Import({ file: "a.csv" }));
    await jobs.runAll();
    jobs.assert().queuedTotal(2).queued(Import, 1).contains(Notify({ month: "a.csv #1" }));
    await jobs.drain();
    expect(jobs.succeeded().map((j) => j.payload)).toEqual([{ month: "a.csv #1" }, { file: "a.csv" }, { month: "a.csv #2" }]);
  });
});

describe("testing queue: progress", () => {
  it.each(["lease", "transaction"] as const)("in %s mode, all() shows a running job's latest progress; it goes when the attempt ends", async (mode) => {
    const { jobs } = testingJobs();
    const reported = deferred();
    const finish = deferred();
    let late: (() => Promise<void>) | undefined;
    const work = async (ctx: { progress: (value: { done: number; of: number }) => Promise<void> }) => {
      await ctx.progress({ done: 1, of: 3 });
      await ctx.progress({ done: 2, of: 3 });
      late = () => ctx.progress({ done: 3, of: 3 });
      reported.resolve();
      await finish.promise;
    };
    await jobs.register(BuildReport, async (_job, ctx) => {
      await work(ctx);
      return { rows: 3 };
    });
    await jobs.register(Import, (_job, ctx) => work(ctx));
    const id = mode === "lease" ? await jobs.enqueue(BuildReport({ month: "2026-05" })) : await jobs.enqueue(Import({ file: "a.csv" }));
    expect(jobs.all()[0]).not.toHaveProperty("progress");

    const draining = jobs.drain();
    await reported.promise;
    const [running] = jobs.all();
    expect(running).toMatchObject({ id, progress: { done: 2, of: 3 } });
    expect(Object.keys(running!.progress as object)).toEqual(["of", "done"]); // jsonb's key order
    finish.resolve();
    await draining;

    await late!(); // a call after the attempt ended stores nothing
    expect(jobs.succeeded()).toHaveLength(1);
    expect(jobs.succeeded()[0]).not.toHaveProperty("progress");
  });

  it("a retried attempt starts without the progress of the failed one", async () => {
    const { jobs } = testingJobs();
    const seen: unknown[] = [];
    await jobs.register(Import, async (_job, ctx) => {
      seen.push(jobs.all()[0]?.progress);
      await ctx.progress(`attempt ${ctx.attempt}`);
      seen.push(jobs.all()[0]?.progress);
      if (ctx.attempt === 1) throw new Error("again");
    });
    await jobs.enqueue(Import({ file: "a.csv" }));
    await jobs.runAll();
    expect(jobs.all()[0]).not.toHaveProperty("progress"); // waiting for its retry
    await jobs.drain();
    expect(seen).toEqual([undefined, "attempt 1", undefined, "attempt 2"]);
  });
});
