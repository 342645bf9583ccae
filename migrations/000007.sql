-- arrower-jobs schema, version 7.
-- Workflows: jobs enqueued together where some depend on others (`dependsOn`). A job that
-- depends on others waits with `deps_pending` > 0 and run_at = 'infinity' (the claim's
-- `run_at <= now` skips it with no change to the claim's index or plan); the transaction that
-- finishes a parent releases it (decrements, and at zero makes it due now and NOTIFYs), so no
-- background resolver is needed and nothing is released that has not committed. A parent that
-- fails for good (or is cancelled) cancels its dependants, or, for those enqueued with
-- onParentFailure: "run", counts as done for them.
-- - `deps_pending`: parents not yet settled (NULL: the job depends on none).
-- - `has_dependants`: true when jobs depend on this one (NULL otherwise): the worker runs the
--   release statement in the finishing transaction of such jobs only.
-- - `on_parent_failure`: 'cancel' or 'run' (NULL: the job depends on none).
-- Nullable columns without a default: adding them rewrites nothing.
ALTER TABLE :ARROWER_SCHEMA.jobs
  ADD COLUMN deps_pending integer,
  ADD COLUMN has_dependants boolean,
  ADD COLUMN on_parent_failure text COLLATE "C" CHECK (on_parent_failure IN ('cancel', 'run'));

-- The edges: `job_id` depends on `parent_id`. Kept after the jobs finish (a child reads its
-- parents' results through them; the admin API shows a workflow), and pruned with history.
CREATE TABLE :ARROWER_SCHEMA.job_deps (
  parent_id  bigint NOT NULL,
  job_id     bigint NOT NULL,
  PRIMARY KEY (parent_id, job_id)
);
CREATE INDEX job_deps_job ON :ARROWER_SCHEMA.job_deps (job_id);

-- Which workflow a job belongs to: the id of the first job of the enqueue call that made it.
CREATE TABLE :ARROWER_SCHEMA.workflow_jobs (
  job_id       bigint PRIMARY KEY,
  workflow_id  bigint NOT NULL
);
CREATE INDEX workflow_jobs_workflow ON :ARROWER_SCHEMA.workflow_jobs (workflow_id);
