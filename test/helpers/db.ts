// Per-test database helpers. The server comes from test/setup/global-setup.ts
// (embedded PostgreSQL, or DATABASE_URL) via inject("adminUrl").
import { randomBytes } from "node:crypto";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { inject } from "vitest";
import { PrismaClient } from "../generated/prisma/client.ts";
// Loads the `ProvidedContext` augmentation (adminUrl, testRunId); erased at runtime.
import type {} from "../setup/global-setup.ts";

export interface TestDatabase {
  /** Connection URL of the new, empty database (same server/credentials as the admin URL). */
  url: string;
  /** Drops the database, terminating any remaining connections. Idempotent. */
  drop(): Promise<void>;
}

/**
 * Creates a fresh, empty database on the test server, named
 * `arrower_t_<run>_<pid>_<random>`. Call `drop()` when done (e.g. in afterAll);
 * leftovers of a run are also dropped by the global teardown when using
 * DATABASE_URL, and vanish with the embedded server otherwise.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject("adminUrl");
  const runId = inject("testRunId") ?? "x";
  const name = `arrower_t_${runId}_${process.pid}_${randomBytes(4).toString("hex")}`;
  // Generated above from [a-z0-9_] only; still quoted as an identifier below.
  if (!/^[a-z0-9_]{1,63}$/.test(name)) throw new Error(`bad test database name: ${name}`);

  await withAdmin(adminUrl, (client) => client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`));

  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  return {
    url: url.toString(),
    drop() {
      dropped ??= withAdmin(adminUrl, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
      }).catch((err: unknown) => {
        dropped = undefined; // allow a retry
        throw err;
      });
      return dropped;
    },
  };
}

/**
 * The test app's own tables, as `prisma migrate` would create them from
 * prisma/schema.prisma (we cannot run the schema engine here). Keep in sync
 * with the schema.
 */
export const APP_TABLES_SQL = `
CREATE TABLE IF NOT EXISTS "User" (
  "id" SERIAL NOT NULL,
  "email" TEXT NOT NULL,
  "welcomedAt" TIMESTAMP(3),
  CONSTRAINT "User_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX IF NOT EXISTS "User_email_key" ON "User"("email");

CREATE TABLE IF NOT EXISTS "SideEffect" (
  "id" TEXT NOT NULL,
  "note" TEXT,
  "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "SideEffect_pkey" PRIMARY KEY ("id")
);
`;

/** Creates the test app's tables (User, SideEffect) in the database at `url`. */
export async function createAppTables(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(APP_TABLES_SQL);
  } finally {
    await client.end();
  }
}

/** A Prisma client for the test app's schema on `url` (pool of at most 5 connections). Call `$disconnect()` when done. */
export function createAppClient(url: string): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: url, max: 5 }) });
}

export type AppClient = PrismaClient;

async function withAdmin<T>(adminUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
