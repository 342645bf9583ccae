/**
 * The in-memory backend of the testing queue: live jobs, finished jobs and an id sequence, with
 * the same contract as the PostgreSQL tables for what they share (test/conformance runs one
 * suite against both). Jobs arrive already validated and serialised by `prepareJobs`, exactly
 * as the real queue inserts them; payloads are kept in their stored form and decoded on every
 * read, so each reader gets a fresh value, as from the database.
 *
 * Transactions are modelled only as far as jobs need them: a handler's attempt is a
 * {@link MemoryTransaction} whose enqueues become live when the handler succeeds and vanish
 * when it throws, like `tx.$jobs.enqueue` in the real queue.
 */
import type { PreparedJob } from "../enqueue.ts";
import type { ProgressValue } from "../handler.ts";
import { deserializePayload, type StoredPayload } from "../payload.ts";

/**
 * A queued job as `all()` returns it. The payload is decoded the way a handler would receive it
 * from the database.
 *
 * @example
 * ```ts
 * const [job] = jobs.all();
 * expect(job).toMatchObject({ type: "send-welcome", queue: "default", attempts: 0 });
 * ```
 */
export interface QueuedJob<P = unknown> {
  /** The job's id: a decimal string, increasing in enqueue order (like the real sequence). */
  id: string;
  /** The job type's name. */
  type: string;
  /** The queue it is in. */
  queue: string;
  /** The payload, round-tripped through the same serialisation as the database. */
  payload: P;
  /** Lower runs first. */
  priority: number;
  /** When it is due. After a failed attempt: when it will be retried. */
  runAt: Date;
  /** When it was enqueued. */
  createdAt: Date;
  /** Attempts made so far (0 until it first runs). */
  attempts: number;
  /** Attempts allowed before it is kept as failed. */
  maxAttempts: number;
  /** Its timeout in ms (not enforced in memory: handlers are awaited to the end). */
  timeout: number;
  /** Its dedup key, or null. */
  dedupKey: string | null;
  /** The error of its last failed attempt, or null. */
  lastError: string | null;
  /**
   * `"available"` (due), `"scheduled"` (due later), `"waiting"` (for jobs it depends on, see
   * `dependsOn`) or `"running"`, as the admin API's `getJob(id).state` says.
   */
  state: "available" | "scheduled" | "waiting" | "running";
  /**
   * Workflows: the ids of the jobs it depends on (`dependsOn` at enqueue), in id order; empty
   * when none. They stay listed once they have finished.
   */
  dependsOn: string[];
  /** Workflows: what a parent that fails for good does to it (`dependsOn` options); null when it depends on none. */
  onParentFailure: "cancel" | "run" | null;
  /**
   * Workflows: the id of the workflow it belongs to (the id of the first job of the enqueue call
   * that made it, as the admin API's `getJob(id).workflowId`), or null when that call used no
   * `dependsOn`.
   */
  workflowId: string | null;
  /**
   * While an attempt runs: the latest value its handler reported with `ctx.progress()`, as the
   * database would return it (`getJob(id).progress` in the real queue). Absent when none was
   * reported; cleared when the attempt ends (succeeds, fails or is retried), as the real queue
   * deletes the job's progress then.
   */
  progress?: ProgressValue;
}

/**
 * A job that has finished: `succeeded()` and `failed()` return these.
 *
 * @example
 * ```ts
 * const [failed] = jobs.failed();
 * expect(failed?.errors).toHaveLength(failed!.maxAttempts);
 * ```
 */
export interface FinishedJob<P = unknown> extends Omit<QueuedJob<P>, "state"> {
  /**
   * How it ended. `"cancelled"`: a job it depends on failed for good or was cancelled
   * (`dependsOn` with `onParentFailure: "cancel"`, the default); it never ran.
   */
  state: FinishedState;
  /** When it finished. */
  finishedAt: Date;
  /** The error text of every failed attempt, oldest first (empty for a first-time success). */
  errors: readonly string[];
  /** What the last failed attempt threw (undefined if no attempt failed). */
  thrown: unknown;
  /**
   * What the handler of a succeeded job returned (`defineJob<P, R>`), round-tripped through the
   * same serialisation as the database; undefined when it returned nothing. Typed: `getResult`.
   */
  result: unknown;
}

/** How a finished job ended. */
export type FinishedState = "succeeded" | "failed" | "cancelled";

/** What a dependant cancelled by its parent's failure keeps as its last error (the real queue's text). */
export const CANCELLED_BY_PARENT = 'cancelled: a job it depends on failed or was cancelled (dependsOn, onParentFailure "cancel")';

/** A live job's row. Mutable only through {@link MemoryStore}. */
export interface StoredJob {
  readonly id: string;
  readonly seq: number;
  readonly queue: string;
  readonly type: string;
  /** The payload as the jsonb column would return it (keys in jsonb order). */
  readonly payload: string;
  readonly payloadMeta: string | null;
  readonly priority: number;
  runAt: Date;
  readonly createdAt: Date;
  attempts: number;
  readonly maxAttempts: number;
  readonly timeoutMs: number;
  readonly dedupKey: string | null;
  lastError: string | null;
  errors: string[];
  thrown: unknown;
  /** Held by a run in progress (the real queue's row lock). */
  running: boolean;
  /** The succeeded handler's result as the jsonb columns would return it; undefined: none. */
  result?: StoredPayload;
  /** The running attempt's latest progress as the jsonb column would return it; undefined: none. */
  progress?: string;
  /** Workflows: the ids of the jobs it depends on, in id order (empty: none). */
  readonly parents: readonly string[];
  /** Workflows: parents not yet settled; it waits (is not due) while above 0. */
  pending: number;
  readonly onParentFailure: "cancel" | "run" | null;
  readonly workflowId: string | null;
  /** Workflows: whether jobs depend on it (its end settles them). */
  readonly hasDependants: boolean;
}

interface FinishedRecord {
  job: StoredJob;
  state: FinishedState;
  finishedAt: Date;
}

/**
 * One handler attempt's writes, or those of a `transaction()`: enqueued jobs that become live
 * only when it commits, and what else happens then (a lease-mode job's `complete`).
 */
export interface MemoryTransaction {
  readonly pending: StoredJob[];
  /** Run by the testing queue after the commit, in order. */
  readonly onCommit: (() => void)[];
  open: boolean;
  /** The store's generation at begin: an attempt that outlives a `reset()` commits nothing. */
  readonly generation: number;
}

/** Run order of the real queue's "priority" strategy: priority, then run_at, then id. */
export function runOrder(a: StoredJob, b: StoredJob): number {
  return a.priority - b.priority || a.runAt.getTime() - b.runAt.getTime() || a.seq - b.seq;
}

/** Live and finished jobs of one testing queue. */
export class MemoryStore {
  private live = new Map<string, StoredJob>();
  private finished: FinishedRecord[] = [];
  private seq = 0;
  private generation = 0;

  /**
   * Inserts prepared jobs, live or into `tx`, and returns their ids in input order. A dedup key
   * that is live in the job's queue (or pending in the same transaction, or earlier in the same
   * batch) yields that job's id instead, as in PostgreSQL.
   *
   * A workflow (jobs with `parents`, which `prepareJobs` gives by position in the call and
   * never with a dedup key) gets ids in input order; its jobs belong to the workflow of the
   * first, and those with parents wait until their parents settle them.
   */
  insert(jobs: readonly PreparedJob[], now: Date, tx?: MemoryTransaction): string[] {
    const target = tx?.open ? tx : undefined;
    const workflow = jobs.some((job) => job.parents !== null);
    const firstSeq = this.seq + 1;
    const idAt = (index: number) => String(firstSeq + index);
    const parentIndexes = new Set(jobs.flatMap((job) => job.parents ?? []));
    return jobs.map((job, index) => {
      if (job.dedupKey !== null) {
        const existing = this.findByDedupKey(job.queue, job.dedupKey, target);
        if (existing) return existing.id;
      }
      const seq = ++this.seq;
      const parents = [...new Set(job.parents ?? [])].sort((a, b) => a - b).map(idAt);
      const stored: StoredJob = {
        id: String(seq),
        seq,
        queue: job.queue,
        type: job.type,
        payload: asJsonb(job.payload)!,
        payloadMeta: asJsonb(job.payloadMeta),
        priority: job.priority,
        // Copies: the caller may reuse or mutate the Date it passed as runAt.
        runAt: new Date((job.runAt ?? now).getTime()),
        createdAt: new Date(now.getTime()),
        attempts: 0,
        maxAttempts: job.maxAttempts,
        timeoutMs: job.timeoutMs,
        dedupKey: job.dedupKey,
        lastError: null,
        errors: [],
        thrown: undefined,
        running: false,
        parents,
        pending: parents.length,
        onParentFailure: job.onParentFailure,
        workflowId: workflow ? idAt(0) : null,
        hasDependants: parentIndexes.has(index),
      };
      if (target) target.pending.push(stored);
      else this.live.set(stored.id, stored);
      return stored.id;
    });
  }

  /** Starts a handler attempt's transaction. */
  begin(): MemoryTransaction {
    return { pending: [], onCommit: [], open: true, generation: this.generation };
  }

  /**
   * Makes a transaction's jobs live. A dedup key taken meanwhile by a job outside the
   * transaction keeps that job (PostgreSQL's unique index would have made us wait for it).
   */
  commit(tx: MemoryTransaction): void {
    tx.open = false;
    if (tx.generation !== this.generation) return;
    for (const job of tx.pending) {
      if (job.dedupKey !== null && this.findByDedupKey(job.queue, job.dedupKey)) continue;
      this.live.set(job.id, job);
    }
  }

  /** Drops a transaction's jobs (the handler threw). Their ids stay used, like a sequence's. */
  rollback(tx: MemoryTransaction): void {
    tx.open = false;
  }

  /** Live jobs in id order, running ones included. */
  liveJobs(): StoredJob[] {
    return [...this.live.values()].sort((a, b) => a.seq - b.seq);
  }

  /** Finished jobs in the order they finished (of one state, or all). */
  finishedJobs(state?: FinishedState): FinishedJob[] {
    return this.finished.filter((r) => state === undefined || r.state === state).map(toFinished);
  }

  /** The public view of a job by id, live or finished; undefined when unknown. */
  view(id: string, now: number): QueuedJob | FinishedJob | undefined {
    const live = this.live.get(id);
    if (live) return toQueued(live, now);
    const record = this.finished.find((r) => r.job.id === id);
    return record && toFinished(record);
  }

  /** The ids of a workflow's jobs (live and finished), in id order. */
  workflowMembers(workflowId: string): string[] {
    const jobs = [...this.live.values(), ...this.finished.map((r) => r.job)].filter((job) => job.workflowId === workflowId);
    return jobs.sort((a, b) => a.seq - b.seq).map((job) => job.id);
  }

  /**
   * The result of job `id`'s first (by id) parent of type `type` that succeeded: what
   * `ctx.parentResult(type)` reads. undefined when there is none, or it returned nothing.
   */
  parentResult(id: string, type: string): unknown {
    const job = this.live.get(id);
    for (const parentId of job?.parents ?? []) {
      const parent = this.finished.find((r) => r.job.id === parentId && r.state === "succeeded" && r.job.type === type);
      if (parent) return decodeResult(parent.job);
    }
    return undefined;
  }

  /** A finished job by id (undefined while live, or unknown). */
  finishedJob(id: string): StoredJob | undefined {
    return this.finished.find((r) => r.job.id === id)?.job;
  }

  /** A live job by id. */
  liveJob(id: string): StoredJob | undefined {
    return this.live.get(id);
  }

  /** Whether `job` is live and held by a run (not finished, not forgotten by `reset()`). */
  holds(job: StoredJob): boolean {
    return this.live.get(job.id) === job && job.running;
  }

  /** Stores a running job's latest progress (JSON text); a job no longer held keeps none. */
  setProgress(job: StoredJob, text: string): void {
    if (this.holds(job)) job.progress = asJsonb(text)!;
  }

  /** Takes a live, idle job for an attempt; false if it is gone or already running. */
  claim(job: StoredJob): boolean {
    if (this.live.get(job.id) !== job || job.running) return false;
    job.running = true;
    return true;
  }

  /** Records a successful attempt and the handler's result: the job leaves the live set for history. */
  succeed(job: StoredJob, attempt: number, now: Date, result?: StoredPayload): void {
    if (this.live.get(job.id) !== job) return; // reset() while it ran
    job.attempts = attempt;
    job.progress = undefined;
    if (result !== undefined) job.result = { json: asJsonb(result.json)!, meta: asJsonb(result.meta) };
    job.running = false;
    this.live.delete(job.id);
    this.finished.push({ job, state: "succeeded", finishedAt: now });
    this.settleDependants(job, "succeeded", now);
  }

  /**
   * Records a failed attempt: the job is retried at `retryAt`, or kept as failed when the attempt
   * is `final` (its last, or an UnrecoverableError). Returns which.
   */
  fail(job: StoredJob, attempt: number, error: string, thrown: unknown, now: Date, retryAt: Date, final: boolean): "retrying" | "failed" {
    job.attempts = attempt;
    job.lastError = error;
    job.errors.push(error);
    job.thrown = thrown;
    job.running = false;
    job.progress = undefined;
    if (this.live.get(job.id) !== job) return final ? "failed" : "retrying";
    if (final) {
      this.live.delete(job.id);
      this.finished.push({ job, state: "failed", finishedAt: now });
      this.settleDependants(job, "failed", now);
      return "failed";
    }
    job.runAt = retryAt;
    return "retrying";
  }

  /**
   * Settles the dependants of a parent that finished, as the real queue does in the parent's
   * finishing transaction: one whose parents have all settled becomes due now. When the parent
   * failed, its dependants with `onParentFailure: "cancel"` are cancelled, and in turn theirs;
   * for those with `"run"`, the failed (or cancelled) parent counts as done.
   */
  private settleDependants(parent: StoredJob, outcome: "succeeded" | "failed", now: Date): void {
    if (!parent.hasDependants) return;
    const settled: { id: string; failed: boolean }[] = [{ id: parent.id, failed: outcome === "failed" }];
    for (let next = settled.shift(); next !== undefined; next = settled.shift()) {
      for (const job of this.liveJobs()) {
        if (job.pending === 0 || !job.parents.includes(next.id)) continue;
        if (next.failed && job.onParentFailure === "cancel") {
          this.live.delete(job.id);
          job.lastError = CANCELLED_BY_PARENT;
          job.runAt = new Date(now.getTime());
          this.finished.push({ job, state: "cancelled", finishedAt: now });
          settled.push({ id: job.id, failed: true });
          continue;
        }
        job.pending--;
        if (job.pending === 0) job.runAt = new Date(now.getTime());
      }
    }
  }

  /** A snoozed attempt: the job runs again at `runAt`, the attempt not counted. */
  snooze(job: StoredJob, runAt: Date): void {
    job.running = false;
    job.progress = undefined;
    job.runAt = runAt;
  }

  /** Forgets every job, live and finished, and restarts the id sequence. */
  reset(): void {
    this.live = new Map();
    this.finished = [];
    this.seq = 0;
    this.generation++;
  }

  private findByDedupKey(queue: string, key: string, tx?: MemoryTransaction): StoredJob | undefined {
    for (const job of this.live.values()) if (job.queue === queue && job.dedupKey === key) return job;
    return tx?.pending.find((job) => job.queue === queue && job.dedupKey === key);
  }
}

/** Decodes a stored payload, as the worker does with the columns it claims. */
export function decodePayload<P>(job: StoredJob): P {
  return deserializePayload<P>(JSON.parse(job.payload), job.payloadMeta === null ? null : JSON.parse(job.payloadMeta));
}

/** Decodes a finished job's stored result (undefined: none), as getJob does with its columns. */
export function decodeResult(job: StoredJob): unknown {
  const stored = job.result;
  return stored === undefined ? undefined : deserializePayload(JSON.parse(stored.json), stored.meta === null ? null : JSON.parse(stored.meta));
}

/** The public view of a live job; its state as of `now` (ms). */
export function toQueued(job: StoredJob, now: number): QueuedJob {
  const state = job.running ? "running" : job.pending > 0 ? "waiting" : job.runAt.getTime() > now ? "scheduled" : "available";
  return { ...columns(job), state };
}

/** The public view of a finished job. */
function toFinished(record: FinishedRecord): FinishedJob {
  const { job, state, finishedAt } = record;
  return { ...columns(job), state, finishedAt, errors: [...job.errors], thrown: job.thrown, result: decodeResult(job) };
}

/** What live and finished jobs show alike, as fresh values. */
function columns(job: StoredJob): Omit<QueuedJob, "state"> {
  return {
    id: job.id,
    type: job.type,
    queue: job.queue,
    payload: decodePayload(job),
    priority: job.priority,
    runAt: new Date(job.runAt),
    createdAt: new Date(job.createdAt),
    attempts: job.attempts,
    maxAttempts: job.maxAttempts,
    timeout: job.timeoutMs,
    dedupKey: job.dedupKey,
    lastError: job.lastError,
    dependsOn: [...job.parents],
    onParentFailure: job.onParentFailure,
    workflowId: job.workflowId,
    ...(job.progress === undefined ? {} : { progress: JSON.parse(job.progress) as ProgressValue }),
  };
}

/**
 * JSON text as a jsonb column gives it back. jsonb does not keep object key order: it stores
 * keys shortest first, then by their bytes. Code that walks `Object.keys(payload)` sees that
 * order in production, so it sees it here too.
 */
export function asJsonb(text: string | null): string | null {
  return text === null ? null : JSON.stringify(jsonbOrder(JSON.parse(text) as unknown));
}

function jsonbOrder(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(jsonbOrder);
  if (value === null || typeof value !== "object") return value;
  const keys = Object.keys(value).sort(jsonbKeyOrder);
  const out: Record<string, unknown> = {};
  // defineProperty, not assignment: a "__proto__" key is data in JSON, not a prototype.
  for (const key of keys) {
    Object.defineProperty(out, key, { value: jsonbOrder((value as Record<string, unknown>)[key]), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function jsonbKeyOrder(a: string, b: string): number {
  const x = Buffer.from(a, "utf8");
  const y = Buffer.from(b, "utf8");
  return x.length - y.length || Buffer.compare(x, y);
}
