/**
 * A test app: a fresh database with the app's tables, a Prisma client extended with jobs(),
 * the library's schema migrated, and a second, independent connection to look from.
 */
import pg from "pg";
import { afterAll, afterEach, beforeAll } from "vitest";
import { createAppClient, createAppTables, createTestDatabase, type TestDatabase } from "./db.ts";
import { jobs, type JobsOptions, type Queue } from "../../src/index.ts";
import { Queries } from "../../src/postgres/queries.ts";

export function extendedClient(url: string, options?: JobsOptions) {
  return createAppClient(url).$extends(jobs(options));
}

export type TestClient = ReturnType<typeof extendedClient>;

export interface TestApp {
  db: TestDatabase;
  url: string;
  prisma: TestClient;
  /** An independent connection: sees only what is committed. */
  observer: pg.Client;
  /** Rows of a query on the observer connection. */
  rows<R = Record<string, unknown>>(sql: string, values?: unknown[]): Promise<R[]>;
  /** Counts rows of a table in the library's schema, e.g. count("jobs"). */
  count(table: string, where?: string, values?: unknown[]): Promise<number>;
  /** Ids of the jobs workers are running now (their rows locked by a transaction in progress). */
  running(): Promise<string[]>;
  close(): Promise<void>;
}

export async function createTestApp(options: { migrate?: boolean; jobs?: JobsOptions } = {}): Promise<TestApp> {
  const db = await createTestDatabase();
  await createAppTables(db.url);
  const prisma = extendedClient(db.url, options.jobs);
  if (options.migrate !== false) await prisma.$jobs.migrate();
  const observer = new pg.Client({ connectionString: db.url });
  await observer.connect();
  const schema = options.jobs?.schema ?? "arrower";
  // One query at a time on the observer: a test's poller left running (waitFor inside a race)
  // may query while the test does, which pg deprecates on one connection.
  let previous: Promise<unknown> = Promise.resolve();
  const rows = <R,>(sql: string, values?: unknown[]): Promise<R[]> => {
    const result = previous.then(() => observer.query(sql, values));
    previous = result.catch(() => undefined);
    return result.then((r) => r.rows as R[]);
  };
  return {
    db,
    url: db.url,
    prisma,
    observer,
    rows,
    async count(table, where, values) {
      const result = await rows<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".${table}${where ? ` WHERE ${where}` : ""}`, values);
      return result[0]!.n;
    },
    async running() {
      return (await rows<{ id: string }>(new Queries(schema).runningJobs)).map((r) => r.id);
    },
    async close() {
      await observer.end().catch(() => undefined);
      await prisma.$disconnect();
      await db.drop();
    },
  };
}

// Handlers in tests get the test app's transaction client as `tx`.
declare module "../../src/index.ts" {
  interface Register {
    client: TestClient;
  }
}

/**
 * Leaves job `id` as a worker that died holding it does: its row locked by a transaction that
 * then aborted. The next claim counts a crashed attempt.
 */
export async function abandonAsCrashed(app: Pick<TestApp, "url">, id: string, schema = "arrower"): Promise<void> {
  const holder = new pg.Client({ connectionString: app.url });
  await holder.connect();
  try {
    await holder.query("BEGIN");
    await holder.query(`SELECT id FROM "${schema}".jobs WHERE id = $1 FOR UPDATE`, [id]);
    await holder.query("ROLLBACK");
  } finally {
    await holder.end();
  }
}

/** Resolves when `predicate` holds, polling every 20 ms; rejects after `timeoutMs`. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs = 20_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The usual frame of a test file's describe block: a test app created before its tests and
 * closed after them, and the queues a test pushes to `queues` shut down after each test.
 *
 * `app` is filled in by the beforeAll, so a describe block can destructure it once
 * (`const { app, queues } = useTestApp()`) and its tests read `app.prisma` as usual.
 */
export function useTestApp(options?: Parameters<typeof createTestApp>[0]): { readonly app: TestApp; readonly queues: Queue[] } {
  const app = {} as TestApp;
  const queues: Queue[] = [];
  beforeAll(async () => {
    Object.assign(app, await createTestApp(options));
  });
  afterEach(async () => {
    await Promise.all(queues.splice(0).map((q) => q.shutdown()));
  });
  afterAll(() => app.close?.());
  return { app, queues };
}
