/**
 * What the admin UI reads, on the engine's small admin pool. Jobs, actions and listings go
 * through the admin API (src/admin/api.ts); what only the UI needs (throughput buckets, failed
 * jobs per type, the type filter's suggestions) uses the statements of the "ui" block in
 * src/postgres/queries.ts. Every value is a bound parameter.
 */
import type { Engine } from "../../engine.ts";
import { queryableOf } from "../../postgres/migrations.ts";
import { isStale, listSchedulesOf, type ScheduleInfo } from "../../cron/schedules.ts";
import type { JobState } from "../../job.ts";
import { listPools, listRunning, queueCounts, type PoolInfo, type RunningJobInfo } from "../api.ts";

export type { PoolInfo, RunningJobInfo };

/** Buckets of the throughput sparkline: twelve of five minutes, the last hour. */
export const BUCKETS = 12;
/** Length of one bucket, ms. */
export const BUCKET_MS = 5 * 60_000;

/** One queue on the overview. */
export interface QueueOverview {
  queue: string;
  due: number;
  scheduled: number;
  /** Live jobs waiting for the jobs they depend on (`dependsOn`). */
  waiting: number;
  running: number;
  retrying: number;
  failed: number;
  succeededLastHour: number;
  failedLastHour: number;
  noHandler: number;
  paused: boolean;
  /** Live pools of this queue. */
  pools: PoolInfo[];
  /** Finished jobs per 5-minute bucket over the last hour, oldest first. */
  succeededSeries: number[];
  failedSeries: number[];
}

/** A worker pool, from its heartbeat row. */
/** The overview: every queue, and every pool (alive or not). */
export interface Overview {
  queues: QueueOverview[];
  pools: PoolInfo[];
}

/**
 * Counts per queue with the last hour's throughput and the live pools. The same numbers as
 * `stats()`, with "succeeded in the last hour" summed from the sparkline's buckets (one
 * indexed range scan instead of a second pass over history).
 */
export async function readOverview(engine: Engine): Promise<Overview> {
  const q = engine.queries;
  const pool = engine.pool();
  const [counts, throughput, pools] = await Promise.all([
    queueCounts(engine),
    pool.query<{ queue: string; bucket: number; succeeded: number; failed: number }>(q.uiThroughput),
    listPools(engine),
  ]);
  const series = new Map<string, { succeeded: number[]; failed: number[] }>();
  for (const row of throughput.rows) {
    let s = series.get(row.queue);
    if (!s) series.set(row.queue, (s = { succeeded: new Array<number>(BUCKETS).fill(0), failed: new Array<number>(BUCKETS).fill(0) }));
    // Bucket 0 is the latest; the series runs oldest first.
    const index = BUCKETS - 1 - Math.min(Math.max(row.bucket, 0), BUCKETS - 1);
    s.succeeded[index]! += row.succeeded;
    s.failed[index]! += row.failed;
  }
  const byQueue = new Map<string, QueueOverview>();
  const empty = () => new Array<number>(BUCKETS).fill(0);
  // The overview lists the live pools themselves, and shows no "queued" total.
  for (const { queued: _queued, pools: _pools, ...c } of counts) {
    byQueue.set(c.queue, { ...c, succeededLastHour: 0, failedLastHour: 0, pools: [], succeededSeries: empty(), failedSeries: empty() });
  }
  for (const [queue, s] of series) {
    let entry = byQueue.get(queue);
    if (!entry) {
      entry = {
        queue, due: 0, scheduled: 0, waiting: 0, running: 0, retrying: 0, failed: 0, succeededLastHour: 0, failedLastHour: 0,
        noHandler: 0, paused: false, pools: [], succeededSeries: empty(), failedSeries: empty(),
      };
      byQueue.set(queue, entry);
    }
    entry.succeededSeries = s.succeeded;
    entry.failedSeries = s.failed;
    entry.succeededLastHour = sum(s.succeeded);
    entry.failedLastHour = sum(s.failed);
  }
  for (const p of pools) {
    if (!p.alive) continue;
    const entry = byQueue.get(p.queue);
    if (entry) entry.pools.push(p);
  }
  return { queues: [...byQueue.values()].sort((a, b) => a.queue.localeCompare(b.queue)), pools };
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** Whether a queue keeps its succeeded jobs in history (not with `retention: { succeeded: 0 }`). */
export async function readKeepsSucceeded(engine: Engine, queue: string): Promise<boolean> {
  const { rows } = await engine.pool().query<{ keeps: boolean }>(engine.queries.uiKeepsSucceeded, [queue]);
  return rows[0]!.keeps;
}

/** Failed jobs of one queue and type. */
export interface FailedGroup {
  queue: string;
  type: string;
  count: number;
  lastFailedAt: Date;
}

/** Failed jobs per queue and type, most first (at most `limit` groups). */
export async function readFailedGroups(engine: Engine, queue: string | null, limit = 100): Promise<FailedGroup[]> {
  const { rows } = await engine
    .pool()
    .query<{ queue: string; type: string; n: number; last_failed_at: Date }>(engine.queries.uiFailedGroups, [queue, limit]);
  return rows.map((r) => ({ queue: r.queue, type: r.type, count: r.n, lastFailedAt: r.last_failed_at }));
}

/** Job types known in a queue: the type filter's suggestions. */
export async function readQueueTypes(engine: Engine, queue: string): Promise<string[]> {
  const { rows } = await engine.pool().query<{ type: string }>(engine.queries.uiQueueTypes, [queue]);
  return rows.map((r) => r.type);
}

/** What the job page's live refresh reads: a job's state and the progress it reported. */
export interface WatchedJob {
  state: JobState;
  attempts: number;
  progress: { value: unknown; updatedAt: Date } | null;
}

/**
 * A job's state (`running` when a worker holds it: its transaction's lock, or a lease) with its
 * reported progress, or null when it does not exist.
 */
export async function readJobState(engine: Engine, id: string): Promise<WatchedJob | null> {
  const q = engine.queries;
  return engine.transaction(async (client) => {
    const { rows } = await client.query<{ state: JobState; attempts: number; running: boolean | null; progress: unknown; progress_at: Date | null }>(
      q.uiJobState,
      [id],
    );
    const row = rows[0];
    if (!row) return null;
    const running = row.running && (row.state === "available" || row.state === "scheduled");
    return {
      state: running ? "running" : row.state,
      attempts: row.attempts,
      progress: row.progress_at ? { value: row.progress, updatedAt: row.progress_at } : null,
    };
  });
}

/** The jobs running now in one queue, oldest first (see `listRunning`). */
export async function readRunning(engine: Engine, queue: string): Promise<RunningJobInfo[]> {
  return (await listRunning(engine)).filter((job) => job.queue === queue);
}

/** A schedule with whether it looks stale. */
export interface ScheduleView extends ScheduleInfo {
  /**
   * No code running now declared it: every live pool started more than
   * {@link STALE_MARGIN_MS} after the schedule was last declared (code declares its schedules
   * when it starts). Unknown, so false, while no pool is alive.
   */
  stale: boolean;
}

export { STALE_MARGIN_MS } from "../../cron/schedules.ts";

/** Every schedule, soonest first, with its staleness. */
export async function readSchedules(engine: Engine): Promise<{ schedules: ScheduleView[]; livePools: number }> {
  const [schedules, pools] = await Promise.all([listSchedulesOf(engine, queryableOf(engine.pool())), listPools(engine)]);
  return {
    schedules: schedules.map((s) => ({ ...s, stale: isStale(s.declaredAt, pools) })),
    livePools: pools.filter((p) => p.alive && p.startedAt !== null).length,
  };
}

/** What the workflow page's live refresh reads: each job's state and attempts, by id. */
export interface WatchedWorkflowJob {
  id: string;
  state: JobState;
  attempts: number;
}

/**
 * The states of the jobs of workflow `workflowId` (the id of its first job), in enqueue order,
 * in one statement: running as for {@link readJobState}, pruned jobs left out. Empty when there
 * is no such workflow.
 */
export async function readWorkflowStates(engine: Engine, workflowId: string): Promise<WatchedWorkflowJob[]> {
  const { rows } = await engine.pool().query<WatchedWorkflowJob>(engine.queries.uiWorkflowStates, [workflowId]);
  return rows;
}

/**
 * A workflow's jobs' states as one string: the workflow page carries the one it was rendered
 * with, and reloads when `/api/workflows/:id` answers another.
 */
export function workflowVersion(jobs: readonly WatchedWorkflowJob[]): string {
  return jobs.map((j) => `${j.id}:${j.state}:${j.attempts}`).join(" ");
}
