/**
 * Assertions on what is queued. Failures throw `AssertionError` from `node:assert`: vitest, jest
 * and `node:test` all recognise it and show its message, which says what was expected and lists
 * what is queued (type, queue and payload), so a failing test explains itself without a debugger.
 */
import { AssertionError } from "node:assert";
import { inspect, isDeepStrictEqual } from "node:util";
import { describeValue, integerOption } from "../config.ts";
import { InvalidJobError, InvalidOptionsError } from "../errors.ts";
import { isJob, isJobType, JobState, type DependsOnOptions, type Job, type JobType } from "../job.ts";
import { roundTripPayload } from "../payload.ts";
import type { FinishedJob, QueuedJob } from "./store.ts";

/** A job as the assertions see it: queued, or finished. */
type AnyJob = QueuedJob | FinishedJob;

/**
 * One job of a workflow as {@link JobAssertions.workflow} expects it.
 *
 * @example
 * ```ts
 * const expected: WorkflowJob = { type: Resize, state: "cancelled" };
 * ```
 */
export interface WorkflowJob {
  /** Its job type, from `defineJob()` (of any payload and result). */
  type: (payload: never) => Job;
  /** Its state now: one of `JobState` (`"waiting"`, `"succeeded"`, `"cancelled"`…). */
  state: JobState;
}

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
  /**
   * Workflows: exactly `count` jobs of `type` are waiting for jobs they depend on (state
   * `"waiting"`; they count in {@link queued} too).
   *
   * @example
   * ```ts
   * await placeOrder({ jobs }, order);
   * await jobs.runAll(); // the charge runs; the shipment is released, the email still waits
   * jobs.assert().waiting(Ship, 0).waiting(Email, 1);
   * ```
   */
  waiting<P>(type: JobType<P>, count: number): JobAssertions;
  /**
   * Workflows: a queued job like `job` (same type, deeply equal payload, as {@link contains})
   * was enqueued depending on jobs like `parents` — one each, in any order, and no others;
   * they may have finished since. With `options.onParentFailure`, also with that policy
   * (without it, either). It reads like the `dependsOn(job, parents, options)` call it checks.
   *
   * @example
   * ```ts
   * await placeOrder({ jobs }, { id: 7 });
   * jobs.assert()
   *   .dependsOn(Ship({ orderId: 7 }), [Charge({ orderId: 7 })])
   *   .dependsOn(Email({ orderId: 7 }), [Ship({ orderId: 7 })], { onParentFailure: "run" });
   * ```
   */
  dependsOn(job: Job, parents: readonly Job[], options?: DependsOnOptions): JobAssertions;
  /**
   * Workflows: the workflow of job `of` (its id, or a job like it, queued or finished) has
   * exactly these jobs, in id order (the order of the enqueue call), each of this type and in
   * this state.
   *
   * @example
   * ```ts
   * const ids = await jobs.enqueue([charge, dependsOn(Ship({ orderId: 7 }), [charge])]);
   * await jobs.drain();
   * jobs.assert().workflow(ids[0]!, [
   *   { type: Charge, state: "failed" },
   *   { type: Ship, state: "cancelled" },
   * ]);
   * ```
   */
  workflow(of: string | Job, jobs: readonly WorkflowJob[]): JobAssertions;
}

/** How many queued jobs a failure message lists before "… and N more". */
export const MAX_LISTED = 10;

/**
 * Assertions over `list()`, the queued jobs, read afresh by each method; `everything()` gives
 * every job, queued or finished, in id order (default: `list`).
 */
export function createAssertions(list: () => readonly QueuedJob[], everything: () => readonly AnyJob[] = list): JobAssertions {
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
    waiting(type, expected) {
      const name = jobTypeName(type, "waiting");
      integerOption(expected, "count", 0, Number.MAX_SAFE_INTEGER, `assert().waiting("${name}", count)`);
      const queued = list();
      const found = queued.filter((job) => job.type === name && job.state === JobState.waiting).length;
      if (found !== expected) {
        fail(`expected ${count(expected)} of type "${name}" waiting for jobs they depend on, found ${found}.\n${listing(queued)}`, found, expected, "waiting", assertions);
      }
      return assertions;
    },
    dependsOn(job, parents, options) {
      const { type, payload } = expectedJob(job, "dependsOn");
      if (!Array.isArray(parents) || parents.length === 0) {
        throw new InvalidJobError(`assert().dependsOn(${type}(…), parents) expects a non-empty array of jobs, got ${Array.isArray(parents) ? "an empty array" : describeValue(parents)}`);
      }
      const wanted = parents.map((parent) => expectedJob(parent, "dependsOn"));
      const policy = policyOption(options);
      const queued = list();
      const all = everything();
      const byId = new Map(all.map((j) => [j.id, j]));
      const candidates = queued.filter((q) => matches(q, type, payload));
      const parentsOf = (q: AnyJob) => q.dependsOn.map((id) => byId.get(id)).filter((p) => p !== undefined);
      const ok = (q: QueuedJob) => sameJobs(parentsOf(q), wanted) && (policy === undefined || q.onParentFailure === policy);
      if (!candidates.some(ok)) {
        const expectation = `a queued "${type}" job with payload ${show(payload)} that depends on ${wanted.map((w) => `${w.type} ${show(w.payload)}`).join(", ")}${policy === undefined ? "" : ` (onParentFailure "${policy}")`}`;
        const theirs = [...new Set(candidates.flatMap((q) => q.dependsOn))].map((id) => byId.get(id)).filter((p) => p !== undefined);
        const found =
          candidates.length === 0
            ? `found none.\n${sameTypeListing(queued, type)}`
            : `found ${candidates.length === 1 ? "one" : candidates.length} with that payload depending on other jobs:\n${render(candidates)}` +
              (theirs.length === 0 ? "" : `\nThe jobs they depend on:\n${render(theirs)}`);
        const actual = candidates.map((q) => ({ dependsOn: parentsOf(q).map((p) => ({ type: p.type, payload: p.payload })), onParentFailure: q.onParentFailure }));
        const expected = { dependsOn: wanted, onParentFailure: policy ?? "any" };
        fail(`expected ${expectation}, ${found}`, actual.length === 1 ? actual[0] : actual, expected, "dependsOn", assertions);
      }
      return assertions;
    },
    workflow(of, expectedJobs) {
      const expected = workflowJobs(expectedJobs);
      const all = everything();
      const id = workflowIdOf(of, all);
      const members = id === null ? [] : all.filter((j) => j.workflowId === id);
      const actual = members.map((j) => ({ type: j.type, state: j.state }));
      if (id === null || !isDeepStrictEqual(actual, expected)) {
        const wanted = expected.length === 0 ? "no jobs" : expected.map((j) => `${j.type} ${j.state}`).join(", ");
        const found =
          id === null
            ? typeof of === "string"
              ? `job ${of} is ${all.some((j) => j.id === of) ? "in no workflow (it was enqueued without dependsOn)" : "unknown"}`
              : `no job of type "${of.type.name}" with payload ${show(expectedJob(of, "workflow").payload)} is in a workflow`
            : `found (${members.length}):\n${render(members, true)}`;
        fail(`expected workflow${id === null ? "" : ` ${id}`} to have ${wanted}; ${found}`, actual, expected, "workflow", assertions);
      }
      return assertions;
    },
  };
  return assertions;
}

/** Whether `actual` are jobs like `wanted`, one each, in any order. */
function sameJobs(actual: readonly AnyJob[], wanted: readonly { type: string; payload: unknown }[]): boolean {
  if (actual.length !== wanted.length) return false;
  const left = [...actual];
  return wanted.every((w) => {
    const at = left.findIndex((a) => matches(a, w.type, w.payload));
    if (at === -1) return false;
    left.splice(at, 1);
    return true;
  });
}

function policyOption(options: unknown): "cancel" | "run" | undefined {
  if (options === undefined) return undefined;
  const policy = (options as DependsOnOptions | null)?.onParentFailure;
  if (policy === undefined || policy === "cancel" || policy === "run") return policy;
  throw new InvalidOptionsError("onParentFailure", `assert().dependsOn() options: onParentFailure must be "cancel" or "run", got ${describeValue(policy)}`);
}

const STATES = new Set<unknown>(Object.values(JobState));

function workflowJobs(jobs: unknown): { type: string; state: JobState }[] {
  if (!Array.isArray(jobs)) throw new InvalidJobError(`assert().workflow(of, jobs) expects an array of { type, state }, got ${describeValue(jobs)}`);
  return jobs.map((job: unknown, index) => {
    const { type, state } = (typeof job === "object" && job !== null ? job : {}) as Partial<WorkflowJob>;
    const name = jobTypeName(type, "workflow");
    if (!STATES.has(state)) {
      throw new InvalidOptionsError("state", `assert().workflow(): jobs[${index}].state must be one of ${[...STATES].map((s) => `"${String(s)}"`).join(", ")}, got ${describeValue(state)}`);
    }
    return { type: name, state: state! };
  });
}

/** The workflow id of job `of` (an id, or the first job like it that is in a workflow); null: none. */
function workflowIdOf(of: unknown, all: readonly AnyJob[]): string | null {
  if (typeof of === "string") return all.find((j) => j.id === of)?.workflowId ?? null;
  if (!isJob(of)) throw new InvalidJobError(`assert().workflow(of) expects a job id or a job, e.g. Charge({ orderId: 7 }), got ${describeValue(of)}`);
  const { type, payload } = expectedJob(of, "workflow");
  return all.find((j) => j.workflowId !== null && matches(j, type, payload))?.workflowId ?? null;
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

function matches(job: AnyJob, type: string, payload: unknown): boolean {
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

/**
 * One line per job: `  #3 send-welcome (default) { userId: 1, at: 2026-01-01T00:00:00.000Z }`;
 * a job that is waiting or finished (or any, with `states`) says so, and one in a workflow what
 * it depends on: `  #2 resize (default) waiting, depends on #1 { width: 100 }`.
 */
export function render(queued: readonly AnyJob[], states = false): string {
  const lines = queued.slice(0, MAX_LISTED).map((job) => `  #${job.id} ${job.type} (${job.queue})${annotation(job, states)} ${show(job.payload)}`);
  if (queued.length > MAX_LISTED) lines.push(`  … and ${queued.length - MAX_LISTED} more`);
  return lines.join("\n");
}

function annotation(job: AnyJob, states: boolean): string {
  const notes: string[] = [];
  if (states || (job.state !== JobState.available && job.state !== JobState.scheduled && job.state !== JobState.running)) notes.push(job.state);
  if (job.dependsOn.length > 0) {
    notes.push(`depends on ${job.dependsOn.map((id) => `#${id}`).join(", ")}${job.onParentFailure === "run" ? ' (onParentFailure "run")' : ""}`);
  }
  return notes.length === 0 ? "" : ` ${notes.join(", ")}`;
}

/** A payload on one line, bounded: Dates, Maps, Sets and BigInts stay recognisable. */
export function show(payload: unknown): string {
  const text = inspect(payload, { depth: 4, breakLength: Infinity, compact: true, maxArrayLength: 10, maxStringLength: 80, colors: false });
  return text.length > 300 ? `${text.slice(0, 299)}…` : text;
}
