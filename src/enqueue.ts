/**
 * Enqueue: validates everything first (so bad input writes nothing), then inserts the whole
 * batch, of one job type or many, with one statement.
 */
import { validateEnqueueOptions, type EnqueueOptions } from "./config.ts";
import { JOB_DEFAULTS, toJobList, type Job } from "./job.ts";
import { serializePayload } from "./payload.ts";
import type { Queryable } from "./backend.ts";
import type { Engine } from "./engine.ts";
import { ArrowerJobsError } from "./errors.ts";
import { oneOrEach } from "./postgres/arrays.ts";

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
}

/** Validates and serialises jobs with the options of one enqueue call. Throws before any write. */
export function prepareJobs(input: unknown, rawOptions: unknown, maxPayloadBytes: number, call = "enqueue"): PreparedJob[] {
  const jobs = toJobList(input, call);
  const options: EnqueueOptions = validateEnqueueOptions(rawOptions);
  return jobs.map((job: Job) => prepareJob(job, options, maxPayloadBytes));
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
  };
}

interface EnqueueRow {
  id: string | null;
}

/**
 * Inserts prepared jobs in one statement on `db` (the caller's client or transaction) and
 * returns their ids in input order. A dedup key already live in its queue yields that job's id.
 */
export async function insertJobs(engine: Engine, db: Queryable, jobs: PreparedJob[], extras: EnqueueExtras = {}): Promise<string[]> {
  if (jobs.length === 0) return [];
  // otel: one "send" span per call; the carrier it gives (its trace context, or the caller's
  // extras.traceContext) is stored with each job (src/otel/instrumentation.ts).
  return engine.otel.enqueueSpan(jobs, extras.traceContext, (traceContext) => insertBatch(engine, db, jobs, { ...extras, traceContext }));
}

async function insertBatch(engine: Engine, db: Queryable, jobs: PreparedJob[], extras: EnqueueExtras): Promise<string[]> {
  await engine.ensureSchema(db);
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
  const rows = await insertRows(engine, db, sent, extras, firstIndex.size > 0);
  const ids: string[] = [];
  for (const [index, row] of rows.entries()) {
    ids[index] = row.id ?? (await settleConflict(engine, db, sent[index]!, extras));
  }
  return sentIndexOf.map((i) => ids[i]!);
}

/** The insert statement, for jobs whose dedup keys (if any) are distinct; a row per job, in order. */
function insertRows(engine: Engine, db: Queryable, sent: PreparedJob[], extras: EnqueueExtras, dedup: boolean): Promise<EnqueueRow[]> {
  const trace = extras.traceContext ? JSON.stringify(extras.traceContext) : null;
  const q = engine.queries;
  const statement = dedup ? q.enqueueDedup : extras.scheduleId != null ? q.enqueueTick : q.enqueue;
  // Payloads as one JSON array; the other columns once when the batch shares the value (see the statement).
  return db.query<EnqueueRow>(statement, [
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
  ]);
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
