/**
 * Enqueue: validates everything first (so bad input writes nothing), then inserts the whole
 * batch, of one job type or many, with one statement.
 */
import { validateEnqueueOptions, type EnqueueOptions } from "./config.ts";
import { JOB_DEFAULTS, toJobList, type Job } from "./job.ts";
import { serializePayload } from "./payload.ts";
import type { Queryable } from "./backend.ts";
import type { Engine } from "./engine.ts";
import { ArrowerJobsError, InvalidJobError, InvalidOptionsError } from "./errors.ts";
import { oneOrEach } from "./postgres/arrays.ts";

/**
 * Runs `fn` so that its statements commit or roll back together: in a transaction of its own,
 * or, on a transaction's `$jobs`, in that transaction.
 */
export type Atomically = <T>(fn: (db: Queryable) => Promise<T>) => Promise<T>;

/**
 * Most JSON text one enqueue statement carries: payloads and their superjson meta, in UTF-16
 * code units (32 Mi). PostgreSQL refuses a jsonb value over 256 MiB (error 54000: 270 payloads of
 * 1 MB failed so, and aborted the caller's transaction, issue 16), and jsonb can take 6 times the
 * text of an array of small numbers (`[0,0,…]`, measured on PostgreSQL 15) and 3 bytes per code
 * unit of text: 32 Mi units stay under the limit whatever the payloads hold. A larger batch is
 * inserted with one statement per 32 Mi, all or nothing; batches below it keep one statement.
 */
export const STATEMENT_TEXT_BUDGET = 32 * 1024 * 1024;

/** Extra columns set by the library itself (cron ticks, trace context). */
export interface EnqueueExtras {
  traceContext?: Record<string, string> | null;
  scheduleId?: string | null;
  tickAt?: Date | null;
}

/** One job, validated and serialised, ready for the insert. */
export interface PreparedJob {
  queue: string;
  type: string;
  payload: string;
  payloadMeta: string | null;
  priority: number;
  runAt: Date | null;
  maxAttempts: number;
  timeoutMs: number;
  dedupKey: string | null;
  /** Its group (groupConcurrency), or null. */
  group: string | null;
  /** Workflows: positions (in the call) of the jobs this one depends on; null when none. */
  parents: number[] | null;
  /** Workflows: what a parent that fails for good does to it (null when it depends on none). */
  onParentFailure: "cancel" | "run" | null;
}

/** Validates and serialises jobs with the options of one enqueue call. Throws before any write. */
export function prepareJobs(input: unknown, rawOptions: unknown, maxPayloadBytes: number, call = "enqueue"): PreparedJob[] {
  const jobs = toJobList(input, call);
  const options: EnqueueOptions = validateEnqueueOptions(rawOptions);
  const prepared = jobs.map((job: Job) => prepareJob(job, options, maxPayloadBytes));
  if (jobs.some((job) => job.dependsOn !== undefined)) linkWorkflow(jobs, prepared, options, call);
  return prepared;
}

/**
 * A workflow's edges: each job's parents by position in the call. Parents must be enqueued in
 * the same call (a dependant is released by its parents' finishing transactions, so they must
 * exist together). The graph has no cycle: `dependsOn` only refers to jobs made before.
 */
function linkWorkflow(jobs: Job[], prepared: PreparedJob[], options: EnqueueOptions, call: string): void {
  if (options.dedupKey !== undefined) {
    throw new InvalidOptionsError("dedupKey", `${call} options: dedupKey cannot be used with dependsOn (a dedup key could turn a parent into another, already running job): enqueue the workflow without it`);
  }
  const position = new Map<Job, number>();
  jobs.forEach((job, index) => {
    if (position.has(job)) {
      const first = position.get(job)!;
      if (jobs.some((other) => other.dependsOn?.includes(job))) {
        throw new InvalidJobError(`${call}: the same ${job.type.name}(…) job value is at index ${first} and ${index}, and another job depends on it: make one job value per job`);
      }
      return;
    }
    position.set(job, index);
  });
  jobs.forEach((job, index) => {
    if (!job.dependsOn) return;
    prepared[index]!.parents = job.dependsOn.map((parent) => {
      const at = position.get(parent);
      if (at === undefined) {
        throw new InvalidJobError(
          `${call}: ${job.type.name}(…) at index ${index} depends on a ${parent.type.name}(…) job that is not in this call: enqueue a job and the jobs it depends on in one call`,
        );
      }
      return at;
    });
    prepared[index]!.onParentFailure = job.onParentFailure ?? "cancel";
  });
  // Checked here, not at the insert, so that the testing queue refuses it too.
  const size = prepared.reduce((sum, job) => sum + job.payload.length + (job.payloadMeta?.length ?? 0), 0);
  if (size > STATEMENT_TEXT_BUDGET) {
    throw new InvalidOptionsError("dependsOn", `a workflow is enqueued in one statement, and this one's payloads are ${size} characters, over ${STATEMENT_TEXT_BUDGET}: store large data in your own tables and pass ids`);
  }
}

function prepareJob(job: Job, options: EnqueueOptions, maxPayloadBytes: number): PreparedJob {
  const defaults = job.type.defaults;
  const stored = serializePayload(job.payload, job.type.name, maxPayloadBytes);
  return {
    queue: options.queue ?? defaults.queue ?? JOB_DEFAULTS.queue,
    type: job.type.name,
    payload: stored.json,
    payloadMeta: stored.meta,
    priority: options.priority ?? defaults.priority ?? JOB_DEFAULTS.priority,
    runAt: options.runAt ?? null,
    maxAttempts: options.maxAttempts ?? defaults.maxAttempts ?? JOB_DEFAULTS.maxAttempts,
    timeoutMs: options.timeout ?? defaults.timeout ?? JOB_DEFAULTS.timeout,
    dedupKey: options.dedupKey ?? null,
    group: options.group ?? null,
    parents: null,
    onParentFailure: null,
  };
}

interface EnqueueRow {
  id: string | null;
}

/**
 * Inserts prepared jobs in one statement on `db` (the caller's client or transaction) and
 * returns their ids in input order. A dedup key already live in its queue yields that job's id.
 * A batch over {@link STATEMENT_TEXT_BUDGET} takes several statements, run through `atomically`
 * (default: `db` is a transaction already).
 */
export async function insertJobs(
  engine: Engine,
  db: Queryable,
  jobs: PreparedJob[],
  extras: EnqueueExtras = {},
  atomically: Atomically = (fn) => fn(db),
): Promise<string[]> {
  if (jobs.length === 0) return [];
  // otel: one "send" span per call; the carrier it gives (its trace context, or the caller's
  // extras.traceContext) is stored with each job (src/otel/instrumentation.ts).
  return engine.otel.enqueueSpan(jobs, extras.traceContext, (traceContext) => insertBatch(engine, db, jobs, { ...extras, traceContext }, atomically));
}

/** Splits `jobs` into runs of at most `budget` code units of payload and meta (a larger job alone). */
export function splitBySize(jobs: PreparedJob[], budget: number): PreparedJob[][] {
  const chunks: PreparedJob[][] = [];
  let chunk: PreparedJob[] = [];
  let size = 0;
  for (const job of jobs) {
    const units = job.payload.length + (job.payloadMeta?.length ?? 0);
    if (chunk.length > 0 && size + units > budget) {
      chunks.push(chunk);
      chunk = [];
      size = 0;
    }
    chunk.push(job);
    size += units;
  }
  chunks.push(chunk);
  return chunks;
}

async function insertBatch(engine: Engine, db: Queryable, jobs: PreparedJob[], extras: EnqueueExtras, atomically: Atomically): Promise<string[]> {
  await engine.ensureSchema(db);
  if (jobs.some((job) => job.parents !== null)) return insertWorkflow(engine, db, jobs, extras);
  // Within one batch the same key in the same queue is one job: send it once, map the rest.
  const firstIndex = new Map<string, number>();
  const sent: PreparedJob[] = [];
  const sentIndexOf: number[] = [];
  for (const job of jobs) {
    const key = job.dedupKey === null ? null : `${job.queue}\u0000${job.dedupKey}`;
    const seen = key === null ? undefined : firstIndex.get(key);
    if (seen !== undefined) {
      sentIndexOf.push(seen);
      continue;
    }
    if (key !== null) firstIndex.set(key, sent.length);
    sentIndexOf.push(sent.length);
    sent.push(job);
  }
  const chunks = splitBySize(sent, STATEMENT_TEXT_BUDGET);
  const ids =
    chunks.length === 1
      ? await insertChunk(engine, db, sent, firstIndex.size > 0, extras)
      : await atomically(async (tx) => {
          const all: string[] = [];
          for (const chunk of chunks) all.push(...(await insertChunk(engine, tx, chunk, firstIndex.size > 0, extras)));
          return all;
        });
  return sentIndexOf.map((i) => ids[i]!);
}

/** One statement: `sent` jobs (no two with one dedup key in one queue), ids in input order. */
async function insertChunk(engine: Engine, db: Queryable, sent: PreparedJob[], dedup: boolean, extras: EnqueueExtras): Promise<string[]> {
  const rows = await insertRows(engine, db, sent, extras, dedup);
  const ids: string[] = [];
  for (const [index, row] of rows.entries()) {
    ids[index] = row.id ?? (await settleConflict(engine, db, sent[index]!, extras));
  }
  return ids;
}

/** The insert statement, for jobs whose dedup keys (if any) are distinct; a row per job, in order. */
function insertRows(engine: Engine, db: Queryable, sent: PreparedJob[], extras: EnqueueExtras, dedup: boolean): Promise<EnqueueRow[]> {
  const q = engine.queries;
  const statement = dedup ? q.enqueueDedup : extras.scheduleId != null ? q.enqueueTick : q.enqueue;
  return db.query<EnqueueRow>(statement, insertValues(engine, sent, extras));
}

/** The parameters of the insert statements ($1 to $14). */
function insertValues(engine: Engine, sent: PreparedJob[], extras: EnqueueExtras): unknown[] {
  const trace = extras.traceContext ? JSON.stringify(extras.traceContext) : null;
  // Payloads as one JSON array; the other columns once when the batch shares the value (see the statement).
  return [
    oneOrEach(sent, (j) => j.queue),
    oneOrEach(sent, (j) => j.type),
    // Each payload is JSON text already (serializePayload): joined, they are a JSON array.
    `[${sent.map((j) => j.payload).join(",")}]`,
    oneOrEach(sent, (j) => j.payloadMeta),
    oneOrEach(sent, (j) => j.priority),
    oneOrEach(sent, (j) => j.runAt, (j) => j.runAt?.getTime() ?? null),
    oneOrEach(sent, (j) => j.maxAttempts),
    oneOrEach(sent, (j) => j.timeoutMs),
    oneOrEach(sent, (j) => j.dedupKey),
    [trace],
    [extras.scheduleId ?? null],
    [extras.tickAt ?? null],
    engine.queries.channel,
    oneOrEach(sent, (j) => j.group),
  ];
}

/**
 * A workflow: its jobs, their edges and their membership, in one statement (so the edges are
 * matched to ids drawn in the same statement).
 */
async function insertWorkflow(engine: Engine, db: Queryable, jobs: PreparedJob[], extras: EnqueueExtras): Promise<string[]> {
  // Its size is bounded by linkWorkflow (STATEMENT_TEXT_BUDGET).
  const children: number[] = [];
  const parents: number[] = [];
  jobs.forEach((job, index) => job.parents?.forEach((parent) => (children.push(index + 1), parents.push(parent + 1))));
  const rows = await db.query<EnqueueRow>(engine.queries.enqueueWorkflow, [
    ...insertValues(engine, jobs, extras),
    children,
    parents,
    oneOrEach(jobs, (j) => j.onParentFailure),
  ]);
  return rows.map((row) => row.id!);
}

/** How often a dedup key that is taken and freed again under our feet is tried again. */
const CONFLICT_TRIES = 5;

/**
 * A dedup key taken by a transaction that committed while our statement ran: our statement's
 * snapshot cannot see that job, a new statement can (READ COMMITTED). By then a worker may have
 * finished that job, and the key is free again: the job is inserted anew (found by three
 * concurrent enqueues of one key beside a running worker, ~2 % of which failed).
 */
async function settleConflict(engine: Engine, db: Queryable, job: PreparedJob, extras: EnqueueExtras): Promise<string> {
  for (let tries = 0; tries < CONFLICT_TRIES; tries++) {
    const [live] = await db.query<{ id: string }>(engine.queries.findLiveByDedupKey, [job.queue, job.dedupKey]);
    if (live) return live.id;
    const [inserted] = await insertRows(engine, db, [job], extras, true);
    if (inserted?.id) return inserted.id;
  }
  throw new ArrowerJobsError(
    "INVALID_JOB",
    `job "${job.type}" with dedupKey "${job.dedupKey}" conflicts with a job enqueued concurrently that this transaction cannot see (is its isolation level above READ COMMITTED?); it was tried ${CONFLICT_TRIES} times`,
  );
}
