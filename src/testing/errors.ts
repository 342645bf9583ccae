/**
 * Errors of the testing queue. Assertion failures are not here: they are `AssertionError`s from
 * `node:assert`, which every test runner recognises and renders; these are the failures of
 * running jobs in memory, typed like the rest of the library's errors.
 */
import { ArrowerJobsError, InvalidOptionsError } from "../errors.ts";

/**
 * What is still queued when a run stops: one entry per job type, for error messages and data.
 *
 * @example
 * ```ts
 * const error = await jobs.drain().catch((e: DrainLimitError) => e);
 * expect(error.remaining).toEqual([{ type: "ping", count: 1 }]);
 * ```
 */
export interface QueuedCount {
  /** The job type's name. */
  type: string;
  /** How many jobs of that type are queued. */
  count: number;
}

/**
 * `drain()` ran `maxRounds` rounds and jobs are still queued: usually a handler that enqueues a
 * job of its own type every time, so the queue never empties.
 *
 * @example
 * ```ts
 * await expect(jobs.drain({ maxRounds: 10 })).rejects.toBeInstanceOf(DrainLimitError);
 * ```
 */
export class DrainLimitError extends ArrowerJobsError {
  /** The limit that was reached. */
  readonly maxRounds: number;
  /** Jobs still queued when drain stopped, per type, most numerous first. */
  readonly remaining: readonly QueuedCount[];

  constructor(maxRounds: number, remaining: readonly QueuedCount[]) {
    const total = remaining.reduce((sum, r) => sum + r.count, 0);
    const list = remaining.map((r) => `"${r.type}" ×${r.count}`).join(", ");
    super(
      "DRAIN_LIMIT",
      `drain() stopped after ${maxRounds} rounds with ${total} job${total === 1 ? "" : "s"} still queued (${list}): ` +
        `a handler that enqueues a job every time it runs never lets the queue empty; ` +
        `if the flow is just long, raise the limit: drain({ maxRounds: ${maxRounds * 10} })`,
    );
    this.maxRounds = maxRounds;
    this.remaining = remaining;
  }
}

/**
 * `runAll()` or `drain()` found a queued job whose type has no handler registered on the testing
 * queue. The real queue would leave such a job queued forever (no pool claims it); in a test
 * that is almost always a forgotten `register`, so it fails loudly. A subclass of
 * {@link InvalidOptionsError} (option `"handlers"`), like the real pool's "no handlers" error.
 *
 * @example
 * ```ts
 * await jobs.register(SendWelcome, sendWelcome); // or drain() throws NoHandlerError
 * await jobs.drain();
 * ```
 */
export class NoHandlerError extends InvalidOptionsError {
  /** The job type with no handler. */
  readonly jobType: string;
  /** The job types that do have one. */
  readonly registered: readonly string[];

  constructor(jobType: string, queued: number, registered: readonly string[]) {
    super(
      "handlers",
      `no handler registered for job type "${jobType}" (${queued} job${queued === 1 ? "" : "s"} queued); ` +
        `registered: ${registered.length === 0 ? "none" : registered.map((t) => `"${t}"`).join(", ")}. ` +
        `Register one before running jobs: await jobs.register(${identifier(jobType)}, handler)`,
    );
    this.jobType = jobType;
    this.registered = registered;
  }
}

/** `send-welcome` → `SendWelcome`: how apps usually name the job type constant. */
function identifier(name: string): string {
  const words = name.split(/[^A-Za-z0-9]+/).filter(Boolean);
  const joined = words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join("");
  return /^[A-Za-z]/.test(joined) ? joined : "JobType";
}
