/**
 * Lease mode (`defineJob(name, { mode: "lease" })`): a long job's claim commits at once, its
 * handler runs outside any transaction holding nothing in the database, its pool renews the
 * lease, an expired lease is taken over and counted as a crash, and a holder that lost its
 * lease changes nothing.
 */
import pg from "pg";
import { describe, expect, it } from "vitest";
import { defineJob, JobRunningError, LeaseLostError, type JobEvent, type Queue } from "../../src/index.ts";
import { abandonAsCrashed, useTestApp, waitFor } from "../helpers/app.ts";

const Long = defineJob<{ n: number }, { n: number; doubled: number }>("long", { mode: "lease", leaseTimeout: 60_000 });
const Short = defineJob<{ n: number }>("short");

/** A gate a handler waits at until the test opens it. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

/** A promise of the next event of `kinds` for job `id`. */
function nextEvent(queue: Queue<unknown>, id: () => string | undefined, ...kinds: JobEvent["kind"][]): Promise<JobEvent> {
  return new Promise((resolve) => {
    for (const kind of kinds) queue.on(kind, (event) => event.jobId === id() && resolve(event));
  });
}

describe("lease mode", () => {
  const { app, queues } = useTestApp();

  function queue(name: string, options: { poolSize?: number; batchSize?: number; poolName?: string } = {}) {
    const q = app.prisma.$jobs.queue(name, { poolSize: 1, pollInterval: 100, autoStartDelay: 60_000, backoff: { baseDelay: 10, maxDelay: 10 }, ...options });
    queues.push(q);
    return q;
  }

  it("the claim commits at once: while the handler runs, the job shows as running with its lease, and nothing is held in the database", async () => {
    const q = queue("lease-runs", { poolName: "pool-a" });
    const started = gate();
    const release = gate();
    await q.register(Long, async ({ n }, ctx) => {
      expect("tx" in ctx).toBe(false);
      started.open();
      await release.opened;
      return { n, doubled: 2 * n };
    });
    const runAt = new Date(Date.now() - 60_000);
    const id = await q.enqueue(Long({ n: 21 }), { runAt });
    const done = nextEvent(q, () => id, "succeeded", "failed");
    await q.start();
    await started.opened;

    const job = await app.prisma.$jobs.getJob(id);
    expect(job).toMatchObject({ state: "running", attempts: 1, pool: "pool-a", runAt, lease: { owner: "pool-a" } });
    expect(job!.lease!.expiresAt.getTime()).toBeGreaterThan(Date.now() + 50_000);
    // No transaction is open (none holds a snapshot back) and the row is not locked.
    expect(await app.rows(`SELECT state, backend_xmin FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`)).toEqual([]);
    const other = new pg.Client({ connectionString: app.url });
    await other.connect();
    try {
      await other.query("BEGIN");
      expect((await other.query(`SELECT id FROM arrower.jobs WHERE id = $1 FOR UPDATE NOWAIT`, [id])).rowCount).toBe(1);
      await other.query("ROLLBACK");
    } finally {
      await other.end();
    }

    release.open();
    expect((await done).kind).toBe("succeeded");
    expect(await app.prisma.$jobs.getResult(Long, id)).toEqual({ n: 21, doubled: 42 });
    expect(await app.rows(`SELECT state, attempts, run_at, pool FROM arrower.job_history WHERE id = $1`, [id])).toEqual([{ state: "succeeded", attempts: 1, run_at: runAt, pool: "pool-a" }]);
    expect(await app.count("attempts", "job_id = $1", [id])).toBe(0);
  });

  it("the pool renews the lease while the handler runs: a second pool never takes the job over", async () => {
    const Renewed = defineJob<{ n: number }>("renewed", { mode: "lease", leaseTimeout: 600 });
    const first = queue("lease-renew", { poolName: "first" });
    const second = queue("lease-renew", { poolName: "second" });
    const release = gate();
    const holders: string[] = [];
    const handler = (pool: string) => async () => {
      holders.push(pool);
      await release.opened;
    };
    await first.register(Renewed, handler("first"));
    await second.register(Renewed, handler("second"));
    const id = await first.enqueue(Renewed({ n: 1 }));
    const done = nextEvent(first, () => id, "succeeded", "failed");
    await first.start();
    await waitFor(async () => holders.length === 1, 10_000, "the handler to start");
    await second.start();
    // Five lease lengths: the expiry moves on with each renewal, and the second pool, polling
    // every 100 ms, would take over a lease that lapsed.
    const expiries = new Set<number>();
    await waitFor(async () => {
      const [row] = await app.rows<{ run_at: Date }>(`SELECT run_at FROM arrower.jobs WHERE id = $1`, [id]);
      expiries.add(row!.run_at.getTime());
      return expiries.size >= 10;
    }, 10_000, "ten renewals");
    release.open();
    expect((await done).kind).toBe("succeeded");
    expect(holders).toEqual(["first"]);
    expect(await app.count("attempts", "job_id = $1", [id])).toBe(0);
  });

  it("an expired lease is taken over: its attempt is counted as crashed, naming the holder, and the job runs again", async () => {
    const q = queue("lease-expired");
    await q.register(Long, async ({ n }) => ({ n, doubled: 2 * n }));
    const id = await q.enqueue(Long({ n: 2 }));
    // A holder that died (killed, paused) an hour into attempt 1: its lease lapsed a second ago.
    await app.rows(`UPDATE arrower.jobs SET lease_owner = 'dead-pool', attempts = 1, leased_at = now() - interval '1 hour',
                    lease_run_at = run_at, run_at = now() - interval '1 second' WHERE id = $1`, [id]);
    const crashed = nextEvent(q, () => id, "crashed");
    const done = nextEvent(q, () => id, "succeeded", "failed");
    await q.start();
    expect(await crashed).toMatchObject({ attempt: 1 });
    expect(await done).toMatchObject({ kind: "succeeded", attempt: 2 });
    expect(await app.rows(`SELECT attempt, outcome, pool, error FROM arrower.attempts WHERE job_id = $1`, [id])).toEqual([
      {
        attempt: 1,
        outcome: "crashed",
        pool: "dead-pool",
        error: "lease expired: the worker running attempt 1 (pool dead-pool) stopped renewing it (process killed or paused, or cut off from the database)",
      },
    ]);
    expect(await app.rows(`SELECT state, attempts FROM arrower.job_history WHERE id = $1`, [id])).toEqual([{ state: "succeeded", attempts: 2 }]);
  });

  it("a claim whose transaction aborted is not an attempt in lease mode: nothing is counted", async () => {
    const q = queue("lease-aborted-claim");
    await q.register(Long, async ({ n }) => ({ n, doubled: 2 * n }));
    const id = await q.enqueue(Long({ n: 3 }));
    // A worker that died between its claim and the claim's commit leaves an aborted locker.
    await abandonAsCrashed(app, id);
    const done = nextEvent(q, () => id, "succeeded", "failed");
    await q.start();
    expect(await done).toMatchObject({ kind: "succeeded", attempt: 1 });
    expect(await app.count("attempts", "job_id = $1", [id])).toBe(0);
  });

  it("a holder whose lease was taken over is stopped (LeaseLostError) and its finish changes nothing", async () => {
    const q = queue("lease-fenced", { poolName: "slow" });
    const started = gate();
    let signalReason: unknown;
    const Fenced = defineJob<{ n: number }>("fenced", { mode: "lease", leaseTimeout: 600 });
    await q.register(Fenced, async (_, { signal }) => {
      started.open();
      await new Promise((resolve) => signal.addEventListener("abort", resolve));
      signalReason = signal.reason;
      // The handler goes on as if nothing happened and returns: its completion must be refused.
    });
    const id = await q.enqueue(Fenced({ n: 1 }));
    await q.start();
    await started.opened;
    // Another worker took the job over after the lease lapsed (attempt 2 is its own).
    await app.rows(`UPDATE arrower.jobs SET lease_owner = 'thief', attempts = 2, run_at = now() + interval '1 hour' WHERE id = $1`, [id]);
    await waitFor(async () => signalReason !== undefined, 10_000, "the handler's signal to abort");
    expect(signalReason).toBeInstanceOf(LeaseLostError);
    expect(signalReason).toMatchObject({ code: "LEASE_LOST", reason: "taken over", jobId: id });
    // Once shut down, the slot has written (tried to write) the job's outcome.
    await q.shutdown();
    expect(await app.rows(`SELECT lease_owner, attempts FROM arrower.jobs WHERE id = $1`, [id])).toEqual([{ lease_owner: "thief", attempts: 2 }]);
    expect(await app.count("job_history", "id = $1", [id])).toBe(0);
  });

  it("complete(tx) commits the job's completion with the handler's writes; one that rolls back completes nothing", async () => {
    const q = queue("lease-complete");
    const Import = defineJob<{ file: string; fail: boolean }, { rows: number }>("import", { mode: "lease", maxAttempts: 2 });
    await q.register(Import, async ({ file, fail }, { complete, jobId, attempt }) => {
      await app.prisma.$transaction(async (tx) => {
        await tx.sideEffect.create({ data: { id: `${file}:${attempt}`, note: jobId } });
        await complete(tx, { rows: 3 });
        if (fail && attempt === 1) throw new Error("the import's transaction failed after complete()");
      });
    });
    const ok = await q.enqueue(Import({ file: "a.csv", fail: false }));
    const flaky = await q.enqueue(Import({ file: "b.csv", fail: true }));
    const done = new Set<string>();
    q.on("succeeded", (e) => void done.add(e.jobId));
    await q.start();
    await waitFor(async () => done.size === 2, 20_000, "both jobs to succeed");
    expect(await app.prisma.$jobs.getResult(Import, ok)).toEqual({ rows: 3 });
    expect(await app.prisma.$jobs.getResult(Import, flaky)).toEqual({ rows: 3 });
    // The failed attempt's write rolled back with its completion; the retry's committed with its own.
    expect(await app.rows(`SELECT id FROM "SideEffect" ORDER BY id`)).toEqual([{ id: "a.csv:1" }, { id: "b.csv:2" }]);
    expect(await app.rows(`SELECT state, attempts FROM arrower.job_history WHERE id = ANY($1) ORDER BY id`, [[ok, flaky]])).toEqual([
      { state: "succeeded", attempts: 1 },
      { state: "succeeded", attempts: 2 },
    ]);
    expect(await app.rows(`SELECT attempt, outcome, error FROM arrower.attempts WHERE job_id = $1`, [flaky])).toEqual([
      { attempt: 1, outcome: "failed", error: expect.stringContaining("the import's transaction failed after complete()") },
    ]);
  });

  it("cancel of a running leased job aborts its signal in the worker at once; retry and delete are refused while it runs", async () => {
    const q = queue("lease-cancel");
    const started = gate();
    let reason: unknown;
    await q.register(Long, async ({ n }, { signal }) => {
      started.open();
      await new Promise((resolve) => signal.addEventListener("abort", resolve));
      reason = signal.reason;
      return { n, doubled: 0 };
    });
    const id = await q.enqueue(Long({ n: 1 }));
    await q.start();
    await started.opened;
    await expect(app.prisma.$jobs.retry(id)).rejects.toBeInstanceOf(JobRunningError);
    await expect(app.prisma.$jobs.deleteJob(id)).rejects.toBeInstanceOf(JobRunningError);
    const t0 = Date.now();
    await app.prisma.$jobs.cancel(id);
    // The lease lasts 60 s and is renewed every 20 s: only the NOTIFY explains a quick abort.
    await waitFor(async () => reason !== undefined, 5_000, "the handler's signal to abort");
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(reason).toMatchObject({ code: "LEASE_LOST", reason: "cancelled" });
    expect(await app.rows(`SELECT state, attempts, result FROM arrower.job_history WHERE id = $1`, [id])).toEqual([{ state: "cancelled", attempts: 1, result: null }]);
  });

  it("progress is visible while the job runs, in both modes, and removed when it finishes", async () => {
    const q = queue("lease-progress", { poolSize: 2 });
    const gates = { long: gate(), short: gate() };
    const reported = { long: gate(), short: gate() };
    await q.register(Long, async ({ n }, { progress }) => {
      await progress({ done: 1, of: 3 });
      await progress({ done: 2, of: 3 });
      reported.long.open();
      await gates.long.opened;
      return { n, doubled: 2 * n };
    });
    await q.register(Short, async (_, { tx, progress }) => {
      await tx.sideEffect.create({ data: { id: "short" } });
      await progress("halfway");
      reported.short.open();
      await gates.short.opened;
    });
    const long = await q.enqueue(Long({ n: 1 }));
    const short = await q.enqueue(Short({ n: 1 }));
    const done = new Set<string>();
    q.on("succeeded", (e) => void done.add(e.jobId));
    await q.start();
    await reported.long.opened;
    await reported.short.opened;
    expect((await app.prisma.$jobs.getJob(long))!.progress).toMatchObject({ value: { done: 2, of: 3 } });
    // The transaction-mode job's progress is visible though its transaction is not committed.
    expect((await app.prisma.$jobs.getJob(short))!.progress).toMatchObject({ value: "halfway" });
    expect(await app.count("progress", "job_id = ANY($1)", [[long, short]])).toBe(2);
    gates.long.open();
    gates.short.open();
    await waitFor(async () => done.size === 2, 10_000, "both jobs to succeed");
    expect(await app.count("progress", "job_id = ANY($1)", [[long, short]])).toBe(0);
    expect((await app.prisma.$jobs.getJob(long))!.progress).toBeNull();
  });

  it("a failing lease-mode job is retried with backoff and ends failed after maxAttempts, every attempt recorded", async () => {
    const q = queue("lease-fails");
    const Failing = defineJob<{ n: number }>("failing", { mode: "lease", maxAttempts: 3 });
    await q.register(Failing, async (_, { attempt }) => {
      throw new Error(`attempt ${attempt} failed`);
    });
    const id = await q.enqueue(Failing({ n: 1 }));
    const failed = nextEvent(q, () => id, "failed");
    await q.start();
    expect(await failed).toMatchObject({ attempt: 3 });
    expect(await app.rows(`SELECT attempt, outcome FROM arrower.attempts WHERE job_id = $1 ORDER BY attempt`, [id])).toEqual([
      { attempt: 1, outcome: "failed" },
      { attempt: 2, outcome: "failed" },
    ]);
    expect(await app.rows(`SELECT state, attempts, last_error FROM arrower.job_history WHERE id = $1`, [id])).toEqual([
      { state: "failed", attempts: 3, last_error: expect.stringContaining("attempt 3 failed") },
    ]);
  });

  it("shutdown past its deadline gives a running leased job back, its attempt not counted", async () => {
    const q = queue("lease-shutdown");
    const started = gate();
    await q.register(Long, async ({ n }, { signal }) => {
      started.open();
      await new Promise((resolve) => signal.addEventListener("abort", resolve));
      throw signal.reason;
    });
    const id = await q.enqueue(Long({ n: 1 }));
    await q.start();
    await started.opened;
    await q.shutdown({ deadline: 100 });
    expect(await app.rows(`SELECT attempts, lease_owner, run_at <= now() AS due FROM arrower.jobs WHERE id = $1`, [id])).toEqual([{ attempts: 0, lease_owner: null, due: true }]);
    expect(await app.count("attempts", "job_id = $1", [id])).toBe(0);
  });

  it("a queue mixing both modes in batches runs every job once, each in its mode", async () => {
    const q = queue("lease-mixed", { poolSize: 2, batchSize: 10 });
    const ranIn: Record<string, string> = {};
    await q.register(Long, async ({ n }) => {
      ranIn[`long-${n}`] = "lease";
      return { n, doubled: 2 * n };
    });
    await q.register(Short, async ({ n }, { tx }) => {
      await tx.sideEffect.create({ data: { id: `short-${n}` } });
      ranIn[`short-${n}`] = "transaction";
    });
    const ids = await q.enqueue([...Array.from({ length: 30 }, (_, n) => Long({ n })), ...Array.from({ length: 30 }, (_, n) => Short({ n }))]);
    await q.start();
    await waitFor(async () => (await app.count("job_history", "queue = 'lease-mixed' AND state = 'succeeded'")) === ids.length, 20_000, "every job to succeed");
    expect(Object.keys(ranIn)).toHaveLength(60);
    expect(await app.count("attempts", "job_id = ANY($1)", [ids])).toBe(0);
    expect(await app.count("job_history", "queue = 'lease-mixed' AND attempts <> 1")).toBe(0);
  });

  it("progress left by a job that ended without removing it (its worker crashed) is pruned", async () => {
    const id = await app.prisma.$jobs.enqueue(Short({ n: 1 }), { queue: "lease-prune" });
    await app.rows(`INSERT INTO arrower.progress (job_id, value) VALUES ($1, '"live"'), (987654321, '"orphan"')`, [id]);
    await app.prisma.$jobs.prune();
    expect(await app.rows(`SELECT job_id::text AS id, value FROM arrower.progress`)).toEqual([{ id, value: "live" }]);
  });

  it("complete() takes a transaction client only; a handler that throws after its completion committed has succeeded", async () => {
    const q = queue("lease-complete-edges");
    const Edge = defineJob<{ root: boolean }, { ok: boolean }>("edge", { mode: "lease", maxAttempts: 1 });
    let refusal: unknown;
    await q.register(Edge, async ({ root }, { complete }) => {
      if (root) {
        // The root client would complete the job apart from the handler's writes.
        refusal = await complete(app.prisma as never, { ok: false }).catch((error: unknown) => error);
        throw refusal;
      }
      await app.prisma.$transaction((tx) => complete(tx, { ok: true }));
      throw new Error("cleanup after the completion failed");
    });
    const [root, after] = await q.enqueue([Edge({ root: true }), Edge({ root: false })]);
    const events: JobEvent[] = [];
    q.on("succeeded", (e) => void events.push(e)).on("failed", (e) => void events.push(e));
    await q.start();
    await waitFor(async () => events.length === 2, 10_000, "both jobs to end");
    expect(refusal).toMatchObject({ code: "INVALID_OPTIONS" });
    expect(events.map((e) => [e.jobId, e.kind]).sort()).toEqual([[root, "failed"], [after, "succeeded"]].sort());
    expect(await app.prisma.$jobs.getResult(Edge, after!)).toEqual({ ok: true });
  });

  it("a pool that starts lease jobs all the time still renews its long one's lease (a second pool never takes it over)", async () => {
    const Steady = defineJob<{ n: number }>("steady", { mode: "lease", leaseTimeout: 600 });
    const busy = queue("lease-busy", { poolSize: 2, poolName: "busy" });
    const rival = queue("lease-busy", { poolName: "rival" });
    const release = gate();
    const longStarted = gate();
    const ranBy: string[] = [];
    await busy.register(Steady, async ({ n }) => {
      if (n === 0) {
        longStarted.open();
        await release.opened;
      }
    });
    await rival.register(Steady, async ({ n }) => void ranBy.push(`rival ${n}`));
    const [long] = await busy.enqueue([Steady({ n: 0 })]);
    await busy.start();
    await longStarted.opened;
    await rival.start();
    // 2 s of short lease jobs, a new lease every few ms: the long lease (600 ms) must be renewed.
    const until = Date.now() + 2_000;
    const shorts: string[] = [];
    while (Date.now() < until) {
      shorts.push(await busy.enqueue(Steady({ n: 1 })));
      await new Promise((r) => setTimeout(r, 10));
    }
    release.open();
    await waitFor(async () => (await app.count("job_history", "id = ANY($1)", [[long!, ...shorts]])) === shorts.length + 1, 20_000, "every job");
    expect(await app.count("attempts", "job_id = $1", [long])).toBe(0);
    expect(await app.rows(`SELECT state, attempts, pool FROM arrower.job_history WHERE id = $1`, [long])).toEqual([{ state: "succeeded", attempts: 1, pool: "busy" }]);
  });

  it("a running leased job survives its pool's connections being cut (the slot's and the control one): renewal resumes, nothing is aborted", async () => {
    const Survivor = defineJob<{ n: number }>("survivor", { mode: "lease", leaseTimeout: 5_000 });
    const q = queue("lease-cut", { poolName: "cut" });
    const started = gate();
    const release = gate();
    let aborted: unknown;
    await q.register(Survivor, async (_, { signal }) => {
      signal.addEventListener("abort", () => (aborted = signal.reason));
      started.open();
      await release.opened;
    });
    const id = await q.enqueue(Survivor({ n: 1 }));
    await q.start();
    await started.opened;
    // Every session of the test database but the observer's: the slot, the control connection
    // (its reconnect calls every listener, the lease's cancel one included), Prisma's pool.
    await app.rows(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`);
    const [before] = await app.rows<{ run_at: Date }>(`SELECT run_at FROM arrower.jobs WHERE id = $1`, [id]);
    // The lease is renewed again once the control connection is back.
    await waitFor(async () => {
      const [row] = await app.rows<{ run_at: Date }>(`SELECT run_at FROM arrower.jobs WHERE id = $1`, [id]);
      return row!.run_at.getTime() > before!.run_at.getTime();
    }, 15_000, "a renewal after the reconnect");
    release.open();
    await waitFor(async () => (await app.count("job_history", "id = $1", [id])) === 1, 15_000, "the job to finish");
    expect(aborted).toBeUndefined();
    expect(await app.rows(`SELECT state, attempts FROM arrower.job_history WHERE id = $1`, [id])).toEqual([{ state: "succeeded", attempts: 1 }]);
  });
});
