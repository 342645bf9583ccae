/**
 * Applies the numbered SQL files in migrations/ that the database does not have yet.
 * Idempotent, and safe when several processes run it at once: everything happens in one
 * transaction that first takes a transaction-level advisory lock (it cannot leak behind
 * PgBouncer), so late arrivals wait and then find nothing left to do.
 */
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { MigrationsPendingError, SchemaTooNewError } from "../errors.ts";
import { quoteSchema, type Queries } from "./queries.ts";
import type { Queryable } from "../backend.ts";

/** A `pg` client as the engine's {@link Queryable}. */
export function queryableOf(client: { query(sql: string, values?: unknown[]): Promise<{ rows: unknown[] }> }): Queryable {
  return { query: async <R,>(sql: string, values: readonly unknown[]) => (await client.query(sql, values as unknown[])).rows as R[] };
}

/** A migration file: `000001.sql` → version 1. */
export interface Migration {
  version: number;
  sql: string;
}

// src/postgres/ and dist/postgres/ are both two levels below the package root.
const MIGRATIONS_DIR = fileURLToPath(new URL("../../migrations/", import.meta.url));

let cached: Migration[] | undefined;

/** The migrations shipped with this version of arrower-jobs, in order. */
export function loadMigrations(): Migration[] {
  cached ??= readdirSync(MIGRATIONS_DIR)
    .filter((file) => /^\d{6}\.sql$/.test(file))
    .sort()
    .map((file) => ({ version: Number(file.slice(0, 6)), sql: readFileSync(MIGRATIONS_DIR + file, "utf8") }));
  return cached;
}

/** The schema version this version of arrower-jobs needs. */
export function latestVersion(): number {
  return loadMigrations().at(-1)?.version ?? 0;
}

/** The client a migration runs on: a dedicated connection that can run multi-statement scripts. */
export interface ScriptClient {
  query(sql: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

/** What `migrate` did. */
export interface MigrateResult {
  /** Versions applied by this call (empty when the schema was up to date). */
  applied: number[];
  /** The schema version afterwards. */
  version: number;
}

/** Applies pending migrations on `client` (which must not be inside a transaction). */
export async function migrate(client: ScriptClient, queries: Queries): Promise<MigrateResult> {
  const migrations = loadMigrations();
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [queries.lockMigrate]);
    await client.query(queries.createSchema);
    await client.query(queries.migrationsTable);
    const current = await readVersion(queryableOf(client), queries);
    const latest = latestVersion();
    if (current > latest) throw new SchemaTooNewError(queries.schema, current, latest);
    const applied: number[] = [];
    for (const m of migrations) {
      if (m.version <= current) continue;
      // Simple-protocol query: a migration is a script of several statements.
      await client.query(m.sql.replaceAll(":ARROWER_SCHEMA", quoteSchema(queries.schema)));
      await client.query(queries.recordMigration, [m.version]);
      applied.push(m.version);
    }
    await client.query("COMMIT");
    return { applied, version: Math.max(current, latest) };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

/** The version recorded in the database, 0 when the schema is missing. */
export async function readVersion(db: Queryable, queries: Queries): Promise<number> {
  const [table] = await db.query<{ exists: boolean }>(queries.migrationsTableExists, []);
  if (!table?.exists) return 0;
  const [row] = await db.query<{ version: number }>(queries.schemaVersion, []);
  return Number(row?.version ?? 0);
}

/**
 * Throws unless the database has every migration this code needs. Producers accept a newer
 * schema (migrations are append-only and additive, and a rolling deploy migrates first);
 * workers (`exact`) refuse it, since a newer release may process jobs differently.
 */
export function assertVersion(found: number, schema: string, exact: boolean): void {
  const expected = latestVersion();
  if (found < expected) throw new MigrationsPendingError(schema, found, expected);
  if (exact && found > expected) throw new SchemaTooNewError(schema, found, expected);
}
