/**
 * Validation of names and options. Configuration mistakes fail at the call site with a typed
 * error that says what is wrong and how to fix it; nothing is written before validation passes.
 */
import { InvalidNameError, InvalidOptionsError } from "./errors.ts";

/** Longest job-type name; names are stored with every job, so keep them short. */
export const MAX_JOB_NAME_LENGTH = 128;
/** Longest queue name. */
export const MAX_QUEUE_NAME_LENGTH = 64;
/** Longest dedup key. */
export const MAX_DEDUP_KEY_LENGTH = 512;

const NAME_PATTERN = /^[A-Za-z0-9_\-.:/]+$/;
const INT4_MAX = 2_147_483_647;

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Refuses a string that would be stored as text with half a UTF-16 surrogate pair in it (a string
 * cut in the middle of an emoji, say). The driver encodes it as U+FFFD, so two different strings
 * became one: the second of two such dedup keys silently returned the first job (issue 16).
 * @param plural what collides, e.g. "keys"
 */
export function rejectLoneSurrogate(value: string, name: string, what: string, plural: string): void {
  if (!LONE_SURROGATE.test(value)) return;
  throw new InvalidOptionsError(
    name,
    `${what}: ${name} ${JSON.stringify(value)} contains a lone UTF-16 surrogate (half of a character such as an emoji), which PostgreSQL would store as U+FFFD, so different ${plural} would collide: pass whole characters (cut strings with Array.from, not slice)`,
  );
}

/** Checks a job-type name: non-empty, bounded, letters, digits and `_ - . : /`. */
export function validateJobName(name: unknown): asserts name is string {
  validateName(name, "job type name", MAX_JOB_NAME_LENGTH);
}

/** Checks a queue name: non-empty, bounded, letters, digits and `_ - . : /`. */
export function validateQueueName(name: unknown): asserts name is string {
  validateName(name, "queue name", MAX_QUEUE_NAME_LENGTH);
}

function validateName(name: unknown, what: string, max: number): void {
  if (typeof name !== "string") throw new InvalidNameError(`${what} must be a string, got ${typeof name}`);
  if (name.length === 0) throw new InvalidNameError(`${what} must not be empty`);
  if (name.length > max) {
    throw new InvalidNameError(`${what} "${name.slice(0, 40)}…" is ${name.length} characters long, the limit is ${max}`);
  }
  if (!NAME_PATTERN.test(name)) {
    throw new InvalidNameError(
      `${what} "${name}" may only contain letters, digits and _ - . : / (found ${JSON.stringify(firstBad(name))})`,
    );
  }
}

function firstBad(name: string): string {
  for (const ch of name) if (!NAME_PATTERN.test(ch)) return ch;
  return "";
}

/**
 * Rejects keys that are not in `allowed`, suggesting the closest known key.
 * Why: a misspelt option (`priorty`) silently ignored is a bug found in production.
 */
export function rejectUnknownKeys(options: object, allowed: readonly string[], what: string): void {
  for (const key of Object.keys(options)) {
    if (allowed.includes(key)) continue;
    const suggestion = closest(key, allowed);
    throw new InvalidOptionsError(
      key,
      `unknown option "${key}" for ${what}${suggestion ? `, did you mean "${suggestion}"?` : `; known options: ${allowed.join(", ")}`}`,
    );
  }
}

/** The candidate within edit distance 2 (or a case-insensitive match), if any. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = candidate.toLowerCase() === word.toLowerCase() ? 0 : editDistance(word, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = current;
    }
  }
  return row[b.length]!;
}

/** Must be a plain object (or undefined → `{}`). */
export function objectOrEmpty(options: unknown, what: string): Record<string, unknown> {
  if (options === undefined) return {};
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new InvalidOptionsError("options", `${what} must be an object, got ${options === null ? "null" : Array.isArray(options) ? "an array" : typeof options}`);
  }
  return options as Record<string, unknown>;
}

/**
 * An integer in [min, max].
 * @param maxNote the maximum in words, for the message, e.g. "24 days"
 */
export function integerOption(value: unknown, name: string, min: number, max: number, what: string, maxNote?: string): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new InvalidOptionsError(name, `${what}: ${name} must be an integer, got ${describeValue(value)}`);
  }
  if (value < min || value > max) {
    throw new InvalidOptionsError(name, `${what}: ${name} must be between ${min} and ${max}${maxNote ? ` (${maxNote})` : ""}, got ${value}`);
  }
  return value;
}

/**
 * The earliest instant a PostgreSQL timestamptz holds (4713 BC); the latest (294276 AD) is past
 * JavaScript's last Date. An earlier Date failed in the INSERT with a raw "timestamp out of
 * range" that aborted the caller's transaction (found by test/faults/bad-input.test.ts).
 */
const MIN_TIMESTAMP_MS = Date.UTC(-4712, 0, 1);

/** A valid Date that PostgreSQL can store. */
export function dateOption(value: unknown, name: string, what: string): Date {
  if (!(value instanceof Date)) {
    throw new InvalidOptionsError(name, `${what}: ${name} must be a Date, got ${describeValue(value)}`);
  }
  if (Number.isNaN(value.getTime())) throw new InvalidOptionsError(name, `${what}: ${name} is an invalid Date`);
  if (value.getTime() < MIN_TIMESTAMP_MS) {
    throw new InvalidOptionsError(name, `${what}: ${name} ${value.toISOString()} is before 4713 BC, the earliest time PostgreSQL can store`);
  }
  return value;
}

export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "string") return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value)}`;
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") return `${typeof value} ${String(value)}`;
  return typeof value;
}

const DEFAULT_KEYS = ["queue", "priority", "maxAttempts", "timeout"] as const;

/** Range of `priority`: PostgreSQL `int4`, lower runs first. */
export const PRIORITY_RANGE = [-INT4_MAX, INT4_MAX] as const;
/** Range of `maxAttempts`. */
export const MAX_ATTEMPTS_RANGE = [1, 1_000_000] as const;
/**
 * The longest delay Node's timers take: 2^31 − 1 ms (24.8 days). A longer one fires after 1 ms,
 * so every ms option that ends up in a timer must stay below it.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * Range of `timeout` in ms: at least 1 ms, at most 24 days. The worker arms timers of the timeout
 * plus margins (its abort grace, the handler transaction's timeout: src/worker/executor.ts):
 * up to 2^31 − 1 they overflowed, and the handler's transaction expired after 1 ms (issue 16).
 */
export const TIMEOUT_RANGE = [1, 24 * 86_400_000] as const;
const TIMEOUT_NOTE = "24 days";

/** Options a job type can set as defaults for its jobs; enqueue options override them. */
export interface JobDefaults {
  /** Queue the job goes to. Default `"default"`. */
  queue?: string;
  /** Lower runs first. Default `0`. */
  priority?: number;
  /** Attempts before the job is kept as failed. Default `25`. */
  maxAttempts?: number;
  /** Milliseconds an attempt may run before its `signal` aborts. Default `30_000`. */
  timeout?: number;
}

/** Validates job defaults (also the shared part of enqueue options). */
export function validateJobDefaults(input: unknown, what: string): JobDefaults {
  const options = objectOrEmpty(input, what);
  rejectUnknownKeys(options, DEFAULT_KEYS, what);
  return pickDefaults(options, what);
}

function pickDefaults(options: Record<string, unknown>, what: string): JobDefaults {
  const out: JobDefaults = {};
  if (options.queue !== undefined) {
    validateQueueName(options.queue);
    out.queue = options.queue;
  }
  if (options.priority !== undefined) out.priority = integerOption(options.priority, "priority", ...PRIORITY_RANGE, what);
  if (options.maxAttempts !== undefined) {
    out.maxAttempts = integerOption(options.maxAttempts, "maxAttempts", ...MAX_ATTEMPTS_RANGE, what);
  }
  if (options.timeout !== undefined) out.timeout = integerOption(options.timeout, "timeout", ...TIMEOUT_RANGE, what, TIMEOUT_NOTE);
  return out;
}

/**
 * Options of one `enqueue` call; they apply to every job of the call and override the job
 * type's defaults.
 */
export interface EnqueueOptions extends JobDefaults {
  /** When the job becomes due. Default: now (database clock). */
  runAt?: Date;
  /**
   * A key that makes the enqueue idempotent: while a job with the same key is live (queued,
   * scheduled or running) in the same queue, enqueueing another is a no-op that returns the
   * live job's id. Once the job has finished, the key is free again.
   */
  dedupKey?: string;
  /**
   * The group the jobs belong to, e.g. a tenant's id: a queue with `groupConcurrency` runs at
   * most that many jobs of one group at once, so one group's backlog cannot take every worker.
   */
  group?: string;
}

const ENQUEUE_KEYS = [...DEFAULT_KEYS, "runAt", "dedupKey", "group"] as const;

/** Validates enqueue options. */
export function validateEnqueueOptions(input: unknown): EnqueueOptions {
  const what = "enqueue options";
  const options = objectOrEmpty(input, what);
  rejectUnknownKeys(options, ENQUEUE_KEYS, what);
  const out: EnqueueOptions = pickDefaults(options, what);
  if (options.runAt !== undefined) out.runAt = dateOption(options.runAt, "runAt", what);
  if (options.dedupKey !== undefined) {
    const key = options.dedupKey;
    if (typeof key !== "string" || key.length === 0 || key.length > MAX_DEDUP_KEY_LENGTH || key.includes("\u0000")) {
      throw new InvalidOptionsError(
        "dedupKey",
        `${what}: dedupKey must be a non-empty string of at most ${MAX_DEDUP_KEY_LENGTH} characters without \\u0000, got ${describeValue(key)}`,
      );
    }
    rejectLoneSurrogate(key, "dedupKey", what, "keys");
    out.dedupKey = key;
  }
  if (options.group !== undefined) {
    const group = options.group;
    if (typeof group !== "string" || group.length === 0 || group.length > 200 || group.includes("\u0000")) {
      throw new InvalidOptionsError("group", `${what}: group must be a non-empty string of at most 200 characters without \\u0000, got ${describeValue(group)}`);
    }
    rejectLoneSurrogate(group, "group", what, "keys");
    out.group = group;
  }
  return out;
}
