/**
 * Sessions killed by the server: `statement_timeout` and `idle_in_transaction_session_timeout`
 * set low on the database (ALTER DATABASE … SET), with handlers that exceed them on their first
 * attempt — a long statement, and a long wait on something other than the database while the
 * job's transaction sits idle. Expected: each such attempt ends as a failed attempt whose error
 * names the setting, its writes rolled back; the job is retried and succeeds; the pool keeps
 * running the other jobs throughout.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engineOf, type JobsClient } from "../../src/client.ts";
import { defineJob, type Queue } from "../../src/index.ts";
import type { TestApp } from "../helpers/app.ts";
import { createFaultApp, effectCounts, sleep, waitUntil } from "./support/harness.ts";
import { recordResult } from "./support/results.ts";

const LIMIT = "400ms";
const StatementHog = defineJob<{ seconds: number }>("statement-hog");
const IdleHog = defineJob<{ ms: number }>("idle-hog");
const Quick = defineJob<Record<string, never>>("quick");

type Tx = { $executeRaw: (q: TemplateStringsArray, ...v: unknown[]) => Promise<number>; $queryRaw: (q: TemplateStringsArray, ...v: unknown[]) => Promise<unknown> };
const effect = (tx: Tx, jobId: string, attempt: number) =>
  tx.$executeRaw`INSERT INTO fault_effect (job_id, pid, attempt) VALUES (${BigInt(jobId)}, ${process.pid}, ${attempt})`;

describe("sessions killed by the server", () => {
  let app: TestApp;
  let queue: Queue;
  /** Attempts another slot found (and recorded as crashed) before the dying slot recorded them. */
  let placeholders = 0;
  beforeAll(async () => {
    app = await createFaultApp();
    const database = new URL(app.url).pathname.slice(1);
    // New sessions get the limits: set them before the pool opens its connections.
    await app.rows(`ALTER DATABASE "${database}" SET statement_timeout = '${LIMIT}'`);
    await app.rows(`ALTER DATABASE "${database}" SET idle_in_transaction_session_timeout = '${LIMIT}'`);
    queue = app.prisma.$jobs.queue("limits", { poolSize: 3, pollInterval: 50, backoff: { baseDelay: 50, maxDelay: 100, jitter: 0 } });
    await queue.register(StatementHog, async ({ seconds }, { tx, jobId, attempt }) => {
      await effect(tx as Tx, jobId, attempt);
      if (attempt === 1) await (tx as Tx).$queryRaw`SELECT pg_sleep(${seconds})`;
    });
    await queue.register(IdleHog, async ({ ms }, { tx, jobId, attempt }) => {
      await effect(tx as Tx, jobId, attempt);
      // Not the database: the transaction sits idle meanwhile (and the signal is ignored).
      if (attempt === 1) await sleep(ms);
    });
    await queue.register(Quick, async (_payload, { tx, jobId, attempt }) => {
      await effect(tx as Tx, jobId, attempt);
    });
    queue.on("crashed", () => placeholders++);
    await queue.start();
  });
  afterAll(async () => {
    await queue?.shutdown();
    await app?.close();
  });

  it(`statement_timeout and idle_in_transaction_session_timeout (${LIMIT}): failed attempts naming the setting, then retried`, async (context) => {
    // Busy slots around the hogs: when the server ends a hog's session its row lock goes at once,
    // and another slot often claims the job before the dying slot has recorded why (seen as a
    // "crashed" placeholder first); history must end with the real reason either way.
    const statementHogs = await app.prisma.$jobs.enqueue([1, 2, 3].map(() => StatementHog({ seconds: 2 })), { queue: "limits", timeout: 10_000 });
    const idleHogs = await app.prisma.$jobs.enqueue([1, 2, 3, 4, 5, 6].map(() => IdleHog({ ms: 1_500 })), { queue: "limits", timeout: 10_000 });
    const quick = await app.prisma.$jobs.enqueue(Array.from({ length: 40 }, () => Quick({})), { queue: "limits" });
    const all = [...statementHogs, ...idleHogs, ...quick];
    await waitUntil(async () => (await app.count("job_history")) === all.length, 60_000, "every job in history");
    // The pool is still running: a job enqueued now runs.
    const [late] = await app.prisma.$jobs.enqueue([Quick({})], { queue: "limits" });
    await waitUntil(async () => (await app.count("job_history", "id = $1", [late])) === 1, 10_000, "a job enqueued afterwards");

    const effects = await effectCounts(app, [...all, late!]);
    const attempts = await app.rows<{ job_id: string; attempt: number; outcome: string; error: string; recovery_ms: number }>(
      `SELECT a.job_id::text, a.attempt, a.outcome, a.error,
              extract(epoch FROM h.finished_at - a.finished_at) * 1000 AS recovery_ms
       FROM arrower.attempts a JOIN arrower.job_history h ON h.id = a.job_id ORDER BY a.job_id`,
    );
    const history = await app.rows<{ id: string; state: string; attempts: number }>(`SELECT id::text, state, attempts FROM arrower.job_history ORDER BY id`);
    const effectAttempts = await app.rows<{ job_id: string; attempt: number }>(`SELECT job_id::text, attempt FROM fault_effect WHERE job_id = ANY($1::bigint[])`, [[...statementHogs, ...idleHogs]]);
    const hogs = new Set([...statementHogs, ...idleHogs]);
    recordResult(context, {
      order: 3,
      scenario: "Sessions killed by the server (statement_timeout, idle_in_transaction_session_timeout)",
      jobs: all.length + 1,
      lost: effects.lost,
      duplicated: effects.duplicated,
      maxRecoveryMs: attempts.length > 0 ? Math.max(...attempts.map((a) => Number(a.recovery_ms))) : null,
      notes: `both set to ${LIMIT} on the database; ${statementHogs.length} jobs ran a 2 s statement and ${idleHogs.length} left their transaction idle for 1.5 s on attempt 1: each recorded as a failed attempt naming the setting, writes rolled back, succeeded on attempt 2 (${placeholders} first taken by another slot as "crashed", then corrected); ${quick.length + 1} other jobs ran alongside; recovery: failure recorded → retry committed (backoff 50 ms)`,
    });

    expect(effects).toEqual({ lost: 0, duplicated: 0, strays: 0 });
    expect(history.every((h) => h.state === "succeeded")).toBe(true);
    for (const h of history) expect(h.attempts, `job ${h.id}`).toBe(hogs.has(h.id) ? 2 : 1);
    // Attempt 1's writes were rolled back with it: the only effect is attempt 2's.
    expect(effectAttempts.every((e) => e.attempt === 2)).toBe(true);
    expect(attempts.map((a) => [a.job_id, a.attempt, a.outcome])).toEqual([...statementHogs, ...idleHogs].sort((a, b) => Number(a) - Number(b)).map((id) => [id, 1, "failed"]));
    for (const a of attempts) {
      const setting = statementHogs.includes(a.job_id) ? "statement_timeout" : "idle_in_transaction_session_timeout";
      expect(a.error.split("\n", 1)[0], `job ${a.job_id}`).toMatch(new RegExp(`^${setting}: PostgreSQL .* ${setting} setting; raise it`));
    }
  });

  it("a maintenance transaction (pruner, admin) whose session the server ends fails; the process does not crash", async () => {
    // The pruner holds an advisory lock in an idle transaction while it deletes on another
    // connection; killed by idle_in_transaction_session_timeout, its client used to emit an
    // unhandled 'error' and take the worker process down.
    const engine = engineOf(app.prisma.$jobs as unknown as JobsClient<unknown>);
    const failure = await engine
      .transaction(async (client) => {
        await sleep(1_000);
        await client.query("SELECT 1");
      })
      .then(() => undefined, (error: unknown) => error as Error);
    expect(failure?.message).toMatch(/terminat|not queryable|Connection/i);
    // Its pool dropped the dead connection: the next transaction works.
    await expect(engine.transaction(async (client) => (await client.query("SELECT 1 AS one")).rows)).resolves.toEqual([{ one: 1 }]);
  });
});
