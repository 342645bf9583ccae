/**
 * Workflows: jobs enqueued together where some depend on others (`dependsOn`). A dependant
 * waits until all of its parents have succeeded, is released by the transaction that finishes
 * its last parent (no resolver, no delay), reads its parents' results, and is cancelled (or
 * run, by its policy) when a parent fails for good.
 */
import { describe, expect, it } from "vitest";
import { defineJob, dependsOn, InvalidJobError, InvalidOptionsError, type JobEvent } from "../../src/index.ts";
import { useTestApp, waitFor } from "../helpers/app.ts";

const Fetch = defineJob<{ url: string; fail?: boolean }, { bytes: number }>("wf-fetch", { maxAttempts: 2 });
const Resize = defineJob<{ width: number }, { width: number; from: number }>("wf-resize");
const Notify = defineJob<{ user: string }, { saw: (number | undefined)[] }>("wf-notify");

describe("workflows", () => {
  const { app, queues } = useTestApp();

  function queue(name: string, poolSize = 2) {
    const q = app.prisma.$jobs.queue(name, { poolSize, pollInterval: 100, autoStartDelay: 60_000, backoff: { baseDelay: 10, maxDelay: 10 } });
    queues.push(q);
    return q;
  }

  /** Resolves once every id in `ids` has finished (any state), from history. */
  async function finished(ids: string[]) {
    await waitFor(async () => (await app.count("job_history", "id = ANY($1)", [ids])) === ids.length, 20_000, "the workflow to finish");
    return app.rows<{ id: string; type: string; state: string; attempts: number; last_error: string | null }>(
      `SELECT h.id::text AS id, h.type, h.state, h.attempts, h.last_error FROM arrower.job_history h WHERE h.id = ANY($1) ORDER BY h.id`,
      [ids],
    );
  }

  it("a dependant runs after all its parents succeeded, released by their finishing transactions, and reads their results", async () => {
    const q = queue("wf-order");
    const order: string[] = [];
    const seenWhileParentRan: string[] = [];
    await q.register(Fetch, async ({ url }, { tx, jobId }) => {
      // Inside the parent's transaction, its dependant still waits: nothing is released early.
      const workflow = await app.prisma.$jobs.getWorkflow(jobId);
      seenWhileParentRan.push(...workflow!.jobs.filter((j) => j.type === "wf-resize").map((j) => j.state));
      await tx.sideEffect.create({ data: { id: `fetched ${url}` } });
      order.push("fetch");
      return { bytes: url.length };
    });
    await q.register(Resize, async ({ width }, { parentResult }) => {
      order.push("resize");
      return { width, from: (await parentResult(Fetch))!.bytes };
    });
    await q.register(Notify, async (_, { parentResult }) => {
      order.push("notify");
      return { saw: [(await parentResult(Fetch))?.bytes, (await parentResult(Resize))?.width] };
    });
    const fetch = Fetch({ url: "https://example.com/a.png" });
    const resize = dependsOn(Resize({ width: 100 }), [fetch]);
    const notify = dependsOn(Notify({ user: "ada" }), [fetch, resize]);
    const ids = await app.prisma.$jobs.enqueue([notify, resize, fetch], { queue: "wf-order" });

    expect(await app.prisma.$jobs.getJob(ids[0]!)).toMatchObject({ state: "waiting", workflowId: ids[0] });
    expect((await app.prisma.$jobs.getJob(ids[0]!))!.runAt).toBeNull();
    await expect(app.prisma.$jobs.retry(ids[0]!)).rejects.toThrow(`job ${ids[0]} waits for the jobs it depends on (dependsOn): it cannot retry before they have succeeded`);
    expect((await app.prisma.$jobs.listJobs({ state: "waiting", queue: "wf-order" })).jobs.map((j) => j.id).sort()).toEqual([ids[0], ids[1]].sort());
    const workflow = await app.prisma.$jobs.getWorkflow(ids[2]!);
    expect(workflow).toMatchObject({
      id: ids[0],
      jobs: [
        { id: ids[0], type: "wf-notify", state: "waiting", dependsOn: [ids[1], ids[2]] },
        { id: ids[1], type: "wf-resize", state: "waiting", dependsOn: [ids[2]] },
        { id: ids[2], type: "wf-fetch", state: "available", dependsOn: [] },
      ],
    });

    await q.start();
    const rows = await finished(ids);
    expect(rows.map((r) => r.state)).toEqual(["succeeded", "succeeded", "succeeded"]);
    expect(order).toEqual(["fetch", "resize", "notify"]);
    expect(seenWhileParentRan).toEqual(["waiting"]);
    expect(await app.prisma.$jobs.getResult(Notify, ids[0]!)).toEqual({ saw: [25, 100] });
    expect(await app.prisma.$jobs.getResult(Resize, ids[1]!)).toEqual({ width: 100, from: 25 });
  });

  it("a parent that fails for good cancels its dependants and theirs; one with onParentFailure \"run\" runs without its result", async () => {
    const q = queue("wf-fail");
    const ran: string[] = [];
    await q.register(Fetch, async ({ fail }) => {
      if (fail) throw new Error("the server said 500");
      return { bytes: 1 };
    });
    await q.register(Resize, async ({ width }) => {
      ran.push(`resize ${width}`);
      return { width, from: 0 };
    });
    await q.register(Notify, async (_, { parentResult }) => {
      ran.push("notify");
      return { saw: [(await parentResult(Fetch))?.bytes] };
    });
    const fetch = Fetch({ url: "x", fail: true });
    const resize = dependsOn(Resize({ width: 1 }), [fetch]);
    const resizeAgain = dependsOn(Resize({ width: 2 }), [resize]);
    const notify = dependsOn(Notify({ user: "ada" }), [fetch], { onParentFailure: "run" });
    const ids = await q.enqueue([fetch, resize, resizeAgain, notify]);
    await q.start();
    const rows = await finished(ids);
    expect(rows.map((r) => [r.type, r.state, r.attempts])).toEqual([
      ["wf-fetch", "failed", 2],
      ["wf-resize", "cancelled", 0],
      ["wf-resize", "cancelled", 0],
      ["wf-notify", "succeeded", 1],
    ]);
    expect(rows[1]!.last_error).toBe('cancelled: a job it depends on failed or was cancelled (dependsOn, onParentFailure "cancel")');
    expect(ran).toEqual(["notify"]);
    expect(await app.prisma.$jobs.getResult(Notify, ids[3]!)).toEqual({ saw: [undefined] });
  });

  it("cancelling a parent settles its dependants the same way", async () => {
    const q = queue("wf-cancel");
    const fetch = Fetch({ url: "later" });
    const resize = dependsOn(Resize({ width: 1 }), [fetch]);
    const ids = await q.enqueue([fetch, resize], { runAt: new Date(Date.now() + 3_600_000) });
    await app.prisma.$jobs.cancel(ids[0]!);
    expect(await app.rows(`SELECT state FROM arrower.job_history WHERE id = ANY($1) ORDER BY id`, [ids])).toEqual([{ state: "cancelled" }, { state: "cancelled" }]);
    expect(await app.count("jobs", "id = ANY($1)", [ids])).toBe(0);
  });

  it("two parents finishing at once release their common dependant exactly once (50 diamonds, 4 workers)", async () => {
    const q = queue("wf-diamond", 4);
    const merged = new Map<string, number>();
    await q.register(Fetch, async ({ url }, { tx }) => {
      await tx.sideEffect.create({ data: { id: `diamond ${url}` } });
      return { bytes: url.length };
    });
    await q.register(Notify, async (_, { jobId }) => {
      merged.set(jobId, (merged.get(jobId) ?? 0) + 1);
      return { saw: [] };
    });
    const jobs = Array.from({ length: 50 }, (_, n) => {
      const a = Fetch({ url: `a${n}` });
      const b = Fetch({ url: `b${n}` });
      return [a, b, dependsOn(Notify({ user: `${n}` }), [a, b])];
    }).flat();
    const ids = await q.enqueue(jobs);
    await q.start();
    const rows = await finished(ids);
    expect(rows.every((r) => r.state === "succeeded" && r.attempts === 1)).toBe(true);
    expect([...merged.values()]).toEqual(Array(50).fill(1));
  });

  it("a workflow is enqueued in the caller's transaction: rolled back, nothing of it remains", async () => {
    const fetch = Fetch({ url: "tx" });
    await expect(
      app.prisma.$transaction(async (tx) => {
        await tx.$jobs.enqueue([fetch, dependsOn(Resize({ width: 1 }), [fetch])], { queue: "wf-rollback" });
        throw new Error("the app's transaction fails");
      }),
    ).rejects.toThrow("the app's transaction fails");
    expect(await app.count("jobs", "queue = 'wf-rollback'")).toBe(0);
    // No edge or membership row of jobs that do not exist.
    const dangling = (table: string) =>
      app.count(table, `NOT EXISTS (SELECT 1 FROM arrower.jobs j WHERE j.id = job_id) AND NOT EXISTS (SELECT 1 FROM arrower.job_history h WHERE h.id = job_id)`);
    expect([await dangling("job_deps"), await dangling("workflow_jobs")]).toEqual([0, 0]);
  });

  it("bad workflows are refused before anything is written", async () => {
    const before = await app.count("jobs");
    const fetch = Fetch({ url: "x" });
    const orphan = dependsOn(Resize({ width: 1 }), [fetch]);
    await expect(app.prisma.$jobs.enqueue([orphan])).rejects.toThrow(
      new InvalidJobError('enqueue: wf-resize(…) at index 0 depends on a wf-fetch(…) job that is not in this call: enqueue a job and the jobs it depends on in one call'),
    );
    await expect(app.prisma.$jobs.enqueue([fetch, orphan], { dedupKey: "k" })).rejects.toBeInstanceOf(InvalidOptionsError);
    await expect(app.prisma.$jobs.enqueue([fetch, fetch, orphan])).rejects.toBeInstanceOf(InvalidJobError);
    expect(() => dependsOn(Resize({ width: 1 }), [])).toThrow(InvalidJobError);
    expect(() => dependsOn(Resize({ width: 1 }), [{} as never])).toThrow(InvalidJobError);
    expect(() => dependsOn(fetch, [fetch])).toThrow("a job cannot depend on itself");
    expect(() => dependsOn(Resize({ width: 1 }), [fetch], { onParentFailure: "skip" as never })).toThrow(InvalidOptionsError);
    await expect(app.prisma.$jobs.schedule("@every 1h", orphan)).rejects.toBeInstanceOf(InvalidJobError);
    expect(await app.count("jobs")).toBe(before);
  });

  it("a lease-mode parent that completes in the app's transaction releases its dependant with that commit", async () => {
    const LongFetch = defineJob<{ url: string }, { bytes: number }>("wf-long-fetch", { mode: "lease", leaseTimeout: 5_000 });
    const q = queue("wf-lease");
    await q.register(LongFetch, async ({ url }, { complete }) => {
      await app.prisma.$transaction(async (tx) => {
        await tx.sideEffect.create({ data: { id: `long ${url}` } });
        await complete(tx, { bytes: 7 });
      });
    });
    await q.register(Resize, async ({ width }, { parentResult }) => ({ width, from: (await parentResult(LongFetch))!.bytes }));
    const fetch = LongFetch({ url: "big" });
    const ids = await q.enqueue([fetch, dependsOn(Resize({ width: 3 }), [fetch])]);
    const done = new Promise<JobEvent>((resolve) => q.on("succeeded", (e) => e.jobId === ids[1] && resolve(e)));
    await q.start();
    await done;
    expect(await app.prisma.$jobs.getResult(Resize, ids[1]!)).toEqual({ width: 3, from: 7 });
  });
});
