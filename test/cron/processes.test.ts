// Acceptance of issue 4 with real worker processes: each runs the cron scheduler and a pool
// (test/cron/fixtures/cron-worker.ts), so every tick is contended by three schedulers.
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, waitFor, type TestApp } from "../helpers/app.ts";
import { startProcess, stopProcess, type WorkerProcess } from "../helpers/processes.ts";
import { CronTick } from "./fixtures/cron-jobs.ts";

const fixture = fileURLToPath(new URL("./fixtures/cron-worker.ts", import.meta.url));

type Worker = WorkerProcess;

/** `node --import tsx cron-worker.ts <url> <seconds>` (what `npx tsx` runs, without npx's extra process). */
const startWorker = (url: string, seconds: number): Promise<Worker> => startProcess(fixture, [url, String(seconds)]);
const stop = stopProcess;

interface Tick {
  tick_at: Date;
  created_at: Date;
  state: string;
  jobs: number;
}

describe("cron across worker processes", () => {
  let app: TestApp;
  const workers: Worker[] = [];
  const startThree = async () => workers.push(...(await Promise.all([1, 2, 3].map(() => startWorker(app.url, 120)))));
  const stopAll = async () => Promise.all(workers.splice(0).map(stop));
  const dbNow = async () => (await app.rows<{ now: Date }>(`SELECT clock_timestamp() AS now`))[0]!.now;
  /** Every job of a schedule, grouped by tick: `jobs` > 1 would be a tick enqueued twice. */
  const ticksOf = (scheduleId: string) =>
    app.rows<Tick>(
      `SELECT tick_at, min(created_at) AS created_at, min(state) AS state, count(*)::int AS jobs FROM (
         SELECT tick_at, created_at, state FROM arrower.job_history WHERE schedule_id = $1
         UNION ALL SELECT tick_at, created_at, 'live' FROM arrower.jobs WHERE schedule_id = $1) t
       GROUP BY tick_at ORDER BY tick_at`,
      [scheduleId],
    );
  /** Unschedules, then waits until every job it enqueued has run. */
  const finish = async (scheduleId: string) => {
    await app.prisma.$jobs.unschedule(scheduleId);
    await waitFor(async () => (await app.count("jobs", "schedule_id = $1", [scheduleId])) === 0, 20_000, "the schedule's jobs to run");
  };
  const effectsOf = async (scheduleId: string) =>
    (await app.rows<{ id: string }>(`SELECT id FROM "SideEffect" WHERE id LIKE $1 ORDER BY id`, [`${scheduleId}:%`])).map((r) => r.id);

  beforeAll(async () => {
    app = await createTestApp();
  });
  afterEach(async () => {
    await stopAll();
  });
  afterAll(() => app.close());

  it("3 processes, @every 1s for 10 s: 9 to 11 jobs enqueued and run, never two for the same tick", async () => {
    await startThree();
    // Three schedulers contend for every tick.
    expect(
      await app.rows(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'arrower-jobs scheduler'`),
    ).toEqual([{ n: 3 }]);
    const id = await app.prisma.$jobs.schedule("@every 1s", CronTick({ label: "ten seconds" }));
    await new Promise((r) => setTimeout(r, 10_000));
    await finish(id);
    expect(await stopAll()).toEqual([0, 0, 0]);

    const ticks = await ticksOf(id);
    expect(ticks.every((t) => t.jobs === 1)).toBe(true);
    expect(ticks.length).toBeGreaterThanOrEqual(9);
    expect(ticks.length).toBeLessThanOrEqual(11);
    expect(ticks.every((t) => t.state === "succeeded")).toBe(true);
    for (const t of ticks) expect(t.tick_at.getTime() % 1000).toBe(0);
    // Each ran once: one side effect per tick, keyed by schedule and tick.
    expect(await effectsOf(id)).toEqual(ticks.map((t) => `${id}:${t.tick_at.toISOString()}`).sort());
  }, 60_000);

  it("all workers stopped for 3+ s, then started again: one catch-up job for the missed ticks, then normal ticking", async () => {
    await startThree();
    const id = await app.prisma.$jobs.schedule("@every 1s", CronTick({ label: "restart" }));
    await waitFor(async () => (await ticksOf(id)).length >= 3, 15_000, "three ticks");
    expect(await stopAll()).toEqual([0, 0, 0]);
    const beforeStop = await ticksOf(id);
    // The tick the schedule was waiting for when the last scheduler stopped.
    const [{ pending }] = (await app.rows<{ pending: Date }>(`SELECT next_run_at AS pending FROM arrower.schedules WHERE id = $1`, [id])) as [
      { pending: Date },
    ];
    await new Promise((r) => setTimeout(r, 3_500));
    const restartedAt = await dbNow();
    expect(pending.getTime()).toBeLessThan(restartedAt.getTime() - 2_000); // at least two ticks missed
    expect(await ticksOf(id)).toEqual(beforeStop); // nobody enqueued meanwhile
    await startThree();
    await waitFor(async () => (await ticksOf(id)).length >= beforeStop.length + 4, 15_000, "a catch-up job and three ticks");
    await finish(id);
    expect(await stopAll()).toEqual([0, 0, 0]);

    const ticks = await ticksOf(id);
    expect(ticks.every((t) => t.jobs === 1 && t.state === "succeeded")).toBe(true);
    expect(await effectsOf(id)).toEqual(ticks.map((t) => `${id}:${t.tick_at.toISOString()}`).sort());

    const [catchUp, ...onTime] = ticks.slice(beforeStop.length);
    // The catch-up: ONE job, for the first missed tick, enqueued after the restart.
    expect(catchUp!.tick_at).toEqual(pending);
    expect(catchUp!.created_at.getTime()).toBeGreaterThan(restartedAt.getTime());
    // The other missed ticks were not enqueued: the next tick is the first one after the
    // catch-up's enqueue, and ticking goes on from there.
    const skipped = ticks.filter((t) => t.tick_at > pending && t.tick_at.getTime() <= catchUp!.created_at.getTime() - 1_000);
    expect(skipped).toEqual([]);
    expect(onTime.length).toBeGreaterThanOrEqual(3);
    expect(onTime[0]!.tick_at.getTime()).toBeGreaterThan(catchUp!.created_at.getTime() - 1_000);
    expect(onTime[0]!.tick_at.getTime()).toBeLessThanOrEqual(catchUp!.created_at.getTime() + 1_000);
    for (const t of onTime) {
      expect(t.tick_at.getTime() % 1000).toBe(0);
      expect(t.created_at.getTime()).toBeGreaterThanOrEqual(t.tick_at.getTime()); // never early
    }
  }, 90_000);
});
