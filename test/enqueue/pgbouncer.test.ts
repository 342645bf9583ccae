/**
 * Enqueueing through PgBouncer, a real one (Debian package `pgbouncer`) in front of the test
 * server, with few server connections so that concurrent callers share them: what breaks named
 * prepared statements in transaction mode. Skipped when the binary is missing (CI installs it).
 */
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { defineJob, jobs, type JobsOptions, type Logger } from "../../src/index.ts";
import { PrismaClient } from "../generated/prisma/client.ts";
import { createAppTables, createTestDatabase, type TestDatabase } from "../helpers/db.ts";
import { findPgBouncer, startPgBouncer, supportsPreparedStatements, type PgBouncer } from "../helpers/pgbouncer.ts";

const Ping = defineJob<{ caller: number; i: number }>("ping");
const bouncer = findPgBouncer();
const CALLERS = 8;
const ROUNDS = 15;

if (!bouncer) {
  console.warn("test/enqueue/pgbouncer.test.ts: skipped, no `pgbouncer` binary (apt-get install pgbouncer)");
}

it.runIf(!bouncer && process.env.CI)("CI has the pgbouncer binary (.ci/run installs the Debian package)", () => {
  expect(bouncer, "pgbouncer not found on PATH or in /usr/sbin").not.toBeNull();
});

/** A client of the app through `url`, its adapter configured (`config`) or given a pg.Pool (`pool`). */
function clientThrough(url: string, kind: "config" | "pool", options: JobsOptions) {
  const pool = kind === "pool" ? new pg.Pool({ connectionString: url, max: 5 }) : undefined;
  const adapter = pool ? new PrismaPg(pool) : new PrismaPg({ connectionString: url, max: 5 });
  const prisma = new PrismaClient({ adapter }).$extends(jobs(options));
  return {
    prisma,
    async close() {
      await prisma.$disconnect();
      await pool?.end();
    },
  };
}

function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, debug() {}, info() {}, warn: (message) => warnings.push(message), error() {} };
}

describe.skipIf(!bouncer)(`enqueue through PgBouncer ${bouncer?.version ?? ""}`, () => {
  let db: TestDatabase;
  const bouncers: PgBouncer[] = [];
  let transactionMode: PgBouncer;

  beforeAll(async () => {
    db = await createTestDatabase();
    await createAppTables(db.url);
    const direct = new PrismaClient({ adapter: new PrismaPg({ connectionString: db.url }) }).$extends(jobs());
    await direct.$jobs.migrate();
    await direct.$disconnect();
    transactionMode = await startPgBouncer(bouncer!.path, inject("adminUrl"), { poolMode: "transaction", poolSize: 2 });
    bouncers.push(transactionMode);
  });
  afterAll(async () => {
    await Promise.all(bouncers.map((b) => b.stop()));
    await db?.drop();
  });

  const count = async (queue: string): Promise<number> => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      return (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM arrower.jobs WHERE queue = $1`, [queue])).rows[0]!.n;
    } finally {
      await client.end();
    }
  };

  /**
   * CALLERS concurrent callers, ROUNDS each: a single job, a batch of 3, and a job with a dedup
   * key, outside a transaction (the adapter's pool). Returns the errors, by message.
   */
  async function enqueueConcurrently(prisma: ReturnType<typeof clientThrough>["prisma"], queue: string): Promise<string[]> {
    const errors: string[] = [];
    await Promise.all(
      Array.from({ length: CALLERS }, async (_, caller) => {
        for (let i = 0; i < ROUNDS; i++) {
          await Promise.resolve()
            .then(async () => {
              await prisma.$jobs.enqueue(Ping({ caller, i }), { queue });
              await prisma.$jobs.enqueue([Ping({ caller, i }), Ping({ caller, i }), Ping({ caller, i })], { queue });
              await prisma.$jobs.enqueue(Ping({ caller, i }), { queue, dedupKey: `${caller}:${i}` });
            })
            .catch((error: unknown) => errors.push(`${(error as { code?: string }).code}: ${(error as Error).message.split("\n")[0]}`));
        }
      }),
    );
    return errors;
  }

  for (const kind of ["config", "pool"] as const) {
    it(`transaction mode (${kind}): direct enqueues from ${CALLERS} concurrent callers all succeed; named statements give way to unnamed ones once, with a warning`, async () => {
      const logger = recordingLogger();
      const { prisma, close } = clientThrough(transactionMode.through(db.url), kind, { logger });
      const errors = await enqueueConcurrently(prisma, `tx-mode-${kind}`);
      await close();
      // Before: ~90 % failed with 42P05 "prepared statement arrower_… already exists" (or 26000 "does not exist").
      expect(errors).toEqual([]);
      expect(await count(`tx-mode-${kind}`)).toBe(CALLERS * ROUNDS * 5);
      expect(logger.warnings).toHaveLength(1);
      expect(logger.warnings[0]).toMatch(/^a named prepared statement failed on the Prisma client's pool \((42P05|26000): .*\): enqueue outside a transaction now uses unnamed statements \(PgBouncer in transaction mode\? set jobs\(\{ preparedStatements: false \}\) to start with them\)$/);
    });
  }

  it("transaction mode with preparedStatements: false: unnamed from the start, no warning", async () => {
    const logger = recordingLogger();
    const { prisma, close } = clientThrough(transactionMode.through(db.url), "config", { logger, preparedStatements: false });
    const errors = await enqueueConcurrently(prisma, "tx-mode-unnamed");
    await close();
    expect(errors).toEqual([]);
    expect(await count("tx-mode-unnamed")).toBe(CALLERS * ROUNDS * 5);
    expect(logger.warnings).toEqual([]);
  });

  it("transaction mode: enqueues in transactions (Prisma's unnamed statements) commit or roll back with them", async () => {
    const { prisma, close } = clientThrough(transactionMode.through(db.url), "config", { logger: recordingLogger() });
    await Promise.all(
      Array.from({ length: CALLERS }, async (_, caller) => {
        for (let i = 0; i < ROUNDS; i++) {
          const rollBack = i % 3 === 0;
          await prisma
            .$transaction(async (tx) => {
              await tx.$jobs.enqueue([Ping({ caller, i }), Ping({ caller, i })], { queue: "tx-mode-in-tx" });
              if (rollBack) throw new Error("rolled back");
            })
            .catch((error: unknown) => {
              if (!rollBack) throw error;
            });
        }
      }),
    );
    await close();
    expect(await count("tx-mode-in-tx")).toBe(CALLERS * ROUNDS * 2 * (2 / 3));
  });

  it("session mode: named statements work as on PostgreSQL itself (no warning)", async () => {
    const session = await startPgBouncer(bouncer!.path, inject("adminUrl"), { poolMode: "session", poolSize: 5 });
    bouncers.push(session);
    const logger = recordingLogger();
    const { prisma, close } = clientThrough(session.through(db.url), "config", { logger });
    const errors = await enqueueConcurrently(prisma, "session-mode");
    await close();
    expect(errors).toEqual([]);
    expect(await count("session-mode")).toBe(CALLERS * ROUNDS * 5);
    expect(logger.warnings).toEqual([]);
  });

  it.runIf(bouncer && supportsPreparedStatements(bouncer.version))(
    "transaction mode with max_prepared_statements (PgBouncer 1.21+): named statements work, no warning",
    async () => {
      const tracking = await startPgBouncer(bouncer!.path, inject("adminUrl"), { poolMode: "transaction", poolSize: 2, maxPreparedStatements: 100 });
      bouncers.push(tracking);
      const logger = recordingLogger();
      const { prisma, close } = clientThrough(tracking.through(db.url), "config", { logger });
      const errors = await enqueueConcurrently(prisma, "tx-mode-tracked");
      await close();
      expect(errors).toEqual([]);
      expect(logger.warnings).toEqual([]);
    },
  );
});
