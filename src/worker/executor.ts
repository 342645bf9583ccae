/**
 * One worker slot: a connection of its own, and the loop that claims and runs jobs on it,
 * one at a time. Per transaction, one job (or, with `batchSize`, up to that many):
 *
 *   BEGIN → claim (FOR UPDATE SKIP LOCKED) → per job: handler (its Prisma `tx` is a savepoint
 *   on this connection, opened when first used) → its outcome → … → finish → COMMIT
 *
 * Round trips are what a job costs (each is ~85 µs of Node CPU here, more than the SQL), so
 * the connection pipelines: the finish and COMMIT go out with the next BEGIN and claim — one
 * round trip per transaction under load, plus the handler's own queries.
 *
 * Success and the handler's writes commit together. A failure rolls back to the savepoint, so
 * the handler's writes are undone while the attempt, its error and the next run are recorded
 * and committed. A worker that dies mid-job leaves its aborted transaction on the job's row,
 * and the next claimer counts that attempt as crashed (see the claim in src/postgres/queries.ts):
 * crash accounting writes nothing while jobs run.
 */
import type pg from "pg";
import type { Engine } from "../engine.ts";
import type { ControlConnection } from "./control.ts";
import type { Handler, JobContext, JobEvent } from "../handler.ts";
import { deserializePayload, resultOf, serializeResult, type StoredPayload } from "../payload.ts";
import { MAX_TIMER_MS, TIMEOUT_RANGE } from "../config.ts";
import { backoffDelay, type ResolvedQueueOptions } from "./options.ts";
import { ConnectionLostError, describeError, JobAbortedError, JobTimeoutError } from "./errors.ts";
import type { AttemptTrace } from "../otel/instrumentation.ts";
import { JobSnooze, UnrecoverableError } from "../outcomes.ts";
import { HANDLER_SAVEPOINT } from "../postgres/queries.ts";
import { corked, settleInOrder } from "../postgres/pipeline.ts";
import { oneOrEach } from "../postgres/arrays.ts";
import type { BackoffOptions } from "../backoff.ts";
import { RunningJob } from "./running-job.ts";
import type { Lease, LeaseKeeper } from "./leases.ts";
import type { Limiter } from "./limits.ts";
import { progressText, ProgressWriter } from "./progress.ts";
import { InvalidJobError, LeaseLostError } from "../errors.ts";
import { isJobType, type JobType } from "../job.ts";

/**
 * The handler's savepoint (HANDLER_SAVEPOINT in src/postgres/queries.ts). Prisma's BEGIN,
 * COMMIT and ROLLBACK only change this state; the statements go out with the next ones (the
 * handler's first query, or the job's outcome), so a handler's transaction costs no round
 * trip of its own:
 * - `none`: no savepoint, or it was never used;
 * - `pending`: Prisma began, the savepoint is sent with the handler's first query;
 * - `open`: the savepoint exists (and Prisma may have committed it: released with the outcome);
 * - `rollback`: Prisma rolled back; rolled back with the outcome.
 */
export interface HandlerSavepoint {
  state: "none" | "pending" | "open" | "rollback";
}

/** Runs a handler with a transaction client bound to the job's connection. */
export interface HandlerTransactions {
  /**
   * Calls `fn` with a transaction client whose statements run on `connection`, in a savepoint
   * of the job's transaction opened on first use (its state kept in `savepoint`). `timeoutMs`
   * bounds the client's own transaction timer.
   */
  run<T>(connection: pg.ClientBase, timeoutMs: number, savepoint: HandlerSavepoint, fn: (tx: unknown) => Promise<T>): Promise<T>;
  /**
   * Runs a query through a handler's transaction on `connection` (in an open transaction), so
   * that a pool fails at start, not at its first job, when `tx` would not land there.
   */
  verify(connection: pg.ClientBase): Promise<void>;
  /**
   * Throws (an IntegrationError saying why) when handlers' transactions can never join the
   * job's, e.g. on a driver adapter other than `@prisma/adapter-pg`: checked first at start.
   */
  assertSupported(): void;
  /**
   * Runs a statement in `tx`, a transaction client of the app's (lease mode's
   * `ctx.complete(tx)`); throws an InvalidOptionsError when `tx` is not one.
   */
  queryIn<R>(tx: unknown, sql: string, values: readonly unknown[]): Promise<R[]>;
}

/** What the slot needs from its pool. */
export interface SlotHost {
  readonly engine: Engine;
  readonly control: ControlConnection;
  readonly queue: string;
  readonly options: ResolvedQueueOptions;
  readonly transactions: HandlerTransactions;
  readonly handlers: ReadonlyMap<string, Handler<unknown, unknown, unknown>>;
  readonly jobTypes: string[];
  /** Another slot may find work too (we just claimed one). */
  wakeAnother(): void;
  /** Whether the pool still claims jobs (false once shutdown has begun). */
  accepting(): boolean;
  /** Retry delays for a job type: its own (defineJob) or the pool's. */
  backoffFor(type: string): Required<BackoffOptions>;
  /** Reports a finished attempt. */
  emit(event: JobEvent): void;
  /** Some registered job type runs in lease mode (else every claimed job runs in the batch's transaction). */
  readonly hasLeaseTypes: boolean;
  /** A lease-mode job type's leaseTimeout (undefined: transaction mode). */
  leaseTimeoutOf(type: string): number | undefined;
  /** The pool's leases. */
  readonly leases: LeaseKeeper;
  /** The pool's share of the cluster-wide limits. */
  readonly limiter: Limiter;
  /** The job types to claim now (jobTypes, less those whose limit is full). */
  claimTypes(): string[];
}


/** A claim's answer, settled: a pipelined claim may wait for a while before it is looked at. */
type Claim = { rows: ClaimedRow[] } | { error: unknown };

/** A job the batch's commit moves to history. */
interface Finish {
  id: string;
  state: "succeeded" | "failed";
  attempts: number;
  error: string | null;
  /** When the attempt started, ms since the epoch (null: it never started, its holder crashed). */
  startedAt: number | null;
  pool: string | null;
  traceId: string | null;
  /** What the handler returned, serialised; undefined when it returned nothing (or failed). */
  result: StoredPayload | undefined;
}

/** What a batch's transaction records when it commits, and reports once it has. */
interface Batch {
  finishes: Finish[];
  /** Per recorded outcome: its otel attempt (ended as crashed if the commit fails) and its report. */
  settled: { trace: AttemptTrace | undefined; report(): void }[];
  /** The jobs to run, in order, with their attempt numbers. */
  runs: { job: ClaimedRow; attempt: number }[];
  /** Why the batch ended early: a job was given back at shutdown, or the connection was cut. */
  stop: "abandoned" | "cut" | undefined;
  /** A lease-mode job whose lease the commit takes; it runs after the commit. */
  lease: { job: ClaimedRow; attempt: number } | undefined;
  /** Jobs that reported progress: their progress rows go with the commit. */
  progressed: RunningJob[];
  /** Claimed jobs that others depend on: their finish settles their dependants. */
  parents: Set<string> | undefined;
  /** A job holds a concurrency slot: its end wakes the queue's pools (a slot frees). */
  wake: boolean;
}

/** Claim orders, for a batch's rows (the claim's CTE returns them unordered). */
const byPriority = (a: ClaimedRow, b: ClaimedRow) => a.priority - b.priority || byTime(a, b);
const byTime = (a: ClaimedRow, b: ClaimedRow) => a.run_at - b.run_at || compareIds(a.id, b.id);
const compareIds = (a: string, b: string) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

interface ClaimedRow {
  id: string;
  type: string;
  payload: unknown;
  payload_meta: unknown;
  priority: number;
  /** Times are ms since the epoch (see toMs in src/postgres/queries.ts), ±Infinity for ±infinity. */
  run_at: number;
  created_at: number;
  attempts: number;
  max_attempts: number;
  timeout_ms: number;
  trace_context: unknown;
  /** The previous holder of the row died mid-attempt (its transaction aborted). */
  crashed: boolean;
  /** Lease mode: the holder of the job's lease, which expired (null: not leased). */
  leased_by: string | null;
  /** Workflows: jobs depend on this one (null: none); its finish settles them. */
  has_dependants: boolean | null;
  /** Its group: claimed only by pools with groupConcurrency (undefined otherwise). */
  group_key?: string | null;
  started_at: number;
}

/** How long a handler that ignores its aborted signal is waited for before its connection is cut. */
const ABORT_GRACE_MS = 2_000;
// The handler's transaction times out after the job's timeout plus two graces: a Node timer.
if (TIMEOUT_RANGE[1] + ABORT_GRACE_MS * 2 > MAX_TIMER_MS) throw new Error("internal: the longest job timeout does not fit Node's timers");

type Outcome = { ok: true; result?: StoredPayload } | { ok: false; error: unknown; hung: boolean };
const SUCCEEDED: Outcome = { ok: true };

export class Slot {
  private connection: pg.Client | undefined;
  private backendPid = 0;
  /** The next job's claim, sent with the last commit (see {@link commit}). */
  private prefetched: Promise<Claim> | undefined;
  /** The running job's handler savepoint. */
  private readonly savepoint: HandlerSavepoint = { state: "none" };
  /** The job being run, if any. */
  current: RunningJob | undefined;
  /**
   * One timeout timer per slot, re-armed for each job (a timer per job was ~2 % of a short
   * job's cost): it aborts `timed` when it fires, and nothing once that job has ended.
   */
  private timer: NodeJS.Timeout | undefined;
  private timerMs = 0;
  private timed: RunningJob | undefined;
  /** Why the connection failed while a job ran (its transaction is gone; see onConnectionError). */
  private lost: Error | undefined;
  /** The job running is a lease-mode one (its connection idles meanwhile). */
  private leased = false;
  /** …and holds concurrency slots as this connection's session locks. */
  private leaseSlot = false;

  constructor(private readonly host: SlotHost) {}

  /** Opens this slot's connection. */
  async open(): Promise<void> {
    if (this.connection) return;
    const connection = await this.host.engine.connect({ pipeline: true });
    connection.on("error", (error) => this.onConnectionError(connection, error));
    // Two statements: pg answers with one result each.
    const results = (await connection.query(this.host.engine.queries.openSlot)) as unknown as pg.QueryResult<{ pid: number }>[];
    this.backendPid = results[results.length - 1]!.rows[0]!.pid;
    this.lost = undefined;
    this.connection = connection;
  }

  /**
   * The connection failed: the server ended the session (idle_in_transaction_session_timeout,
   * transaction_timeout, pg_terminate_backend) or the network dropped it. A running job's
   * transaction and row lock are gone with it, so the job is aborted at once and its failure
   * recorded on the control connection (recordFailure), naming the setting, before another
   * worker takes the job and can only count a crash. (Found by test/faults/session-limits.test.ts:
   * such attempts used to surface as "worker crashed" after a "pool error".)
   */
  private onConnectionError(connection: pg.Client, error: Error): void {
    this.host.engine.logger.warn("worker connection error", { queue: this.host.queue, error });
    // A lease-mode job holds nothing on this connection (its outcome is written on a new one),
    // unless its concurrency slots are this session's locks: gone with it, another worker may
    // take them, so the job stops (and runs again) rather than exceed the limit.
    if (connection !== this.connection || !this.current || (this.leased && !this.leaseSlot)) return;
    this.lost = error;
    this.current.abort(new ConnectionLostError(error));
  }

  /** A claim went out with the last commit and has not been looked at (see {@link commit}). */
  get claimPending(): boolean {
    return this.prefetched !== undefined;
  }

  /** The open connection (for the pool's start-up probe). */
  get client(): pg.Client | undefined {
    return this.connection;
  }

  /** Closes the connection. */
  async close(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    this.prefetched = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    await connection?.end().catch(() => undefined);
  }

  /** Aborts `job` with a JobTimeoutError after `ms`, unless another job is timed before. */
  private armTimeout(job: RunningJob, ms: number): void {
    this.timed = job;
    if (this.timer && this.timerMs === ms) {
      this.timer.refresh();
      return;
    }
    clearTimeout(this.timer);
    this.timerMs = ms;
    this.timer = setTimeout(() => this.timed?.abort(new JobTimeoutError(ms)), ms);
    // The job's connection keeps the process alive while it runs; an idle slot's timer must not.
    this.timer.unref();
  }

  /**
   * Claims and runs a batch of jobs (one, unless the queue's `batchSize` is larger). Resolves
   * true when a job was claimed (whatever its outcome), false when none was due. Never rejects
   * for a job's sake; rejects when the connection fails.
   */
  async runOne(): Promise<boolean> {
    if (!this.connection) await this.open();
    const connection = this.connection!;
    const prefetched = this.prefetched;
    this.prefetched = undefined;
    // Every job type's limit is full (or the queue's): nothing to claim until woken.
    if (!prefetched && this.host.limiter.active && this.host.claimTypes().length === 0) return false;
    const claim = await (prefetched ?? this.sendClaim(connection, this.host.engine.queries.beginClaim).claim);
    if ("error" in claim) {
      await this.rollbackQuietly();
      throw claim.error;
    }
    if (claim.rows.length === 0) {
      await connection.query("COMMIT");
      return false;
    }
    // From here on every path ends the transaction through commit() or by dropping the connection.
    this.host.wakeAnother();
    const batch: Batch = { finishes: [], settled: [], runs: [], stop: undefined, lease: undefined, progressed: [], parents: undefined, wake: false };
    let rows = claim.rows;
    let leased: ClaimedRow | undefined;
    if (this.host.hasLeaseTypes) {
      // A lease-mode job runs after the commit, outside the transaction: one per claim. Others
      // claimed with it go back untouched with the commit (their leases, if expired, are
      // counted by their next claimer).
      leased = rows.find((job) => this.host.leaseTimeoutOf(job.type) !== undefined);
      if (leased) rows = rows.filter((job) => this.host.leaseTimeoutOf(job.type) === undefined);
    }
    let leaseSlot = false;
    if (this.host.limiter.active) {
      // Jobs whose limit is full go back untouched with the commit (uncounted).
      const limiter = this.host.limiter;
      const admitted: ClaimedRow[] = [];
      for (const job of rows) {
        if (!limiter.limits(job.type, job.group_key)) admitted.push(job);
        else if (await limiter.admit(connection, job.type, job.group_key, false)) {
          admitted.push(job);
          batch.wake ||= limiter.holdsSlot(job.type, job.group_key);
        }
      }
      rows = admitted;
      if (leased && limiter.limits(leased.type, leased.group_key)) {
        // A lease-mode job's slot outlives this transaction: its worker connection holds it.
        if (await limiter.admit(connection, leased.type, leased.group_key, true)) leaseSlot = limiter.holdsSlot(leased.type, leased.group_key);
        else leased = undefined;
      }
    }
    for (const job of rows) {
      if (job.has_dependants) (batch.parents ??= new Set()).add(job.id);
      const attempt = job.crashed ? await this.countCrash(job, batch) : job.attempts + 1;
      if (attempt !== undefined) batch.runs.push({ job, attempt });
    }
    if (leased?.has_dependants) (batch.parents ??= new Set()).add(leased.id);
    if (leased) {
      // Its handler never ran in a transaction: an aborted one on its row was a claim's, not an
      // attempt. A lease that expired is the attempt that crashed.
      const attempt = leased.leased_by !== null ? await this.countLeaseCrash(leased, batch) : leased.attempts + 1;
      if (attempt !== undefined) batch.lease = { job: leased, attempt };
    }
    for (const { job, attempt } of batch.runs) {
      // Once shutdown has begun no job starts: those claimed but not started (the rest of a
      // batch, or a claim answered after the stop) go back untouched with the commit.
      if (!this.host.accepting()) break;
      await this.process(connection, job, attempt, batch);
      if (batch.stop) break;
    }
    if (batch.stop === "cut") {
      // The transaction is gone and with it the batch's other results: those jobs run again.
      for (const { trace } of batch.settled) trace?.end("abandoned");
      return true;
    }
    // Shutdown began, or the batch stopped early: the lease is not taken, the job goes back.
    if (batch.lease && (batch.stop || !this.host.accepting())) batch.lease = undefined;
    const takenAt = Date.now();
    try {
      await this.commit(connection, batch);
    } catch (error) {
      for (const { trace } of batch.settled) trace?.end("crashed");
      throw error;
    }
    for (const { report } of batch.settled) report();
    if (batch.lease) {
      this.leaseSlot = leaseSlot;
      try {
        await this.runLeased(batch.lease.job, batch.lease.attempt, takenAt);
      } finally {
        this.leaseSlot = false;
        if (leaseSlot) await this.freeSessionSlots();
      }
    } else if (leaseSlot) {
      await this.freeSessionSlots();
    }
    return true;
  }

  /** Frees the concurrency slots this connection's session holds, and wakes the queue's pools. */
  private async freeSessionSlots(): Promise<void> {
    const { engine, control, queue } = this.host;
    // A connection lost meanwhile took its locks with it: start on a new one.
    await this.connection?.query(engine.queries.limitUnlockAll).catch(() => this.close());
    await control.query(engine.queries.wakeQueue, [engine.queries.channel, queue]).catch(() => undefined);
  }

  /**
   * The attempt a claimed lease-mode job whose lease expired runs as, after counting the
   * holder's attempt as crashed (undefined when it was the last: the job ends failed).
   */
  private async countLeaseCrash(job: ClaimedRow, batch: Batch): Promise<number | undefined> {
    // The claim that took the lease set attempts to the attempt it started.
    const crashedAttempt = job.attempts;
    const error =
      `lease expired: the worker running attempt ${crashedAttempt} (pool ${job.leased_by}) stopped renewing it ` +
      "(process killed or paused, or cut off from the database)";
    return this.recordCrashed(job, crashedAttempt, error, job.leased_by, batch);
  }

  /**
   * The attempt a claimed job whose previous holder crashed runs as, after counting that crash
   * (undefined when it was its last attempt: it then ends as failed with the batch's commit).
   */
  private async countCrash(job: ClaimedRow, batch: Batch): Promise<number | undefined> {
    const { engine, control, queue } = this.host;
    // The previous holder died mid-attempt: its transaction rolled back, and the row shows only
    // that it was aborted. The crash record is written where it survives should this attempt
    // crash too (the next claimer then counts from it).
    const [found] = await control.query<{ attempt: number }>(engine.queries.crashedAttempt, [job.id, job.attempts]);
    const crashedAttempt = found!.attempt;
    const error = `worker crashed while running attempt ${crashedAttempt} (process killed, connection lost or server restarted)`;
    return this.recordCrashed(job, crashedAttempt, error, null, batch);
  }

  /**
   * Records a crashed attempt (on the control connection, where it outlives this transaction)
   * and returns the attempt to run next, or undefined when it was the last: the job then ends
   * failed with the batch's commit.
   */
  private async recordCrashed(job: ClaimedRow, crashedAttempt: number, error: string, pool: string | null, batch: Batch): Promise<number | undefined> {
    const { engine, control, queue } = this.host;
    await control.query(engine.queries.recordCrash, [job.id, crashedAttempt, error, null, pool]);
    this.host.emit({ kind: "crashed", jobId: job.id, type: job.type, queue, attempt: crashedAttempt, error });
    if (crashedAttempt < job.max_attempts) return crashedAttempt + 1;
    batch.finishes.push({ id: job.id, state: "failed", attempts: crashedAttempt, error, startedAt: null, pool: null, traceId: null, result: undefined });
    batch.settled.push({
      trace: undefined,
      report: () => this.host.emit({ kind: "failed", jobId: job.id, type: job.type, queue, attempt: crashedAttempt, error }),
    });
    return undefined;
  }

  private async process(connection: pg.Client, job: ClaimedRow, attempt: number, batch: Batch): Promise<void> {
    const { engine, options, queue } = this.host;
    const q = engine.queries;
    const pool = options.poolName;
    this.savepoint.state = "none";
    // otel: the attempt's "process" span and run/wait metrics; its trace id goes to history.
    const trace = engine.otel.startAttempt({ id: job.id, type: job.type, queue, attempt, maxAttempts: job.max_attempts, priority: job.priority, runAtMs: job.run_at, startedAtMs: job.started_at, traceContext: job.trace_context, pool });

    let payload: unknown;
    try {
      payload = deserializePayload(job.payload, job.payload_meta);
    } catch (error) {
      // Retrying cannot help a payload that does not decode: fail it now, visibly.
      const text = `payload cannot be decoded: ${describeError(error)}`;
      batch.finishes.push({ id: job.id, state: "failed", attempts: attempt, error: text, startedAt: job.started_at, pool, traceId: trace.traceId, result: undefined });
      batch.settled.push({
        trace,
        report: () => {
          trace.end("failed", error);
          this.host.emit({ kind: "failed", jobId: job.id, type: job.type, queue, attempt, error: text });
        },
      });
      return;
    }

    const handler = this.host.handlers.get(job.type)!;
    const running = new RunningJob(job.id);
    // Rows written before timeouts were capped may hold up to 2^31 - 1: capped here, or the
    // timers below (timeout, then timeout + 2 graces for the transaction) would overflow.
    if (job.timeout_ms > TIMEOUT_RANGE[1]) job.timeout_ms = TIMEOUT_RANGE[1];
    this.armTimeout(running, job.timeout_ms);
    this.current = running;
    const startedAt = performance.now();
    let recorded = false;
    try {
      let outcome = await trace.run(() => this.runHandler(connection, job, handler, payload, attempt, running));
      if (outcome.ok && this.savepoint.state !== "none" && this.savepoint.state !== "pending") {
        // Released before the next job's savepoint or the batch's finish (see HANDLER_SAVEPOINT).
        // Refused when the handler swallowed a failed statement: the transaction is aborted.
        try {
          await connection.query(this.savepoint.state === "open" ? HANDLER_SAVEPOINT.release : HANDLER_SAVEPOINT.rollback);
          this.savepoint.state = "none";
        } catch (error) {
          outcome = { ok: false, error: explainAborted(error), hung: false };
        }
      }
      if (outcome.ok) {
        const durationMs = performance.now() - startedAt;
        batch.finishes.push({ id: job.id, state: "succeeded", attempts: attempt, error: null, startedAt: job.started_at, pool, traceId: trace.traceId, result: outcome.result });
        batch.settled.push({
          trace,
          report: () => {
            trace.end("succeeded");
            this.host.emit({ kind: "succeeded", jobId: job.id, type: job.type, queue, attempt, durationMs });
          },
        });
        recorded = true;
        return;
      }
      if (running.reason instanceof JobAbortedError) {
        trace.end("abandoned");
        await this.abandon(connection, outcome.hung, batch);
        recorded = true;
        return;
      }
      if (outcome.error instanceof JobSnooze && !outcome.hung) {
        await this.afterRollback(connection, prepared("snooze", q.snooze, [job.id, outcome.error.delayMs]));
        batch.settled.push({
          trace,
          report: () => {
            trace.end("snoozed");
            this.host.emit({ kind: "snoozed", jobId: job.id, type: job.type, queue, attempt });
          },
        });
        recorded = true;
        return;
      }
      await this.recordFailure(connection, job, attempt, outcome.error, outcome.hung, trace, batch);
      recorded = true;
    } finally {
      this.timed = undefined;
      this.current = undefined;
      if (running.progress) batch.progressed.push(running);
      if (!recorded) trace.end("crashed"); // otel: the connection failed mid-attempt
    }
  }

  /** What every handler gets besides its payload (the signal made only when read: RunningJob). */
  private context(job: ClaimedRow, attempt: number, running: RunningJob, progress = (value: unknown) => this.reportProgress(running, value)): JobContext {
    return {
      jobId: job.id,
      attempt,
      maxAttempts: job.max_attempts,
      get signal() {
        return running.signal;
      },
      queue: this.host.queue,
      runAt: toDate(job.run_at),
      createdAt: toDate(job.created_at),
      progress,
      parentResult: (type) => this.parentResult(job.id, type),
    };
  }

  /** `ctx.parentResult(type)`: read from history (the parents have committed), on the installation's pool. */
  private async parentResult<P, R>(jobId: string, type: JobType<P, R>): Promise<R | undefined> {
    if (!isJobType(type)) throw new InvalidJobError(`parentResult expects a job type from defineJob(), got ${typeof type}`);
    const { rows } = await this.host.engine.pool().query<{ id: string; type: string; result: unknown; result_meta: unknown; has_result: boolean }>(this.host.engine.queries.parentResults, [jobId, type.name]);
    const row = rows[0];
    if (!row) return undefined;
    return resultOf<R>(row.type, type.name, row.id, () => (row.has_result ? deserializePayload(row.result, row.result_meta) : undefined));
  }

  /** `ctx.progress(value)`: validated now (a bad value throws at the call), written on the control connection. */
  private reportProgress(running: RunningJob, value: unknown): Promise<void> {
    const text = progressText(running.id, value);
    const { engine, control, queue } = this.host;
    running.progress ??= new ProgressWriter(async (json) => {
      try {
        await control.query(engine.queries.progressWrite, [running.id, json]);
      } catch (error) {
        engine.logger.warn("progress not stored", { queue, id: running.id, error });
      }
    });
    return running.progress.report(text);
  }

  /**
   * Runs a lease-mode job whose lease the last commit took: outside any transaction, its lease
   * renewed by the pool meanwhile. Its outcome is written after, fenced by holder and attempt
   * (src/postgres/queries.ts, leaseFinish): a lease lost meanwhile changes nothing.
   */
  private async runLeased(job: ClaimedRow, attempt: number, takenAt: number): Promise<void> {
    const { engine, options, queue, leases } = this.host;
    const q = engine.queries;
    const pool = options.poolName;
    const owner = leases.owner;
    const trace = engine.otel.startAttempt({ id: job.id, type: job.type, queue, attempt, maxAttempts: job.max_attempts, priority: job.priority, runAtMs: job.run_at, startedAtMs: job.started_at, traceContext: job.trace_context, pool });
    const running = new RunningJob(job.id);
    const lease = leases.hold(running, attempt, this.host.leaseTimeoutOf(job.type)!, takenAt);
    const finishValues = (state: "succeeded" | "failed", error: string | null, result: StoredPayload | undefined) =>
      [job.id, state, attempt, error, job.started_at, pool, trace.traceId, owner, result?.json ?? null, result?.meta ?? null];
    this.current = running;
    this.leased = true;
    let outcome: Outcome | undefined;
    try {
      let payload: unknown;
      try {
        payload = deserializePayload(job.payload, job.payload_meta);
      } catch (error) {
        outcome = { ok: false, error: new UnrecoverableError(`payload cannot be decoded: ${describeError(error)}`), hung: false };
      }
      if (job.timeout_ms > TIMEOUT_RANGE[1]) job.timeout_ms = TIMEOUT_RANGE[1];
      const startedAt = performance.now();
      outcome ??= await trace.run(() => this.runLeaseHandler(job, payload, attempt, running, lease, finishValues));
      const durationMs = performance.now() - startedAt;
      leases.release(lease);
      await running.progress?.settled();
      // A fenced write that finds the job no longer held: it may have been finished by this very
      // attempt (ctx.complete(tx) committed), else it was cancelled or taken over.
      const refused = async () => {
        const [fate] = await this.leaseWrite(q.leaseFate, [job.id, attempt, pool]) as unknown as { finished: string | null; live: boolean }[];
        if (fate?.finished === "succeeded") {
          trace.end("succeeded");
          this.host.emit({ kind: "succeeded", jobId: job.id, type: job.type, queue, attempt, durationMs });
        } else {
          this.leaseLost(trace, new LeaseLostError(job.id, attempt, fate?.live ? "taken over" : "cancelled"));
        }
      };
      if (outcome.ok) {
        const [done] = await this.leaseFinish(job, finishValues("succeeded", null, outcome.result));
        if (!done) return await refused();
        trace.end("succeeded");
        this.host.emit({ kind: "succeeded", jobId: job.id, type: job.type, queue, attempt, durationMs });
        return;
      }
      const reason = running.aborted ? running.reason : outcome.error;
      if (reason instanceof LeaseLostError && reason.reason !== "expired") return await refused();
      if (reason instanceof JobAbortedError || (outcome.error instanceof JobSnooze && !outcome.hung)) {
        // Shutdown past its deadline (the attempt does not count), or a snooze.
        const delay = outcome.error instanceof JobSnooze ? outcome.error.delayMs : 0;
        const [back] = await this.leaseWrite(q.leaseRelease, [job.id, attempt, owner, delay]);
        if (!back) return await refused();
        trace.end(outcome.error instanceof JobSnooze ? "snoozed" : "abandoned");
        if (outcome.error instanceof JobSnooze) this.host.emit({ kind: "snoozed", jobId: job.id, type: job.type, queue, attempt });
        return;
      }
      const text = describeError(reason);
      const final = attempt >= job.max_attempts || reason instanceof UnrecoverableError;
      const [written] = final
        ? await this.leaseFinish(job, finishValues("failed", text, undefined))
        : await this.leaseWrite(q.leaseRetry, [job.id, attempt, backoffDelay(this.host.backoffFor(job.type), attempt), text, reason instanceof JobTimeoutError ? "timeout" : "failed", job.started_at, pool, trace.traceId, owner]);
      if (!written) return await refused();
      trace.end(final ? "failed" : "retried", reason);
      this.host.emit({ kind: final ? "failed" : "retrying", jobId: job.id, type: job.type, queue, attempt, error: text });
    } finally {
      leases.release(lease);
      this.timed = undefined;
      this.current = undefined;
      this.leased = false;
    }
  }

  /** A lease-mode job's outcome was refused: the job is another worker's now, or cancelled. */
  private leaseLost(trace: AttemptTrace, error: LeaseLostError): void {
    trace.end("abandoned");
    this.host.engine.logger.warn("lease lost: the job's outcome was not recorded", { queue: this.host.queue, id: error.jobId, reason: error.reason });
  }

  /** Finishes a leased job (fenced); a parent's dependants are settled in the same transaction. */
  private async leaseFinish(job: ClaimedRow, values: unknown[]): Promise<{ id: string }[]> {
    const q = this.host.engine.queries;
    if (!job.has_dependants) return this.leaseWrite(q.leaseFinish, values);
    const succeeded = values[1] === "succeeded";
    return this.leaseWrite(q.leaseFinish, values, async (client, rows) => {
      if (rows.length > 0) await client.query(q.settleDependants, [succeeded ? [job.id] : [], succeeded ? [] : [job.id], q.channel]);
    });
  }

  /**
   * A fenced lease write, in autocommit on this slot's connection. After a lost connection
   * (a database restart while the job ran), once more on a new one: the statement is fenced,
   * so sending it again can only find the job no longer ours.
   */
  private async leaseWrite(sql: string, values: unknown[], then?: (client: pg.Client, rows: { id: string }[]) => Promise<void>): Promise<{ id: string }[]> {
    const write = async () => {
      if (!this.connection) await this.open();
      const client = this.connection!;
      if (!then) return (await client.query<{ id: string }>(sql, values)).rows;
      await client.query("BEGIN");
      try {
        const { rows } = await client.query<{ id: string }>(sql, values);
        await then(client, rows);
        await client.query("COMMIT");
        return rows;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw error;
      }
    };
    try {
      return await write();
    } catch (error) {
      if ((error as { code?: string }).code?.startsWith("23") || (error as { code?: string }).code?.startsWith("22")) throw error;
      this.host.engine.logger.warn("lease write failed, retrying on a new connection", { queue: this.host.queue, error });
      await this.close();
      await this.open();
      return await write();
    }
  }

  private runLeaseHandler(
    job: ClaimedRow,
    payload: unknown,
    attempt: number,
    running: RunningJob,
    lease: Lease,
    finishValues: (state: "succeeded", error: null, result: StoredPayload | undefined) => unknown[],
  ): Promise<Outcome> {
    const { queue, engine, transactions } = this.host;
    const handler = this.host.handlers.get(job.type)!;
    this.armTimeout(running, job.timeout_ms);
    // After complete(tx) the job's row (and its progress) is gone: nothing more to show.
    const progress = (value: unknown) => (lease.completing ? (progressText(job.id, value), Promise.resolve()) : this.reportProgress(running, value));
    const context = Object.defineProperty(this.context(job, attempt, running, progress), "leaseExpiresAt", {
      get: () => new Date(lease.confirmedUntil),
      enumerable: true,
    });
    const run = (async () => {
      const result = await handler(payload, Object.assign(context, {
        complete: async (tx: unknown, ...rest: unknown[]) => {
          const stored = serializeResult(rest[0], job.type, engine.options.maxPayloadBytes);
          const q = engine.queries;
          const rows = await transactions.queryIn<{ id: string }>(tx, q.leaseFinish, finishValues("succeeded", null, stored));
          if (rows.length === 0) {
            const [fate] = await transactions.queryIn<{ live: boolean }>(tx, q.leaseFate, [job.id, attempt, this.host.options.poolName]);
            throw new LeaseLostError(job.id, attempt, fate?.live ? "taken over" : "cancelled");
          }
          // From here the job's row is gone by our own hand once `tx` commits: a renewal that
          // finds it gone is no loss (one that finds it held again tells us `tx` rolled back).
          lease.completing = true;
          if (job.has_dependants) await transactions.queryIn(tx, q.settleDependants, [[job.id], [], q.channel]);
        },
      }) as never);
      if (result instanceof JobSnooze) throw result;
      return serializeResult(result, job.type, engine.options.maxPayloadBytes);
    })();
    return new Promise((resolve) => {
      run.then(
        // Returned: the work is done, even past an abort (a timeout, a shutdown's deadline). Its
        // fenced finish records it, unless the job is no longer this worker's.
        (stored) => resolve({ ok: true, result: stored }),
        (error: unknown) => resolve({ ok: false, error: running.aborted ? running.reason : error, hung: false }),
      );
      // A handler that ignores its aborted signal is waited for a grace period, then left
      // behind: nothing of the job's is held on its behalf.
      running.onAbort = () => {
        const grace = setTimeout(() => resolve({ ok: false, error: running.reason, hung: true }), ABORT_GRACE_MS);
        grace.unref();
        void run.finally(() => clearTimeout(grace)).catch(() => undefined);
      };
      if (running.aborted) running.onAbort();
    });
  }

  private runHandler(
    connection: pg.Client,
    job: ClaimedRow,
    handler: Handler<unknown, unknown, unknown>,
    payload: unknown,
    attempt: number,
    running: RunningJob,
  ): Promise<Outcome> {
    const { queue, engine } = this.host;
    const run = this.host.transactions.run(connection, job.timeout_ms + ABORT_GRACE_MS * 2, this.savepoint, async (tx) => {
      const result = await handler(payload, Object.assign(this.context(job, attempt, running), { tx }));
      // A snooze is not a success: thrown, it rolls the handler's writes back like a failure.
      if (result instanceof JobSnooze) throw result;
      // Serialised here, inside the handler's transaction: a value that cannot be stored fails
      // the attempt (InvalidResultError) and rolls its writes back like any throw.
      return serializeResult(result, job.type, engine.options.maxPayloadBytes);
    });
    return new Promise<Outcome>((resolve) => {
      run.then(
        (stored) => resolve(running.aborted ? { ok: false, error: running.reason, hung: false } : stored === undefined ? SUCCEEDED : { ok: true, result: stored }),
        (error: unknown) => resolve({ ok: false, error: running.aborted ? running.reason : explainAborted(error), hung: false }),
      );
      // A handler that ignores its aborted signal is given a grace period, then abandoned.
      running.onAbort = () => {
        // No grace when the connection is gone: the handler's transaction cannot commit any more.
        const wait = running.reason instanceof ConnectionLostError ? 0 : ABORT_GRACE_MS;
        const grace = setTimeout(() => resolve({ ok: false, error: running.reason, hung: true }), wait);
        grace.unref();
        void run.finally(() => clearTimeout(grace)).catch(() => undefined);
      };
      if (running.aborted) running.onAbort();
    });
  }

  /** Records a failed attempt: retry later with backoff, or keep as failed after the last attempt. */
  private async recordFailure(connection: pg.Client, job: ClaimedRow, attempt: number, error: unknown, hung: boolean, trace: AttemptTrace, batch: Batch): Promise<void> {
    const { engine, options, queue } = this.host;
    const q = engine.queries;
    const text = describeError(error);
    const outcome = error instanceof JobTimeoutError ? "timeout" : "failed";
    const final = attempt >= job.max_attempts || error instanceof UnrecoverableError;
    const report = () => {
      trace.end(final ? "failed" : "retried", error);
      this.host.emit({ kind: final ? "failed" : "retrying", jobId: job.id, type: job.type, queue, attempt, error: text });
    };
    const finish: Finish = { id: job.id, state: "failed", attempts: attempt, error: text, startedAt: job.started_at, pool: options.poolName, traceId: trace.traceId, result: undefined };
    const retry = [job.id, attempt, backoffDelay(this.host.backoffFor(job.type), attempt), text, outcome, job.started_at, options.poolName, trace.traceId];
    if (hung || this.lost !== undefined) {
      // The handler still uses the connection, or the connection is gone: make sure its backend
      // has exited (and the batch's row locks with it), then record the failure in a transaction
      // of its own. The batch's other jobs run again, uncounted.
      await this.cut();
      if (final && job.has_dependants) {
        // A parent's end and its dependants' release commit together (a pooled connection: the
        // control connection is shared and cannot hold a transaction).
        await engine.transaction(async (client) => {
          const { rowCount } = await client.query(q.finishDetached, finishValues(finish));
          if (rowCount) await client.query(q.settleDependants, [[], [job.id], q.channel]);
        });
      } else {
        await this.host.control.query(final ? q.finishDetached : q.retryDetached, final ? finishValues(finish) : retry);
      }
      await this.release(batch.runs.map((run) => run.job.id).filter((id) => id !== job.id));
      batch.stop = "cut";
      report();
      return;
    }
    if (final) {
      await this.rollbackHandler(connection);
      batch.finishes.push(finish);
    } else {
      await this.afterRollback(connection, prepared("retry", q.retry, retry));
    }
    batch.settled.push({ trace, report });
  }

  /** Gives a job back untouched (shutdown): its attempt does not count; the batch stops here. */
  private async abandon(connection: pg.Client, hung: boolean, batch: Batch): Promise<void> {
    if (hung) {
      await this.cut();
      await this.release(batch.runs.map((run) => run.job.id));
      batch.stop = "cut";
      return;
    }
    // The batch commits: the job's row goes back with a committed locker, not counted.
    await this.rollbackHandler(connection);
    batch.stop = "abandoned";
  }

  /**
   * Gives back, uncounted, jobs of a transaction this slot cut: their rows would show an aborted
   * transaction, which the next claimer counts as a crash. One another worker took first (it
   * may, from the cut on) has been counted so.
   */
  private async release(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.host.control.query(this.host.engine.queries.releaseJobs, [ids]).catch(() => undefined);
  }

  /** Ends this slot's connection from the server side; the slot reconnects on its next job. */
  private async cut(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    this.prefetched = undefined;
    await this.host.control.query(this.host.engine.queries.terminateBackend, [this.backendPid]).catch(() => undefined);
    await connection?.end().catch(() => undefined);
  }

  /**
   * Sends, without waiting in between, `opening` (BEGIN, or COMMIT + BEGIN) and the claim.
   * `opened` settles with the first; `claim` never rejects. Should `opening` fail, the claim ran
   * outside a transaction (its locks already gone) or not at all: its answer is not to be used.
   */
  private sendClaim(connection: pg.Client, opening: string): { opened: Promise<unknown>; claim: Promise<Claim> } {
    const { engine, options, queue, jobTypes } = this.host;
    const q = engine.queries;
    const grouped = this.host.limiter.groupConcurrency !== undefined;
    const values = grouped ? [queue, this.host.claimTypes(), options.batchSize, this.host.limiter.excludedGroups()] : [queue, this.host.claimTypes(), options.batchSize];
    const [opened, claimed] = corked(connection, () => [
      connection.query(opening),
      connection.query<ClaimedRow>(
        grouped
          ? options.strategy === "time" ? prepared("claim_time_grouped", q.claimTimeGrouped, values) : prepared("claim_priority_grouped", q.claimPriorityGrouped, values)
          : options.strategy === "time" ? prepared("claim_time", q.claimTime, values) : prepared("claim_priority", q.claimPriority, values),
      ),
    ] as const);
    const claim = Promise.allSettled([opened, claimed]).then(([o, c]): Claim => {
      if (o.status === "rejected") return { error: o.reason };
      if (c.status === "rejected") return { error: c.reason };
      const rows = c.value.rows;
      return { rows: rows.length > 1 ? rows.sort(options.strategy === "time" ? byTime : byPriority) : rows };
    });
    return { opened, claim };
  }

  /** Rolls back the handler's savepoint, if it has one. */
  private async rollbackHandler(connection: pg.Client): Promise<void> {
    if (this.savepoint.state === "none" || this.savepoint.state === "pending") return;
    await connection.query(HANDLER_SAVEPOINT.rollback);
    this.savepoint.state = "none";
  }

  /** Rolls back the handler's writes, if it made any, and records the outcome: one round trip. */
  private async afterRollback(connection: pg.Client, statement: pg.QueryConfig): Promise<void> {
    const { state } = this.savepoint;
    if (state === "none" || state === "pending") {
      await connection.query(statement);
      return;
    }
    await settleInOrder(corked(connection, () => [connection.query(HANDLER_SAVEPOINT.rollback), connection.query(statement)]));
    this.savepoint.state = "none";
  }

  /**
   * Moves the batch's finished jobs to history and commits. While the pool runs, the next
   * claim goes out in the same write (a slot that just finished a job will most likely find
   * another); its answer is picked up by the next {@link runOne}.
   */
  private async commit(connection: pg.Client, batch: Batch): Promise<void> {
    const q = this.host.engine.queries;
    const statements = this.finishStatements(batch.finishes);
    const parents = batch.parents && batch.finishes.filter((f) => batch.parents!.has(f.id));
    if (parents && parents.length > 0) {
      // Their dependants are released (or cancelled) in the same transaction.
      const ids = (state: string) => parents.filter((f) => f.state === state).map((f) => f.id);
      statements.push({ text: q.settleDependants, values: [ids("succeeded"), ids("failed"), q.channel] });
    }
    if (batch.progressed.length > 0) {
      // Their last progress writes (on the control connection) land before the rows go.
      await Promise.all(batch.progressed.map((job) => job.progress?.settled()));
      statements.push({ text: q.progressDelete, values: [batch.progressed.map((job) => job.id)] });
    }
    // A slot frees at this commit: the NOTIFY (delivered at commit) wakes pools that found it full.
    if (batch.wake) statements.push({ text: q.wakeQueue, values: [q.channel, this.host.queue] });
    const { lease } = batch;
    if (lease) {
      statements.push(prepared("lease_take", q.leaseTake, [lease.job.id, this.host.leases.owner, lease.attempt, this.host.leaseTimeoutOf(lease.job.type)]));
    }
    // No claim goes with the commit when a lease-mode job runs next: its transaction would stay
    // open (and its rows locked) for as long as that job runs.
    if (!this.host.accepting() || lease) {
      await settleInOrder(corked(connection, () => [...statements.map((statement) => connection.query(statement)), connection.query("COMMIT")]));
      return;
    }
    // COMMIT goes as a message of its own, not in one with the next BEGIN: PostgreSQL reports a
    // backend's table statistics, which autovacuum goes by, only while it waits outside a
    // transaction. A busy slot that committed and began in one message never did, so autovacuum
    // never saw the dead rows of the jobs it finished, and every claim walked more of them
    // (test/worker/statistics.test.ts). Same write, same round trip.
    const [finished, committed, { opened, claim }] = corked(connection, () => [
      statements.map((statement) => connection.query(statement)),
      connection.query("COMMIT"),
      this.sendClaim(connection, q.beginClaim),
    ] as const);
    const failed = (await Promise.allSettled([...finished, committed, opened])).find((result) => result.status === "rejected");
    if (failed) {
      // A failed finish turned the COMMIT into a rollback: drop the next claim's transaction too.
      await claim;
      await this.rollbackQuietly();
      throw failed.reason;
    }
    this.prefetched = claim;
  }

  /**
   * The statements that end a batch's finished jobs: moved to history, or, succeeded ones of a
   * queue that keeps none (`retention: { succeeded: 0 }`), deleted.
   */
  private finishStatements(finishes: Finish[]): pg.QueryConfig[] {
    const q = this.host.engine.queries;
    let kept = finishes;
    const statements: pg.QueryConfig[] = [];
    if (this.host.options.retention?.succeeded === 0) {
      const succeeded = finishes.filter((f) => f.state === "succeeded" && f.attempts === 1).map((f) => f.id);
      const afterFailures = finishes.filter((f) => f.state === "succeeded" && f.attempts > 1).map((f) => f.id);
      kept = finishes.filter((f) => f.state !== "succeeded");
      if (succeeded.length === 1) statements.push(prepared("discard", q.discard, succeeded));
      else if (succeeded.length > 1) statements.push(prepared("discard_many", q.discardMany, [succeeded]));
      if (afterFailures.length > 0) statements.push(prepared("discard_with_attempts", q.discardWithAttempts, [afterFailures]));
    }
    // Jobs whose handler returned nothing (the common case) take the statements they took
    // before results existed; those with a result take their `…WithResult` twin.
    const withResult = kept.some((f) => f.result !== undefined) ? kept.filter((f) => f.result !== undefined) : [];
    if (withResult.length > 0) kept = kept.filter((f) => f.result === undefined);
    // One job (every job, unbatched) takes the statement without arrays: unnesting seven
    // one-element arrays and joining them cost ~10 % of a no-op job's server time.
    const [only] = kept;
    if (kept.length === 1 && only) {
      statements.push(prepared("finish", q.finish, finishValues(only)));
    } else if (kept.length > 1) {
      statements.push(prepared("finish_many", q.finishMany, finishArrays(kept)));
    }
    const [onlyResult] = withResult;
    if (withResult.length === 1 && onlyResult) {
      statements.push(prepared("finish_result", q.finishWithResult, [...finishValues(onlyResult), onlyResult.result!.json, onlyResult.result!.meta]));
    } else if (withResult.length > 1) {
      const results = withResult.map((f) => f.result!);
      statements.push(prepared("finish_many_result", q.finishManyWithResult, [...finishArrays(withResult), results.map((r) => r.json), results.map((r) => r.meta)]));
    }
    return statements;
  }

  private async rollbackQuietly(): Promise<void> {
    await this.connection?.query("ROLLBACK").catch(() => undefined);
  }
}

/**
 * A handler that catches a failed statement of its `tx` and returns leaves the transaction
 * aborted: PostgreSQL refuses the commit. Say so, instead of PostgreSQL's terse message.
 */
function explainAborted(error: unknown): unknown {
  if ((error as { code?: string } | null)?.code !== "25P02" && !/current transaction is aborted/.test(String((error as Error | null)?.message))) return error;
  return new Error(`the handler's transaction was aborted by an earlier failed statement that the handler caught: ${(error as Error).message}`, { cause: error });
}

/** The parameters of `finishMany` for a batch's jobs. */
function finishArrays(finishes: Finish[]): unknown[] {
  return [
    finishes.map((f) => f.id),
    oneOrEach(finishes, (f) => f.state),
    oneOrEach(finishes, (f) => f.attempts),
    oneOrEach(finishes, (f) => f.error),
    oneOrEach(finishes, (f) => f.startedAt),
    oneOrEach(finishes, (f) => f.pool),
    oneOrEach(finishes, (f) => f.traceId),
  ];
}

/** The parameters of `finish` (and `finishDetached`) for one job. */
function finishValues(f: Finish): unknown[] {
  return [f.id, f.state, f.attempts, f.error, f.startedAt, f.pool, f.traceId];
}

/**
 * A statement every job runs, as a named prepared statement of the slot's connection: parsed
 * once per connection and, once PostgreSQL settles on a generic plan, planned once. Parsing and
 * planning were 40 % of the server's CPU per job.
 */
function prepared(name: string, text: string, values: unknown[]): pg.QueryConfig {
  return { name: `arrower_${name}`, text, values };
}

/**
 * A claimed time as a Date. A row written by hand may hold run_at = '-infinity' (±Infinity
 * here): the handler's runAt then threw outside any try, and the job looped as "worker crashed"
 * (found by test/faults/poison.test.ts). It gets the earliest or latest Date JavaScript has.
 */
function toDate(ms: number): Date {
  return new Date(Number.isFinite(ms) ? ms : ms < 0 ? -8.64e15 : 8.64e15);
}
