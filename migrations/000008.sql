-- arrower-jobs schema, version 8.
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
