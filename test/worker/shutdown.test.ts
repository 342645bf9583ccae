/**
 * Every attempt counted must have run. A shutdown or a `register` restart stops a busy pool
 * between jobs: jobs it had claimed but not started (the claim a slot sends with its last
 * commit, the rest of a batch) go back uncounted, and a throwing event listener is the app's
 * bug, never the job's.
 */
import pg from "pg";
import { describe, expect, it } from "vitest";
import { defineJob } from "../../src/index.ts";
import { abandonAsCrashed, useTestApp, waitFor } from "../helpers/app.ts";

const Noop = defineJob<{ n: number }>("noop");
const Work = defineJob<{ n: number }>("work");

describe("stopping a busy pool", () => {
  const { app, queues } = useTestApp();

  /** Jobs that ended failed, or attempts recorded: a job that ran once each has neither. */
  async function miscounted(queue: string) {
    return {
      failed: await app.rows(`SELECT id, attempts, last_error FROM arrower.job_history WHERE queue = $1 AND state <> 'succeeded'`, [queue]),
      attempts: await app.rows(`SELECT a.job_id, a.attempt, a.outcome FROM arrower.attempts a JOIN arrower.job_history h ON h.id = a.job_id WHERE h.queue = $1`, [queue]),
      ranMoreThanOnce: await app.rows(`SELECT id, attempts FROM arrower.job_history WHERE queue = $1 AND attempts <> 1`, [queue]),
    };
  }

  it.each([
    { batchSize: 1, perStop: 600 },
    { batchSize: 20, perStop: 1_200 },
  ])("five shutdowns and five register restarts mid-run count no attempt for a job that did not run (batchSize $batchSize)", async ({ batchSize, perStop }) => {
    const name = `busy-${batchSize}`;
    const queue = app.prisma.$jobs.queue(name, { poolSize: 4, pollInterval: 200, autoStartDelay: 0, batchSize });
    queues.push(queue);
    // Each stop comes from the handler's count, not the clock: it begins once 200 jobs of a fresh
    // backlog have run, so the pool is busy (hundreds still due) however fast the machine is.
    let ran = 0;
    let target = Infinity;
    let reached: () => void = () => undefined;
    const handler = async () => {
      if (++ran === target) reached();
    };
    async function busyFor200(): Promise<void> {
      // maxAttempts 1: one miscounted attempt ends a job failed.
      await app.prisma.$jobs.enqueue(
        Array.from({ length: perStop }, (_, n) => Noop({ n })),
        { queue: name, maxAttempts: 1 },
      );
      const busy = new Promise<void>((resolve) => (reached = resolve));
      target = ran + 200;
      await queue.start();
      await busy;
    }
    await queue.register(Noop, handler);
    for (let round = 0; round < 5; round++) {
      await busyFor200();
      await queue.shutdown();
      // A register on a running pool restarts it: the same stop, then a start.
      await busyFor200();
      await queue.register(Noop, handler);
    }
    const jobs = 10 * perStop;
    await waitFor(async () => (await app.count("job_history", "queue = $1", [name])) === jobs, 60_000, "every job to finish");
    expect(await miscounted(name)).toEqual({ failed: [], attempts: [], ranMoreThanOnce: [] });
    expect(ran).toBe(jobs);
  }, 120_000);

  it("shutdown waits for a job that has started", async () => {
    const queue = app.prisma.$jobs.queue("drain-started", { poolSize: 1, pollInterval: 200, autoStartDelay: 0 });
    queues.push(queue);
    let started!: () => void;
    const handlerStarted = new Promise<void>((resolve) => (started = resolve));
    await queue.register(Work, async () => {
      started();
      await new Promise((resolve) => setTimeout(resolve, 300));
    });
    await queue.start();
    const id = await queue.enqueue(Work({ n: 1 }));
    await handlerStarted;
    await queue.shutdown({ deadline: 5_000 });
    expect(await app.rows(`SELECT state, attempts FROM arrower.job_history WHERE id = $1`, [id])).toEqual([{ state: "succeeded", attempts: 1 }]);
  });

  it("a job whose claim is answered after shutdown began is given back, uncounted, and does not hold the shutdown past its deadline", async () => {
    // The race behind a flaky "shutdown past the deadline" test: the job's row was locked (the
    // claim had run) but the slot had not looked at the answer when shutdown began, so nothing
    // was running to abort at the deadline, and then the job ran to its end. Here the claim is
    // held up on purpose: a lock on the jobs table makes it wait until shutdown has begun.
    const queue = app.prisma.$jobs.queue("late-claim", { poolSize: 1, pollInterval: 200, autoStartDelay: 0 });
    queues.push(queue);
    let ran = false;
    await queue.register(Work, async () => {
      ran = true;
      await new Promise((resolve) => setTimeout(resolve, 10_000));
    });
    const id = await queue.enqueue(Work({ n: 1 }));
    const blocker = new pg.Client({ connectionString: app.url });
    await blocker.connect();
    try {
      await blocker.query("BEGIN");
      await blocker.query("LOCK TABLE arrower.jobs IN ACCESS EXCLUSIVE MODE");
      await queue.start();
      await waitFor(async () => (await claimWaiting()) > 0, 10_000, "the claim to wait for the lock");
      const t0 = Date.now();
      const stopped = queue.shutdown({ deadline: 200 });
      await blocker.query("COMMIT");
      await stopped;
      expect(Date.now() - t0).toBeLessThan(5_000);
    } finally {
      await blocker.end();
    }
    expect(ran).toBe(false);
    expect(await app.rows(`SELECT id, attempts FROM arrower.jobs`)).toEqual([{ id, attempts: 0 }]);
    expect(await app.count("attempts", "job_id = $1", [id])).toBe(0);

    async function claimWaiting(): Promise<number> {
      const [row] = await app.rows<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE OF j SKIP LOCKED%'`,
      );
      return row!.n;
    }
  });

  it("a listener that throws is reported as an error; the job's outcome stands and the pool goes on", async () => {
    const queue = app.prisma.$jobs.queue("listeners", { poolSize: 2, pollInterval: 200, autoStartDelay: 0, backoff: { baseDelay: 10, maxDelay: 10 } });
    queues.push(queue);
    const errors: Error[] = [];
    queue.on("error", (error) => errors.push(error));
    for (const kind of ["succeeded", "retrying", "failed", "crashed"] as const) {
      queue.on(kind, () => {
        throw new Error(`listener of ${kind} is broken`);
      });
    }
    await queue.register(Work, async ({ n }) => {
      if (n < 0) throw new Error("the handler fails");
    });
    // A job whose previous holder died: its claim counts a crash and emits "crashed".
    const [crashed] = await queue.enqueue([Work({ n: 1 })], { maxAttempts: 3 });
    await abandonAsCrashed(app, crashed!);
    const others = await queue.enqueue([...Array.from({ length: 20 }, (_, n) => Work({ n })), Work({ n: -1 })], { maxAttempts: 2 });
    await queue.start();
    const all = [crashed!, ...others];
    await waitFor(async () => (await app.count("job_history", "id = ANY($1)", [all])) === all.length, 20_000, "every job to finish");

    expect(await app.rows(`SELECT state, attempts FROM arrower.job_history WHERE id = $1`, [crashed])).toEqual([{ state: "succeeded", attempts: 2 }]);
    expect(await app.rows(`SELECT attempt, outcome FROM arrower.attempts WHERE job_id = $1`, [crashed])).toEqual([{ attempt: 1, outcome: "crashed" }]);
    expect(await app.count("job_history", "id = ANY($1) AND state = 'succeeded' AND attempts = 1", [others.slice(0, 20)])).toBe(20);
    const failing = others[20];
    expect(await app.rows(`SELECT state, attempts FROM arrower.job_history WHERE id = $1`, [failing])).toEqual([{ state: "failed", attempts: 2 }]);
    expect(await app.rows(`SELECT attempt, outcome FROM arrower.attempts WHERE job_id = $1`, [failing])).toEqual([{ attempt: 1, outcome: "failed" }]);
    const kinds = new Set(errors.map((e) => /listener of (\w+)/.exec(e.message)?.[1]));
    expect([...kinds].sort()).toEqual(["crashed", "failed", "retrying", "succeeded"]);
  });
});
