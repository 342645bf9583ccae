/**
 * Job types and job values: the typed vocabulary shared by enqueue, the workers, the cron
 * scheduler and the testing queue.
 */
import { InvalidJobError, InvalidOptionsError } from "./errors.ts";
import { describeValue, integerOption, TIMEOUT_RANGE, validateJobName, validateJobDefaults, type JobDefaults } from "./config.ts";
import { resolveBackoff, type BackoffOptions } from "./backoff.ts";
import { resolveLimits, type LimitOptions, type ResolvedLimits } from "./limits.ts";

export type { JobDefaults } from "./config.ts";

/** Defaults of a job type: {@link JobDefaults}, plus retry delays of its own. */
export interface JobTypeDefaults extends JobDefaults, LimitOptions {
  /** Retry delays for this job type; default: the queue's `backoff`. */
  backoff?: BackoffOptions;
  /**
   * How its jobs run. `"transaction"` (the default): in a transaction of their own that the
   * handler shares, so the job is done exactly when the handler's writes commit. For long jobs,
   * `"lease"` (see {@link LeaseJobTypeDefaults}).
   */
  mode?: "transaction";
}

/**
 * Defaults of a lease-mode job type: for long work (minutes to hours), which would otherwise
 * hold a transaction, a row lock, a connection and vacuum's horizon for its whole run.
 *
 * The claim commits at once and takes a lease (holder, expiry, the attempt it starts); the
 * handler runs outside any transaction, and its pool renews the lease while it runs. A lease
 * that is not renewed (the worker was killed, paused or cut off from the database) expires:
 * another worker takes the job over and counts that attempt as crashed, and the old holder's
 * late writes (finish, retry) change nothing. The handler writes through its own Prisma
 * transactions; `ctx.complete(tx)` commits the job's completion with the last of them.
 */
export interface LeaseJobTypeDefaults extends JobDefaults, LimitOptions {
  /** Retry delays for this job type; default: the queue's `backoff`. */
  backoff?: BackoffOptions;
  mode: "lease";
  /**
   * Milliseconds a lease lasts without renewal: how long a dead worker's job waits before
   * another takes it over. Renewed every third of it. Default `30_000`; 200 ms to 24 days.
   */
  leaseTimeout?: number;
  /**
   * Milliseconds an attempt may run before its `signal` aborts. Default for lease mode: 24
   * days, i.e. none (a lease-mode job is meant to run long; its lease, not a timer, finds
   * dead workers).
   */
  timeout?: number;
}

/** How a job type's jobs run: see {@link JobTypeDefaults.mode}. */
export type JobMode = "transaction" | "lease";

/** The default `leaseTimeout` of lease-mode job types. */
export const DEFAULT_LEASE_TIMEOUT = 30_000;
/** Range of `leaseTimeout` in ms (its timers must fit Node's, see MAX_TIMER_MS). */
export const LEASE_TIMEOUT_RANGE = [200, 24 * 86_400_000] as const;

/** The resolved defaults that apply when neither the job type nor enqueue sets an option. */
export const JOB_DEFAULTS = {
  queue: "default",
  priority: 0,
  maxAttempts: 25,
  timeout: 30_000,
} as const satisfies Required<JobDefaults>;

const JOB_BRAND: unique symbol = Symbol.for("arrower-jobs.job");
/** Type-only key that carries a job type's result type (never set at run time). */
declare const RESULT_TYPE: unique symbol;

/**
 * A job value: a job type's name and a payload, made by calling a {@link JobType}.
 * Pass it to `enqueue` or `schedule`.
 */
export interface Job<P = unknown> {
  readonly [JOB_BRAND]: true;
  /** The job type this job belongs to. */
  readonly type: JobTypeInfo;
  /** The payload, as given. */
  readonly payload: P;
  /** Jobs of the same enqueue call that must succeed before this one runs (see {@link dependsOn}). */
  readonly dependsOn?: readonly Job[];
  /** What a parent that fails for good does to this job (see {@link DependsOnOptions}). */
  readonly onParentFailure?: "cancel" | "run";
}

/** Options of {@link dependsOn}. */
export interface DependsOnOptions {
  /**
   * When a parent fails for good (its last attempt failed, or it was cancelled): `"cancel"`
   * (the default) cancels this job, and the jobs that depend on it in turn; `"run"` counts
   * that parent as done, so this job runs once its other parents have succeeded (its
   * `parentResult` for that parent is undefined).
   */
  onParentFailure?: "cancel" | "run";
}

/**
 * A job that runs only after `parents` — jobs of the same enqueue call — have succeeded: a
 * workflow. Enqueue the parents and their dependants together, in one call (one statement,
 * transactional like any enqueue). Each dependant becomes due in the transaction that finishes
 * its last parent, and reads its parents' results with `ctx.parentResult(ParentType)`.
 *
 * @example
 * ```ts
 * const fetch = Fetch({ url });
 * const resize = dependsOn(Resize({ width: 100 }), [fetch]);
 * const notify = dependsOn(Notify({ userId }), [fetch, resize], { onParentFailure: "run" });
 * const [fetchId, resizeId, notifyId] = await tx.$jobs.enqueue([fetch, resize, notify]);
 * ```
 * @throws InvalidJobError when a parent is not a job, or `options` are invalid
 */
export function dependsOn<P>(job: Job<P>, parents: readonly Job[], options: DependsOnOptions = {}): Job<P> {
  if (!isJob(job)) throw new InvalidJobError(`dependsOn expects a job as its first argument, got ${describe(job)}: e.g. dependsOn(Resize({ width: 100 }), [fetch])`);
  if (!Array.isArray(parents) || parents.length === 0) throw new InvalidJobError(`dependsOn(${job.type.name}(…), parents) expects a non-empty array of jobs, got ${describe(parents)}`);
  parents.forEach((parent, index) => {
    if (!isJob(parent)) throw new InvalidJobError(`dependsOn(${job.type.name}(…), parents): parents[${index}] is ${describe(parent)}, not a job: pass the job values you enqueue in the same call`);
    if (parent === job) throw new InvalidJobError(`dependsOn(${job.type.name}(…), parents): a job cannot depend on itself`);
  });
  const policy = (options as DependsOnOptions | null)?.onParentFailure ?? "cancel";
  if (policy !== "cancel" && policy !== "run") {
    throw new InvalidOptionsError("onParentFailure", `dependsOn options: onParentFailure must be "cancel" or "run", got ${describeValue(policy)}`);
  }
  // A parent listed twice (here or by an earlier dependsOn) is one edge: the database keeps one.
  const all = [...new Set([...(job.dependsOn ?? []), ...parents])];
  return Object.freeze({ [JOB_BRAND]: true as const, type: job.type, payload: job.payload, dependsOn: Object.freeze(all), onParentFailure: policy });
}

/**
 * A job type: call it with a payload to make a {@link Job}. Its `name` is the job's identity
 * in the database: keep it stable (renaming leaves queued jobs without a handler).
 *
 * @example
 * ```ts
 * export const SendWelcome = defineJob<{ userId: number; at: Date }>("send-welcome");
 * await prisma.$jobs.enqueue(SendWelcome({ userId: 1, at: new Date() }));
 * ```
 * @typeParam P the payload
 * @typeParam R what its handler returns, stored with the finished job (default `void`: nothing)
 */
export interface JobType<P = unknown, R = void> extends JobTypeInfo {
  (payload: P): Job<P>;
  /**
   * Type-only: the handler's result type. A function returning R, so that a job type with a
   * result still fits where any job type of its payload is taken (`JobType<P>`), as a function
   * returning a value fits where one returning void is expected.
   */
  readonly [RESULT_TYPE]?: () => R;
}

/** A job type's name and defaults (what a job value carries; not callable, so `Job<P>` stays covariant). */
export interface JobTypeInfo {
  /** The stable name stored with each job. */
  readonly name: string;
  /** Defaults for jobs of this type. */
  readonly defaults: Readonly<JobDefaults>;
  /** Retry delays of this job type, when it sets its own. */
  readonly backoff?: Readonly<Required<BackoffOptions>>;
  /** How its jobs run: in the job's transaction (default) or under a lease. */
  readonly mode: JobMode;
  /** Lease mode: milliseconds a lease lasts without renewal. */
  readonly leaseTimeout?: number;
  /** Its limits across all processes (`concurrency`, `rateLimit`), when it sets any. */
  readonly limits?: Readonly<ResolvedLimits>;
}

/**
 * A lease-mode job type (`defineJob(name, { mode: "lease" })`): its handler gets a
 * {@link LeaseHandlerContext}, with no job transaction but `complete(tx)`.
 */
export interface LeaseJobType<P = unknown, R = void> extends JobType<P, R> {
  readonly mode: "lease";
  readonly leaseTimeout: number;
}

/** The payload type of a job type: `PayloadOf<typeof SendWelcome>`. */
export type PayloadOf<T> = T extends JobType<infer P> ? P : never;

/** The result type of a job type: `ResultOf<typeof Resize>`; `void` when it declares none. */
export type ResultOf<T> = T extends JobType<infer _P, infer R> ? R : never;

/**
 * Defines a job type with a typed payload and, optionally, a typed result: what its handler
 * returns is stored with the finished job (`getResult`, `getJob(id).result`, the admin UI).
 *
 * @typeParam P the payload
 * @typeParam R what the handler returns (default `void`: nothing is stored)
 * @param name stable, non-empty, at most 128 characters of letters, digits and `_ - . : /`
 * @param defaults queue, priority, maxAttempts and timeout for jobs of this type
 * @throws InvalidNameError, InvalidOptionsError
 *
 * The name is the job type's identity: defining it again with the same defaults is harmless (a
 * module evaluated twice); with other defaults it emits a process warning (code
 * `ARROWER_JOBS_DUPLICATE_JOB_TYPE`), once per name.
 *
 * @example
 * ```ts
 * export const Cleanup = defineJob<{ olderThanDays: number }>("cleanup", {
 *   queue: "maintenance", priority: 0, maxAttempts: 10, timeout: 60_000,
 * });
 * // With a result: the handler must return { width, height } (or a promise of it).
 * export const Resize = defineJob<{ imageId: string }, { width: number; height: number }>("resize");
 * ```
 */
export function defineJob<P, R = void>(name: string, defaults: LeaseJobTypeDefaults): LeaseJobType<P, R>;
export function defineJob<P, R = void>(name: string, defaults?: JobTypeDefaults): JobType<P, R>;
export function defineJob<P, R = void>(name: string, defaults: JobTypeDefaults | LeaseJobTypeDefaults = {}): JobType<P, R> {
  validateJobName(name);
  const what = `defineJob("${name}") defaults`;
  // `backoff`, `mode` and `leaseTimeout` belong to the job type only (enqueue options cannot
  // set them): checked on their own.
  const isObject = typeof defaults === "object" && defaults !== null;
  const { backoff, mode, leaseTimeout, concurrency, rateLimit, ...shared } = (isObject ? defaults : {}) as LeaseJobTypeDefaults | (JobTypeDefaults & { leaseTimeout?: unknown });
  const limits = resolveLimits({ concurrency, rateLimit }, what);
  const resolvedMode = modeOption(mode, what);
  if (leaseTimeout !== undefined && resolvedMode !== "lease") {
    throw new InvalidOptionsError("leaseTimeout", `${what}: leaseTimeout applies to lease mode only: add mode: "lease", or remove leaseTimeout`);
  }
  const validated = validateJobDefaults(isObject ? shared : defaults, what);
  // A lease-mode job is meant to run long: no timeout unless one is set.
  if (resolvedMode === "lease" && validated.timeout === undefined) validated.timeout = TIMEOUT_RANGE[1];
  const frozen = Object.freeze(validated);
  const type = ((payload: P): Job<P> => Object.freeze({ [JOB_BRAND]: true as const, type, payload })) as JobType<P, R>;
  // A function's own `name` is read-only; define ours so `SendWelcome.name` is the job name.
  Object.defineProperty(type, "name", { value: name, enumerable: true });
  Object.defineProperty(type, "defaults", { value: frozen, enumerable: true });
  Object.defineProperty(type, "mode", { value: resolvedMode, enumerable: true });
  if (backoff !== undefined) Object.defineProperty(type, "backoff", { value: Object.freeze(resolveBackoff(backoff, what)), enumerable: true });
  if (resolvedMode === "lease") {
    const ms = leaseTimeout === undefined ? DEFAULT_LEASE_TIMEOUT : integerOption(leaseTimeout, "leaseTimeout", ...LEASE_TIMEOUT_RANGE, what, "24 days");
    Object.defineProperty(type, "leaseTimeout", { value: ms, enumerable: true });
  }
  const described: Record<string, unknown> = { ...frozen };
  if (backoff !== undefined) described.backoff = type.backoff;
  if (resolvedMode === "lease") Object.assign(described, { mode: resolvedMode, leaseTimeout: type.leaseTimeout });
  if (limits) {
    Object.defineProperty(type, "limits", { value: Object.freeze(limits), enumerable: true });
    described.limits = limits;
  }
  noteDefinition(name, JSON.stringify(described));
  return type;
}

function modeOption(mode: unknown, what: string): JobMode {
  if (mode === undefined || mode === "transaction" || mode === "lease") return mode ?? "transaction";
  throw new InvalidOptionsError("mode", `${what}: mode must be "transaction" or "lease", got ${describeValue(mode)}`);
}

/** True for lease-mode job types. */
export function isLeaseJobType(type: JobTypeInfo): type is LeaseJobType {
  return type.mode === "lease";
}

/** The defaults each job name was last defined with (as JSON), and the names already warned about. */
const definitions = new Map<string, string>();
const warned = new Set<string>();

/**
 * Warns (once per name) when a name is defined again with other defaults. Not an error: the
 * same module evaluated twice (test runners, hot reload) defines its job types again, and a hot
 * reload may have changed the defaults on purpose. But two different job types sharing a name
 * share their handler and history, and get the defaults of whichever one the enqueuer imported.
 */
function noteDefinition(name: string, defaults: string): void {
  const before = definitions.get(name);
  definitions.set(name, defaults);
  if (before === undefined || before === defaults || warned.has(name)) return;
  warned.add(name);
  process.emitWarning(
    `defineJob("${name}") was called again with other defaults (${before} before, ${defaults} now). ` +
      "Job types are identified by name: jobs of both go to one handler per queue and their defaults depend on which one the enqueueing code imported. " +
      "Give each job type its own name, or define it once and import it (after a hot reload that changed the defaults, ignore this)",
    { type: "ArrowerJobsWarning", code: "ARROWER_JOBS_DUPLICATE_JOB_TYPE" },
  );
}

/** True for values made by calling a job type. */
export function isJob(value: unknown): value is Job {
  return typeof value === "object" && value !== null && (value as { [JOB_BRAND]?: unknown })[JOB_BRAND] === true;
}

/** True for job types made by {@link defineJob}. */
export function isJobType(value: unknown): value is JobType {
  return typeof value === "function" && typeof (value as { defaults?: unknown }).defaults === "object";
}

/** Normalises `job | job[]` and rejects anything that is not a job, naming its position. */
export function toJobList(input: unknown, call: string): Job[] {
  const list = Array.isArray(input) ? input : [input];
  list.forEach((value, index) => {
    if (isJob(value)) return;
    const where = Array.isArray(input) ? ` at index ${index}` : "";
    const hint = isJobType(value)
      ? `: it is the job type "${value.name}" itself, call it with a payload, e.g. ${value.name}({...})`
      : `: make jobs by calling a job type from defineJob(), e.g. SendWelcome({ userId: 1 })`;
    throw new InvalidJobError(`${call} expects a job or an array of jobs, got ${describe(value)}${where}${hint}`);
  });
  return list as Job[];
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "function") return "a function";
  if (typeof value === "object") return `an object (${Object.prototype.toString.call(value)})`;
  return typeof value;
}

/**
 * The states a job goes through. Live jobs (in `jobs`) are `available` or `scheduled` (derived
 * from `run_at`), `waiting` while jobs it depends on have not succeeded, and `running` while a
 * worker holds their row lock (or, in lease mode, their lease); finished jobs (in
 * `job_history`) are `succeeded`, `failed` or `cancelled`. See docs/states.md.
 */
export const JobState = {
  available: "available",
  scheduled: "scheduled",
  waiting: "waiting",
  running: "running",
  succeeded: "succeeded",
  failed: "failed",
  cancelled: "cancelled",
} as const;

/** One of {@link JobState}. */
export type JobState = (typeof JobState)[keyof typeof JobState];
