import pg from "pg";
import { describe, expect, it } from "vitest";
import { defineJob, type Handler, type Queue, type RegisteredTransaction } from "../../src/index.ts";
import { useTestApp, waitFor } from "../helpers/app.ts";

const Sleep = defineJob<{ ms: number; ignoreSignal?: boolean }>("sleep");
const Other = defineJob<{ n: number }>("other");

describe("timeouts", () => {
  const { app, queues } = useTestApp();

  function sleepQueue(name: string): Queue<RegisteredTransaction> {
    const queue = app.prisma.$jobs.queue(name, { poolSize: 1, pollInterval: 200, backoff: { baseDelay: 10_000, maxDelay: 10_000 } });
    queues.push(queue);
    return queue;
  }

  const handler: Handler<{ ms: number; ignoreSignal?: boolean }, RegisteredTransaction> = async (job, { tx, jobId, attempt, signal }) => {
    await tx.sideEffect.create({ data: { id: `${jobId}:${attempt}` } });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, job.ms);
      if (!job.ignoreSignal) signal.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
    });
  };

  it("a job longer than 5 s with timeout 10,000 succeeds (Prisma's 5 s default does not cap it)", async () => {
    const queue = sleepQueue("long");
    await queue.register(Sleep, handler);
    const id = await queue.enqueue(Sleep({ ms: 6_000 }), { timeout: 10_000 });
    await waitFor(async () => (await app.count("job_history", "id = $1", [id])) === 1, 20_000);
    expect(await app.rows(`SELECT state, attempts FROM arrower.job_history WHERE id = $1`, [id])).toEqual([{ state: "succeeded", attempts: 1 }]);
    expect(await app.rows(`SELECT id FROM "SideEffect" WHERE id LIKE $1`, [`${id}:%`])).toEqual([{ id: `${id}:1` }]);
  }, 30_000);

  it("a job exceeding its timeout is aborted, rolled back and retried", async () => {
    const queue = sleepQueue("short");
    await queue.register(Sleep, handler);
    const id = await queue.enqueue(Sleep({ ms: 5_000 }), { timeout: 300 });
    await waitFor(async () => (await app.count("attempts", "job_id = $1", [id])) === 1, 10_000);
    const [attempt] = await app.rows<{ outcome: string; error: string }>(`SELECT outcome, error FROM arrower.attempts WHERE job_id = $1`, [id]);
    expect(attempt!.outcome).toBe("timeout");
    expect(attempt!.error).toMatch(/timed out after 300 ms/);
    const [job] = await app.rows<{ attempts: number; due_in_s: number }>(
      `SELECT attempts, extract(epoch FROM run_at - now())::float8 AS due_in_s FROM arrower.jobs WHERE id = $1`,
      [id],
    );
    expect(job!.attempts).toBe(1);
    expect(job!.due_in_s).toBeGreaterThan(5); // retried later, with backoff
    expect(await app.count("job_history", "id = $1", [id])).toBe(0);
    expect(await app.rows(`SELECT id FROM "SideEffect" WHERE id LIKE $1`, [`${id}:%`])).toEqual([]);
  });

  it("each job's timeout counts from its own start, also when one slot runs them back to back", async () => {
    // One slot, batches of 3: each job runs for 70 % of its 1 s timeout, so three in a row take
    // 2.1 s; a timer left over from an earlier job would cut a later one short.
    const queue = app.prisma.$jobs.queue("back-to-back", { poolSize: 1, batchSize: 3, autoStartDelay: 0 });
    queues.push(queue);
    const ids = await queue.enqueue([Sleep({ ms: 700 }), Sleep({ ms: 700 }), Sleep({ ms: 700 })], { timeout: 1_000 });
    await queue.register(Sleep, handler);
    await waitFor(async () => (await app.count("job_history", "id = ANY($1::bigint[])", [ids])) === 3, 10_000);
    expect(await app.rows(`SELECT state, attempts FROM arrower.job_history WHERE id = ANY($1::bigint[])`, [ids])).toEqual(
      ids.map(() => ({ state: "succeeded", attempts: 1 })),
    );
    expect(await app.count("attempts", "job_id = ANY($1::bigint[])", [ids])).toBe(0);
  }, 20_000);

  it("a handler that first looks at its signal after the timeout finds it aborted, with the timeout as reason", async () => {
    const Late = defineJob<{ ms: number }>("late-look");
    const queue = sleepQueue("late-look");
    const seen: { aborted: boolean; reason: string }[] = [];
    await queue.register(Late, async (job, context) => {
      await new Promise((resolve) => setTimeout(resolve, job.ms));
      seen.push({ aborted: context.signal.aborted, reason: String(context.signal.reason) });
    });
    const id = await queue.enqueue(Late({ ms: 600 }), { timeout: 200 });
    await waitFor(async () => (await app.count("attempts", "job_id = $1", [id])) === 1, 10_000);
    expect(seen).toEqual([{ aborted: true, reason: expect.stringMatching(/timed out after 200 ms/) }]);
    expect(await app.rows(`SELECT outcome FROM arrower.attempts WHERE job_id = $1`, [id])).toEqual([{ outcome: "timeout" }]);
  });

  it("a handler that ignores its aborted signal is cut off, and the failure is recorded anyway", async () => {
    const queue = sleepQueue("stubborn");
    await queue.register(Sleep, handler);
    const id = await queue.enqueue(Sleep({ ms: 8_000, ignoreSignal: true }), { timeout: 300 });
    await waitFor(async () => (await app.count("attempts", "job_id = $1", [id])) === 1, 10_000);
    const [attempt] = await app.rows<{ outcome: string }>(`SELECT outcome FROM arrower.attempts WHERE job_id = $1`, [id]);
    expect(attempt!.outcome).toBe("timeout");
    expect(await app.rows(`SELECT id FROM "SideEffect" WHERE id LIKE $1`, [`${id}:%`])).toEqual([]);
    // The pool keeps working on a fresh connection.
    await queue.register(Other, async (_job, { tx, jobId }) => {
      await tx.sideEffect.create({ data: { id: `other:${jobId}` } });
    });
    const next = await queue.enqueue(Other({ n: 1 }));
    await waitFor(async () => (await app.count("job_history", "id = $1", [next])) === 1, 10_000);
  }, 30_000);
});

describe("lifecycle", () => {
  const { app } = useTestApp();

  it("register after start restarts the pool without losing or duplicating a running job", async () => {
    const queue = app.prisma.$jobs.queue("restart", { poolSize: 2, pollInterval: 200 });
    const runs: string[] = [];
    await queue.register(Sleep, async (job, { tx, jobId }) => {
      runs.push(jobId);
      await new Promise((r) => setTimeout(r, job.ms));
      await tx.sideEffect.create({ data: { id: jobId } });
    });
    await queue.start();
    const id = await queue.enqueue(Sleep({ ms: 800 }));
    await waitFor(() => runs.includes(id));
    const started = Date.now();
    await queue.register(Other, async () => undefined); // waits for the running job, then restarts
    expect(Date.now() - started).toBeGreaterThan(300);
    expect(await app.count("job_history", "id = $1 AND state = 'succeeded'", [id])).toBe(1);
    const other = await queue.enqueue(Other({ n: 1 }));
    await waitFor(async () => (await app.count("job_history", "id = $1", [other])) === 1);
    expect(runs).toEqual([id]);
    expect(await app.count("attempts", "job_id = $1", [id])).toBe(0);
    await queue.shutdown();
  });

  it("shutdown waits for a running job; past the deadline it is rolled back and runs again later, its attempt not counted", async () => {
    const queue = app.prisma.$jobs.queue("drain", { poolSize: 1, pollInterval: 200 });
    // Waits on the handler's start, not on the row's lock: a job whose claim the slot has not
    // looked at yet when shutdown begins is given back unstarted (test/worker/shutdown.test.ts).
    const started = new Map<string, () => void>();
    const hasStarted = (id: string) => new Promise<void>((resolve) => started.set(id, resolve));
    const handler: Handler<{ ms: number }, RegisteredTransaction> = async (job, { tx, jobId, attempt, signal }) => {
      await tx.sideEffect.create({ data: { id: `${jobId}:${attempt}` } });
      started.get(jobId)?.();
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, job.ms);
        signal.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
      });
    };
    await queue.register(Sleep, handler);
    await queue.start();
    // Waits for it.
    const quick = await queue.enqueue(Sleep({ ms: 500 }));
    await hasStarted(quick);
    await queue.shutdown({ deadline: 5_000 });
    expect(await app.count("job_history", "id = $1 AND state = 'succeeded'", [quick])).toBe(1);

    // Past the deadline: aborted, rolled back, still queued with its attempt count unchanged.
    await queue.start();
    const slow = await queue.enqueue(Sleep({ ms: 10_000 }));
    await hasStarted(slow);
    const t0 = Date.now();
    await queue.shutdown({ deadline: 200 });
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(await app.rows(`SELECT attempts FROM arrower.jobs WHERE id = $1`, [slow])).toEqual([{ attempts: 0 }]);
    expect(await app.running()).not.toContain(slow);
    expect(await app.count("attempts", "job_id = $1", [slow])).toBe(0);
    expect(await app.rows(`SELECT id FROM "SideEffect" WHERE id LIKE $1`, [`${slow}:%`])).toEqual([]);

    // It runs again later, as attempt 1 (through a quick handler, replacing the sleeping one).
    await queue.register(
      Sleep,
      async (_job, { tx, jobId, attempt }) => {
        await tx.sideEffect.create({ data: { id: `${jobId}:${attempt}` } });
      },
      { replace: true },
    );
    await queue.start();
    await waitFor(async () => (await app.count("job_history", "id = $1", [slow])) === 1);
    expect(await app.rows(`SELECT id FROM "SideEffect" WHERE id LIKE $1`, [`${slow}:%`])).toEqual([{ id: `${slow}:1` }]);
    await queue.shutdown();
    await queue.shutdown(); // safe twice
  });

  it("start without handlers and automatic-start errors are reported, never unhandled", async () => {
    const empty = app.prisma.$jobs.queue("empty");
    await expect(empty.start()).rejects.toThrow(/has no handlers/);
    // A role allowed 3 connections: a pool of 5 (plus LISTEN) cannot start.
    await app.rows(`DO $$ BEGIN CREATE ROLE arrower_limited LOGIN PASSWORD 'limited' CONNECTION LIMIT 3; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
    await app.rows(`GRANT ALL ON SCHEMA arrower TO arrower_limited; GRANT ALL ON ALL TABLES IN SCHEMA arrower TO arrower_limited; GRANT ALL ON ALL SEQUENCES IN SCHEMA arrower TO arrower_limited`);
    const limitedUrl = new URL(app.url);
    limitedUrl.username = "arrower_limited";
    limitedUrl.password = "limited";
    const { extendedClient } = await import("../helpers/app.ts");
    const limited = extendedClient(app.url, { connectionString: limitedUrl.toString() });
    const broken = limited.$jobs.queue("too-big", { poolSize: 5, autoStartDelay: 0 });
    const errors: Error[] = [];
    broken.on("error", (e) => errors.push(e));
    await broken.register(Other, async () => undefined);
    await waitFor(() => errors.length === 1, 20_000);
    expect(errors[0]!.message).toMatch(/queue "too-big" needs 6 database connections \(poolSize plus one for LISTEN\) but could open only 3/);
    await broken.shutdown();
    await limited.$disconnect();
  }, 30_000);
});

describe("wake-up", () => {
  const { app } = useTestApp();

  it("an idle worker starts a new job well under the poll interval, woken by NOTIFY", async () => {
    const queue = app.prisma.$jobs.queue("wake", { poolSize: 4, pollInterval: 10_000 });
    const started: number[] = [];
    await queue.register(Other, async () => {
      started.push(performance.now());
    });
    await queue.start();
    await new Promise((r) => setTimeout(r, 300)); // idle
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      await queue.enqueue(Other({ n: i }));
      await waitFor(() => started.length === i + 1, 5_000);
      latencies.push(started[i]! - t0);
      await new Promise((r) => setTimeout(r, 20));
    }
    await queue.shutdown();
    latencies.sort((a, b) => a - b);
    expect(latencies[Math.floor(latencies.length / 2)]!).toBeLessThan(500);
    expect(latencies.at(-1)!).toBeLessThan(5_000);
  });

  it("an idle pool of 10 issues at most one claim query per poll interval", async () => {
    let claims = 0;
    const original = pg.Client.prototype.query;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const text = typeof args[0] === "string" ? args[0] : (args[0] as { text?: string } | undefined)?.text;
      if (text?.includes("FOR UPDATE OF j SKIP LOCKED")) claims++;
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof original;
    try {
      const queue = app.prisma.$jobs.queue("idle", { poolSize: 10, pollInterval: 500 });
      await queue.register(Other, async () => undefined);
      await queue.start();
      await new Promise((r) => setTimeout(r, 700)); // start-up: each slot claims once
      const before = claims;
      await new Promise((r) => setTimeout(r, 2_600));
      const during = claims - before;
      await queue.shutdown();
      expect(during).toBeGreaterThanOrEqual(3);
      expect(during).toBeLessThanOrEqual(6); // 2.6 s / 0.5 s = 5.2 intervals
    } finally {
      pg.Client.prototype.query = original;
    }
  });
});
