/**
 * Scale mode's child (run with --expose-gc): arrower-jobs only.
 *
 *   node --expose-gc --import tsx bench/scale.ts '<json ScaleTask>'
 *
 * 1. fills `history` rows into arrower.job_history (SQL, generate_series; ids below zero so they
 *    never meet the job id sequence);
 * 2. enqueues `queued` jobs through `prisma.$jobs.enqueue` in batches of 10,000 (timed);
 * 3. VACUUM ANALYZE, then starts a pool of 10 and measures the claim rate from the first handler
 *    call to the `sample`-th;
 * 4. keeps processing and samples the worker process's memory (heap used after a forced GC, and
 *    RSS) after 1,000 jobs and after each count in `memoryAt`. On a server with autovacuum off
 *    (this machine's CI server), it VACUUMs the jobs table itself every 10 s, as autovacuum
 *    would: otherwise 1,000,000 finished jobs' dead rows pile up and claims slow to a crawl.
 * Prints progress as BENCH_PROGRESS lines and the outcome as one BENCH_RESULT line.
 */
import pg from "pg";
import { arrower } from "./systems/arrower.ts";
import { sleep } from "./lib/stats.ts";

export interface ScaleTask {
  url: string;
  queued: number;
  history: number;
  sample: number;
  memoryAt: number[];
}

export interface MemorySample {
  jobs: number;
  heapUsedMiB: number;
  rssMiB: number;
}

export interface ScaleResult {
  queued: number;
  history: number;
  historyFillSeconds?: number;
  enqueueJobsPerSecond?: number;
  claimJobsPerSecond?: number;
  memory: MemorySample[];
  /** VACUUMs of the jobs tables the run did itself, because the server runs without autovacuum. */
  manualVacuums?: number;
  error?: string;
}

const progress = (line: string) => process.stdout.write(`BENCH_PROGRESS ${line}\n`);
const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

function sampleMemory(jobs: number): MemorySample {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with node --expose-gc");
  gc();
  gc();
  const m = process.memoryUsage();
  return { jobs, heapUsedMiB: mib(m.heapUsed), rssMiB: mib(m.rss) };
}

async function fillHistory(url: string, rows: number): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const t0 = performance.now();
  try {
    const chunk = 1_000_000;
    for (let from = 1; from <= rows; from += chunk) {
      const to = Math.min(rows, from + chunk - 1);
      await client.query(
        `INSERT INTO arrower.job_history
           (id, queue, type, payload, priority, run_at, created_at, state, attempts, max_attempts, timeout_ms, started_at, finished_at, pool)
         SELECT -g, 'default', 'bench-noop', jsonb_build_object('i', g), 0, t, t, 'succeeded', 1, 25, 30000, t, t, 'bench'
         FROM generate_series($1::bigint, $2::bigint) g, LATERAL (SELECT now() - make_interval(secs => g / 1000.0)) x(t)`,
        [from, to],
      );
      progress(`history: ${to.toLocaleString("en-US")} / ${rows.toLocaleString("en-US")} rows`);
    }
  } finally {
    await client.end();
  }
  return (performance.now() - t0) / 1000;
}

async function vacuumAnalyze(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("VACUUM ANALYZE arrower.jobs");
    await client.query("VACUUM ANALYZE arrower.job_history");
  } finally {
    await client.end();
  }
}

async function run(task: ScaleTask): Promise<ScaleResult> {
  const result: ScaleResult = { queued: task.queued, history: task.history, memory: [] };
  if (task.history > 0) result.historyFillSeconds = Math.round(await fillHistory(task.url, task.history));

  const harness = await arrower.open({ url: task.url, prefix: "scale" });
  try {
    const batch = 10_000;
    const t0 = performance.now();
    let lastReport = t0;
    for (let from = 0; from < task.queued; from += batch) {
      await harness.enqueueBatch(from, Math.min(batch, task.queued - from));
      if (performance.now() - lastReport > 10_000) {
        lastReport = performance.now();
        progress(`enqueued ${(from + batch).toLocaleString("en-US")} / ${task.queued.toLocaleString("en-US")}`);
      }
    }
    result.enqueueJobsPerSecond = Math.round((task.queued / (performance.now() - t0)) * 1000);
    progress(`enqueued ${task.queued.toLocaleString("en-US")} at ${result.enqueueJobsPerSecond.toLocaleString("en-US")} jobs/s; VACUUM ANALYZE`);
    await vacuumAnalyze(task.url);

    const target = Math.max(task.sample, ...task.memoryAt, 1_000);
    const marks = new Set([1_000, ...task.memoryAt]);
    let count = 0;
    let first = 0;
    let sampleEnd = 0;
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    await harness.startWorkers("default", () => {
      count++;
      if (count === 1) first = performance.now();
      if (count === task.sample) sampleEnd = performance.now();
      if (marks.has(count)) result.memory.push(sampleMemory(count));
      if (count === target) done();
    });
    let lastCount = 0;
    let lastMove = performance.now();
    const vacuumer = new pg.Client({ connectionString: task.url });
    await vacuumer.connect();
    const { rows: av } = await vacuumer.query<{ on: boolean }>(`SELECT current_setting('autovacuum')::boolean AS on`);
    if (!av[0]!.on) result.manualVacuums = 0;
    while (count < target) {
      await Promise.race([finished, sleep(10_000)]);
      if (result.manualVacuums !== undefined && count < target) {
        await vacuumer.query("VACUUM arrower.jobs");
        result.manualVacuums++;
      }
      if (count !== lastCount) {
        progress(`processed ${count.toLocaleString("en-US")} / ${target.toLocaleString("en-US")}`);
        lastCount = count;
        lastMove = performance.now();
      } else if (performance.now() - lastMove > 60_000) {
        throw new Error(`processing stalled at ${count} jobs`);
      }
    }
    await vacuumer.end();
    result.claimJobsPerSecond = Math.round((task.sample / (sampleEnd - first)) * 1000);
  } catch (error) {
    result.error = error instanceof Error ? (error.stack ?? error.message) : String(error);
  } finally {
    await harness.close().catch(() => undefined);
  }
  return result;
}

const task = JSON.parse(process.argv[2] ?? "{}") as ScaleTask;
const result = await run(task);
process.stdout.write(`BENCH_RESULT ${JSON.stringify(result)}\n`);
process.exit(0);
