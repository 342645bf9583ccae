// Issue 10's acceptance "a paused queue is not claimed by any of 2 worker processes and
// resumes", with real processes (test/worker/fixtures/worker-process.ts: queue "default",
// pollInterval 200 ms, so each process polls about 7 times in the paused window, besides the
// wake-up of every enqueue's NOTIFY).
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { defineJob } from "../../src/index.ts";
import { createTestApp, waitFor, type TestApp } from "../helpers/app.ts";
import { startProcess, stopProcess, type WorkerProcess } from "../helpers/processes.ts";

const Slow = defineJob<{ ms: number }>("slow");
const fixture = fileURLToPath(new URL("./fixtures/worker-process.ts", import.meta.url));

type Worker = WorkerProcess;

const startWorker = (url: string, poolSize: number, batchSize: number): Promise<Worker> => startProcess(fixture, [url, String(poolSize), String(batchSize)]);
const stop = stopProcess;

const started = (worker: Worker) => worker.output.filter((line) => line.startsWith("running "));

describe("pausing a queue across worker processes", () => {
  let app: TestApp;
  const workers: Worker[] = [];
  beforeAll(async () => {
    app = await createTestApp();
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map(stop));
  });
  afterAll(() => app.close());

  it.each([1, 10])("2 processes (batchSize %i) claim nothing from a paused queue for 1.5 s (one running when paused, one started paused); after resume both run its jobs", async (batchSize) => {
    await app.rows(`TRUNCATE "SideEffect", arrower.job_history, arrower.attempts`);
    const JOBS = 40;
    const PAUSED_MS = 1_500;
    const first = await startWorker(app.url, 2, batchSize);
    workers.push(first);
    await app.prisma.$jobs.pause("default");
    const second = await startWorker(app.url, 2, batchSize);
    workers.push(second);
    // Both pools are up and heartbeating on the queue: they would claim if they could.
    await waitFor(async () => (await app.count("pools", "queue = 'default' AND pid = ANY($1)", [[first.child.pid, second.child.pid]])) === 2);

    // 100 ms each, 2 slots per process: one process alone would need 2 s, both about 1 s.
    const ids = await app.prisma.$jobs.enqueue(Array.from({ length: JOBS }, () => Slow({ ms: 100 })));
    const deadline = Date.now() + PAUSED_MS;
    let samples = 0;
    while (Date.now() < deadline) {
      // No handler started, no attempt in flight, nothing finished: every job is still queued.
      expect([...started(first), ...started(second)]).toEqual([]);
      expect(await app.running()).toEqual([]);
      expect(await app.count("job_history")).toBe(0);
      expect(await app.count("jobs")).toBe(JOBS);
      samples++;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(samples).toBeGreaterThanOrEqual(5);
    expect((await app.prisma.$jobs.stats()).find((s) => s.queue === "default")).toMatchObject({ paused: true, due: JOBS, running: 0, pools: 2 });

    const resumedAt = Date.now();
    await app.prisma.$jobs.resume("default");
    // resume() wakes the workers at once (NOTIFY): the first job starts well within the window
    // the queue was paused for, so that window would have been long enough to claim in.
    await waitFor(() => started(first).length + started(second).length > 0, PAUSED_MS, "a job to start after resume");
    expect(Date.now() - resumedAt).toBeLessThan(PAUSED_MS);
    await waitFor(async () => (await app.count("job_history")) === JOBS, 30_000, `${JOBS} jobs in history`);

    const history = await app.rows<{ id: string; state: string; attempts: number; pool: string }>(
      `SELECT id::text AS id, state, attempts, pool FROM arrower.job_history`,
    );
    expect(new Set(history.map((h) => h.id))).toEqual(new Set(ids));
    expect(history.every((h) => h.state === "succeeded" && h.attempts === 1)).toBe(true);
    expect(await app.rows(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM "SideEffect"`)).toEqual([{ n: JOBS, d: JOBS }]);
    // Both processes ran jobs, and only they did; each process's own log agrees with history.
    const byPool = new Map<string, string[]>();
    for (const h of history) byPool.set(h.pool, [...(byPool.get(h.pool) ?? []), h.id]);
    expect([...byPool.keys()].sort()).toEqual([first.pool, second.pool].sort());
    for (const worker of [first, second]) {
      expect(byPool.get(worker.pool)!.length).toBeGreaterThan(0);
      expect(started(worker).map((line) => line.slice("running ".length)).sort()).toEqual([...byPool.get(worker.pool)!].sort());
    }
    expect(await Promise.all(workers.splice(0).map(stop))).toEqual([0, 0]);
  }, 60_000);
});
