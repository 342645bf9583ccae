/**
 * The app's database: a Prisma client with arrower-jobs installed, and the app's one table.
 *
 * In your app, import from "arrower-jobs"; the example imports the library's source so it runs
 * from this repository without a build.
 */
import { PrismaPg } from "@prisma/adapter-pg";
import { jobs, type TransactionClient } from "../../src/index.ts";
import { PrismaClient } from "./generated/prisma/client.ts";

/** Where the tables go. The demo isolates itself in fresh schemas when it shares a database. */
export interface DatabaseOptions {
  /** PostgreSQL schema of the app's tables. Default `public`. */
  appSchema?: string;
  /** PostgreSQL schema of arrower-jobs' tables. Default `arrower`. */
  jobsSchema?: string;
}

/** The app's Prisma client, extended with `jobs()`: `prisma.$jobs` and `tx.$jobs`. */
export function createPrisma(connectionString: string = requireDatabaseUrl(), options: DatabaseOptions = {}) {
  const adapter = new PrismaPg({ connectionString, max: 5 }, options.appSchema ? { schema: identifier(options.appSchema) } : undefined);
  return new PrismaClient({ adapter }).$extends(jobs(options.jobsSchema ? { schema: options.jobsSchema } : {}));
}

/** The extended client's type. */
export type AppPrisma = ReturnType<typeof createPrisma>;
/** What handlers get as `tx`: the extended client's transaction client. */
export type Tx = TransactionClient<AppPrisma>;

// Tells arrower-jobs the client's type, so handlers registered on `prisma.$jobs.queue(...)` get a
// typed `tx` (in your app: `declare module "arrower-jobs"`).
declare module "../../src/index.ts" {
  interface Register {
    client: AppPrisma;
  }
}

/**
 * Creates the app's table if it is missing: the SQL `prisma migrate` would generate from
 * schema.prisma, kept here so the example runs without the migration engine.
 */
export async function ensureTables(prisma: AppPrisma, schema = "public"): Promise<void> {
  const s = `"${identifier(schema)}"`;
  await prisma.$executeRawUnsafe(`CREATE SCHEMA IF NOT EXISTS ${s}`);
  await prisma.$executeRawUnsafe(`
    CREATE TABLE IF NOT EXISTS ${s}."User" (
      "id" SERIAL PRIMARY KEY,
      "email" TEXT NOT NULL UNIQUE,
      "name" TEXT NOT NULL,
      "welcomedAt" TIMESTAMP(3)
    )`);
}

function requireDatabaseUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error("DATABASE_URL is not set: point it at a PostgreSQL database, e.g. postgresql://postgres@localhost:5432/app");
  return url;
}

/** Schema names end up in SQL text: allow plain identifiers only. */
function identifier(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a plain lower-case schema name: ${JSON.stringify(name)}`);
  return name;
}
