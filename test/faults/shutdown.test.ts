/**
 * Shutdown under load: two `arrower-jobs worker` processes (the CLI, as deployed) run jobs of
 * 0.3–2 s — half honour their signal, half ignore it — and get SIGTERM mid-run. Expected: each
 * exits 0 within its shutdownDeadline plus the 2 s grace for handlers that ignore the signal;
 * every job that was running then has either finished or been rolled back (no lock, no attempt
 * counted); a fresh worker then runs the rest, and every job ran exactly once.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestApp } from "../helpers/app.ts";
import { cliConfigSource } from "./fixtures/cli-config.ts";
import { Fx, Stubborn } from "./fixtures/jobs.ts";
import { between, createFaultApp, effectCounts, spawnCli, waitUntil, type CliProcess } from "./support/harness.ts";
import type { Queue, RegisteredTransaction } from "../../src/index.ts";
import { recordResult } from "./support/results.ts";

const DEADLINE_MS = 1_500;
const GRACE_MS = 2_000; // ABORT_GRACE_MS in src/worker/executor.ts
const JOBS = 60;

describe("shutdown under load", () => {
  let app: TestApp;
  let dir: string;
  const workers: CliProcess[] = [];
  beforeAll(async () => {
    app = await createFaultApp();
    dir = await mkdtemp(join(tmpdir(), "arrower-faults-cli-"));
    await writeFile(join(dir, "arrower-jobs.config.ts"), cliConfigSource({ poolSize: 3, shutdownDeadline: DEADLINE_MS }));
  });
  afterAll(async () => {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill("SIGKILL");
    await app?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function startCliWorker(flags: string[] = []): Promise<CliProcess> {
    const worker = spawnCli(["worker", ...flags], { cwd: dir, url: app.url });
    workers.push(worker);
    await Promise.race([
      waitUntil(() => worker.output.stdout.includes("worker running"), 120_000, "the CLI worker to start"),
      worker.exited.then((r) => Promise.reject(new Error(`worker exited (${r.code}) before it ran: ${r.stderr}`))),
    ]);
    return worker;
  }

  it("SIGTERM to 2 CLI workers mid-run: exit 0 within the deadline, running jobs finished or rolled back, nothing lost", async (context) => {
    const pair = await Promise.all([startCliWorker(), startCliWorker()]);
    const ids = await app.prisma.$jobs.enqueue(
      Array.from({ length: JOBS }, (_, i) => (i % 2 === 0 ? Fx({ ms: between(300, 2_000) }) : Stubborn({ ms: between(300, 2_000) }))),
    );
    // Mid-run: some jobs done, every slot busy.
    await waitUntil(async () => (await app.count("job_history")) >= 10 && (await app.running()).length >= 4, 120_000, "the workers to be busy");
    const runningAtSigterm = (await app.running()).length;
    const doneAtSigterm = await app.count("job_history");
    const sent = Date.now();
    for (const w of pair) w.child.kill("SIGTERM");
    const exits = await Promise.all(pair.map(async (w) => ({ ...(await w.exited), ms: Date.now() - sent })));
    const doneAtExit = await app.count("job_history");
    // Nothing left behind: no job still running, no row still locked, no attempt counted.
    const leftRunning = (await app.running()).length;
    const [{ locked }] = (await app.rows<{ locked: number }>(
      `SELECT (SELECT count(*) FROM arrower.jobs) - (SELECT count(*) FROM (SELECT id FROM arrower.jobs FOR UPDATE SKIP LOCKED) s) AS locked`,
    )) as [{ locked: number }];
    const attemptsAfterShutdown = await app.count("attempts");

    const last = await startCliWorker(["--pool-size", "10"]);
    await waitUntil(async () => (await app.count("job_history")) === JOBS, 120_000, "a fresh worker to run the rest");
    last.child.kill("SIGTERM");
    const lastExit = await last.exited;

    const effects = await effectCounts(app, ids);
    const history = await app.rows<{ state: string; attempts: number; n: number }>(`SELECT state, attempts, count(*)::int AS n FROM arrower.job_history GROUP BY state, attempts`);
    const slowest = Math.max(...exits.map((e) => e.ms));
    recordResult(context, {
      order: 9,
      scenario: "Shutdown under load (SIGTERM to the CLI worker)",
      jobs: JOBS,
      lost: effects.lost,
      duplicated: effects.duplicated,
      maxRecoveryMs: slowest,
      notes: `2 \`arrower-jobs worker\` processes (poolSize 3, shutdownDeadline ${DEADLINE_MS / 1000} s) got SIGTERM with ${runningAtSigterm} jobs running (half ignore their signal): both exited 0 in ≤ ${(slowest / 1000).toFixed(1)} s (the max. recovery column: SIGTERM → exit); ${doneAtExit - doneAtSigterm} of them finished, the rest rolled back with no attempt counted, no job left running or locked; a fresh worker (--pool-size 10) ran the remaining ${JOBS - doneAtExit}`,
    });

    expect(exits.map((e) => e.code)).toEqual([0, 0]);
    expect(slowest).toBeLessThan(DEADLINE_MS + GRACE_MS + 4_000);
    expect(exits.every((e) => e.stdout.includes("shutting down") && e.stdout.includes("worker stopped"))).toBe(true);
    expect({ leftRunning, locked: Number(locked), attemptsAfterShutdown }).toEqual({ leftRunning: 0, locked: 0, attemptsAfterShutdown: 0 });
    expect(lastExit.code).toBe(0);
    expect(effects).toEqual({ lost: 0, duplicated: 0, strays: 0 });
    expect(history).toEqual([{ state: "succeeded", attempts: 1, n: JOBS }]);
  });

  it("many stops of busy pools of short jobs, with throwing listeners: no attempt counted for a job that did not run", async (context) => {
    // Jobs claimed after a stop began (the claim a slot sends with its commit, the rest of a
    // batch) must go back uncounted; maxAttempts 1 turns one miscounted attempt into a failed
    // job. Every listener throws: the app's bug must not reach job accounting.
    const STOPS = 12;
    const PER_STOP = 650;
    const SHORT_JOBS = (STOPS + 1) * PER_STOP;
    await app.rows(`TRUNCATE fault_effect`);
    const ids: string[] = [];
    const errors: string[] = [];
    // Each stop comes from the handlers' count, not the clock: it begins once 150 jobs of a fresh
    // backlog have run, so the pools are busy (hundreds still due) however fast the machine is.
    let ran = 0;
    let target = Infinity;
    let reached: () => void = () => undefined;
    const handler = async (_: { ms?: number }, { tx, jobId, attempt }: { tx: RegisteredTransaction; jobId: string; attempt: number }) => {
      await tx.$executeRaw`INSERT INTO fault_effect (job_id, pid, attempt) VALUES (${BigInt(jobId)}, ${process.pid}, ${attempt})`;
      if (++ran === target) reached();
    };
    async function enqueueBacklog(): Promise<void> {
      ids.push(...(await app.prisma.$jobs.enqueue(
        Array.from({ length: PER_STOP }, () => Fx({})),
        { queue: "stops", maxAttempts: 1 },
      )));
    }
    const pools: Queue<RegisteredTransaction>[] = [1, 25].map((batchSize) => {
      const queue = app.prisma.$jobs.queue("stops", { poolSize: 3, pollInterval: 200, autoStartDelay: 0, batchSize, poolName: `stops-${batchSize}` });
      queue.on("error", (error) => errors.push(error.message));
      for (const kind of ["succeeded", "retrying", "failed", "crashed", "snoozed"] as const) {
        queue.on(kind, () => {
          throw new Error(`broken ${kind} listener`);
        });
      }
      return queue;
    });
    for (const queue of pools) await queue.register(Fx, handler);
    const done = () => app.count("job_history", "queue = 'stops'");
    for (let stop = 0; stop < STOPS; stop++) {
      await enqueueBacklog();
      const busy = new Promise<void>((resolve) => (reached = resolve));
      target = ran + 150;
      await Promise.all(pools.map((queue) => queue.start()));
      await busy;
      // Alternately a shutdown and a register restart (deploys do both).
      if (stop % 2 === 0) await Promise.all(pools.map((queue) => queue.shutdown()));
      else await Promise.all(pools.map((queue) => queue.register(Fx, handler)));
    }
    await enqueueBacklog();
    await Promise.all(pools.map((queue) => queue.start()));
    await waitUntil(async () => (await done()) === SHORT_JOBS, 120_000, "every job to finish");
    await Promise.all(pools.map((queue) => queue.shutdown()));

    const effects = await effectCounts(app, ids);
    const notOnce = await app.count("job_history", "queue = 'stops' AND (state <> 'succeeded' OR attempts <> 1)");
    const attemptRows = await app.count("attempts");
    recordResult(context, {
      order: 9.5,
      scenario: "Shutdowns and restarts of busy pools of short jobs",
      jobs: SHORT_JOBS,
      lost: effects.lost,
      duplicated: effects.duplicated,
      maxRecoveryMs: null,
      notes: `2 pools (poolSize 3; batchSize 1 and 25), ${STOPS} stops mid-run (shutdown and register restart alternately), maxAttempts 1, every event listener throwing: ${notOnce} jobs not succeeded on attempt 1, ${attemptRows} attempt rows; ${errors.length} listener errors reported on the error event`,
    });
    expect(effects).toEqual({ lost: 0, duplicated: 0, strays: 0 });
    expect({ notOnce, attemptRows }).toEqual({ notOnce: 0, attemptRows: 0 });
    expect(errors.length).toBeGreaterThanOrEqual(SHORT_JOBS);
    expect(errors.every((message) => message.includes("listener threw"))).toBe(true);
  }, 300_000);
});
