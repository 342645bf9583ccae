/**
 * Autovacuum decides what to clean from the table statistics each backend reports, and a
 * backend reports them only while it waits outside a transaction. A busy worker slot goes from
 * one job's COMMIT straight into the next claim's BEGIN; when both travelled in one message, its
 * backend never waited outside a transaction, so autovacuum never learned of the finished jobs'
 * dead rows while the pool stayed busy (seen in the scale benchmark: pg_stat_user_tables showed
 * 0 dead rows in jobs after 500,000 finished jobs).
 */
import { describe, expect, it } from "vitest";
import { defineJob, type Logger } from "../../src/index.ts";
import { createTestApp, useTestApp, waitFor } from "../helpers/app.ts";

const Tick = defineJob<{ n: number }>("tick");

describe("table statistics under sustained load", () => {
  const { app, queues } = useTestApp();

  /** Rows deleted from the jobs table, as reported to the statistics system (what autovacuum reads). */
  async function reportedDeletes(): Promise<number> {
    await app.rows(`SELECT pg_stat_clear_snapshot()`);
    const [row] = await app.rows<{ n: number }>(`SELECT coalesce(n_tup_del, 0)::int AS n FROM pg_stat_user_tables WHERE schemaname = 'arrower' AND relname = 'jobs'`);
    return row?.n ?? 0;
  }

  it.each([1, 10])("a pool that never runs out of work (batchSize %i) reports the jobs it finished while it is still busy", async (batchSize) => {
    const queue = app.prisma.$jobs.queue(`busy-${batchSize}`, { poolSize: 2, batchSize, pollInterval: 1_000, autoStartDelay: 0 });
    queues.push(queue);
    let finished = 0;
    queue.on("succeeded", () => finished++);
    // A backlog far larger than what 3 s of work gets through, so no slot ever finds the queue empty.
    await app.prisma.$jobs.enqueue(Array.from({ length: 20_000 }, (_, n) => Tick({ n })), { queue: `busy-${batchSize}` });
    await queue.register(Tick, async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
    });
    const before = await reportedDeletes();
    await queue.start();
    // PostgreSQL reports a backend's statistics at most once a second: allow a few.
    await waitFor(async () => (await reportedDeletes()) > before, 5_000, "the finished jobs' deletes to be reported").catch(() => undefined);
    const reported = (await reportedDeletes()) - before;
    const left = await app.count("jobs", "queue = $1", [`busy-${batchSize}`]);

    expect(left, "the pool must still be busy when its statistics are looked at").toBeGreaterThan(0);
    expect(finished).toBeGreaterThan(0);
    expect(reported).toBeGreaterThan(0);
  });

  it("a pool says at start when the server runs without autovacuum (this one's CI server does), and what to do", async () => {
    const warnings: string[] = [];
    const logger: Logger = { debug() {}, info() {}, warn: (message) => warnings.push(message), error() {} };
    const own = await createTestApp({ jobs: { logger } });
    try {
      const [setting] = await own.rows<{ on: boolean }>(`SELECT current_setting('autovacuum')::boolean AS on`);
      const queue = own.prisma.$jobs.queue("watched", { poolSize: 1, autoStartDelay: 0 });
      await queue.register(Tick, async () => undefined);
      await queue.start();
      await queue.shutdown();
      const said = warnings.filter((w) => w.startsWith("autovacuum is off"));
      if (setting!.on) expect(said).toEqual([]);
      else expect(said).toEqual([expect.stringContaining("turn autovacuum on, or VACUUM that table regularly")]);
    } finally {
      await own.close();
    }
  });
});
