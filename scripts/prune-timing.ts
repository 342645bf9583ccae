/**
 * Prunes a large history while a worker pool processes a stream of jobs, and says what the
 * pruning costs the workers (issue 10: "pruning 1,000,000 history rows runs in batches without
 * blocking workers; throughput during pruning stated"). Also measures the disk cost of history.
 *
 *   npx tsx scripts/prune-timing.ts [--database-url postgresql://postgres@127.0.0.1:5432/test]
 *                                   [--rows 1000000] [--baseline 10] [--pool-size 4] [--keep]
 *
 * 1. creates a scratch database on the server (`DATABASE_URL` or --database-url) and migrates it;
 * 2. runs one real job, then copies its history row `--rows` times with one INSERT … SELECT over
 *    generate_series, 8 days old (so the default retention prunes all of them), and measures
 *    job_history's size per million rows (table, indexes, total) after VACUUM ANALYZE;
 * 3. starts a pool (`--pool-size`) on a backlog of no-op jobs that a producer keeps above
 *    10,000, and records every handler start and every commit;
 * 4. after `--baseline` seconds, runs `prisma.$jobs.prune()` (defaults: batches of 1,000) and
 *    times each batch statement; then 5 more seconds of work alone;
 * 5. prints per window the jobs committed per second, the longest gap between two handler
 *    starts (with a backlog, a gap is time in which no worker could claim) and what autovacuum
 *    worked on meanwhile, then drops the database.
 *
 * Uses the test app's generated Prisma client (test/generated/prisma: the test setup makes it,
 * or `npx prisma generate`).
 *
 * The pool's own background pruner would race the measured prune (its first round comes at a
 * random moment in its first minute): the script holds the pruner's advisory lock, as another
 * process's round would, so the only prune is the measured one.
 */
import { randomBytes } from "node:crypto";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import pg from "pg";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "../test/generated/prisma/client.ts";
import { defineJob, jobs, silentLogger } from "../src/index.ts";
import { engineOf, type JobsClient } from "../src/client.ts";

const { values: flags } = parseArgs({
  options: {
    "database-url": { type: "string", default: process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test" },
    rows: { type: "string", default: "1000000" },
    baseline: { type: "string", default: "10" },
    "pool-size": { type: "string", default: "4" },
    keep: { type: "boolean", default: false },
  },
});
const ROWS = Number(flags.rows);
const BASELINE_MS = Number(flags.baseline) * 1000;
const POOL_SIZE = Number(flags["pool-size"]);
const WARMUP_MS = 3_000;
const AFTER_MS = 5_000;
const BACKLOG = 10_000;
const REFILL = 5_000;

const SendWelcome = defineJob<{ userId: number; at: Date }>("send-welcome");

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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const ms = (value: number) => `${value.toFixed(0)} ms`;

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))]!;
}

const serverUrl = flags["database-url"]!;
const dbName = `arrower_prune_timing_${randomBytes(4).toString("hex")}`;
const admin = await adminClient(serverUrl);
await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(dbName)}`);
const dbUrl = new URL(serverUrl);
dbUrl.pathname = `/${dbName}`;
console.log(`database ${dbName} on ${dbUrl.host}`);

const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: dbUrl.toString() }) }).$extends(jobs({ logger: silentLogger }));
const engine = engineOf(prisma.$jobs as unknown as JobsClient<unknown>);
const db = new pg.Client({ connectionString: dbUrl.toString() });
const lockHolder = new pg.Client({ connectionString: dbUrl.toString() });
let stopProducer = false;

try {
  await db.connect();
  await lockHolder.connect();
  await prisma.$jobs.migrate();
  await lockHolder.query("BEGIN");
  const { rows: locked } = await lockHolder.query<{ locked: boolean }>(engine.queries.pruneLock);
  if (locked[0]?.locked !== true) throw new Error("could not take the pruner's lock");

  // --- history: one real job's row, copied ROWS times, 8 days old --------------------------------------
  const fillStarted = Date.now();
  const once = prisma.$jobs.queue("default", { poolSize: 1 });
  let ran = false;
  once.on("succeeded", () => (ran = true));
  await once.register(SendWelcome, async () => undefined);
  await once.start();
  await prisma.$jobs.enqueue(SendWelcome({ userId: 1, at: new Date() }));
  while (!ran) await sleep(10);
  await once.shutdown();
  const template = (await db.query<{ id: string }>(`SELECT id::text AS id FROM arrower.job_history`)).rows[0]!.id;
  await db.query(
    `INSERT INTO arrower.job_history (id, queue, type, payload, payload_meta, priority, run_at, created_at, state, attempts,
                                      max_attempts, timeout_ms, dedup_key, last_error, schedule_id, tick_at, trace_context,
                                      started_at, finished_at, pool, trace_id)
     SELECT nextval('arrower.job_id_seq'), t.queue, t.type, jsonb_set(t.payload, '{userId}', to_jsonb(i)), t.payload_meta, t.priority,
            t.run_at - d.age, t.created_at - d.age, t.state, t.attempts, t.max_attempts, t.timeout_ms, t.dedup_key, t.last_error,
            t.schedule_id, t.tick_at, t.trace_context, t.started_at - d.age, t.finished_at - d.age, t.pool, t.trace_id
     FROM arrower.job_history t
     CROSS JOIN generate_series(1, $2::int) AS i
     CROSS JOIN LATERAL (SELECT interval '8 days' + ($2::int - i) * interval '1 millisecond' AS age) d
     WHERE t.id = $1::bigint`,
    [template, ROWS],
  );
  await db.query(`DELETE FROM arrower.job_history WHERE id = $1::bigint`, [template]);
  await db.query(`VACUUM ANALYZE arrower.job_history`);
  const size = async () =>
    (
      await db.query<{ total: string; table: string; indexes: string; n: number }>(
        `SELECT pg_total_relation_size('arrower.job_history') AS total, pg_table_size('arrower.job_history') AS table,
                pg_indexes_size('arrower.job_history') AS indexes, (SELECT count(*)::int FROM arrower.job_history) AS n`,
      )
    ).rows[0]!;
  const filled = await size();
  const perMillion = (bytes: string) => (Number(bytes) / filled.n) * 1_000_000;
  console.log(`filled ${filled.n.toLocaleString("en")} history rows in ${((Date.now() - fillStarted) / 1000).toFixed(1)} s: ${mb(Number(filled.total))} (table ${mb(Number(filled.table))}, indexes ${mb(Number(filled.indexes))})`);
  const { rows: widths } = await db.query<{ row: number; payload: number }>(
    `SELECT avg(pg_column_size(h.*))::int AS row, avg(pg_column_size(h.payload))::int AS payload FROM (SELECT * FROM arrower.job_history LIMIT 1000) h`,
  );

  // --- the stream ----------------------------------------------------------------------------------
  let enqueued = 0;
  let committed = 0;
  const producer = (async () => {
    while (!stopProducer) {
      if (enqueued - committed < BACKLOG) {
        const at = new Date();
        await prisma.$jobs.enqueue(Array.from({ length: REFILL }, (_, n) => SendWelcome({ userId: enqueued + n, at })));
        enqueued += REFILL;
      } else {
        await sleep(50);
      }
    }
  })();
  while (enqueued < BACKLOG) await sleep(10);
  // No-op jobs; every handler start and every commit recorded.
  const starts: number[] = [];
  const commits: number[] = [];
  const queue = prisma.$jobs.queue("default", { poolSize: POOL_SIZE, pollInterval: 1_000 });
  queue.on("succeeded", () => {
    commits.push(performance.now());
    committed++;
  });
  await queue.register(SendWelcome, async () => {
    starts.push(performance.now());
  });
  await queue.start();
  await sleep(WARMUP_MS);

  // --- baseline, prune, after ----------------------------------------------------------------------
  // What autovacuum works on meanwhile (it shares the machine with the workers).
  const vacuums: Array<{ t: number; tables: string[] }> = [];
  const watcher = new pg.Client({ connectionString: dbUrl.toString() });
  await watcher.connect();
  const watch = setInterval(() => {
    const t = performance.now();
    void watcher
      .query<{ query: string }>(`SELECT query FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' AND datname = current_database()`)
      .then(({ rows }) => vacuums.push({ t, tables: rows.map((r) => r.query.replace(/^autovacuum: /, "")) }), () => undefined);
  }, 250);
  const loads = [loadavg()[0]!];
  const t0 = performance.now();
  await sleep(BASELINE_MS);
  loads.push(loadavg()[0]!);
  // Times each batch statement of prune() (they run on the engine's small pool).
  const batches: Array<{ state: string; rows: number; ms: number }> = [];
  const pool = engine.pool();
  const query = pool.query.bind(pool) as (text: string, values?: unknown[]) => Promise<pg.QueryResult<{ n: number }>>;
  (pool as unknown as { query: typeof query }).query = async (text: string, values?: unknown[]) => {
    if (text !== engine.queries.prune) return query(text, values);
    const started = performance.now();
    const result = await query(text, values);
    batches.push({ state: String(values?.[0]), rows: result.rows[0]?.n ?? 0, ms: performance.now() - started });
    return result;
  };
  const t1 = performance.now();
  const pruned = await prisma.$jobs.prune();
  const t2 = performance.now();
  loads.push(loadavg()[0]!);
  await sleep(AFTER_MS);
  const t3 = performance.now();
  loads.push(loadavg()[0]!);
  clearInterval(watch);
  stopProducer = true;
  await producer;
  await queue.shutdown();
  await watcher.end();
  const afterPrune = await size();

  // --- report ----------------------------------------------------------------------------------------
  const window = (from: number, to: number) => {
    const n = commits.filter((t) => t >= from && t < to).length;
    // Gaps between consecutive handler starts inside the window (and from its edges).
    const inside = [from, ...starts.filter((t) => t >= from && t < to), to];
    const gaps = inside.slice(1).map((t, i) => t - inside[i]!).sort((a, b) => a - b);
    const vacuumed = new Map<string, number>();
    for (const v of vacuums.filter((v) => v.t >= from && v.t < to)) for (const table of v.tables) vacuumed.set(table, (vacuumed.get(table) ?? 0) + 0.25);
    const autovacuum = [...vacuumed].map(([table, seconds]) => `${table} ~${seconds.toFixed(1)} s`).join("; ") || "none";
    return { seconds: (to - from) / 1000, perSecond: n / ((to - from) / 1000), maxGap: gaps.at(-1) ?? 0, p99Gap: percentile(gaps, 0.99), autovacuum };
  };
  const before = window(t0, t1);
  const during = window(t1, t2);
  const after = window(t2, t3);
  const sorted = batches.map((b) => b.ms).sort((a, b) => a - b);
  const largest = batches.reduce((a, b) => (b.ms > a.ms ? b : a), { state: "-", rows: 0, ms: 0 });
  const total = pruned.succeeded + pruned.failed + pruned.cancelled;

  console.log(`\npool of ${POOL_SIZE} on no-op jobs with a backlog; history ${filled.n.toLocaleString("en")} rows, all older than the retention`);
  console.log(`${cpus().length} cores; load average (1 min) ${loads.map((l) => l.toFixed(1)).join(" → ")} (before, start of pruning, end of pruning, end)\n`);
  console.log(`| | before pruning | during pruning | after pruning |`);
  console.log(`| --- | ---: | ---: | ---: |`);
  console.log(`| window | ${before.seconds.toFixed(1)} s | ${during.seconds.toFixed(1)} s | ${after.seconds.toFixed(1)} s |`);
  console.log(`| jobs committed per second | ${before.perSecond.toFixed(0)} | ${during.perSecond.toFixed(0)} | ${after.perSecond.toFixed(0)} |`);
  console.log(`| longest gap between two job starts | ${ms(before.maxGap)} | ${ms(during.maxGap)} | ${ms(after.maxGap)} |`);
  console.log(`| 99th percentile gap | ${before.p99Gap.toFixed(1)} ms | ${during.p99Gap.toFixed(1)} ms | ${after.p99Gap.toFixed(1)} ms |`);
  console.log(`| autovacuum working on | ${before.autovacuum} | ${during.autovacuum} | ${after.autovacuum} |`);
  console.log(`\n| pruning | |`);
  console.log(`| --- | ---: |`);
  console.log(`| rows pruned | ${total.toLocaleString("en")} |`);
  console.log(`| time | ${((t2 - t1) / 1000).toFixed(1)} s (${Math.round(total / ((t2 - t1) / 1000)).toLocaleString("en")} rows/s) |`);
  console.log(`| batch statements | ${batches.length.toLocaleString("en")} |`);
  console.log(`| batch duration: median / 99th percentile | ${percentile(sorted, 0.5).toFixed(1)} / ${percentile(sorted, 0.99).toFixed(1)} ms |`);
  console.log(`| largest batch | ${largest.ms.toFixed(1)} ms (${largest.state}, ${largest.rows} rows, statement ${batches.indexOf(largest) + 1}) |`);
  console.log(`\n| disk, job_history per million rows | |`);
  console.log(`| --- | ---: |`);
  console.log(`| table (rows, TOAST, free space map) | ${mb(perMillion(filled.table))} |`);
  console.log(`| indexes (5) | ${mb(perMillion(filled.indexes))} |`);
  console.log(`| total | ${mb(perMillion(filled.total))} |`);
  console.log(`| average row / payload | ${widths[0]!.row} / ${widths[0]!.payload} bytes |`);
  console.log(`\nafter pruning (before VACUUM): ${afterPrune.n.toLocaleString("en")} rows, ${mb(Number(afterPrune.total))} on disk (the space is reused by new rows once vacuumed, not returned)`);
} finally {
  stopProducer = true;
  await lockHolder.end().catch(() => undefined);
  await db.end().catch(() => undefined);
  await prisma.$disconnect().catch(() => undefined);
  if (flags.keep) {
    console.log(`kept ${dbName} (--keep): drop it with DROP DATABASE ${dbName}`);
  } else {
    await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(dbName)} WITH (FORCE)`);
    console.log(`dropped ${dbName}`);
  }
  await admin.end();
}
