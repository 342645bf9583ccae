/**
 * Database restart: with 2 worker processes busy, PostgreSQL is stopped (`pg_ctl stop -m fast`,
 * then in a second round `-m immediate`, a crash followed by recovery), left down for a moment
 * and started again. Workers must reconnect by themselves with backoff, re-establish LISTEN and
 * finish every job exactly once.
 *
 * The workers poll only every 30 s, so a job enqueued after the restart that runs at once
 * proves that LISTEN is back.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { TestApp } from "../helpers/app.ts";
import { Fx } from "./fixtures/jobs.ts";
import { between, createFaultApp, effectCounts, Observer, running, sleep, startWorker, stopWorker, waitUntil, type WorkerProcess } from "./support/harness.ts";
import { recordResult } from "./support/results.ts";
import { startServer, stopServer, type StopMode } from "./support/server.ts";

const JOBS = 1_500;
const DOWNTIME_MS = 2_000;
const POLL_INTERVAL = 30_000;

describe("database restart", () => {
  let app: TestApp;
  let observer: Observer;
  let workers: WorkerProcess[] = [];
  beforeAll(async () => {
    app = await createFaultApp();
    // The test app's single observer connection dies with the server: never let that crash us.
    app.observer.on("error", () => undefined);
    observer = new Observer(app.url);
    workers = await Promise.all([1, 2].map(() => startWorker(app.url, { poolSize: 3, pollInterval: POLL_INTERVAL })));
  });
  afterAll(async () => {
    await Promise.all(workers.map(stopWorker));
    await observer?.close();
    await app?.close();
  });

  for (const [order, mode] of [[4, "fast"], [5, "immediate"]] as const) {
    it(`pg_ctl stop -m ${mode} mid-run, then start: workers reconnect, LISTEN is back, nothing lost or twice`, async (context) => {
      const server = inject("faultServer");
      const ids = await enqueue(app, JOBS);
      const done = () => observer.intWhenUp(`SELECT count(*)::int AS n FROM arrower.job_history WHERE id = ANY($1::bigint[])`, [ids]);
      await waitUntil(async () => (await done()) >= JOBS / 5, 120_000, "a fifth of the jobs to finish");

      const doneAtStop = await done();
      await stopServer(server, mode as StopMode);
      await sleep(DOWNTIME_MS);
      await startServer(server);
      const upAt = Date.now();

      await waitUntil(async () => (await done()) === JOBS, 180_000, `all ${JOBS} jobs after the restart`);
      // Every worker process resumed: its first commit after the server came back.
      const firsts = await observer.rows<{ pid: number; first: Date }>(
        `SELECT pid, min(at) AS first FROM fault_effect WHERE at >= to_timestamp($1::float8 / 1000) GROUP BY pid`,
        [upAt],
      );
      const resumed = workers.map((w) => firsts.find((f) => f.pid === w.pid));
      const recoveryMs = Math.max(...resumed.map((r) => (r ? r.first.getTime() - upAt : Infinity)));

      // LISTEN is back: with every slot idle and a 30 s poll, only a NOTIFY runs a new job at once.
      await sleep(1_000);
      const [probe] = await app.prisma.$jobs.enqueue([Fx({})]);
      const enqueuedAt = Date.now();
      await waitUntil(async () => (await observer.int(`SELECT count(*)::int AS n FROM fault_effect WHERE job_id = $1`, [probe])) === 1, 10_000, "the job enqueued after the restart");
      const wakeMs = Date.now() - enqueuedAt;

      const effects = await effectCounts(observer, [...ids, probe!]);
      const states = await observer.rows<{ state: string; n: number }>(
        `SELECT state, count(*)::int AS n FROM arrower.job_history WHERE id = ANY($1::bigint[]) GROUP BY state`,
        [[...ids, probe]],
      );
      recordResult(context, {
        order,
        scenario: `Database restart (${mode})`,
        jobs: JOBS + 1,
        lost: effects.lost,
        duplicated: effects.duplicated,
        maxRecoveryMs: Number.isFinite(recoveryMs) ? recoveryMs : null,
        notes: `stopped with ${doneAtStop} of ${JOBS} jobs done, down ${DOWNTIME_MS / 1000} s; recovery: server ready → each of the 2 worker processes' first commit; a job enqueued afterwards ran in ${wakeMs} ms (poll interval 30 s: LISTEN re-established)`,
      });

      expect(resumed.every(Boolean)).toBe(true);
      expect(effects).toEqual({ lost: 0, duplicated: 0, strays: 0 });
      expect(states).toEqual([{ state: "succeeded", n: JOBS + 1 }]);
      expect(wakeMs).toBeLessThan(5_000);
      expect(workers.every(running)).toBe(true);
      await observer.rows(`TRUNCATE fault_effect`);
    });
  }
});

function enqueue(app: TestApp, n: number): Promise<string[]> {
  return app.prisma.$jobs.enqueue(Array.from({ length: n }, () => Fx({ ms: between(0, 4) })));
}
