/**
 * The scenarios, measured the same way for every system (see systems/types.ts for what a
 * system provides). One call of {@link runTask} is one measurement; bench/child.ts runs it in a
 * process of its own.
 *
 * - enqueue-single: n awaited single enqueues after a short warm-up → jobs/s
 * - enqueue-batch: n jobs in awaited batches of `batch` after one warm-up batch → jobs/s
 * - process: n jobs enqueued beforehand (then ANALYZE), workers started; the clock runs from the
 *   first handler call to the moment the store holds no pending job (polled every 5 ms once every
 *   handler has run) → jobs/s
 * - process with holdHorizon: the same while another connection keeps a transaction open (as a
 *   long job of arrower-jobs does in transaction mode): PostgreSQL can clean up no row deleted
 *   or updated meanwhile
 * - process with longJobMs: the same while ONE long job runs beside, started before the workers
 *   (arrower-jobs: in lease mode, in the same queue; peers: their own long job); the figure
 *   counts only if the long job still ran when the short ones were done
 * - latency: workers idle; n jobs enqueued `gapMs` apart, each awaited; latency = handler start −
 *   enqueue resolved → p50/p95/p99 ms
 */
import pg from "pg";
import { percentile, sleep } from "./lib/stats.ts";
import { loadSystem } from "./systems/index.ts";
import { Unsupported, PG_SYSTEMS, type Harness, type SystemId, type Variant } from "./systems/types.ts";

export type ScenarioId = "enqueue-single" | "enqueue-batch" | "process" | "latency";

export interface Task {
  system: SystemId;
  scenario: ScenarioId;
  variant: Variant;
  url: string;
  prefix: string;
  n: number;
  batch?: number;
  gapMs?: number;
  /** process: hold a transaction open on another connection for the whole run (the vacuum horizon). */
  holdHorizon?: boolean;
  /** process: run one job of this length (ms, at most) beside the short ones, on a worker of its own. */
  longJobMs?: number;
}

export interface Measurement {
  system: SystemId;
  scenario: ScenarioId;
  variant: Variant;
  n: number;
  /** The headline figure: jobs/s, or p50 ms for latency. */
  value?: number;
  unit?: string;
  /** Extra figures (latency percentiles, timings, checks). */
  details?: Record<string, number | string>;
  settings?: string;
  unsupported?: string;
  error?: string;
}

async function enqueueSingle(h: Harness, n: number): Promise<Partial<Measurement>> {
  const warm = Math.max(20, Math.round(n / 50));
  for (let k = 0; k < warm; k++) await h.enqueue(-1 - k);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await h.enqueue(i);
  const ms = performance.now() - t0;
  const stored = await h.pending();
  if (stored !== n + warm) throw new Error(`expected ${n + warm} stored jobs, the store holds ${stored}`);
  return { value: (n / ms) * 1000, unit: "jobs/s", details: { ms: round(ms), warmup: warm } };
}

async function enqueueBatch(h: Harness, n: number, batch: number): Promise<Partial<Measurement>> {
  await h.enqueueBatch(-batch, batch); // warm-up
  const t0 = performance.now();
  for (let from = 0; from < n; from += batch) await h.enqueueBatch(from, Math.min(batch, n - from));
  const ms = performance.now() - t0;
  const stored = await h.pending();
  if (stored !== n + batch) throw new Error(`expected ${n + batch} stored jobs, the store holds ${stored}`);
  return { value: (n / ms) * 1000, unit: "jobs/s", details: { ms: round(ms), batch } };
}

async function processJobs(h: Harness, task: Task): Promise<Partial<Measurement>> {
  const { n } = task;
  for (let from = 0; from < n; from += 1000) await h.enqueueBatch(from, Math.min(1000, n - from));
  if (PG_SYSTEMS.includes(task.system)) await analyze(task.url);
  const queued = await h.pending();
  if (queued !== n) throw new Error(`expected ${n} queued jobs, the store holds ${queued}`);
  const horizon = task.holdHorizon ? await holdTransaction(task.url) : undefined;
  try {
    let longEnded = false;
    if (task.longJobMs) {
      if (!h.startLongJob) throw new Unsupported("no long job defined for this system");
      await h.startLongJob(task.longJobMs, () => (longEnded = true));
    }
    const measured = await measureProcessing(h, task);
    if (longEnded) throw new Error(`${task.system}: the long job ended before the ${n} short ones were done (processing took over ${task.longJobMs} ms)`);
    // What holds the vacuum horizon back: the oldest snapshot in the database, in transactions.
    if ((task.holdHorizon || task.longJobMs) && PG_SYSTEMS.includes(task.system)) measured.details!.oldestSnapshotXids = await oldestSnapshotAge(task.url);
    return measured;
  } finally {
    await horizon?.end();
  }
}

/** How many transactions old the oldest snapshot of another session of the database is (0: none). */
async function oldestSnapshotAge(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ age: number }>(
      "SELECT coalesce(max(age(backend_xmin)), 0)::int AS age FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
    );
    return rows[0]!.age;
  } finally {
    await client.end();
  }
}

/** A transaction with an id and a snapshot, kept open until end(): rows dead after it began stay. */
async function holdTransaction(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ");
  await client.query("SELECT txid_current()");
  return client;
}

async function measureProcessing(h: Harness, task: Task): Promise<Partial<Measurement>> {
  const { n } = task;

  const seen = new Uint8Array(n);
  let distinct = 0;
  let duplicates = 0;
  let first = 0;
  let last = 0;
  let allHandled!: () => void;
  const handled = new Promise<void>((resolve) => (allHandled = resolve));
  const startedAt = performance.now();
  await h.startWorkers(task.variant, (i) => {
    const now = performance.now();
    if (distinct === 0 && duplicates === 0) first = now;
    last = now;
    if (seen[i]) duplicates++;
    else {
      seen[i] = 1;
      if (++distinct === n) allHandled();
    }
  });
  const ready = performance.now();
  await withProgressTimeout(handled, () => distinct, 60_000, `${task.system}: processing stalled`);
  // Every handler ran: wait for the store to record the last completion.
  let done = 0;
  const deadline = performance.now() + 30_000;
  for (;;) {
    const polledAt = performance.now();
    if ((await h.pending()) === 0) {
      done = polledAt;
      break;
    }
    if (polledAt > deadline) throw new Error(`${task.system}: jobs still pending 30 s after the last handler ran`);
    await sleep(5);
  }
  const ms = done - first;
  return {
    value: (n / ms) * 1000,
    unit: "jobs/s",
    details: {
      ms: round(ms),
      startMs: round(ready - startedAt),
      firstJobAfterStartMs: round(first - startedAt),
      lastHandlerToDoneMs: round(done - last),
      duplicates,
    },
  };
}

async function latency(h: Harness, task: Task): Promise<Partial<Measurement>> {
  const { n } = task;
  const gap = task.gapMs ?? 20;
  const handlerAt = new Float64Array(n).fill(Number.NaN);
  const calledAt = new Float64Array(n);
  const resolvedAt = new Float64Array(n);
  let warmDone = 0;
  let count = 0;
  let duplicates = 0;
  let allHandled!: () => void;
  const handled = new Promise<void>((resolve) => (allHandled = resolve));
  await h.startWorkers("default", (i) => {
    const now = performance.now();
    if (i < 0) {
      warmDone++;
      return;
    }
    if (!Number.isNaN(handlerAt[i]!)) {
      duplicates++;
      return;
    }
    handlerAt[i] = now;
    if (++count === n) allHandled();
  });
  // Warm-up: a few jobs through the whole path, then let the workers go idle.
  for (let k = 0; k < 5; k++) {
    await h.enqueue(-1 - k);
    await sleep(50);
  }
  const warmDeadline = performance.now() + 10_000;
  while (warmDone < 5 && performance.now() < warmDeadline) await sleep(10);
  await sleep(500);

  const base = performance.now();
  for (let i = 0; i < n; i++) {
    const wait = base + i * gap - performance.now();
    if (wait > 0) await sleep(wait);
    calledAt[i] = performance.now();
    await h.enqueue(i);
    resolvedAt[i] = performance.now();
  }
  await withProgressTimeout(handled, () => count, 30_000, `${task.system}: not every job ran`);
  const fromResolved = Array.from({ length: n }, (_, i) => handlerAt[i]! - resolvedAt[i]!);
  const fromCall = Array.from({ length: n }, (_, i) => handlerAt[i]! - calledAt[i]!);
  const enqueueMs = Array.from({ length: n }, (_, i) => resolvedAt[i]! - calledAt[i]!);
  return {
    value: percentile(fromResolved, 50),
    unit: "ms (p50)",
    details: {
      p50: round(percentile(fromResolved, 50), 3),
      p95: round(percentile(fromResolved, 95), 3),
      p99: round(percentile(fromResolved, 99), 3),
      max: round(Math.max(...fromResolved), 3),
      min: round(Math.min(...fromResolved), 3),
      beforeResolved: fromResolved.filter((v) => v < 0).length,
      fromCallP50: round(percentile(fromCall, 50), 3),
      fromCallP99: round(percentile(fromCall, 99), 3),
      enqueueP50: round(percentile(enqueueMs, 50), 3),
      duplicates,
    },
  };
}

/** Rejects when `count()` has not moved for `idleMs`. */
async function withProgressTimeout(done: Promise<void>, count: () => number, idleMs: number, message: string): Promise<void> {
  let lastCount = -1;
  let lastMove = performance.now();
  let finished = false;
  void done.then(() => (finished = true));
  while (!finished) {
    await Promise.race([done, sleep(200)]);
    const c = count();
    if (c !== lastCount) {
      lastCount = c;
      lastMove = performance.now();
    } else if (performance.now() - lastMove > idleMs) {
      throw new Error(`${message} (${c} done, no progress for ${idleMs / 1000} s)`);
    }
  }
}

async function analyze(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("ANALYZE");
  } finally {
    await client.end();
  }
}

function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export async function runTask(task: Task): Promise<Measurement> {
  const result: Measurement = { system: task.system, scenario: task.scenario, variant: task.variant, n: task.n };
  const system = await loadSystem(task.system);
  let harness: Harness | undefined;
  try {
    harness = await system.open({ url: task.url, prefix: task.prefix });
    result.settings = harness.describe(task.variant);
    let measured: Partial<Measurement>;
    switch (task.scenario) {
      case "enqueue-single":
        measured = await enqueueSingle(harness, task.n);
        break;
      case "enqueue-batch":
        measured = await enqueueBatch(harness, task.n, task.batch ?? 1000);
        break;
      case "process":
        measured = await processJobs(harness, task);
        break;
      case "latency":
        measured = await latency(harness, task);
        break;
    }
    Object.assign(result, measured);
  } catch (error) {
    if (error instanceof Unsupported) result.unsupported = error.message;
    else result.error = error instanceof Error ? (error.stack ?? error.message) : String(error);
  } finally {
    await harness?.close().catch((error: unknown) => {
      result.error ??= `close failed: ${(error as Error).message}`;
    });
  }
  return result;
}

