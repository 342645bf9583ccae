/**
 * Every runtime SQL statement of arrower-jobs, in one place. The schema name is validated
 * once and quoted; values are always bound parameters. Ids travel as text: `pg` and Prisma
 * disagree on bigint (string vs BigInt), text is the same everywhere and safe in JSON.
 */
import { InvalidOptionsError } from "../errors.ts";

const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;
/** Prefix of a schema's LISTEN/NOTIFY channel (see Queries.channel). */
const CHANNEL_PREFIX = "arrower_jobs:";
/**
 * Longest schema name: its channel, prefix and name, must fit PostgreSQL's 63-byte identifiers.
 * Longer names (51–63 characters) passed, then every enqueue's pg_notify failed and aborted the
 * caller's transaction (issue 16).
 */
export const MAX_SCHEMA_LENGTH = 63 - CHANNEL_PREFIX.length;

/** Checks a schema name and returns it quoted, e.g. `"arrower"`. */
export function quoteSchema(schema: unknown): string {
  if (typeof schema !== "string" || !SCHEMA_PATTERN.test(schema)) {
    throw new InvalidOptionsError(
      "schema",
      `schema must be a lower-case PostgreSQL identifier (letters, digits, _; at most ${MAX_SCHEMA_LENGTH}), got ${JSON.stringify(schema)}`,
    );
  }
  if (schema.length > MAX_SCHEMA_LENGTH) {
    throw new InvalidOptionsError(
      "schema",
      `schema "${schema}" is ${schema.length} characters long, the limit is ${MAX_SCHEMA_LENGTH} (its NOTIFY channel, "${CHANNEL_PREFIX}" and the name, must fit PostgreSQL's 63 bytes)`,
    );
  }
  return `"${schema}"`;
}

/**
 * The handler's transaction is a savepoint of the job's transaction, opened when the handler
 * first uses `tx` (src/prisma/lazy-transaction.ts). Opening it also restores the planner
 * settings the claim turned off (see Queries.beginClaim).
 */
export const HANDLER_SAVEPOINT = {
  begin: "RESET enable_sort; RESET enable_bitmapscan; RESET jit; SAVEPOINT arrower_handler",
  // The job's row is locked by the transaction; changed inside the handler's savepoint (a
  // subtransaction) PostgreSQL records both in a MultiXact, whose SLRU every worker then
  // contends on. The savepoint is therefore always released before the row changes.
  release: "RELEASE SAVEPOINT arrower_handler",
  rollback: "ROLLBACK TO SAVEPOINT arrower_handler; RELEASE SAVEPOINT arrower_handler",
} as const;

/** A statement that only proves a connection answers. */
export const PROBE = "SELECT 1";

/** The statements, built once per schema. */
export class Queries {
  /** The LISTEN/NOTIFY channel: one per schema, so two installations never wake each other. */
  readonly channel: string;

  constructor(readonly schema: string) {
    const s = quoteSchema(schema);
    this.channel = `${CHANNEL_PREFIX}${schema}`;
    this.lockMigrate = `arrower-jobs:migrate:${schema}`;
    // Two statements: one naming a missing table fails at parse time, even in a CASE branch.
    this.migrationsTableExists = `SELECT to_regclass('${s}.migrations') IS NOT NULL AS exists`;
    this.schemaVersion = `SELECT coalesce(max(version), 0)::int AS version FROM ${s}.migrations`;
    this.autovacuumOn = `SELECT current_setting('autovacuum')::boolean AS on`;
    this.migrationsTable = `CREATE TABLE IF NOT EXISTS ${s}.migrations (
      version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT clock_timestamp())`;
    this.createSchema = `CREATE SCHEMA IF NOT EXISTS ${s}`;
    this.recordMigration = `INSERT INTO ${s}.migrations (version) VALUES ($1)`;

    this.enqueue = enqueueStatement(s, "none");
    this.enqueueTick = enqueueStatement(s, "ignore");
    this.enqueueDedup = enqueueStatement(s, "dedup");
    this.enqueueWorkflow = enqueueStatement(s, "workflow");
    this.findLiveByDedupKey = `SELECT id::text AS id FROM ${s}.jobs WHERE queue = $1 AND dedup_key = $2`;

    this.claimPriority = claimStatement(s, "j.priority, j.run_at, j.id");
    // A queue table's statistics are always stale (it empties and fills all day): estimating a
    // handful of rows, the planner sorts every queued job per claim (4 ms at 2,000 queued)
    // instead of walking the claim index. Forbid that for the claim only, in the same round
    // trip as BEGIN; the handler's savepoint restores them (HANDLER_SAVEPOINT.begin), and the
    // job's own statements after the claim are primary-key lookups either way.
    // JIT too: a claim's generic plan estimates a tenth of the queue as its output, and past
    // jit_above_cost each claim compiled for 65 ms (seen at 1,000,000 queued).
    this.beginClaim = "BEGIN; SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off; SET LOCAL jit = off";
    // A worker connection's statements (claim, finish, retry) are prepared once and should be
    // planned once: PostgreSQL kept re-planning the batch finish (its custom plans looked
    // cheaper), 3 % of its CPU. Their generic plans are the index plans we want. Prisma's
    // statements (unnamed) are not affected.
    this.openSlot = "SET plan_cache_mode = force_generic_plan; SELECT pg_backend_pid() AS pid";

    this.claimTime = claimStatement(s, "j.run_at, j.id");
    // Pools with groupConcurrency: the same claims, returning each job's group and leaving out
    // the groups ($4) whose limit this pool found full.
    this.claimPriorityGrouped = groupedClaim(this.claimPriority);
    this.claimTimeGrouped = groupedClaim(this.claimTime);
    this.nextDueIn = `
      SELECT ceil(extract(epoch FROM (min(run_at) - clock_timestamp())) * 1000)::float8 AS ms
      FROM ${s}.jobs WHERE queue = $1 AND type = ANY($2::text[]) AND run_at > clock_timestamp()`;
    // Gives back, uncounted, jobs whose transaction was cut (their worker's connection was ended
    // on purpose): a new row version has no aborted locker for the next claim to count as a crash.
    // SKIP LOCKED: one another worker holds by now was counted already, and is not waited for.
    this.releaseJobs = `
      UPDATE ${s}.jobs SET attempts = attempts
      WHERE id IN (SELECT id FROM ${s}.jobs WHERE id = ANY($1::bigint[]) FOR UPDATE SKIP LOCKED)`;
    // The attempt a crashed worker was running: the one after the last recorded (jobs.attempts
    // counts finished attempts; crashes found earlier are recorded in attempts).
    this.crashedAttempt = `
      SELECT greatest($2::int, coalesce(max(attempt), 0)) + 1 AS attempt FROM ${s}.attempts WHERE job_id = $1::bigint AND run = 0`;
    this.recordCrash = `
      INSERT INTO ${s}.attempts (job_id, attempt, outcome, error, started_at, pool)
      VALUES ($1, $2, 'crashed', $3, $4, $5)
      ON CONFLICT (job_id, attempt) WHERE run = 0 DO NOTHING`;
    // Finish a job: it leaves the live table for history in the job's own transaction.
    this.finish = `
      WITH done AS (DELETE FROM ${s}.jobs WHERE id = $1 RETURNING *)
      INSERT INTO ${s}.job_history (id, queue, type, payload, payload_meta, priority, run_at, created_at, state,
                                    attempts, max_attempts, timeout_ms, dedup_key, last_error, schedule_id,
                                    tick_at, trace_context, started_at, finished_at, pool, trace_id)
      SELECT id, queue, type, payload, payload_meta, priority, run_at, created_at, $2,
             $3, max_attempts, timeout_ms, dedup_key, $4, schedule_id,
             tick_at, trace_context, ${fromMs("$5::float8")}, clock_timestamp(), $6, $7
      FROM done`;
    // Finish the jobs of a batch (or one job): one statement moves them all to history, each
    // with its own outcome. The delete goes by primary key (= ANY), never joined on its input:
    // a plan cached while the table looked empty must not scan a full one. Ids come one per
    // job, the other columns once when the batch shares the value (src/postgres/arrays.ts).
    this.finishMany = `
      WITH input AS (
             SELECT t.id, ${sharedColumn("state", "$2::text[]")}, ${sharedColumn("attempts", "$3::int[]")},
                    ${sharedColumn("error", "$4::text[]")}, ${sharedColumn("started_at", "$5::float8[]")},
                    ${sharedColumn("pool", "$6::text[]")}, ${sharedColumn("trace_id", "$7::text[]")}
             FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::float8[], $6::text[], $7::text[])
               AS t(id, state, attempts, error, started_at, pool, trace_id)),
           done AS (DELETE FROM ${s}.jobs WHERE id = ANY($1::bigint[]) RETURNING *)
      INSERT INTO ${s}.job_history (id, queue, type, payload, payload_meta, priority, run_at, created_at, state,
                                    attempts, max_attempts, timeout_ms, dedup_key, last_error, schedule_id,
                                    tick_at, trace_context, started_at, finished_at, pool, trace_id)
      SELECT done.id, done.queue, done.type, done.payload, done.payload_meta, done.priority, done.run_at,
             done.created_at, input.state, input.attempts, done.max_attempts, done.timeout_ms, done.dedup_key,
             input.error, done.schedule_id, done.tick_at, done.trace_context, ${fromMs("input.started_at")},
             clock_timestamp(), input.pool, input.trace_id
      FROM done JOIN input ON input.id = done.id`;
    // `finish` and `finishMany` for jobs whose handler returned a value: the same, plus the
    // result (superjson's JSON text and meta, $8 and $9; arrays of one per job in the batch
    // form). Separate statements, so that a job without a result, the common case, sends exactly
    // the statement it sent before results existed.
    this.finishWithResult = rewrite(this.finish, [
      ["pool, trace_id)", "pool, trace_id, result, result_meta)"],
      ["clock_timestamp(), $6, $7", "clock_timestamp(), $6, $7, $8::jsonb, $9::jsonb"],
    ]);
    this.finishManyWithResult = rewrite(this.finishMany, [
      ["SELECT t.id, ", "SELECT t.id, t.result, t.result_meta, "],
      ["$6::text[], $7::text[])", "$6::text[], $7::text[], $8::text[], $9::text[])"],
      ["AS t(id, state, attempts, error, started_at, pool, trace_id))", "AS t(id, state, attempts, error, started_at, pool, trace_id, result, result_meta))"],
      ["pool, trace_id)", "pool, trace_id, result, result_meta)"],
      ["input.pool, input.trace_id", "input.pool, input.trace_id, input.result::jsonb, input.result_meta::jsonb"],
    ]);
    // --- lease mode (src/worker/executor.ts, src/worker/leases.ts; migrations/000006.sql) -----
    // Every parameter is cast: `complete(tx)` sends leaseFinish through the app's Prisma
    // transaction, whose parameters arrive untyped.
    // Takes the lease of a claimed job, in the claim's transaction (it commits at once): the
    // attempt it starts, its holder, and run_at moved to the lease's expiry. A job taken over
    // after an expired lease keeps the run_at it had before its first lease.
    this.leaseTake = `
      UPDATE ${s}.jobs
      SET lease_owner = $2::text, attempts = $3::int, leased_at = clock_timestamp(),
          lease_run_at = CASE WHEN lease_owner IS NULL THEN run_at ELSE lease_run_at END,
          run_at = clock_timestamp() + $4::int * interval '1 millisecond'
      WHERE id = $1::bigint`;
    // Renews a pool's leases, one statement for all of them. One no longer held was cancelled,
    // or taken over after it expired: its holder stops the job.
    // Each id comes back with whether it is still held and, if not, whether the job is live
    // (taken over) or gone (cancelled or deleted).
    this.leaseRenew = `
      WITH renewed AS (
             UPDATE ${s}.jobs j SET run_at = clock_timestamp() + u.ms * interval '1 millisecond'
             FROM unnest($1::bigint[], $2::int[], $3::int[]) AS u(id, attempt, ms)
             WHERE j.id = u.id AND j.lease_owner = $4::text AND j.attempts = u.attempt
             RETURNING j.id)
      SELECT u.id::text AS id, r.id IS NOT NULL AS held,
             EXISTS (SELECT 1 FROM ${s}.jobs j WHERE j.id = u.id) AS live
      FROM unnest($1::bigint[]) AS u(id) LEFT JOIN renewed r ON r.id = u.id`;
    // Finishes a leased job, fenced by its holder and attempt: a holder whose lease was taken
    // over (or whose job was cancelled) changes nothing, and learns so (no row comes back).
    // Parameters as `finish`'s, then the holder ($8) and the result ($9, $10).
    this.leaseFinish = `
      WITH done AS (
             DELETE FROM ${s}.jobs WHERE id = $1::bigint AND lease_owner = $8::text AND attempts = $3::int RETURNING *),
           progress AS (DELETE FROM ${s}.progress p USING done WHERE p.job_id = done.id)
      INSERT INTO ${s}.job_history (id, queue, type, payload, payload_meta, priority, run_at, created_at, state,
                                    attempts, max_attempts, timeout_ms, dedup_key, last_error, schedule_id,
                                    tick_at, trace_context, started_at, finished_at, pool, trace_id, result, result_meta)
      SELECT id, queue, type, payload, payload_meta, priority, coalesce(lease_run_at, run_at), created_at, $2::text,
             $3::int, max_attempts, timeout_ms, dedup_key, $4::text, schedule_id,
             tick_at, trace_context, ${fromMs("$5::float8")}, clock_timestamp(), $6::text, $7::text, $9::jsonb, $10::jsonb
      FROM done
      RETURNING id::text AS id`;
    // A failed attempt of a leased job that will be retried, fenced like leaseFinish: the lease
    // ends and the job is due again after its backoff. `retry`'s parameters, then the holder ($9).
    this.leaseRetry = `
      WITH job AS (
             UPDATE ${s}.jobs
             SET attempts = $2::int, last_error = $4::text, run_at = clock_timestamp() + $3::float8 * interval '1 millisecond',
                 lease_owner = NULL, leased_at = NULL, lease_run_at = NULL
             WHERE id = $1::bigint AND lease_owner = $9::text AND attempts = $2::int RETURNING id),
           recorded AS (
             INSERT INTO ${s}.attempts (job_id, attempt, outcome, error, started_at, pool, trace_id)
             SELECT id, $2::int, $5::text, $4::text, ${fromMs("$6::float8")}, $7::text, $8::text FROM job
             ON CONFLICT (job_id, attempt) WHERE run = 0 DO NOTHING),
           progress AS (DELETE FROM ${s}.progress p USING job WHERE p.job_id = job.id)
      SELECT id::text AS id FROM job`;
    // Gives a leased job back, its attempt not counted: due again after $4 ms (0: now; a snooze:
    // its delay). Shutdown past the deadline, a claim not started, a snooze.
    this.leaseRelease = `
      WITH job AS (
             UPDATE ${s}.jobs
             SET attempts = $2::int - 1, run_at = clock_timestamp() + $4::float8 * interval '1 millisecond',
                 lease_owner = NULL, leased_at = NULL, lease_run_at = NULL
             WHERE id = $1::bigint AND lease_owner = $3::text AND attempts = $2::int RETURNING id),
           progress AS (DELETE FROM ${s}.progress p USING job WHERE p.job_id = job.id)
      SELECT id::text AS id FROM job`;
    // What became of a leased job whose holder's fenced write found it no longer held: finished
    // by that holder's own ctx.complete(tx) (history shows its attempt and pool), cancelled or
    // deleted (gone), or taken over by another worker (live).
    this.leaseFate = `
      SELECT (SELECT h.state FROM ${s}.job_history h WHERE h.id = $1::bigint AND h.attempts = $2::int AND h.pool = $3::text) AS finished,
             EXISTS (SELECT 1 FROM ${s}.jobs j WHERE j.id = $1::bigint) AS live`;
    // --- end lease mode --------------------------------------------------------------------------
    // --- limits (src/worker/limits.ts, migrations/000008.sql) ---------------------------------
    // A concurrency slot: one of $2 advisory locks on key $1 (hashed; the two-int form, a lock
    // space apart from the one-bigint form apps use), the first free one, or -1 when all are
    // held. Held by the job's transaction (xact), or, for a lease-mode job, by the worker's
    // connection (session) until the job ends: either way a worker that dies frees it.
    this.limitSlot = `
      SELECT coalesce((SELECT k FROM generate_series(0, $2::int - 1) AS k
                       WHERE pg_try_advisory_xact_lock(hashtext($1::text), k) LIMIT 1), -1) AS slot`;
    this.limitSlotSession = this.limitSlot.replace("pg_try_advisory_xact_lock", "pg_try_advisory_lock");
    this.limitUnlockAll = `SELECT pg_advisory_unlock_all()`;
    // A rate-limit token: a fixed window of $3 ms that starts anew once it has passed; granted
    // while fewer than $2 were taken in it (taken stops at $2 + 1). When refused, the window
    // ends in retry_ms.
    this.rateTake = `
      INSERT INTO ${s}.rate_limits AS r (key, window_start, taken) VALUES ($1, clock_timestamp(), 1)
      ON CONFLICT (key) DO UPDATE SET
        window_start = CASE WHEN r.window_start + $3::float8 * interval '1 millisecond' <= clock_timestamp()
                            THEN clock_timestamp() ELSE r.window_start END,
        taken = CASE WHEN r.window_start + $3::float8 * interval '1 millisecond' <= clock_timestamp()
                     THEN 1 ELSE least(r.taken + 1, $2::int + 1) END
      RETURNING taken <= $2::int AS granted,
                greatest(0, ceil(extract(epoch FROM (window_start + $3::float8 * interval '1 millisecond' - clock_timestamp())) * 1000))::float8 AS retry_ms`;
    this.wakeQueue = `SELECT pg_notify($1, $2)`;
    // --- end limits ------------------------------------------------------------------------------
    // --- workflows (migrations/000007.sql) -------------------------------------------------------
    // Settles the dependants of parents that finished, in the parents' finishing transaction:
    // $1 succeeded, $2 failed for good (or cancelled). A dependant whose parents have all
    // settled becomes due now (and its queue is woken at commit). One whose parent failed is
    // cancelled — and so, in turn, are those that depend on it — unless it was enqueued with
    // onParentFailure "run": for it, that parent counts as done. Only jobs that have dependants
    // (jobs.has_dependants) run this.
    this.settleDependants = `
      WITH RECURSIVE doomed(id) AS (
             SELECT d.job_id FROM ${s}.job_deps d JOIN ${s}.jobs j ON j.id = d.job_id
             WHERE d.parent_id = ANY($2::bigint[]) AND j.on_parent_failure = 'cancel'
             UNION
             SELECT d.job_id FROM doomed x JOIN ${s}.job_deps d ON d.parent_id = x.id JOIN ${s}.jobs j ON j.id = d.job_id
             WHERE j.on_parent_failure = 'cancel'),
           cancelled AS (DELETE FROM ${s}.jobs j USING (SELECT DISTINCT id FROM doomed) x WHERE j.id = x.id RETURNING j.*),
           moved AS (
             INSERT INTO ${s}.job_history (id, queue, type, payload, payload_meta, priority, run_at, created_at, state,
                                           attempts, max_attempts, timeout_ms, dedup_key, last_error, schedule_id,
                                           tick_at, trace_context, finished_at)
             SELECT id, queue, type, payload, payload_meta, priority, clock_timestamp(), created_at, 'cancelled',
                    attempts, max_attempts, timeout_ms, dedup_key,
                    'cancelled: a job it depends on failed or was cancelled (dependsOn, onParentFailure "cancel")',
                    schedule_id, tick_at, trace_context, clock_timestamp()
             FROM cancelled RETURNING id),
           settled AS (
             SELECT d.job_id FROM ${s}.job_deps d
             WHERE d.parent_id = ANY($1::bigint[]) OR d.parent_id = ANY($2::bigint[]) OR d.parent_id IN (SELECT id FROM doomed)),
           counts AS (
             SELECT job_id, count(*)::int AS n FROM settled
             WHERE job_id NOT IN (SELECT id FROM doomed) GROUP BY job_id),
           released AS (
             UPDATE ${s}.jobs j
             SET deps_pending = j.deps_pending - c.n,
                 run_at = CASE WHEN j.deps_pending - c.n <= 0 THEN clock_timestamp() ELSE j.run_at END
             FROM counts c WHERE j.id = c.job_id AND j.deps_pending > 0
             RETURNING j.queue, j.deps_pending)
      SELECT (SELECT count(*) FROM moved)::int AS cancelled,
             (SELECT count(pg_notify($3, q.queue)) FROM (SELECT DISTINCT queue FROM released WHERE deps_pending <= 0) q)::int AS woken`;
    // The results of a job's parents (ctx.parentResult), oldest first.
    this.parentResults = `
      SELECT h.id::text AS id, h.type, h.result, h.result_meta, h.result IS NOT NULL AS has_result
      FROM ${s}.job_deps d JOIN ${s}.job_history h ON h.id = d.parent_id
      WHERE d.job_id = $1::bigint AND h.type = $2 AND h.state = 'succeeded'
      ORDER BY h.id`;
    // A workflow's jobs (live and finished) with the jobs each depends on, by job id.
    this.workflowOf = `SELECT workflow_id::text AS id FROM ${s}.workflow_jobs WHERE job_id = $1::bigint`;
    this.workflowJobs = `
      SELECT w.job_id::text AS id,
             coalesce((SELECT array_agg(d.parent_id::text ORDER BY d.parent_id) FROM ${s}.job_deps d WHERE d.job_id = w.job_id), '{}') AS depends_on
      FROM ${s}.workflow_jobs w WHERE w.workflow_id = $1::bigint ORDER BY w.job_id`;
    // --- end workflows ---------------------------------------------------------------------------
    // Progress of a running job (ctx.progress), written on the control connection: visible at
    // once, whatever the job's own transaction does.
    this.progressWrite = `
      INSERT INTO ${s}.progress (job_id, value) VALUES ($1::bigint, $2::jsonb)
      ON CONFLICT (job_id) DO UPDATE SET value = excluded.value, updated_at = clock_timestamp()`;
    // Progress of transaction-mode jobs that finished (in their transaction).
    this.progressDelete = `DELETE FROM ${s}.progress WHERE job_id = ANY($1::bigint[])`;
    // Progress of jobs that ended another way (their worker crashed, they were deleted).
    this.pruneProgress = `
      DELETE FROM ${s}.progress p WHERE NOT EXISTS (SELECT 1 FROM ${s}.jobs j WHERE j.id = p.job_id)`;
    // A succeeded job of a queue that keeps none in history (retention.succeeded = 0): its row
    // is deleted in the job's transaction, as graphile-worker does and BullMQ's removeOnComplete.
    this.discard = `DELETE FROM ${s}.jobs WHERE id = $1`;
    this.discardMany = `DELETE FROM ${s}.jobs WHERE id = ANY($1::bigint[])`;
    // Discards jobs that succeeded after earlier attempts: those attempts' rows go with them
    // (left behind, nothing ever pruned them). Jobs that succeeded at once have none to look for.
    this.discardWithAttempts = `
      WITH gone AS (DELETE FROM ${s}.jobs WHERE id = ANY($1::bigint[]) RETURNING id)
      DELETE FROM ${s}.attempts a USING gone WHERE a.job_id = gone.id`;
    // A failed attempt that will be retried: recorded with the job's next run.
    this.retry = `
      WITH job AS (
             UPDATE ${s}.jobs
             SET attempts = $2, last_error = $4, run_at = clock_timestamp() + $3 * interval '1 millisecond'
             WHERE id = $1 RETURNING id)
      INSERT INTO ${s}.attempts (job_id, attempt, outcome, error, started_at, pool, trace_id)
      SELECT $1, $2, $5, $4, ${fromMs("$6::float8")}, $7, $8 FROM job
      ON CONFLICT (job_id, attempt) WHERE run = 0 DO NOTHING`;
    // `finish` and `retry` (same parameters) for an attempt whose transaction is already gone
    // (its handler hung and the connection was cut, or the server ended the session), written on
    // the control connection. The row lock went with the transaction, so another worker may
    // hold the job by now: SKIP LOCKED never waits for it (that would stall the control
    // connection), and `attempts < $n` never overwrites an attempt recorded meanwhile. That
    // worker sees our aborted transaction on the row and records the attempt as crashed; the
    // retry form records it anyway, and replaces such a "crashed" placeholder, so history keeps
    // the real reason (e.g. the server setting) whoever came first.
    this.finishDetached = rewrite(this.finish, [
      [`WHERE id = $1 RETURNING *`, `WHERE id = (SELECT id FROM ${s}.jobs WHERE id = $1 AND attempts < $3 FOR UPDATE SKIP LOCKED) RETURNING *`],
    ]);
    this.retryDetached = `
      WITH job AS (
             UPDATE ${s}.jobs
             SET attempts = $2, last_error = $4, run_at = clock_timestamp() + $3 * interval '1 millisecond'
             WHERE id = (SELECT id FROM ${s}.jobs WHERE id = $1 AND attempts < $2 FOR UPDATE SKIP LOCKED)
             RETURNING id)
      INSERT INTO ${s}.attempts AS a (job_id, attempt, outcome, error, started_at, pool, trace_id)
      VALUES ($1, $2, $5, $4, ${fromMs("$6::float8")}, $7, $8)
      ON CONFLICT (job_id, attempt) WHERE run = 0 DO UPDATE SET outcome = excluded.outcome, error = excluded.error
        WHERE a.outcome = 'crashed'`;
    this.heartbeat = `
      INSERT INTO ${s}.pools (name, queue, job_types, size, running, host, pid)
      VALUES ($1, $2, $3::text[], $4, $5, $6, $7)
      ON CONFLICT (name, queue) DO UPDATE
        SET job_types = excluded.job_types, size = excluded.size, running = excluded.running,
            host = excluded.host, pid = excluded.pid, last_seen_at = clock_timestamp()`;
    this.removePool = `DELETE FROM ${s}.pools WHERE name = $1 AND queue = $2`;
    // Waits (up to 5 s, PostgreSQL 14+) until the backend has exited: only then is the job's row
    // lock gone, and the detached finish/retry that follows can see whether another worker took
    // the job (SKIP LOCKED) instead of skipping a row the dying backend still holds.
    this.terminateBackend = `SELECT pg_terminate_backend($1::int, 5000) AS terminated`;
    // A leased job (lease mode) counts as due, like a job running in its transaction (whose row
    // still looks due): its run_at is the lease's expiry, not a time it waits for. Its attempts
    // count the one running, so it is retrying only from its second attempt on. A job waiting
    // for the jobs it depends on (dependsOn; run_at 'infinity') is waiting, not scheduled.
    this.status = `
      WITH live AS (
        SELECT queue, count(*) AS queued,
               count(*) FILTER (WHERE run_at <= clock_timestamp() OR lease_owner IS NOT NULL) AS due,
               count(*) FILTER (WHERE run_at > clock_timestamp() AND lease_owner IS NULL AND NOT coalesce(deps_pending > 0, false)) AS scheduled,
               count(*) FILTER (WHERE deps_pending > 0) AS waiting,
               count(*) FILTER (WHERE attempts > CASE WHEN ${leaseHeld("j")} THEN 1 ELSE 0 END) AS retrying
        FROM ${s}.jobs j GROUP BY queue),
      failed AS (SELECT queue, count(*) AS failed FROM ${s}.job_history WHERE state = 'failed' GROUP BY queue),
      pools AS (
        SELECT queue, sum(running) AS running, count(*) AS pools
        FROM ${s}.pools WHERE last_seen_at > clock_timestamp() - interval '1 minute' GROUP BY queue),
      names AS (SELECT queue FROM live UNION SELECT queue FROM failed UNION SELECT queue FROM pools
                UNION SELECT name FROM ${s}.queues)
      SELECT n.queue,
             coalesce(l.queued, 0)::int AS queued, coalesce(l.due, 0)::int AS due,
             coalesce(l.scheduled, 0)::int AS scheduled, coalesce(l.waiting, 0)::int AS waiting,
             coalesce(l.retrying, 0)::int AS retrying,
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

    // --- cron (src/cron/schedules.ts, src/cron/scheduler.ts) -----------------------------------
    this.cronClock = `SELECT clock_timestamp() AS now`;
    // Declare a schedule. The identity is "name:<name>" for a named schedule and a hash of type,
    // spec, zone and canonical payload otherwise, so one statement covers both: declaring again
    // refreshes declared_at and the job options; a named schedule also takes the new spec, zone,
    // type and payload. next_run_at is recomputed only when spec or zone changed, so declaring
    // at every boot keeps an overdue tick (its catch-up job) instead of skipping it.
    this.cronDeclare = `
      INSERT INTO ${s}.schedules AS sc (name, identity, spec, timezone, queue, type, payload, payload_meta,
                                        priority, max_attempts, timeout_ms, next_run_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11, $12)
      ON CONFLICT (identity) DO UPDATE SET
        spec = excluded.spec, timezone = excluded.timezone, type = excluded.type,
        payload = excluded.payload, payload_meta = excluded.payload_meta, queue = excluded.queue,
        priority = excluded.priority, max_attempts = excluded.max_attempts, timeout_ms = excluded.timeout_ms,
        next_run_at = CASE WHEN sc.spec = excluded.spec AND sc.timezone = excluded.timezone
                           THEN sc.next_run_at ELSE excluded.next_run_at END,
        declared_at = clock_timestamp()
      RETURNING id::text AS id`;
    this.cronUnschedule = `DELETE FROM ${s}.schedules WHERE id = $1::bigint OR name = $2 RETURNING id::text AS id`;
    this.cronList = `
      SELECT id::text AS id, name, spec, timezone, queue, type, payload, payload_meta, priority,
             max_attempts, timeout_ms, next_run_at, last_run_at, declared_at, created_at
      FROM ${s}.schedules ORDER BY next_run_at, id`;
    // Milliseconds until the next schedule is due (negative: overdue; null: none), skipping
    // those this process cannot read.
    this.cronNextDue = `
      SELECT (extract(epoch FROM (min(next_run_at) - clock_timestamp())) * 1000)::float8 AS ms
      FROM ${s}.schedules WHERE NOT (id = ANY($1::bigint[]))`;
    // The scheduler's claim: due schedules, locked for this transaction, skipping those another
    // process holds. Payloads stay text: they are copied to the job as stored.
    this.cronClaimDue = `
      SELECT id::text AS id, spec, timezone, queue, type, payload::text AS payload,
             payload_meta::text AS payload_meta, priority, max_attempts, timeout_ms, next_run_at,
             clock_timestamp() AS now
      FROM ${s}.schedules
      WHERE next_run_at <= clock_timestamp() AND NOT (id = ANY($1::bigint[]))
      ORDER BY next_run_at, id
      LIMIT $2
      FOR UPDATE SKIP LOCKED`;
    this.cronAdvance = `
      UPDATE ${s}.schedules AS sc SET last_run_at = u.tick, next_run_at = u.next
      FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[]) AS u(id, tick, next)
      WHERE sc.id = u.id`;
    // --- end cron --------------------------------------------------------------------------------

    // --- admin and retention (src/admin/api.ts, src/worker/pruner.ts) --------------------------
    const jobColumns = `id::text AS id, queue, type, payload, payload_meta, priority, run_at, created_at,
             attempts, max_attempts, timeout_ms, dedup_key, last_error, schedule_id::text AS schedule_id, tick_at`;
    // A leased job (lease mode) is running while its lease holds: its run_at is then the
    // lease's expiry, and the time it was due is lease_run_at.
    this.adminGetJob = `
      SELECT ${jobColumns.replace("run_at,", "coalesce(lease_run_at, run_at) AS run_at,")},
             ${liveState("j")} AS state,
             leased_at AS started_at, NULL::timestamptz AS finished_at, lease_owner AS pool, NULL::text AS trace_id,
             ${runningNow("j")} OR ${leaseHeld("j")} AS running, NULL::jsonb AS result, NULL::jsonb AS result_meta, false AS has_result,
             CASE WHEN ${leaseHeld("j")} THEN lease_owner END AS lease_owner,
             CASE WHEN ${leaseHeld("j")} THEN run_at END AS lease_expires_at,
             (SELECT p.value FROM ${s}.progress p WHERE p.job_id = j.id) AS progress,
             (SELECT p.updated_at FROM ${s}.progress p WHERE p.job_id = j.id) AS progress_at,
             (SELECT w.workflow_id::text FROM ${s}.workflow_jobs w WHERE w.job_id = j.id) AS workflow_id
      FROM ${s}.jobs j WHERE id = $1::bigint
      UNION ALL
      SELECT ${jobColumns}, state, started_at, finished_at, pool, trace_id, false AS running,
             result, result_meta, result IS NOT NULL AS has_result,
             NULL::text, NULL::timestamptz, NULL::jsonb, NULL::timestamptz,
             (SELECT w.workflow_id::text FROM ${s}.workflow_jobs w WHERE w.job_id = h.id)
      FROM ${s}.job_history h WHERE id = $1::bigint`;
    // A job's type and result, for the typed getResult (a live job has none yet).
    this.adminGetResult = `
      SELECT type, result, result_meta, result IS NOT NULL AS has_result FROM ${s}.job_history WHERE id = $1::bigint
      UNION ALL
      SELECT type, NULL::jsonb, NULL::jsonb, false FROM ${s}.jobs WHERE id = $1::bigint`;
    // Earlier runs first; the latest run's rows are stored as run 0 (migrations/000004.sql).
    this.adminAttempts = `
      SELECT run, attempt, outcome, error, started_at, finished_at, pool, trace_id
      FROM ${s}.attempts WHERE job_id = $1::bigint ORDER BY run = 0, run, attempt`;
    // A finished job goes back to the live table (retry): its run ends (see endRuns). Before
    // the history row is deleted.
    this.adminEndRuns = `WITH ${endRuns(s, `SELECT * FROM ${s}.job_history WHERE id = ANY($1::bigint[])`)} SELECT 1`;
    // Locks a live job for an admin action. A running job's row is locked by its worker, and
    // NOWAIT turns that into an immediate "running" instead of a wait.
    // A lease-mode job runs unlocked: `leased` says a lease holds it.
    this.adminLockLive = `
      SELECT id::text AS id, queue, ${leaseHeld(`${s}.jobs`)} AS leased, coalesce(deps_pending > 0, false) AS waiting
      FROM ${s}.jobs WHERE id = $1::bigint FOR UPDATE NOWAIT`;
    // Is a live job locked by a worker right now? (no row: locked, or gone)
    // Ordered by the qualified column: a bare "id" would sort by the text output column ("9" >
    // "10"), paging wrongly and sorting every match instead of walking the primary key.
    // A job a lease holds is running, not listed: its run_at (the lease's expiry) would make it
    // look scheduled. Once its lease expired it is due (the next claim takes it over), and its
    // runAt is the time it was due, as getJob shows it.
    this.adminListLive = `
      SELECT ${jobColumns.replace("run_at,", "coalesce(lease_run_at, run_at) AS run_at,")},
             ${liveState("j")} AS state,
             NULL::timestamptz AS finished_at
      FROM ${s}.jobs j
      WHERE ($1::text IS NULL OR queue = $1) AND ($2::text IS NULL OR type = $2)
        AND ($3::text IS NULL OR ${liveState("j")} = $3)
        AND NOT ${leaseHeld("j")}
        AND ($4::bigint IS NULL OR id < $4)
      ORDER BY j.id DESC LIMIT $5`;
    this.adminListHistory = `
      SELECT ${jobColumns}, state, finished_at
      FROM ${s}.job_history h
      WHERE state = $3 AND ($1::text IS NULL OR queue = $1) AND ($2::text IS NULL OR type = $2)
        AND ($4::bigint IS NULL OR id < $4)
      ORDER BY h.id DESC LIMIT $5`;
    this.adminRunNow = `
      WITH job AS (UPDATE ${s}.jobs SET run_at = clock_timestamp() WHERE id = $1::bigint RETURNING queue)
      SELECT pg_notify($2, queue) FROM job`;
    // Back from history to the live table as a fresh job (attempts from zero), unless a live job
    // holds its dedup key; the caller deletes the history row once this returned it.
    this.adminRevive = `
      WITH revived AS (
        INSERT INTO ${s}.jobs (id, queue, type, payload, payload_meta, priority, run_at, created_at,
                               attempts, max_attempts, timeout_ms, dedup_key, last_error, trace_context)
        SELECT id, queue, type, payload, payload_meta, priority, clock_timestamp(), created_at,
               0, max_attempts, timeout_ms, dedup_key, last_error, trace_context
        FROM ${s}.job_history h WHERE h.id = $1::bigint
        ON CONFLICT DO NOTHING
        RETURNING id, queue)
      SELECT id::text AS id, queue, pg_notify($2, queue) FROM revived`;
    this.adminDeleteHistory = `DELETE FROM ${s}.job_history WHERE id = $1::bigint RETURNING id`;
    this.adminDeleteLive = `DELETE FROM ${s}.jobs WHERE id = $1::bigint RETURNING id, coalesce(has_dependants, false) AS has_dependants`;
    this.adminDeleteAttempts = `DELETE FROM ${s}.attempts WHERE job_id = $1::bigint`;
    // A leased job (lease mode) that is cancelled keeps its running attempt, and the process
    // holding it hears of it at once: NOTIFY `cancel <id>` (src/worker/leases.ts) aborts the
    // handler's signal there.
    this.adminCancel = `
      WITH done AS (DELETE FROM ${s}.jobs WHERE id = $1::bigint RETURNING *),
           moved AS (
             INSERT INTO ${s}.job_history (id, queue, type, payload, payload_meta, priority, run_at, created_at, state,
                                           attempts, max_attempts, timeout_ms, dedup_key, last_error, schedule_id,
                                           tick_at, trace_context, started_at, finished_at, pool)
             SELECT id, queue, type, payload, payload_meta, priority, coalesce(lease_run_at, run_at), created_at, 'cancelled',
                    attempts, max_attempts, timeout_ms, dedup_key, last_error, schedule_id,
                    tick_at, trace_context, leased_at, clock_timestamp(), lease_owner
             FROM done RETURNING id),
           progress AS (DELETE FROM ${s}.progress p USING done WHERE p.job_id = done.id)
      SELECT moved.id::text AS id,
             (SELECT count(pg_notify($2, 'cancel ' || done.id)) FROM done WHERE done.lease_owner IS NOT NULL)::int AS notified,
             coalesce((SELECT done.has_dependants FROM done), false) AS has_dependants
      FROM moved`;
    this.adminSetPaused = `
      WITH q AS (
        INSERT INTO ${s}.queues (name, paused) VALUES ($1, $2)
        ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, updated_at = clock_timestamp()
        RETURNING name, paused)
      SELECT CASE WHEN NOT q.paused THEN pg_notify($3, q.name) END AS notified FROM q`;
    // One batch of requeueFailed: failed jobs of the filter below id $5, newest first. A dedup
    // key names one live job per queue, so a keyed job is requeued only when no live job holds
    // its key and it is the newest of the batch with that key (an older one in a later batch
    // then finds the key held: `holder`). ON CONFLICT: a job enqueued with the key while this
    // runs keeps it; only what went in leaves history. The caller classifies the skipped ones.
    this.adminRequeueFailed = `
      WITH batch AS (
             SELECT h.* FROM ${s}.job_history h
             WHERE h.state = 'failed' AND ($1::text IS NULL OR h.queue = $1) AND ($2::text IS NULL OR h.type = $2)
               AND ($5::bigint IS NULL OR h.id < $5::bigint)
             ORDER BY h.id DESC LIMIT $3 FOR UPDATE OF h SKIP LOCKED),
           ranked AS (
             SELECT b.*,
                    CASE WHEN b.dedup_key IS NULL THEN 1
                         ELSE row_number() OVER (PARTITION BY b.queue, b.dedup_key ORDER BY b.id DESC) END AS rank,
                    (SELECT j.id FROM ${s}.jobs j WHERE j.queue = b.queue AND j.dedup_key = b.dedup_key) AS holder
             FROM batch b),
           revived AS (
             INSERT INTO ${s}.jobs (id, queue, type, payload, payload_meta, priority, run_at, created_at,
                                    attempts, max_attempts, timeout_ms, dedup_key, last_error, trace_context)
             SELECT id, queue, type, payload, payload_meta, priority, clock_timestamp(), created_at,
                    0, max_attempts, timeout_ms, dedup_key, last_error, trace_context
             FROM ranked WHERE rank = 1 AND holder IS NULL
             ON CONFLICT DO NOTHING
             RETURNING id, queue, dedup_key),
           ${endRuns(s, "SELECT b.* FROM batch b JOIN revived r ON r.id = b.id")},
           gone AS (DELETE FROM ${s}.job_history h USING revived WHERE h.id = revived.id)
      SELECT (SELECT count(*) FROM batch)::int AS seen, (SELECT min(id) FROM batch)::text AS last,
             (SELECT count(*) FROM ranked WHERE rank = 1 AND holder IS NULL)::int AS picked,
             (SELECT count(*) FROM revived)::int AS requeued,
             (SELECT count(*) FROM ranked WHERE rank > 1 AND holder IS NULL)::int AS duplicates,
             (SELECT coalesce(array_agg(holder::text), '{}') FROM ranked WHERE holder IS NOT NULL) AS holders,
             (SELECT coalesce(array_agg(id::text), '{}') FROM revived WHERE dedup_key IS NOT NULL) AS keyed,
             (SELECT count(pg_notify($4, queue)) FROM (SELECT DISTINCT queue FROM revived) d)::int AS notified`;
    this.adminSucceededLastHour = `
      SELECT queue, count(*)::int AS n FROM ${s}.job_history
      WHERE state = 'succeeded' AND finished_at > now() - interval '1 hour' GROUP BY queue`; // now(): stable, so the finished_at index applies
    // Retention: one small batch per statement, oldest first, so pruning never holds many locks.
    // A range of job_history_state_finished: one state's rows from the oldest to the cutoff. The
    // cutoff is taken from now() (the statement's start: each batch runs alone in autocommit)
    // because a volatile bound is only a filter: the scan would not stop at it, and the last,
    // empty batch of each state read every row of that state kept.
    // SKIP LOCKED: prunes running at once (a manual one during a worker's round, or two of
    // different options) take disjoint rows instead of waiting on each other's and then finding
    // them gone; each counts only what it deleted, and goes on until a batch finds nothing.
    this.prune = `
      WITH gone AS (
        DELETE FROM ${s}.job_history WHERE id IN (
          SELECT id FROM ${s}.job_history
          WHERE state = $1 AND finished_at < now() - $2 * interval '1 millisecond'
            AND ($3::text IS NULL OR queue = $3) AND NOT (queue = ANY($4::text[]))
          ORDER BY finished_at LIMIT $5
          FOR UPDATE SKIP LOCKED)
        RETURNING id),
      attempts AS (DELETE FROM ${s}.attempts a USING gone WHERE a.job_id = gone.id),
      edges AS (DELETE FROM ${s}.job_deps d USING gone WHERE d.job_id = gone.id),
      members AS (DELETE FROM ${s}.workflow_jobs w USING gone WHERE w.job_id = gone.id)
      SELECT count(*)::int AS n FROM gone`;
    // Taken by the pruner in a transaction that then idles for the whole round. No parameters:
    // a parameterised statement (extended protocol) leaves its unnamed portal, and with it its
    // snapshot, open until the next statement, so the idle transaction held back the xmin
    // horizon: no vacuum, and no index cleanup of the rows the round itself deleted, which made
    // each batch slower than the last (scripts/prune-timing.ts). The key is built from the
    // validated schema name (a plain identifier), the same string as before.
    this.pruneLock = `SELECT pg_try_advisory_xact_lock(hashtext('arrower-jobs:prune:${schema}')) AS locked`;
    // A pool's retention, stored for its queue when it starts (NULL: the default), so that every
    // pruner applies it. A queue that never had one gets no row (the status lists queues that
    // have one); a pool without retention sets a stored one back to NULL. A row comes back when
    // the stored retention changed, with the previous one.
    this.pruneDeclare = `
      WITH before AS (
        SELECT retention_succeeded_ms, retention_failed_ms FROM ${s}.queues WHERE name = $1),
      stored AS (
        INSERT INTO ${s}.queues AS q (name, retention_succeeded_ms, retention_failed_ms)
        SELECT $1::text, $2::bigint, $3::bigint
        WHERE $2::bigint IS NOT NULL OR $3::bigint IS NOT NULL OR EXISTS (SELECT 1 FROM before)
        ON CONFLICT (name) DO UPDATE
          SET retention_succeeded_ms = excluded.retention_succeeded_ms, retention_failed_ms = excluded.retention_failed_ms
          WHERE (q.retention_succeeded_ms, q.retention_failed_ms) IS DISTINCT FROM (excluded.retention_succeeded_ms, excluded.retention_failed_ms)
        RETURNING 1)
      SELECT b.retention_succeeded_ms::float8 AS succeeded, b.retention_failed_ms::float8 AS failed
      FROM stored LEFT JOIN before b ON true`;
    // Queues with a retention of their own (ms as float8: exact up to 2^53, a JS number).
    this.pruneRetentions = `
      SELECT name AS queue, retention_succeeded_ms::float8 AS succeeded, retention_failed_ms::float8 AS failed
      FROM ${s}.queues WHERE retention_succeeded_ms IS NOT NULL OR retention_failed_ms IS NOT NULL`;
    // Does a queue keep its succeeded jobs? Not when its pools declared retention.succeeded = 0
    // (the UI says so instead of showing an empty list).
    this.uiKeepsSucceeded = `
      SELECT NOT EXISTS (SELECT 1 FROM ${s}.queues WHERE name = $1 AND retention_succeeded_ms = 0) AS keeps`;
    // A snoozed job: runs again later, its attempt not counted.
    this.snooze = `
      UPDATE ${s}.jobs SET run_at = clock_timestamp() + $2 * interval '1 millisecond' WHERE id = $1`;
    // --- end admin -------------------------------------------------------------------------------

    // --- otel (src/otel/instrumentation.ts) ------------------------------------------------------
    // Queue depth for the metrics gauge, one statement per collection: live jobs per queue that
    // are due (available), scheduled, or running (locked by a transaction in progress, or held
    // by a lease in lease mode, whose run_at is then the lease's expiry: exact, where the pools'
    // heartbeat counts lag). Queues of live pools report zeros, so their series do not vanish
    // when they drain.
    this.otelQueueDepth = `
      WITH rows AS (
        SELECT j.queue, j.run_at, coalesce(${runningNow("j")}, false) OR ${leaseHeld("j")} AS running
        FROM ${s}.jobs j),
      live AS (
        SELECT queue,
               count(*) FILTER (WHERE NOT running AND run_at <= clock_timestamp()) AS available,
               count(*) FILTER (WHERE NOT running AND run_at > clock_timestamp()) AS scheduled,
               count(*) FILTER (WHERE running) AS running
        FROM rows
        GROUP BY queue),
      names AS (SELECT queue FROM live
                UNION SELECT queue FROM ${s}.pools WHERE last_seen_at > clock_timestamp() - interval '1 minute')
      SELECT n.queue, coalesce(l.available, 0)::int AS available, coalesce(l.scheduled, 0)::int AS scheduled,
             coalesce(l.running, 0)::int AS running
      FROM names n LEFT JOIN live l ON l.queue = n.queue
      ORDER BY n.queue`;
    // --- end otel --------------------------------------------------------------------------------

    // --- ui (src/admin/ui/data.ts) ---------------------------------------------------------------
    // `now()` rather than `clock_timestamp()` as the bound: these run alone in autocommit (now()
    // is the statement's start), and a volatile bound keeps PostgreSQL from using an index.
    // Finished jobs of the last hour per queue in twelve 5-minute buckets (0 = the latest):
    // the overview's counts and throughput sparkline. Every state is named (the three there are)
    // so that this is three short range scans of job_history_state_finished, which state leads.
    this.uiThroughput = `
      SELECT queue, least(floor(extract(epoch FROM (now() - finished_at)) / 300), 11)::int AS bucket,
             count(*) FILTER (WHERE state = 'succeeded')::int AS succeeded,
             count(*) FILTER (WHERE state = 'failed')::int AS failed
      FROM ${s}.job_history
      WHERE state IN ('succeeded', 'failed', 'cancelled') AND finished_at > now() - interval '1 hour'
      GROUP BY 1, 2`;
    // Failed jobs per queue and type, most first: the failed page's "requeue all of a type".
    this.uiFailedGroups = `
      SELECT queue, type, count(*)::int AS n, max(finished_at) AS last_failed_at
      FROM ${s}.job_history
      WHERE state = 'failed' AND ($1::text IS NULL OR queue = $1)
      GROUP BY queue, type
      ORDER BY n DESC, queue, type
      LIMIT $2`;
    // Job types known in a queue (live jobs, pools' handlers, schedules): the type filter's
    // suggestions. History is left out: a DISTINCT over it would read every row.
    this.uiQueueTypes = `
      SELECT type FROM (
        SELECT DISTINCT type FROM ${s}.jobs WHERE queue = $1
        UNION SELECT unnest(job_types) FROM ${s}.pools WHERE queue = $1
        UNION SELECT type FROM ${s}.schedules WHERE queue = $1) t
      ORDER BY type LIMIT 500`;
    // The jobs workers are running now, oldest first: locked by a transaction in progress
    // (transaction mode), or held by a lease (lease mode). What the UI's queue page and
    // `arrower-jobs status` list, with each one's running attempt (a transaction's claim is not
    // visible to others: its row still shows the attempts before it; a lease's is), its lease
    // and its reported progress.
    this.runningJobs = `
      SELECT j.id::text AS id, j.queue, j.type, j.max_attempts,
             CASE WHEN ${leaseHeld("j")} THEN j.attempts ELSE j.attempts + 1 END AS attempt,
             CASE WHEN ${leaseHeld("j")} THEN j.lease_owner END AS lease_owner,
             CASE WHEN ${leaseHeld("j")} THEN j.run_at END AS lease_expires_at,
             CASE WHEN ${leaseHeld("j")} THEN j.leased_at END AS started_at,
             p.value AS progress, p.updated_at AS progress_at
      FROM ${s}.jobs j LEFT JOIN ${s}.progress p ON p.job_id = j.id
      WHERE ${runningNow("j")} OR ${leaseHeld("j")}
      ORDER BY j.id`;
    // A job's state alone, for the job page's live refresh (a live job locked by a transaction
    // in progress, or held by a lease, is running), with the progress it reported.
    this.uiJobState = `
      SELECT ${liveState("j")} AS state, attempts,
             ${runningNow("j")} OR ${leaseHeld("j")} AS running,
             p.value AS progress, p.updated_at AS progress_at
      FROM ${s}.jobs j LEFT JOIN ${s}.progress p ON p.job_id = j.id WHERE j.id = $1::bigint
      UNION ALL
      SELECT state, attempts, false AS running, NULL::jsonb, NULL::timestamptz FROM ${s}.job_history WHERE id = $1::bigint`;
    // The states of a workflow's jobs by id, for the workflow page's live refresh (running as
    // for uiJobState); a job pruned from history has none.
    this.uiWorkflowStates = `
      SELECT w.job_id::text AS id,
             CASE WHEN j.id IS NULL THEN h.state
                  WHEN coalesce(${runningNow("j")}, false) OR ${leaseHeld("j")} THEN 'running'
                  ELSE ${liveState("j")} END AS state,
             coalesce(j.attempts, h.attempts) AS attempts
      FROM ${s}.workflow_jobs w
      LEFT JOIN ${s}.jobs j ON j.id = w.job_id LEFT JOIN ${s}.job_history h ON h.id = w.job_id
      WHERE w.workflow_id = $1::bigint AND (j.id IS NOT NULL OR h.id IS NOT NULL)
      ORDER BY w.job_id`;
    // --- end ui ----------------------------------------------------------------------------------
  }

  readonly adminGetJob: string;
  readonly adminAttempts: string;
  readonly adminLockLive: string;
  readonly adminListLive: string;
  readonly adminListHistory: string;
  readonly adminRunNow: string;
  readonly adminRevive: string;
  readonly adminDeleteHistory: string;
  readonly adminDeleteLive: string;
  readonly adminDeleteAttempts: string;
  readonly adminCancel: string;
  readonly adminSetPaused: string;
  readonly adminRequeueFailed: string;
  readonly adminSucceededLastHour: string;
  readonly prune: string;
  readonly pruneLock: string;
  readonly pruneDeclare: string;
  readonly pruneRetentions: string;
  readonly snooze: string;
  readonly leaseTake: string;
  readonly limitSlot: string;
  readonly limitSlotSession: string;
  readonly limitUnlockAll: string;
  readonly rateTake: string;
  readonly wakeQueue: string;
  readonly leaseFate: string;
  readonly settleDependants: string;
  readonly parentResults: string;
  readonly workflowOf: string;
  readonly workflowJobs: string;
  readonly leaseRenew: string;
  readonly leaseFinish: string;
  readonly leaseRetry: string;
  readonly leaseRelease: string;
  readonly progressWrite: string;
  readonly progressDelete: string;
  readonly pruneProgress: string;
  readonly lockMigrate: string;
  readonly migrationsTableExists: string;
  readonly schemaVersion: string;
  readonly autovacuumOn: string;
  readonly migrationsTable: string;
  readonly createSchema: string;
  readonly recordMigration: string;
  readonly enqueue: string;
  readonly enqueueTick: string;
  readonly enqueueDedup: string;
  readonly enqueueWorkflow: string;
  readonly findLiveByDedupKey: string;
  readonly beginClaim: string;
  readonly openSlot: string;
  readonly claimPriority: string;
  readonly claimTime: string;
  readonly claimPriorityGrouped: string;
  readonly claimTimeGrouped: string;
  readonly nextDueIn: string;
  readonly releaseJobs: string;
  readonly crashedAttempt: string;
  readonly finishMany: string;
  readonly discard: string;
  readonly discardMany: string;
  readonly discardWithAttempts: string;
  readonly adminEndRuns: string;
  readonly uiKeepsSucceeded: string;
  readonly recordCrash: string;
  readonly finish: string;
  readonly finishWithResult: string;
  readonly adminGetResult: string;
  readonly finishManyWithResult: string;
  readonly retry: string;
  readonly finishDetached: string;
  readonly retryDetached: string;
  readonly heartbeat: string;
  readonly removePool: string;
  readonly terminateBackend: string;
  readonly status: string;
  readonly listPools: string;

  // --- cron ---
  readonly cronClock: string;
  readonly cronDeclare: string;
  readonly cronUnschedule: string;
  readonly cronList: string;
  readonly cronNextDue: string;
  readonly cronClaimDue: string;
  readonly cronAdvance: string;
  // --- end cron ---

  // --- otel ---
  readonly otelQueueDepth: string;
  // --- end otel ---

  // --- ui ---
  readonly uiThroughput: string;
  readonly uiFailedGroups: string;
  readonly uiQueueTypes: string;
  readonly uiJobState: string;
  readonly uiWorkflowStates: string;
  readonly runningJobs: string;
  // --- end ui ---
}

/** Applies replacements that must all match (a statement edited elsewhere fails loudly here). */
function rewrite(statement: string, replacements: ReadonlyArray<readonly [string, string]>): string {
  return replacements.reduce((text, [from, to]) => {
    if (!text.includes(from)) throw new Error(`internal: statement changed, cannot derive its detached form (missing ${from})`);
    return text.replace(from, to);
  }, statement);
}

/**
 * One statement for any batch: arrays in, unnest out (a VALUES list would hit the
 * 65,535-parameter limit). Ids are drawn in input order, so rows come back in input order
 * without joining on the insert's output. NOTIFY is delivered at commit, once per queue.
 *
 * Payloads come as one JSON array (parsed once, not a text[] of a thousand JSON texts: ~10 %
 * of a 1,000-job enqueue's time). Every other column comes as an array of one element per
 * job, or of one element when the whole batch shares its value (src/postgres/arrays.ts).
 *
 * `conflicts`:
 * - `none`: no dedup key and no cron tick, so only the primary key could refuse a row, and its
 *   ids come from the sequence: a plain INSERT, without ON CONFLICT's speculative insertion;
 * - `ignore`: a cron tick already enqueued (jobs_schedule_tick) is skipped;
 * - `dedup`: a key already live in its queue keeps its job and reports that job's id.
 * Without `dedup` the statement stays cheap enough that PostgreSQL never JIT-compiles it (a
 * 10,000-row batch once spent a second there).
 */
function enqueueStatement(s: string, conflicts: "none" | "ignore" | "dedup" | "workflow"): string {
  const columns = [
    ["queue", "$1::text[]"],
    ["type", "$2::text[]"],
    ["payload_meta", "$4::text[]"],
    ["priority", "$5::int[]"],
    ["run_at", "$6::timestamptz[]"],
    ["max_attempts", "$7::int[]"],
    ["timeout_ms", "$8::int[]"],
    ["dedup_key", "$9::text[]"],
    ["trace_context", "$10::jsonb[]"],
    ["schedule_id", "$11::bigint[]"],
    ["tick_at", "$12::timestamptz[]"],
    ["group_key", "$14::text[]"],
  ] as const;
  const rows = `ROWS FROM (jsonb_array_elements($3::jsonb), unnest(${columns.map(([, array]) => array).join(", ")}))
             WITH ORDINALITY AS t(payload, ${columns.map(([name]) => name).join(", ")}, ord)`;
  const values = `${columns.map(([name, array]) => sharedColumn(name, array)).join(",\n               ")}`;
  const insert = `INSERT INTO ${s}.jobs (id, queue, type, payload, payload_meta, priority, run_at,
                               max_attempts, timeout_ms, dedup_key, trace_context, schedule_id, tick_at, group_key)`;
  const notified = `(SELECT count(pg_notify($13, q.queue)) FROM (SELECT DISTINCT queue FROM inserted) q) AS notified`;
  if (conflicts === "workflow") {
    // Edges come as two arrays of positions in the call ($15 depends on $16, from 1); each
    // job's onParentFailure as $17 (one per job, or one for all). A job with parents waits
    // (run_at 'infinity') until its parents' finishing transactions release it.
    return `
      WITH input AS (
        SELECT nextval('${s}.job_id_seq') AS id, t.payload, t.ord,
               ${values}
        FROM ${rows}
      ),
      edges AS (
        SELECT c.id AS job_id, p.id AS parent_id
        FROM unnest($15::int[], $16::int[]) AS e(child, parent)
        JOIN input c ON c.ord = e.child JOIN input p ON p.ord = e.parent
      ),
      pending AS (SELECT job_id, count(*)::int AS n FROM edges GROUP BY job_id),
      policies AS (SELECT u.policy, u.ord FROM unnest($17::text[]) WITH ORDINALITY AS u(policy, ord)),
      inserted AS (
        ${insert.replace("tick_at, group_key)", "tick_at, group_key, deps_pending, has_dependants, on_parent_failure)")}
        SELECT i.id, i.queue, i.type, i.payload, i.payload_meta::jsonb, i.priority,
               CASE WHEN p.n > 0 THEN 'infinity'::timestamptz ELSE coalesce(i.run_at, clock_timestamp()) END,
               i.max_attempts, i.timeout_ms, i.dedup_key, i.trace_context, i.schedule_id, i.tick_at, i.group_key, p.n,
               CASE WHEN EXISTS (SELECT 1 FROM edges e WHERE e.parent_id = i.id) THEN true END,
               CASE WHEN p.n > 0 THEN (SELECT policy FROM policies WHERE policies.ord = CASE WHEN cardinality($17::text[]) = 1 THEN 1 ELSE i.ord END) END
        FROM input i LEFT JOIN pending p ON p.job_id = i.id
        RETURNING id, queue
      ),
      deps AS (INSERT INTO ${s}.job_deps (parent_id, job_id) SELECT parent_id, job_id FROM edges),
      members AS (
        INSERT INTO ${s}.workflow_jobs (job_id, workflow_id)
        SELECT id, (SELECT min(id) FROM input) FROM input)
      SELECT input.id::text AS id, ${notified}
      FROM input
      ORDER BY input.ord`;
  }
  if (conflicts === "none") {
    // Every row goes in: its ids, drawn in input order, come back sorted. Without an input CTE
    // to scan twice and sort by position, ~10 % faster per 1,000-job statement.
    return `
      WITH inserted AS (
        ${insert}
        SELECT nextval('${s}.job_id_seq'), queue, type, payload, payload_meta::jsonb, priority,
               coalesce(run_at, clock_timestamp()), max_attempts, timeout_ms, dedup_key, trace_context,
               schedule_id, tick_at, group_key
        FROM (SELECT t.ord, t.payload,
               ${values}
             FROM ${rows}) input
        RETURNING id, queue
      )
      SELECT inserted.id::text AS id, ${notified}
      FROM inserted
      ORDER BY inserted.id`;
  }
  // A row may be refused (a dedup key or cron tick already live): answers go by input position.
  return `
      WITH input AS (
        SELECT nextval('${s}.job_id_seq') AS id, t.payload, t.ord,
               ${values}
        FROM ${rows}
      ),
      inserted AS (
        ${insert}
        SELECT id, queue, type, payload, payload_meta::jsonb, priority, coalesce(run_at, clock_timestamp()),
               max_attempts, timeout_ms, dedup_key, trace_context, schedule_id, tick_at, group_key
        FROM input
        ON CONFLICT DO NOTHING
        RETURNING id, queue
      )
      SELECT ${
        conflicts === "dedup"
          ? `CASE WHEN input.dedup_key IS NULL OR input.id IN (SELECT id FROM inserted) THEN input.id
                  ELSE (SELECT j.id FROM ${s}.jobs j WHERE j.queue = input.queue AND j.dedup_key = input.dedup_key)
             END::text AS id`
          : "input.id::text AS id"
      },
             ${notified}
      FROM input
      ORDER BY input.ord`;
}

/** Column `name` of unnest alias `t`, sent as `array` by oneOrEach (src/postgres/arrays.ts). */
function sharedColumn(name: string, array: string): string {
  return `CASE WHEN cardinality(${array}) = 1 THEN (${array})[1] ELSE t.${name} END AS ${name}`;
}

/**
 * A timestamp as milliseconds since the epoch (float8, microseconds in the fraction), and back.
 * The worker's own statements pass times this way: `pg` parsed each timestamp with a regular
 * expression and formatted each one it sent, ~10 % of a short job's CPU in batched mode.
 * `±infinity` stays `±Infinity`.
 */
function toMs(timestamp: string): string {
  return `date_part('epoch', ${timestamp}) * 1000`;
}

function fromMs(ms: string): string {
  return `to_timestamp(${ms} / 1000)`;
}

/**
 * Whether a worker is running the job row `alias` of `jobs` now: its row is locked by a
 * transaction in progress (NULL when it never was locked, or too long ago to tell).
 */
function runningNow(alias: string): string {
  return `${lockerStatus(`${alias}.xmax`)} = 'in progress'`;
}

/**
 * The state of live job row `alias` as the admin API lists it: `waiting` for the jobs it
 * depends on (its run_at is 'infinity' meanwhile), else by run_at.
 */
function liveState(alias: string): string {
  return `CASE WHEN ${alias}.deps_pending > 0 THEN 'waiting' WHEN ${alias}.run_at > clock_timestamp() THEN 'scheduled' ELSE 'available' END`;
}

/** Whether a lease holds the job row `alias` of `jobs` (lease mode: run_at is its expiry). */
function leaseHeld(alias: string): string {
  return `(${alias}.lease_owner IS NOT NULL AND ${alias}.run_at > clock_timestamp())`;
}

/**
 * The fate of the transaction that last locked or deleted a row, from its `xmax` (a 32-bit
 * `xid`): 'in progress', 'committed', 'aborted', or NULL (none, or too old to tell).
 * pg_xact_status takes a full (epoch-qualified) id: the xid is taken as the one nearest (within
 * 2^31, where wraparound protection keeps every live xid) to the statement snapshot's next xid,
 * before or after it — a row may have been locked by a transaction newer than the reader.
 * The snapshot, unlike pg_current_xact_id(), gives a read-only statement (the admin's, the
 * metrics') no transaction id: no commit record and WAL flush per read.
 */
function lockerStatus(xmax: string): string {
  const next = "(SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint)";
  const xid = `${xmax}::text::bigint`;
  // xid minus next's low 32 bits, as a signed 32-bit distance.
  const distance = `((${xid} - (${next} & 4294967295) + 6442450944) % 4294967296 - 2147483648)`;
  const full = `(${next} + ${distance})`;
  return `CASE WHEN ${xid} >= 3 AND ${full} >= 3 THEN pg_xact_status(${full}::text::xid8) END`;
}

/**
 * CTEs that end the runs of finished jobs going back to the live table (retry, requeueFailed:
 * their attempts start from zero again). `history` selects their history rows. Each job's
 * attempts of the run (stored as run 0) take the next run number, and its last attempt, kept on
 * the history row until now, joins them — unless recorded already (a crash found by the claim).
 * The NOT EXISTS reads the statement's snapshot, from before the renumbering.
 */
function endRuns(s: string, history: string): string {
  return `ended AS (
             SELECT h.id, h.state, h.attempts, h.last_error, h.started_at, h.finished_at, h.pool, h.trace_id,
                    (SELECT coalesce(max(a.run), 0) + 1 FROM ${s}.attempts a WHERE a.job_id = h.id) AS run
             FROM (${history}) h),
           numbered AS (
             UPDATE ${s}.attempts a SET run = ended.run FROM ended WHERE a.job_id = ended.id AND a.run = 0),
           last_attempts AS (
             INSERT INTO ${s}.attempts (job_id, run, attempt, outcome, error, started_at, finished_at, pool, trace_id)
             SELECT id, run, attempts, state, last_error, started_at, finished_at, pool, trace_id FROM ended
             WHERE attempts > 0
               AND NOT EXISTS (SELECT 1 FROM ${s}.attempts a WHERE a.job_id = ended.id AND a.run = 0 AND a.attempt = ended.attempts))`;
}

/** A claim statement of a pool with groupConcurrency (see claimPriorityGrouped). */
function groupedClaim(claim: string): string {
  return rewrite(claim, [
    ["j.lease_owner, j.has_dependants,", "j.lease_owner, j.has_dependants, j.group_key,"],
    ["AND j.type = ANY($2::text[])", "AND j.type = ANY($2::text[]) AND (j.group_key IS NULL OR NOT (j.group_key = ANY($4::text[])))"],
    ["next.has_dependants,", "next.has_dependants, next.group_key,"],
  ]);
}

/**
 * Claims up to $3 due jobs of a queue whose types this pool handles, in the caller's transaction,
 * skipping rows other workers hold.
 *
 * Crash accounting costs no write: a worker that dies mid-job (process killed, connection lost,
 * server restarted) leaves its aborted transaction in the job row's `xmax`, the row's last
 * locker, read here below the lock this claim takes. Every other way a job's transaction ends
 * leaves a row version without one: success deletes the row, a retry or snooze updates it, a
 * shutdown gives jobs back by committing, and a cut connection's jobs are given back by
 * releaseJobs. Which attempt crashed is looked up then (crashedAttempt): a subquery here made
 * the generic plan's estimate cross jit_above_cost, and every claim spent 65 ms compiling.
 */
function claimStatement(s: string, order: string): string {
  return `
      WITH next AS (
        SELECT j.id, j.type, j.payload, j.payload_meta, j.priority, j.run_at, j.created_at,
               j.attempts, j.max_attempts, j.timeout_ms, j.trace_context, j.lease_owner, j.has_dependants, j.xmax AS locker
        FROM ${s}.jobs j
        WHERE j.queue = $1 AND j.run_at <= clock_timestamp() AND j.type = ANY($2::text[])
          AND NOT EXISTS (SELECT 1 FROM ${s}.queues q WHERE q.name = $1 AND q.paused)
        ORDER BY ${order}
        LIMIT $3
        FOR UPDATE OF j SKIP LOCKED
      )
      SELECT next.id::text AS id, next.type, next.payload, next.payload_meta, next.priority,
             ${toMs("next.run_at")} AS run_at, ${toMs("next.created_at")} AS created_at, next.attempts,
             next.max_attempts, next.timeout_ms, next.trace_context,
             coalesce(${lockerStatus("next.locker")} = 'aborted', false) AS crashed, next.lease_owner AS leased_by,
             next.has_dependants,
             ${toMs("clock_timestamp()")} AS started_at
      FROM next`;
}
