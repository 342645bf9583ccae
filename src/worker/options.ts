/**
 * Queue (worker pool) options, their defaults and their validation.
 */
import { hostname } from "node:os";
import { closest, describeValue, integerOption, objectOrEmpty, rejectLoneSurrogate, rejectUnknownKeys, validateQueueName } from "../config.ts";
import { InvalidOptionsError } from "../errors.ts";
import { resolveBackoff, type BackoffOptions } from "../backoff.ts";
import { resolveLimits, type LimitOptions, type ResolvedLimits } from "../limits.ts";

/** Claim order of a pool. */
export type Strategy = "priority" | "time";

/**
 * Options of `prisma.$jobs.queue(name, options)`.
 */
export interface QueueOptions extends LimitOptions {
  /** Jobs run at once, each holding one connection for its transaction. Default 10. */
  poolSize?: number;
  /**
   * Batched mode: each worker claims up to this many due jobs in one transaction, runs them one
   * after another, each handler in a savepoint of its own (a failing job rolls back only its own
   * writes and records its own failure), and commits once. At most 50; default 1 (a transaction
   * per job). For short jobs: the commit's cost is shared. Not for long ones: the batch's row
   * locks and its transaction stay open until its last job ends, and a worker that dies mid-batch
   * runs the whole batch again.
   */
  batchSize?: number;
  /** Polling interval, ms: a safety net, since new jobs wake idle workers at once. Default 5,000. */
  pollInterval?: number;
  /** Name of this pool in `status` and the UI. Default: host name and pid. */
  poolName?: string;
  /** `"priority"`: lowest priority first, then run_at; `"time"`: run_at only. Default `"priority"`. */
  strategy?: Strategy;
  /** Retry delays. */
  backoff?: BackoffOptions;
  /** How long `shutdown()` waits for running jobs before aborting them, ms. Default 30,000. */
  shutdownDeadline?: number;
  /** Debounce of the automatic start after `register`, ms. Default 100. */
  autoStartDelay?: number;
  /**
   * History retention for this queue, ms: finished jobs older than this are pruned by the
   * maintenance loop. Default: succeeded and cancelled 7 days, failed 30 days. Stored for the
   * queue when the pool starts, so every process's pruner (and `prune()`) applies it, also one
   * that runs no pool of this queue; a pool without it stores the defaults.
   *
   * `succeeded: 0` keeps no succeeded jobs: this pool deletes a job's row when it succeeds
   * instead of moving it to history (like graphile-worker, or BullMQ's `removeOnComplete`).
   * Its events and metrics still report it. The fastest setting for many short jobs: history's
   * indexes are most of a batched no-op job's database time. Failed jobs still go to history
   * (`failed: 0` prunes them at the next round).
   */
  retention?: { succeeded?: number; failed?: number };
  /**
   * At most this many jobs of one group (enqueue's `group`, e.g. a tenant) run at once in this
   * queue, across all processes: 1 to 10,000. Jobs without a group are not limited. One
   * tenant's backlog then leaves workers for the others.
   */
  groupConcurrency?: number;
}

/** Options with defaults applied. */
export interface ResolvedQueueOptions {
  poolSize: number;
  batchSize: number;
  pollInterval: number;
  poolName: string;
  strategy: Strategy;
  backoff: Required<BackoffOptions>;
  shutdownDeadline: number;
  autoStartDelay: number;
  retention: { succeeded?: number; failed?: number } | undefined;
  /** The queue's limits across all processes (`concurrency`, `rateLimit`), if any. */
  limits: ResolvedLimits | undefined;
  groupConcurrency: number | undefined;
}

const KEYS = ["poolSize", "batchSize", "pollInterval", "poolName", "strategy", "backoff", "shutdownDeadline", "autoStartDelay", "retention", "concurrency", "rateLimit", "groupConcurrency"] as const;

/** Validates queue options. */
export function resolveQueueOptions(name: unknown, input: unknown): ResolvedQueueOptions {
  validateQueueName(name);
  const what = `queue("${name}") options`;
  const o = objectOrEmpty(input, what);
  rejectUnknownKeys(o, KEYS, what);
  const backoff = resolveBackoff(o.backoff, what);
  const retention = objectOrEmpty(o.retention, `${what}: retention`);
  rejectUnknownKeys(retention, ["succeeded", "failed"], `${what}: retention`);
  for (const key of ["succeeded", "failed"] as const) {
    if (retention[key] !== undefined) integerOption(retention[key], key, 0, 3_153_600_000_000, `${what}: retention`);
  }
  return {
    poolSize: o.poolSize === undefined ? 10 : integerOption(o.poolSize, "poolSize", 1, 1000, what),
    // PostgreSQL keeps 64 subtransactions per backend in shared memory; past that every session's
    // visibility checks slow down. A batch's savepoints stay below it.
    batchSize: o.batchSize === undefined ? 1 : integerOption(o.batchSize, "batchSize", 1, 50, what),
    pollInterval: o.pollInterval === undefined ? 5000 : integerOption(o.pollInterval, "pollInterval", 10, 86_400_000, what),
    poolName: o.poolName === undefined ? `${hostname()}:${process.pid}` : poolNameOption(o.poolName, what),
    strategy: o.strategy === undefined ? "priority" : strategyOption(o.strategy, what),
    backoff,
    shutdownDeadline: o.shutdownDeadline === undefined ? 30_000 : integerOption(o.shutdownDeadline, "shutdownDeadline", ...SHUTDOWN_DEADLINE_RANGE, what),
    autoStartDelay: o.autoStartDelay === undefined ? 100 : integerOption(o.autoStartDelay, "autoStartDelay", 0, 60_000, what),
    retention: o.retention === undefined ? undefined : (retention as { succeeded?: number; failed?: number }),
    limits: resolveLimits(o, what),
    groupConcurrency: o.groupConcurrency === undefined ? undefined : integerOption(o.groupConcurrency, "groupConcurrency", 1, 10_000, what),
  };
}

/** Range of a shutdown deadline, ms: it arms a timer, which must stay under Node's 2^31 − 1 ms. */
const SHUTDOWN_DEADLINE_RANGE = [0, 86_400_000] as const;

/**
 * Validates `shutdown(options)` and returns its deadline, or undefined for the queue's own. A
 * deadline of 2^31 ms overflowed its timer and aborted running jobs at once (issue 16).
 */
export function resolveShutdownDeadline(input: unknown): number | undefined {
  const what = "shutdown options";
  const options = objectOrEmpty(input, what);
  rejectUnknownKeys(options, ["deadline"], what);
  return options.deadline === undefined ? undefined : integerOption(options.deadline, "deadline", ...SHUTDOWN_DEADLINE_RANGE, what);
}

// Both used to be taken as given: `strategy: "fifo"` silently ran as "priority", and a number or
// an empty string became the pool's name (found by test/faults/bad-input.test.ts).
const STRATEGIES: readonly Strategy[] = ["priority", "time"];

function strategyOption(value: unknown, what: string): Strategy {
  if (STRATEGIES.includes(value as Strategy)) return value as Strategy;
  const suggestion = typeof value === "string" ? closest(value, STRATEGIES) : undefined;
  throw new InvalidOptionsError(
    "strategy",
    `${what}: strategy must be "priority" (priority, then run_at) or "time" (run_at only), got ${describeValue(value)}${suggestion ? `; did you mean "${suggestion}"?` : ""}`,
  );
}

function poolNameOption(value: unknown, what: string): string {
  if (typeof value === "string" && value.length > 0 && value.length <= 200 && !value.includes("\u0000")) {
    rejectLoneSurrogate(value, "poolName", what, "names");
    return value;
  }
  throw new InvalidOptionsError("poolName", `${what}: poolName must be a non-empty string of at most 200 characters, got ${describeValue(value)}`);
}

/** The delay before attempt `attempt + 1`, after `attempt` failed. */
export function backoffDelay(backoff: Required<BackoffOptions>, attempt: number, random: () => number = Math.random): number {
  const exponential = Math.min(backoff.maxDelay, backoff.baseDelay * 2 ** Math.min(attempt - 1, 40));
  const spread = exponential * backoff.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(exponential + spread));
}
