/**
 * A PgBouncer of a test's own, in front of the test server: started from the `pgbouncer`
 * binary (Debian package `pgbouncer`) on a free loopback port, with a config written to a
 * temporary directory. Tests that need one skip when the binary is missing.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

/** The `pgbouncer` binary and its version, or null when it is not installed. */
export function findPgBouncer(): { path: string; version: string } | null {
  for (const path of ["pgbouncer", "/usr/sbin/pgbouncer", "/usr/local/bin/pgbouncer"]) {
    try {
      const out = execFileSync(path, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
      const version = /PgBouncer (\d+\.\d+(?:\.\d+)?)/.exec(out)?.[1];
      if (version) return { path, version };
    } catch {
      // not there: try the next
    }
  }
  return null;
}

/** Whether this PgBouncer knows `max_prepared_statements` (1.21 and later). */
export function supportsPreparedStatements(version: string): boolean {
  const [major = 0, minor = 0] = version.split(".").map(Number);
  return major > 1 || (major === 1 && minor >= 21);
}

export interface PgBouncer {
  /** `url` with the host and port replaced by PgBouncer's. */
  through(url: string): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts PgBouncer in front of the server of `serverUrl` (any database, as its user).
 * `poolSize` server connections per database: small, so that clients share them.
 */
export async function startPgBouncer(
  binary: string,
  serverUrl: string,
  options: { poolMode?: "transaction" | "session"; poolSize?: number; maxPreparedStatements?: number } = {},
): Promise<PgBouncer> {
  const server = new URL(serverUrl);
  const user = decodeURIComponent(server.username || "postgres");
  const password = decodeURIComponent(server.password);
  const dir = await mkdtemp(join(tmpdir(), "arrower-pgbouncer-"));
  // PgBouncer refuses to run as root: as root, it drops to "nobody", who must read the config.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) await chmod(dir, 0o755);
  const port = await freePort();
  const serverConn = [`host=${server.hostname}`, `port=${server.port || 5432}`, `user=${user}`, ...(password ? [`password=${password}`] : [])].join(" ");
  const settings = [
    "[databases]",
    `* = ${serverConn}`,
    "[pgbouncer]",
    "listen_addr = 127.0.0.1",
    `listen_port = ${port}`,
    "unix_socket_dir =",
    "auth_type = trust",
    `auth_file = ${join(dir, "userlist.txt")}`,
    `pool_mode = ${options.poolMode ?? "transaction"}`,
    `default_pool_size = ${options.poolSize ?? 2}`,
    "max_client_conn = 200",
    "ignore_startup_parameters = extra_float_digits,options",
    "server_reset_query =",
    ...(options.maxPreparedStatements !== undefined ? [`max_prepared_statements = ${options.maxPreparedStatements}`] : []),
  ];
  await writeFile(join(dir, "userlist.txt"), `"${user}" ""\n`);
  await writeFile(join(dir, "pgbouncer.ini"), settings.join("\n") + "\n");
  if (asRoot) {
    await chmod(join(dir, "userlist.txt"), 0o644);
    await chmod(join(dir, "pgbouncer.ini"), 0o644);
  }
  const child: ChildProcess = spawn(binary, [...(asRoot ? ["-u", "nobody"] : []), join(dir, "pgbouncer.ini")], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const through = (url: string) => {
    const u = new URL(url);
    u.hostname = "127.0.0.1";
    u.port = String(port);
    u.password = "";
    return u.toString();
  };
  // Ready when it answers a query.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pgbouncer exited with ${child.exitCode}: ${stderr}`);
    const probe = new pg.Client({ connectionString: through(serverUrl) });
    probe.on("error", () => undefined);
    try {
      await probe.connect();
      await probe.query("SELECT 1");
      await probe.end();
      break;
    } catch (error) {
      await probe.end().catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`pgbouncer did not answer on port ${port}: ${(error as Error).message}; ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    through,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
