-- arrower-jobs schema, version 2.
-- Crash accounting no longer writes an in-flight mark per attempt: a claim reads the job row's
-- last locker (its xmax), and a worker that died mid-job left its aborted transaction there
-- (see the claim in src/postgres/queries.ts).
DROP TABLE :ARROWER_SCHEMA.inflight;
