/**
 * `prisma.$jobs` and `tx.$jobs`: the API an application uses. One `JobsClient` per client or
 * transaction client, all sharing their installation's {@link Engine}.
 */
import type { EnqueueOptions } from "./config.ts";
import type { Job, JobType } from "./job.ts";
import type { Queryable } from "./backend.ts";
import type { Engine } from "./engine.ts";
import { insertJobs, prepareJobs, type Atomically } from "./enqueue.ts";
import { latestVersion, type MigrateResult } from "./postgres/migrations.ts";
import type { Queue } from "./queue.ts";
import type { Enqueuer, Scheduler } from "./enqueuer.ts";
import { resolveQueueOptions, type QueueOptions } from "./worker/options.ts";
import { WorkerPool } from "./worker/pool.ts";
import type { HandlerTransactions } from "./worker/executor.ts";
import { IntegrationError } from "./errors.ts";
import * as admin from "./admin/api.ts";
import type { JobDetails, JobFilter, JobPage, PruneOptions, QueueStats, RequeueResult, WorkflowInfo } from "./admin/api.ts";
import { listSchedulesOf, scheduleJob, unscheduleJob, type ScheduleInfo, type ScheduleOptions } from "./cron/schedules.ts";

/**
 * The `$jobs` member of an extended Prisma client or transaction client.
 * @typeParam TX the transaction client handlers receive
 */
export class JobsClient<TX = unknown> implements Enqueuer {
  /** @internal */
  constructor(
    private readonly engine: Engine,
    private readonly db: Queryable,
    private readonly transactions: HandlerTransactions | undefined,
    /**
     * On the root client: the driver adapter's own pool, once connected. An enqueue outside a
     * transaction is one autocommit statement; sent there it skips Prisma's query layer
     * (~350 µs of CPU per statement here) on the same connections.
     */
    private readonly direct: () => Queryable | undefined = () => undefined,
    /**
     * On the root client: runs a batch too large for one statement in a transaction of its own
     * (src/enqueue.ts). On a transaction's `$jobs` the default: that transaction.
     */
    private readonly atomically?: Atomically,
  ) {}

  enqueue<P>(job: Job<P>, options?: EnqueueOptions): Promise<string>;
  enqueue(jobs: readonly Job[], options?: EnqueueOptions): Promise<string[]>;
  async enqueue(input: Job | readonly Job[], options?: EnqueueOptions): Promise<string | string[]> {
    const prepared = prepareJobs(input, options, this.engine.options.maxPayloadBytes);
    const ids = await insertJobs(this.engine, this.direct() ?? this.db, prepared, {}, this.atomically);
    return Array.isArray(input) ? ids : ids[0]!;
  }

  /**
   * Makes a job repeat: each tick of `spec` enqueues one job, exactly once however many worker
   * processes run (every worker process runs the scheduler; the job is enqueued in the
   * transaction that advances the schedule). Returns the schedule's id.
   *
   * Specs: crontab with 5 fields, or 6 with seconds first (`"0 4 * * *"`, `"30 0 4 * * *"`);
   * `@yearly`/`@annually`, `@monthly`, `@weekly`, `@daily`/`@midnight`, `@hourly`; and
   * `@every <duration>` with a Go-style duration of at least 1 s and at most 87600h
   * (`"@every 90s"`, `"@every 1h30m"`), aligned to the Unix epoch. Fields are read in
   * `options.timezone` (default `"UTC"`); across daylight saving shifts each tick is a real
   * instant fired once (README, "Cron schedules").
   *
   * Identity: with `options.name`, the name — scheduling that name again replaces spec, time
   * zone, job and options (the next tick is recomputed when spec or zone changed). Without a
   * name: job type + spec + time zone + payload (key order does not matter) — scheduling it
   * again returns the same id and changes nothing about when or what runs. Either way the job
   * options (queue, priority, maxAttempts, timeout) follow the latest declaration, and the
   * schedule records when it was last declared, so schedules no deployed code declares any
   * more show as stale; remove those with {@link JobsClient.unschedule}.
   *
   * Each job carries its schedule's id and tick time (`schedule_id`, `tick_at`; `run_at` is
   * the tick). After downtime a schedule catches up with ONE job, for its oldest missed tick,
   * then continues with the next tick after now: missed ticks are not enqueued one by one.
   *
   * On `tx.$jobs` the schedule exists only if `tx` commits.
   *
   * @param spec the schedule, e.g. `"0 4 * * *"`, `"@daily"`, `"@every 90s"`
   * @param job the job every tick enqueues: `Cleanup({ olderThanDays: 30 })`
   * @param options `name`, `timezone`, and `queue`, `priority`, `maxAttempts`, `timeout` for
   *   its jobs (default: the job type's defaults)
   * @throws InvalidCronError (invalid spec, unknown time zone, bad `@every` duration; quotes the
   *   spec), InvalidJobError, InvalidPayloadError, InvalidOptionsError, InvalidNameError,
   *   MigrationsPendingError. Nothing is stored when it throws.
   *
   * @example
   * ```ts
   * await prisma.$jobs.schedule("0 4 * * *", Cleanup({ olderThanDays: 30 }));
   * await prisma.$jobs.schedule("@every 90s", Cleanup({ olderThanDays: 1 }));
   * const id = await prisma.$jobs.schedule("30 8 * * MON-FRI", Report({ kind: "daily" }), {
   *   name: "daily-report", timezone: "Europe/Berlin", queue: "reports",
   * });
   * ```
   */
  schedule<P>(spec: string, job: Job<P>, options?: ScheduleOptions): Promise<string> {
    return scheduleJob(this.engine, this.db, spec, job, options);
  }

  /**
   * Removes a schedule by its id (as {@link JobsClient.schedule} returned it) or its name. Jobs
   * it already enqueued are not touched. Resolves to whether the schedule existed.
   *
   * @example
   * ```ts
   * await prisma.$jobs.unschedule("daily-report");
   * ```
   */
  unschedule(idOrName: string): Promise<boolean> {
    return unscheduleJob(this.engine, this.db, idOrName);
  }

  /**
   * Every schedule, soonest next tick first, with its decoded payload and when code last
   * declared it (`declaredAt`): for the CLI, the UI, and cleaning up stale schedules.
   *
   * @example
   * ```ts
   * const stale = (await prisma.$jobs.listSchedules()).filter((s) => s.declaredAt < deployStartedAt);
   * for (const s of stale) await prisma.$jobs.unschedule(s.id);
   * ```
   */
  listSchedules(): Promise<ScheduleInfo[]> {
    return listSchedulesOf(this.engine, this.db);
  }

  /**
   * A queue and its worker pool. Each call makes a pool of its own; queues are independent.
   *
   * @example
   * ```ts
   * const queue = prisma.$jobs.queue("default", { poolSize: 10, strategy: "priority" });
   * await queue.register(SendWelcome, async (job, { tx }) => { ... });
   * ```
   * @throws InvalidNameError, InvalidOptionsError
   */
  queue(name: string, options?: QueueOptions): Queue<TX> {
    const resolved = resolveQueueOptions(name, options);
    if (!this.transactions) {
      throw new IntegrationError("this client cannot run workers: it has no Prisma transaction support");
    }
    return new WorkerPool<TX>(this.engine, name, resolved, this, this.transactions);
  }

  /**
   * A job by id, live or finished, with its earlier attempts; null when unknown (also for an id
   * beyond `bigint`, which no job can have). A job a worker holds right now is reported as
   * `running`. @throws InvalidOptionsError when `id` is not a string of digits
   */
  getJob(id: string): Promise<JobDetails | null> {
    return admin.getJob(this.engine, id);
  }

  /**
   * The workflow (jobs enqueued together with `dependsOn`) that job `id` belongs to: each of its
   * jobs with its state and the ids of the jobs it depends on, in enqueue order. null when the
   * job is in none or unknown.
   */
  getWorkflow(id: string): Promise<WorkflowInfo | null> {
    return admin.getWorkflow(this.engine, id);
  }

  /**
   * What the handler of job `id` returned, typed by its job type (`defineJob<P, R>`): stored
   * with the finished job, in the job's transaction. Undefined while the job is queued or
   * running, when it failed or was cancelled, when the handler returned nothing, for an unknown
   * id, and once history is pruned: results live in history, so a queue with
   * `retention: { succeeded: 0 }` keeps none. `getJob(id).result` has it untyped.
   * @throws InvalidJobError when the job is of another type; InvalidOptionsError when `id` is
   *   not a string of digits
   *
   * @example
   * ```ts
   * const Resize = defineJob<{ imageId: string }, { width: number; height: number }>("resize");
   * const size = await prisma.$jobs.getResult(Resize, id); // { width: number; height: number } | undefined
   * ```
   */
  getResult<P, R>(type: JobType<P, R>, id: string): Promise<R | undefined> {
    return admin.getResult(this.engine, type, id);
  }

  /**
   * Jobs of one state (default `available`), newest first, `limit` (default 50) per page. Pass
   * the returned `next` as `cursor` for the following page: keyset pagination, as fast on page
   * 1,000 as on page 1. @throws InvalidOptionsError (a bad filter, or a cursor that is not a job id)
   */
  listJobs(filter?: JobFilter, cursor?: string | null): Promise<JobPage> {
    return admin.listJobs(this.engine, filter, cursor);
  }

  /**
   * Runs a job again: a queued one now, a finished one (failed, cancelled or succeeded) as a
   * fresh job with attempts from zero. @throws JobRunningError (a worker runs it now),
   * DuplicateJobError (a finished job whose dedup key a live job holds now: its `liveJobId`),
   * JobNotFoundError, InvalidOptionsError (`id` is not a string of digits)
   */
  retry(id: string): Promise<string> {
    return admin.retry(this.engine, id);
  }

  /** Cancels a queued job (kept in history as `cancelled`). @throws JobRunningError, JobNotFoundError, InvalidOptionsError */
  cancel(id: string): Promise<void> {
    return admin.cancel(this.engine, id);
  }

  /** Deletes a queued or finished job and its attempts. @throws JobRunningError, JobNotFoundError, InvalidOptionsError */
  deleteJob(id: string): Promise<void> {
    return admin.deleteJob(this.engine, id);
  }

  /** Pauses a queue: no worker claims from it until `resume`; running jobs finish. */
  pause(queue: string): Promise<void> {
    return admin.setPaused(this.engine, queue, true);
  }

  /** Resumes a paused queue and wakes its workers. */
  resume(queue: string): Promise<void> {
    return admin.setPaused(this.engine, queue, false);
  }

  /**
   * Moves failed jobs (of a queue, a type, or all) back to the queue as fresh jobs. A dedup key
   * names one live job per queue: of failed jobs sharing a key only the newest is requeued, and
   * none while a live job holds it; those stay failed, and the result counts them by reason.
   *
   * @example
   * ```ts
   * const { requeued, skipped } = await prisma.$jobs.requeueFailed({ queue: "mail" });
   * // { requeued: 41, skipped: { dedupKeyLive: 2, dedupKeyRequeued: 1 } }
   * ```
   */
  requeueFailed(filter?: { queue?: string; type?: string }): Promise<RequeueResult> {
    return admin.requeueFailed(this.engine, filter);
  }

  /** Counts per queue: due, scheduled, retrying, running (from pool heartbeats), failed, succeeded in the last hour. */
  stats(): Promise<QueueStats[]> {
    return admin.stats(this.engine);
  }

  /**
   * Deletes history older than the retention in small batches: an age not given is each queue's
   * own (the `retention` its pools declared), else succeeded 7 days, failed 30 days. Workers do
   * this on their own once a minute; `npx arrower-jobs prune` runs it once.
   */
  prune(options?: PruneOptions): Promise<{ succeeded: number; failed: number; cancelled: number }> {
    return admin.prune(this.engine, options);
  }

  /**
   * Creates or updates the library's tables in its schema. Idempotent and safe to run from
   * several processes at once. `npx arrower-jobs migrate` does the same.
   */
  migrate(): Promise<MigrateResult> {
    return this.engine.migrate();
  }

  /**
   * The schema version in the database and the one this version of arrower-jobs needs, read on
   * a connection of its own without changing anything. `npx arrower-jobs migrate --check` uses
   * it; a deploy script or health check can too.
   *
   * @example
   * ```ts
   * const { version, latest } = await prisma.$jobs.schemaStatus();
   * if (version < latest) console.warn(`arrower-jobs: ${latest - version} migration(s) pending`);
   * ```
   */
  schemaStatus(): Promise<SchemaStatus> {
    return schemaStatusOf(this.engine);
  }
}

/** What {@link JobsClient.schemaStatus} reports. */
export interface SchemaStatus {
  /** The version recorded in the database; 0 when the library's tables do not exist. */
  version: number;
  /** The version this version of arrower-jobs needs (`version < latest`: migrations pending). */
  latest: number;
}

/**
 * @internal The schema status through an engine: the CLI also needs it where it has no
 * `JobsClient` (`--database-url`).
 */
export async function schemaStatusOf(engine: Engine): Promise<SchemaStatus> {
  const client = await engine.connect();
  try {
    return { version: await engine.schemaVersion(client), latest: latestVersion() };
  } finally {
    await client.end();
  }
}

/**
 * @internal The engine behind a `prisma.$jobs`, for the CLI (status reads with the engine's own
 * connections). Not exported from the package root.
 *
 * Reads the field by name rather than through a WeakMap or `instanceof`: a config file loaded
 * by the CLI's TypeScript loader may bring its own copy of this module.
 */
export function engineOf(client: JobsClient<unknown>): Engine {
  return client["engine"];
}
