import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defineJob, MigrationsPendingError } from "../../src/index.ts";
import { latestVersion, loadMigrations } from "../../src/postgres/migrations.ts";
import { Queries } from "../../src/postgres/queries.ts";
import { createTestApp, extendedClient, type TestApp, useTestApp, waitFor } from "../helpers/app.ts";

const Ping = defineJob<{ n: number }>("ping");

describe("migrate", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp({ migrate: false });
  });
  afterAll(() => app.close());

  it("enqueue before migrating says to run migrate, and writes nothing", async () => {
    const error = await app.prisma.$jobs.enqueue(Ping({ n: 1 })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationsPendingError);
    expect((error as MigrationsPendingError).message).toContain("npx arrower-jobs migrate");
    // Inside a transaction the check cannot abort the caller's transaction.
    await app.prisma.$transaction(async (tx) => {
      await expect(tx.$jobs.enqueue(Ping({ n: 1 }))).rejects.toBeInstanceOf(MigrationsPendingError);
      await tx.user.create({ data: { email: "still-works@example.com" } });
    });
    expect(await app.rows(`SELECT 1 FROM "User" WHERE email = 'still-works@example.com'`)).toHaveLength(1);
  });

  it("4 concurrent callers: the schema is created once, no error; again: a no-op", async () => {
    const clients = [1, 2, 3, 4].map(() => extendedClient(app.url));
    try {
      const results = await Promise.all(clients.map((c) => c.$jobs.migrate()));
      expect(results.map((r) => r.applied.length).sort()).toEqual([0, 0, 0, latestVersion()]);
      expect(results.every((r) => r.version === latestVersion())).toBe(true);
      const again = await clients[0]!.$jobs.migrate();
      expect(again).toEqual({ applied: [], version: latestVersion() });
      const versions = await app.rows<{ version: number }>(`SELECT version FROM arrower.migrations ORDER BY version`);
      expect(versions.map((v) => v.version)).toEqual(Array.from({ length: latestVersion() }, (_, i) => i + 1));
    } finally {
      await Promise.all(clients.map((c) => c.$disconnect()));
    }
  });

  it("after migrating, the same client enqueues", async () => {
    expect(await app.prisma.$jobs.enqueue(Ping({ n: 2 }))).toMatch(/^\d+$/);
  });

  it("a custom schema keeps its tables apart", async () => {
    const other = extendedClient(app.url, { schema: "jobs_two" });
    try {
      await other.$jobs.migrate();
      await other.$jobs.enqueue(Ping({ n: 3 }));
      expect(await app.rows(`SELECT count(*)::int AS n FROM jobs_two.jobs`)).toEqual([{ n: 1 }]);
    } finally {
      await other.$disconnect();
    }
  });
});

describe("upgrading a schema with jobs in it", () => {
  const { app, queues } = useTestApp({ migrate: false });

  it("version 2 → 3 keeps live jobs, history and paused queues; names compare byte by byte; a worker runs the old jobs", async () => {
    // Version 2 as an earlier arrower-jobs left it.
    const queries = new Queries("arrower");
    await app.rows(queries.createSchema);
    await app.rows(queries.migrationsTable);
    for (const m of loadMigrations().filter((m) => m.version <= 2)) {
      await app.rows(m.sql.replaceAll(":ARROWER_SCHEMA", `"arrower"`));
    }
    await app.rows(`INSERT INTO arrower.migrations (version) VALUES (1), (2)`);
    await app.rows(`INSERT INTO arrower.jobs (queue, type, payload) VALUES ('Upgrade', 'ping', '{"n": 1}'), ('upgrade', 'ping', '{"n": 2}')`);
    await app.rows(`INSERT INTO arrower.job_history (id, queue, type, payload, priority, run_at, created_at, state, attempts, max_attempts, timeout_ms, last_error)
                    VALUES (nextval('arrower.job_id_seq'), 'Upgrade', 'ping', '{"n": 0}', 0, now(), now(), 'failed', 3, 3, 30000, 'before the upgrade')`);
    await app.rows(`INSERT INTO arrower.queues (name, paused) VALUES ('upgrade', true)`);

    expect(await app.prisma.$jobs.migrate()).toEqual({ applied: [3, 4, 5, 6, 7, 8], version: 8 });

    const collated = await app.rows<{ column: string }>(
      `SELECT table_name || '.' || column_name AS column FROM information_schema.columns
       WHERE table_schema = 'arrower' AND collation_name = 'C' ORDER BY 1`,
    );
    expect(collated.map((c) => c.column)).toEqual([
      "job_history.dedup_key", "job_history.queue", "job_history.state", "job_history.type",
      "jobs.dedup_key", "jobs.group_key", "jobs.lease_owner", "jobs.on_parent_failure", "jobs.queue", "jobs.type",
      "pools.job_types", "pools.name", "pools.queue",
      "queues.name",
      "rate_limits.key",
      "schedules.identity", "schedules.name", "schedules.queue", "schedules.type",
    ]);
    expect(await app.rows(`SELECT queue FROM arrower.jobs ORDER BY queue`)).toEqual([{ queue: "Upgrade" }, { queue: "upgrade" }]);
    const failed = await app.prisma.$jobs.listJobs({ queue: "Upgrade", state: "failed" });
    expect(failed.jobs.map((j) => [j.payload, j.lastError])).toEqual([[{ n: 0 }, "before the upgrade"]]);

    const ran: number[] = [];
    for (const name of ["Upgrade", "upgrade"]) {
      const queue = app.prisma.$jobs.queue(name, { poolSize: 1, pollInterval: 100 });
      queues.push(queue);
      await queue.register(Ping, async (job) => void ran.push(job.n));
      await queue.start();
    }
    await waitFor(async () => ran.length === 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(ran).toEqual([1]); // "upgrade" is still paused, "Upgrade" is another queue
    await app.prisma.$jobs.resume("upgrade");
    // The handler ran; its job's move to history commits just after.
    await waitFor(async () => (await app.count("job_history", "state = 'succeeded'")) === 2);
    expect(await app.rows(`SELECT queue, state FROM arrower.job_history WHERE state = 'succeeded' ORDER BY queue`)).toEqual([
      { queue: "Upgrade", state: "succeeded" },
      { queue: "upgrade", state: "succeeded" },
    ]);
  });

  it("version 3 → 4 keeps every attempt as the job's first run; a failed job retried then shows both runs", async () => {
    await app.rows(`DROP SCHEMA arrower CASCADE`);
    const queries = new Queries("arrower");
    await app.rows(queries.createSchema);
    await app.rows(queries.migrationsTable);
    for (const m of loadMigrations().filter((m) => m.version <= 3)) {
      await app.rows(m.sql.replaceAll(":ARROWER_SCHEMA", `"arrower"`));
    }
    await app.rows(`INSERT INTO arrower.migrations (version) VALUES (1), (2), (3)`);
    const [{ id }] = (await app.rows<{ id: string }>(
      `INSERT INTO arrower.job_history (id, queue, type, payload, priority, run_at, created_at, state, attempts, max_attempts, timeout_ms, last_error, finished_at)
       VALUES (nextval('arrower.job_id_seq'), 'v3', 'ping', '{"n": 7}', 0, now(), now(), 'failed', 2, 2, 30000, 'second failure', now())
       RETURNING id::text AS id`,
    )) as [{ id: string }];
    await app.rows(`INSERT INTO arrower.attempts (job_id, attempt, outcome, error) VALUES ($1, 1, 'failed', 'first failure')`, [id]);

    expect(await app.prisma.$jobs.migrate()).toEqual({ applied: [4, 5, 6, 7, 8], version: 8 });
    expect(await app.rows(`SELECT run, attempt, outcome FROM arrower.attempts`)).toEqual([{ run: 0, attempt: 1, outcome: "failed" }]);

    await app.prisma.$jobs.retry(id);
    const queue = app.prisma.$jobs.queue("v3", { poolSize: 1, pollInterval: 100, autoStartDelay: 0 });
    queues.push(queue);
    await queue.register(Ping, async () => undefined);
    await queue.start();
    await waitFor(async () => (await app.count("job_history", "id = $1 AND state = 'succeeded'", [id])) === 1);
    const job = await app.prisma.$jobs.getJob(id);
    expect(job).toMatchObject({ state: "succeeded", attempts: 1, run: 2 });
    expect(job!.attemptHistory.map((a) => [a.run, a.attempt, a.outcome, a.error])).toEqual([
      [1, 1, "failed", "first failure"],
      [1, 2, "failed", "second failure"],
    ]);
  });

  it("version 4 → 5 adds results: history kept (no result), a worker stores the results of new jobs", async () => {
    await app.rows(`DROP SCHEMA arrower CASCADE`);
    const queries = new Queries("arrower");
    await app.rows(queries.createSchema);
    await app.rows(queries.migrationsTable);
    for (const m of loadMigrations().filter((m) => m.version <= 4)) {
      await app.rows(m.sql.replaceAll(":ARROWER_SCHEMA", `"arrower"`));
    }
    await app.rows(`INSERT INTO arrower.migrations (version) VALUES (1), (2), (3), (4)`);
    const [{ id: old }] = (await app.rows<{ id: string }>(
      `INSERT INTO arrower.job_history (id, queue, type, payload, priority, run_at, created_at, state, attempts, max_attempts, timeout_ms, finished_at)
       VALUES (nextval('arrower.job_id_seq'), 'v4', 'v4-count', '{"n": 1}', 0, now(), now(), 'succeeded', 1, 25, 30000, now())
       RETURNING id::text AS id`,
    )) as [{ id: string }];

    expect(await app.prisma.$jobs.migrate()).toEqual({ applied: [5, 6, 7, 8], version: 8 });
    const Count = defineJob<{ n: number }, { doubled: number }>("v4-count");
    expect(await app.prisma.$jobs.getJob(old)).toMatchObject({ state: "succeeded", payload: { n: 1 }, result: undefined });
    expect(await app.prisma.$jobs.getResult(Count, old)).toBeUndefined();

    const queue = app.prisma.$jobs.queue("v4", { poolSize: 1, pollInterval: 100, autoStartDelay: 0 });
    queues.push(queue);
    await queue.register(Count, async (job) => ({ doubled: job.n * 2 }));
    const id = await app.prisma.$jobs.enqueue(Count({ n: 21 }), { queue: "v4" });
    await queue.start();
    await waitFor(async () => (await app.count("job_history", "id = $1", [id])) === 1);
    expect(await app.prisma.$jobs.getResult(Count, id)).toEqual({ doubled: 42 });
  });

  it("version 5 → 6 adds lease mode and progress: queued jobs run as before, a lease-mode type runs under a lease", async () => {
    await app.rows(`DROP SCHEMA arrower CASCADE`);
    const queries = new Queries("arrower");
    await app.rows(queries.createSchema);
    await app.rows(queries.migrationsTable);
    for (const m of loadMigrations().filter((m) => m.version <= 5)) {
      await app.rows(m.sql.replaceAll(":ARROWER_SCHEMA", `"arrower"`));
    }
    await app.rows(`INSERT INTO arrower.migrations (version) VALUES (1), (2), (3), (4), (5)`);
    const [{ id: queued }] = (await app.rows<{ id: string }>(
      `INSERT INTO arrower.jobs (queue, type, payload) VALUES ('v5', 'v5-long', '{"n": 1}') RETURNING id::text AS id`,
    )) as [{ id: string }];

    expect(await app.prisma.$jobs.migrate()).toEqual({ applied: [6, 7, 8], version: 8 });
    expect(await app.rows(`SELECT lease_owner, leased_at, lease_run_at FROM arrower.jobs WHERE id = $1`, [queued])).toEqual([
      { lease_owner: null, leased_at: null, lease_run_at: null },
    ]);
    const Long = defineJob<{ n: number }, { n: number }>("v5-long", { mode: "lease", leaseTimeout: 5_000 });
    const queue = app.prisma.$jobs.queue("v5", { poolSize: 1, pollInterval: 100, autoStartDelay: 60_000, poolName: "v5-pool" });
    queues.push(queue);
    const seen: unknown[] = [];
    await queue.register(Long, async ({ n }, { jobId, progress }) => {
      await progress({ step: 1 });
      seen.push((await app.prisma.$jobs.getJob(jobId))?.lease?.owner);
      return { n };
    });
    await queue.start();
    await waitFor(async () => (await app.count("job_history", "id = $1", [queued])) === 1);
    expect(seen).toEqual(["v5-pool"]);
    expect(await app.prisma.$jobs.getResult(Long, queued)).toEqual({ n: 1 });
    expect(await app.count("progress")).toBe(0);
  });
});
