-- arrower-jobs schema, version 5.
-- Job results: what a handler returns (defineJob<P, R>) is stored with the finished job, written
-- by the statement that moves the job to history, in the job's own transaction. Like payloads:
-- superjson's JSON part in `result`, its type meta (Date, Map, BigInt…) in `result_meta`.
-- NULL: the handler returned nothing (or the job failed or was cancelled). Nullable columns
-- without a default: adding them rewrites nothing.
ALTER TABLE :ARROWER_SCHEMA.job_history
  ADD COLUMN result jsonb,
  ADD COLUMN result_meta jsonb;
