/**
 * Shared pieces of the fault scenarios: a test app with an effect table, worker processes
 * (test/faults/fixtures/worker.ts) to start, kill and stop, and the checks every scenario ends
 * with (nothing lost, nothing duplicated).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { createTestApp, type TestApp } from "../../helpers/app.ts";

const fixture = fileURLToPath(new URL("../fixtures/worker.ts", import.meta.url));
const repo = fileURLToPath(new URL("../../..", import.meta.url));
// Absolute: CLI children run in temp dirs, where a bare `--import tsx` would not resolve.
const tsx = import.meta.resolve("tsx");

/**
 * One row per committed side effect; no unique key on purpose, so a job whose effect commits
 * twice shows as two rows instead of failing its second run.
 */
const EFFECT_TABLE = `
  CREATE TABLE fault_effect (
    job_id bigint NOT NULL,
    pid integer NOT NULL,
    attempt integer NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- When the attempt that wrote it started (the limits scenario counts holders by it).
    started_at timestamptz
  );
  CREATE INDEX fault_effect_job ON fault_effect (job_id);`;

/** A test app (its own database, migrated) with the `fault_effect` table. */
export async function createFaultApp(): Promise<TestApp> {
  const app = await createTestApp();
  await app.rows(EFFECT_TABLE);
  return app;
}

/**
 * Queries from the outside that survive a server restart: a small pool whose broken connections
 * are dropped (the test app's `observer` is a single client and dies with the server).
 */
export class Observer {
  private readonly pool: pg.Pool;

  constructor(url: string) {
    this.pool = new pg.Pool({ connectionString: url, max: 2 });
    this.pool.on("error", () => undefined);
  }

  async rows<R = Record<string, unknown>>(sql: string, values?: unknown[]): Promise<R[]> {
    return (await this.pool.query(sql, values)).rows as R[];
  }

  /** One integer, e.g. `SELECT count(*)::int AS n ...`. */
  async int(sql: string, values?: unknown[]): Promise<number> {
    const [row] = await this.rows<{ n: number }>(sql, values);
    return row!.n;
  }

  /** The database clock, ms since the epoch. */
  async now(): Promise<number> {
    const [row] = await this.rows<{ now: Date }>("SELECT clock_timestamp() AS now");
    return row!.now.getTime();
  }

  /** Retries `int` until the server answers (during a restart). */
  async intWhenUp(sql: string, values?: unknown[], timeoutMs = 60_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await this.int(sql, values);
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(50);
      }
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

export interface WorkerSettings {
  poolSize?: number;
  pollInterval?: number;
  shutdownDeadline?: number;
  /** Register the lease-mode types (fixtures/jobs.ts) too. */
  lease?: boolean;
  /** Register the concurrency-limited type (fixtures/jobs.ts: Limited) too. */
  limited?: boolean;
}

export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Lines printed so far (stdout and stderr). */
  readonly output: string[];
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  readonly startedAt: number;
  /** How it ended: `code 0`, `SIGKILL`… (undefined while it runs). */
  readonly ended: () => string | undefined;
}

/** Starts a worker process on `url` and resolves once its pool runs. */
export function startWorker(url: string, settings: WorkerSettings = {}, readyTimeoutMs = 120_000): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", fixture], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, FAULT_WORKER: JSON.stringify({ url, ...settings }) },
  });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const ended = () => (child.signalCode ?? (child.exitCode === null ? undefined : `code ${child.exitCode}`)) || undefined;
  const worker: WorkerProcess = { child, pid: child.pid!, output, exited, startedAt: Date.now(), ended };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`worker not ready after ${readyTimeoutMs} ms:\n${output.join("\n")}`));
    }, readyTimeoutMs);
    const collect = (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) if (line) output.push(line);
      if (output.length > 2_000) output.splice(0, output.length - 2_000);
      if (output.includes("ready")) {
        clearTimeout(timer);
        resolve(worker);
      }
    };
    child.stdout!.on("data", collect);
    child.stderr!.on("data", collect);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited (${code}) before it was ready:\n${output.join("\n")}`));
    });
  });
}

/** Whether the process still runs. */
export function running(worker: WorkerProcess): boolean {
  return worker.child.exitCode === null && worker.child.signalCode === null;
}

/** SIGTERM (graceful) and wait for the exit code. */
export async function stopWorker(worker: WorkerProcess): Promise<number | null> {
  if (running(worker)) worker.child.kill("SIGTERM");
  return worker.exited;
}

/** SIGKILL and wait until it is gone. */
export async function killWorker(worker: WorkerProcess): Promise<void> {
  if (running(worker)) worker.child.kill("SIGKILL");
  await worker.exited;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  readonly child: ChildProcess;
  readonly output: { stdout: string; stderr: string };
  readonly exited: Promise<CliResult>;
}

/**
 * Runs the CLI as users do (`src/cli/main.ts`, what the bin runs) with `node --import tsx` —
 * `npx tsx` would not pass SIGTERM on to it. Test-runner variables are dropped (they silence
 * the logger), DATABASE_URL is `url` when given.
 */
export function spawnCli(args: readonly string[], options: { cwd: string; url?: string }): CliProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, ...(options.url ? { DATABASE_URL: options.url } : {}) };
  for (const key of Object.keys(env)) if (key.startsWith("VITEST") || key === "NODE_ENV") delete env[key];
  const child = spawn(process.execPath, ["--import", tsx, `${repo}src/cli/main.ts`, ...args], { cwd: options.cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  const output = { stdout: "", stderr: "" };
  child.stdout!.on("data", (chunk: Buffer) => (output.stdout += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output.stderr += chunk.toString()));
  const exited = new Promise<CliResult>((resolve) => child.on("close", (code, signal) => resolve({ code, signal, ...output })));
  return { child, output, exited };
}

/** Jobs without a committed effect, and effects beyond one per job, for the jobs `ids`. */
export async function effectCounts(app: Pick<TestApp, "rows">, ids: readonly string[]): Promise<{ lost: number; duplicated: number; strays: number }> {
  const [row] = await app.rows<{ lost: number; duplicated: number; strays: number }>(
    `WITH expected AS (SELECT unnest($1::bigint[]) AS id),
          effects AS (SELECT job_id, count(*) AS n FROM fault_effect GROUP BY job_id)
     SELECT (SELECT count(*) FROM expected e WHERE NOT EXISTS (SELECT 1 FROM effects f WHERE f.job_id = e.id))::int AS lost,
            (SELECT coalesce(sum(n - 1), 0) FROM effects)::int AS duplicated,
            (SELECT count(*) FROM effects f WHERE NOT EXISTS (SELECT 1 FROM expected e WHERE e.id = f.job_id))::int AS strays`,
    [ids],
  );
  return row!;
}

/** The database clock, ms since the epoch (fault times are compared with commit times). */
export async function dbNow(app: TestApp): Promise<number> {
  const [row] = await app.rows<{ now: Date }>("SELECT clock_timestamp() AS now");
  return row!.now.getTime();
}

/** Resolves once `predicate` holds, polling every 50 ms; rejects after `timeoutMs`. */
export async function waitUntil(predicate: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * The longest recovery of a job interrupted by a fault: for every job with an earlier attempt
 * in `arrower.attempts` (crashed or failed), from the fault that interrupted it to the job's
 * commit. `faults` are database-clock times (ms). A failed attempt knows when it began: its
 * fault is the first at or after that. A crashed attempt's record knows only when the next
 * claimer found it (a dead worker writes nothing): its fault is the last before that.
 */
export async function maxRecovery(db: Pick<TestApp, "rows">, faults: readonly number[]): Promise<number | null> {
  const rows = await db.rows<{ started: Date | null; detected: Date; finished: Date }>(
    `SELECT min(a.started_at) AS started, min(a.finished_at) AS detected, h.finished_at AS finished
     FROM arrower.attempts a JOIN arrower.job_history h ON h.id = a.job_id
     WHERE h.state = 'succeeded' GROUP BY h.id, h.finished_at`,
  );
  const sorted = [...faults].sort((a, b) => a - b);
  let max: number | null = null;
  for (const { started, detected, finished } of rows) {
    const fault = started ? sorted.find((t) => t >= started.getTime()) : sorted.filter((t) => t <= detected.getTime()).at(-1);
    if (fault !== undefined && fault <= finished.getTime()) max = Math.max(max ?? 0, finished.getTime() - fault);
  }
  return max;
}

/** Sleeps. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A random integer in [min, max]. */
export const between = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1));
