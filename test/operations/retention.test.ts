/**
 * Pruning history: what one batch reads (its plan, measured with EXPLAIN ANALYZE), prunes running
 * at once, and per-queue retention across processes. Batches under load and the pruner's lock are
 * in deploy.test.ts.
 */
import pg from "pg";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { defineJob } from "../../src/index.ts";
import { extendedClient, type TestApp, useTestApp, waitFor } from "../helpers/app.ts";
import { engineOf, type JobsClient } from "../../src/client.ts";
import type { Engine } from "../../src/engine.ts";

const DAY = 86_400_000;
const Task = defineJob<{ n: number }>("task");

interface PlanNode {
  "Node Type": string;
  "Actual Rows": number;
  "Rows Removed by Filter"?: number;
  "Shared Hit Blocks": number;
  "Shared Read Blocks": number;
  Plans?: PlanNode[];
}

function nodes(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(nodes)];
}

/** Inserts `count` finished jobs of `state` in `queue`, finished from `from` to `to` ago (ms). */
async function history(app: TestApp, count: number, state: string, from: number, to: number, queue = "default"): Promise<void> {
  await app.rows(
    `INSERT INTO arrower.job_history (id, queue, type, payload, priority, run_at, created_at, state, attempts, max_attempts, timeout_ms, finished_at)
     SELECT nextval('arrower.job_id_seq'), $4, 'task', '{"n": 1}', 0, now(), now(), $2, 1, 25, 30000,
            now() - ($3::float8 + (g::float8 / $1) * ($5::float8 - $3::float8)) * interval '1 millisecond'
     FROM generate_series(1, $1::int) g`,
    [count, state, from, queue, to],
  );
}

describe("a prune batch", () => {
  const { app } = useTestApp();
  let engine: Engine;
  beforeAll(() => {
    engine = engineOf(app.prisma.$jobs as unknown as JobsClient<unknown>);
  });

  /** Runs one batch under EXPLAIN ANALYZE and rolls it back. */
  async function explain(sql: string, values: unknown[]): Promise<PlanNode> {
    await app.observer.query("BEGIN");
    try {
      const { rows } = await app.observer.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql}`, values);
      return rows[0]!["QUERY PLAN"][0].Plan;
    } finally {
      await app.observer.query("ROLLBACK");
    }
  }

  it("reads only the rows it deletes: not the failed jobs kept longer, not the recent ones past the cutoff", async () => {
    // Failed jobs are kept 30 days: 20,000 of them between 8 and 29 days old sit among the
    // succeeded jobs to prune (8 to 9 days old), and 200 recent ones after them.
    await history(app, 20_000, "failed", 8 * DAY, 29 * DAY);
    await history(app, 2_000, "succeeded", 8 * DAY, 9 * DAY);
    await history(app, 200, "succeeded", 60_000, 1_800_000);
    await app.rows(`ANALYZE arrower.job_history`);

    // What finds the batch's rows: the scan under the Limit (the rest locks and deletes them).
    const read = (plan: PlanNode) => {
      const limit = nodes(plan).find((n) => n["Node Type"] === "Limit")!;
      const scan = nodes(limit).find((n) => n["Node Type"].endsWith("Scan"))!;
      return {
        rows: limit["Actual Rows"],
        discarded: nodes(limit).reduce((sum, c) => sum + (c["Rows Removed by Filter"] ?? 0), 0),
        blocks: scan["Shared Hit Blocks"] + scan["Shared Read Blocks"],
      };
    };

    // A batch of 500 succeeded jobs. (Measured: 16 blocks, nothing discarded. With the index led
    // by finished_at, depending on the statistics, it walked that index past the failed jobs,
    // 19,286 discarded in 945 blocks, or read and sorted every succeeded job, the recent ones too.)
    const batch = read(await explain(engine.queries.prune, ["succeeded", 7 * DAY, null, [], 500]));
    expect(batch.rows).toBe(500);
    expect(batch.discarded).toBe(0);
    expect(batch.blocks).toBeLessThan(60);

    // The last batch of a state, which finds nothing: it stops at the cutoff. (Measured: 2
    // blocks. With a clock_timestamp() bound, which is no index condition, the scan did not stop
    // there: it read all 22,200 rows in 2,406 blocks, or all 20,000 failed jobs with the new index.)
    const last = read(await explain(engine.queries.prune, ["failed", 30 * DAY, null, [], 500]));
    expect(last).toEqual({ rows: 0, discarded: 0, blocks: last.blocks });
    expect(last.blocks).toBeLessThan(10);

    // The overview's last hour, which used the old finished_at index, still reads a short range.
    // (Measured: 15 blocks, three ranges; without its state condition, the whole index.)
    const overview = nodes(await explain(engine.queries.uiThroughput, []));
    const scan = overview.find((n) => /Scan/.test(n["Node Type"]))!;
    expect(scan["Actual Rows"]).toBe(200);
    expect(scan["Shared Hit Blocks"] + scan["Shared Read Blocks"]).toBeLessThan(40);

    // And the prune itself: the old succeeded jobs go, the rest stays.
    expect(await app.prisma.$jobs.prune({ batchSize: 500 })).toEqual({ succeeded: 2_000, failed: 0, cancelled: 0 });
    expect(await app.count("job_history", "state = 'failed'")).toBe(20_000);
    expect(await app.count("job_history", "state = 'succeeded'")).toBe(200);
  });
});

describe("two prunes at once", () => {
  const { app } = useTestApp();

  it("a prune skips the rows another one is deleting, without waiting for it, and takes all the rest", async () => {
    await history(app, 1_000, "succeeded", 8 * DAY, 9 * DAY);
    // Another prune's batch in flight: the 10 oldest rows, locked and being deleted.
    const other = new pg.Client({ connectionString: app.url });
    await other.connect();
    try {
      await other.query("BEGIN");
      await other.query(`SELECT id FROM arrower.job_history ORDER BY finished_at LIMIT 10 FOR UPDATE`);
      const pruning = app.prisma.$jobs.prune({ batchSize: 100 });
      // Before, its first batch waited on those rows until the other transaction ended.
      const outcome = await Promise.race([pruning, new Promise((resolve) => setTimeout(() => resolve("still waiting"), 5_000))]);
      if (outcome === "still waiting") await other.query("ROLLBACK").then(() => pruning);
      expect(outcome).toEqual({ succeeded: 990, failed: 0, cancelled: 0 });
      await other.query(`DELETE FROM arrower.job_history WHERE id IN (SELECT id FROM arrower.job_history ORDER BY finished_at LIMIT 10)`);
      await other.query("COMMIT");
      expect(await app.count("job_history")).toBe(0);
    } finally {
      await other.end();
    }
  });

  it("delete every old row between them, each counted once: one queue's alongside all queues' (prune --queue during a worker's round)", async () => {
    // 6,000 old jobs of two queues, interleaved by age: the two prunes' batches overlap.
    await history(app, 3_000, "succeeded", 8 * DAY, 8 * DAY + 3 * 3_600_000, "mail");
    await history(app, 3_000, "succeeded", 8 * DAY + 1_000, 8 * DAY + 3 * 3_600_000 + 1_000, "default");
    // Before batches skipped each other's rows, each waited on rows the other was deleting, found
    // them gone, took its short batch for the end and stopped: 5,700 of the 6,000 were left.
    const [mail, all] = await Promise.all([app.prisma.$jobs.prune({ queue: "mail", batchSize: 100 }), app.prisma.$jobs.prune({ batchSize: 150 })]);
    expect(await app.count("job_history")).toBe(0);
    expect(mail.succeeded + all.succeeded).toBe(6_000);
    // Both did part of it (they ran at the same time), the queue's prune only its queue.
    expect(mail.succeeded).toBeGreaterThan(0);
    expect(mail.succeeded).toBeLessThanOrEqual(3_000);
    expect(all.succeeded).toBeGreaterThan(0);
  });
});

describe("per-queue retention", () => {
  const { app } = useTestApp();

  const stored = async (queue: string) =>
    (await app.rows<{ s: string | null; f: string | null }>(`SELECT retention_succeeded_ms::text AS s, retention_failed_ms::text AS f FROM arrower.queues WHERE name = $1`, [queue]))[0];

  it("is applied by another process's round, one that runs no pool of that queue", async () => {
    // Process A declares 30 days for "audit", then stops (another deployment, or one that does
    // not win the lock: its rounds do not count here).
    const audit = app.prisma.$jobs.queue("audit", { poolSize: 1, retention: { succeeded: 30 * DAY } });
    await audit.register(Task, async () => undefined);
    await audit.start();
    await waitFor(async () => (await stored("audit"))?.s === String(30 * DAY), 10_000, "the retention to be stored");
    await audit.shutdown();
    expect(await stored("audit")).toEqual({ s: String(30 * DAY), f: null });

    await history(app, 1_000, "succeeded", 8 * DAY, 9 * DAY, "audit");
    await history(app, 100, "succeeded", 31 * DAY, 32 * DAY, "audit");
    await history(app, 1_000, "succeeded", 8 * DAY, 9 * DAY, "default");

    // Process B runs only a "default" pool; its first round at once (the first delay is random).
    const b = extendedClient(app.url);
    try {
      const queue = b.$jobs.queue("default", { poolSize: 1 });
      await queue.register(Task, async () => undefined);
      const random = vi.spyOn(Math, "random").mockReturnValue(0);
      await queue.start().finally(() => random.mockRestore());
      // The round prunes the queues with a retention of their own first, then the others.
      await waitFor(async () => (await app.count("job_history", "queue = 'default'")) === 0, 20_000, "process B's round");
      await queue.shutdown();
    } finally {
      await b.$disconnect();
    }
    // B's pool declared no retention for a queue that never had one: no row.
    expect(await stored("default")).toBeUndefined();
    // Before, B pruned "audit" by the default 7 days: all 1,100 rows went.
    expect(await app.count("job_history", "queue = 'audit' AND finished_at > now() - interval '30 days'")).toBe(1_000);
    expect(await app.count("job_history", "queue = 'audit'")).toBe(1_000);
  });

  it("a pool without retention puts its queue back on the defaults; a manual prune applies what is stored", async () => {
    const first = app.prisma.$jobs.queue("reports", { poolSize: 1, retention: { succeeded: DAY, failed: 2 * DAY } });
    await first.register(Task, async () => undefined);
    await first.start();
    await waitFor(async () => (await stored("reports"))?.s === String(DAY), 10_000, "the retention to be stored");
    await first.shutdown();
    await history(app, 10, "succeeded", 1.5 * DAY, 1.6 * DAY, "reports");
    await history(app, 10, "failed", 3 * DAY, 3.1 * DAY, "reports");
    await history(app, 10, "succeeded", 1.5 * DAY, 1.6 * DAY, "other");
    // No pool of "reports" runs here, and no age is given: 1 and 2 days for "reports".
    expect(await app.prisma.$jobs.prune()).toEqual({ succeeded: 10, failed: 10, cancelled: 0 });
    expect(await app.count("job_history", "queue = 'other'")).toBe(10);

    const second = app.prisma.$jobs.queue("reports", { poolSize: 1 });
    await second.register(Task, async () => undefined);
    await second.start();
    await waitFor(async () => (await stored("reports"))?.s === null, 10_000, "the retention to be reset");
    await second.shutdown();
    expect(await stored("reports")).toEqual({ s: null, f: null });
  });
});

describe("retention: { succeeded: 0 }", () => {
  const { app } = useTestApp();

  for (const batchSize of [1, 10]) {
    it(`keeps no succeeded job (batchSize ${batchSize}): their writes commit, events report them, failures and retries are kept as usual`, async () => {
      const name = `discard-${batchSize}`;
      const Write = defineJob<{ n: number }>(`write-${batchSize}`);
      const queue = app.prisma.$jobs.queue(name, { poolSize: 2, batchSize, autoStartDelay: 0, retention: { succeeded: 0 }, backoff: { baseDelay: 10, maxDelay: 10 } });
      const succeeded: string[] = [];
      queue.on("succeeded", ({ jobId }) => succeeded.push(jobId));
      // Every 5th job fails for good; every 5th + 1 fails once, then succeeds.
      const ids = await queue.enqueue(Array.from({ length: 40 }, (_, n) => Write({ n })), { maxAttempts: 2 });
      await queue.register(Write, async (job, { tx, jobId, attempt }) => {
        await tx.sideEffect.create({ data: { id: `${jobId}:${attempt}` } });
        if (job.n % 5 === 0 || (job.n % 5 === 1 && attempt === 1)) throw new Error(`no ${job.n}`);
      });
      await waitFor(async () => succeeded.length === 32 && (await app.count("jobs", "queue = $1", [name])) === 0, 20_000, "every job to end");
      await queue.shutdown();

      const failed = ids.filter((_, n) => n % 5 === 0);
      expect(new Set(succeeded)).toEqual(new Set(ids.filter((_, n) => n % 5 !== 0)));
      // History holds the failed jobs only, each with its attempts.
      expect(await app.rows(`SELECT h.id::text AS id, h.state, h.attempts FROM arrower.job_history h WHERE h.queue = $1 ORDER BY h.id`, [name])).toEqual(
        failed.map((id) => ({ id, state: "failed", attempts: 2 })),
      );
      // A retried attempt is recorded in attempts (the last one's error is the history row's);
      // a job that succeeded after a failure is discarded with its attempts, which nothing
      // would ever prune.
      expect(await app.count("attempts", "job_id = ANY($1::bigint[])", [failed])).toBe(8);
      expect(await app.count("attempts", "job_id = ANY($1::bigint[])", [ids.filter((_, n) => n % 5 !== 0)])).toBe(0);
      // Writes: a succeeded job's commit, a failed attempt's rolled back.
      const written = await app.rows<{ id: string }>(`SELECT id FROM "SideEffect" WHERE id = ANY($1::text[])`, [
        ids.flatMap((id) => [`${id}:1`, `${id}:2`]),
      ]);
      expect(new Set(written.map((r) => r.id))).toEqual(new Set(ids.flatMap((id, n) => (n % 5 === 0 ? [] : n % 5 === 1 ? [`${id}:2`] : [`${id}:1`]))));
      // The admin API finds a discarded job no more than a pruned one.
      expect(await app.prisma.$jobs.getJob(ids[2]!)).toBeNull();
    });
  }
});
