/**
 * `createTestingJobs()`: an in-memory {@link Queue} for an application's own tests. It enqueues
 * with the real validation and serialisation (`prepareJobs`), stores jobs in a
 * {@link MemoryStore}, and runs them through the handlers registered on it only when a test
 * asks (`runAll`, `drain`): no timers, no database, no background work to leak between tests.
 */
import { prepareSchedule, type PreparedSchedule, type ScheduleOptions } from "../cron/schedules.ts";
import { AsyncLocalStorage } from "node:async_hooks";
import { EventEmitter } from "node:events";
import type { EnqueueOptions } from "../config.ts";
import { integerOption, objectOrEmpty, rejectUnknownKeys, validateQueueName } from "../config.ts";
import { prepareJobs } from "../enqueue.ts";
import { InvalidJobError, InvalidOptionsError, LeaseLostError } from "../errors.ts";
import { isJobType, isLeaseJobType, JOB_DEFAULTS, type Job, type JobType, type LeaseJobType } from "../job.ts";
import { DEFAULT_MAX_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES_LIMIT, resultOf, serializeResult, type StoredPayload } from "../payload.ts";
import { JobSnooze, UnrecoverableError } from "../outcomes.ts";
import {
  checkRegistration,
  type Handler,
  type HandlerContext,
  type JobContext,
  type LeaseHandler,
  type LeaseHandlerContext,
  type QueueEvents,
  type RegisterOptions,
} from "../handler.ts";
import type { Queue } from "../queue.ts";
import { describeError } from "../worker/errors.ts";
import { backoffDelay, resolveQueueOptions, resolveShutdownDeadline } from "../worker/options.ts";
import { progressText } from "../worker/progress.ts";
import { createAssertions, type JobAssertions } from "./assertions.ts";
import { DrainLimitError, NoHandlerError, type QueuedCount } from "./errors.ts";
import { decodePayload, decodeResult, MemoryStore, runOrder, toQueued, type FinishedJob, type MemoryTransaction, type QueuedJob, type StoredJob } from "./store.ts";

/**
 * Options of {@link createTestingJobs}.
 * @typeParam TX what handlers receive as `tx`
 *
 * @example
 * ```ts
 * const jobs = createTestingJobs({ maxPayloadBytes: 64 * 1024, queue: "web", tx: fakeTx });
 * ```
 */
export interface TestingJobsOptions<TX> {
  /** Largest serialised payload in bytes, as `jobs({ maxPayloadBytes })`. Default 1 MiB, at most 32 MiB. */
  maxPayloadBytes?: number;
  /** The testing queue's `name`. It holds jobs of every queue all the same. Default `"default"`. */
  queue?: string;
  /**
   * What handlers get as `tx`. There is no database here: pass a fake of the parts of your
   * transaction client your handlers use, or a function that makes one per attempt (it gets the
   * testing queue, so a fake `tx.$jobs` can be the queue itself). A function is always called;
   * to hand over a function as `tx`, return it from one. Default `undefined`.
   *
   * Lease-mode handlers get no `tx`: they open their own transactions. The same fake is what
   * {@link TestingJobs.transaction} passes to its callback, a stand-in for `prisma.$transaction`.
   *
   * @example
   * ```ts
   * const jobs = createTestingJobs<AppTx>({ tx: (jobs) => ({ $jobs: jobs, user: fakeUsers }) });
   * ```
   */
  tx?: TX | ((jobs: TestingJobs<TX>) => TX);
}

/**
 * A workflow as {@link TestingJobs.getWorkflow} returns it.
 *
 * @example
 * ```ts
 * expect(jobs.getWorkflow(id)).toMatchObject({ id, jobs: [{ state: "succeeded" }, { state: "available", dependsOn: [id] }] });
 * ```
 */
export interface TestingWorkflow {
  /** The workflow's id: the id of the first job of the enqueue call. */
  id: string;
  /** Its jobs, queued and finished, in id order; each lists the ids it depends on (`dependsOn`). */
  jobs: Array<QueuedJob | FinishedJob>;
}

/**
 * Options of {@link TestingJobs.drain}.
 *
 * @example
 * ```ts
 * await jobs.drain({ maxRounds: 10 });
 * ```
 */
export interface DrainOptions {
  /** Rounds to run before giving up with {@link DrainLimitError}. Default 100. */
  maxRounds?: number;
}

/**
 * What a `runAll()` or `drain()` did.
 *
 * @example
 * ```ts
 * expect(await jobs.drain()).toMatchObject({ succeeded: 3, failed: 0 });
 * ```
 */
export interface RunSummary {
  /** Rounds run: `runAll` runs at most one; each `drain` round runs every job queued at its start. */
  rounds: number;
  /** Handler calls made (snoozed ones too: `snooze(ms)` runs the job again after `ms`, uncounted). */
  attempts: number;
  /** Jobs that succeeded. */
  succeeded: number;
  /** Failed attempts that will be retried. */
  retried: number;
  /** Jobs that failed their last attempt and are kept as failed. */
  failed: number;
}

/**
 * An attempt's outcome, emitted under its `kind` (`"succeeded"`, `"retrying"`, `"failed"`, `"snoozed"`) like
 * the real pool's job events; listen once `QueueEvents` declares them.
 *
 * @example
 * ```ts
 * const event: TestingJobEvent = { kind: "retrying", jobId: "1", type: "charge", queue: "default", attempt: 1, error: "Error: declined" };
 * ```
 */
export interface TestingJobEvent {
  kind: "succeeded" | "retrying" | "failed" | "snoozed";
  jobId: string;
  type: string;
  queue: string;
  attempt: number;
  /** The error text of a failed attempt. */
  error?: string;
}

const OPTION_KEYS = ["maxPayloadBytes", "queue", "tx"] as const;
const DRAIN_KEYS = ["maxRounds"] as const;
/** The real queue's default backoff without jitter: retry times in tests are predictable. */
const BACKOFF = { ...resolveQueueOptions(JOB_DEFAULTS.queue, {}).backoff, jitter: 0 };

/**
 * An in-memory queue with assertions, for an application's own tests. It implements {@link Queue}
 * (and so `Enqueuer`), so it stands in for `prisma.$jobs` and for `prisma.$jobs.queue(...)` in
 * code that depends on those interfaces. It holds jobs of every queue.
 *
 * Enqueue validates and serialises exactly like the real queue: a payload the database could not
 * store faithfully fails here too, and payloads read back (`all()`, `getFirstOf()`, handlers) are
 * round-tripped as the database would return them. Nothing runs until the test calls
 * {@link TestingJobs.runAll} or {@link TestingJobs.drain}.
 *
 * Both job modes run: a transaction-mode handler gets `ctx.tx` (the `tx` option), a lease-mode
 * one `ctx.complete(tx)`, for which {@link TestingJobs.transaction} stands in for the app's
 * transactions. `ctx.progress()` validates like the real worker and shows on `all()`. Workflows
 * (`dependsOn`) wait, run, pass results (`ctx.parentResult`) and cancel as on the real queue;
 * `getJob`, `getWorkflow`, `cancelled()` and `assert().dependsOn()`/`workflow()` show them.
 *
 * @typeParam TX what handlers receive as `tx` (see {@link TestingJobsOptions.tx})
 *
 * @example
 * ```ts
 * const jobs = createTestingJobs();
 * await signUp({ jobs, users }, "ada@example.com");
 * jobs.assert().queued(SendWelcome, 1);
 * expect(jobs.getFirstOf(SendWelcome)?.email).toBe("ada@example.com");
 * ```
 */
export class TestingJobs<TX = unknown> implements Queue<TX> {
  /** The queue's name (the `queue` option). */
  readonly name: string;
  readonly #store = new MemoryStore();
  readonly #handlers = new Map<string, Handler<unknown, TX, unknown> | LeaseHandler<unknown, TX, unknown>>();
  /** The `leaseTimeout` of each registered lease-mode job type: their handlers get a lease context. */
  readonly #leaseTimeouts = new Map<string, number>();
  readonly #events = new EventEmitter();
  /**
   * The transaction an enqueue (or a lease-mode `complete`) belongs to, across its awaits: a
   * transaction-mode attempt's, or a {@link TestingJobs.transaction}'s.
   */
  readonly #attempt = new AsyncLocalStorage<MemoryTransaction>();
  readonly #maxPayloadBytes: number;
  readonly #tx: TestingJobsOptions<TX>["tx"];
  #started = false;
  readonly #schedules = new Map<string, { id: string; prepared: PreparedSchedule; nextRunAt: Date }>();
  #scheduleIds = 0;

  /** Prefer {@link createTestingJobs}. */
  constructor(options?: TestingJobsOptions<TX>) {
    const what = "createTestingJobs() options";
    const o = objectOrEmpty(options, what);
    rejectUnknownKeys(o, OPTION_KEYS, what);
    const name = o.queue ?? JOB_DEFAULTS.queue;
    validateQueueName(name);
    this.name = name;
    this.#maxPayloadBytes =
      o.maxPayloadBytes === undefined ? DEFAULT_MAX_PAYLOAD_BYTES : integerOption(o.maxPayloadBytes, "maxPayloadBytes", 1, MAX_PAYLOAD_BYTES_LIMIT, what, "32 MiB");
    this.#tx = options?.tx;
  }

  // ---------------------------------------------------------------------------------------------
  // Enqueuer

  /**
   * Enqueues one job and returns its id, with the real queue's validation, serialisation and
   * dedup keys. Inside a handler run by `runAll`/`drain` (or a {@link TestingJobs.transaction}),
   * the job becomes visible when the handler returns and is dropped if it throws, as with
   * `tx.$jobs.enqueue` in the real queue.
   *
   * Workflows (`dependsOn`) work as on the real queue: a job that depends on others waits
   * (state `"waiting"`, not due) until they have all succeeded; see {@link TestingJobs.drain}.
   * @throws InvalidJobError, InvalidPayloadError, InvalidOptionsError, InvalidNameError
   */
  enqueue<P>(job: Job<P>, options?: EnqueueOptions): Promise<string>;
  /** Enqueues a batch and returns the ids in order. */
  enqueue(jobs: readonly Job[], options?: EnqueueOptions): Promise<string[]>;
  async enqueue(input: Job | readonly Job[], options?: EnqueueOptions): Promise<string | string[]> {
    const prepared = prepareJobs(input, options, this.#maxPayloadBytes);
    // One clock for everything here, Date.now(): fake timers and a mocked Date.now both apply.
    const ids = this.#store.insert(prepared, new Date(Date.now()), this.#attempt.getStore());
    return Array.isArray(input) ? ids : ids[0]!;
  }

  /**
   * Runs `fn` in an in-memory transaction: a stand-in for `prisma.$transaction(fn)` in the code
   * under test (give your fake client `$transaction: (fn) => jobs.transaction(fn)`). `fn` gets
   * the `tx` of the `tx` option. What it enqueues through this queue (`tx.$jobs.enqueue` when
   * the fake's `$jobs` is the queue) becomes visible when `fn` resolves and is dropped when it
   * throws; a lease-mode job's `ctx.complete(tx)` inside it completes the job when `fn`
   * resolves, and not at all when it throws (the job is then retried if the handler throws, as
   * in the real queue). Resolves to what `fn` returns; rejects with what it throws. `complete`
   * takes whatever `tx` it is given: there is no database to check it against.
   *
   * Each call is a transaction of its own, as each `prisma.$transaction` on the root client is:
   * inside a transaction-mode handler, it commits whether or not the job's attempt does.
   *
   * @example
   * ```ts
   * const jobs = createTestingJobs<AppTx>({ tx: (jobs) => ({ $jobs: jobs, report: fakeReports }) });
   * const prisma = { $transaction: <T>(fn: (tx: AppTx) => Promise<T>) => jobs.transaction(fn) };
   * await jobs.register(BuildReport, async (job, ctx) => {
   *   const rows = await crunch(job);
   *   await prisma.$transaction(async (tx) => {
   *     await tx.report.create({ data: { rows } });
   *     await ctx.complete(tx, { rows: rows.length });
   *   });
   * });
   * ```
   */
  async transaction<T>(fn: (tx: TX) => Promise<T> | T): Promise<T> {
    const tx = this.#store.begin();
    let value: T;
    try {
      value = await this.#attempt.run(tx, () => fn(this.#txFor()));
    } catch (error) {
      this.#store.rollback(tx);
      throw error;
    }
    this.#commit(tx);
    return value;
  }

  // ---------------------------------------------------------------------------------------------
  // Queue lifecycle: kept consistent with the real pool, but nothing runs in the background.

  /**
   * Registers the handler of a lease-mode job type (`defineJob(name, { mode: "lease" })`), used
   * by `runAll`/`drain`: it runs outside any transaction and gets `ctx.complete(tx)` instead of
   * `ctx.tx` (see {@link TestingJobs.transaction} for what `complete` does here).
   * @throws InvalidJobError, InvalidOptionsError (as the other overload)
   */
  register<P, R = void>(type: LeaseJobType<P, R>, handler: LeaseHandler<P, TX, NoInfer<R>>, options?: RegisterOptions): Promise<void>;
  /**
   * Registers the handler of a job type, used by `runAll`/`drain`. Unlike the real pool it
   * starts nothing. As there, a different handler for a type that has one is refused unless
   * `{ replace: true }` (handlers that close over per-test fakes: create the testing queue per
   * test, or register with `replace`).
   * @throws InvalidJobError when `type` is not a job type, `handler` not a function, or the type
   *   has another handler; InvalidOptionsError for bad options
   */
  register<P, R = void>(type: JobType<P, R>, handler: Handler<P, TX, NoInfer<R>>, options?: RegisterOptions): Promise<void>;
  async register(type: JobType<unknown, unknown>, handler: Handler<unknown, TX, unknown> | LeaseHandler<unknown, TX, unknown>, options?: RegisterOptions): Promise<void> {
    checkRegistration(this.name, this.#handlers, type, handler, options);
    this.#handlers.set(type.name, handler);
    if (isLeaseJobType(type)) this.#leaseTimeouts.set(type.name, type.leaseTimeout);
    else this.#leaseTimeouts.delete(type.name);
  }

  /**
   * Marks the queue started, after the real pool's check that it has handlers. Runs nothing:
   * call `runAll()` or `drain()`. Idempotent.
   * @throws InvalidOptionsError when no handler is registered
   */
  async start(): Promise<void> {
    if (this.#handlers.size === 0) {
      throw new InvalidOptionsError("handlers", `queue "${this.name}" has no handlers: register at least one job type before start()`);
    }
    this.#started = true;
  }

  /** Marks the queue stopped. Queued jobs stay. Idempotent; the deadline is validated as the real queue's, and unused. */
  async shutdown(options?: { deadline?: number }): Promise<void> {
    resolveShutdownDeadline(options);
    this.#started = false;
  }

  /** Whether `start()` was called since the last `shutdown()`. */
  get started(): boolean {
    return this.#started;
  }

  /** Listens to queue events, as on the real pool. Job events are emitted under their `kind`. */
  on<E extends keyof QueueEvents>(event: E, listener: QueueEvents[E]): this {
    this.#events.on(event, listener);
    return this;
  }

  /** Removes a listener. */
  off<E extends keyof QueueEvents>(event: E, listener: QueueEvents[E]): this {
    this.#events.off(event, listener);
    return this;
  }

  /** `await using jobs = createTestingJobs()` shuts it down at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  // ---------------------------------------------------------------------------------------------
  // Scheduler: the real queue's validation and identity rules; ticks fire only when a test calls
  // `tick()` (no timers, like everything else in this class).

  /**
   * Records a schedule, with the real queue's validation and identity: the same name replaces
   * spec, job and options; without a name, the same type + spec + zone + payload returns the same
   * id. Returns the schedule's id.
   * @throws InvalidCronError, InvalidJobError, InvalidPayloadError, InvalidOptionsError
   */
  async schedule<P>(spec: string, job: Job<P>, options?: ScheduleOptions): Promise<string> {
    const prepared = prepareSchedule(spec, job, options, this.#maxPayloadBytes);
    const existing = this.#schedules.get(prepared.identity);
    if (existing && prepared.name === null) return existing.id;
    const now = new Date(Date.now());
    const respec = !existing || existing.prepared.spec !== prepared.spec || existing.prepared.cron.timezone !== prepared.cron.timezone;
    const id = existing?.id ?? String(++this.#scheduleIds);
    this.#schedules.set(prepared.identity, { id, prepared, nextRunAt: respec ? prepared.cron.next(now) : existing.nextRunAt });
    return id;
  }

  /** Removes a schedule by id or name; resolves to whether it existed. */
  async unschedule(idOrName: string): Promise<boolean> {
    for (const [identity, entry] of this.#schedules) {
      if (entry.id === idOrName || entry.prepared.name === idOrName) return this.#schedules.delete(identity);
    }
    return false;
  }

  /** The recorded schedules: spec, time zone, job type, queue and next tick. */
  schedules(): Array<{ id: string; name: string | null; spec: string; timezone: string; type: string; queue: string; nextRunAt: Date }> {
    return [...this.#schedules.values()].map(({ id, prepared, nextRunAt }) => ({
      id,
      name: prepared.name,
      spec: prepared.spec,
      timezone: prepared.cron.timezone,
      type: prepared.type,
      queue: prepared.queue,
      nextRunAt,
    }));
  }

  /**
   * Fires the schedules due at `now` (default: `Date.now()`, so fake timers apply): one job each,
   * like the real scheduler after downtime (one catch-up job, then the next tick after `now`).
   * Returns the ids of the jobs enqueued.
   */
  async tick(now: Date = new Date(Date.now())): Promise<string[]> {
    const ids: string[] = [];
    for (const entry of this.#schedules.values()) {
      if (entry.nextRunAt > now) continue;
      const { prepared } = entry;
      ids.push(
        ...this.#store.insert(
          [
            {
              queue: prepared.queue,
              type: prepared.type,
              payload: prepared.payload.json,
              payloadMeta: prepared.payload.meta,
              priority: prepared.priority,
              runAt: entry.nextRunAt,
              maxAttempts: prepared.maxAttempts,
              timeoutMs: prepared.timeoutMs,
              dedupKey: null,
              group: null,
              parents: null,
              onParentFailure: null,
            },
          ],
          now,
        ),
      );
      entry.nextRunAt = prepared.cron.next(now);
    }
    return ids;
  }

  // ---------------------------------------------------------------------------------------------
  // Inspection

  /**
   * Assertions on what is queued now. Failures throw `AssertionError` (node:assert) listing the
   * queued jobs.
   *
   * @example
   * ```ts
   * jobs.assert().queued(SendWelcome, 1).contains(SendWelcome({ userId: 1, email: "a@b.c" }));
   * ```
   */
  assert(): JobAssertions {
    return createAssertions(
      () => this.all(),
      () => [...this.all(), ...this.#store.finishedJobs()].sort((a, b) => Number(a.id) - Number(b.id)),
    );
  }

  /**
   * The payload of the first queued job of a type (in enqueue order), or undefined. A fresh copy
   * each call, decoded as a handler would receive it.
   *
   * @example
   * ```ts
   * const welcome = jobs.getFirstOf(SendWelcome); // { userId: number; at: Date } | undefined
   * ```
   */
  getFirstOf<P>(type: JobType<P>): P | undefined {
    if (!isJobType(type)) throw new InvalidJobError(`getFirstOf expects a job type from defineJob(), got ${typeof type}`);
    const job = this.#store.liveJobs().find((j) => j.type === type.name);
    return job === undefined ? undefined : decodePayload<P>(job);
  }

  /**
   * What the handler of job `id` returned, typed by its job type, as `prisma.$jobs.getResult`:
   * undefined while the job is queued, when it failed, when the handler returned nothing, and
   * for an unknown id.
   * @throws InvalidJobError when the job is of another type
   *
   * @example
   * ```ts
   * const id = await jobs.enqueue(Resize({ imageId: "a" }));
   * await jobs.drain();
   * expect(await jobs.getResult(Resize, id)).toEqual({ width: 640, height: 480 });
   * ```
   */
  async getResult<P, R>(type: JobType<P, R>, id: string): Promise<R | undefined> {
    if (!isJobType(type)) throw new InvalidJobError(`getResult expects a job type from defineJob(), got ${typeof type}`);
    const job = this.#store.finishedJob(id) ?? this.#store.liveJob(id);
    if (job === undefined) return undefined;
    return resultOf<R>(job.type, type.name, id, () => decodeResult(job));
  }

  /**
   * Every queued job (running ones included), in enqueue order.
   *
   * @example
   * ```ts
   * expect(jobs.all().map((j) => j.type)).toEqual(["send-welcome", "track-signup"]);
   * ```
   */
  all(): QueuedJob[] {
    const now = Date.now();
    return this.#store.liveJobs().map((job) => toQueued(job, now));
  }

  /**
   * A job by id, queued (with its state now: `"waiting"` while jobs it depends on have not
   * settled) or finished; undefined for an unknown id. A fresh copy each call.
   *
   * @example
   * ```ts
   * const [fetchId, resizeId] = await jobs.enqueue([fetch, dependsOn(Resize({ width: 100 }), [fetch])]);
   * expect(jobs.getJob(resizeId)).toMatchObject({ state: "waiting", dependsOn: [fetchId], workflowId: fetchId });
   * ```
   */
  getJob(id: string): QueuedJob | FinishedJob | undefined {
    return this.#store.view(id, Date.now());
  }

  /**
   * Workflows: the jobs enqueued with job `id` in a call that used `dependsOn`, queued and
   * finished, in id order, each with the ids it depends on — the admin API's `getWorkflow`.
   * The workflow's id is its first job's. undefined when job `id` is in none (or unknown).
   *
   * @example
   * ```ts
   * await jobs.drain();
   * expect(jobs.getWorkflow(fetchId)?.jobs.map((j) => j.state)).toEqual(["failed", "cancelled"]);
   * ```
   */
  getWorkflow(id: string): TestingWorkflow | undefined {
    const workflowId = this.getJob(id)?.workflowId;
    if (workflowId == null) return undefined;
    const now = Date.now();
    return { id: workflowId, jobs: this.#store.workflowMembers(workflowId).map((member) => this.#store.view(member, now)!) };
  }

  /**
   * Jobs that succeeded, in the order they finished.
   *
   * @example
   * ```ts
   * await jobs.drain();
   * expect(jobs.succeeded().map((j) => j.type)).toEqual(["send-welcome"]);
   * ```
   */
  succeeded(): FinishedJob[] {
    return this.#store.finishedJobs("succeeded");
  }

  /**
   * Jobs that failed their last attempt and are kept as failed, with every attempt's error text
   * (`errors`) and the last thrown value (`thrown`).
   *
   * @example
   * ```ts
   * await jobs.drain();
   * expect(jobs.failed()[0]?.thrown).toBeInstanceOf(MailerDown);
   * ```
   */
  failed(): FinishedJob[] {
    return this.#store.finishedJobs("failed");
  }

  /**
   * Workflows: jobs cancelled because a job they depend on failed for good (`dependsOn`, with
   * `onParentFailure: "cancel"`, the default), in the order they were cancelled. They never
   * ran: `attempts` is 0 and `lastError` says why, as in the real queue's history.
   *
   * @example
   * ```ts
   * await jobs.drain();
   * expect(jobs.cancelled().map((j) => j.type)).toEqual(["resize", "notify"]);
   * ```
   */
  cancelled(): FinishedJob[] {
    return this.#store.finishedJobs("cancelled");
  }

  /**
   * Forgets all jobs (queued, succeeded, failed) and restarts ids at 1. Handlers stay registered.
   *
   * @example
   * ```ts
   * beforeEach(() => jobs.reset());
   * ```
   */
  reset(): void {
    this.#store.reset();
  }

  // ---------------------------------------------------------------------------------------------
  // Running

  /**
   * Runs each job that is due now (`runAt <= Date.now()`, so fake timers apply) once, through
   * the registered handlers, in the real queue's order: priority, then runAt, then id. Jobs that
   * handlers enqueue, retries (which are due after a backoff), snoozed jobs, and jobs released by
   * the jobs they depend on (`dependsOn`), wait for the next call.
   * @throws NoHandlerError (before running anything) when a due job's type has no handler
   *
   * @example
   * ```ts
   * await jobs.enqueue(SendWelcome(payload));
   * await jobs.runAll();
   * jobs.assert().empty();
   * ```
   */
  async runAll(): Promise<RunSummary> {
    const summary: RunSummary = { rounds: 0, attempts: 0, succeeded: 0, retried: 0, failed: 0 };
    const now = Date.now();
    const due = this.#runnable().filter((job) => job.runAt.getTime() <= now);
    if (due.length > 0) {
      summary.rounds = 1;
      await this.#runRound(due, summary);
    }
    return summary;
  }

  /**
   * Runs everything until nothing is queued: future jobs too, jobs the handlers enqueue, and
   * retries, until each job succeeds or fails its last attempt (`failed()` lists those). Each
   * round runs the jobs queued at its start, in the real queue's order.
   *
   * Workflows (`dependsOn`) run as on the real queue: a job runs in a round after all the jobs
   * it depends on have succeeded (`ctx.parentResult(Type)` reads their results). When one of
   * them fails for good, it is cancelled (`cancelled()`), and so are the jobs depending on it,
   * unless it was enqueued with `onParentFailure: "run"`: that parent then counts as done.
   * @throws DrainLimitError after `maxRounds` rounds with jobs still queued
   * @throws NoHandlerError (before running the round) when a job's type has no handler
   *
   * @example
   * ```ts
   * await signUp({ jobs, users }, "ada@example.com");
   * await jobs.drain();
   * expect(mailer.sent).toHaveLength(1);
   * ```
   */
  async drain(options?: DrainOptions): Promise<RunSummary> {
    const what = "drain() options";
    const o = objectOrEmpty(options, what);
    rejectUnknownKeys(o, DRAIN_KEYS, what);
    const maxRounds = o.maxRounds === undefined ? 100 : integerOption(o.maxRounds, "maxRounds", 1, 1_000_000, what);
    const summary: RunSummary = { rounds: 0, attempts: 0, succeeded: 0, retried: 0, failed: 0 };
    for (;;) {
      const round = this.#runnable();
      if (round.length === 0) return summary;
      if (summary.rounds === maxRounds) throw new DrainLimitError(maxRounds, countByType(round));
      summary.rounds++;
      await this.#runRound(round, summary);
    }
  }

  /** Live jobs no run is holding and not waiting for jobs they depend on, in run order. */
  #runnable(): StoredJob[] {
    return this.#store
      .liveJobs()
      .filter((job) => !job.running && job.pending === 0)
      .sort(runOrder);
  }

  async #runRound(round: StoredJob[], summary: RunSummary): Promise<void> {
    // Check the whole round first: a missing handler fails the call before any job runs.
    for (const job of round) {
      if (!this.#handlers.has(job.type)) {
        throw new NoHandlerError(job.type, round.filter((j) => j.type === job.type).length, [...this.#handlers.keys()]);
      }
    }
    for (const job of round) await this.#runOne(job, summary);
  }

  async #runOne(job: StoredJob, summary: RunSummary): Promise<void> {
    const handler = this.#handlers.get(job.type);
    if (handler === undefined || !this.#store.claim(job)) return; // gone since the round began
    const run: Run = { job, attempt: job.attempts + 1, ended: false, completed: false, completing: undefined };
    const { attempt } = run;
    summary.attempts++;
    const leaseTimeout = this.#leaseTimeouts.get(job.type);
    const outcome =
      leaseTimeout === undefined
        ? await this.#runInTransaction(run, handler as Handler<unknown, TX, unknown>)
        : await this.#runLeased(run, handler as LeaseHandler<unknown, TX, unknown>, leaseTimeout);
    run.ended = true;
    const now = new Date(Date.now());
    if (outcome.ok) {
      // A lease-mode job that completed in complete() has succeeded already, with its result.
      if (!run.completed) this.#store.succeed(job, attempt, now, outcome.result);
      summary.succeeded++;
      this.#emit({ kind: "succeeded", jobId: job.id, type: job.type, queue: job.queue, attempt });
      return;
    }
    if (outcome.error instanceof JobSnooze) {
      // As in the real queue: again after the delay, this attempt not counted.
      this.#store.snooze(job, new Date(now.getTime() + outcome.error.delayMs));
      this.#emit({ kind: "snoozed", jobId: job.id, type: job.type, queue: job.queue, attempt });
      return;
    }
    const text = describeError(outcome.error);
    const retryAt = new Date(now.getTime() + backoffDelay(BACKOFF, attempt));
    const final = attempt >= job.maxAttempts || outcome.error instanceof UnrecoverableError;
    const kind = this.#store.fail(job, attempt, text, outcome.error, now, retryAt, final);
    if (kind === "failed") summary.failed++;
    else summary.retried++;
    this.#emit({ kind, jobId: job.id, type: job.type, queue: job.queue, attempt, error: text });
  }

  /** A transaction-mode attempt: its enqueues commit when the handler returns, and roll back when it throws. */
  async #runInTransaction(run: Run, handler: Handler<unknown, TX, unknown>): Promise<Outcome> {
    const { job } = run;
    const tx = this.#store.begin();
    let result: StoredPayload | undefined;
    try {
      const payload = decodePayload(job);
      const context: HandlerContext<TX> = { ...this.#context(run), tx: this.#txFor() };
      const returned = await this.#attempt.run(tx, () => handler(payload, context));
      // A snooze is not a success: the attempt's writes roll back, as in the real worker.
      if (returned instanceof JobSnooze) throw returned;
      // As in the real worker: a value that cannot be stored fails the attempt.
      result = serializeResult(returned, job.type, this.#maxPayloadBytes);
    } catch (error) {
      this.#store.rollback(tx);
      return { ok: false, error };
    }
    this.#commit(tx);
    return { ok: true, result };
  }

  /**
   * A lease-mode attempt: no transaction of its own (what the handler enqueues outside a
   * `transaction()` is visible at once, as with `prisma.$jobs` outside a transaction); it ends
   * when `ctx.complete(tx)` commits or the handler returns. Its lease never expires here.
   */
  async #runLeased(run: Run, handler: LeaseHandler<unknown, TX, unknown>, leaseTimeout: number): Promise<Outcome> {
    const { job } = run;
    try {
      const payload = decodePayload(job);
      const context: LeaseHandlerContext<TX, unknown> = {
        ...this.#context(run),
        // Renewed all along: no timers here, and no other worker to take it over.
        get leaseExpiresAt() {
          return new Date(Date.now() + leaseTimeout);
        },
        complete: async (_tx: TX, ...result: unknown[]) => this.#complete(run, result[0]),
      };
      const returned = await handler(payload, context);
      // Completed: what the handler returns is not stored again (as in the real queue).
      if (run.completed) return { ok: true, result: undefined };
      if (returned instanceof JobSnooze) return { ok: false, error: returned };
      return { ok: true, result: serializeResult(returned, job.type, this.#maxPayloadBytes) };
    } catch (error) {
      // A throw after complete() committed changes nothing: the job has succeeded.
      return run.completed ? { ok: true, result: undefined } : { ok: false, error };
    }
  }

  /** What handlers of either mode get besides `tx` or `complete`. */
  #context(run: Run): JobContext {
    const { job } = run;
    return {
      jobId: job.id,
      attempt: run.attempt,
      maxAttempts: job.maxAttempts,
      // Timeouts (and, in lease mode, cancels and lost leases) do not happen in memory: the signal never aborts.
      signal: new AbortController().signal,
      queue: job.queue,
      runAt: new Date(job.runAt),
      createdAt: new Date(job.createdAt),
      progress: (value) => {
        // Validated at the call, like the real worker's: a bad value throws here, not later.
        const text = progressText(job.id, value);
        if (!run.ended) this.#store.setProgress(job, text);
        return Promise.resolve();
      },
      parentResult: async <P, R>(type: JobType<P, R>) => {
        if (!isJobType(type)) throw new InvalidJobError(`parentResult expects a job type from defineJob(), got ${typeof type}`);
        return this.#store.parentResult(job.id, type.name) as R | undefined;
      },
    };
  }

  /**
   * `ctx.complete(tx, result)` of a lease-mode attempt: completes the job with `result` now, or
   * when the `transaction()` it is called in commits. Refused, like the real worker's fenced
   * finish, once the attempt no longer holds the job.
   * @throws InvalidResultError, LeaseLostError
   */
  #complete(run: Run, value: unknown): void {
    const { job, attempt } = run;
    const result = serializeResult(value, job.type, this.#maxPayloadBytes);
    // Completed already (or about to be, by an open transaction), or the attempt is over: the
    // real queue's fenced finish finds the job no longer this attempt's.
    if (run.completed || run.completing?.open || run.ended) throw new LeaseLostError(job.id, attempt, "taken over");
    // Gone while it ran: reset(), the in-memory counterpart of a cancel or delete.
    if (!this.#store.holds(job)) throw new LeaseLostError(job.id, attempt, "cancelled");
    const finish = () => {
      if (run.ended || !this.#store.holds(job)) return;
      this.#store.succeed(job, attempt, new Date(Date.now()), result);
      run.completed = true;
    };
    const tx = this.#attempt.getStore();
    if (tx?.open) {
      run.completing = tx;
      tx.onCommit.push(finish);
    } else {
      finish();
    }
  }

  /** Commits a transaction: its enqueues become live, then what waited for the commit runs. */
  #commit(tx: MemoryTransaction): void {
    this.#store.commit(tx);
    for (const after of tx.onCommit) after();
  }

  #txFor(): TX {
    const tx = this.#tx;
    return typeof tx === "function" ? (tx as (jobs: TestingJobs<TX>) => TX)(this) : (tx as TX);
  }

  #emit(event: TestingJobEvent): void {
    this.#events.emit(event.kind, event);
  }
}

/** One attempt in progress: what its context's calls check. */
interface Run {
  readonly job: StoredJob;
  readonly attempt: number;
  /** The handler has returned or thrown: late calls (progress, complete) change nothing. */
  ended: boolean;
  /** Lease mode: `complete()` has committed, the job has succeeded with its result. */
  completed: boolean;
  /** Lease mode: the transaction `complete()` was called in, until it commits (or rolls back). */
  completing: MemoryTransaction | undefined;
}

/** How a handler's attempt ended: the result to store, or what it threw. */
type Outcome = { ok: true; result: StoredPayload | undefined } | { ok: false; error: unknown };

function countByType(jobs: readonly StoredJob[]): QueuedCount[] {
  const counts = new Map<string, number>();
  for (const job of jobs) counts.set(job.type, (counts.get(job.type) ?? 0) + 1);
  return [...counts].map(([type, count]) => ({ type, count })).sort((a, b) => b.count - a.count);
}

/**
 * Creates an in-memory testing queue: see {@link TestingJobs}. One per test file, `reset()`
 * between tests; or one per test when its handlers close over that test's fakes (a second
 * `register` of another handler for a job type is refused, as on the real queue).
 *
 * @typeParam TX what handlers receive as `tx`; default `unknown` (handlers get `undefined`
 *   unless the `tx` option provides a fake)
 * @throws InvalidOptionsError, InvalidNameError for bad options
 *
 * @example
 * ```ts
 * import { createTestingJobs } from "arrower-jobs/testing";
 *
 * const jobs = createTestingJobs();
 * await signUp({ jobs, users }, "ada@example.com"); // app code that takes an Enqueuer
 * jobs.assert().queued(SendWelcome, 1);
 * ```
 */
export function createTestingJobs<TX = unknown>(options?: TestingJobsOptions<TX>): TestingJobs<TX> {
  return new TestingJobs<TX>(options);
}
