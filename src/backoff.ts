/**
 * Retry delays (backoff) of a job type or a queue: the options, their defaults and their
 * validation. Job values (defineJob) and queue options both take them; the delay they give an
 * attempt is computed by the worker (worker/options.ts, `backoffDelay`).
 */
import { integerOption, objectOrEmpty, rejectUnknownKeys } from "./config.ts";
import { InvalidOptionsError } from "./errors.ts";

/** Retry delays: `min(maxDelay, baseDelay · 2^(attempt-1))`, then ±`jitter` of it at random. */
export interface BackoffOptions {
  /** Delay after the first failed attempt, ms. Default 1,000. */
  baseDelay?: number;
  /** Longest delay, ms. Default 3,600,000 (1 hour). */
  maxDelay?: number;
  /** Random spread as a fraction of the delay, so retries of a burst do not land together. Default 0.2. */
  jitter?: number;
}

const BACKOFF_KEYS = ["baseDelay", "maxDelay", "jitter"] as const;

/** Validates backoff options (of a queue, or of a job type in defineJob) and applies defaults. */
export function resolveBackoff(input: unknown, what: string): Required<BackoffOptions> {
  const backoff = objectOrEmpty(input, `${what}: backoff`);
  rejectUnknownKeys(backoff, BACKOFF_KEYS, `${what}: backoff`);
  const jitter = backoff.jitter ?? 0.2;
  if (typeof jitter !== "number" || !(jitter >= 0 && jitter <= 1)) {
    throw new InvalidOptionsError("jitter", `${what}: backoff.jitter must be a number from 0 to 1, got ${String(jitter)}`);
  }
  const baseDelay = backoff.baseDelay === undefined ? 1000 : integerOption(backoff.baseDelay, "baseDelay", 0, 2_147_483_647, what);
  const maxDelay = backoff.maxDelay === undefined ? 3_600_000 : integerOption(backoff.maxDelay, "maxDelay", 0, 2_147_483_647, what);
  if (maxDelay < baseDelay) {
    throw new InvalidOptionsError("maxDelay", `${what}: backoff.maxDelay (${maxDelay}) must not be below baseDelay (${baseDelay})`);
  }
  return { baseDelay, maxDelay, jitter };
}
