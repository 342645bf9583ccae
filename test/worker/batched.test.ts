/**
 * Batched mode (`batchSize`): a worker claims several jobs in one transaction, runs each
 * handler in a savepoint of its own, and commits once.
 */
import { describe, expect, it } from "vitest";
import { defineJob, InvalidOptionsError } from "../../src/index.ts";
import { useTestApp, waitFor } from "../helpers/app.ts";

const Step = defineJob<{ n: number; failOnce?: boolean; ms?: number }>("step");

describe("batched mode", () => {
  const { app, queues } = useTestApp();

  it("batches share a transaction; a failing job rolls back only its own writes and is retried alone", async () => {
    const queue = app.prisma.$jobs.queue("batched", { poolSize: 2, batchSize: 20, pollInterval: 100, autoStartDelay: 0, backoff: { baseDelay: 10, maxDelay: 10 } });
    queues.push(queue);
    const ids = await app.prisma.$jobs.enqueue(Array.from({ length: 200 }, (_, n) => Step({ n, failOnce: n === 13 || n === 57 })), { queue: "batched" });
    await queue.register(Step, async (job, { tx, jobId, attempt }) => {
      const [row] = await tx.$queryRaw<{ xid: string }[]>`SELECT txid_current()::text AS xid`;
      await tx.sideEffect.create({ data: { id: `${jobId}:${attempt}`, note: row!.xid } });
      if (job.failOnce && attempt === 1) throw new Error(`job ${job.n} fails once`);
    });
    await queue.start();
    await waitFor(async () => (await app.count("job_history", "queue = 'batched'")) === 200, 30_000, "200 jobs in history");

    const history = await app.rows<{ state: string; n: number }>(`SELECT state, count(*)::int AS n FROM arrower.job_history WHERE queue = 'batched' GROUP BY state`);
    expect(history).toEqual([{ state: "succeeded", n: 200 }]);
    // Each job's write committed exactly once, for its successful attempt; the failed attempts' writes are gone.
    const effects = await app.rows<{ id: string; note: string }>(`SELECT id, note FROM "SideEffect" WHERE id LIKE ANY($1)`, [ids.map((id) => `${id}:%`)]);
    expect(effects).toHaveLength(200);
    const failing = [ids[13]!, ids[57]!];
    expect(effects.filter((e) => failing.some((id) => e.id.startsWith(`${id}:`))).map((e) => e.id).sort()).toEqual(failing.map((id) => `${id}:2`).sort());
    expect(await app.rows(`SELECT job_id::text AS id, attempt, outcome FROM arrower.attempts WHERE job_id = ANY($1) ORDER BY job_id`, [failing])).toEqual(
      failing.map((id) => ({ id, attempt: 1, outcome: "failed" })),
    );
    // Jobs were committed together: transactions ran several jobs, none more than 20.
    const perTransaction = new Map<string, number>();
    for (const { note } of effects) perTransaction.set(note, (perTransaction.get(note) ?? 0) + 1);
    expect(Math.max(...perTransaction.values())).toBeGreaterThan(1);
    expect(Math.max(...perTransaction.values())).toBeLessThanOrEqual(20);
    expect(perTransaction.size).toBeLessThan(200);
  });

  it("jobs of a batch run in claim order (priority, then run_at)", async () => {
    const queue = app.prisma.$jobs.queue("ordered", { poolSize: 1, batchSize: 10, pollInterval: 100, autoStartDelay: 0 });
    queues.push(queue);
    const seen: number[] = [];
    await app.prisma.$jobs.enqueue([Step({ n: 3 }), Step({ n: 1 }), Step({ n: 2 })], { queue: "ordered" });
    await app.prisma.$jobs.enqueue(Step({ n: 0 }), { queue: "ordered", priority: -1 });
    await queue.register(Step, async (job) => {
      seen.push(job.n);
    });
    await queue.start();
    await waitFor(() => seen.length === 4);
    expect(seen).toEqual([0, 3, 1, 2]);
  });

  it("shutdown mid-batch: finished jobs commit, the running one is given back uncounted, the rest stay queued", async () => {
    const queue = app.prisma.$jobs.queue("stopping", { poolSize: 1, batchSize: 5, pollInterval: 100, autoStartDelay: 0 });
    const ids = await app.prisma.$jobs.enqueue(Array.from({ length: 5 }, (_, n) => Step({ n, ms: n === 1 ? 60_000 : 0 })), { queue: "stopping" });
    let started = 0;
    await queue.register(Step, async (job, { tx, jobId, signal }) => {
      started++;
      await tx.sideEffect.create({ data: { id: jobId } });
      if (job.ms) await new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, job.ms);
        signal.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
      });
    });
    await queue.start();
    await waitFor(() => started === 2, 10_000, "the slow job to start");
    await queue.shutdown({ deadline: 200 });

    expect(await app.rows(`SELECT id::text AS id, state, attempts FROM arrower.job_history WHERE queue = 'stopping'`)).toEqual([{ id: ids[0], state: "succeeded", attempts: 1 }]);
    const live = await app.rows<{ id: string; attempts: number }>(`SELECT id::text AS id, attempts FROM arrower.jobs WHERE queue = 'stopping' ORDER BY id`);
    expect(live).toEqual(ids.slice(1).map((id) => ({ id, attempts: 0 })));
    expect(await app.rows(`SELECT id FROM "SideEffect" WHERE id = ANY($1) ORDER BY id`, [ids])).toEqual([{ id: ids[0] }]);
    expect(await app.running()).toEqual([]);
  });

  it("batchSize is 1 to 50", () => {
    for (const batchSize of [0, 51, 2.5, "10"]) {
      expect(() => app.prisma.$jobs.queue("bad-batch", { batchSize: batchSize as number })).toThrow(InvalidOptionsError);
    }
    expect(() => app.prisma.$jobs.queue("bad-batch", { batchSize: 51 })).toThrow(/batchSize/);
  });
});
