/**
 * Lease mode under faults (`defineJob(name, { mode: "lease", leaseTimeout })`): a lease-mode
 * job's claim commits at once, its handler runs outside any transaction while its pool renews
 * the lease (every leaseTimeout/3), and its outcome is written fenced by holder and attempt. The
 * jobs here (fixtures/jobs.ts) write their effect and complete in one transaction of the app's
 * (`ctx.complete(tx)`), so an effect commits only with the job's completion.
 *
 * 1. Worker processes SIGKILLed while they hold leases: another process takes each job over
 *    once its lease expired (not before), counting the dead holder's attempt as crashed
 *    ("lease expired: …"); every job completes exactly once.
 * 2. A worker paused (SIGSTOP) past its lease: another process takes the jobs over and
 *    completes them; resumed (SIGCONT), the paused worker's handlers go on, write their effect
 *    and call `complete(tx)`: refused (LeaseLostError), their transactions roll back.
 * 3. PostgreSQL restarted (fast, then immediate) while jobs hold leases: a lease longer than the
 *    outage survives (its renewal resumes once the control connection is back), a 1 s lease
 *    lapses and is counted, as a failed attempt by its holder or a crashed one by its taker.
 */
import { hostname } from "node:os";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { TestApp } from "../helpers/app.ts";
import { LeaseFx, LeaseSlow } from "./fixtures/jobs.ts";
import { between, createFaultApp, dbNow, effectCounts, killWorker, Observer, running, sleep, startWorker, stopWorker, waitUntil, type WorkerProcess } from "./support/harness.ts";
import { recordResult } from "./support/results.ts";
import { startServer, stopServer, type StopMode } from "./support/server.ts";

/** LeaseFx's leaseTimeout: renewed every ~333 ms. */
const LEASE_MS = 1_000;
/** LeaseSlow's leaseTimeout. */
const SLOW_LEASE_MS = 8_000;

/** A worker process's pool name, the lease holder written on its jobs (the default poolName). */
const poolOf = (worker: WorkerProcess) => `${hostname()}:${worker.pid}`;

/** A crashed attempt recorded by the worker that took an expired lease over. */
const LEASE_EXPIRED = /^lease expired: the worker running attempt \d+ \(pool [^)]+\) stopped renewing it/;

/** Rows that must not exist: a job's attempt count is 1 + its recorded earlier attempts. */
const INCONSISTENT_ATTEMPTS = `
  SELECT count(*)::int AS n FROM arrower.job_history h
  WHERE h.id = ANY($1::bigint[]) AND h.attempts <> 1 + (SELECT count(*) FROM arrower.attempts a WHERE a.job_id = h.id)`;

/** Effects not written by the attempt that completed the job (complete(tx) commits both or neither). */
const EFFECTS_OF_OTHER_ATTEMPTS = `
  SELECT count(*)::int AS n FROM fault_effect f JOIN arrower.job_history h ON h.id = f.job_id
  WHERE h.id = ANY($1::bigint[]) AND f.attempt <> h.attempts`;

describe("lease mode: worker processes killed", () => {
  const JOBS = Number(process.env.FAULTS_LEASE_KILL_JOBS ?? 600);
  const WORKERS = 3;
  const POOL_SIZE = 3;
  let app: TestApp;
  const workers: WorkerProcess[] = [];
  beforeAll(async () => {
    app = await createFaultApp();
  });
  afterAll(async () => {
    await Promise.all(workers.map(killWorker));
    await app?.close();
  });

  it(`${WORKERS} processes, ${JOBS} lease-mode jobs, SIGKILL one holding leases every ~45 commits: each lease taken over after it expired, counted, nothing lost or twice`, async (context) => {
    const ids = await app.prisma.$jobs.enqueue(Array.from({ length: JOBS }, () => LeaseFx({ ms: between(20, 200) })));
    const slots: Array<WorkerProcess | Promise<WorkerProcess>> = await Promise.all(
      Array.from({ length: WORKERS }, () => startWorker(app.url, { poolSize: POOL_SIZE, lease: true })),
    );
    workers.push(...(slots as WorkerProcess[]));
    const quota = new Map<number, number>(workers.map((w) => [w.pid, between(30, 60)]));
    /** Each kill: when (database clock, read just before the signal), whose, and the leases it held then. */
    const kills: Array<{ at: number; pool: string; held: string[] }> = [];
    const restartErrors: string[] = [];
    const unexpected: string[] = [];
    const started = Date.now();
    for (;;) {
      const done = (await app.rows<{ n: number }>(`SELECT count(*)::int AS n FROM arrower.job_history`))[0]!.n;
      if (done >= JOBS) break;
      if (Date.now() - started > 400_000) throw new Error(`only ${done} of ${JOBS} jobs done after 400 s`);
      const live = slots.filter((s): s is WorkerProcess => !(s instanceof Promise) && running(s));
      const committed = new Map(
        (await app.rows<{ pid: number; n: number }>(`SELECT pid, count(*)::int AS n FROM fault_effect WHERE pid = ANY($1::int[]) GROUP BY pid`, [live.map((w) => w.pid)])).map((r) => [r.pid, r.n]),
      );
      for (const [index, slot] of slots.entries()) {
        if (slot instanceof Promise) continue;
        if (!running(slot)) {
          unexpected.push(`pid ${slot.pid}: ${slot.ended()}: ${slot.output.slice(-3).join(" | ")}`);
        } else if ((committed.get(slot.pid) ?? 0) >= quota.get(slot.pid)!) {
          // Killed mid-job: only while it holds a lease (its 3 slots nearly always do).
          const pool = poolOf(slot);
          const leasesHeld = () => app.rows<{ id: string }>(`SELECT id::text AS id FROM arrower.jobs WHERE lease_owner = $1`, [pool]);
          if ((await leasesHeld()).length === 0) continue;
          const at = await dbNow(app);
          await killWorker(slot);
          // A dead process changes nothing: the leases still naming it are those it held.
          kills.push({ at, pool, held: (await leasesHeld()).map((r) => r.id) });
        } else {
          continue;
        }
        const replacement = startWorker(app.url, { poolSize: POOL_SIZE, lease: true }).then((worker) => {
          workers.push(worker);
          quota.set(worker.pid, between(30, 60));
          slots[index] = worker;
          return worker;
        });
        slots[index] = replacement;
        replacement.catch((error: unknown) => restartErrors.push(String(error)));
      }
      await sleep(100);
    }
    expect(restartErrors).toEqual([]);
    expect(unexpected.filter((u) => !/: SIG[A-Z]+:/.test(u)), "worker processes that exited by themselves").toEqual([]);
    const codes = await Promise.all(slots.map(async (slot) => stopWorker(await slot)));

    const effects = await effectCounts(app, ids);
    const history = await app.rows<{ state: string; n: number }>(`SELECT state, count(*)::int AS n FROM arrower.job_history GROUP BY state`);
    const attempts = await app.rows<{ job_id: string; attempt: number; outcome: string; error: string; pool: string | null; found: Date }>(
      `SELECT job_id::text, attempt, outcome, error, pool, finished_at AS found FROM arrower.attempts`,
    );
    const inconsistent = (await app.rows<{ n: number }>(INCONSISTENT_ATTEMPTS, [ids]))[0]!.n;
    const otherAttempts = (await app.rows<{ n: number }>(EFFECTS_OF_OTHER_ATTEMPTS, [ids]))[0]!.n;
    // Every lease a killed worker held: its attempt counted as crashed, naming it, and found no
    // sooner than the lease could have expired (the last renewal was at most ~333 ms before the kill).
    const interrupted = kills.flatMap((kill) => kill.held.map((id) => ({ id, kill })));
    const takeovers = interrupted.map(({ id, kill }) => {
      const crash = attempts.find((a) => a.job_id === id && a.pool === kill.pool);
      return { id, pool: kill.pool, found: crash ? crash.found.getTime() - kill.at : null };
    });
    const foundAfter = takeovers.map((t) => t.found).filter((ms): ms is number => ms !== null);
    // Recovery: from the kill to the interrupted job's commit by another process (each job's
    // own kill is known here: kills come faster than takeovers, see the notes).
    const finishedAt = new Map(
      (await app.rows<{ id: string; finished: Date }>(`SELECT id::text, finished_at AS finished FROM arrower.job_history WHERE id = ANY($1::bigint[])`, [interrupted.map((i) => i.id)])).map((r) => [r.id, r.finished.getTime()]),
    );
    const recoveries = interrupted.map(({ id, kill }) => (finishedAt.get(id) ?? Number.NaN) - kill.at);
    const maxRecoveryMs = recoveries.length ? Math.max(...recoveries) : null;
    recordResult(context, {
      order: 12,
      scenario: `Lease mode: worker kills (${WORKERS} processes × poolSize ${POOL_SIZE}, leaseTimeout 1 s)`,
      jobs: JOBS,
      lost: effects.lost,
      duplicated: effects.duplicated,
      maxRecoveryMs,
      notes:
        `${kills.length} SIGKILLs of a process holding leases, each after ~45 commits of the victim${unexpected.length > 0 ? ` (and ${unexpected.length} killed from outside the suite)` : ""}; ` +
        `the ${interrupted.length} leases they held were taken over ${foundAfter.length ? `${(Math.min(...foundAfter) / 1000).toFixed(1)}–${(Math.max(...foundAfter) / 1000).toFixed(1)} s` : "—"} after the kill ` +
        `(an expired lease's job is due at its expiry: behind the backlog due before it), ` +
        `each counted as a crashed attempt ("lease expired: …", naming the dead pool); ${attempts.length} crashed attempts in all, every job's attempt count = 1 + its crashed attempts, ` +
        `each job once in history, its one effect committed by the completing attempt with complete(tx); recovery: kill → the interrupted job committed by another process`,
    });

    expect(effects).toEqual({ lost: 0, duplicated: 0, strays: 0 });
    expect(history).toEqual([{ state: "succeeded", n: JOBS }]);
    expect(otherAttempts).toBe(0);
    expect(attempts.filter((a) => a.outcome !== "crashed" || !LEASE_EXPIRED.test(a.error))).toEqual([]);
    expect(inconsistent).toBe(0);
    expect(kills.length).toBeGreaterThanOrEqual(3);
    expect(takeovers.filter((t) => t.found === null), "leases of killed workers without a crashed attempt naming them").toEqual([]);
    expect(Math.min(...foundAfter), "a lease taken over before it could have expired").toBeGreaterThanOrEqual(LEASE_MS - LEASE_MS / 3 - 100);
    expect(await app.count("jobs")).toBe(0);
    expect(codes, slots.map((s) => (s instanceof Promise ? "" : `${s.ended()}: ${s.output.slice(-5).join("\n")}`)).join("\n---\n")).toEqual(codes.map(() => 0));
  }, 600_000);
});

describe("lease mode: a worker paused past its lease", () => {
  const JOBS = 3;
  /** Attempt 1 waits this long (ignoring its signal) before it writes: the pause lands in it. */
  const FIRST_ATTEMPT_MS = 4_000;
  let app: TestApp;
  const workers: WorkerProcess[] = [];
  beforeAll(async () => {
    app = await createFaultApp();
  });
  afterAll(async () => {
    for (const worker of workers) if (running(worker)) worker.child.kill("SIGCONT");
    await Promise.all(workers.map(killWorker));
    await app?.close();
  });

  it("SIGSTOP past the lease, another process completes the jobs, SIGCONT: the paused worker's write + complete(tx) is refused and rolled back", async (context) => {
    const paused = await startWorker(app.url, { poolSize: JOBS, lease: true });
    workers.push(paused);
    const ids = await app.prisma.$jobs.enqueue(Array.from({ length: JOBS }, () => LeaseFx({ ms: 0, firstMs: FIRST_ATTEMPT_MS, stubborn: true })));
    const printed = (worker: WorkerProcess, prefix: string) => ids.filter((id) => worker.output.some((line) => line.startsWith(`${prefix} ${id} `)));
    await waitUntil(() => printed(paused, "lease-start").length === JOBS, 60_000, "the first worker to start every job");
    paused.child.kill("SIGSTOP");
    const pausedAt = await dbNow(app);

    const taker = await startWorker(app.url, { poolSize: JOBS, lease: true });
    workers.push(taker);
    const finished = () => app.rows<{ id: string; state: string; attempts: number; pool: string; finished: Date }>(
      `SELECT id::text, state, attempts, pool, finished_at AS finished FROM arrower.job_history WHERE id = ANY($1::bigint[]) ORDER BY id`,
      [ids],
    );
    await waitUntil(async () => (await finished()).length === JOBS, 60_000, "the second worker to complete the jobs");
    const history = await finished();
    expect(running(paused), "the paused worker is still there").toBe(true);

    paused.child.kill("SIGCONT");
    const resumedAt = await dbNow(app);
    await waitUntil(() => printed(paused, "lease-refused").length === JOBS, 30_000, "the resumed worker's handlers to try to complete");

    const effects = await effectCounts(app, ids);
    const effectRows = await app.rows<{ job_id: string; pid: number; attempt: number }>(`SELECT job_id::text, pid, attempt FROM fault_effect ORDER BY job_id`);
    const attempts = await app.rows<{ job_id: string; attempt: number; outcome: string; error: string; pool: string }>(
      `SELECT job_id::text, attempt, outcome, error, pool FROM arrower.attempts ORDER BY job_id`,
    );
    const refusals = paused.output.filter((line) => line.startsWith("lease-refused "));
    const maxRecoveryMs = Math.max(...history.map((h) => h.finished.getTime() - pausedAt));
    recordResult(context, {
      order: 13,
      scenario: "Lease mode: a worker paused past its lease (SIGSTOP, then SIGCONT)",
      jobs: JOBS,
      lost: effects.lost,
      duplicated: effects.duplicated,
      maxRecoveryMs,
      notes:
        `a worker process holding ${JOBS} leases (leaseTimeout 1 s) was paused for ${((resumedAt - pausedAt) / 1000).toFixed(1)} s; another process took them over (the paused attempt counted as crashed, "lease expired: …") and completed them; ` +
        `resumed, the paused worker's handlers (ignoring their aborted signal) each wrote their effect and called complete(tx) in one transaction: ${refusals.length} of ${JOBS} refused (LeaseLostError), rolled back, no effect row of theirs; ` +
        `history shows the taker's attempt 2; the resumed worker kept running and stopped cleanly; recovery: pause → the job committed by the other process`,
    });

    expect(effects).toEqual({ lost: 0, duplicated: 0, strays: 0 });
    expect(effectRows).toEqual(ids.map((id) => ({ job_id: id, pid: taker.pid, attempt: 2 })));
    expect(history).toEqual(ids.map((id) => ({ id, state: "succeeded", attempts: 2, pool: poolOf(taker), finished: expect.any(Date) })));
    expect(attempts).toEqual(
      ids.map((id) => ({ job_id: id, attempt: 1, outcome: "crashed", error: expect.stringMatching(LEASE_EXPIRED), pool: poolOf(paused) })),
    );
    expect(attempts.every((a) => a.error.includes(`(pool ${poolOf(paused)})`))).toBe(true);
    // The paused worker's handlers did write and ask to complete: the fence refused them.
    expect(printed(paused, "lease-wrote")).toEqual(ids);
    expect(refusals.map((line) => line.split(" ").slice(0, 4).join(" ")).sort()).toEqual(ids.map((id) => `lease-refused ${id} 1 LEASE_LOST:`).sort());
    expect(printed(taker, "lease-refused")).toEqual([]);
    expect(await app.count("jobs")).toBe(0);
    expect(await Promise.all([stopWorker(paused), stopWorker(taker)])).toEqual([0, 0]);
  }, 300_000);
});

describe("lease mode: database restarts", () => {
  /** Jobs with an 8 s lease, running across the outage (25 s each). */
  const SLOW = 3;
  const FAST = 400;
  const DOWNTIME_MS = 2_000;
  let app: TestApp;
  let observer: Observer;
  let workers: WorkerProcess[] = [];
  beforeAll(async () => {
    app = await createFaultApp();
    app.observer.on("error", () => undefined);
    observer = new Observer(app.url);
    workers = await Promise.all([1, 2].map(() => startWorker(app.url, { poolSize: 5, lease: true })));
  });
  afterAll(async () => {
    await Promise.all(workers.map(stopWorker));
    await observer?.close();
    await app?.close();
  });

  for (const [order, mode] of [[14, "fast"], [15, "immediate"]] as const) {
    it(`pg_ctl stop -m ${mode} while jobs hold leases: an 8 s lease survives (renewal resumes), a lapsed 1 s lease is taken over and counted, nothing lost or twice`, async (context) => {
      const server = inject("faultServer");
      // Each round counts only its own effects, whatever the round before left.
      await observer.rows(`TRUNCATE fault_effect`);
      const slow = await app.prisma.$jobs.enqueue(Array.from({ length: SLOW }, () => LeaseSlow({ ms: 25_000 })));
      await waitUntil(async () => (await observer.int(`SELECT count(*)::int AS n FROM arrower.jobs WHERE id = ANY($1::bigint[]) AND lease_owner IS NOT NULL`, [slow])) === SLOW, 60_000, "the slow jobs to be leased");
      const fast = await app.prisma.$jobs.enqueue(Array.from({ length: FAST }, () => LeaseFx({ ms: between(50, 300) })));
      const ids = [...slow, ...fast];
      const done = () => observer.intWhenUp(`SELECT count(*)::int AS n FROM arrower.job_history WHERE id = ANY($1::bigint[])`, [ids]);
      await waitUntil(async () => (await done()) >= FAST / 5, 120_000, "a fifth of the jobs to finish");

      const doneAtStop = await done();
      const heldAtStop = (await observer.rows<{ id: string }>(`SELECT id::text FROM arrower.jobs WHERE id = ANY($1::bigint[]) AND lease_owner IS NOT NULL`, [fast])).map((r) => r.id);
      await stopServer(server, mode as StopMode);
      await sleep(DOWNTIME_MS);
      await startServer(server);
      const upAt = await observer.intWhenUp(`SELECT extract(epoch FROM pg_postmaster_start_time())::float8 * 1000 AS n`);

      // The slow leases were renewed by their holder after the server came back: a renewal sets
      // the expiry to its time + 8 s, later than up + 8 s only if it ran after the restart (a
      // takeover would too, but starts attempt 2).
      const renewed = () =>
        observer.intWhenUp(
          `SELECT count(*)::int AS n FROM arrower.jobs WHERE id = ANY($1::bigint[]) AND attempts = 1 AND run_at > to_timestamp($2::float8 / 1000)`,
          [slow, upAt + SLOW_LEASE_MS],
        );
      let renewedAfterMs: number | null = null;
      try {
        await waitUntil(async () => (await renewed()) === SLOW, 15_000, "the slow jobs' leases to be renewed by their holder after the restart");
        renewedAfterMs = (await observer.now()) - upAt;
      } catch {
        // Not renewed in time: the slow jobs' attempts, asserted below, tell what became of them.
      }

      await waitUntil(async () => (await done()) === ids.length, 180_000, `all ${ids.length} jobs after the restart`);
      const effects = await effectCounts(observer, ids);
      const states = await observer.rows<{ state: string; n: number }>(`SELECT state, count(*)::int AS n FROM arrower.job_history WHERE id = ANY($1::bigint[]) GROUP BY state`, [ids]);
      const slowHistory = await observer.rows<{ attempts: number }>(`SELECT attempts FROM arrower.job_history WHERE id = ANY($1::bigint[])`, [slow]);
      const attempts = await observer.rows<{ job_id: string; outcome: string; error: string; found: Date }>(
        `SELECT job_id::text, outcome, error, finished_at AS found FROM arrower.attempts WHERE job_id = ANY($1::bigint[])`,
        [ids],
      );
      const inconsistent = await observer.int(INCONSISTENT_ATTEMPTS, [ids]);
      const otherAttempts = await observer.int(EFFECTS_OF_OTHER_ATTEMPTS, [ids]);
      const lapsed = new Set(attempts.map((a) => a.job_id));
      const crashed = attempts.filter((a) => a.outcome === "crashed").length;
      // Recovery: server ready → the last of the jobs interrupted by the outage committed.
      const recovered = await observer.rows<{ finished: Date }>(`SELECT finished_at AS finished FROM arrower.job_history WHERE id = ANY($1::bigint[])`, [[...lapsed]]);
      const maxRecoveryMs = recovered.length ? Math.max(...recovered.map((r) => r.finished.getTime() - upAt)) : null;
      recordResult(context, {
        order,
        scenario: `Lease mode: database restart (${mode})`,
        jobs: ids.length,
        lost: effects.lost,
        duplicated: effects.duplicated,
        maxRecoveryMs,
        notes:
          `2 worker processes (poolSize 5); stopped with ${doneAtStop} of ${ids.length} jobs done, ${SLOW} jobs of 25 s (leaseTimeout 8 s) and ${heldAtStop.length} of 1 s holding leases, down ${DOWNTIME_MS / 1000} s; ` +
          (slowHistory.every((h) => h.attempts === 1) && renewedAfterMs !== null
            ? `the 8 s leases survived (renewed by their holder ${(renewedAfterMs / 1000).toFixed(1)} s after the server was back; attempt 1, nothing recorded); `
            : `the 8 s leases did NOT all survive (attempts ${slowHistory.map((h) => h.attempts).join(", ")}); `) +
          `${lapsed.size} jobs whose 1 s lease lapsed were counted (${crashed} crashed "lease expired" by the worker that took them over, ${attempts.length - crashed} failed by their holder) and ran again; ` +
          `each job once in history, every job's attempt count = 1 + its recorded attempts; recovery: server ready → the last lapsed job committed`,
      });

      expect(effects).toEqual({ lost: 0, duplicated: 0, strays: 0 });
      expect(states).toEqual([{ state: "succeeded", n: ids.length }]);
      expect(renewedAfterMs, "the slow jobs' leases renewed by their holder after the restart").not.toBeNull();
      expect(slowHistory).toEqual(slow.map(() => ({ attempts: 1 })));
      expect(attempts.filter((a) => slow.includes(a.job_id))).toEqual([]);
      expect(lapsed.size).toBeGreaterThan(0);
      expect(inconsistent).toBe(0);
      expect(otherAttempts).toBe(0);
      expect(workers.every(running)).toBe(true);
    }, 300_000);
  }
});
