/**
 * Declaring repeating jobs: `schedule`, `unschedule` and listing, over any {@link Queryable}
 * (the client's, a transaction's, or a connection of the CLI's). Everything is validated before
 * the first statement, so bad input stores nothing. Turning due schedules into jobs is the
 * scheduler's work (src/cron/scheduler.ts).
 *
 * Identity (DESIGN.md, "Cron"):
 * - with a `name`, the name: declaring it again replaces spec, time zone, job type, payload and
 *   options, so an edited spec never leaves the old one firing;
 * - without, job type + spec + time zone + payload, the payload compared canonically (object
 *   keys sorted, so key order does not matter): declaring it again changes nothing that decides
 *   when or what runs.
 *
 * Either way declaring refreshes `declared_at` (schedules no code declares any more show as
 * stale in status and the UI) and the job options (queue, priority, maxAttempts, timeout), so
 * they follow the code. `next_run_at` is recomputed only when spec or time zone changed: code
 * that declares its schedules at every start keeps an overdue tick, whose catch-up job the
 * scheduler then enqueues, instead of skipping it.
 */
import { createHash } from "node:crypto";
import type { Queryable } from "../backend.ts";
import type { Engine } from "../engine.ts";
import { objectOrEmpty, rejectLoneSurrogate, rejectUnknownKeys, validateJobDefaults } from "../config.ts";
import { InvalidJobError, InvalidOptionsError } from "../errors.ts";
import { JOB_DEFAULTS, toJobList, type Job, type JobDefaults } from "../job.ts";
import { deserializePayload, serializePayload, type StoredPayload } from "../payload.ts";
import { parseCronSpec, type CronSpec } from "./spec.ts";

/**
 * Options of `schedule(spec, job, options)`. Queue, priority, maxAttempts and timeout apply to
 * every job the schedule enqueues and override the job type's defaults.
 *
 * @example
 * ```ts
 * await prisma.$jobs.schedule("0 4 * * *", Cleanup({ olderThanDays: 30 }), {
 *   name: "nightly-cleanup", timezone: "Europe/Berlin", priority: 5,
 * });
 * ```
 */
export interface ScheduleOptions extends JobDefaults {
  /**
   * Names the schedule, making the name its identity: scheduling the same name again replaces
   * its spec, time zone, job and options (and `unschedule(name)` removes it). Without a name a
   * schedule is identified by job type, spec, time zone and payload. At most
   * {@link MAX_SCHEDULE_NAME_LENGTH} characters, no control characters, not only digits (that
   * would read as an id). Default: none.
   */
  name?: string;
  /** IANA time zone the spec's fields are read in, e.g. `"Europe/Berlin"`. Default `"UTC"`. */
  timezone?: string;
}

/** A schedule as stored, for the CLI, the UI and code that cleans up stale schedules. */
export interface ScheduleInfo {
  /** The id `schedule` returned. */
  id: string;
  /** The name, when the schedule has one. */
  name: string | null;
  /** The spec, e.g. `"0 4 * * *"` or `"@every 90s"`. */
  spec: string;
  /** The IANA time zone the spec is read in. */
  timezone: string;
  /** The queue its jobs go to. */
  queue: string;
  /** The job type's name. */
  type: string;
  /** The payload every job gets (decoded; the raw JSON when it cannot be decoded). */
  payload: unknown;
  /** Priority of its jobs (lower runs first). */
  priority: number;
  /** Attempts of its jobs before they are kept as failed. */
  maxAttempts: number;
  /** Timeout of its jobs' attempts, ms. */
  timeout: number;
  /** The next tick: when the next job will be enqueued (and be due). */
  nextRunAt: Date;
  /** The tick of the last job enqueued, or null before the first. */
  lastRunAt: Date | null;
  /** When code last declared the schedule: an old value means no deployed code declares it any more. */
  declaredAt: Date;
  /** When the schedule was first declared. */
  createdAt: Date;
}

/**
 * Slack between a process declaring its schedules and its pools starting (they start after
 * `register`, seconds later): a schedule last declared this long before the oldest live pool
 * started was not declared by any code that runs now.
 */
export const STALE_MARGIN_MS = 5 * 60_000;

/**
 * Whether a schedule looks stale: no code running now declared it, as every live pool started
 * more than {@link STALE_MARGIN_MS} after it was last declared (code declares its schedules
 * when it starts). Unknown, so false, while no pool is alive. Used by `status` and the UI.
 */
export function isStale(declaredAt: Date, pools: ReadonlyArray<{ alive: boolean; startedAt: Date | null }>): boolean {
  const starts = pools.filter((p) => p.alive && p.startedAt !== null).map((p) => p.startedAt!.getTime());
  return starts.length > 0 && declaredAt.getTime() < Math.min(...starts) - STALE_MARGIN_MS;
}

/** Longest schedule name. */
export const MAX_SCHEDULE_NAME_LENGTH = 200;

const SCHEDULE_KEYS = ["name", "timezone", "queue", "priority", "maxAttempts", "timeout"] as const;
const DEFAULT_KEYS = ["queue", "priority", "maxAttempts", "timeout"] as const;

/** A schedule validated and serialised, ready to be stored. */
export interface PreparedSchedule {
  name: string | null;
  /** The unique key: `name:<name>`, or `auto:<sha256 of type, spec, zone, canonical payload>`. */
  identity: string;
  cron: CronSpec;
  /** The spec with its whitespace collapsed, as stored: `0  4 * * *` and `0 4 * * *` are one schedule. */
  spec: string;
  queue: string;
  type: string;
  payload: StoredPayload;
  priority: number;
  maxAttempts: number;
  timeoutMs: number;
}

/**
 * Validates a `schedule` call and serialises its payload. Throws InvalidCronError,
 * InvalidJobError, InvalidPayloadError, InvalidOptionsError or InvalidNameError; writes nothing.
 */
export function prepareSchedule(spec: unknown, job: unknown, rawOptions: unknown, maxPayloadBytes: number): PreparedSchedule {
  const what = "schedule options";
  const options = objectOrEmpty(rawOptions, what);
  rejectUnknownKeys(options, SCHEDULE_KEYS, what);
  const name = options.name === undefined ? null : validateScheduleName(options.name);
  const defaults = validateJobDefaults(pick(options, DEFAULT_KEYS), what);

  const cron = parseCronSpec(spec as string, options.timezone === undefined ? {} : { timezone: options.timezone as string });

  if (Array.isArray(job)) {
    throw new InvalidJobError(`schedule takes one job, got an array: schedule each job on its own (a name for each, if they share type and spec)`);
  }
  const [checked] = toJobList(job, "schedule") as [Job];
  if (checked.dependsOn) {
    throw new InvalidJobError(`schedule takes a job without dependsOn: a cron tick enqueues one job, and the jobs it would depend on are not enqueued with it`);
  }
  const type = checked.type;
  const payload = serializePayload(checked.payload, type.name, maxPayloadBytes);
  const normalized = cron.spec.split(/\s+/).join(" ");

  const identity =
    name !== null
      ? `name:${name}`
      : `auto:${createHash("sha256")
          .update(JSON.stringify([type.name, normalized, cron.timezone, canonicalPayload(payload)]))
          .digest("hex")}`;
  return {
    name,
    identity,
    cron,
    spec: normalized,
    queue: defaults.queue ?? type.defaults.queue ?? JOB_DEFAULTS.queue,
    type: type.name,
    payload,
    priority: defaults.priority ?? type.defaults.priority ?? JOB_DEFAULTS.priority,
    maxAttempts: defaults.maxAttempts ?? type.defaults.maxAttempts ?? JOB_DEFAULTS.maxAttempts,
    timeoutMs: defaults.timeout ?? type.defaults.timeout ?? JOB_DEFAULTS.timeout,
  };
}

/**
 * A payload's canonical form: superjson's JSON and its type meta with object keys sorted
 * recursively, so `{ a, b }` and `{ b, a }` are one schedule, while a Date and its ISO string
 * (same JSON, different meta) are two. Array, Map and Set order counts. Referential equalities
 * (the same object reachable twice) are left out: they record sharing, not data.
 */
export function canonicalPayload(stored: StoredPayload): string {
  const meta = stored.meta === null ? null : (JSON.parse(stored.meta) as Record<string, unknown>);
  if (meta !== null) delete meta.referentialEqualities;
  return JSON.stringify([sortKeys(JSON.parse(stored.json)), sortKeys(meta)]);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== "object" || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
  return out;
}

function validateScheduleName(name: unknown): string {
  const fail = (problem: string): never => {
    throw new InvalidOptionsError("name", `schedule options: ${problem}`);
  };
  if (typeof name !== "string") fail(`name must be a string, got ${name === null ? "null" : typeof name}`);
  const text = name as string;
  if (text.trim() === "") fail("name must not be empty");
  if (text.length > MAX_SCHEDULE_NAME_LENGTH) fail(`name is ${text.length} characters long, the limit is ${MAX_SCHEDULE_NAME_LENGTH}`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(text)) fail(`name ${JSON.stringify(text)} contains a control character`);
  rejectLoneSurrogate(text, "name", "schedule options", "names");
  if (/^\d+$/.test(text)) fail(`name "${text}" is only digits, which unschedule() would read as an id: add a letter, e.g. "job-${text}"`);
  return text;
}

function pick(options: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keys) if (options[key] !== undefined) out[key] = options[key];
  return out;
}

/**
 * Stores a schedule on `db` and returns its id. The first tick is computed from the database
 * clock. On a transaction's queryable the schedule exists only if the transaction commits.
 */
export async function scheduleJob(engine: Engine, db: Queryable, spec: unknown, job: unknown, options: unknown): Promise<string> {
  const prepared = prepareSchedule(spec, job, options, engine.options.maxPayloadBytes);
  await engine.ensureSchema(db);
  const q = engine.queries;
  const [clock] = await db.query<{ now: unknown }>(q.cronClock, []);
  const nextRunAt = prepared.cron.next(toDate(clock?.now));
  const [row] = await db.query<{ id: string }>(q.cronDeclare, [
    prepared.name,
    prepared.identity,
    prepared.spec,
    prepared.cron.timezone,
    prepared.queue,
    prepared.type,
    prepared.payload.json,
    prepared.payload.meta,
    prepared.priority,
    prepared.maxAttempts,
    prepared.timeoutMs,
    nextRunAt,
  ]);
  return row!.id;
}

/**
 * Deletes a schedule by id (a string of digits, as `schedule` returned it) or by name. Jobs it
 * already enqueued stay. Returns whether it existed.
 */
export async function unscheduleJob(engine: Engine, db: Queryable, idOrName: unknown): Promise<boolean> {
  if (typeof idOrName !== "string" || idOrName === "") {
    throw new InvalidOptionsError(
      "idOrName",
      `unschedule expects a schedule's id (as schedule() returned it) or its name, got ${typeof idOrName === "string" ? "an empty string" : typeof idOrName}`,
    );
  }
  await engine.ensureSchema(db);
  const isId = /^\d{1,19}$/.test(idOrName) && BigInt(idOrName) <= 9_223_372_036_854_775_807n;
  const rows = await db.query<{ id: string }>(engine.queries.cronUnschedule, isId ? [idOrName, null] : [null, idOrName]);
  return rows.length > 0;
}

interface ScheduleRow {
  id: string;
  name: string | null;
  spec: string;
  timezone: string;
  queue: string;
  type: string;
  payload: unknown;
  payload_meta: unknown;
  priority: number | null;
  max_attempts: number | null;
  timeout_ms: number | null;
  next_run_at: unknown;
  last_run_at: unknown;
  declared_at: unknown;
  created_at: unknown;
}

/** Every schedule, soonest first. */
export async function listSchedulesOf(engine: Engine, db: Queryable): Promise<ScheduleInfo[]> {
  await engine.ensureSchema(db);
  const rows = await db.query<ScheduleRow>(engine.queries.cronList, []);
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    spec: row.spec,
    timezone: row.timezone,
    queue: row.queue,
    type: row.type,
    payload: decode(row),
    priority: row.priority ?? JOB_DEFAULTS.priority,
    maxAttempts: row.max_attempts ?? JOB_DEFAULTS.maxAttempts,
    timeout: row.timeout_ms ?? JOB_DEFAULTS.timeout,
    nextRunAt: toDate(row.next_run_at),
    lastRunAt: row.last_run_at === null || row.last_run_at === undefined ? null : toDate(row.last_run_at),
    declaredAt: toDate(row.declared_at),
    createdAt: toDate(row.created_at),
  }));
}

function decode(row: ScheduleRow): unknown {
  try {
    return deserializePayload(parseJson(row.payload), parseJson(row.payload_meta));
  } catch {
    // A listing must not fail for one bad row: show what is stored.
    return row.payload;
  }
}

/** jsonb arrives parsed from `pg` and from Prisma; accept text too. */
function parseJson(value: unknown): unknown {
  return typeof value === "string" ? JSON.parse(value) : value;
}

/** timestamptz arrives as a Date from `pg` and Prisma; accept text too. */
export function toDate(value: unknown): Date {
  const date = value instanceof Date ? value : new Date(value as string);
  if (Number.isNaN(date.getTime())) throw new TypeError(`expected a timestamp from the database, got ${String(value)}`);
  return date;
}
