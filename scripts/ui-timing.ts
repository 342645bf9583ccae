/**
 * Times every page of the admin UI against a large history: creates a fresh database on the
 * given server, fills `job_history` with 1,000,000 finished jobs (one INSERT … SELECT over
 * generate_series), adds live jobs, attempts, pools and schedules, then renders each page
 * through the fetch handler (query + render, no network) and prints the median of 5 runs.
 * The target is < 300 ms per page. The database is dropped at the end.
 *
 *   npx tsx scripts/ui-timing.ts [--database-url postgresql://postgres@127.0.0.1:5432/test]
 *                                [--rows 1000000] [--runs 5] [--type-index] [--keep]
 *
 * `--type-index` also creates an index on job_history (queue, type, state, id) first, to show
 * what it buys for lists filtered by a rare job type (the one page that reads many rows
 * without it).
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import pg from "pg";
import { Engine, resolveJobsOptions } from "../src/engine.ts";
import { createAdminHandler } from "../src/admin/ui/app.ts";
import { scheduleJob } from "../src/cron/schedules.ts";
import { queryableOf } from "../src/postgres/migrations.ts";
import { defineJob } from "../src/job.ts";
import { silentLogger } from "../src/logger.ts";

const { values: flags } = parseArgs({
  options: {
    "database-url": { type: "string", default: process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test" },
    rows: { type: "string", default: "1000000" },
    runs: { type: "string", default: "5" },
    "type-index": { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
  },
});
const ROWS = Number(flags.rows);
const RUNS = Number(flags.runs);
const TARGET_MS = 300;

async function adminClient(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    return client;
  } catch (error) {
    if ((error as { code?: string }).code !== "3D000") throw error;
    const fallback = new URL(url);
    fallback.pathname = "/postgres";
    const other = new pg.Client({ connectionString: fallback.toString() });
    await other.connect();
    return other;
  }
}

const serverUrl = flags["database-url"]!;
const dbName = `arrower_ui_timing_${randomBytes(4).toString("hex")}`;
const admin = await adminClient(serverUrl);
await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(dbName)}`);
const dbUrl = new URL(serverUrl);
dbUrl.pathname = `/${dbName}`;
console.log(`database ${dbName} on ${dbUrl.host}`);

const engine = new Engine(resolveJobsOptions({ connectionString: dbUrl.toString(), logger: silentLogger }), undefined);
const db = new pg.Client({ connectionString: dbUrl.toString() });
await db.connect();

try {
  await engine.migrate();
  const fillStarted = Date.now();
  // --- history: ROWS finished jobs over the last 7 days ------------------------------------------
  // Queues: default 60 %, mail 25 %, reports 10 %, maintenance 5 %. States: 95 % succeeded,
  // 4 % failed, 1 % cancelled. Ten jobs of a rare type, for the filtered-list worst case.
  await db.query(
    `INSERT INTO arrower.job_history (id, queue, type, payload, priority, run_at, created_at, state, attempts,
                                      max_attempts, timeout_ms, last_error, started_at, finished_at, pool, trace_id)
     SELECT i,
            q.queue,
            CASE WHEN i % 100000 = 7 THEN 'rare-type'
                 WHEN q.queue = 'default' THEN (ARRAY['send-welcome', 'sync-crm'])[1 + i % 2]
                 WHEN q.queue = 'mail' THEN CASE WHEN (i / 7) % 10 = 0 THEN 'bounce' ELSE 'send-mail' END
                 WHEN q.queue = 'reports' THEN 'build-report' ELSE 'cleanup' END,
            jsonb_build_object('userId', i, 'email', 'user' || i || '@example.com', 'note', '<b>html</b>'),
            0, f.at - interval '2 seconds', f.at - interval '3 seconds', s.state,
            CASE WHEN s.state = 'failed' THEN 25 ELSE 1 END, 25, 30000,
            CASE WHEN s.state = 'failed' THEN E'Error: upstream 503 for job ' || i || E'\\n    at handler (/app/src/jobs.ts:42:11)\\n    at run (/app/node_modules/arrower-jobs/dist/worker/executor.js:88:9)' END,
            f.at - interval '40 milliseconds', f.at, 'web-1:' || (i % 4), NULL
     FROM generate_series(1, $1::int) AS i
     CROSS JOIN LATERAL (SELECT CASE WHEN i % 20 < 12 THEN 'default' WHEN i % 20 < 17 THEN 'mail'
                                     WHEN i % 20 < 19 THEN 'reports' ELSE 'maintenance' END AS queue) q
     CROSS JOIN LATERAL (SELECT CASE WHEN (i / 20) % 100 < 95 THEN 'succeeded' WHEN (i / 20) % 100 < 99 THEN 'failed'
                                     ELSE 'cancelled' END AS state) s
     CROSS JOIN LATERAL (SELECT now() - (($1::int - i)::float8 / $1::int) * interval '7 days' AS at) f`,
    [ROWS],
  );
  // Earlier attempts of failed jobs: three each for a quarter of them.
  await db.query(
    `INSERT INTO arrower.attempts (job_id, attempt, outcome, error, started_at, finished_at, pool)
     SELECT h.id, a, 'failed', 'Error: upstream 503 (attempt ' || a || ')', h.finished_at - interval '1 hour', h.finished_at - interval '59 minutes', 'web-1:0'
     FROM arrower.job_history h CROSS JOIN generate_series(1, 3) AS a
     WHERE h.state = 'failed' AND (h.id / 20) % 100 = 95`,
  );
  await db.query(`SELECT setval('arrower.job_id_seq', $1::bigint)`, [ROWS + 1]);
  // --- live jobs: 5,000 due, 4,000 scheduled, 1,000 retrying --------------------------------------
  await db.query(
    `INSERT INTO arrower.jobs (queue, type, payload, run_at, attempts, last_error)
     SELECT CASE WHEN i % 4 = 0 THEN 'mail' ELSE 'default' END,
            CASE WHEN i % 4 = 0 THEN 'send-mail' ELSE 'send-welcome' END,
            jsonb_build_object('userId', i),
            CASE WHEN i <= 5000 THEN now() - interval '1 second' ELSE now() + (i || ' seconds')::interval END,
            CASE WHEN i > 9000 THEN 2 ELSE 0 END,
            CASE WHEN i > 9000 THEN 'Error: timeout' END
     FROM generate_series(1, 10000) AS i`,
  );
  // --- pools and schedules --------------------------------------------------------------------------
  await db.query(
    `INSERT INTO arrower.pools (name, queue, job_types, size, running, host, pid)
     SELECT 'web-' || n || ':' || (1000 + n), q, CASE q WHEN 'default' THEN ARRAY['send-welcome', 'sync-crm']
              WHEN 'mail' THEN ARRAY['send-mail', 'bounce'] ELSE ARRAY['build-report', 'cleanup'] END, 10, n % 3, 'web-' || n, 1000 + n
     FROM generate_series(1, 4) AS n CROSS JOIN unnest(ARRAY['default', 'mail', 'reports']) AS q`,
  );
  const Report = defineJob<{ kind: string }>("build-report");
  const queryable = queryableOf(engine.pool());
  for (let n = 0; n < 20; n++) {
    await scheduleJob(engine, queryable, n % 2 === 0 ? "0 4 * * *" : `@every ${n + 1}m`, Report({ kind: `report-${n}` }), { name: `report-${n}`, queue: "reports" });
  }
  if (flags["type-index"]) {
    await db.query(`CREATE INDEX job_history_type_state ON arrower.job_history (queue, type, state, id DESC)`);
  }
  await db.query("VACUUM ANALYZE");
  const { rows: size } = await db.query<{ history: string; live: number }>(
    `SELECT pg_size_pretty(pg_total_relation_size('arrower.job_history')) AS history, (SELECT count(*)::int FROM arrower.jobs) AS live`,
  );
  console.log(`filled ${ROWS.toLocaleString("en")} history rows (${size[0]!.history} with indexes) and ${size[0]!.live} live jobs in ${((Date.now() - fillStarted) / 1000).toFixed(1)} s${flags["type-index"] ? ", with the (queue, type, state, id) index" : ""}`);

  // --- pages ------------------------------------------------------------------------------------------
  const { rows: picks } = await db.query<{ failed: string; deep: string }>(
    `SELECT (SELECT id::text FROM arrower.job_history WHERE state = 'failed' AND (id / 20) % 100 = 95 ORDER BY id DESC LIMIT 1) AS failed,
            (SELECT id::text FROM arrower.job_history WHERE queue = 'default' AND state = 'succeeded' ORDER BY id LIMIT 1 OFFSET 1000) AS deep`,
  );
  const handler = createAdminHandler(engine);
  const pages: Array<[string, string]> = [
    ["overview", "/"],
    ["queue (due jobs)", "/queues/default"],
    ["queue, succeeded", "/queues/default?state=succeeded"],
    ["queue, succeeded, deep cursor (oldest page)", `/queues/default?state=succeeded&cursor=${picks[0]!.deep}`],
    ["queue, failed", "/queues/default?state=failed"],
    ["queue, succeeded, type filter (common)", "/queues/mail?state=succeeded&type=bounce"],
    ["queue, succeeded, type filter (10 rows in 1M)", "/queues/default?state=succeeded&type=rare-type"],
    ["job detail (failed, 4 attempts)", `/jobs/${picks[0]!.failed}`],
    ["failed jobs", "/failed"],
    ["failed jobs of one type", "/failed?queue=mail&type=send-mail"],
    ["schedules", "/schedules"],
    ["workers", "/workers"],
    ["/api/stats (auto-refresh)", "/api/stats"],
  ];
  const results: Array<{ page: string; path: string; status: number; median: number; min: number; max: number; bytes: number }> = [];
  for (const [page, path] of pages) {
    const times: number[] = [];
    let status = 0;
    let bytes = 0;
    for (let run = 0; run <= RUNS; run++) {
      const t0 = performance.now();
      const response = await handler(new Request(`http://127.0.0.1:4100${path}`, { headers: { accept: "text/html" } }));
      const body = await response.text();
      const ms = performance.now() - t0;
      status = response.status;
      bytes = body.length;
      if (run > 0) times.push(ms); // run 0 warms up
    }
    times.sort((a, b) => a - b);
    results.push({ page, path, status, median: times[Math.floor(times.length / 2)]!, min: times[0]!, max: times.at(-1)!, bytes });
  }

  const width = Math.max(...results.map((r) => r.page.length));
  console.log(`\nmedian of ${RUNS} runs after one warm-up; target < ${TARGET_MS} ms\n`);
  console.log(`${"page".padEnd(width)}  status  median ms  min ms  max ms    bytes  ok`);
  for (const r of results) {
    console.log(
      `${r.page.padEnd(width)}  ${String(r.status).padStart(6)}  ${r.median.toFixed(1).padStart(9)}  ${r.min.toFixed(1).padStart(6)}  ${r.max.toFixed(1).padStart(6)}  ${String(r.bytes).padStart(7)}  ${r.median < TARGET_MS && r.status === 200 ? "yes" : "NO"}`,
    );
  }
  const slow = results.filter((r) => r.median >= TARGET_MS || r.status !== 200);
  console.log(slow.length === 0 ? `\nevery page under ${TARGET_MS} ms` : `\n${slow.length} page(s) over ${TARGET_MS} ms or failing: ${slow.map((r) => r.page).join(", ")}`);
  process.exitCode = slow.length === 0 ? 0 : 1;
} finally {
  await db.end().catch(() => undefined);
  await engine.close().catch(() => undefined);
  if (flags.keep) {
    console.log(`kept ${dbName} (--keep): drop it with DROP DATABASE ${dbName}`);
  } else {
    await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(dbName)} WITH (FORCE)`);
    console.log(`dropped ${dbName}`);
  }
  await admin.end();
}
