/**
 * Assertions on what is queued. Failures throw `AssertionError` from `node:assert`: vitest, jest
 * and `node:test` all recognise it and show its message, which says what was expected and lists
 * what is queued (type, queue and payload), so a failing test explains itself without a debugger.
 */
import { AssertionError } from "node:assert";
import { inspect, isDeepStrictEqual } from "node:util";
import { integerOption } from "../config.ts";
import { InvalidJobError } from "../errors.ts";
import { isJob, isJobType, type Job, type JobType } from "../job.ts";
import { roundTripPayload } from "../payload.ts";
import type { QueuedJob } from "./store.ts";

/**
 * Assertions on the jobs queued in a testing queue, as they are when each method is called.
 * Every method returns the assertions again, so they chain.
 *
 * @example
 * ```ts
 * await signUp({ jobs, users }, "ada@example.com");
 * jobs.assert().queuedTotal(2).queued(SendWelcome, 1).contains(TrackSignup({ userId: 1 }));
 * ```
 */
export interface JobAssertions {
  /** Nothing is queued. */
  empty(): JobAssertions;
  /** At least one job is queued. */
  notEmpty(): JobAssertions;
  /** Exactly `count` jobs of `type` are queued (in any queue). */
  queued<P>(type: JobType<P>, count: number): JobAssertions;
  /** Exactly `count` jobs are queued in total. */
  queuedTotal(count: number): JobAssertions;
  /** A job of the same type with a deeply equal payload is queued (`util.isDeepStrictEqual`). */
  contains(job: Job): JobAssertions;
  /** No job of the same type with a deeply equal payload is queued. */
  notContains(job: Job): JobAssertions;
}

/** How many queued jobs a failure message lists before "… and N more". */
export const MAX_LISTED = 10;

/** Assertions over `list()`, read afresh by each method. */
export function createAssertions(list: () => readonly QueuedJob[]): JobAssertions {
  const assertions: JobAssertions = {
    empty() {
      const queued = list();
      if (queued.length > 0) fail(`expected no queued jobs, found ${count(queued.length)}:\n${render(queued)}`, queued.length, 0, "empty", assertions);
      return assertions;
    },
    notEmpty() {
      const queued = list();
      if (queued.length === 0) fail("expected at least one queued job, found none", 0, ">= 1", "notEmpty", assertions);
      return assertions;
    },
    queued(type, expected) {
      const name = jobTypeName(type, "queued");
      integerOption(expected, "count", 0, Number.MAX_SAFE_INTEGER, `assert().queued("${name}", count)`);
      const queued = list();
      const found = queued.filter((job) => job.type === name).length;
      if (found !== expected) {
        fail(`expected ${count(expected)} of type "${name}" queued, found ${found}.\n${listing(queued)}`, found, expected, "queued", assertions);
      }
      return assertions;
    },
    queuedTotal(expected) {
      integerOption(expected, "count", 0, Number.MAX_SAFE_INTEGER, "assert().queuedTotal(count)");
      const queued = list();
      if (queued.length !== expected) {
        fail(`expected ${count(expected)} queued in total, found ${queued.length}.\n${listing(queued)}`, queued.length, expected, "queuedTotal", assertions);
      }
      return assertions;
    },
    contains(job) {
      const { type, payload } = expectedJob(job, "contains");
      const queued = list();
      if (!queued.some((q) => matches(q, type, payload))) {
        // With one candidate, actual is its payload: runners then diff it field by field.
        const candidates = queued.filter((q) => q.type === type).map((q) => q.payload);
        const actual = candidates.length === 1 ? candidates[0] : candidates;
        fail(`expected a queued "${type}" job with payload ${show(payload)}, found none.\n${sameTypeListing(queued, type)}`, actual, payload, "contains", assertions);
      }
      return assertions;
    },
    notContains(job) {
      const { type, payload } = expectedJob(job, "notContains");
      const queued = list();
      const match = queued.find((q) => matches(q, type, payload));
      if (match) {
        fail(`expected no queued "${type}" job with payload ${show(payload)}, found job ${match.id} in queue "${match.queue}".\n${sameTypeListing(queued, type)}`, match.payload, "no such job", "notContains", assertions);
      }
      return assertions;
    },
  };
  return assertions;
}

function fail(message: string, actual: unknown, expected: unknown, operator: keyof JobAssertions, assertions: JobAssertions): never {
  // stackStartFn: the stack starts at the test's call, not inside this module.
  throw new AssertionError({ message, actual, expected, operator, stackStartFn: assertions[operator] });
}

function jobTypeName(type: unknown, method: string): string {
  if (!isJobType(type)) {
    throw new InvalidJobError(`assert().${method}() expects a job type from defineJob(), got ${isJob(type) ? `a job of type "${type.type.name}" (pass the job type itself)` : typeof type}`);
  }
  return type.name;
}

function expectedJob(job: unknown, method: string): { type: string; payload: unknown } {
  if (!isJob(job)) {
    const hint = isJobType(job) ? `the job type "${job.name}" itself, call it with the payload you expect` : typeof job;
    throw new InvalidJobError(`assert().${method}() expects a job, e.g. SendWelcome({ userId: 1 }), got ${hint}`);
  }
  // Compare with what the queue would have stored, so e.g. a registered class instance matches
  // its round-tripped copy. A payload that cannot be stored cannot be queued: compare it as is.
  let payload: unknown;
  try {
    payload = roundTripPayload(job.payload, job.type.name, Number.MAX_SAFE_INTEGER);
  } catch {
    payload = job.payload;
  }
  return { type: job.type.name, payload };
}

function matches(job: QueuedJob, type: string, payload: unknown): boolean {
  return job.type === type && isDeepStrictEqual(job.payload, payload);
}

function count(n: number): string {
  return `${n} job${n === 1 ? "" : "s"}`;
}

function listing(queued: readonly QueuedJob[]): string {
  return queued.length === 0 ? "Nothing is queued." : `Queued (${queued.length}):\n${render(queued)}`;
}

/** Jobs of the type in question in full; the others summarised per type. */
function sameTypeListing(queued: readonly QueuedJob[], type: string): string {
  if (queued.length === 0) return "Nothing is queued.";
  const same = queued.filter((q) => q.type === type);
  const others = new Map<string, number>();
  for (const q of queued) if (q.type !== type) others.set(q.type, (others.get(q.type) ?? 0) + 1);
  const lines = [same.length === 0 ? `No "${type}" jobs are queued.` : `Queued "${type}" jobs (${same.length}):\n${render(same)}`];
  if (others.size > 0) lines.push(`Other queued jobs: ${[...others].map(([t, n]) => `"${t}" ×${n}`).join(", ")}`);
  return lines.join("\n");
}

/** One line per job: `  #3 send-welcome (default) { userId: 1, at: 2026-01-01T00:00:00.000Z }`. */
export function render(queued: readonly QueuedJob[]): string {
  const lines = queued.slice(0, MAX_LISTED).map((job) => `  #${job.id} ${job.type} (${job.queue}) ${show(job.payload)}`);
  if (queued.length > MAX_LISTED) lines.push(`  … and ${queued.length - MAX_LISTED} more`);
  return lines.join("\n");
}

/** A payload on one line, bounded: Dates, Maps, Sets and BigInts stay recognisable. */
export function show(payload: unknown): string {
  const text = inspect(payload, { depth: 4, breakLength: Infinity, compact: true, maxArrayLength: 10, maxStringLength: 80, colors: false });
  return text.length > 300 ? `${text.slice(0, 299)}…` : text;
}
