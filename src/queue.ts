/**
 * The public face of a worker pool: `prisma.$jobs.queue(name, options)` returns a {@link Queue}.
 */
import type { Enqueuer, Scheduler } from "./client.ts";
import type { Job, JobType } from "./job.ts";
import type { JobSnooze } from "./outcomes.ts";
import type { RegisteredTransaction } from "./prisma/extension.ts";

/** What happened to an attempt; the payload of a queue's job events. */
export interface JobEvent {
  /** `succeeded`; `retrying` (failed, will run again); `failed` (final); `crashed` (its worker died); `snoozed`. */
  kind: "succeeded" | "retrying" | "failed" | "crashed" | "snoozed";
  jobId: string;
  type: string;
  queue: string;
  attempt: number;
  /** The error text as stored in history (failures and crashes). */
  error?: string;
  /** How long the handler ran (succeeded). */
  durationMs?: number;
}

/** What a handler receives besides its payload. */
export interface HandlerContext<TX> {
  /**
   * The job's transaction client: the handler's writes commit exactly when the job succeeds,
   * and roll back (to a savepoint) when it throws. Enqueue follow-up jobs with `tx.$jobs`.
   *
   * It opens on first use: until then `tx` records what the handler does and replays it on the
   * real transaction client when the result is awaited. Everything Prisma returns as a promise
   * (model queries, `$queryRaw`, `$executeRaw`, `$transaction`, `$jobs.enqueue`, async methods
   * of your client extensions) works as usual, and a model's `fields` is read at once. The one
   * difference: a client extension's *synchronous* member returns a promise-like value on `tx`,
   * not the value its type says — `await` it (`const tenant = await tx.$tenant()`), or read it
   * from your root client.
   */
  tx: TX;
  /** The job's id. */
  jobId: string;
  /** This attempt's number, from 1. */
  attempt: number;
  /** Attempts allowed before the job is kept as failed. */
  maxAttempts: number;
  /** Aborted when the job's timeout runs out or the pool shuts down past its deadline. */
  signal: AbortSignal;
  /** The queue the job is in. */
  queue: string;
  /** When the job was due (for a cron job, its tick time). */
  runAt: Date;
  /** When the job was enqueued. */
  createdAt: Date;
}

/**
 * Handles one job type. Return (or resolve) to succeed; throw to fail the attempt, which rolls
 * back the handler's writes and retries the job later with growing backoff.
 *
 * A job type defined with a result type (`defineJob<P, R>`) has a handler that returns R: the
 * value is stored with the finished job in the job's transaction (it commits exactly when the
 * handler's writes do). `undefined` stores nothing.
 * @typeParam R the job type's result type; default `void`
 */
export type Handler<P, TX = unknown, R = void> = (
  payload: P,
  context: HandlerContext<TX>,
) => Promise<R | JobSnooze> | R | JobSnooze;

/**
 * The handler of a job type, for a handler written in a file of its own: the payload comes from
 * the job type, `tx` from your registered client (see `Register`).
 *
 * @example
 * ```ts
 * // jobs/send-welcome.ts
 * export const sendWelcome: HandlerFor<typeof SendWelcome> = async (job, { tx }) => {
 *   await tx.user.update({ where: { id: job.userId }, data: { welcomedAt: job.at } });
 * };
 * ```
 * @typeParam T the job type: `typeof SendWelcome`
 * @typeParam TX what `tx` is; default your registered client's transaction client
 */
export type HandlerFor<T extends (payload: never) => Job<unknown>, TX = RegisteredTransaction> = T extends JobType<infer P, infer R> ? Handler<P, TX, R> : never;

/** Options of {@link Queue.register}. */
export interface RegisterOptions {
  /** Replace the handler already registered for this job type. Default `false`: that is refused. */
  replace?: boolean;
}

/** Events a queue emits. */
export interface QueueEvents {
  /** A pool error that is not a job's: a failed automatic start, a lost connection. */
  error: (error: Error) => void;
  /** A job succeeded. */
  succeeded: (event: JobEvent) => void;
  /** An attempt failed; the job will run again after its backoff. */
  retrying: (event: JobEvent) => void;
  /** A job failed for good (last attempt, or UnrecoverableError): alert on this one. */
  failed: (event: JobEvent) => void;
  /** A worker died while running the job; found and counted by the next claimer. */
  crashed: (event: JobEvent) => void;
  /** A handler snoozed its job. */
  snoozed: (event: JobEvent) => void;
}

/**
 * A queue and its worker pool. Enqueue into it, register handlers for the job types it runs;
 * the pool starts shortly after the last `register` (or at `start()`).
 *
 * @example
 * ```ts
 * const queue = prisma.$jobs.queue("default", { poolSize: 10 });
 * await queue.register(SendWelcome, async (job, { tx }) => {
 *   await tx.user.update({ where: { id: job.userId }, data: { welcomedAt: job.at } });
 * });
 * // later, e.g. on SIGTERM
 * await queue.shutdown();
 * ```
 */
export interface Queue<TX = unknown> extends Enqueuer, Scheduler {
  /** The queue's name. */
  readonly name: string;
  /**
   * Registers the handler of a job type. The pool starts on its own after a short debounce
   * (100 ms) from the last `register`; on a running pool, `register` waits for running jobs,
   * restarts the pool and resolves when the restart is done.
   *
   * One handler per job type: registering a different handler for a type that has one rejects
   * with an `InvalidJobError` (two modules handling one type is almost surely a mistake), unless
   * `options.replace` is true. Registering the same handler function again changes nothing.
   * The handler returns what the job type's result type says (`defineJob<P, R>`), stored with
   * the finished job; a handler of a job type without one returns nothing.
   * @throws InvalidJobError, InvalidOptionsError
   */
  register<P, R = void>(type: JobType<P, R>, handler: Handler<P, TX, NoInfer<R>>, options?: RegisterOptions): Promise<void>;
  /** Starts the pool now. Rejects when it cannot start (e.g. not enough connections). Idempotent. */
  start(): Promise<void>;
  /**
   * Stops claiming, waits for running jobs up to the deadline, then aborts their signals and
   * rolls them back (they run again later, the attempt does not count). Safe to call twice.
   * @param options.deadline milliseconds to wait for running jobs; default the queue's `shutdownDeadline`
   */
  shutdown(options?: { deadline?: number }): Promise<void>;
  /** Listens to pool events. */
  on<E extends keyof QueueEvents>(event: E, listener: QueueEvents[E]): this;
  /** Removes a listener. */
  off<E extends keyof QueueEvents>(event: E, listener: QueueEvents[E]): this;
  /** `await using queue = …` shuts the pool down at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
}
