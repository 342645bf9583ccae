/**
 * Connections killed: while 2 worker processes run the jobs, `pg_terminate_backend` ends one of
 * their connections at random every few hundred milliseconds — job connections mid-transaction,
 * idle ones, and the LISTEN/bookkeeping connection, at least 20 times while there is work (more
 * jobs are enqueued until then). Workers must reconnect by themselves and finish every job
 * exactly once; LISTEN must be back at the end.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestApp } from "../helpers/app.ts";
import { Fx } from "./fixtures/jobs.ts";
import { between, createFaultApp, effectCounts, maxRecovery, Observer, running, sleep, startWorker, stopWorker, waitUntil, type WorkerProcess } from "./support/harness.ts";
import { recordResult } from "./support/results.ts";

const JOBS = 2_000;
/** Kills to make while the workers have work: more jobs are enqueued until there were this many. */
const KILLS = 20;
const TOP_UP = 1_000;

describe("connections killed", () => {
  let app: TestApp;
  let observer: Observer;
  let workers: WorkerProcess[] = [];
  beforeAll(async () => {
    app = await createFaultApp();
    observer = new Observer(app.url);
    workers = await Promise.all([1, 2].map(() => startWorker(app.url, { poolSize: 3, pollInterval: 30_000 })));
  });
  afterAll(async () => {
    await Promise.all(workers.map(stopWorker));
    await observer?.close();
    await app?.close();
  });

  it("pg_terminate_backend on random worker connections: they reconnect, nothing lost or twice", async (context) => {
    const ids = await app.prisma.$jobs.enqueue(Array.from({ length: JOBS }, () => Fx({ ms: between(0, 4) })));
    const done = () => observer.int(`SELECT count(*)::int AS n FROM arrower.job_history`);
    const kills: number[] = [];
    const killed = { job: 0, idle: 0, control: 0 };
    const deadline = Date.now() + 240_000;
    // The kills happen while there is work, however fast the workers are: a faster worker once
    // finished the 2,000 jobs after only 8 kills.
    for (let finished = await done(); finished < ids.length; finished = await done()) {
      if (Date.now() > deadline) throw new Error(`only ${finished} of ${ids.length} jobs done`);
      if (kills.length < KILLS && ids.length - finished < TOP_UP) {
        ids.push(...(await app.prisma.$jobs.enqueue(Array.from({ length: TOP_UP }, () => Fx({ ms: between(0, 4) })))));
      }
      await sleep(between(100, 400));
      const [victim] = await observer.rows<{ pid: number; state: string; query: string; at: Date }>(
        `SELECT pid, state, query, clock_timestamp() AS at FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'arrower-jobs' AND pid <> pg_backend_pid()
         ORDER BY random() LIMIT 1`,
      );
      if (!victim) continue;
      await observer.rows(`SELECT pg_terminate_backend($1::int)`, [victim.pid]);
      kills.push(victim.at.getTime());
      // state is null for a backend still starting up.
      if ((victim.state ?? "").startsWith("idle in transaction")) killed.job++;
      else if (/LISTEN|pools|attempts/.test(victim.query)) killed.control++;
      else killed.idle++;
    }
    // LISTEN is back on every process: with a 30 s poll only a NOTIFY runs a new job at once.
    await sleep(1_000);
    const [probe] = await app.prisma.$jobs.enqueue([Fx({})]);
    const enqueuedAt = Date.now();
    await waitUntil(async () => (await observer.int(`SELECT count(*)::int AS n FROM fault_effect WHERE job_id = $1`, [probe])) === 1, 10_000, "the job enqueued after the kills");
    const wakeMs = Date.now() - enqueuedAt;

    const effects = await effectCounts(observer, [...ids, probe!]);
    const states = await observer.rows<{ state: string; n: number }>(`SELECT state, count(*)::int AS n FROM arrower.job_history GROUP BY state`);
    const jobs = ids.length + 1;
    const attempts = await observer.int(`SELECT count(*)::int AS n FROM arrower.attempts`);
    recordResult(context, {
      order: 6,
      scenario: "Connections killed (pg_terminate_backend)",
      jobs,
      lost: effects.lost,
      duplicated: effects.duplicated,
      maxRecoveryMs: await maxRecovery(observer, kills),
      notes: `${kills.length} connections terminated (${killed.job} in a job's transaction, ${killed.control} LISTEN/bookkeeping, ${killed.idle} other); ${attempts} interrupted attempts recorded; a job enqueued afterwards ran in ${wakeMs} ms; recovery: kill → the interrupted job committed`,
    });

    expect(effects).toEqual({ lost: 0, duplicated: 0, strays: 0 });
    expect(states).toEqual([{ state: "succeeded", n: jobs }]);
    expect(wakeMs).toBeLessThan(5_000);
    expect(workers.every(running)).toBe(true);
    expect(kills.length).toBeGreaterThanOrEqual(KILLS);
  });
});
