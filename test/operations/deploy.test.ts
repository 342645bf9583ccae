import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defineJob, SchemaTooNewError } from "../../src/index.ts";
import { createTestApp, extendedClient, waitFor, type TestApp } from "../helpers/app.ts";
import { createAppClient } from "../helpers/db.ts";
import { latestVersion } from "../../src/postgres/migrations.ts";
import { engineOf, type JobsClient } from "../../src/client.ts";

const Task = defineJob<{ n: number }>("task");

describe("deploy safety", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp();
  });
  afterAll(() => app.close());

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

  it("prune runs in batches while a worker keeps processing", async () => {
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
      await app.rows(`
        INSERT INTO arrower.job_history (id, queue, type, payload, priority, run_at, created_at, state, attempts, max_attempts, timeout_ms, finished_at)
        SELECT nextval('arrower.job_id_seq'), 'default', 'task', '{"n": 1}', 0, now(), now(), 'succeeded', 1, 25, 30000, now() - interval '8 days'
        FROM generate_series(1, 20000)`);
      const queue = app.prisma.$jobs.queue("default", { poolSize: 2, pollInterval: 100 });
      let done = 0;
      await queue.register(Task, async () => {
        done++;
      });
      await queue.start();
      await queue.enqueue(Array.from({ length: 300 }, (_, n) => Task({ n })));
      const pruned = app.prisma.$jobs.prune({ batchSize: 500 });
      // The handler counts before its job commits: wait for the history rows themselves.
      await waitFor(async () => done === 300 && (await app.count("job_history", "finished_at > now() - interval '1 day'")) === 300, 30_000);
      expect(await pruned).toEqual({ succeeded: 20_000, failed: 0, cancelled: 0 });
      expect(await app.count("job_history", "finished_at < now() - interval '7 days'")).toBe(0);
      expect(await app.count("job_history")).toBe(300);
      await queue.shutdown();
    } finally {
      await lockHolder.end();
      await app.close();
    }
  });
});
