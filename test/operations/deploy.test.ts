import pg from "pg";
import { describe, expect, it } from "vitest";
import { defineJob, SchemaTooNewError } from "../../src/index.ts";
import { createTestApp, extendedClient, useTestApp, waitFor } from "../helpers/app.ts";
import { createAppClient } from "../helpers/db.ts";
import { latestVersion } from "../../src/postgres/migrations.ts";
import { engineOf, type JobsClient } from "../../src/client.ts";

const Task = defineJob<{ n: number }>("task");

describe("deploy safety", () => {
  const { app } = useTestApp();

  it("a worker refuses a schema newer than it knows, naming both versions; producers keep enqueueing", async () => {
    const future = latestVersion() + 1;
    await app.rows(`INSERT INTO arrower.migrations (version) VALUES ($1)`, [future]);
    try {
      const queue = app.prisma.$jobs.queue("deploy", { poolSize: 1 });
      await queue.register(Task, async () => undefined);
      const error = await queue.start().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SchemaTooNewError);
      expect((error as Error).message).toBe(
        `arrower-jobs schema "arrower" is at version ${future}, newer than the ${latestVersion()} this version knows: upgrade arrower-jobs in this process`,
      );
      // A fresh client (no cached check) still enqueues: migrations are additive.
      const producer = extendedClient(app.url);
      await expect(producer.$jobs.enqueue(Task({ n: 1 }))).resolves.toMatch(/^\d+$/);
      await producer.$disconnect();
      await queue.shutdown();
    } finally {
      await app.rows(`DELETE FROM arrower.migrations WHERE version = $1`, [future]);
    }
  });
});

describe("enqueue-only processes", () => {
  it("importing, extending and enqueueing start no timer, LISTEN or connection of arrower-jobs' own", async () => {
    const app = await createTestApp();
    try {
      // Prisma's own pool keeps idle timers: compare with a plain client doing the same work.
      const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
      const plain = createAppClient(app.url);
      const plainBefore = timers();
      await plain.$executeRawUnsafe(`SELECT 1`);
      await plain.$transaction(async (tx) => tx.$executeRawUnsafe(`SELECT 1`));
      const plainAdded = timers() - plainBefore;
      await plain.$disconnect();

      const producer = extendedClient(app.url);
      const before = timers();
      await producer.$jobs.enqueue(Task({ n: 1 }));
      await producer.$transaction(async (tx) => tx.$jobs.enqueue(Task({ n: 2 })));
      expect(timers() - before).toBe(plainAdded);
      const sessions = await app.rows<{ application_name: string; n: number }>(
        `SELECT application_name, count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() GROUP BY 1`,
      );
      expect(sessions.find((s) => s.application_name === "arrower-jobs")).toBeUndefined();
      const listeners = await app.rows(`SELECT pg_listening_channels()`);
      expect(listeners).toEqual([]);
      await producer.$disconnect();
    } finally {
      await app.close();
    }
  });
});

describe("retention", () => {
  it("the pruner's lock-holding transaction, idle for the whole round, holds no snapshot (vacuum and index cleanup go on)", async () => {
    const app = await createTestApp();
    try {
      const engine = engineOf(app.prisma.$jobs as unknown as JobsClient<unknown>);
      const session = await engine.transaction(async (client) => {
        const { pid } = (await client.query<{ pid: number }>(`SELECT pg_backend_pid() AS pid`)).rows[0]!;
        expect((await client.query(engine.queries.pruneLock)).rows).toEqual([{ locked: true }]);
        // What the batches on other connections see meanwhile: a parameterised lock statement
        // left its portal's snapshot open here, and backend_xmin set.
        return (await app.rows(`SELECT state, backend_xmin::text AS xmin FROM pg_stat_activity WHERE pid = $1`, [pid]))[0];
      });
      expect(session).toEqual({ state: "idle in transaction", xmin: null });
    } finally {
      await app.close();
    }
  });

  it("prune deletes 25,000 rows in transactions of at most batchSize rows while a worker keeps committing jobs", async () => {
    const app = await createTestApp();
    // The pool runs the background pruner too (first round at a random moment in its first
    // minute), which would delete some of these rows before the prune under test does, and
    // change its counts. Hold the pruner's lock, as another process's round would: the pool's
    // rounds skip, and the only prune is this test's.
    const engine = engineOf(app.prisma.$jobs as unknown as JobsClient<unknown>);
    const lockHolder = new pg.Client({ connectionString: app.url });
    await lockHolder.connect();
    try {
      await lockHolder.query("BEGIN");
      expect((await lockHolder.query(engine.queries.pruneLock)).rows).toEqual([{ locked: true }]);
      // Every DELETE on history logs its transaction, its row count and when it ended.
      await app.rows(`CREATE TABLE prune_log (xid bigint NOT NULL, n int NOT NULL, at timestamptz NOT NULL)`);
      await app.rows(`CREATE FUNCTION log_prune() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO prune_log SELECT txid_current(), count(*), clock_timestamp() FROM gone; RETURN NULL; END $$`);
      await app.rows(`CREATE TRIGGER log_prune AFTER DELETE ON arrower.job_history REFERENCING OLD TABLE AS gone
        FOR EACH STATEMENT EXECUTE FUNCTION log_prune()`);
      await app.rows(`
        INSERT INTO arrower.job_history (id, queue, type, payload, priority, run_at, created_at, state, attempts, max_attempts, timeout_ms, finished_at)
        SELECT nextval('arrower.job_id_seq'), 'default', 'task', '{"n": 1}', 0, now(), now(), 'succeeded', 1, 25, 30000, now() - interval '8 days'
        FROM generate_series(1, 25000)`);

      // Two chains of jobs, each enqueueing its successor in its own transaction until the
      // prune is over: the worker has work for the whole prune, whatever the machine's speed.
      const queue = app.prisma.$jobs.queue("default", { poolSize: 2, pollInterval: 100 });
      let pruning = true;
      let succeeded = 0;
      queue.on("succeeded", () => succeeded++);
      await queue.register(Task, async (job, { tx }) => {
        if (pruning) await tx.$jobs.enqueue(Task({ n: job.n + 1 }));
      });
      await queue.start();
      await queue.enqueue([Task({ n: 0 }), Task({ n: 0 })]);
      await waitFor(() => succeeded >= 20, 10_000, "the chains to run");
      const result = await app.prisma.$jobs.prune({ batchSize: 500 });
      pruning = false;
      expect(result).toEqual({ succeeded: 25_000, failed: 0, cancelled: 0 });
      await waitFor(async () => (await app.count("jobs")) === 0 && (await app.count("job_history")) === succeeded, 10_000, "the chains to end");

      // 50 statements, each its own transaction of at most 500 rows (plus the empty one that
      // finds nothing left).
      const batches = await app.rows<{ xid: string; n: number; at: Date }>(`SELECT xid::text AS xid, n, at FROM prune_log WHERE n > 0 ORDER BY at`);
      expect(batches.map((b) => b.n)).toEqual(new Array(50).fill(500));
      expect(new Set(batches.map((b) => b.xid)).size).toBe(50);
      // Jobs committed between the batches: pruning did not hold the worker up.
      const between = await app.rows<{ jobs: number; gaps: number }>(
        `WITH b AS (SELECT at, lead(at) OVER (ORDER BY at) AS next FROM prune_log WHERE n > 0)
         SELECT (SELECT count(*)::int FROM arrower.job_history h WHERE h.finished_at > (SELECT min(at) FROM b) AND h.finished_at < (SELECT max(at) FROM b)) AS jobs,
                (SELECT count(*)::int FROM b WHERE next IS NOT NULL AND EXISTS (
                   SELECT 1 FROM arrower.job_history h WHERE h.finished_at > b.at AND h.finished_at < b.next)) AS gaps`,
      );
      // (Measured: 78 to 108 jobs, in 45 or 46 of the 49 gaps.)
      expect(between[0]!.jobs).toBeGreaterThan(0);
      expect(between[0]!.gaps, `jobs committed in ${between[0]!.gaps} of the 49 gaps between batches`).toBeGreaterThanOrEqual(25);
      // End state: old history gone, the chains' jobs all there.
      expect(await app.count("job_history", "finished_at < now() - interval '7 days'")).toBe(0);
      expect(await app.count("job_history", "state = 'succeeded' AND finished_at > now() - interval '1 day'")).toBe(succeeded);
      await queue.shutdown();
    } finally {
      await lockHolder.end();
      await app.close();
    }
  });
});
