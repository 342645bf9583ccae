-- arrower-jobs schema, version 4.
-- A finished job that is retried (retry, requeueFailed) runs again under its id, its attempts
-- counted from zero. Its attempts are numbered by run: `run` 0 holds the latest run's (the one
-- in progress, or the last), 1 the job's first run, 2 its second, … When a job is retried, its
-- run-0 rows take the next number, and its last attempt, kept on the history row until then,
-- joins them. Before, the new run's attempts collided with the old run's under one (job_id,
-- attempt) key: a crash was numbered from the old run's last attempt, and failed attempts were
-- dropped by ON CONFLICT.
-- Adding a column with a constant default rewrites nothing; the unique index is rebuilt.
ALTER TABLE :ARROWER_SCHEMA.attempts
  ADD COLUMN run integer NOT NULL DEFAULT 0 CHECK (run >= 0);
-- A retried job's last attempt may have succeeded (or been cancelled): kept in its run too.
ALTER TABLE :ARROWER_SCHEMA.attempts DROP CONSTRAINT attempts_outcome_check;
ALTER TABLE :ARROWER_SCHEMA.attempts
  ADD CONSTRAINT attempts_outcome_check CHECK (outcome IN ('failed', 'crashed', 'timeout', 'cancelled', 'succeeded'));
-- One row per attempt of the latest run (the workers' ON CONFLICT goes by it), and a job's
-- attempts of every run, in order, for the admin API, deletes and retention.
DROP INDEX :ARROWER_SCHEMA.attempts_job;
CREATE UNIQUE INDEX attempts_job ON :ARROWER_SCHEMA.attempts (job_id, attempt) WHERE run = 0;
CREATE INDEX attempts_job_run ON :ARROWER_SCHEMA.attempts (job_id, run, attempt);
