/**
 * What application code depends on to enqueue and schedule jobs: `prisma.$jobs`, `tx.$jobs`, a
 * `Queue` and the testing queue all satisfy these interfaces.
 */
import type { EnqueueOptions } from "./config.ts";
import type { Job } from "./job.ts";
import type { ScheduleOptions } from "./cron/schedules.ts";

/**
 * Enqueues jobs. `prisma.$jobs`, `tx.$jobs`, a `Queue` and the testing queue all satisfy it:
 * let application code depend on this, not on Prisma.
 *
 * @example
 * ```ts
 * async function signUp(jobs: Enqueuer, userId: number) {
 *   await jobs.enqueue(SendWelcome({ userId, at: new Date() }));
 * }
 * ```
 */
export interface Enqueuer {
  /**
   * Enqueues one job and returns its id. On `tx.$jobs` the job exists only if `tx` commits.
   * @throws InvalidJobError, InvalidPayloadError, InvalidOptionsError, MigrationsPendingError
   */
  enqueue<P>(job: Job<P>, options?: EnqueueOptions): Promise<string>;
  /** Enqueues a batch (of one type or mixed) with one statement; returns the ids in order. */
  enqueue(jobs: readonly Job[], options?: EnqueueOptions): Promise<string[]>;
}

/**
 * Makes jobs repeat. `prisma.$jobs` and `tx.$jobs` satisfy it: let application code depend on
 * this, not on Prisma.
 *
 * @example
 * ```ts
 * async function declareSchedules(scheduler: Scheduler) {
 *   await scheduler.schedule("0 4 * * *", Cleanup({ olderThanDays: 30 }), { name: "nightly-cleanup" });
 * }
 * ```
 */
export interface Scheduler {
  /**
   * Makes `job` repeat on `spec` and returns the schedule's id. Declaring the same schedule
   * again (same `name`; without a name, same job type, spec, time zone and payload) returns the
   * same id; with a name it replaces the schedule's spec, time zone, job and options.
   * @throws InvalidCronError, InvalidJobError, InvalidPayloadError, InvalidOptionsError, MigrationsPendingError
   */
  schedule<P>(spec: string, job: Job<P>, options?: ScheduleOptions): Promise<string>;
  /** Removes a schedule by id or name; resolves to whether it existed. */
  unschedule(idOrName: string): Promise<boolean>;
}
