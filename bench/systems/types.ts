/**
 * What the scenarios need from each queue system. The measuring code (bench/child.ts) is the
 * same for every system; a system only knows how to enqueue, start its workers and say how many
 * jobs its store still holds.
 */

export const SYSTEMS = ["arrower", "graphile", "pgboss", "bullmqpg", "bullmqredis"] as const;
export type SystemId = (typeof SYSTEMS)[number];

export const SYSTEM_LABELS: Record<SystemId, string> = {
  arrower: "arrower-jobs",
  graphile: "graphile-worker",
  pgboss: "pg-boss",
  bullmqpg: "bullmq (pg)",
  bullmqredis: "bullmq (redis)",
};

/** Systems that keep their jobs in PostgreSQL (get a database of their own). */
export const PG_SYSTEMS: readonly SystemId[] = ["arrower", "graphile", "pgboss", "bullmqpg"];

/**
 * How workers run:
 * - `default`: 10 workers (concurrency 10), one job per fetch where the system has that mode.
 * - `batched`: the system's batched / local-queue mode at its documented fastest settings.
 * - `batched-lean`: the same, keeping no completed job (graphile-worker never keeps them;
 *   arrower-jobs with `retention: { succeeded: 0 }`).
 */
export type Variant = "default" | "batched" | "batched-lean";

/** Thrown when a system has no such mode; the cell shows "n/a" with the reason. */
export class Unsupported extends Error {}

export interface Harness {
  /** One job, one awaited call. */
  enqueue(i: number): Promise<void>;
  /** Jobs `from … from+count-1` in one call. */
  enqueueBatch(from: number, count: number): Promise<void>;
  /**
   * Starts the workers; `onJob(i)` is called at the start of each job's (no-op) handler.
   * Resolves when the workers are ready to take jobs.
   */
  startWorkers(variant: Variant, onJob: (i: number) => void): Promise<void>;
  /**
   * Starts ONE long job in the same database, on a worker of its own beside the 10 that
   * startWorkers starts, and resolves once its handler runs. It runs `ms` at most (close() ends
   * it sooner) and calls `onEnd` when its handler returns. arrower-jobs runs it in lease mode, in
   * the same queue. Absent: the system has none (the cell says n/a).
   */
  startLongJob?(ms: number, onEnd: () => void): Promise<void>;
  /** Short jobs the store has not completed yet (queued or running; the long job not counted). */
  pending(): Promise<number>;
  /** What the settings were, for the report. */
  describe(variant: Variant): string;
  /** Stops workers, closes every connection. */
  close(): Promise<void>;
}

export interface HarnessContext {
  /** The database (PostgreSQL systems). */
  url: string;
  /** A prefix unique to this measurement (Redis keys). */
  prefix: string;
}

export interface SystemModule {
  /** Creates the system's schema in a fresh database (the template). */
  migrate(url: string): Promise<void>;
  open(ctx: HarnessContext): Promise<Harness>;
  /** Package version, for the report. */
  version(): string;
}
