-- arrower-jobs schema, version 8.
-- Limits: rate limits, and the `group` of a job (enqueue option) that a queue's
-- groupConcurrency caps per group, so that one tenant's backlog cannot take every worker.
-- Rate limits (`rateLimit: { max, per }` of a job type or queue), cluster-wide: one row per
-- limit, its current window and the jobs started in it. A worker takes a token in a statement
-- of its own (autocommit) before it starts a job of a limited type: the row is locked for that
-- statement only, never for a job's run. Concurrency limits need no table: a running job holds
-- an advisory lock (src/worker/limits.ts).
CREATE TABLE :ARROWER_SCHEMA.rate_limits (
  key           text COLLATE "C" PRIMARY KEY,
  window_start  timestamptz NOT NULL,
  taken         integer NOT NULL
);

-- A job's group (enqueue's `group`, e.g. a tenant id; NULL: none). Nullable without a default:
-- adding it rewrites nothing.
ALTER TABLE :ARROWER_SCHEMA.jobs ADD COLUMN group_key text COLLATE "C";
