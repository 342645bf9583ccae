/**
 * Every runtime SQL statement of arrower-jobs, in one place. The schema name is validated
 * once and quoted; values are always bound parameters. Ids travel as text: `pg` and Prisma
 * disagree on bigint (string vs BigInt), text is the same everywhere and safe in JSON.
 */
import { InvalidOptionsError } from "../errors.ts";

const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/** Checks a schema name and returns it quoted, e.g. `"arrower"`. */
export function quoteSchema(schema: unknown): string {
  if (typeof schema !== "string" || !SCHEMA_PATTERN.test(schema)) {
    throw new InvalidOptionsError(
      "schema",
      `schema must be a lower-case PostgreSQL identifier (letters, digits, _; at most 63), got ${JSON.stringify(schema)}`,
    );
  }
  return `"${schema}"`;
}

/** The statements, built once per schema. */
export class Queries {
  /** The LISTEN/NOTIFY channel: one per schema, so two installations never wake each other. */
  readonly channel: string;

  constructor(readonly schema: string) {
    const s = quoteSchema(schema);
    this.channel = `arrower_jobs:${schema}`;
    this.lockMigrate = `arrower-jobs:migrate:${schema}`;
    // Two statements: one naming a missing table fails at parse time, even in a CASE branch.
    this.migrationsTableExists = `SELECT to_regclass('${s}.migrations') IS NOT NULL AS exists`;
    this.schemaVersion = `SELECT coalesce(max(version), 0)::int AS version FROM ${s}.migrations`;
    this.migrationsTable = `CREATE TABLE IF NOT EXISTS ${s}.migrations (
      version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT clock_timestamp())`;
    this.createSchema = `CREATE SCHEMA IF NOT EXISTS ${s}`;
    this.recordMigration = `INSERT INTO ${s}.migrations (version) VALUES ($1)`;

    this.enqueue = enqueueStatement(s, this.channel, false);
    this.enqueueDedup = enqueueStatement(s, this.channel, true);
    this.findLiveByDedupKey = `SELECT id::text AS id FROM ${s}.jobs WHERE queue = $1 AND dedup_key = $2`;

    this.claimPriority = claimStatement(s, "j.priority, j.run_at, j.id");
    // A queue table's statistics are always stale (it empties and fills all day): estimating a
    // handful of rows, the planner sorts every queued job per claim (4 ms at 2,000 queued)
    // instead of walking the claim index. Forbid that for the claim only, in the same round
    // trip as BEGIN, and restore the session's settings before the handler runs.
    this.beginClaim = "BEGIN; SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off";
    this.endClaim = "RESET enable_sort; RESET enable_bitmapscan; SAVEPOINT arrower_handler";
    this.claimTime = claimStatement(s, "j.run_at, j.id");
    this.nextDueIn = `
      SELECT ceil(extract(epoch FROM (min(run_at) - clock_timestamp())) * 1000)::float8 AS ms
      FROM ${s}.jobs WHERE queue = $1 AND type = ANY($2::text[]) AND run_at > clock_timestamp()`;
    // Written on the process's control connection (autocommit, synchronous_commit off): it must
    // survive the job transaction's rollback when the worker dies. Batched across the pools.
    this.markInflight = `
      INSERT INTO ${s}.inflight (job_id, attempt, pool)
      SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[])
      ON CONFLICT (job_id) DO UPDATE
        SET attempt = excluded.attempt, pool = excluded.pool, started_at = clock_timestamp()`;
    this.unmarkInflight = `DELETE FROM ${s}.inflight WHERE job_id = $1`;
    this.recordCrash = `
      INSERT INTO ${s}.attempts (job_id, attempt, outcome, error, started_at, pool)
      VALUES ($1, $2, 'crashed', $3, $4, $5)
      ON CONFLICT (job_id, attempt) DO NOTHING`;
    // Finish a job: it leaves the live table for history in the job's own transaction.
    this.finish = `
      WITH done AS (DELETE FROM ${s}.jobs WHERE id = $1 RETURNING *),
           gone AS (DELETE FROM ${s}.inflight WHERE job_id = $1)
      INSERT INTO ${s}.job_history (id, queue, type, payload, payload_meta, priority, run_at, created_at, state,
                                    attempts, max_attempts, timeout_ms, dedup_key, last_error, schedule_id,
                                    tick_at, trace_context, started_at, finished_at, pool, trace_id)
      SELECT id, queue, type, payload, payload_meta, priority, run_at, created_at, $2,
             $3, max_attempts, timeout_ms, dedup_key, $4, schedule_id,
             tick_at, trace_context, $5, clock_timestamp(), $6, $7
      FROM done`;
    // A failed attempt that will be retried: recorded with the job's next run.
    this.retry = `
      WITH job AS (
             UPDATE ${s}.jobs
             SET attempts = $2, last_error = $4, run_at = clock_timestamp() + $3 * interval '1 millisecond'
             WHERE id = $1 RETURNING id),
           gone AS (DELETE FROM ${s}.inflight WHERE job_id = $1)
      INSERT INTO ${s}.attempts (job_id, attempt, outcome, error, started_at, pool, trace_id)
      SELECT $1, $2, $5, $4, $6, $7, $8 FROM job
      ON CONFLICT (job_id, attempt) DO NOTHING`;
    this.heartbeat = `
      INSERT INTO ${s}.pools (name, queue, job_types, size, running, host, pid)
      VALUES ($1, $2, $3::text[], $4, $5, $6, $7)
      ON CONFLICT (name, queue) DO UPDATE
        SET job_types = excluded.job_types, size = excluded.size, running = excluded.running,
            host = excluded.host, pid = excluded.pid, last_seen_at = clock_timestamp()`;
    this.removePool = `DELETE FROM ${s}.pools WHERE name = $1 AND queue = $2`;
    this.terminateBackend = `SELECT pg_terminate_backend($1::int) AS terminated`;
    this.status = `
      WITH live AS (
        SELECT queue, count(*) AS queued,
               count(*) FILTER (WHERE run_at <= clock_timestamp()) AS due,
               count(*) FILTER (WHERE run_at > clock_timestamp()) AS scheduled,
               count(*) FILTER (WHERE attempts > 0) AS retrying
        FROM ${s}.jobs GROUP BY queue),
      failed AS (SELECT queue, count(*) AS failed FROM ${s}.job_history WHERE state = 'failed' GROUP BY queue),
      pools AS (
        SELECT queue, sum(running) AS running, count(*) AS pools
        FROM ${s}.pools WHERE last_seen_at > clock_timestamp() - interval '1 minute' GROUP BY queue),
      names AS (SELECT queue FROM live UNION SELECT queue FROM failed UNION SELECT queue FROM pools
                UNION SELECT name FROM ${s}.queues)
      SELECT n.queue,
             coalesce(l.queued, 0)::int AS queued, coalesce(l.due, 0)::int AS due,
             coalesce(l.scheduled, 0)::int AS scheduled, coalesce(l.retrying, 0)::int AS retrying,
             coalesce(p.running, 0)::int AS running, coalesce(f.failed, 0)::int AS failed,
             coalesce(p.pools, 0)::int AS pools, coalesce(q.paused, false) AS paused,
             (SELECT count(*) FROM ${s}.jobs j WHERE j.queue = n.queue AND NOT EXISTS (
                SELECT 1 FROM ${s}.pools wp WHERE wp.queue = j.queue AND j.type = ANY(wp.job_types)
                  AND wp.last_seen_at > clock_timestamp() - interval '1 minute'))::int AS no_handler
      FROM names n
      LEFT JOIN live l ON l.queue = n.queue LEFT JOIN failed f ON f.queue = n.queue
      LEFT JOIN pools p ON p.queue = n.queue LEFT JOIN ${s}.queues q ON q.name = n.queue
      ORDER BY n.queue`;
    this.listPools = `
      SELECT name, queue, job_types, size, running, host, pid, started_at, last_seen_at,
             last_seen_at > clock_timestamp() - interval '1 minute' AS alive
      FROM ${s}.pools ORDER BY queue, name`;
  }

  readonly lockMigrate: string;
  readonly migrationsTableExists: string;
  readonly schemaVersion: string;
  readonly migrationsTable: string;
  readonly createSchema: string;
  readonly recordMigration: string;
  readonly enqueue: string;
  readonly enqueueDedup: string;
  readonly findLiveByDedupKey: string;
  readonly beginClaim: string;
  readonly endClaim: string;
  readonly claimPriority: string;
  readonly claimTime: string;
  readonly nextDueIn: string;
  readonly markInflight: string;
  readonly unmarkInflight: string;
  readonly recordCrash: string;
  readonly finish: string;
  readonly retry: string;
  readonly heartbeat: string;
  readonly removePool: string;
  readonly terminateBackend: string;
  readonly status: string;
  readonly listPools: string;
}

/**
 * One statement for any batch: arrays in, unnest out (a VALUES list would hit the
 * 65,535-parameter limit). Ids are drawn in input order, so rows come back in input order
 * without joining on the insert's output. With `dedup`, a key already live in its queue keeps
 * its job and reports that job's id; without, the statement stays cheap enough that PostgreSQL
 * never JIT-compiles it (a 10,000-row batch once spent a second there). NOTIFY is delivered at
 * commit, once per queue.
 */
function enqueueStatement(s: string, channel: string, dedup: boolean): string {
  return `
      WITH input AS (
        SELECT nextval('${s}.job_id_seq') AS id, t.*
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::timestamptz[],
                    $7::int[], $8::int[], $9::text[], $10::jsonb[], $11::bigint[], $12::timestamptz[])
             WITH ORDINALITY AS t(queue, type, payload, payload_meta, priority, run_at,
                                  max_attempts, timeout_ms, dedup_key, trace_context, schedule_id, tick_at, ord)
      ),
      inserted AS (
        INSERT INTO ${s}.jobs (id, queue, type, payload, payload_meta, priority, run_at,
                               max_attempts, timeout_ms, dedup_key, trace_context, schedule_id, tick_at)
        SELECT id, queue, type, payload::jsonb, payload_meta::jsonb, priority, coalesce(run_at, clock_timestamp()),
               max_attempts, timeout_ms, dedup_key, trace_context, schedule_id, tick_at
        FROM input
        ON CONFLICT DO NOTHING
        RETURNING id, queue
      )
      SELECT ${
        dedup
          ? `CASE WHEN input.dedup_key IS NULL OR input.id IN (SELECT id FROM inserted) THEN input.id
                  ELSE (SELECT j.id FROM ${s}.jobs j WHERE j.queue = input.queue AND j.dedup_key = input.dedup_key)
             END::text AS id`
          : "input.id::text AS id"
      },
             (SELECT count(pg_notify($13, q.queue)) FROM (SELECT DISTINCT queue FROM inserted) q) AS notified
      FROM input
      ORDER BY input.ord`;
}

/**
 * Claims one due job of a queue whose type this pool handles, in the caller's transaction,
 * skipping rows other workers hold. A row in `inflight` means the previous attempt's worker
 * died mid-job (graceful aborts remove theirs first): it is reported so that attempt counts.
 */
function claimStatement(s: string, order: string): string {
  return `
      WITH next AS (
        SELECT j.id, j.type, j.payload, j.payload_meta, j.priority, j.run_at, j.created_at,
               j.attempts, j.max_attempts, j.timeout_ms, j.trace_context
        FROM ${s}.jobs j
        WHERE j.queue = $1 AND j.run_at <= clock_timestamp() AND j.type = ANY($2::text[])
          AND NOT EXISTS (SELECT 1 FROM ${s}.queues q WHERE q.name = $1 AND q.paused)
        ORDER BY ${order}
        LIMIT 1
        FOR UPDATE OF j SKIP LOCKED
      )
      SELECT next.id::text AS id, next.type, next.payload, next.payload_meta, next.priority,
             next.run_at, next.created_at, next.attempts, next.max_attempts, next.timeout_ms,
             next.trace_context, i.attempt AS crashed_attempt, i.pool AS crashed_pool,
             i.started_at AS crashed_started_at, clock_timestamp() AS started_at
      FROM next LEFT JOIN ${s}.inflight i ON i.job_id = next.id`;
}
