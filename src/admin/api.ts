/**
 * The admin API behind `prisma.$jobs.getJob`, `listJobs`, `retry`, `cancel`, `deleteJob`,
 * `pause`, `resume`, `requeueFailed`, `stats` and `prune` — what the CLI and the admin UI use.
 *
 * Transaction-mode jobs that run are invisible as such to other sessions (their worker's lock
 * is uncommitted): actions on one lock its row with NOWAIT and report "running" at once instead
 * of waiting. A lease-mode job's claim commits: while its lease holds it is running, with its
 * lease (holder, expiry) in view.
 */
import type pg from "pg";
import type { Engine } from "../engine.ts";
import { JobNotFoundError, JobRunningError, InvalidJobError, InvalidOptionsError, ArrowerJobsError, DuplicateJobError } from "../errors.ts";
import { deserializePayload, resultOf } from "../payload.ts";
import { isJobType, JobState, type JobType } from "../job.ts";
import { describeValue, integerOption, objectOrEmpty, rejectUnknownKeys, validateJobName, validateQueueName } from "../config.ts";

// Retention is the runtime's (every worker prunes); the admin API exposes it as it is.
export { prune, resolvePruneOptions, DEFAULT_RETENTION, type PruneOptions, type ResolvedPrune } from "../worker/retention.ts";

/**
 * One attempt that did not finish its job (failed and retried, crashed, timed out), or the last
 * attempt of an earlier run of a job that was retried from history.
 */
export interface AttemptInfo {
  /**
   * Which run of the job: 1, unless the job was retried from history (`retry`, `requeueFailed`),
   * which starts run 2 with its attempts from 1 again, and so on.
   */
  run: number;
  attempt: number;
  outcome: "failed" | "crashed" | "timeout" | "cancelled" | "succeeded";
  error: string | null;
  startedAt: Date | null;
  finishedAt: Date;
  pool: string | null;
  traceId: string | null;
}

/** A job as the admin API shows it. */
export interface JobInfo {
  id: string;
  queue: string;
  type: string;
  state: JobState;
  /** The decoded payload; the raw JSON when it cannot be decoded. */
  payload: unknown;
  priority: number;
  /** When it is (or was) due; null while it waits for the jobs it depends on (state `waiting`). */
  runAt: Date | null;
  createdAt: Date;
  attempts: number;
  maxAttempts: number;
  timeoutMs: number;
  dedupKey: string | null;
  lastError: string | null;
  scheduleId: string | null;
  tickAt: Date | null;
  /** Finished jobs: when their last attempt started and ended. */
  startedAt: Date | null;
  finishedAt: Date | null;
  pool: string | null;
  traceId: string | null;
}

/** A job with its earlier attempts. */
export interface JobDetails extends JobInfo {
  /** Which run of the job this is: 1, or more once it was retried from history (see {@link AttemptInfo.run}). */
  run: number;
  /**
   * What the handler of a succeeded job returned (`defineJob<P, R>`), decoded (the raw JSON when
   * it cannot be decoded); undefined when it returned nothing, and for live, failed and
   * cancelled jobs. For a typed value use `getResult(JobType, id)`.
   */
  result: unknown;
  attemptHistory: AttemptInfo[];
  /**
   * A running lease-mode job's lease: the pool holding it, and when the lease expires unless
   * that pool renews it (then another worker takes the job over). null otherwise.
   */
  lease: { owner: string; expiresAt: Date } | null;
  /**
   * The latest value the running job reported with `ctx.progress()`, and when; null when it
   * reported none (or is not running: progress is removed when the job finishes).
   */
  progress: { value: unknown; updatedAt: Date } | null;
  /**
   * Workflows (`dependsOn`): the id of the workflow the job belongs to (the id of the first job
   * of the enqueue call that made it; see `getWorkflow`), or null.
   */
  workflowId: string | null;
}

/** A workflow: the jobs enqueued together with `dependsOn`, and what each depends on. */
export interface WorkflowInfo {
  /** The id of its first job. */
  id: string;
  /** Its jobs in enqueue order, each with the ids of the jobs it depends on. */
  jobs: (JobInfo & { dependsOn: string[] })[];
}

/** Filter of {@link listJobs}. */
export interface JobFilter {
  /**
   * Default `"available"`. Running jobs are not listed (see `stats()` for counts): a lease-mode
   * job is left out while its lease holds. A transaction-mode job's claim is invisible to other
   * sessions until it commits, so while it runs that job is still listed as available.
   */
  state?: Exclude<JobState, "running">;
  queue?: string;
  type?: string;
  /** Page size, 1 to 500. Default 50. */
  limit?: number;
}

/** A page of jobs, newest first; pass `next` back as the cursor for the following page. */
export interface JobPage {
  jobs: JobInfo[];
  next: string | null;
}

/** Per-queue counts. */
export interface QueueStats {
  queue: string;
  /** All live jobs (due, scheduled and waiting). */
  queued: number;
  due: number;
  scheduled: number;
  /** Live jobs waiting for the jobs they depend on (`dependsOn`) to succeed. */
  waiting: number;
  /** Live jobs that failed at least once and wait for their next attempt. */
  retrying: number;
  /** Jobs running now, from the pools' heartbeats. */
  running: number;
  failed: number;
  succeededLastHour: number;
  /** Live jobs no live pool has a handler for. */
  noHandler: number;
  pools: number;
  paused: boolean;
}

const LIVE_STATES = new Set<string>([JobState.available, JobState.scheduled, JobState.waiting]);
const LISTABLE = [JobState.available, JobState.scheduled, JobState.waiting, JobState.succeeded, JobState.failed, JobState.cancelled] as const;

interface JobRow {
  id: string;
  queue: string;
  type: string;
  payload: unknown;
  payload_meta: unknown;
  priority: number;
  run_at: Date;
  created_at: Date;
  attempts: number;
  max_attempts: number;
  timeout_ms: number;
  dedup_key: string | null;
  last_error: string | null;
  schedule_id: string | null;
  tick_at: Date | null;
  state: JobState;
  started_at?: Date | null;
  finished_at: Date | null;
  pool?: string | null;
  trace_id?: string | null;
  /** A live job locked by a transaction in progress: a worker is running it. */
  running?: boolean | null;
  /** getJob only: the handler's result (has_result tells a stored JSON null from none). */
  result?: unknown;
  result_meta?: unknown;
  has_result?: boolean;
  /** getJob only: a lease-mode job's lease, while it holds, and the job's reported progress. */
  lease_owner?: string | null;
  lease_expires_at?: Date | null;
  progress?: unknown;
  progress_at?: Date | null;
  /** getJob only: the workflow the job belongs to (dependsOn), if any. */
  workflow_id?: string | null;
}

/** A stored result, decoded; undefined when none is stored. */
function decodeResult(json: unknown, meta: unknown, hasResult: boolean | undefined): unknown {
  return hasResult ? deserializePayload(json, meta) : undefined;
}

function toInfo(row: JobRow): JobInfo {
  let payload: unknown;
  try {
    payload = deserializePayload(row.payload, row.payload_meta);
  } catch {
    payload = row.payload;
  }
  return {
    id: row.id,
    queue: row.queue,
    type: row.type,
    state: row.state,
    payload,
    priority: row.priority,
    // A waiting job's run_at is 'infinity' (pg gives Infinity): it has no due time yet.
    runAt: row.run_at instanceof Date && Number.isFinite(row.run_at.getTime()) ? row.run_at : row.state === JobState.waiting ? null : row.run_at,
    createdAt: row.created_at,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    timeoutMs: row.timeout_ms,
    dedupKey: row.dedup_key,
    lastError: row.last_error,
    scheduleId: row.schedule_id,
    tickAt: row.tick_at,
    startedAt: row.started_at ?? null,
    finishedAt: row.finished_at,
    pool: row.pool ?? null,
    traceId: row.trace_id ?? null,
  };
}

/** The largest job id: ids are PostgreSQL `bigint`s. */
const MAX_JOB_ID = 9_223_372_036_854_775_807n;

/**
 * A job id as the admin API and the UI take it (an argument, a page's cursor, a URL), checked
 * in this one place so that no entry point sends PostgreSQL a value it refuses (22P02, 22003).
 * Returns the id without leading zeros, or `null` for a well-formed id beyond `bigint`: no job
 * can have it, so the caller answers as for an unknown job (null, JobNotFoundError, a 404).
 * Anything but a string of decimal digits (a sign, a fraction, spaces, a number) is bad input.
 * @throws InvalidOptionsError naming `option`
 */
export function parseJobId(value: unknown, option: "id" | "cursor" = "id"): string | null {
  if (typeof value !== "string" || !/^[0-9]+$/.test(value)) {
    const given = typeof value === "string" ? JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value) : describeValue(value);
    const rule = `a job id is a string of digits (as enqueue returns it), got ${given}`;
    throw new InvalidOptionsError(option, option === "cursor" ? `cursor must be a job id (the \`next\` of a page): ${rule}` : rule);
  }
  const digits = value.replace(/^0+(?=[0-9])/, "");
  return digits.length > 19 || BigInt(digits) > MAX_JOB_ID ? null : digits;
}

/** The id of a job an action must find: beyond `bigint`, none can exist. */
function existingJobId(id: unknown): string {
  const parsed = parseJobId(id);
  if (parsed === null) throw new JobNotFoundError(id as string);
  return parsed;
}

function isLockNotAvailable(error: unknown): boolean {
  return (error as { code?: string }).code === "55P03";
}

/** The job, with its attempts, or null. A locked live job is reported as `running`. */
export async function getJob(engine: Engine, jobId: string): Promise<JobDetails | null> {
  const id = parseJobId(jobId);
  if (id === null) return null;
  const q = engine.queries;
  return engine.transaction(async (client) => {
    const { rows } = await client.query<JobRow>(q.adminGetJob, [id]);
    const row = rows[0];
    if (!row) return null;
    if (LIVE_STATES.has(row.state) && row.running) row.state = JobState.running;
    const attempts = await client.query<{
      run: number;
      attempt: number;
      outcome: AttemptInfo["outcome"];
      error: string | null;
      started_at: Date | null;
      finished_at: Date;
      pool: string | null;
      trace_id: string | null;
    }>(q.adminAttempts, [id]);
    // Stored, the latest run is 0 and earlier ones count from 1 (migrations/000004.sql).
    const run = Math.max(0, ...attempts.rows.map((a) => a.run)) + 1;
    let result: unknown;
    try {
      result = decodeResult(row.result, row.result_meta, row.has_result);
    } catch {
      result = row.result;
    }
    return {
      ...toInfo(row),
      run,
      result,
      lease: row.lease_owner && row.lease_expires_at ? { owner: row.lease_owner, expiresAt: row.lease_expires_at } : null,
      progress: row.progress_at ? { value: row.progress, updatedAt: row.progress_at } : null,
      workflowId: row.workflow_id ?? null,
      attemptHistory: attempts.rows.map((a) => ({
        run: a.run === 0 ? run : a.run,
        attempt: a.attempt,
        outcome: a.outcome,
        error: a.error,
        startedAt: a.started_at,
        finishedAt: a.finished_at,
        pool: a.pool,
        traceId: a.trace_id,
      })),
    };
  });
}

/**
 * The result a job's handler returned, typed by its job type: undefined while the job is live,
 * when it failed or was cancelled, when its handler returned nothing, and when no job has this
 * id (or it was pruned, or discarded by `retention: { succeeded: 0 }`).
 * @throws InvalidJobError when the job is of another type; ArrowerJobsError (INVALID_RESULT)
 *   when the stored result cannot be decoded
 */
export async function getResult<P, R>(engine: Engine, type: JobType<P, R>, jobId: string): Promise<R | undefined> {
  if (!isJobType(type)) throw new InvalidJobError(`getResult expects a job type from defineJob(), got ${typeof type}`);
  const id = parseJobId(jobId);
  if (id === null) return undefined;
  const { rows } = await engine.pool().query<{ type: string; result: unknown; result_meta: unknown; has_result: boolean }>(engine.queries.adminGetResult, [id]);
  const row = rows[0];
  if (!row) return undefined;
  return resultOf<R>(row.type, type.name, id, () => decodeResult(row.result, row.result_meta, row.has_result));
}

/** Jobs of one state, newest first, with keyset pagination (fast at any depth). */
export async function listJobs(engine: Engine, filter: JobFilter = {}, cursor?: string | null): Promise<JobPage> {
  const what = "listJobs filter";
  const f = objectOrEmpty(filter, what);
  rejectUnknownKeys(f, ["state", "queue", "type", "limit"], what);
  const state = (f.state as string | undefined) ?? JobState.available;
  if (!(LISTABLE as readonly string[]).includes(state)) {
    throw new InvalidOptionsError("state", `${what}: state must be one of ${LISTABLE.join(", ")}, got ${JSON.stringify(state)}`);
  }
  if (f.queue !== undefined) validateQueueName(f.queue);
  if (f.type !== undefined) validateJobName(f.type);
  const limit = f.limit === undefined ? 50 : integerOption(f.limit, "limit", 1, 500, what);
  // A cursor beyond bigint is above every job id: the first page.
  const after = cursor === undefined || cursor === null ? null : parseJobId(cursor, "cursor");
  const q = engine.queries;
  const live = LIVE_STATES.has(state);
  const { rows } = await engine
    .pool()
    .query<JobRow>(live ? q.adminListLive : q.adminListHistory, [f.queue ?? null, f.type ?? null, state, after, limit + 1]);
  const page = rows.slice(0, limit).map(toInfo);
  return { jobs: page, next: rows.length > limit ? page.at(-1)!.id : null };
}

/**
 * Runs a job again: a queued job now, a finished one (failed, cancelled, succeeded) as a fresh
 * job with its attempts from zero. Returns the job's id.
 * @throws JobRunningError when a worker runs it now; JobNotFoundError
 */
export async function retry(engine: Engine, jobId: string): Promise<string> {
  const id = existingJobId(jobId);
  const q = engine.queries;
  return engine.transaction(async (client) => {
    // Each statement sees what committed before it (READ COMMITTED): a round that lost a race
    // (the key's holder finished, another retry revived the job) looks again.
    for (let round = 1; ; round++) {
      if (await lockLive(client, q.adminLockLive, id, "retry", { leased: "refuse", waiting: "refuse" })) {
        await client.query(q.adminRunNow, [id, q.channel]);
        return id;
      }
      const revived = await client.query(q.adminRevive, [id, q.channel]);
      if ((revived.rowCount ?? 0) > 0) {
        await client.query(q.adminEndRuns, [[id]]);
        await client.query(q.adminDeleteHistory, [id]);
        return id;
      }
      const { rows } = await client.query<JobRow>(q.adminGetJob, [id]);
      const row = rows[0];
      if (!row) throw new JobNotFoundError(id);
      if (row.dedup_key !== null && !LIVE_STATES.has(row.state)) {
        const holder = (await client.query<{ id: string }>(q.findLiveByDedupKey, [row.queue, row.dedup_key])).rows[0];
        if (holder) throw new DuplicateJobError(id, row.queue, row.dedup_key, holder.id);
      }
      if (round === 3) throw new ArrowerJobsError("INVALID_JOB", `job ${id} cannot run again now: it changed three times while retrying it, try again`);
    }
  });
}

/**
 * Cancels a queued job: it moves to history as `cancelled`. A running lease-mode job is
 * cancelled too: its handler's `signal` aborts (with a LeaseLostError) in the process running
 * it, and whatever it does after changes nothing. A running transaction-mode job is not
 * touched (its transaction decides): JobRunningError.
 * @throws JobRunningError, JobNotFoundError (also for a job that has already finished)
 */
export async function cancel(engine: Engine, jobId: string): Promise<void> {
  const id = existingJobId(jobId);
  const q = engine.queries;
  await engine.transaction(async (client) => {
    if (!(await lockLive(client, q.adminLockLive, id, "cancel"))) throw new JobNotFoundError(id);
    const { rows } = await client.query<{ has_dependants: boolean }>(q.adminCancel, [id, q.channel]);
    // Jobs that depend on it: cancelled too, or run (onParentFailure), as when a parent fails.
    if (rows[0]?.has_dependants) await client.query(q.settleDependants, [[], [id], q.channel]);
  });
}

/**
 * A workflow (jobs enqueued together with `dependsOn`) by the id of any of its jobs: each job
 * with its state and the jobs it depends on; null when the job is in none (or unknown).
 */
export async function getWorkflow(engine: Engine, jobId: string): Promise<WorkflowInfo | null> {
  const id = parseJobId(jobId);
  if (id === null) return null;
  const q = engine.queries;
  return engine.transaction(async (client) => {
    const workflow = (await client.query<{ id: string }>(q.workflowOf, [id])).rows[0]?.id;
    if (workflow === undefined) return null;
    const members = (await client.query<{ id: string; depends_on: string[] }>(q.workflowJobs, [workflow])).rows;
    const jobs: WorkflowInfo["jobs"] = [];
    for (const member of members) {
      const { rows } = await client.query<JobRow>(q.adminGetJob, [member.id]);
      const row = rows[0];
      if (!row) continue; // pruned from history
      if (LIVE_STATES.has(row.state) && row.running) row.state = JobState.running;
      jobs.push({ ...toInfo(row), dependsOn: member.depends_on });
    }
    return { id: workflow, jobs };
  });
}

/**
 * Deletes a job, queued or finished, with its attempts. A running job is not touched.
 * @throws JobRunningError, JobNotFoundError
 */
export async function deleteJob(engine: Engine, jobId: string): Promise<void> {
  const id = existingJobId(jobId);
  const q = engine.queries;
  await engine.transaction(async (client) => {
    const deleted = (await lockLive(client, q.adminLockLive, id, "delete", { leased: "refuse" }))
      ? await client.query<{ has_dependants?: boolean }>(q.adminDeleteLive, [id])
      : await client.query<{ has_dependants?: boolean }>(q.adminDeleteHistory, [id]);
    if (deleted.rowCount === 0) throw new JobNotFoundError(id);
    // A deleted parent never succeeds: its dependants are settled as for a failed one.
    if (deleted.rows[0]?.has_dependants) await client.query(q.settleDependants, [[], [id], q.channel]);
    await client.query(q.adminDeleteAttempts, [id]);
  });
}

/**
 * Locks a live job; false when it is not live. A job a worker runs is refused
 * (JobRunningError): in transaction mode its row is locked; in lease mode a lease holds it,
 * refused unless `leased` is "allow" (cancel: the holder is told).
 */
async function lockLive(
  client: pg.PoolClient,
  sql: string,
  id: string,
  action: string,
  options: { leased: "allow" | "refuse"; waiting?: "refuse" } = { leased: "allow" },
): Promise<boolean> {
  let rows: { leased: boolean; waiting: boolean }[];
  try {
    ({ rows } = await client.query<{ leased: boolean; waiting: boolean }>(sql, [id]));
  } catch (error) {
    if (isLockNotAvailable(error)) throw new JobRunningError(id, action);
    throw error;
  }
  if (rows[0]?.leased && options.leased === "refuse") throw new JobRunningError(id, action);
  // Run now, it would run before the jobs it depends on.
  if (rows[0]?.waiting && options.waiting === "refuse") {
    throw new InvalidJobError(`job ${id} waits for the jobs it depends on (dependsOn): it cannot ${action} before they have succeeded; retry a failed parent, or cancel it`);
  }
  return rows.length > 0;
}

/** Pauses or resumes a queue: no worker claims from a paused queue; running jobs finish. */
export async function setPaused(engine: Engine, queue: string, paused: boolean): Promise<void> {
  validateQueueName(queue);
  await engine.pool().query(engine.queries.adminSetPaused, [queue, paused, engine.queries.channel]);
}

/**
 * What {@link requeueFailed} did. A dedup key names one live job per queue, so of the failed
 * jobs that share a key only the newest (highest id) is requeued, and none while a live job
 * (queued or running) holds the key; those stay failed in history.
 */
export interface RequeueResult {
  /** Failed jobs moved back to the queue as fresh jobs. */
  requeued: number;
  /** Failed jobs left in history, by reason. */
  skipped: {
    /** A live job that was there before this call holds their dedup key. */
    dedupKeyLive: number;
    /** A newer failed job with the same dedup key was requeued by this call instead. */
    dedupKeyRequeued: number;
  };
}

const REQUEUE_BATCH = 1_000;

/** Moves failed jobs back to the live table as fresh jobs; says how many, and which it skipped. */
export async function requeueFailed(engine: Engine, filter: { queue?: string; type?: string } = {}): Promise<RequeueResult> {
  const f = objectOrEmpty(filter, "requeueFailed filter");
  rejectUnknownKeys(f, ["queue", "type"], "requeueFailed filter");
  if (f.queue !== undefined) validateQueueName(f.queue);
  if (f.type !== undefined) validateJobName(f.type);
  const result: RequeueResult = { requeued: 0, skipped: { dedupKeyLive: 0, dedupKeyRequeued: 0 } };
  // Keyed jobs this call requeued: an older failed job whose key one of them holds (it was in
  // an earlier batch) is skipped for it, not for a job that was live before.
  const requeuedKeyed = new Set<string>();
  let before: string | null = null;
  // Batches, newest first, keep each statement short, so workers and the UI never wait long on it.
  for (;;) {
    type Row = { seen: number; last: string | null; picked: number; requeued: number; duplicates: number; holders: string[]; keyed: string[] };
    const { rows }: { rows: Row[] } = await engine
      .pool()
      .query<Row>(engine.queries.adminRequeueFailed, [f.queue ?? null, f.type ?? null, REQUEUE_BATCH, engine.queries.channel, before]);
    const row: Row = rows[0]!;
    result.requeued += row.requeued;
    result.skipped.dedupKeyRequeued += row.duplicates;
    // Picked but refused: a job with its key was enqueued while the statement ran.
    result.skipped.dedupKeyLive += row.picked - row.requeued;
    for (const id of row.keyed) requeuedKeyed.add(id);
    for (const holder of row.holders) {
      if (requeuedKeyed.has(holder)) result.skipped.dedupKeyRequeued++;
      else result.skipped.dedupKeyLive++;
    }
    if (row.seen < REQUEUE_BATCH || row.last === null) return result;
    before = row.last;
  }
}

/** A queue's counts without the last hour's throughput. */
export type QueueCounts = Omit<QueueStats, "succeededLastHour">;

/** A worker pool, from its heartbeat row. */
export interface PoolInfo {
  name: string;
  queue: string;
  jobTypes: string[];
  size: number;
  running: number;
  host: string | null;
  pid: number | null;
  startedAt: Date | null;
  lastSeenAt: Date;
  /** Seen in the last minute; older rows are pools that died without removing themselves. */
  alive: boolean;
}

/**
 * Every pool that has a heartbeat row, alive or not, by queue and name: what `arrower-jobs
 * status` and the admin UI's overview list. On the engine's small pool, or on `client`.
 */
export async function listPools(engine: Engine, client?: pg.ClientBase): Promise<PoolInfo[]> {
  type Row = {
    name: string;
    queue: string;
    job_types: string[];
    size: number;
    running: number;
    host: string | null;
    pid: number | null;
    started_at: Date | null;
    last_seen_at: Date;
    alive: boolean;
  };
  const sql = engine.queries.listPools;
  const { rows } = client ? await client.query<Row>(sql) : await engine.pool().query<Row>(sql);
  return rows.map((r) => ({
    name: r.name,
    queue: r.queue,
    jobTypes: r.job_types,
    size: r.size,
    running: r.running,
    host: r.host,
    pid: r.pid,
    startedAt: r.started_at,
    lastSeenAt: r.last_seen_at,
    alive: r.alive,
  }));
}

/** A job a worker is running now, as `arrower-jobs status` and the admin UI list it. */
export interface RunningJobInfo {
  id: string;
  queue: string;
  type: string;
  /** The attempt running now, from 1. */
  attempt: number;
  maxAttempts: number;
  /**
   * A lease-mode job's lease: the pool holding it, since when, and when it expires unless that
   * pool renews it. null for a job running in its transaction (which pool runs it cannot be
   * seen until it commits).
   */
  lease: { owner: string; startedAt: Date; expiresAt: Date } | null;
  /** The latest value it reported with `ctx.progress()`, and when; null when none. */
  progress: { value: unknown; updatedAt: Date } | null;
}

/**
 * The jobs workers are running now, oldest first: those locked by their transaction and those
 * a lease holds. On the engine's small pool, or on `client`.
 */
export async function listRunning(engine: Engine, client?: pg.ClientBase): Promise<RunningJobInfo[]> {
  type Row = {
    id: string;
    queue: string;
    type: string;
    attempt: number;
    max_attempts: number;
    lease_owner: string | null;
    lease_expires_at: Date | null;
    started_at: Date | null;
    progress: unknown;
    progress_at: Date | null;
  };
  const sql = engine.queries.runningJobs;
  const { rows } = client ? await client.query<Row>(sql) : await engine.pool().query<Row>(sql);
  return rows.map((r) => ({
    id: r.id,
    queue: r.queue,
    type: r.type,
    attempt: r.attempt,
    maxAttempts: r.max_attempts,
    lease: r.lease_owner && r.lease_expires_at && r.started_at ? { owner: r.lease_owner, startedAt: r.started_at, expiresAt: r.lease_expires_at } : null,
    progress: r.progress_at ? { value: r.progress, updatedAt: r.progress_at } : null,
  }));
}

/**
 * Counts per queue, in one statement: every queue with live jobs, failed jobs, a live pool or a
 * pause flag, by name. What `stats()`, `arrower-jobs status` and the admin UI's overview share;
 * on the engine's small pool, or on `client` (a connection of the caller's).
 */
export async function queueCounts(engine: Engine, client?: pg.ClientBase): Promise<QueueCounts[]> {
  type Row = {
    queue: string;
    queued: number;
    due: number;
    scheduled: number;
    waiting: number;
    retrying: number;
    running: number;
    failed: number;
    pools: number;
    paused: boolean;
    no_handler: number;
  };
  const sql = engine.queries.status;
  const { rows } = client ? await client.query<Row>(sql) : await engine.pool().query<Row>(sql);
  // In the order `arrower-jobs status --json` prints them.
  return rows.map((r) => ({
    queue: r.queue,
    queued: r.queued,
    due: r.due,
    scheduled: r.scheduled,
    waiting: r.waiting,
    running: r.running,
    failed: r.failed,
    retrying: r.retrying,
    noHandler: r.no_handler,
    paused: r.paused,
    pools: r.pools,
  }));
}

/** Counts per queue. */
export async function stats(engine: Engine): Promise<QueueStats[]> {
  const [counts, lastHour] = await Promise.all([
    queueCounts(engine),
    engine.pool().query<{ queue: string; n: number }>(engine.queries.adminSucceededLastHour),
  ]);
  const succeeded = new Map(lastHour.rows.map((r) => [r.queue, r.n]));
  const rows: QueueStats[] = counts.map((c) => ({ ...c, succeededLastHour: succeeded.get(c.queue) ?? 0 }));
  for (const [queue, n] of succeeded) {
    if (!rows.some((r) => r.queue === queue)) {
      rows.push({ queue, queued: 0, due: 0, scheduled: 0, waiting: 0, retrying: 0, running: 0, failed: 0, succeededLastHour: n, noHandler: 0, pools: 0, paused: false });
    }
  }
  return rows.sort((a, b) => a.queue.localeCompare(b.queue));
}
