-- arrower-jobs schema, version 6.
-- Lease mode (defineJob(name, { mode: "lease" })): a long job's claim commits at once and its
-- handler runs outside any transaction, so it holds no row lock, no connection and no snapshot
-- (vacuum's horizon) for hours. The job's row says who holds it, until when:
-- - `lease_owner`: the pool running it (NULL: not leased). Together with `attempts`, which the
--   claim that takes the lease sets to the attempt it starts, it fences the attempt: every
--   write of the holder (renewal, finish, retry) names both, so a holder whose lease expired
--   and was taken over changes nothing.
-- - `run_at`: while leased, the lease's expiry. The claim's condition `run_at <= now` then
--   skips leased jobs until their lease expires with no change to the claim's index or plan,
--   and a lease whose holder stopped renewing falls due like any job; the claimer counts the
--   holder's attempt as crashed.
-- - `lease_run_at`: the job's run_at before it was leased (copied to history as its run_at).
-- - `leased_at`: when the current attempt took the lease (its start).
-- Nullable columns without a default: adding them rewrites nothing.
ALTER TABLE :ARROWER_SCHEMA.jobs
  ADD COLUMN lease_owner text COLLATE "C",
  ADD COLUMN leased_at timestamptz,
  ADD COLUMN lease_run_at timestamptz;

-- Progress reported by running jobs (ctx.progress), in both modes. A table of its own: a
-- transaction-mode job's row is locked by its uncommitted transaction, and progress written
-- there would be invisible until the job ended. Written outside the job's transaction, so
-- others see it at once; UNLOGGED, as it only describes jobs running now (a server crash
-- empties it, and their attempts start over). Deleted when the job finishes; rows of jobs that
-- ended otherwise (a crash) are pruned by the retention round.
CREATE UNLOGGED TABLE :ARROWER_SCHEMA.progress (
  job_id      bigint PRIMARY KEY,
  value       jsonb NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
