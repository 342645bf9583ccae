-- arrower-jobs schema, version 1. Append-only once released: change the schema in a new file.
-- :ARROWER_SCHEMA is replaced by the schema name (validated as a plain identifier, then quoted).
-- The job state machine (docs/states.md) in one paragraph: a live job sits in `jobs` and is
-- available (run_at <= now) or scheduled (run_at > now); a worker runs it while holding its row
-- lock; when it finishes it moves to `job_history` as succeeded, failed or cancelled.

-- One sequence for live and finished jobs, so an id names one job for its whole life.
CREATE SEQUENCE :ARROWER_SCHEMA.job_id_seq AS bigint;

-- Queues that have been paused, or whose pools declared a retention; a queue with no row (or
-- paused = false) is active, and one with no retention here keeps history by the default. Each
-- pool stores its queue's retention when it starts (NULL: the default), so that every process's
-- pruner applies it, also one that runs no pool of that queue.
CREATE TABLE :ARROWER_SCHEMA.queues (
  name                    text PRIMARY KEY,
  paused                  boolean NOT NULL DEFAULT false,
  updated_at              timestamptz NOT NULL DEFAULT clock_timestamp(),
  retention_succeeded_ms  bigint CHECK (retention_succeeded_ms >= 0),
  retention_failed_ms     bigint CHECK (retention_failed_ms >= 0)
);

-- Live jobs. Running jobs are here too, invisible as such to other sessions (their lock is
-- uncommitted): pools report their in-flight counts in `pools`.
CREATE TABLE :ARROWER_SCHEMA.jobs (
  id             bigint PRIMARY KEY DEFAULT nextval(':ARROWER_SCHEMA.job_id_seq'),
  queue          text NOT NULL CHECK (length(queue) BETWEEN 1 AND 64),
  type           text NOT NULL CHECK (length(type) BETWEEN 1 AND 128),
  payload        jsonb NOT NULL,
  payload_meta   jsonb,
  priority       integer NOT NULL DEFAULT 0,
  run_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
  created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  attempts       integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts   integer NOT NULL DEFAULT 25 CHECK (max_attempts >= 1),
  timeout_ms     integer NOT NULL DEFAULT 30000 CHECK (timeout_ms >= 1),
  dedup_key      text,
  last_error     text,
  schedule_id    bigint,
  tick_at        timestamptz,
  trace_context  jsonb
);
ALTER SEQUENCE :ARROWER_SCHEMA.job_id_seq OWNED BY :ARROWER_SCHEMA.jobs.id;

-- Claim, strategy "priority": priority, then run_at, within a queue.
CREATE INDEX jobs_claim_priority ON :ARROWER_SCHEMA.jobs (queue, priority, run_at, id);
-- Claim, strategy "time": run_at only.
CREATE INDEX jobs_claim_time ON :ARROWER_SCHEMA.jobs (queue, run_at, id);
-- A dedup key names one live job per queue.
CREATE UNIQUE INDEX jobs_dedup ON :ARROWER_SCHEMA.jobs (queue, dedup_key) WHERE dedup_key IS NOT NULL;
-- One job per cron tick.
CREATE UNIQUE INDEX jobs_schedule_tick ON :ARROWER_SCHEMA.jobs (schedule_id, tick_at) WHERE schedule_id IS NOT NULL;

-- Finished jobs. The last attempt's facts are kept on the row itself (one insert per job
-- instead of two); earlier failed or crashed attempts are in `attempts`.
CREATE TABLE :ARROWER_SCHEMA.job_history (
  id             bigint PRIMARY KEY,
  queue          text NOT NULL,
  type           text NOT NULL,
  payload        jsonb NOT NULL,
  payload_meta   jsonb,
  priority       integer NOT NULL,
  run_at         timestamptz NOT NULL,
  created_at     timestamptz NOT NULL,
  state          text NOT NULL CHECK (state IN ('succeeded', 'failed', 'cancelled')),
  attempts       integer NOT NULL,
  max_attempts   integer NOT NULL,
  timeout_ms     integer NOT NULL,
  dedup_key      text,
  last_error     text,
  schedule_id    bigint,
  tick_at        timestamptz,
  trace_context  jsonb,
  started_at     timestamptz,
  finished_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  pool           text,
  trace_id       text
);
-- Listing by state (and queue), newest first, with keyset pagination on id.
CREATE INDEX job_history_state ON :ARROWER_SCHEMA.job_history (state, id DESC);
CREATE INDEX job_history_queue_state ON :ARROWER_SCHEMA.job_history (queue, state, id DESC);
-- Filtered by job type too (the UI's type filter): a rare type must not scan the whole history.
CREATE INDEX job_history_queue_type_state ON :ARROWER_SCHEMA.job_history (queue, type, state, id DESC);
-- Retention: prune by age, one state at a time (failed jobs are kept longer, so an index led by
-- finished_at alone made every batch of succeeded jobs read past all the failed ones still kept);
-- also the recent jobs of one state (or of each, with state IN (...)) for the overview's counts.
CREATE INDEX job_history_state_finished ON :ARROWER_SCHEMA.job_history (state, finished_at, id);

-- Attempts that did not finish the job: failures that were retried, crashes, timeouts.
CREATE TABLE :ARROWER_SCHEMA.attempts (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id       bigint NOT NULL,
  attempt      integer NOT NULL,
  outcome      text NOT NULL CHECK (outcome IN ('failed', 'crashed', 'timeout', 'cancelled')),
  error        text,
  started_at   timestamptz,
  finished_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  pool         text,
  trace_id     text
);
CREATE UNIQUE INDEX attempts_job ON :ARROWER_SCHEMA.attempts (job_id, attempt);
CREATE INDEX attempts_finished ON :ARROWER_SCHEMA.attempts (finished_at);

-- Attempts in flight. Written outside the job's transaction (which may die with its worker),
-- deleted inside it; a row left behind is an attempt whose worker crashed. UNLOGGED: cheap to
-- write, and after a server crash (when it is emptied) there is no worker left to blame.
CREATE UNLOGGED TABLE :ARROWER_SCHEMA.inflight (
  job_id      bigint PRIMARY KEY,
  attempt     integer NOT NULL,
  pool        text NOT NULL,
  started_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Repeating jobs. Identity: `name` when given, else type + spec + timezone + canonical payload.
CREATE TABLE :ARROWER_SCHEMA.schedules (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name           text,
  identity       text NOT NULL UNIQUE,
  spec           text NOT NULL,
  timezone       text NOT NULL DEFAULT 'UTC',
  queue          text NOT NULL,
  type           text NOT NULL,
  payload        jsonb NOT NULL,
  payload_meta   jsonb,
  priority       integer,
  max_attempts   integer,
  timeout_ms     integer,
  next_run_at    timestamptz NOT NULL,
  last_run_at    timestamptz,
  declared_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  created_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE UNIQUE INDEX schedules_name ON :ARROWER_SCHEMA.schedules (name) WHERE name IS NOT NULL;
CREATE INDEX schedules_due ON :ARROWER_SCHEMA.schedules (next_run_at);

-- Worker pools, one row per (pool, queue), refreshed by a heartbeat.
CREATE TABLE :ARROWER_SCHEMA.pools (
  name          text NOT NULL,
  queue         text NOT NULL,
  job_types     text[] NOT NULL,
  size          integer NOT NULL,
  running       integer NOT NULL DEFAULT 0,
  host          text NOT NULL,
  pid           integer NOT NULL,
  started_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  last_seen_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (name, queue)
);
