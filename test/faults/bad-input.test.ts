/**
 * Bad API input, table-driven: calls across the public API (enqueue, schedule, queue options,
 * register/start, defineJob, jobs(), admin), CLI flags and config-file mistakes. Each must fail
 * with a typed error (CLI: exit 2 and one line on stderr) whose message says what is wrong and
 * how to fix it, and write nothing. test/enqueue/bad-input.test.ts covers other enqueue cases;
 * none are repeated here.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ArrowerJobsError,
  defineJob,
  DuplicateJobError,
  InvalidCronError,
  InvalidJobError,
  InvalidNameError,
  InvalidOptionsError,
  InvalidPayloadError,
  JobNotFoundError,
  jobs,
  type EnqueueOptions,
  type Job,
  type JobType,
} from "../../src/index.ts";
import { createTestingJobs } from "../../src/testing.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/db.ts";
import type { TestApp } from "../helpers/app.ts";
import { createFaultApp, spawnCli, type CliResult } from "./support/harness.ts";
import { recordResult } from "./support/results.ts";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const Any = defineJob<unknown>("bad-any");
type Ctor = new (...args: never[]) => ArrowerJobsError;
type ApiCase = [name: string, call: (app: TestApp) => unknown, error: Ctor, message: RegExp];

const apiCases: ApiCase[] = [
  // enqueue
  ["enqueue(undefined)", (a) => a.prisma.$jobs.enqueue(undefined as unknown as Job), InvalidJobError, /^enqueue expects a job or an array of jobs, got undefined: make jobs by calling a job type/],
  ["a WeakMap in the payload", (a) => a.prisma.$jobs.enqueue(Any({ cache: new WeakMap() })), InvalidPayloadError, /an instance of class WeakMap would lose its class \(use plain objects, or register the class with superjson.registerClass\) at cache$/],
  ["a Promise in the payload", (a) => a.prisma.$jobs.enqueue(Any({ later: Promise.resolve(1) })), InvalidPayloadError, /class Promise would lose its class/],
  ["a symbol key", (a) => a.prisma.$jobs.enqueue(Any({ [Symbol("k")]: 1 })), InvalidPayloadError, /a symbol key cannot be stored at \[Symbol\(k\)\]/],
  ["\\u0000 in a key", (a) => a.prisma.$jobs.enqueue(Any({ "a\u0000b": 1 })), InvalidPayloadError, /a key containing \\u0000 cannot be stored in PostgreSQL jsonb/],
  ["a lone surrogate (half an emoji)", (a) => a.prisma.$jobs.enqueue(Any({ note: "cut 😀".slice(0, 5) })), InvalidPayloadError, /a string with a lone UTF-16 surrogate .* cannot be stored in PostgreSQL jsonb at note/],
  ["a function as a Map value", (a) => a.prisma.$jobs.enqueue(Any({ m: new Map([["k", () => 1]]) })), InvalidPayloadError, /a function cannot be stored at m\.get\("k"\)/],
  ["priority beyond int4", (a) => a.prisma.$jobs.enqueue(Any(1), { priority: 2 ** 31 }), InvalidOptionsError, /enqueue options: priority must be between -2147483647 and 2147483647, got 2147483648/],
  ["timeout Infinity", (a) => a.prisma.$jobs.enqueue(Any(1), { timeout: Infinity }), InvalidOptionsError, /timeout must be an integer, got number Infinity/],
  ["maxAttempts as a string", (a) => a.prisma.$jobs.enqueue(Any(1), { maxAttempts: "3" as never }), InvalidOptionsError, /maxAttempts must be an integer, got the string "3"/],
  ["runAt before 4713 BC", (a) => a.prisma.$jobs.enqueue(Any(1), { runAt: new Date(Date.UTC(-10_000, 0, 1)) }), InvalidOptionsError, /runAt -010000-01-01T00:00:00.000Z is before 4713 BC, the earliest time PostgreSQL can store/],
  ["a dedup key over 512 characters", (a) => a.prisma.$jobs.enqueue(Any(1), { dedupKey: "k".repeat(513) }), InvalidOptionsError, /dedupKey must be a non-empty string of at most 512 characters/],
  ["a queue name over 64 characters", (a) => a.prisma.$jobs.enqueue(Any(1), { queue: "q".repeat(65) }), InvalidNameError, /queue name "q+…" is 65 characters long, the limit is 64/],
  ["an unknown option with no close match", (a) => a.prisma.$jobs.enqueue(Any(1), { delay: 5 } as never), InvalidOptionsError, /unknown option "delay" for enqueue options; known options: queue, priority, maxAttempts, timeout, runAt, dedupKey/],
  ["queue(a).enqueue into another queue", (a) => a.prisma.$jobs.queue("a").enqueue(Any(1), { queue: "b" }), InvalidOptionsError, /queue\("a"\)\.enqueue\(\) puts jobs in "a", got queue "b": use prisma.\$jobs.enqueue for another queue/],
  // schedule
  ["a cron spec in words", (a) => a.prisma.$jobs.schedule("every 5 minutes", Any(1)), InvalidCronError, /^invalid schedule "every 5 minutes": /],
  ["@every below one second", (a) => a.prisma.$jobs.schedule("@every 500ms", Any(1)), InvalidCronError, /invalid schedule "@every 500ms": interval 500ms is below the minimum of 1s/],
  ["minute 61", (a) => a.prisma.$jobs.schedule("61 * * * *", Any(1)), InvalidCronError, /^invalid schedule "61 \* \* \* \*": /],
  ["an unknown time zone", (a) => a.prisma.$jobs.schedule("0 4 * * *", Any(1), { timezone: "Mars/Olympus" }), InvalidCronError, /unknown time zone "Mars\/Olympus": use an IANA name like "Europe\/Berlin" or "UTC"/],
  ["an empty schedule name", (a) => a.prisma.$jobs.schedule("0 4 * * *", Any(1), { name: "" }), InvalidOptionsError, /schedule options: name must not be empty/],
  ["a misspelt schedule option", (a) => a.prisma.$jobs.schedule("0 4 * * *", Any(1), { timezon: "UTC" } as never), InvalidOptionsError, /unknown option "timezon" .*did you mean "timezone"\?/],
  ["a spec that is not a string", (a) => a.prisma.$jobs.schedule(42 as never, Any(1)), InvalidCronError, /invalid schedule "42": expected a string, got number/],
  ["schedule a plain object", (a) => a.prisma.$jobs.schedule("0 4 * * *", { a: 1 } as never), InvalidJobError, /schedule expects a job .*make jobs by calling a job type from defineJob\(\)/],
  ["unschedule a number", (a) => a.prisma.$jobs.unschedule(42 as never), InvalidOptionsError, /unschedule expects a schedule's id \(as schedule\(\) returned it\) or its name, got number/],
  // queue options
  ["poolSize 0", (a) => a.prisma.$jobs.queue("q", { poolSize: 0 }), InvalidOptionsError, /queue\("q"\) options: poolSize must be between 1 and 1000, got 0/],
  ["poolsize misspelt", (a) => a.prisma.$jobs.queue("q", { poolsize: 5 } as never), InvalidOptionsError, /unknown option "poolsize" for queue\("q"\) options, did you mean "poolSize"\?/],
  ["strategy fifo", (a) => a.prisma.$jobs.queue("q", { strategy: "fifo" as never }), InvalidOptionsError, /strategy must be "priority" \(priority, then run_at\) or "time" \(run_at only\), got the string "fifo"/],
  ["strategy misspelt", (a) => a.prisma.$jobs.queue("q", { strategy: "tme" as never }), InvalidOptionsError, /got the string "tme"; did you mean "time"\?/],
  ["poolName a number", (a) => a.prisma.$jobs.queue("q", { poolName: 42 as never }), InvalidOptionsError, /poolName must be a non-empty string of at most 200 characters, got number 42/],
  ["backoff jitter 2", (a) => a.prisma.$jobs.queue("q", { backoff: { jitter: 2 } }), InvalidOptionsError, /backoff.jitter must be a number from 0 to 1, got 2/],
  ["backoff maxDelay below baseDelay", (a) => a.prisma.$jobs.queue("q", { backoff: { baseDelay: 10_000, maxDelay: 5 } }), InvalidOptionsError, /backoff.maxDelay \(5\) must not be below baseDelay \(10000\)/],
  ["pollInterval 5 ms", (a) => a.prisma.$jobs.queue("q", { pollInterval: 5 }), InvalidOptionsError, /pollInterval must be between 10 and 86400000, got 5/],
  ["retention misspelt", (a) => a.prisma.$jobs.queue("q", { retention: { succeded: 1 } as never }), InvalidOptionsError, /unknown option "succeded" .*did you mean "succeeded"\?/],
  ["an empty queue name", (a) => a.prisma.$jobs.queue(""), InvalidNameError, /queue name must not be empty/],
  // register / start
  ["register a plain object", (a) => a.prisma.$jobs.queue("q").register({} as JobType<unknown>, async () => undefined), InvalidJobError, /register expects a job type from defineJob\(\), got object/],
  ["register a string as handler", (a) => a.prisma.$jobs.queue("q").register(Any, "handle" as never), InvalidJobError, /register\("bad-any"\) expects a handler function, got string/],
  ["start() with no handler", (a) => a.prisma.$jobs.queue("q").start(), InvalidOptionsError, /queue "q" has no handlers: register at least one job type before start\(\)/],
  // defineJob, jobs()
  ["defineJob with timeout -1", () => defineJob("x", { timeout: -1 }), InvalidOptionsError, /timeout must be between 1 and 2073600000 \(24 days\), got -1/],
  ["jobs() with an empty connectionString", () => jobs({ connectionString: "" }), InvalidOptionsError, /jobs\(\) options: connectionString must be a non-empty string/],
  ["jobs() with maxPayloadBytes 0", () => jobs({ maxPayloadBytes: 0 }), InvalidOptionsError, /maxPayloadBytes must be between 1 and/],
  ["jobs() with a logger that is not one", () => jobs({ logger: {} as never }), InvalidOptionsError, /logger must have debug, info, warn and error methods \(console works\)/],
  // admin
  ["getJob of a non-id", (a) => a.prisma.$jobs.getJob("abc"), InvalidOptionsError, /a job id is a string of digits \(as enqueue returns it\), got "abc"/],
  ["listJobs with an unknown state", (a) => a.prisma.$jobs.listJobs({ state: "done" as never }), InvalidOptionsError, /listJobs filter: state must be one of available, scheduled, waiting, succeeded, failed, cancelled, got "done"/],
];

/** A config the loader accepts up to the point under test: no real Prisma client needed. */
const fakeConfig = (queues: string) => `
import { defineJob, handle } from ${JSON.stringify(join(repo, "src/index.ts"))};
const A = defineJob<{ n: number }>("a");
const prisma = { $jobs: { queue() { throw new Error("not reached"); }, migrate() { throw new Error("not reached"); } } };
export default { prisma, queues: ${queues} };
`;

/** [name, config file (written when given), args, expected stderr line] — `{url}` is an unmigrated database. */
type CliCase = [name: string, config: string | undefined, args: string[], message: RegExp];

const cliCases: CliCase[] = [
  ["--pool-size abc", undefined, ["worker", "--pool-size", "abc"], /--pool-size must be a whole number from 1 to 1000, got "abc"/],
  ["--pool-size 0", undefined, ["worker", "--pool-size", "0"], /--pool-size must be a whole number from 1 to 1000, got "0"/],
  ["--check=yes", undefined, ["migrate", "--check=yes", "--database-url", "{url}"], /--check takes no value/],
  ["--jsn", undefined, ["status", "--jsn"], /unknown flag --jsn for `arrower-jobs status`, did you mean --json\?/],
  ["--database-url without its value", undefined, ["migrate", "--database-url"], /--database-url needs a value, e.g. --database-url </],
  ["--database-url and --config", undefined, ["migrate", "--database-url", "{url}", "--config", "x.config.ts"], /use either --config or --database-url, not both/],
  ["--schema that is not an identifier", undefined, ["migrate", "--database-url", "{url}", "--schema", "Bad-Name"], /--schema: schema must be a lower-case PostgreSQL identifier/],
  ["a stray argument", undefined, ["migrate", "now", "--database-url", "{url}"], /unexpected argument "now" for `arrower-jobs migrate`: run `arrower-jobs migrate --help` for its flags/],
  ["a flag before the command", undefined, ["--verbose", "worker"], /unknown flag --verbose: flags go after the command/],
  ["--queue with no name", "good.config.ts", ["worker", "--config", "good.config.ts", "--queue", ","], /--queue needs at least one queue name/],
  ["config: queues not an array", "k1.config.ts", ["worker", "--config", "k1.config.ts"], /k1.config.ts: `queues` must be an array of \{ name, handlers, \.\.\.options \}, got an object/],
  ["config: a queue defined twice", "k2.config.ts", ["worker", "--config", "k2.config.ts"], /k2.config.ts: queue "default" is defined twice: merge its handlers into one entry/],
  ["config: a handler that is not a function", "k3.config.ts", ["worker", "--config", "k3.config.ts"], /k3.config.ts: queue "default": the handler of "a" must be a function, got the string "nope"/],
  ["config: handlers misspelt", "k4.config.ts", ["worker", "--config", "k4.config.ts"], /k4.config.ts: queue "default": unknown key "handlrs", did you mean "handlers"\?/],
  ["config: an unknown top-level key", "k5.config.ts", ["worker", "--config", "k5.config.ts"], /k5.config.ts: unknown key "queue", did you mean "queues"\?/],
  ["config: poolSize -1", "k6.config.ts", ["worker", "--config", "k6.config.ts"], /k6.config.ts: queue\("default"\) options: poolSize must be between 1 and 1000, got -1/],
  ["config: a syntax error", "k7.config.ts", ["worker", "--config", "k7.config.ts"], /k7.config.ts: cannot load it: .*\(at k7.config.ts:\d+:\d+\)/],
  ["config: a handler entry not made by handle()", "k8.config.ts", ["worker", "--config", "k8.config.ts"], /k8.config.ts: queue "default": handlers\[0\] must be handle\(JobType, handler\) with a job type from defineJob\(\), got an object/],
  ["config: strategy fifo", "k9.config.ts", ["worker", "--config", "k9.config.ts"], /k9.config.ts: queue\("default"\) options: strategy must be "priority" .* got the string "fifo"/],
  ["config: one job type twice", "k10.config.ts", ["worker", "--config", "k10.config.ts"], /k10.config.ts: queue "default": job type "a" has two handlers/],
];

const configFiles: Record<string, string> = {
  "good.config.ts": fakeConfig(`[{ name: "default", handlers: [handle(A, async () => undefined)] }]`),
  "k1.config.ts": fakeConfig(`{ default: {} }`),
  "k2.config.ts": fakeConfig(`[{ name: "default", handlers: [handle(A, async () => undefined)] }, { name: "default", handlers: [handle(A, async () => undefined)] }]`),
  "k3.config.ts": fakeConfig(`[{ name: "default", handlers: [{ type: A, handler: "nope" }] }]`),
  "k4.config.ts": fakeConfig(`[{ name: "default", handlrs: [handle(A, async () => undefined)] }]`),
  "k5.config.ts": fakeConfig(`[]`).replace("export default { prisma, queues: [] }", "export default { prisma, queue: [] }"),
  "k6.config.ts": fakeConfig(`[{ name: "default", poolSize: -1, handlers: [handle(A, async () => undefined)] }]`),
  "k7.config.ts": `export default {\n  prisma: ,\n};\n`,
  "k8.config.ts": fakeConfig(`[{ name: "default", handlers: [{ job: A }] }]`),
  "k9.config.ts": fakeConfig(`[{ name: "default", strategy: "fifo", handlers: [handle(A, async () => undefined)] }]`),
  "k10.config.ts": fakeConfig(`[{ name: "default", handlers: [handle(A, async () => undefined), handle(A, async () => undefined)] }]`),
};

describe("bad API input", () => {
  let app: TestApp;
  let empty: TestDatabase;
  let dir: string;
  const cliResults = new Map<string, CliResult>();
  let failures = 0;

  /** Everything a bad call could have written. */
  const fingerprint = async () =>
    (await app.rows(`SELECT (SELECT count(*) FROM arrower.jobs)::int AS jobs, (SELECT count(*) FROM arrower.job_history)::int AS history,
                            (SELECT count(*) FROM arrower.schedules)::int AS schedules, (SELECT count(*) FROM arrower.pools)::int AS pools,
                            (SELECT count(*) FROM arrower.queues)::int AS queues, (SELECT max(version) FROM arrower.migrations)::int AS version`))[0];

  beforeAll(async () => {
    app = await createFaultApp();
    empty = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), "arrower-faults-bad-"));
    for (const [name, source] of Object.entries(configFiles)) await writeFile(join(dir, name), source);
    // The CLI cases run up front, 3 at a time (each is a Node process).
    const queue = [...cliCases];
    await Promise.all(
      [1, 2, 3].map(async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          const [name, , args] = next;
          cliResults.set(name, await spawnCli(args.map((a) => a.replace("{url}", empty.url)), { cwd: dir, url: app.url }).exited);
        }
      }),
    );
  });
  afterAll(async () => {
    await empty?.drop();
    await app?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each(apiCases)("API: %s", async (_name, call, type, message) => {
    const before = await fingerprint();
    const error = await Promise.resolve()
      .then(() => call(app))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    try {
      expect(error).toBeInstanceOf(type);
      expect(error).toBeInstanceOf(ArrowerJobsError);
      expect((error as ArrowerJobsError).code).toMatch(/^[A-Z_]+$/);
      expect((error as Error).message).toMatch(message);
      expect(await fingerprint()).toEqual(before);
    } catch (e) {
      failures++;
      throw e;
    }
  });

  it.each(cliCases)("CLI: %s", async (name, _config, _args, message) => {
    const result = cliResults.get(name)!;
    try {
      expect(result.code, result.stderr).toBe(2);
      const lines = result.stderr.trim().split("\n");
      expect(lines, result.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^arrower-jobs: /);
      expect(lines[0]).toMatch(message);
    } catch (e) {
      failures++;
      throw e;
    }
  });

  it("the CLI wrote nothing either, and the table row", async (context) => {
    // The unmigrated database is still empty (no migrate ran), the app's has no job, pool or schedule.
    const [schema] = await app.rows<{ n: number }>(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'arrower'`);
    const pg = await import("pg");
    const client = new pg.default.Client({ connectionString: empty.url });
    await client.connect();
    const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'arrower'`);
    await client.end();
    const after = await fingerprint();
    recordResult(context, {
      order: 10,
      scenario: "Bad API input (table-driven)",
      jobs: apiCases.length + cliCases.length,
      lost: 0,
      duplicated: 0,
      maxRecoveryMs: null,
      notes: `${apiCases.length} calls (enqueue, schedule, queue options, register/start, defineJob, jobs(), admin) and ${cliCases.length} CLI runs (flags, config files): each a typed error (CLI: exit 2, one line) with an actionable message, nothing written; ${failures} failed`,
    });
    expect(schema!.n).toBe(1);
    expect(rows[0]!.n).toBe(0);
    expect(after).toMatchObject({ jobs: 0, history: 0, schedules: 0, pools: 0, queues: 0 });
    expect(apiCases.length + cliCases.length).toBeGreaterThanOrEqual(30);
  });
});

describe("bad admin input: job ids and dedup keys", () => {
  const Task = defineJob<{ n: number }>("bad-admin-task");
  let app: TestApp;
  let failures = 0;
  let calls = 0;
  /** Every row of the job tables, as one digest: a bad call must change none. */
  const digest = async () =>
    (await app.rows<{ d: string }>(`SELECT md5(coalesce(string_agg(r::text, ',' ORDER BY r::text), '')) AS d FROM (
        SELECT id, queue, state, attempts, dedup_key, run_at FROM arrower.job_history
        UNION ALL SELECT id, queue, 'live', attempts, dedup_key, run_at FROM arrower.jobs) r`))[0]!.d;
  /** Calls `call`, checks it throws `type` with `message` and changes nothing; counts it. */
  const refused = async (what: string, call: () => Promise<unknown>, type: new (...args: never[]) => ArrowerJobsError, message: RegExp) => {
    calls++;
    const before = await digest();
    const error = await call().then(() => undefined, (e: unknown) => e);
    try {
      expect(error, what).toBeInstanceOf(type);
      expect((error as ArrowerJobsError).code, what).toMatch(/^[A-Z_]+$/);
      expect((error as Error).message, what).toMatch(message);
      expect(await digest(), what).toBe(before);
    } catch (e) {
      failures++;
      throw e;
    }
  };

  beforeAll(async () => {
    app = await createFaultApp();
  });
  afterAll(async () => {
    await app?.close();
  });

  it("ids that are not job ids: InvalidOptionsError; ids beyond bigint: not found; nothing written", async () => {
    const $jobs = app.prisma.$jobs;
    await $jobs.enqueue([Task({ n: 1 }), Task({ n: 2 })], { queue: "bad-admin" });
    for (const id of ["abc", "-1", "1.5", "", " 7", "1e3", "0x10"]) {
      const rule = /a job id is a string of digits \(as enqueue returns it\), got "/;
      await refused(`getJob(${JSON.stringify(id)})`, () => $jobs.getJob(id), InvalidOptionsError, rule);
      await refused(`cancel(${JSON.stringify(id)})`, () => $jobs.cancel(id), InvalidOptionsError, rule);
      await refused(`retry(${JSON.stringify(id)})`, () => $jobs.retry(id), InvalidOptionsError, rule);
      await refused(`deleteJob(${JSON.stringify(id)})`, () => $jobs.deleteJob(id), InvalidOptionsError, rule);
      await refused(`listJobs cursor ${JSON.stringify(id)}`, () => $jobs.listJobs({}, id), InvalidOptionsError, /^cursor must be a job id \(the `next` of a page\): /);
    }
    for (const id of ["9223372036854775808", "99999999999999999999"]) {
      await refused(`cancel(${id})`, () => $jobs.cancel(id), JobNotFoundError, new RegExp(`^job ${id} not found$`));
      await refused(`retry(${id})`, () => $jobs.retry(id), JobNotFoundError, new RegExp(`^job ${id} not found$`));
      await refused(`deleteJob(${id})`, () => $jobs.deleteJob(id), JobNotFoundError, new RegExp(`^job ${id} not found$`));
      calls += 2;
      expect(await $jobs.getJob(id)).toBeNull();
      expect((await $jobs.listJobs({ queue: "bad-admin" }, id)).jobs).toHaveLength(2);
    }
  });

  it("requeue and retry of failed jobs whose dedup key is taken: counted as skipped, or DuplicateJobError; one live job per key", async () => {
    const $jobs = app.prisma.$jobs;
    // Two failed jobs with one key (the first failed before the second was enqueued), a third
    // whose key a live job holds: as SQL rows, the state a worker leaves.
    const [a, b, c] = (await app.rows<{ id: string }>(`
      INSERT INTO arrower.job_history (id, queue, type, payload, priority, run_at, created_at, state, attempts, max_attempts, timeout_ms, dedup_key, last_error, finished_at)
      SELECT nextval('arrower.job_id_seq'), 'bad-admin-dedup', 'bad-admin-task', '{"n":0}', 0, now(), now(), 'failed', 1, 1, 30000, k, 'Error: down', now()
      FROM unnest(ARRAY['key-1', 'key-1', 'key-2']) k RETURNING id::text AS id`)).map((r) => r.id);
    const live = await $jobs.enqueue(Task({ n: 3 }), { queue: "bad-admin-dedup", dedupKey: "key-2", runAt: new Date(Date.now() + 3_600_000) });
    calls++;
    expect(await $jobs.requeueFailed({ queue: "bad-admin-dedup" })).toEqual({ requeued: 1, skipped: { dedupKeyLive: 1, dedupKeyRequeued: 1 } });
    expect(await app.rows(`SELECT id::text AS id, dedup_key FROM arrower.jobs WHERE queue = 'bad-admin-dedup' ORDER BY id`)).toEqual([
      { id: b, dedup_key: "key-1" },
      { id: live, dedup_key: "key-2" },
    ]);
    await refused(`retry(${a})`, () => $jobs.retry(a!), DuplicateJobError, new RegExp(`^job ${a} cannot run again now: job ${b} in queue "bad-admin-dedup" holds its dedup key "key-1"`));
    await refused(`retry(${c})`, () => $jobs.retry(c!), DuplicateJobError, new RegExp(`^job ${c} cannot run again now: job ${live} in queue "bad-admin-dedup" holds its dedup key "key-2"`));
    calls++;
    expect(await $jobs.requeueFailed({ queue: "bad-admin-dedup" })).toEqual({ requeued: 0, skipped: { dedupKeyLive: 2, dedupKeyRequeued: 0 } });
  });

  it("the table row", async (context) => {
    recordResult(context, {
      order: 10,
      scenario: "Bad admin input: job ids and dedup keys",
      jobs: calls,
      lost: 0,
      duplicated: 0,
      maxRecoveryMs: null,
      notes: `${calls} admin calls: ids that are not ids (InvalidOptionsError) or beyond bigint (not found) to getJob, cancel, retry, deleteJob and the listJobs cursor; requeueFailed and retry of failed jobs whose dedup key is taken (counted as skipped, or DuplicateJobError): nothing written by a refused call, one live job per key; ${failures} failed`,
    });
    expect(failures).toBe(0);
    expect(calls).toBeGreaterThanOrEqual(40);
  });
});

// ---------------------------------------------------------------------------------------------
// Issue 16: enqueue-time input that used to be accepted and then failed at the first attempt,
// came back changed, threw an untyped error, or failed in the database and aborted the caller's
// transaction. Each enqueue case also runs on tx.$jobs inside a transaction that writes a row of
// its own, which must still commit.

const Late = defineJob<unknown>("bad-late");
const deep = (levels: number): unknown => {
  let value: unknown = { at: new Date(0) };
  for (let i = 0; i < levels; i++) value = { child: value };
  return value;
};
class Bytes extends Uint8Array {}

/** [name, job, enqueue options, error, message]: refused by enqueue on the client and on tx. */
type EnqueueCase = [name: string, job: () => Job, options: EnqueueOptions | undefined, error: Ctor, message: RegExp];

const enqueueCases: EnqueueCase[] = [
  ["a Buffer", () => Late({ file: Buffer.from("hi") }), undefined, InvalidPayloadError, /a Buffer would not come back \(superjson cannot decode it\): pass new Uint8Array\(buffer\), or buffer.toString\("base64"\) at file$/],
  ["a DataView", () => Late({ view: new DataView(new ArrayBuffer(2)) }), undefined, InvalidPayloadError, /a DataView would come back as \{\}: pass new Uint8Array\(view.buffer, view.byteOffset, view.byteLength\) at view$/],
  ["a Uint8Array subclass", () => Late({ bytes: new Bytes(1) }), undefined, InvalidPayloadError, /a Bytes would not come back \(superjson knows only the standard typed arrays\)/],
  ["an invalid Date", () => Late({ items: [1, 2, 3, new Date("nope")] }), undefined, InvalidPayloadError, /an invalid Date would come back as null at items\[3\]$/],
  ["a sparse array", () => Late({ list: [1, , 3] }), undefined, InvalidPayloadError, /an array with a hole at index 1 would come back with null there: fill the hole \(with undefined or null\) at list$/],
  ["an array with a named property", () => Late({ rows: Object.assign([1], { total: 1 }) }), undefined, InvalidPayloadError, /an array would lose its property "total" \(arrays keep only their items\): use an object at rows$/],
  ["a Set with a named property", () => Late({ s: Object.assign(new Set([1]), { label: "x" }) }), undefined, InvalidPayloadError, /a Set would lose its property "label" \(only its items are stored\)/],
  ["nesting 5,000 deep", () => Late(deep(5_000)), undefined, InvalidPayloadError, /it is nested more than 1000 levels deep \(objects, arrays, Maps and Sets inside each other\) at child\.child/],
  ["a key named constructor next to a Date", () => Late({ constructor: { d: new Date() } }), undefined, InvalidPayloadError, /a key named "constructor" cannot be stored in a payload that holds a Date.*\(superjson refuses it as a prototype-pollution risk\): rename the key at constructor$/],
  ["a key named __proto__ next to a BigInt", () => Late(JSON.parse('{"__proto__": {"n": 1}, "big": 1}', (k, v) => (k === "big" ? 1n : v))), undefined, InvalidPayloadError, /a key named "__proto__" cannot be stored/],
  ["timeout 2^31 - 1", () => Late(1), { timeout: 2 ** 31 - 1 }, InvalidOptionsError, /enqueue options: timeout must be between 1 and 2073600000 \(24 days\), got 2147483647/],
  ["a dedup key with a lone surrogate", () => Late(1), { dedupKey: "key-\uDE00" }, InvalidOptionsError, /enqueue options: dedupKey "key-\\ude00" contains a lone UTF-16 surrogate .* would store as U\+FFFD, so different keys would collide/],
];

/** Other calls: [name, call, error, message]. */
const configCases: ApiCase[] = [
  ["defineJob with a 25-day timeout", () => defineJob("x", { timeout: 25 * 86_400_000 }), InvalidOptionsError, /timeout must be between 1 and 2073600000 \(24 days\), got 2160000000/],
  ["schedule with a 25-day timeout", (a) => a.prisma.$jobs.schedule("@daily", Late(1), { timeout: 25 * 86_400_000 }), InvalidOptionsError, /schedule options: timeout must be between 1 and 2073600000 \(24 days\)/],
  ["schedule a Buffer payload", (a) => a.prisma.$jobs.schedule("@daily", Late(Buffer.from("x"))), InvalidPayloadError, /a Buffer would not come back/],
  ["a schedule name with a lone surrogate", (a) => a.prisma.$jobs.schedule("@daily", Late(1), { name: "n-\uD800" }), InvalidOptionsError, /schedule options: name "n-\\ud800" contains a lone UTF-16 surrogate/],
  ["a poolName with a lone surrogate", (a) => a.prisma.$jobs.queue("q", { poolName: "p-\uD800" }), InvalidOptionsError, /poolName "p-\\ud800" contains a lone UTF-16 surrogate/],
  ["shutdown({ deadline: 2^31 })", (a) => a.prisma.$jobs.queue("q").shutdown({ deadline: 2 ** 31 }), InvalidOptionsError, /shutdown options: deadline must be between 0 and 86400000, got 2147483648/],
  ["testing queue shutdown({ deadline: 2^31 })", () => createTestingJobs().shutdown({ deadline: 2 ** 31 }), InvalidOptionsError, /shutdown options: deadline must be between 0 and 86400000, got 2147483648/],
  ["testing queue: a Buffer", () => createTestingJobs().enqueue(Late(Buffer.from("x"))), InvalidPayloadError, /a Buffer would not come back/],
  ["jobs() with a 51-character schema", () => jobs({ schema: "s".repeat(51) }), InvalidOptionsError, /schema "s{51}" is 51 characters long, the limit is 50 \(its NOTIFY channel, "arrower_jobs:" and the name, must fit PostgreSQL's 63 bytes\)/],
  ["jobs() with a 63-character schema", () => jobs({ schema: "s".repeat(63) }), InvalidOptionsError, /is 63 characters long, the limit is 50/],
  ["jobs() with maxPayloadBytes 64 MiB", () => jobs({ maxPayloadBytes: 64 * 1024 * 1024 }), InvalidOptionsError, /maxPayloadBytes must be between 1 and 33554432 \(32 MiB\), got 67108864/],
];

describe("bad input at enqueue (issue 16): a typed error, nothing written, the caller's transaction intact", () => {
  let app: TestApp;
  let failures = 0;
  let committed = 0;
  const fingerprint = async () =>
    (await app.rows(`SELECT (SELECT count(*) FROM arrower.jobs)::int AS jobs, (SELECT count(*) FROM arrower.schedules)::int AS schedules,
                            (SELECT count(*) FROM arrower.pools)::int AS pools, (SELECT count(*) FROM arrower.queues)::int AS queues`))[0];

  beforeAll(async () => {
    app = await createFaultApp();
  });
  afterAll(() => app?.close());

  const expectTyped = (error: unknown, type: Ctor, message: RegExp) => {
    expect(error).toBeInstanceOf(type);
    expect(error).toBeInstanceOf(ArrowerJobsError);
    expect((error as ArrowerJobsError).code).toMatch(/^INVALID_(PAYLOAD|OPTIONS)$/);
    expect((error as Error).message).toMatch(message);
  };

  it.each(enqueueCases)("enqueue: %s", async (_name, job, options, type, message) => {
    try {
      const before = await fingerprint();
      expectTyped(await app.prisma.$jobs.enqueue(job(), options).then(() => undefined, (e: unknown) => e), type, message);
      expectTyped(await app.prisma.$jobs.enqueue([Late("fine"), job()], options).then(() => undefined, (e: unknown) => e), type, message);
      expect(await fingerprint()).toEqual(before);
      // On tx.$jobs, among the transaction's own writes: they still commit.
      const email = `${randomUUID()}@example.com`;
      let inTx: unknown;
      await app.prisma.$transaction(async (tx) => {
        await tx.user.create({ data: { email } });
        inTx = await tx.$jobs.enqueue(job(), options).then(() => undefined, (e: unknown) => e);
      });
      expectTyped(inTx, type, message);
      expect(await app.rows(`SELECT 1 FROM "User" WHERE email = $1`, [email])).toHaveLength(1);
      expect(await fingerprint()).toEqual(before);
      committed++;
    } catch (e) {
      failures++;
      throw e;
    }
  });

  it.each(configCases)("API: %s", async (_name, call, type, message) => {
    try {
      const before = await fingerprint();
      expectTyped(await Promise.resolve().then(() => call(app)).then(() => undefined, (e: unknown) => e), type, message);
      expect(await fingerprint()).toEqual(before);
    } catch (e) {
      failures++;
      throw e;
    }
  });

  it("the table row", (context) => {
    const calls = enqueueCases.length * 3 + configCases.length;
    recordResult(context, {
      order: 11,
      scenario: "Bad input at enqueue (payloads, options, names)",
      jobs: calls,
      lost: 0,
      duplicated: 0,
      maxRecoveryMs: null,
      notes: `${enqueueCases.length} bad jobs or options, each on prisma.$jobs, in a batch and on tx.$jobs inside a transaction that also writes a row (${committed} of those transactions committed their row), and ${configCases.length} other calls (schedule, queue, shutdown, defineJob, jobs(), the testing queue): each a typed error naming the value, nothing written; ${failures} failed`,
    });
    expect(failures).toBe(0);
    expect(committed).toBe(enqueueCases.length);
  });
});
