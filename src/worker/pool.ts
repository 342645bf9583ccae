/**
 * A queue's worker pool: `poolSize` slots, each with a connection of its own, woken by the
 * NOTIFY sent at enqueue and by one poll timer per pool.
 *
 * Idle behaviour: a slot that finds nothing waits. When every slot waits, one timer (the poll
 * interval, or sooner when a scheduled job falls due) wakes one slot; a NOTIFY wakes one slot;
 * a slot that claims a job wakes one more. So an idle pool costs one claim per interval, and a
 * burst of jobs fills the pool within a few round trips.
 *
 * Lifecycle (River's contract): start and shutdown are idempotent and safe in any order;
 * `register` on a running pool waits for running jobs and restarts it.
 */
import { EventEmitter } from "node:events";
import { hostname } from "node:os";
import type pg from "pg";
import type { Engine } from "../engine.ts";
import type { ScheduleOptions } from "../cron/schedules.ts";
import type { EnqueueOptions } from "../config.ts";
import type { Job, JobType, LeaseJobType } from "../job.ts";
import { checkRegistration, type Handler, type JobEvent, type LeaseHandler, type QueueEvents, type RegisterOptions } from "../handler.ts";
import { LeaseKeeper } from "./leases.ts";
import { Limiter } from "./limits.ts";
import { InvalidOptionsError, NotEnoughConnectionsError, IntegrationError } from "../errors.ts";
import { assertVersion } from "../postgres/migrations.ts";
import { controlFor, type ControlConnection } from "./control.ts";
import { Slot, type HandlerTransactions, type SlotHost } from "./executor.ts";
import type { BackoffOptions } from "../backoff.ts";
import { acquirePruner, releasePruner } from "./pruner.ts";
import { acquireScheduler, releaseScheduler } from "../cron/scheduler.ts";
import { JobAbortedError } from "./errors.ts";
import { resolveShutdownDeadline, type ResolvedQueueOptions } from "./options.ts";

const HEARTBEAT_MS = 10_000;

type State = "stopped" | "starting" | "running" | "stopping";

/**
 * Where a pool sends its `enqueue`, `schedule` and `unschedule` calls, with the queue option set
 * to its own: the client that made the queue (`prisma.$jobs`), which satisfies this.
 */
export interface PoolDelegate {
  enqueue(jobs: readonly Job[], options: EnqueueOptions): Promise<string[]>;
  schedule(spec: string, job: Job, options: ScheduleOptions): Promise<string>;
  unschedule(idOrName: string): Promise<boolean>;
}

/**
 * The PostgreSQL implementation of the public `Queue` interface (../queue.ts; `JobsClient.queue`
 * checks that it satisfies it). The worker stands on the core and knows nothing of the client.
 */
export class WorkerPool<TX> implements SlotHost {
  readonly control: ControlConnection;
  readonly handlers = new Map<string, Handler<unknown, unknown, unknown>>();
  private readonly typeBackoffs = new Map<string, Required<BackoffOptions>>();
  /** Lease-mode job types and their leaseTimeout. */
  private readonly leaseTimeouts = new Map<string, number>();
  readonly leases: LeaseKeeper;
  readonly limiter: Limiter;
  jobTypes: string[] = [];
  private readonly events = new EventEmitter();
  private state: State = "stopped";
  private slots: Slot[] = [];
  private loops: Promise<void>[] = [];
  private waiting: Array<() => void> = [];
  /** Slots sleeping before a reconnect attempt (woken early by shutdown). */
  private readonly sleepers = new Set<() => void>();
  private pendingWake = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private autoStartTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private transition: Promise<void> = Promise.resolve();
  /** While stopping: brings the abort of running jobs forward to `deadline` ms from now. */
  private hurry: ((deadline: number) => void) | undefined;
  /** otel: ends this pool's share of the queue-depth gauge. */
  private stopOtel: (() => void) | undefined;

  constructor(
    readonly engine: Engine,
    readonly name: string,
    readonly options: ResolvedQueueOptions,
    private readonly delegate: PoolDelegate,
    readonly transactions: HandlerTransactions,
  ) {
    this.control = controlFor(engine);
    this.leases = new LeaseKeeper(engine, this.control, options.poolName, name);
    this.limiter = new Limiter(engine, this.control, name, options.limits, options.groupConcurrency);
  }

  get queue(): string {
    return this.name;
  }

  enqueue<P>(job: Job<P>, options?: EnqueueOptions): Promise<string>;
  enqueue(jobs: readonly Job[], options?: EnqueueOptions): Promise<string[]>;
  enqueue(input: Job | readonly Job[], options?: EnqueueOptions): Promise<string | string[]> {
    if (options?.queue !== undefined && options.queue !== this.name) {
      throw new InvalidOptionsError("queue", `queue("${this.name}").enqueue() puts jobs in "${this.name}", got queue "${options.queue}": use prisma.$jobs.enqueue for another queue`);
    }
    return this.delegate.enqueue(input as Job[], { ...options, queue: this.name });
  }

  /** Makes a job repeat in this queue (see `prisma.$jobs.schedule`). */
  schedule<P>(spec: string, job: Job<P>, options?: ScheduleOptions): Promise<string> {
    if (options?.queue !== undefined && options.queue !== this.name) {
      throw new InvalidOptionsError("queue", `queue("${this.name}").schedule() puts jobs in "${this.name}", got queue "${options.queue}": use prisma.$jobs.schedule for another queue`);
    }
    return this.delegate.schedule(spec, job, { ...options, queue: this.name });
  }

  /** Removes a schedule by id or name. */
  unschedule(idOrName: string): Promise<boolean> {
    return this.delegate.unschedule(idOrName);
  }

  register<P, R = void>(type: LeaseJobType<P, R>, handler: LeaseHandler<P, TX, NoInfer<R>>, options?: RegisterOptions): Promise<void>;
  register<P, R = void>(type: JobType<P, R>, handler: Handler<P, TX, NoInfer<R>>, options?: RegisterOptions): Promise<void>;
  async register<P, R = void>(type: JobType<P, R>, handler: Handler<P, TX, NoInfer<R>> | LeaseHandler<P, TX, NoInfer<R>>, options?: RegisterOptions): Promise<void> {
    checkRegistration(this.name, this.handlers, type, handler, options);
    this.handlers.set(type.name, handler as Handler<unknown, unknown, unknown>);
    if (type.backoff) this.typeBackoffs.set(type.name, type.backoff);
    else this.typeBackoffs.delete(type.name);
    if (type.mode === "lease" && type.leaseTimeout !== undefined) this.leaseTimeouts.set(type.name, type.leaseTimeout);
    else this.leaseTimeouts.delete(type.name);
    this.limiter.setType(type.name, type.limits);
    if (this.state === "running" || this.state === "starting") {
      await this.restart();
      return;
    }
    // Debounced: registering ten handlers in a row starts the pool once.
    clearTimeout(this.autoStartTimer);
    this.autoStartTimer = setTimeout(() => {
      this.autoStartTimer = undefined;
      this.start().catch((error: unknown) => this.reportError(error));
    }, this.options.autoStartDelay);
  }

  start(): Promise<void> {
    clearTimeout(this.autoStartTimer);
    this.autoStartTimer = undefined;
    return this.serialize(() => this.doStart());
  }

  shutdown(options?: { deadline?: number }): Promise<void> {
    let given: number | undefined;
    try {
      given = resolveShutdownDeadline(options);
    } catch (error) {
      return Promise.reject(error);
    }
    clearTimeout(this.autoStartTimer);
    this.autoStartTimer = undefined;
    const deadline = given ?? this.options.shutdownDeadline;
    // A second, more urgent shutdown (the CLI's second signal) shortens the one under way.
    if (this.state === "stopping") this.hurry?.(deadline);
    return this.serialize(() => this.doStop(deadline, "the pool is shutting down"));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  on<E extends keyof QueueEvents>(event: E, listener: QueueEvents[E]): this {
    this.events.on(event, listener);
    return this;
  }

  off<E extends keyof QueueEvents>(event: E, listener: QueueEvents[E]): this {
    this.events.off(event, listener);
    return this;
  }

  /** @internal Jobs running now (for status and tests). */
  get running(): number {
    return this.slots.filter((slot) => slot.current).length;
  }

  wakeAnother(): void {
    this.wake();
  }

  accepting(): boolean {
    return this.state === "running";
  }

  /** The job types to claim now (those whose limit is full are left out for a while). */
  claimTypes(): string[] {
    return this.limiter.active ? this.limiter.claimTypes(this.jobTypes) : this.jobTypes;
  }

  get hasLeaseTypes(): boolean {
    return this.leaseTimeouts.size > 0;
  }

  leaseTimeoutOf(type: string): number | undefined {
    return this.leaseTimeouts.get(type);
  }

  backoffFor(type: string): Required<BackoffOptions> {
    return this.typeBackoffs.get(type) ?? this.options.backoff;
  }

  /**
   * Reports a job's outcome to otel, the logger and the app's listeners. Never throws: it runs
   * in the middle of the slot's loop, and a listener's (or a logger's) exception there dropped
   * the slot's next claim, whose jobs the next claimer then counted as crashed — and a throwing
   * `crashed` listener made that a loop. The app's bug goes to the `error` event instead; each
   * listener is called on its own, so one that throws does not silence the others.
   */
  emit(event: JobEvent): void {
    try {
      this.engine.otel.recordEvent(event); // otel: job counters
      if (event.kind === "failed" || event.kind === "crashed") {
        this.engine.logger.warn(`job ${event.kind}`, { queue: event.queue, type: event.type, id: event.jobId, attempt: event.attempt, error: firstLine(event.error) });
      } else if (event.kind === "retrying") {
        this.engine.logger.info("job failed, will retry", { queue: event.queue, type: event.type, id: event.jobId, attempt: event.attempt, error: firstLine(event.error) });
      }
    } catch (error) {
      this.reportError(error);
    }
    if (this.events.listenerCount(event.kind) === 0) return; // most pools: no copy of an empty list per job
    for (const listener of this.events.listeners(event.kind) as Array<(event: JobEvent) => void>) {
      try {
        listener(event);
      } catch (error) {
        this.reportError(listenerError(event.kind, error));
      }
    }
  }

  private restart(): Promise<void> {
    return this.serialize(async () => {
      if (this.state !== "running") return;
      // Wait for running jobs (no deadline): a deploy must not burn attempts.
      await this.doStop(Infinity, "the pool is restarting");
      await this.doStart();
    });
  }

  /** Runs lifecycle transitions one at a time. */
  private serialize(step: () => Promise<void>): Promise<void> {
    const next = this.transition.then(step, step);
    this.transition = next.catch(() => undefined);
    return next;
  }

  private async doStart(): Promise<void> {
    if (this.state === "running") return;
    if (this.handlers.size === 0) {
      throw new InvalidOptionsError("handlers", `queue "${this.name}" has no handlers: register at least one job type before start()`);
    }
    this.state = "starting";
    this.jobTypes = [...this.handlers.keys()];
    try {
      this.transactions.assertSupported();
      const probe = await this.engine.connect();
      try {
        assertVersion(await this.engine.schemaVersion(probe), this.engine.options.schema, true);
        await this.warnWithoutAutovacuum(probe);
      } finally {
        await probe.end();
      }
      await this.control.acquire();
      try {
        await this.openSlots();
        await this.probeTransactions(this.slots[0]!).catch(async () => {
          // Once more, on a new connection. A client's first handler transaction is slow (Prisma
          // prepares it): with a short idle_in_transaction_session_timeout, or on a loaded
          // machine, the server may have ended the probe's session meanwhile. A probe that
          // cannot work fails the same way again, and that error is the one reported.
          const slot = this.slots[0]!;
          await slot.close();
          await slot.open();
          await this.probeTransactions(slot);
        });
      } catch (error) {
        await Promise.all(this.slots.map((slot) => slot.close()));
        this.slots = [];
        await this.control.release();
        throw error;
      }
    } catch (error) {
      this.state = "stopped";
      throw error;
    }
    // A NOTIFY: a job was enqueued, or a limited one ended (a slot may be free).
    this.unsubscribe = this.control.subscribe(this.name, () => {
      this.limiter.woken();
      this.wake();
    });
    this.state = "running";
    this.loops = this.slots.map((slot) => this.loop(slot));
    await this.heartbeat();
    // Not unref'd: a running pool keeps its process alive until shutdown(), like a server's
    // listening socket. Its connections usually do that too, but while the database is down
    // there are none, and Node then exited the worker process with code 0 mid-outage (found by
    // test/faults/database-restart.test.ts).
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), HEARTBEAT_MS);
    acquirePruner(this.engine, this.name, this.options.retention);
    // Every worker process runs the cron scheduler; not awaited, so start() does not wait on its connection.
    void acquireScheduler(this.engine);
    // otel: queue-depth gauge (one query per collection, on the installation's small pool: not
    // the control connection, which carries LISTEN and crash records) and counters at 0.
    this.stopOtel = this.engine.otel.watchPool({
      queue: this.name,
      jobTypes: this.jobTypes,
      queueDepth: async () => (await this.engine.pool().query(this.engine.queries.otelQueueDepth)).rows,
    });
    this.engine.logger.info("pool started", { queue: this.name, pool: this.options.poolName, size: this.options.poolSize, types: this.jobTypes.join(",") });
  }

  /**
   * Every finished job leaves a dead row in the jobs table; without autovacuum nothing cleans
   * them up and each claim walks more of them.
   */
  private async warnWithoutAutovacuum(client: pg.Client): Promise<void> {
    const { rows } = await client.query<{ on: boolean }>(this.engine.queries.autovacuumOn);
    if (rows[0]?.on !== false) return;
    const s = this.engine.options.schema;
    this.engine.logger.warn(
      `autovacuum is off on this server: the dead rows finished jobs leave in ${s}.jobs are never cleaned up, and claims slow down as they pile up; turn autovacuum on, or VACUUM that table regularly (e.g. every minute)`,
      { queue: this.name },
    );
  }

  private async openSlots(): Promise<void> {
    const slots = Array.from({ length: this.options.poolSize }, () => new Slot(this));
    const results = await Promise.allSettled(slots.map((slot) => slot.open()));
    this.slots = slots;
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (!failed) return;
    const opened = results.filter((r) => r.status === "fulfilled").length;
    const code = (failed.reason as { code?: string }).code;
    if (code === "53300" || /too many (clients|connections)/i.test(String((failed.reason as Error).message))) {
      throw new NotEnoughConnectionsError(this.name, this.options.poolSize + 1, opened + 1, failed.reason);
    }
    throw failed.reason;
  }

  /** Fails the start, not the first job, when the handler's transaction cannot be put on our connection. */
  private async probeTransactions(slot: Slot): Promise<void> {
    const client = slot.client!;
    await client.query("BEGIN");
    try {
      await this.transactions.verify(client);
    } catch (error) {
      throw error instanceof IntegrationError ? error : new IntegrationError(`cannot run handlers in the job's transaction: ${(error as Error).message}`, { cause: error });
    } finally {
      await client.query("ROLLBACK").catch(() => undefined);
    }
  }

  private async loop(slot: Slot): Promise<void> {
    let failures = 0;
    while (this.state === "running") {
      let found: boolean;
      try {
        found = await slot.runOne();
        failures = 0;
      } catch (error) {
        // A lost connection or a server restart: reconnect with backoff, never crash the pool.
        failures++;
        this.reportError(error);
        await slot.close();
        await this.sleep(Math.min(100 * 2 ** failures, 10_000));
        continue;
      }
      if (!found) await this.idle();
    }
    // The claim a slot sends with its last commit: its jobs go back uncounted, with a commit.
    // Dropped with the connection, they would carry an aborted locker, which the next claimer
    // counts as a crashed attempt (with maxAttempts 1, a failed job that never ran).
    if (slot.claimPending) {
      try {
        await slot.runOne();
      } catch (error) {
        this.reportError(error);
      }
    }
  }

  /** Waits until woken: by a NOTIFY, the poll timer, or a slot that found work. */
  private async idle(): Promise<void> {
    // A slot that was claiming while shutdown began must not wait: nobody would wake it.
    if (this.state !== "running") return;
    if (this.pendingWake) {
      this.pendingWake = false;
      return;
    }
    const woken = new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.waiting.length === this.slots.length) void this.armPollTimer();
    await woken;
  }

  private wake(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.pendingWake = true;
  }

  /** All slots idle: one timer wakes one of them at the poll interval, or when the next scheduled job is due. */
  private async armPollTimer(): Promise<void> {
    let delay = this.options.pollInterval;
    // A rate limit that refused a job: its window's end wakes the pool, no sooner.
    const open = this.limiter.nextOpenIn();
    if (open !== undefined) delay = Math.min(delay, open);
    try {
      const rows = await this.control.query<{ ms: number | null }>(this.engine.queries.nextDueIn, [this.name, this.jobTypes]);
      const ms = rows[0]?.ms;
      if (ms !== null && ms !== undefined) delay = Math.max(0, Math.min(delay, ms));
    } catch {
      // Keep the poll interval; the control connection reconnects on its own.
    }
    if (this.state !== "running" || this.waiting.length !== this.slots.length) return;
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => {
      this.limiter.woken();
      this.wake();
    }, delay);
    this.pollTimer.unref();
  }

  /**
   * A slot's reconnect backoff (up to 10 s). Shutdown cuts it short (see doStop): a pool
   * stopped during a database outage must not wait out its slots' backoff.
   */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }

  private async doStop(deadline: number, why: string): Promise<void> {
    if (this.state !== "running") return;
    this.state = "stopping";
    this.stopOtel?.(); // otel
    this.stopOtel = undefined;
    clearTimeout(this.pollTimer);
    clearInterval(this.heartbeatTimer);
    this.unsubscribe?.();
    for (const resolve of this.waiting.splice(0)) resolve();
    for (const wake of [...this.sleepers]) wake(); // slots backing off after a lost connection
    // The deadline aborts what runs when it passes: a slot may be between its claim's answer
    // and the job's start now, and no job starts once the pool stops accepting (Slot.runOne).
    let timer: NodeJS.Timeout | undefined;
    const abort = () => this.slots.forEach((slot) => slot.current?.abort(new JobAbortedError(why)));
    let until = Infinity;
    this.hurry = (next) => {
      if (!Number.isFinite(next) || Date.now() + next >= until) return;
      until = Date.now() + next;
      clearTimeout(timer);
      timer = setTimeout(abort, next);
    };
    this.hurry(deadline);
    await Promise.all(this.loops);
    this.leases.stop();
    clearTimeout(timer);
    this.hurry = undefined;
    this.loops = [];
    await Promise.all(this.slots.map((slot) => slot.close()));
    this.slots = [];
    await this.control.query(this.engine.queries.removePool, [this.options.poolName, this.name]).catch(() => undefined);
    await releasePruner(this.engine, this.name);
    await releaseScheduler(this.engine);
    await this.control.release();
    this.state = "stopped";
    this.engine.logger.info("pool stopped", { queue: this.name, pool: this.options.poolName });
  }

  private async heartbeat(): Promise<void> {
    try {
      await this.control.query(this.engine.queries.heartbeat, [
        this.options.poolName,
        this.name,
        this.jobTypes,
        this.options.poolSize,
        this.running,
        hostname(),
        process.pid,
      ]);
    } catch (error) {
      this.engine.logger.warn("heartbeat failed", { queue: this.name, error });
    }
  }

  /** Reports a pool error to the logger and the `error` listeners; never throws (see {@link emit}). */
  private reportError(error: unknown): void {
    const err = error instanceof Error ? error : new Error(String(error));
    try {
      this.engine.logger.error("pool error", { queue: this.name, error: err.message });
    } catch {
      // A logger that throws has nowhere left to report to.
    }
    // Never an unhandled 'error' event: only the listeners there are.
    for (const listener of this.events.listeners("error") as Array<(error: Error) => void>) {
      try {
        listener(err);
      } catch {
        // An `error` listener that throws: reporting it would call it again.
      }
    }
  }
}

/** What a throwing `on(kind, …)` listener is reported as. */
function listenerError(kind: string, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  return new Error(`a "${kind}" listener threw (the job's outcome is recorded as it was): ${message}`, { cause: error });
}

function firstLine(text: string | undefined): string | undefined {
  return text?.split("\n", 1)[0];
}
