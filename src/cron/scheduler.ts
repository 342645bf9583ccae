/**
 * The cron scheduler: a maintenance service that turns due schedules into jobs. One runs per
 * installation and process while any of its worker pools runs ({@link acquireScheduler} /
 * {@link releaseScheduler}, refcounted like the control connection); every worker process may
 * run one, and no leader is needed:
 *
 *   BEGIN
 *   SELECT … FROM schedules WHERE next_run_at <= clock_timestamp()
 *     ORDER BY next_run_at LIMIT 50 FOR UPDATE SKIP LOCKED      -- other processes skip these
 *   per schedule: INSERT one job, tick = next_run_at, run_at = tick   (ON CONFLICT DO NOTHING
 *                 on the unique (schedule_id, tick_at))
 *   UPDATE schedules SET last_run_at = tick, next_run_at = <first tick after now>
 *   COMMIT
 *
 * The row lock and the advance committing together with the job make a tick fire once: a
 * process that locks the row after the commit re-reads it and finds it no longer due. The
 * unique index on (schedule_id, tick_at) backs this up while the job is live.
 *
 * Catch-up: after downtime (no worker running, or a scheduler behind by more than one
 * interval) a schedule gets ONE job, for its oldest missed tick (its `tick_at` and `run_at` are
 * that tick's time), and its next tick is the first one after now: the ticks in between are
 * skipped, not enqueued one by one. A daily report down for a week runs once, not seven times.
 *
 * Timing: the loop sleeps until the next schedule is due, at most {@link POLL_MS}, plus a few
 * ms of jitter so processes do not all wake at once. A schedule declared meanwhile is picked up
 * within POLL_MS. The scheduler uses a connection of its own (application_name
 * `arrower-jobs scheduler`), reconnects with backoff after errors and never throws: a problem
 * is logged and retried. A schedule this process cannot read (a spec or option a newer version
 * wrote, a row edited by hand) is left untouched, for a process that can, and skipped here for
 * a minute at a time, so it never blocks the others.
 */
import type pg from "pg";
import type { Engine } from "../engine.ts";
import { insertJobs, type PreparedJob } from "../enqueue.ts";
import { integerOption, validateJobName, validateQueueName, MAX_ATTEMPTS_RANGE, MAX_TIMER_MS, PRIORITY_RANGE, TIMEOUT_RANGE } from "../config.ts";
import { JOB_DEFAULTS } from "../job.ts";
import { queryableOf } from "../postgres/migrations.ts";
import { parseCronSpec } from "./spec.ts";
import { toDate } from "./schedules.ts";

/** Longest sleep between two looks at the schedules, ms. */
export const POLL_MS = 1_000;
/** Random delay added to each sleep, at most this many ms. */
const JITTER_MS = 50;
/** Schedules advanced per transaction; more due ones are taken by the next round at once. */
const BATCH = 50;
/** Sleep when due schedules were all locked by other processes, ms (plus jitter). */
const CONTENDED_MS = 50;
/** How long a schedule this process cannot read is skipped before it is tried again, ms. */
const UNREADABLE_RETRY_MS = 60_000;
const MAX_BACKOFF_MS = 10_000;

interface DueRow {
  id: string;
  spec: string;
  timezone: string;
  queue: string;
  type: string;
  payload: string;
  payload_meta: string | null;
  priority: number | null;
  max_attempts: number | null;
  timeout_ms: number | null;
  next_run_at: Date;
  now: Date;
}

interface Tick {
  id: string;
  tick: Date;
  next: Date;
  job: PreparedJob;
}

/**
 * One scheduler loop on a dedicated connection. Use {@link acquireScheduler}, which keeps one
 * per installation and process; `start` and `stop` are for it and for tests.
 */
export class CronScheduler {
  private client: pg.Client | undefined;
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  private wakeSleeper: (() => void) | undefined;
  private failures = 0;
  /** Schedule ids this process cannot read, skipped until `unreadableUntil`. */
  private readonly unreadable = new Set<string>();
  private unreadableUntil = 0;

  constructor(private readonly engine: Engine) {}

  /** Starts the loop. Resolves after the first connection attempt; never rejects. */
  start(): Promise<void> {
    if (this.running) return Promise.resolve();
    this.running = true;
    return new Promise<void>((resolve) => {
      this.loopDone = this.loop(resolve);
    });
  }

  /** Stops the loop after the round in progress and closes the connection. Never rejects. */
  async stop(): Promise<void> {
    this.running = false;
    this.wakeSleeper?.();
    await this.loopDone;
  }

  private async loop(started: () => void): Promise<void> {
    while (this.running) {
      let delay: number;
      try {
        const client = await this.connection();
        started();
        if (!this.running) break;
        delay = await this.round(client);
        this.failures = 0;
      } catch (error) {
        started();
        this.failures++;
        delay = Math.min(100 * 2 ** this.failures, MAX_BACKOFF_MS);
        this.engine.logger.warn("cron scheduler error, retrying", { error, retryInMs: delay });
        await this.disconnect();
      }
      if (delay > 0 && this.running) await this.sleep(delay);
    }
    await this.disconnect();
  }

  /** One look at the schedules; returns how long to wait before the next. */
  private async round(client: pg.Client): Promise<number> {
    if (Date.now() >= this.unreadableUntil) this.unreadable.clear();
    const skipped = [...this.unreadable];
    const { rows } = await client.query<{ ms: number | null }>(this.engine.queries.cronNextDue, [skipped]);
    const ms = rows[0]?.ms ?? null;
    if (ms === null || ms > 0) return Math.min(POLL_MS, ms ?? POLL_MS) + Math.random() * JITTER_MS;
    const claimed = await this.tick(client, skipped);
    // None claimed: others hold the due rows and are committing them; look again shortly.
    return claimed === 0 ? CONTENDED_MS + Math.random() * JITTER_MS : 0;
  }

  /** One transaction: lock due schedules, enqueue a job per schedule, advance them. */
  private async tick(client: pg.Client, skipped: string[]): Promise<number> {
    const q = this.engine.queries;
    await client.query("BEGIN");
    try {
      const { rows } = await client.query<DueRow>(q.cronClaimDue, [skipped, BATCH]);
      const db = queryableOf(client);
      const ticks: Tick[] = [];
      for (const row of rows) {
        const tick = this.plan(row);
        if (!tick) continue;
        // Each tick's job gets a trace of its own: a root `cron tick` span around the insert,
        // whose child `send` span is stored as the job's creation context. Without an SDK
        // cronTick just runs the insert and the job stores no trace context.
        await this.engine.otel.cronTick({ scheduleId: tick.id, queue: tick.job.queue, type: tick.job.type }, () =>
          insertJobs(this.engine, db, [tick.job], { scheduleId: tick.id, tickAt: tick.tick, traceContext: null }),
        );
        this.engine.logger.debug("cron tick", { schedule: tick.id, type: tick.job.type, tick: tick.tick.toISOString() });
        ticks.push(tick);
      }
      if (ticks.length > 0) {
        await client.query(q.cronAdvance, [ticks.map((t) => t.id), ticks.map((t) => t.tick), ticks.map((t) => t.next)]);
      }
      await client.query("COMMIT");
      return rows.length;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    }
  }

  /** The job and the next tick of a due schedule, or undefined when this process cannot read it. */
  private plan(row: DueRow): Tick | undefined {
    try {
      const what = `schedule ${row.id}`;
      const cron = parseCronSpec(row.spec, { timezone: row.timezone });
      validateQueueName(row.queue);
      validateJobName(row.type);
      const tick = toDate(row.next_run_at);
      const now = toDate(row.now);
      const next = cron.next(tick > now ? tick : now);
      return {
        id: row.id,
        tick,
        next,
        job: {
          queue: row.queue,
          type: row.type,
          payload: row.payload,
          payloadMeta: row.payload_meta,
          priority: integerOption(row.priority ?? JOB_DEFAULTS.priority, "priority", ...PRIORITY_RANGE, what),
          runAt: tick,
          maxAttempts: integerOption(row.max_attempts ?? JOB_DEFAULTS.maxAttempts, "maxAttempts", ...MAX_ATTEMPTS_RANGE, what),
          // Capped, not refused: a schedule stored before timeouts were capped still runs.
          timeoutMs: Math.min(integerOption(row.timeout_ms ?? JOB_DEFAULTS.timeout, "timeout", TIMEOUT_RANGE[0], MAX_TIMER_MS, what), TIMEOUT_RANGE[1]),
          dedupKey: null,
          group: null,
          parents: null,
          onParentFailure: null,
        },
      };
    } catch (error) {
      if (this.unreadable.size === 0) this.unreadableUntil = Date.now() + UNREADABLE_RETRY_MS;
      this.unreadable.add(row.id);
      this.engine.logger.error("cron schedule cannot be read, skipping it", {
        schedule: row.id,
        spec: row.spec,
        timezone: row.timezone,
        error: error instanceof Error ? error.message : String(error),
        retryInMs: UNREADABLE_RETRY_MS,
      });
      return undefined;
    }
  }

  private async connection(): Promise<pg.Client> {
    if (this.client) return this.client;
    const client = await this.engine.connect();
    client.on("error", (error) => this.engine.logger.warn("cron scheduler connection error", { error }));
    client.on("end", () => {
      if (this.client === client) this.client = undefined;
    });
    try {
      await client.query("SET application_name = 'arrower-jobs scheduler'");
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    this.client = client;
    return client;
  }

  private async disconnect(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      this.wakeSleeper = done;
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
    }).finally(() => {
      this.wakeSleeper = undefined;
    });
  }
}

interface Entry {
  users: number;
  scheduler: CronScheduler | undefined;
  /** Start and stop, one at a time. */
  transition: Promise<void>;
}

const entries = new WeakMap<Engine, Entry>();

/**
 * Starts using the installation's scheduler in this process; the first user starts it. Each
 * worker pool calls it when it starts, so every worker process schedules (safely: see above).
 * Resolves once the scheduler has tried to connect; never rejects (errors are logged and
 * retried with backoff).
 */
export function acquireScheduler(engine: Engine): Promise<void> {
  const entry = entryOf(engine);
  entry.users++;
  return reconcile(engine, entry);
}

/**
 * Stops using it; the last user stops it (after the round in progress) and closes its
 * connection. Never rejects. A release without an acquire does nothing.
 */
export function releaseScheduler(engine: Engine): Promise<void> {
  const entry = entries.get(engine);
  if (!entry || entry.users === 0) return entry?.transition ?? Promise.resolve();
  entry.users--;
  return reconcile(engine, entry);
}

function entryOf(engine: Engine): Entry {
  let entry = entries.get(engine);
  if (!entry) entries.set(engine, (entry = { users: 0, scheduler: undefined, transition: Promise.resolve() }));
  return entry;
}

/** Brings the scheduler in line with its user count, after any transition in progress. */
function reconcile(engine: Engine, entry: Entry): Promise<void> {
  entry.transition = entry.transition.then(async () => {
    if (entry.users > 0 && !entry.scheduler) {
      entry.scheduler = new CronScheduler(engine);
      await entry.scheduler.start();
    } else if (entry.users === 0 && entry.scheduler) {
      const scheduler = entry.scheduler;
      entry.scheduler = undefined;
      await scheduler.stop();
    }
  });
  // start and stop never reject; keep the chain usable should that ever change.
  entry.transition = entry.transition.catch((error: unknown) => engine.logger.error("cron scheduler start/stop failed", { error }));
  return entry.transition;
}
