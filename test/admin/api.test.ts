import { describe, expect, it } from "vitest";
import { defineJob, dependsOn, DuplicateJobError, InvalidOptionsError, JobNotFoundError, JobRunningError, snooze, UnrecoverableError } from "../../src/index.ts";
import { useTestApp, waitFor } from "../helpers/app.ts";

const Task = defineJob<{ n: number }>("task");
const Flaky = defineJob<{ n: number }>("flaky", { backoff: { baseDelay: 60_000, maxDelay: 60_000, jitter: 0 } });
const Leased = defineJob<{ n: number }>("leased", { mode: "lease", leaseTimeout: 60_000 });

/** A gate a handler waits at until the test opens it. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

describe("admin API", () => {
  const { app, queues } = useTestApp();

  it("getJob shows a live job; listJobs pages newest first with a cursor", async () => {
    const ids = await app.prisma.$jobs.enqueue(Array.from({ length: 5 }, (_, n) => Task({ n })), { queue: "listing" });
    const job = await app.prisma.$jobs.getJob(ids[0]!);
    expect(job).toMatchObject({ id: ids[0], queue: "listing", type: "task", state: "available", payload: { n: 0 }, attempts: 0, attemptHistory: [] });
    const first = await app.prisma.$jobs.listJobs({ queue: "listing", limit: 2 });
    expect(first.jobs.map((j) => j.id)).toEqual([ids[4], ids[3]]);
    const second = await app.prisma.$jobs.listJobs({ queue: "listing", limit: 2 }, first.next);
    expect(second.jobs.map((j) => j.id)).toEqual([ids[2], ids[1]]);
    const last = await app.prisma.$jobs.listJobs({ queue: "listing", limit: 2 }, second.next);
    expect(last).toEqual({ jobs: [expect.objectContaining({ id: ids[0] })], next: null });
    expect(await app.prisma.$jobs.getJob("999999999")).toBeNull();
  });

  it("cancel moves a queued job to history; retry brings it back; deleteJob removes it", async () => {
    const id = await app.prisma.$jobs.enqueue(Task({ n: 1 }), { queue: "manage", runAt: new Date(Date.now() + 3_600_000) });
    expect((await app.prisma.$jobs.getJob(id))!.state).toBe("scheduled");
    await app.prisma.$jobs.cancel(id);
    expect((await app.prisma.$jobs.getJob(id))!.state).toBe("cancelled");
    await expect(app.prisma.$jobs.cancel(id)).rejects.toBeInstanceOf(JobNotFoundError);
    await app.prisma.$jobs.retry(id);
    const revived = await app.prisma.$jobs.getJob(id);
    expect(revived).toMatchObject({ state: "available", attempts: 0 });
    await app.prisma.$jobs.deleteJob(id);
    expect(await app.prisma.$jobs.getJob(id)).toBeNull();
    await expect(app.prisma.$jobs.deleteJob(id)).rejects.toBeInstanceOf(JobNotFoundError);
  });

  it("actions on a running job answer 'running' at once, without waiting for it", async () => {
    const queue = app.prisma.$jobs.queue("busy", { poolSize: 1, pollInterval: 100 });
    queues.push(queue);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    await queue.register(Task, async () => held);
    await queue.start();
    const id = await queue.enqueue(Task({ n: 1 }));
    await waitFor(async () => (await app.running()).includes(id));
    expect((await app.prisma.$jobs.getJob(id))!.state).toBe("running");
    const t0 = Date.now();
    await expect(app.prisma.$jobs.cancel(id)).rejects.toBeInstanceOf(JobRunningError);
    await expect(app.prisma.$jobs.deleteJob(id)).rejects.toThrow(/job \d+ is running: cannot delete it now/);
    await expect(app.prisma.$jobs.retry(id)).rejects.toBeInstanceOf(JobRunningError);
    expect(Date.now() - t0).toBeLessThan(1_000);
    release();
    await waitFor(async () => (await app.prisma.$jobs.getJob(id))?.state === "succeeded");
  });

  it("a running lease-mode job is listed neither as available nor as scheduled; stats() counts it running", async () => {
    const queue = app.prisma.$jobs.queue("leasing", { poolSize: 1, pollInterval: 100, autoStartDelay: 60_000, poolName: "lease-pool" });
    queues.push(queue);
    const started = gate();
    const release = gate();
    await queue.register(Leased, async () => {
      started.open();
      await release.opened;
    });
    const running = await queue.enqueue(Leased({ n: 1 }));
    await queue.start();
    await started.opened;
    // Enqueued once the first one runs: the pool's one slot is taken, so these wait.
    const waiting = await queue.enqueue(Leased({ n: 2 }));
    const later = await queue.enqueue(Leased({ n: 3 }), { runAt: new Date(Date.now() + 3_600_000) });

    expect((await app.prisma.$jobs.getJob(running))!.state).toBe("running");
    // Its row's run_at is the lease's expiry, a minute ahead: it must not pass for scheduled.
    expect((await app.prisma.$jobs.listJobs({ queue: "leasing", state: "available" })).jobs.map((j) => j.id)).toEqual([waiting]);
    expect((await app.prisma.$jobs.listJobs({ queue: "leasing", state: "scheduled" })).jobs.map((j) => j.id)).toEqual([later]);
    // The running count comes from the pool's heartbeat (every 10 s), which counts a leased job.
    await waitFor(async () => (await app.prisma.$jobs.stats()).find((s) => s.queue === "leasing")?.running === 1, 15_000, "the heartbeat to count the leased job");
    // Counted as due (as a job running in its transaction is), not as scheduled, and not as
    // retrying: its attempts count the one running.
    expect((await app.prisma.$jobs.stats()).find((s) => s.queue === "leasing")).toMatchObject({ queued: 3, due: 2, scheduled: 1, retrying: 0, running: 1 });

    release.open();
    await waitFor(async () => (await app.prisma.$jobs.getJob(running))?.state === "succeeded", 10_000, "the leased job to succeed");
  });

  it("stats() counts jobs waiting for the jobs they depend on as waiting, not scheduled; released, they are due", async () => {
    const parent = Task({ n: 1 });
    const ids = await app.prisma.$jobs.enqueue(
      [parent, dependsOn(Task({ n: 2 }), [parent], { onParentFailure: "run" }), dependsOn(Task({ n: 3 }), [parent])],
      { queue: "wf-stats" },
    );
    await app.prisma.$jobs.enqueue(Task({ n: 4 }), { queue: "wf-stats", runAt: new Date(Date.now() + 3_600_000) });
    const counts = async () => (await app.prisma.$jobs.stats()).find((s) => s.queue === "wf-stats");
    expect(await counts()).toEqual({
      queue: "wf-stats", queued: 4, due: 1, scheduled: 1, waiting: 2, running: 0, failed: 0, retrying: 0,
      noHandler: 4, paused: false, pools: 0, succeededLastHour: 0,
    });
    // Cancelling the parent releases the dependant that runs anyway, and cancels the other.
    await app.prisma.$jobs.cancel(ids[0]!);
    expect(await counts()).toMatchObject({ queued: 2, due: 1, scheduled: 1, waiting: 0 });
    expect((await app.prisma.$jobs.getJob(ids[1]!))!.state).toBe("available");
  });

  it("a leased job whose lease expired is listed as available again, with the time it was due", async () => {
    const dueAt = new Date(Date.now() - 3_600_000);
    const id = await app.prisma.$jobs.enqueue(Leased({ n: 1 }), { queue: "lapsed", runAt: dueAt });
    // Its holder died an hour into attempt 1: the lease lapsed a second ago, and no pool took it over yet.
    await app.rows(`UPDATE arrower.jobs SET lease_owner = 'dead-pool', attempts = 1, leased_at = now() - interval '1 hour',
                    lease_run_at = run_at, run_at = now() - interval '1 second' WHERE id = $1`, [id]);
    const { jobs } = await app.prisma.$jobs.listJobs({ queue: "lapsed" });
    expect(jobs).toEqual([expect.objectContaining({ id, state: "available", runAt: dueAt, attempts: 1 })]);
    expect(await app.prisma.$jobs.listJobs({ queue: "lapsed", state: "scheduled" })).toEqual({ jobs: [], next: null });
  });

  it("a paused queue is not claimed; resume wakes its workers", async () => {
    const queue = app.prisma.$jobs.queue("pausable", { poolSize: 2, pollInterval: 100 });
    queues.push(queue);
    const ran: string[] = [];
    await queue.register(Task, async (_job, { jobId }) => {
      ran.push(jobId);
    });
    await queue.start();
    await app.prisma.$jobs.pause("pausable");
    const id = await queue.enqueue(Task({ n: 1 }));
    await new Promise((r) => setTimeout(r, 500));
    expect(ran).toEqual([]);
    expect((await app.prisma.$jobs.stats()).find((s) => s.queue === "pausable")).toMatchObject({ paused: true, due: 1 });
    await app.prisma.$jobs.resume("pausable");
    await waitFor(() => ran.length === 1, 5_000);
    expect(ran).toEqual([id]);
  });

  it("requeueFailed brings back failed jobs of a type as fresh jobs", async () => {
    const queue = app.prisma.$jobs.queue("failing", { poolSize: 1, pollInterval: 100 });
    queues.push(queue);
    let fail = true;
    await queue.register(Task, async () => {
      if (fail) throw new UnrecoverableError("card was deleted");
    });
    await queue.start();
    const ids = await queue.enqueue([Task({ n: 1 }), Task({ n: 2 })], { maxAttempts: 5 });
    await waitFor(async () => (await app.count("job_history", "id = ANY($1::bigint[]) AND state = 'failed'", [ids])) === 2);
    // UnrecoverableError: failed after one attempt, not five.
    expect(await app.rows(`SELECT attempts, last_error FROM arrower.job_history WHERE id = $1`, [ids[0]])).toEqual([
      { attempts: 1, last_error: expect.stringContaining("UnrecoverableError: card was deleted") },
    ]);
    fail = false;
    expect(await app.prisma.$jobs.requeueFailed({ queue: "failing", type: "task" })).toEqual({ requeued: 2, skipped: { dedupKeyLive: 0, dedupKeyRequeued: 0 } });
    await waitFor(async () => (await app.count("job_history", "id = ANY($1::bigint[]) AND state = 'succeeded'", [ids])) === 2);
  });

  it("requeueFailed requeues the newest failed job of each dedup key and says which it skipped and why", async () => {
    const queue = app.prisma.$jobs.queue("dedup-failing", { poolSize: 1, pollInterval: 100 });
    queues.push(queue);
    await queue.register(Task, async () => {
      throw new UnrecoverableError("upstream said no");
    });
    await queue.start();
    // A dedup key names one *live* job: once a job failed, its key can be enqueued again.
    const fail = async (n: number, dedupKey?: string) => {
      const id = await queue.enqueue(Task({ n }), dedupKey === undefined ? {} : { dedupKey });
      await waitFor(async () => (await app.count("job_history", "id = $1 AND state = 'failed'", [id])) === 1);
      return id;
    };
    const older = await fail(1, "report-7");
    const newer = await fail(2, "report-7");
    const held = await fail(3, "report-9");
    const plain = await fail(4);
    await queue.shutdown();
    const live = await app.prisma.$jobs.enqueue(Task({ n: 5 }), { queue: "dedup-failing", dedupKey: "report-9", runAt: new Date(Date.now() + 3_600_000) });

    expect(await app.prisma.$jobs.requeueFailed({ queue: "dedup-failing" })).toEqual({
      requeued: 2,
      skipped: { dedupKeyLive: 1, dedupKeyRequeued: 1 },
    });
    expect(await app.rows(`SELECT id::text AS id, dedup_key, attempts FROM arrower.jobs WHERE queue = 'dedup-failing' ORDER BY id`)).toEqual([
      { id: newer, dedup_key: "report-7", attempts: 0 },
      { id: plain, dedup_key: null, attempts: 0 },
      { id: live, dedup_key: "report-9", attempts: 0 },
    ]);
    expect(await app.rows(`SELECT id::text AS id FROM arrower.job_history WHERE queue = 'dedup-failing' AND state = 'failed' ORDER BY id`)).toEqual([
      { id: older },
      { id: held },
    ]);
    // Again: both keys are live now.
    expect(await app.prisma.$jobs.requeueFailed({ queue: "dedup-failing" })).toEqual({ requeued: 0, skipped: { dedupKeyLive: 2, dedupKeyRequeued: 0 } });
  });

  it("requeueFailed keeps one job per dedup key across its batches of 1,000", async () => {
    // 2,500 failed jobs: 1,800 with 600 keys (3 each, spread over the batches), 700 without.
    await app.rows(`
      INSERT INTO arrower.job_history (id, queue, type, payload, priority, run_at, created_at, state, attempts, max_attempts, timeout_ms, dedup_key, finished_at)
      SELECT nextval('arrower.job_id_seq'), 'many-failed', 'task', '{"n":0}', 0, now(), now(), 'failed', 1, 1, 30000,
             CASE WHEN g <= 1800 THEN 'k' || (g % 600) END, now()
      FROM generate_series(1, 2500) g`);
    const live = await app.prisma.$jobs.enqueue(Task({ n: 1 }), { queue: "many-failed", dedupKey: "k0", runAt: new Date(Date.now() + 3_600_000) });
    expect(await app.prisma.$jobs.requeueFailed({ queue: "many-failed" })).toEqual({
      requeued: 700 + 599,
      skipped: { dedupKeyLive: 3, dedupKeyRequeued: 2 * 599 },
    });
    // The newest of each key is live, one per key; the rest stay failed.
    expect(await app.rows(`SELECT count(*)::int AS live, count(DISTINCT dedup_key)::int AS keys FROM arrower.jobs WHERE queue = 'many-failed'`)).toEqual([
      { live: 1 + 700 + 599, keys: 600 },
    ]);
    expect(await app.rows(`
      SELECT count(*)::int AS newer_left FROM arrower.job_history h JOIN arrower.jobs j ON j.queue = h.queue AND j.dedup_key = h.dedup_key
      WHERE h.queue = 'many-failed' AND h.id > j.id AND j.id <> $1`, [live])).toEqual([{ newer_left: 0 }]);
    expect(await app.count("job_history", "queue = 'many-failed' AND state = 'failed'")).toBe(3 + 2 * 599);
  });

  it("retry of a finished job whose dedup key a live job holds is refused with that job's id, and changes nothing", async () => {
    const id = await app.prisma.$jobs.enqueue(Task({ n: 1 }), { queue: "dedup-retry", dedupKey: "invoice-3", runAt: new Date(Date.now() + 3_600_000) });
    await app.prisma.$jobs.cancel(id);
    const live = await app.prisma.$jobs.enqueue(Task({ n: 2 }), { queue: "dedup-retry", dedupKey: "invoice-3" });
    const error = await app.prisma.$jobs.retry(id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DuplicateJobError);
    expect(error).toMatchObject({
      code: "DUPLICATE_JOB",
      jobId: id,
      queue: "dedup-retry",
      dedupKey: "invoice-3",
      liveJobId: live,
      message: `job ${id} cannot run again now: job ${live} in queue "dedup-retry" holds its dedup key "invoice-3" (a dedup key names one live job per queue); retry it once job ${live} has finished, or cancel that one first`,
    });
    expect((await app.prisma.$jobs.getJob(id))!.state).toBe("cancelled");
    expect((await app.prisma.$jobs.getJob(live))!.state).toBe("available");
  });

  it("a job id that is not one is bad input; a well-formed id no job can have (beyond bigint) is not found", async () => {
    const $jobs = app.prisma.$jobs;
    const ids = await $jobs.enqueue([Task({ n: 1 }), Task({ n: 2 })], { queue: "odd-ids" });
    const entryPoints = (id: string): Array<readonly [string, () => Promise<unknown>]> => [
      ["getJob", () => $jobs.getJob(id)],
      ["cancel", () => $jobs.cancel(id)],
      ["retry", () => $jobs.retry(id)],
      ["deleteJob", () => $jobs.deleteJob(id)],
      ["listJobs cursor", () => $jobs.listJobs({ queue: "odd-ids" }, id)],
    ];
    for (const malformed of ["abc", "-1", "1.5", "", " 1", "1e3", "0x1f", "+1", 12 as unknown as string]) {
      for (const [call, run] of entryPoints(malformed)) {
        const error = await Promise.resolve().then(run).catch((e: unknown) => e);
        expect(error, `${call}(${JSON.stringify(malformed)})`).toBeInstanceOf(InvalidOptionsError);
        const given = typeof malformed === "string" ? JSON.stringify(malformed) : `number ${malformed}`;
        expect(error).toMatchObject(
          call === "listJobs cursor"
            ? { option: "cursor", message: `cursor must be a job id (the \`next\` of a page): a job id is a string of digits (as enqueue returns it), got ${given}` }
            : { option: "id", message: `a job id is a string of digits (as enqueue returns it), got ${given}` },
        );
      }
    }
    for (const beyond of ["9223372036854775808", "9999999999999999999", "99999999999999999999", "1".repeat(400)]) {
      expect(await $jobs.getJob(beyond)).toBeNull();
      for (const [call, run] of entryPoints(beyond).slice(1, 4)) {
        const error = await Promise.resolve().then(run).catch((e: unknown) => e);
        expect(error, `${call}(${beyond})`).toBeInstanceOf(JobNotFoundError);
        expect(error).toMatchObject({ code: "JOB_NOT_FOUND", jobId: beyond, message: `job ${beyond} not found` });
      }
      // Every job id is below it: the first page.
      expect((await $jobs.listJobs({ queue: "odd-ids" }, beyond)).jobs.map((j) => j.id)).toEqual([ids[1], ids[0]]);
    }
    // The largest bigint is a job id like any other, and leading zeros are the same number.
    expect(await $jobs.getJob("9223372036854775807")).toBeNull();
    await expect($jobs.cancel("9223372036854775807")).rejects.toBeInstanceOf(JobNotFoundError);
    expect((await $jobs.getJob(`000${ids[0]}`))!.id).toBe(ids[0]);
    expect((await $jobs.listJobs({ queue: "odd-ids" }, `0${ids[1]}`)).jobs.map((j) => j.id)).toEqual([ids[0]]);
    expect(await app.count("jobs", "queue = 'odd-ids'")).toBe(2);
  });

  it("a snoozed job runs again after its delay with its attempt count unchanged, its writes rolled back", async () => {
    const queue = app.prisma.$jobs.queue("snoozy", { poolSize: 1, pollInterval: 100 });
    queues.push(queue);
    const attempts: number[] = [];
    const ranAt: number[] = [];
    await queue.register(Task, async (_job, { tx, jobId, attempt }) => {
      attempts.push(attempt);
      ranAt.push(Date.now());
      await tx.sideEffect.create({ data: { id: `${jobId}:${ranAt.length}` } });
      if (ranAt.length === 1) return snooze(600);
    });
    await queue.start();
    const id = await queue.enqueue(Task({ n: 1 }));
    await waitFor(async () => (await app.count("job_history", "id = $1", [id])) === 1);
    expect(attempts).toEqual([1, 1]);
    expect(ranAt[1]! - ranAt[0]!).toBeGreaterThanOrEqual(550);
    expect(await app.rows(`SELECT id FROM "SideEffect" WHERE id LIKE $1`, [`${id}:%`])).toEqual([{ id: `${id}:2` }]);
    expect(await app.rows(`SELECT state, attempts FROM arrower.job_history WHERE id = $1`, [id])).toEqual([{ state: "succeeded", attempts: 1 }]);
  });

  it("a job type's own backoff wins over the queue's", async () => {
    const queue = app.prisma.$jobs.queue("typed-backoff", { poolSize: 1, pollInterval: 100, backoff: { baseDelay: 10, maxDelay: 10 } });
    queues.push(queue);
    await queue.register(Flaky, async () => {
      throw new Error("down");
    });
    await queue.start();
    const id = await queue.enqueue(Flaky({ n: 1 }));
    await waitFor(async () => (await app.count("attempts", "job_id = $1", [id])) === 1);
    const [row] = await app.rows<{ due_in_s: number }>(`SELECT extract(epoch FROM run_at - clock_timestamp())::float8 AS due_in_s FROM arrower.jobs WHERE id = $1`, [id]);
    expect(row!.due_in_s).toBeGreaterThan(55);
  });

  it("events: succeeded, retrying and failed with typed payloads", async () => {
    const queue = app.prisma.$jobs.queue("events", { poolSize: 1, pollInterval: 100, backoff: { baseDelay: 10, maxDelay: 10 } });
    queues.push(queue);
    const seen: string[] = [];
    queue.on("succeeded", (e) => seen.push(`succeeded:${e.attempt}`));
    queue.on("retrying", (e) => seen.push(`retrying:${e.attempt}:${e.error?.split("\n")[0]}`));
    queue.on("failed", (e) => seen.push(`failed:${e.attempt}`));
    await queue.register(Task, async (job, { attempt }) => {
      if (job.n === 1 && attempt === 1) throw new Error("once");
      if (job.n === 2) throw new Error("always");
    });
    await queue.start();
    await queue.enqueue(Task({ n: 1 }));
    await waitFor(() => seen.includes("succeeded:2"));
    await queue.enqueue(Task({ n: 2 }), { maxAttempts: 2 });
    await waitFor(() => seen.includes("failed:2"));
    expect(seen).toEqual(["retrying:1:Error: once", "succeeded:2", "retrying:1:Error: always", "failed:2"]);
  });

  it("prune deletes old history in batches and keeps recent rows", async () => {
    await app.rows(`
      INSERT INTO arrower.job_history (id, queue, type, payload, priority, run_at, created_at, state, attempts, max_attempts, timeout_ms, finished_at)
      SELECT nextval('arrower.job_id_seq'), 'old', 'task', '{}', 0, now(), now(), CASE WHEN g % 2 = 0 THEN 'succeeded' ELSE 'failed' END, 1, 25, 30000,
             now() - CASE WHEN g <= 2500 THEN interval '40 days' ELSE interval '1 hour' END
      FROM generate_series(1, 3000) g`);
    const result = await app.prisma.$jobs.prune({ batchSize: 500 });
    expect(result).toEqual({ succeeded: 1250, failed: 1250, cancelled: 0 });
    expect(await app.count("job_history", "queue = 'old'")).toBe(500);
  });
});
