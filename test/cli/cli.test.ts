/**
 * The CLI end to end: `src/cli/main.ts` in a child process against this file's database, with a
 * config file written into a temp dir (as a user's would be, outside the package).
 *
 * The child is `node --import tsx src/cli/main.ts` rather than `npx tsx …`: npx does not pass
 * SIGTERM on to its child, so signalling it would test npx (and leak the worker), not the CLI.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { defineJob, dependsOn } from "../../src/index.ts";
import { latestVersion } from "../../src/postgres/migrations.ts";
import { createTestApp, waitFor, type TestApp } from "../helpers/app.ts";

const repo = fileURLToPath(new URL("../..", import.meta.url));
// Absolute: the child runs in temp dirs, where `--import tsx` would not resolve.
const tsx = import.meta.resolve("tsx");
const Ping = defineJob<{ n: number }>("ping");
const Mail = defineJob<{ to: string }>("mail");
const Slow = defineJob<{ ms: number }>("slow");
const Render = defineJob<{ page: number }>("render", { mode: "lease", leaseTimeout: 60_000 });
// Not "ping": the worker test below counts the pings that ran.
const Import = defineJob<{ n: number }>("import");

/** A gate a handler waits at until the test opens it. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

/** A config as a user writes it; imports by absolute path since it lives outside the repo. */
function configSource(): string {
  const adapter = fileURLToPath(import.meta.resolve("@prisma/adapter-pg"));
  return `
import { PrismaPg } from ${JSON.stringify(adapter)};
import { PrismaClient } from ${JSON.stringify(join(repo, "test/generated/prisma/client.ts"))};
import { defineConfig, defineJob, handle, jobs } from ${JSON.stringify(join(repo, "src/index.ts"))};

const Ping = defineJob<{ n: number }>("ping");
const Mail = defineJob<{ to: string }>("mail");
const Slow = defineJob<{ ms: number }>("slow");

const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: process.env.DATABASE_URL!, max: 2 }) })
  .$extends(jobs({ schema: process.env.JOBS_SCHEMA ?? "arrower" }));

export default defineConfig({
  prisma,
  queues: [
    {
      name: "default",
      poolSize: 2,
      pollInterval: 200,
      handlers: [
        handle(Ping, async ({ n }, { tx }: { tx: any }) => {
          await tx.sideEffect.create({ data: { id: \`ping-\${n}\`, note: "from the CLI worker" } });
        }),
      ],
    },
    { name: "mail", poolSize: 1, handlers: [handle(Mail, async () => undefined)] },
    {
      name: "slow",
      poolSize: 1,
      handlers: [
        handle(Slow, async ({ ms }, { signal }) => {
          console.log("slow job started");
          await new Promise((resolve) => {
            signal.addEventListener("abort", resolve);
            setTimeout(resolve, ms).unref();
          });
        }),
      ],
    },
  ],
});
`;
}

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

// Each test starts Node processes that load TypeScript (tsx for the CLI, jiti for the config):
// seconds each on a busy machine, so the timeouts are generous.
describe("arrower-jobs CLI", { timeout: 120_000 }, () => {
  let app: TestApp;
  let dir: string;
  let config: string;
  const children: ChildProcess[] = [];
  /** Workers whose parent (a shell) is gone: killed after each test if still there. */
  const orphans: number[] = [];

  /** The child's environment: this file's database, and no test-runner markers (they silence the logger). */
  function env(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
    const out: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: app.url, ...extra };
    for (const key of Object.keys(out)) if (key.startsWith("VITEST") || key === "NODE_ENV" || out[key] === undefined) delete out[key];
    return out;
  }

  function start(args: string[], options: { cwd?: string; env?: Record<string, string | undefined> } = {}) {
    const child = spawn(process.execPath, ["--import", tsx, join(repo, "src/cli/main.ts"), ...args], {
      cwd: options.cwd ?? dir,
      env: env(options.env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    const output = { stdout: "", stderr: "" };
    child.stdout!.on("data", (chunk: Buffer) => (output.stdout += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (output.stderr += chunk.toString()));
    const exited = new Promise<Result>((resolve) => child.on("close", (code) => resolve({ code, ...output })));
    return { child, output, exited };
  }

  const cli = (args: string[], options?: { cwd?: string; env?: Record<string, string | undefined> }) => start(args, options).exited;

  beforeAll(async () => {
    app = await createTestApp({ migrate: false });
    dir = await mkdtemp(join(tmpdir(), "arrower-cli-"));
    config = join(dir, "arrower-jobs.config.ts");
    await writeFile(config, configSource());
  });
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    for (const pid of orphans.splice(0)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });
  afterAll(async () => {
    await app?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("a misspelt flag: exit 2, names it and suggests the right one", async () => {
    const result = await cli(["migrate", "--chek"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown flag --chek for `arrower-jobs migrate`, did you mean --check?");
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it("an unknown command: exit 2 with a suggestion", async () => {
    const result = await cli(["stauts"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown command "stauts", did you mean "status"?');
  });

  it("no config file: exit 2, says where it looked", async () => {
    const empty = await mkdtemp(join(tmpdir(), "arrower-cli-empty-"));
    try {
      const [found, named] = await Promise.all([
        cli(["worker"], { cwd: empty }),
        cli(["status", "--config", "missing.config.ts"], { cwd: empty }),
      ]);
      expect(found.code).toBe(2);
      expect(found.stderr).toContain("no config file: looked for arrower-jobs.config.ts");
      expect(found.stderr).toContain(empty);
      expect(named.code).toBe(2);
      expect(named.stderr).toContain("config file missing.config.ts not found");
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it("config mistakes: exit 2, one line naming the file and the problem", async () => {
    const cases: Array<[string, string, string]> = [
      ["named.config.ts", "export const config = {};", "named.config.ts: no default export (it exports config)"],
      ["no-jobs.config.ts", "export default { prisma: {} };", "no-jobs.config.ts: `prisma` has no `$jobs`"],
      ["throws.config.ts", 'throw new Error("DATABASE_URL is not set");\nexport default {};', "throws.config.ts: cannot load it: DATABASE_URL is not set"],
      [
        "no-handlers.config.ts",
        `import { jobs } from ${JSON.stringify(join(repo, "src/index.ts"))};
         const $jobs = { queue() {}, migrate() {} };
         export default { prisma: { $jobs }, queues: [{ name: "default", handlers: [] }] };
         void jobs;`,
        'no-handlers.config.ts: queue "default" has no handlers',
      ],
      [
        "bad-option.config.ts",
        `import { defineJob, handle } from ${JSON.stringify(join(repo, "src/index.ts"))};
         const Ping = defineJob("ping");
         const $jobs = { queue() {}, migrate() {} };
         export default { prisma: { $jobs }, queues: [{ name: "default", poolsize: 2, handlers: [handle(Ping, async () => {})] }] };`,
        'bad-option.config.ts: unknown option "poolsize" for queue("default") options, did you mean "poolSize"?',
      ],
    ];
    await Promise.all(
      cases.map(async ([file, source, message]) => {
        await writeFile(join(dir, file), source);
        const result = await cli(["worker", "--config", file]);
        expect(result.code, file).toBe(2);
        expect(result.stderr, file).toContain(message);
        expect(result.stderr.trim().split("\n"), file).toHaveLength(1);
      }),
    );
  });

  it("migrate --check: exit 1 while pending (naming found and expected versions), migrate applies, then exit 0", async () => {
    const pending = await cli(["migrate", "--check"]);
    expect(pending.code).toBe(1);
    expect(pending.stderr).toContain(`schema "arrower" is at version 0`);
    expect(pending.stderr).toContain(`expects ${latestVersion()}`);
    expect(await app.rows(`SELECT 1 FROM pg_namespace WHERE nspname = 'arrower'`)).toHaveLength(0); // changed nothing

    const migrated = await cli(["migrate"]);
    expect(migrated.code).toBe(0);
    expect(migrated.stdout).toContain("applied migration 000001.sql");
    expect(migrated.stdout).toContain(`now at version ${latestVersion()}`);

    const again = await cli(["migrate"]);
    expect(again.stdout).toContain("up to date");
    const done = await cli(["migrate", "--check"]);
    expect(done.code).toBe(0);
    expect(done.stdout).toContain(`schema "arrower" is up to date (version ${latestVersion()})`);
  });

  it("migrate and status with --database-url, without a config", async () => {
    const check = await cli(["migrate", "--check", "--database-url", app.url, "--schema", "elsewhere"]);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain(`schema "elsewhere" is at version 0`);
    const migrated = await cli(["migrate", "--database-url", app.url, "--schema", "elsewhere"]);
    expect(migrated.code).toBe(0);
    const status = await cli(["status", "--json", "--database-url", app.url, "--schema", "elsewhere"]);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toEqual({ schema: "elsewhere", version: latestVersion(), queues: [], pools: [], running: [], schedules: [] });
  });

  it("prune deletes old history once and says how much; a bad --succeeded-days is exit 2", async () => {
    await cli(["migrate", "--database-url", app.url]);
    await app.rows(`
      INSERT INTO arrower.job_history (id, queue, type, payload, priority, run_at, created_at, state, attempts, max_attempts, timeout_ms, finished_at)
      SELECT nextval('arrower.job_id_seq'), 'old', 'task', '{}', 0, now(), now(), 'succeeded', 1, 25, 30000, now() - interval '9 days'
      FROM generate_series(1, 30)`);
    const result = await cli(["prune", "--database-url", app.url]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("pruned 30 succeeded, 0 cancelled and 0 failed jobs");
    const bad = await cli(["prune", "--database-url", app.url, "--succeeded-days", "soon"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`--succeeded-days takes a number of days (0 or more), got "soon"`);
  });

  it("status shows the counts per queue, as a table and as JSON", async () => {
    await app.prisma.$jobs.enqueue([Ping({ n: 1 }), Ping({ n: 2 }), Ping({ n: 3 })]);
    await app.prisma.$jobs.enqueue(Ping({ n: 4 }), { runAt: new Date(Date.now() + 3_600_000) });
    // A workflow: the second mail waits for the first (waiting, not scheduled).
    const first = Mail({ to: "a@example.com" });
    await app.prisma.$jobs.enqueue([first, dependsOn(Mail({ to: "b@example.com" }), [first])], { queue: "mail" });

    const json = await cli(["status", "--json"]);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as { queues: Array<Record<string, unknown>> };
    expect(report.queues).toEqual([
      { name: "default", queued: 4, due: 3, scheduled: 1, waiting: 0, running: 0, failed: 0, retrying: 0, noHandler: 4, paused: false, pools: 0 },
      { name: "mail", queued: 2, due: 1, scheduled: 0, waiting: 1, running: 0, failed: 0, retrying: 0, noHandler: 2, paused: false, pools: 0 },
      // Configured, never used: listed with zeros.
      { name: "slow", queued: 0, due: 0, scheduled: 0, waiting: 0, running: 0, failed: 0, retrying: 0, noHandler: 0, paused: false, pools: 0 },
    ]);

    const table = await cli(["status"]);
    expect(table.code).toBe(0);
    const lines = table.stdout.split("\n");
    expect(lines.find((l) => l.includes("QUEUE"))).toMatch(/QUEUE\s+QUEUED\s+DUE\s+SCHEDULED\s+WAITING\s+RUNNING\s+FAILED\s+RETRYING\s+NO HANDLER\s+PAUSED\s+POOLS/);
    expect(lines.find((l) => l.trim().startsWith("default"))?.trim().split(/\s+/)).toEqual(["default", "4", "3", "1", "0", "0", "0", "0", "4", "no", "0"]);
    expect(lines.find((l) => l.trim().startsWith("mail"))?.trim().split(/\s+/)).toEqual(["mail", "2", "1", "0", "1", "0", "0", "0", "2", "no", "0"]);
  });

  it("status lists the schedules and marks the ones no running code declares any more", async () => {
    const current = await app.prisma.$jobs.schedule("*/30 * * * *", Ping({ n: 30 }), { name: "half-hourly", timezone: "Australia/Lord_Howe" });
    const old = await app.prisma.$jobs.schedule("@every 90s", Mail({ to: "ops@example.com" }), { queue: "mail" });
    await app.rows(`UPDATE arrower.schedules SET declared_at = clock_timestamp() - interval '1 hour' WHERE id = $1`, [old]);
    // A live pool that started 10 minutes ago: the old schedule was last declared long before it.
    await app.rows(
      `INSERT INTO arrower.pools (name, queue, job_types, size, host, pid, started_at)
       VALUES ('status-test', 'mail', '{mail}', 1, 'here', 1, clock_timestamp() - interval '10 minutes')`,
    );
    try {
      const json = await cli(["status", "--json"]);
      expect(json.code).toBe(0);
      const report = JSON.parse(json.stdout) as { schedules: Array<Record<string, unknown>> };
      expect(report.schedules.find((s) => s.id === current)).toEqual({
        id: current,
        name: "half-hourly",
        spec: "*/30 * * * *",
        timezone: "Australia/Lord_Howe",
        type: "ping",
        queue: "default",
        nextRunAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:[03]0:00\.000Z$/),
        lastRunAt: null,
        declaredAt: expect.any(String),
        stale: false,
      });
      expect(report.schedules.find((s) => s.id === old)).toMatchObject({ name: null, spec: "@every 90s", type: "mail", queue: "mail", stale: true });

      const table = (await cli(["status"])).stdout.split("\n");
      expect(table).toContain("Schedules");
      expect(table.find((l) => l.trim().startsWith("SCHEDULE "))).toMatch(/SCHEDULE\s+SPEC\s+ZONE\s+JOB\s+QUEUE\s+NEXT RUN\s+LAST RUN\s+DECLARED/);
      expect(table.find((l) => l.trim().startsWith("half-hourly"))).toMatch(/^\s+half-hourly\s+\*\/30 \* \* \* \*\s+Australia\/Lord_Howe\s+ping\s+default\s+\S+\s+never\s+\d+s ago$/);
      expect(table.find((l) => l.trim().startsWith(`#${old} (stale)`))).toMatch(/@every 90s\s+UTC\s+mail\s+mail\s+\S+\s+never\s+1h ago$/);
      expect(table).toContain(
        "  (1 stale: last declared before every live pool started, so no code that runs now declares it; remove with prisma.$jobs.unschedule(idOrName))",
      );
    } finally {
      await app.rows(`DELETE FROM arrower.pools WHERE name = 'status-test'`);
      await app.rows(`DELETE FROM arrower.schedules`);
    }
  });

  it("status lists the running jobs that hold a lease or reported progress, as a table and as JSON", async () => {
    // Pools of this process: status reads what they leave in the database.
    const renders = app.prisma.$jobs.queue("renders", { poolSize: 1, pollInterval: 100, autoStartDelay: 60_000, poolName: "render-pool" });
    const imports = app.prisma.$jobs.queue("imports", { poolSize: 2, pollInterval: 100, autoStartDelay: 60_000 });
    const release = gate();
    const started = { render: gate(), withProgress: gate(), quiet: gate() };
    await renders.register(Render, async (_, { progress }) => {
      await progress({ page: 3, of: 12 });
      started.render.open();
      await release.opened;
    });
    await imports.register(Import, async ({ n }, { progress }) => {
      if (n === 1) await progress("row 500 of 1000");
      (n === 1 ? started.withProgress : started.quiet).open();
      await release.opened;
    });
    const render = await renders.enqueue(Render({ page: 1 }));
    const [imported] = await imports.enqueue([Import({ n: 1 }), Import({ n: 2 })]);
    try {
      await renders.start();
      await imports.start();
      await Promise.all([started.render.opened, started.withProgress.opened, started.quiet.opened]);

      const json = await cli(["status", "--json"]);
      expect(json.code, json.stderr).toBe(0);
      const report = JSON.parse(json.stdout) as { queues: Array<{ name: string }>; running: unknown[] };
      // The leased job is due (not scheduled: its row's run_at is the lease's expiry), and on its first attempt.
      expect(report.queues.find((q) => q.name === "renders")).toMatchObject({ queued: 1, due: 1, scheduled: 0, retrying: 0 });
      // The transaction-mode job that reported nothing is not listed: nothing to watch.
      expect(report.running).toEqual([
        {
          id: render,
          queue: "renders",
          type: "render",
          attempt: 1,
          maxAttempts: 25,
          lease: { owner: "render-pool", startedAt: expect.stringMatching(/Z$/), expiresAt: expect.stringMatching(/Z$/) },
          progress: { value: { page: 3, of: 12 }, updatedAt: expect.stringMatching(/Z$/) },
        },
        { id: imported, queue: "imports", type: "import", attempt: 1, maxAttempts: 25, lease: null, progress: { value: "row 500 of 1000", updatedAt: expect.stringMatching(/Z$/) } },
      ]);

      const lines = (await cli(["status"])).stdout.split("\n");
      const at = lines.indexOf("Running jobs (leased, or reporting progress)");
      expect(at).toBeGreaterThan(0);
      expect(lines[at + 1]).toMatch(/^  JOB\s+QUEUE\s+TYPE\s+ATTEMPT\s+HELD BY\s+LEASE EXPIRES\s+PROGRESS$/);
      // jsonb keeps an object's keys shorter first.
      expect(lines[at + 2]).toMatch(new RegExp(`^  ${render}\\s+renders\\s+render\\s+1/25\\s+render-pool\\s+in \\d+s\\s+\\{"of":12,"page":3\\} \\(\\d+s ago\\)$`));
      expect(lines[at + 3]).toMatch(new RegExp(`^  ${imported}\\s+imports\\s+import\\s+1/25\\s+\\(transaction\\)\\s+-\\s+"row 500 of 1000" \\(\\d+s ago\\)$`));
      expect(lines[at + 4]).toBe("");
    } finally {
      release.open();
      await Promise.all([renders.shutdown(), imports.shutdown()]);
    }
  });

  it("worker --queue with an unknown queue: exit 2, lists the configured ones", async () => {
    const result = await cli(["worker", "--queue", "defualt"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown queue "defualt" in --queue (did you mean "default"?): arrower-jobs.config.ts defines "default", "mail", "slow"');
  });

  it("worker processes the due jobs in their transaction, shows in status, and exits 0 on SIGTERM within seconds", async () => {
    const worker = start(["worker", "--queue", "default", "--pool-size", "2"]);
    await waitFor(() => worker.output.stdout.includes("worker running") || worker.child.exitCode !== null, 60_000, "the worker to start");
    expect(worker.child.exitCode, worker.output.stderr).toBeNull();
    await waitFor(async () => (await app.count("job_history", "type = 'ping' AND state = 'succeeded'")) === 3, 20_000, "the due pings to run");
    expect((await app.rows<{ id: string }>(`SELECT id FROM "SideEffect" ORDER BY id`)).map((r) => r.id)).toEqual(["ping-1", "ping-2", "ping-3"]);

    const status = JSON.parse((await cli(["status", "--json"])).stdout) as { queues: Array<{ name: string; pools: number; noHandler: number; queued: number }>; pools: Array<{ queue: string; size: number; alive: boolean }> };
    expect(status.queues.find((q) => q.name === "default")).toMatchObject({ queued: 1, pools: 1, noHandler: 0 });
    expect(status.pools).toEqual([expect.objectContaining({ queue: "default", size: 2, alive: true })]);

    const signalled = Date.now();
    worker.child.kill("SIGTERM");
    const result = await worker.exited;
    expect(result.code, result.stderr).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(10_000); // seconds; generous for busy CI machines
    expect(result.stdout).toContain("pool started queue=default");
    expect(result.stdout).toContain("signal=SIGTERM");
    expect(result.stdout).toContain("pool stopped queue=default");
    expect(result.stderr).not.toMatch(/error|failed/i);
    expect(await app.count("pools")).toBe(0); // removed its heartbeat row on the way out
  });

  it("a second SIGTERM forces the shutdown: exit 1, and the running job is left to run again", async () => {
    const id = await app.prisma.$jobs.enqueue(Slow({ ms: 60_000 }), { queue: "slow" });
    const worker = start(["worker", "--queue", "slow"]);
    await waitFor(() => worker.output.stdout.includes("slow job started") || worker.child.exitCode !== null, 60_000, "the slow job to start");
    worker.child.kill("SIGTERM");
    await waitFor(() => worker.output.stdout.includes("send the signal again to force"), 30_000, "the graceful shutdown to begin");
    expect(worker.child.exitCode).toBeNull(); // waiting for the running job
    const forced = Date.now();
    worker.child.kill("SIGTERM");
    const result = await worker.exited;
    expect(result.code, result.stdout + result.stderr).toBe(1);
    // Not the job's 60 s, nor the 30 s shutdown deadline (which would exit 0): the CLI gives a
    // forced shutdown 3 s. The margin is for busy CI machines.
    expect(Date.now() - forced).toBeLessThan(15_000);
    expect(result.stdout + result.stderr).toContain("forced shutdown");
    expect(await app.count("jobs", "id = $1", [id])).toBe(1); // not lost, not finished
  });

  it("DATABASE_URL unset: every command that connects exits 2 naming DATABASE_URL and the config file, before connecting", async () => {
    // The config builds its adapter from process.env.DATABASE_URL!, as the README's db.ts does.
    const unset = { DATABASE_URL: undefined, PGHOST: undefined, PGUSER: undefined, PGDATABASE: undefined };
    for (const args of [["worker"], ["migrate", "--check"], ["status"]]) {
      const result = await cli(args, { env: unset });
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr.trim(), args.join(" ")).toBe(
        "arrower-jobs: arrower-jobs.config.ts: no database to connect to: the Prisma client's adapter has no connection string " +
          "(new PrismaPg({ connectionString: undefined })). Is DATABASE_URL set in this environment? Set it " +
          "(e.g. DATABASE_URL=postgresql://user:password@localhost:5432/app), or give new PrismaPg({ connectionString }) or jobs({ connectionString }) one",
      );
    }
  });

  it("under npm, a worker whose parent shell dies of SIGTERM (npx's, which does not pass it on) shuts down gracefully", async () => {
    // npm runs a bin as `sh -c …` and sends SIGTERM to that shell only, which dies of it.
    const shell = spawn("sh", ["-c", '"$0" --import "$1" "$2" worker --queue mail; exit $?', process.execPath, tsx, join(repo, "src/cli/main.ts")], {
      cwd: dir,
      env: env({ npm_lifecycle_event: "npx" }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(shell);
    const output = { stdout: "", stderr: "" };
    shell.stdout!.on("data", (chunk: Buffer) => (output.stdout += chunk.toString()));
    shell.stderr!.on("data", (chunk: Buffer) => (output.stderr += chunk.toString()));
    // The pipes close when the last process holding them, the worker, has exited.
    const closed = new Promise<void>((resolve) => shell.on("close", () => resolve()));
    await waitFor(() => output.stdout.includes("worker running") || shell.exitCode !== null, 60_000, "the worker to start");
    const pid = Number(/worker running.* pid=(\d+)/.exec(output.stdout)?.[1]);
    expect(pid, output.stdout + output.stderr).toBeGreaterThan(0);
    orphans.push(pid);

    shell.kill("SIGTERM");
    // The worker checks for its parent once a second.
    await waitFor(() => output.stdout.includes("worker stopped"), 10_000, "the orphaned worker to stop");
    await closed; // the worker has exited: it held the pipes' last ends (kill -0 would see its zombie)
    expect(shell.signalCode).toBe("SIGTERM"); // the shell died of it, as under npm
    expect(output.stderr).toContain(`the parent process exited (npm does not pass SIGTERM on): shutting down parent=${shell.pid}`);
    expect(output.stdout).toContain("pool stopped queue=mail");
    expect(output.stdout).toContain("worker stopped");
    expect(await app.count("pools")).toBe(0);
  });

  it("worker that cannot start (schema not migrated): exit 1 with the reason", async () => {
    const result = await cli(["worker", "--queue", "mail"], { env: { JOBS_SCHEMA: "not_migrated" } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('queue "mail" cannot start: arrower-jobs tables are missing in schema "not_migrated"');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
