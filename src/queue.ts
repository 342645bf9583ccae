/**
 * The public face of a worker pool: `prisma.$jobs.queue(name, options)` returns a {@link Queue}.
 */
import type { Enqueuer, Scheduler } from "./enqueuer.ts";
import type { Job, JobType, LeaseJobType } from "./job.ts";
import type { Handler, LeaseHandler, QueueEvents, RegisterOptions } from "./handler.ts";
import type { RegisteredTransaction } from "./prisma/register.ts";

export type { Handler, HandlerContext, JobEvent, QueueEvents, RegisterOptions, LeaseHandler, LeaseHandlerContext } from "./handler.ts";

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
export type HandlerFor<T extends (payload: never) => Job<unknown>, TX = RegisteredTransaction> =
  T extends LeaseJobType<infer P, infer R> ? LeaseHandler<P, TX, R> : T extends JobType<infer P, infer R> ? Handler<P, TX, R> : never;

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
   * Registers the handler of a lease-mode job type (`defineJob(name, { mode: "lease" })`): it
   * runs outside any transaction and gets `ctx.complete(tx)` instead of `ctx.tx`.
   */
  register<P, R = void>(type: LeaseJobType<P, R>, handler: LeaseHandler<P, TX, NoInfer<R>>, options?: RegisterOptions): Promise<void>;
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
