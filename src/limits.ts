/**
 * Limits on a job type or a queue, cluster-wide: how many of its jobs run at once
 * (`concurrency`), and how many start per period (`rateLimit`). Values here; the worker
 * enforces them (src/worker/limits.ts).
 */
import { describeValue, integerOption, objectOrEmpty, rejectUnknownKeys } from "./config.ts";
import { InvalidOptionsError } from "./errors.ts";

/** At most `max` jobs start per `per` milliseconds (a fixed window), across all processes. */
export interface RateLimit {
  /** Jobs that may start per window: 1 to 1,000,000. */
  max: number;
  /** The window, ms: 10 ms to 24 days. */
  per: number;
}

/** The limits a job type (`defineJob`) or a queue (`queue(name, options)`) may set. */
export interface LimitOptions {
  /**
   * At most this many jobs (of the type, or of the queue) run at once across all processes:
   * 1 to 10,000. Each running job holds one of that many slots, a PostgreSQL advisory lock of
   * its transaction (lease mode: of its worker's connection), so a worker that dies frees its
   * slot at once.
   */
  concurrency?: number;
  /** At most `max` jobs start per `per` ms, across all processes. */
  rateLimit?: RateLimit;
}

/** Limits as validated: undefined members are not limited. */
export interface ResolvedLimits {
  concurrency?: number;
  rateLimit?: RateLimit;
}

/** Validates the `concurrency` and `rateLimit` members of `options`; undefined when neither is set. */
export function resolveLimits(options: Record<string, unknown>, what: string): ResolvedLimits | undefined {
  const out: ResolvedLimits = {};
  if (options.concurrency !== undefined) out.concurrency = integerOption(options.concurrency, "concurrency", 1, 10_000, what);
  if (options.rateLimit !== undefined) {
    if (typeof options.rateLimit !== "object" || options.rateLimit === null) {
      throw new InvalidOptionsError("rateLimit", `${what}: rateLimit must be { max, per } (e.g. { max: 100, per: 60_000 }: 100 jobs a minute), got ${describeValue(options.rateLimit)}`);
    }
    const rate = objectOrEmpty(options.rateLimit, `${what}: rateLimit`);
    rejectUnknownKeys(rate, ["max", "per"], `${what}: rateLimit`);
    if (rate.max === undefined || rate.per === undefined) {
      throw new InvalidOptionsError("rateLimit", `${what}: rateLimit needs both max and per (e.g. { max: 100, per: 60_000 }: 100 jobs a minute)`);
    }
    out.rateLimit = {
      max: integerOption(rate.max, "max", 1, 1_000_000, `${what}: rateLimit`),
      per: integerOption(rate.per, "per", 10, 24 * 86_400_000, `${what}: rateLimit`, "24 days"),
    };
  }
  return out.concurrency === undefined && out.rateLimit === undefined ? undefined : out;
}
