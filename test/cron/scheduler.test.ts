import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { engineOf } from "../../src/client.ts";
import { acquireScheduler, releaseScheduler } from "../../src/cron/scheduler.ts";
import type { Engine } from "../../src/engine.ts";
import { extendedClient, type TestClient, useTestApp, waitFor } from "../helpers/app.ts";
import { CronTick } from "./fixtures/cron-jobs.ts";

interface JobRow {
  id: string;
  schedule_id: string;
  tick_at: Date;
  run_at: Date;
  created_at: Date;
  queue: string;
  priority: number;
  max_attempts: number;
  payload: unknown;
  trace_context: unknown;
}

describe("the cron scheduler (in process)", () => {
  const { app } = useTestApp();
  let engine: Engine;
  const acquired: Engine[] = [];
  const clients: TestClient[] = [];

  const acquire = async (e: Engine) => {
    acquired.push(e);
    await acquireScheduler(e);
  };
  const release = async (e: Engine) => {
    acquired.splice(acquired.lastIndexOf(e), 1);
    await releaseScheduler(e);
  };
  /** Live jobs of a schedule (no pool runs queue "cron" here, so they stay), in tick order. */
  const jobsOf = (scheduleId: string) =>
    app.rows<JobRow>(
      `SELECT id::text, schedule_id::text, tick_at, run_at, created_at, queue, priority, max_attempts, payload, trace_context
       FROM arrower.jobs WHERE schedule_id = $1 ORDER BY tick_at`,
      [scheduleId],
    );
  const schedulerConnections = async () =>
    (
      await app.rows<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'arrower-jobs scheduler'`,
      )
    )[0]!.n;

  beforeAll(() => {
    engine = engineOf(app.prisma.$jobs);
  });
  beforeEach(async () => {
    await app.rows(`DELETE FROM arrower.schedules; DELETE FROM arrower.jobs`);
  });
  afterEach(async () => {
    for (const e of acquired.splice(0).reverse()) await releaseScheduler(e);
    await Promise.all(clients.splice(0).map((c) => c.$disconnect()));
  });

  it("an overdue schedule gets ONE catch-up job for its oldest missed tick, then ticks on from now", async () => {
    const id = await app.prisma.$jobs.schedule("@every 1s", CronTick({ label: "catch-up" }), { priority: -2, maxAttempts: 3 });
    const [{ missed }] = (await app.rows<{ missed: Date }>(
      `UPDATE arrower.schedules SET next_run_at = date_trunc('second', clock_timestamp()) - interval '1 hour'
       WHERE id = $1 RETURNING next_run_at AS missed`,
      [id],
    )) as [{ missed: Date }];

    await acquire(engine);
    await waitFor(async () => (await jobsOf(id)).length >= 3, 10_000, "a catch-up job and two ticks");
    await release(engine);

    const jobs = await jobsOf(id);
    const [catchUp, ...onTime] = jobs;
    expect(catchUp).toMatchObject({ schedule_id: id, tick_at: missed, run_at: missed, queue: "cron", priority: -2, max_attempts: 3 });
    expect(catchUp!.payload).toEqual({ label: "catch-up" });
    expect(catchUp!.trace_context).toBeNull();
    // The hour of missed ticks is one job: the next tick is the first after the catch-up's
    // enqueue (computed from the clock read just before it).
    expect(onTime[0]!.tick_at.getTime()).toBeGreaterThan(catchUp!.created_at.getTime() - 1_000);
    expect(onTime[0]!.tick_at.getTime()).toBeLessThanOrEqual(catchUp!.created_at.getTime() + 1_000);
    for (const [i, job] of onTime.entries()) {
      expect(job.run_at).toEqual(job.tick_at);
      expect(job.tick_at.getTime() % 1000).toBe(0);
      // A tick later than the next one is folded into it (catch-up), so under load a step may be 2 s.
      if (i > 0) expect((job.tick_at.getTime() - onTime[i - 1]!.tick_at.getTime()) % 1000).toBe(0);
      // Enqueued at its tick, never before, and soon after (lenient: test machines get busy).
      expect(job.created_at.getTime()).toBeGreaterThanOrEqual(job.tick_at.getTime());
      expect(job.created_at.getTime() - job.tick_at.getTime()).toBeLessThan(3_000);
    }
    const [schedule] = await app.rows<{ last_run_at: Date; next_run_at: Date }>(`SELECT last_run_at, next_run_at FROM arrower.schedules WHERE id = $1`, [id]);
    expect(schedule!.last_run_at).toEqual(jobs.at(-1)!.tick_at);
    expect(schedule!.next_run_at.getTime()).toBe(jobs.at(-1)!.tick_at.getTime() + 1_000);
  });

  it("is refcounted: one connection for two users, running until the last release; no ticks after", async () => {
    const id = await app.prisma.$jobs.schedule("@every 1s", CronTick({ label: "refcount" }));
    await acquire(engine);
    await acquire(engine);
    expect(await schedulerConnections()).toBe(1);
    await release(engine);
    const count = (await jobsOf(id)).length;
    await waitFor(async () => (await jobsOf(id)).length > count, 5_000, "a tick with one user left");
    await release(engine);
    await waitFor(async () => (await schedulerConnections()) === 0, 5_000, "the scheduler connection to close");
    const stopped = (await jobsOf(id)).length;
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await jobsOf(id)).length).toBe(stopped);
    // Releasing more than acquired is harmless; acquiring again starts it again.
    await releaseScheduler(engine);
    await acquire(engine);
    await waitFor(async () => (await jobsOf(id)).length > stopped, 5_000, "ticks after a restart");
  });

  it("two installations in one process, each with its scheduler: still one job per tick", async () => {
    const other = extendedClient(app.url);
    clients.push(other);
    const otherEngine = engineOf(other.$jobs);
    const id = await app.prisma.$jobs.schedule("@every 1s", CronTick({ label: "two" }));
    await Promise.all([acquire(engine), acquire(otherEngine)]);
    expect(await schedulerConnections()).toBe(2);
    await new Promise((r) => setTimeout(r, 4_200));
    await app.prisma.$jobs.unschedule(id);
    const ticks = (await jobsOf(id)).map((j) => j.tick_at.getTime());
    expect(ticks.length).toBeGreaterThanOrEqual(2);
    expect(ticks.length).toBeLessThanOrEqual(5);
    expect(new Set(ticks).size).toBe(ticks.length);
  });

  it("survives losing its connection: reconnects and ticks on", async () => {
    const id = await app.prisma.$jobs.schedule("@every 1s", CronTick({ label: "reconnect" }));
    await acquire(engine);
    await waitFor(async () => (await jobsOf(id)).length >= 1, 5_000, "a first tick");
    await app.rows(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'arrower-jobs scheduler'`,
    );
    const after = (await app.rows<{ now: Date }>(`SELECT clock_timestamp() AS now`))[0]!.now;
    await waitFor(async () => (await jobsOf(id)).some((j) => j.created_at > after), 10_000, "a tick after the reconnect");
    expect(await schedulerConnections()).toBe(1);
    const ticks = (await jobsOf(id)).map((j) => j.tick_at.getTime());
    expect(new Set(ticks).size).toBe(ticks.length);
  });

  it("a schedule it cannot read is left untouched and does not hold up the others", async () => {
    // 60 of them, more than one batch: the readable schedule behind them must still tick.
    await app.rows(
      `INSERT INTO arrower.schedules (identity, spec, queue, type, payload, next_run_at)
       SELECT 'bad-' || n, 'every now and then', 'cron', 'cron-tick', '{}', clock_timestamp() - interval '1 day'
       FROM generate_series(1, 60) n`,
    );
    const good = await app.prisma.$jobs.schedule("@every 1s", CronTick({ label: "good" }));
    await acquire(engine);
    await waitFor(async () => (await jobsOf(good)).length >= 2, 10_000, "the readable schedule to tick");
    const bad = await app.rows<{ n: number; touched: number }>(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE last_run_at IS NOT NULL OR next_run_at > clock_timestamp() - interval '1 hour')::int AS touched
       FROM arrower.schedules WHERE identity LIKE 'bad-%'`,
    );
    expect(bad).toEqual([{ n: 60, touched: 0 }]);
    expect(await app.count("jobs", "schedule_id <> $1", [good])).toBe(0);
  });

  it("a schedule whose row another transaction holds is skipped, not waited for, and ticks once it is free", async () => {
    const held = await app.prisma.$jobs.schedule("@every 1s", CronTick({ label: "held" }));
    const free = await app.prisma.$jobs.schedule("@every 1s", CronTick({ label: "free" }));
    const other = new (await import("pg")).default.Client({ connectionString: app.url });
    await other.connect();
    try {
      await other.query("BEGIN");
      await other.query(`SELECT 1 FROM arrower.schedules WHERE id = $1 FOR UPDATE`, [held]);
      await acquire(engine);
      await waitFor(async () => (await jobsOf(free)).length >= 2, 10_000, "the free schedule to tick");
      expect(await jobsOf(held)).toHaveLength(0);
      await other.query("COMMIT");
      await waitFor(async () => (await jobsOf(held)).length >= 1, 5_000, "the held schedule to tick once free");
    } finally {
      await other.end();
    }
  });

  it("a schedule deleted while due enqueues nothing more", async () => {
    const id = await app.prisma.$jobs.schedule("@every 1s", CronTick({ label: "deleted" }));
    await acquire(engine);
    await waitFor(async () => (await jobsOf(id)).length >= 1, 5_000, "a first tick");
    expect(await app.prisma.$jobs.unschedule(id)).toBe(true);
    const count = (await jobsOf(id)).length;
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await jobsOf(id)).length).toBe(count);
  });
});
