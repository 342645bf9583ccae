/**
 * Poison input: rows written by hand in SQL (payloads superjson cannot decode, job types no
 * pool handles, absurd run_at, a garbage trace context), handlers that throw things that are
 * not Errors or hang past their timeout ignoring the signal, and a poolSize larger than the
 * connections the database grants. Each must end in a clear state with a clear error, and the
 * pool must keep running (and never deadlock at start).
 */
import { PrismaPg } from "@prisma/adapter-pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defineJob, jobs, NotEnoughConnectionsError, silentLogger, type Queue } from "../../src/index.ts";
import { PrismaClient } from "../generated/prisma/client.ts";
import type { TestApp } from "../helpers/app.ts";
import { createFaultApp, effectCounts, waitUntil } from "./support/harness.ts";
import { recordResult } from "./support/results.ts";

const Echo = defineJob<unknown>("poison-echo");
const Thrower = defineJob<{ kind: string }>("poison-thrower");
const Hanger = defineJob<{ how: "promise" | "statement" }>("poison-hanger");

type Tx = { $executeRaw: (q: TemplateStringsArray, ...v: unknown[]) => Promise<number>; $queryRaw: (q: TemplateStringsArray, ...v: unknown[]) => Promise<unknown> };

const THROWN: Record<string, () => unknown> = {
  string: () => "boom",
  number: () => 42,
  null: () => null,
  undefined: () => undefined,
  object: () => ({ code: "E_POISON", nested: { deep: [1, 2, 3] } }),
  symbol: () => Symbol("poison"),
  circular: () => {
    const o: Record<string, unknown> = { name: "circular" };
    o.self = o;
    return o;
  },
  "error without message": () => new Error(),
  "error with \\u0000": () => new Error("nul \u0000 inside"),
};

/** Rows inserted by hand, and what must become of each. */
const ROWS: Array<{ name: string; type: string; payload: string; meta: string | null; runAt: string; trace?: string; expect: "failed-decode" | "succeeded" | "stays" | "no-handler" }> = [
  { name: "meta naming an unknown class", type: "poison-echo", payload: `{"a":1}`, meta: `{"values":{"a":["class","Nope"]}}`, runAt: "now", expect: "failed-decode" },
  { name: "meta: a Set that is a number", type: "poison-echo", payload: `{"a":1}`, meta: `{"values":{"a":["set"]}}`, runAt: "now", expect: "failed-decode" },
  { name: "meta: a BigInt that is not a number", type: "poison-echo", payload: `{"a":"x"}`, meta: `{"values":{"a":["bigint"]}}`, runAt: "now", expect: "failed-decode" },
  { name: "meta: unknown transformation", type: "poison-echo", payload: `{"a":1}`, meta: `{"values":{"a":["nonsense"]}}`, runAt: "now", expect: "failed-decode" },
  { name: "meta that is a string", type: "poison-echo", payload: `{"a":1}`, meta: `{"values":"garbage"}`, runAt: "now", expect: "failed-decode" },
  { name: "unknown job type", type: "no-such-type", payload: `{}`, meta: null, runAt: "now", expect: "no-handler" },
  { name: "unknown job type, far future", type: "no-such-type-either", payload: `{}`, meta: null, runAt: "9999-12-31", expect: "no-handler" },
  { name: "run_at in year 9999", type: "poison-echo", payload: `{"a":1}`, meta: null, runAt: "9999-12-31 23:59:59+00", expect: "stays" },
  { name: "run_at infinity", type: "poison-echo", payload: `{"a":1}`, meta: null, runAt: "infinity", expect: "stays" },
  { name: "run_at 1970", type: "poison-echo", payload: `{"a":1}`, meta: null, runAt: "1970-01-01 00:00:00+00", expect: "succeeded" },
  { name: "run_at -infinity", type: "poison-echo", payload: `{"a":1}`, meta: null, runAt: "-infinity", expect: "succeeded" },
  { name: "run_at year 4713 BC", type: "poison-echo", payload: `{"a":1}`, meta: null, runAt: "4713-01-01 00:00:00+00 BC", expect: "succeeded" },
  { name: "payload null", type: "poison-echo", payload: `null`, meta: null, runAt: "now", expect: "succeeded" },
  { name: "garbage trace context", type: "poison-echo", payload: `{"a":1}`, meta: null, runAt: "now", trace: `{"traceparent":42,"tracestate":["x"]}`, expect: "succeeded" },
  { name: "trace context that is a string", type: "poison-echo", payload: `{"a":1}`, meta: null, runAt: "now", trace: `"00-zz-yy-01"`, expect: "succeeded" },
];

describe("poison input", () => {
  let app: TestApp;
  let queue: Queue;
  const poolErrors: string[] = [];
  beforeAll(async () => {
    app = await createFaultApp();
    queue = app.prisma.$jobs.queue("poison", { poolSize: 2, pollInterval: 200, backoff: { baseDelay: 20, maxDelay: 50 } });
    queue.on("error", (error) => poolErrors.push(error.message));
    await queue.register(Echo, async (_payload, { tx, jobId, attempt, runAt }) => {
      if (!(runAt instanceof Date)) throw new Error(`runAt is not a Date: ${String(runAt)}`);
      await (tx as Tx).$executeRaw`INSERT INTO fault_effect (job_id, pid, attempt) VALUES (${BigInt(jobId)}, ${process.pid}, ${attempt})`;
    });
    await queue.register(Thrower, async ({ kind }) => {
      throw THROWN[kind]!();
    });
    await queue.register(Hanger, async ({ how }, { tx }) => {
      // Ignores its signal on purpose.
      if (how === "promise") await new Promise(() => undefined);
      else await (tx as Tx).$queryRaw`SELECT pg_sleep(30)`;
    });
    await queue.start();
  });
  afterAll(async () => {
    await queue?.shutdown({ deadline: 1_000 });
    await app?.close();
  });

  it("undecodable rows, unknown types, absurd run_at, non-Error throws, hung handlers: each ends clearly, the pool keeps running", async (context) => {
    const inserted = new Map<string, (typeof ROWS)[number]>();
    for (const row of ROWS) {
      const [{ id }] = (await app.rows<{ id: string }>(
        `INSERT INTO arrower.jobs (queue, type, payload, payload_meta, run_at, max_attempts, trace_context)
         VALUES ('poison', $1, $2::jsonb, $3::jsonb, CASE WHEN $4 = 'now' THEN clock_timestamp() ELSE $4::timestamptz END, 3, $5::jsonb)
         RETURNING id::text AS id`,
        [row.type, row.payload, row.meta, row.runAt, row.trace ?? null],
      )) as [{ id: string }];
      inserted.set(id, row);
    }
    const throwers = new Map<string, string>();
    for (const kind of Object.keys(THROWN)) throwers.set(await app.prisma.$jobs.enqueue(Thrower({ kind }), { queue: "poison", maxAttempts: 1 }), kind);
    const hangers = await app.prisma.$jobs.enqueue([Hanger({ how: "promise" }), Hanger({ how: "statement" })], { queue: "poison", maxAttempts: 1, timeout: 300 });

    const finishing = [...inserted].filter(([, r]) => r.expect === "failed-decode" || r.expect === "succeeded").map(([id]) => id);
    const expected = [...finishing, ...throwers.keys(), ...hangers];
    const started = Date.now();
    await waitUntil(async () => (await app.count("job_history", "id = ANY($1::bigint[])", [expected])) === expected.length, 60_000, "every poison job to finish");
    const settledMs = Date.now() - started;
    // The pool still runs: a plain job enqueued now succeeds.
    const late = await app.prisma.$jobs.enqueue(Echo({ fine: true }), { queue: "poison" });
    await waitUntil(async () => (await app.count("job_history", "id = $1 AND state = 'succeeded'", [late])) === 1, 10_000, "a job enqueued afterwards");

    const history = new Map(
      (await app.rows<{ id: string; state: string; attempts: number; last_error: string | null }>(`SELECT id::text, state, attempts, last_error FROM arrower.job_history`)).map((r) => [r.id, r]),
    );
    const live = new Map((await app.rows<{ id: string; attempts: number }>(`SELECT id::text, attempts FROM arrower.jobs`)).map((r) => [r.id, r]));
    const stats = (await app.prisma.$jobs.stats()).find((s) => s.queue === "poison");
    const succeeded = [...[...inserted].filter(([, r]) => r.expect === "succeeded").map(([id]) => id), late];
    const effects = await effectCounts(app, succeeded);
    // The admin API reads an undecodable row without throwing.
    const undecodable = [...inserted].find(([, r]) => r.expect === "failed-decode")![0];
    const details = await app.prisma.$jobs.getJob(undecodable);
    recordResult(context, {
      order: 8,
      scenario: "Poison input",
      jobs: inserted.size + throwers.size + hangers.length + 1,
      lost: effects.lost,
      duplicated: effects.duplicated,
      maxRecoveryMs: null,
      notes: `${ROWS.length} rows inserted by SQL (5 undecodable payloads → failed at once "payload cannot be decoded"; 2 unknown types → stay queued, "no handler" in stats; run_at 9999/infinity → stay scheduled; 1970/-infinity/4713 BC, null payload, garbage trace context → succeeded); ${throwers.size} non-Error throws (string, number, null, undefined, object, symbol, circular, …) → failed with "non-Error thrown: …"; 2 handlers hung past a 300 ms timeout ignoring the signal → failed "timed out" (connection cut); all settled in ${(settledMs / 1000).toFixed(1)} s; pool errors: ${poolErrors.length}`,
    });

    for (const [id, row] of inserted) {
      const h = history.get(id);
      if (row.expect === "failed-decode") {
        expect(h, row.name).toMatchObject({ state: "failed", attempts: 1 });
        expect(h!.last_error!.split("\n", 1)[0], row.name).toMatch(/^payload cannot be decoded: /);
      } else if (row.expect === "succeeded") {
        expect(h, row.name).toMatchObject({ state: "succeeded", attempts: 1 });
      } else {
        expect(h, row.name).toBeUndefined();
        expect(live.get(id), row.name).toMatchObject({ attempts: 0 });
      }
    }
    for (const [id, kind] of throwers) {
      expect(history.get(id), kind).toMatchObject({ state: "failed", attempts: 1 });
      expect(history.get(id)!.last_error, kind).toMatch(kind.startsWith("error") ? /^Error/ : /^non-Error thrown: /);
    }
    for (const id of hangers) {
      expect(history.get(id)).toMatchObject({ state: "failed", attempts: 1 });
      expect(history.get(id)!.last_error).toMatch(/^JobTimeoutError: job timed out after 300 ms/);
    }
    expect(stats).toMatchObject({ noHandler: 2, queued: 4, scheduled: 3 });
    expect(details?.state).toBe("failed");
    expect(effects).toEqual({ lost: 0, duplicated: 0, strays: 0 });
    expect(poolErrors).toEqual([]);
  });

  it("a poolSize larger than the connections available: start fails at once saying how many it needs, and leaks none", async () => {
    const database = new URL(app.url).pathname.slice(1);
    await app.rows(`CREATE ROLE poison_limited LOGIN PASSWORD 'limited' CONNECTION LIMIT 3`);
    await app.rows(`GRANT ALL ON DATABASE "${database}" TO poison_limited`);
    await app.rows(`GRANT ALL ON SCHEMA arrower, public TO poison_limited`);
    await app.rows(`GRANT ALL ON ALL TABLES IN SCHEMA arrower, public TO poison_limited`);
    await app.rows(`GRANT ALL ON ALL SEQUENCES IN SCHEMA arrower TO poison_limited`);
    const url = new URL(app.url);
    url.username = "poison_limited";
    url.password = "limited";
    const limited = new PrismaClient({ adapter: new PrismaPg({ connectionString: url.toString(), max: 1 }) }).$extends(jobs({ logger: silentLogger }));
    try {
      const big = limited.$jobs.queue("poison-big", { poolSize: 5 });
      await big.register(Echo, async () => undefined);
      const started = Date.now();
      const error = await big.start().then(() => undefined, (e: unknown) => e as Error);
      const tookMs = Date.now() - started;
      expect(error).toBeInstanceOf(NotEnoughConnectionsError);
      expect(error!.message).toMatch(/^queue "poison-big" needs 6 database connections \(poolSize plus one for LISTEN\) but could open only 3: lower poolSize or raise the server's max_connections/);
      expect(tookMs).toBeLessThan(10_000);
      await waitUntil(async () => (await connectionsOf("poison_limited")) === 0, 5_000, "the failed start to close its connections");
      // shutdown after a failed start is safe, and a pool that fits starts and runs.
      await big.shutdown();
      const small = limited.$jobs.queue("poison-small", { poolSize: 2 });
      await small.register(Echo, async (_p, { tx, jobId, attempt }) => {
        await (tx as Tx).$executeRaw`INSERT INTO fault_effect (job_id, pid, attempt) VALUES (${BigInt(jobId)}, ${process.pid}, ${attempt})`;
      });
      await small.start();
      // (enqueued with the main client: the limited role's 3 connections are the pool's)
      const id = await app.prisma.$jobs.enqueue(Echo({ ok: 1 }), { queue: "poison-small" });
      await waitUntil(async () => (await app.count("job_history", "id = $1 AND state = 'succeeded'", [id])) === 1, 10_000, "the small pool's job");
      await small.shutdown();
    } finally {
      await limited.$disconnect();
    }
  });

  async function connectionsOf(role: string): Promise<number> {
    const [row] = await app.rows<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1`, [role]);
    return row!.n;
  }
});
