/**
 * Worker kills: 3 worker processes run the jobs; each time one of them has committed about 200
 * jobs since it started it is SIGKILLed (mid-job: its pool runs 3 at a time) and replaced.
 * Expected: every job exactly once in history as succeeded, one committed effect each, and every
 * crashed attempt (its transaction aborted on the job row) recorded as such.
 *
 * FAULTS_WORKER_KILL_JOBS overrides the 10,000 jobs (e.g. for a quick local run).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestApp } from "../helpers/app.ts";
import { Fx } from "./fixtures/jobs.ts";
import { between, createFaultApp, dbNow, effectCounts, killWorker, maxRecovery, running, sleep, startWorker, stopWorker, type WorkerProcess } from "./support/harness.ts";
import { recordResult } from "./support/results.ts";

const JOBS = Number(process.env.FAULTS_WORKER_KILL_JOBS ?? 10_000);
const WORKERS = 3;
const POOL_SIZE = 3;
const DEADLINE_MS = 540_000; // only a stuck run gets near it: ~1–4 min on 2 cores

describe("worker kills", () => {
  let app: TestApp;
  const workers: WorkerProcess[] = [];
  beforeAll(async () => {
    app = await createFaultApp();
  });
  afterAll(async () => {
    await Promise.all(workers.map(killWorker));
    await app?.close();
  });

  it(`${WORKERS} processes, ${JOBS.toLocaleString("en-US")} jobs, SIGKILL a worker every ~200 commits: nothing lost, nothing twice`, async (context) => {
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i += 5_000) {
      const batch = Array.from({ length: Math.min(5_000, JOBS - i) }, () => Fx({ ms: between(0, 4) }));
      ids.push(...(await app.prisma.$jobs.enqueue(batch)));
    }
    const slots: Array<WorkerProcess | Promise<WorkerProcess>> = await Promise.all(
      Array.from({ length: WORKERS }, () => startWorker(app.url, { poolSize: POOL_SIZE })),
    );
    workers.push(...(slots as WorkerProcess[]));
    // Each worker is killed once it has committed its own random quota (150–250) of jobs.
    const quota = new Map<number, number>(workers.map((w) => [w.pid, between(150, 250)]));
    const kills: number[] = [];
    const restartErrors: string[] = [];
    const unexpected: string[] = [];
    const started = Date.now();
    for (;;) {
      const [{ done }] = await app.rows<{ done: number }>(`SELECT count(*)::int AS done FROM arrower.job_history`) as [{ done: number }];
      if (done >= JOBS) break;
      if (Date.now() - started > DEADLINE_MS) throw new Error(`only ${done} of ${JOBS} jobs done after ${DEADLINE_MS} ms`);
      const live = slots.filter((s): s is WorkerProcess => !(s instanceof Promise) && running(s));
      const committed = new Map(
        (await app.rows<{ pid: number; n: number }>(`SELECT pid, count(*)::int AS n FROM fault_effect WHERE pid = ANY($1::int[]) GROUP BY pid`, [live.map((w) => w.pid)])).map((r) => [r.pid, r.n]),
      );
      for (const [index, slot] of slots.entries()) {
        if (slot instanceof Promise) continue;
        if (!running(slot)) {
          // Not ours: a worker that exits by itself is a bug (asserted below); one killed by a
          // signal from outside (a shared machine) is one more fault, and replaced like ours.
          unexpected.push(`pid ${slot.pid}: ${slot.ended()}: ${slot.output.slice(-3).join(" | ")}`);
        } else if ((committed.get(slot.pid) ?? 0) >= quota.get(slot.pid)!) {
          await killWorker(slot);
        } else {
          continue;
        }
        kills.push(await dbNow(app));
        const replacement = startWorker(app.url, { poolSize: POOL_SIZE }).then((worker) => {
          workers.push(worker);
          quota.set(worker.pid, between(150, 250));
          slots[index] = worker;
          return worker;
        });
        slots[index] = replacement;
        // A replacement that cannot start fails the test below, with its output (never unhandled).
        replacement.catch((error: unknown) => restartErrors.push(String(error)));
      }
      await sleep(100);
    }
    expect(restartErrors).toEqual([]);
    expect(unexpected.filter((u) => !/: SIG[A-Z]+:/.test(u)), "worker processes that exited by themselves").toEqual([]);
    const codes = await Promise.all(slots.map(async (slot) => stopWorker(await slot)));

    const effects = await effectCounts(app, ids);
    const history = await app.rows<{ state: string; n: number }>(`SELECT state, count(*)::int AS n FROM arrower.job_history GROUP BY state`);
    const outcomes = await app.rows<{ outcome: string; n: number }>(`SELECT outcome, count(*)::int AS n FROM arrower.attempts GROUP BY outcome`);
    const [{ inconsistent }] = (await app.rows<{ inconsistent: number }>(
      `SELECT count(*)::int AS inconsistent FROM arrower.job_history h
       WHERE h.attempts <> 1 + (SELECT count(*) FROM arrower.attempts a WHERE a.job_id = h.id)`,
    )) as [{ inconsistent: number }];
    // Recovery: from the kill that interrupted a job to its commit by another process.
    const maxRecoveryMs = await maxRecovery(app, kills);
    const crashedAttempts = outcomes.find((o) => o.outcome === "crashed")?.n ?? 0;
    recordResult(context, {
      order: 1,
      scenario: `Worker kills (${WORKERS} processes × poolSize ${POOL_SIZE})`,
      jobs: JOBS,
      lost: effects.lost,
      duplicated: effects.duplicated,
      maxRecoveryMs,
      notes: `${kills.length - unexpected.length} SIGKILLs, each after ~200 commits of the victim${unexpected.length > 0 ? ` (and ${unexpected.length} killed from outside the suite: ${unexpected.map((u) => u.split(": ")[1]).join(", ")})` : ""}; ${crashedAttempts} crashed attempts recorded, every job's attempt count = 1 + its crashed attempts; recovery: kill → the interrupted job committed by another process`,
    });

    expect(effects).toEqual({ lost: 0, duplicated: 0, strays: 0 });
    expect(history).toEqual([{ state: "succeeded", n: JOBS }]);
    expect(outcomes.filter((o) => o.outcome !== "crashed")).toEqual([]);
    expect(crashedAttempts).toBeGreaterThan(0);
    expect(inconsistent).toBe(0);
    expect(await app.count("jobs")).toBe(0);
    expect(kills.length).toBeGreaterThanOrEqual(Math.floor(JOBS / 250 / 2));
    expect(codes, slots.map((s) => (s instanceof Promise ? "" : `${s.ended()}: ${s.output.slice(-5).join("\n")}`)).join("\n---\n")).toEqual(codes.map(() => 0));
  }, 600_000);
});
