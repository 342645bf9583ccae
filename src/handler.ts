/**
 * Handlers and their outcomes: what a handler receives, the events a queue reports, and the
 * check of a `register` call (the same for the worker pool and the testing queue). Core
 * vocabulary, beside job.ts: the worker pool, the testing queue and the public `Queue`
 * interface (./queue.ts) all stand on it.
 */
import { describeValue, objectOrEmpty, rejectUnknownKeys } from "./config.ts";
import { InvalidJobError, InvalidOptionsError } from "./errors.ts";
import { isJobType, type JobType } from "./job.ts";
import type { JobSnooze } from "./outcomes.ts";

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

/**
 * A value `ctx.progress()` takes: JSON (a number, a string, `{ done: 40, of: 100 }`…), at most
 * 16 KiB as JSON text.
 */
export type ProgressValue = string | number | boolean | null | ProgressValue[] | { [key: string]: ProgressValue };

/** What every handler receives besides its payload, in either mode. */
export interface JobContext {
  /** The job's id. */
  jobId: string;
  /** This attempt's number, from 1. */
  attempt: number;
  /** Attempts allowed before the job is kept as failed. */
  maxAttempts: number;
  /**
   * Aborted when the job's timeout runs out or the pool shuts down past its deadline; in lease
   * mode also when the job is cancelled or its lease is lost.
   */
  signal: AbortSignal;
  /** The queue the job is in. */
  queue: string;
  /** When the job was due (for a cron job, its tick time). */
  runAt: Date;
  /** When the job was enqueued. */
  createdAt: Date;
  /**
   * Reports the job's progress while it runs: the admin API (`getJob(id).progress`), the UI
   * and `arrower-jobs status` show the latest value. It is written at once, outside the job's
   * transaction (inside it, nobody would see it until the job ended), so it stays even when the
   * attempt's writes roll back; it is removed when the job finishes. Calls in quick succession
   * are coalesced: the promise resolves once the value (or a later one) is stored.
   * @throws InvalidProgressError (at the call) for a value that is not JSON or is larger than 16 KiB
   */
  progress(value: ProgressValue): Promise<void>;
  /**
   * Workflows (`dependsOn`): what this job's parent of job type `type` returned (the first one,
   * by id, when it depends on several of that type). undefined when it has no such parent that
   * succeeded (one that failed counts as done only under `onParentFailure: "run"`), or the
   * parent returned nothing.
   * @throws InvalidJobError when `type` is not a job type
   */
  parentResult<P, R>(type: JobType<P, R>): Promise<R | undefined>;
}

/** What a transaction-mode handler receives besides its payload. */
export interface HandlerContext<TX> extends JobContext {
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
}

/**
 * What a lease-mode handler receives besides its payload (`defineJob(name, { mode: "lease" })`).
 * There is no job transaction: the handler uses its own Prisma client and transactions, and
 * can end the job in the last of them with {@link complete}.
 */
export interface LeaseHandlerContext<TX, R = void> extends JobContext {
  /**
   * Completes the job in `tx`, one of your Prisma interactive transactions (`prisma.$transaction(async (tx) => …)`):
   * the job is done exactly when that transaction's writes commit, as in transaction mode. A
   * job's result (`defineJob<P, R>`) goes here. It throws a `LeaseLostError` (and your
   * transaction rolls back) when this worker no longer holds the job: it was cancelled, or its
   * lease expired and another worker took it over. Once it has committed, what the handler
   * returns is not stored again. A handler that never calls it is completed by the worker when
   * it returns, as in transaction mode (the result then being its return value).
   */
  complete(tx: TX, ...result: [R] extends [void] ? [] : [result: R]): Promise<void>;
  /** When the lease expires unless renewed (the pool renews it every third of `leaseTimeout`). */
  readonly leaseExpiresAt: Date;
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
 * Handles one lease-mode job type: runs outside any transaction, for as long as it needs; its
 * lease is renewed meanwhile. Return (the job type's result, if it has one) to succeed, or
 * complete the job in your own transaction with `ctx.complete(tx, result)` and return nothing;
 * throw to fail the attempt, which is retried with backoff.
 * @typeParam R the job type's result type; default `void`
 */
export type LeaseHandler<P, TX = unknown, R = void> = (
  payload: P,
  context: LeaseHandlerContext<TX, R>,
  // void: a handler that completed its job with `complete(tx, result)` has nothing to return.
) => Promise<R | JobSnooze | void> | R | JobSnooze | void;

/** Options of `Queue.register`. */
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
 * Checks a `register(type, handler, options)` call against the handlers a queue (real or
 * testing) already has, before anything changes: one handler per job type, unless `replace`.
 * @throws InvalidJobError, InvalidOptionsError
 */
export function checkRegistration(
  queue: string,
  registered: ReadonlyMap<string, unknown>,
  type: unknown,
  handler: unknown,
  input: unknown,
): void {
  if (!isJobType(type)) throw new InvalidJobError(`register expects a job type from defineJob(), got ${typeof type}`);
  if (typeof handler !== "function") throw new InvalidJobError(`register("${type.name}") expects a handler function, got ${typeof handler}`);
  const what = "register options";
  const options = objectOrEmpty(input, what);
  rejectUnknownKeys(options, ["replace"], what);
  if (options.replace !== undefined && typeof options.replace !== "boolean") {
    throw new InvalidOptionsError("replace", `${what}: replace must be true or false, got ${describeValue(options.replace)}`);
  }
  const existing = registered.get(type.name);
  if (existing !== undefined && existing !== handler && options.replace !== true) {
    throw new InvalidJobError(
      `queue "${queue}" already has a handler for job type "${type.name}": registering another would replace it. ` +
        "Register each job type once per queue, or pass { replace: true } to replace the handler on purpose",
    );
  }
}
