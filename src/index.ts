/**
 * arrower-jobs: background jobs for Prisma and PostgreSQL, enqueued in your transaction and
 * run in one of their own.
 */
export { jobs, type JobsExtension, type Register, type TransactionClient, type RegisteredTransaction, type RegisterYourPrismaClient_SeeReadmeInstall } from "./prisma/extension.ts";
export type { JobsOptions } from "./engine.ts";
export { JobsClient, type Enqueuer, type Scheduler, type SchemaStatus } from "./client.ts";
export type { ScheduleOptions, ScheduleInfo } from "./cron/schedules.ts";
export {
  defineJob,
  type JobTypeDefaults,
  JobState,
  JOB_DEFAULTS,
  type Job,
  type JobType,
  type JobDefaults,
  type PayloadOf,
  type ResultOf,
} from "./job.ts";
export type { EnqueueOptions } from "./config.ts";
export type { MigrateResult } from "./postgres/migrations.ts";
export type { Logger } from "./logger.ts";
export { consoleLogger, silentLogger, pinoLogger } from "./logger.ts";
export {
  ArrowerJobsError,
  InvalidJobError,
  InvalidPayloadError,
  InvalidResultError,
  InvalidOptionsError,
  InvalidNameError,
  InvalidCronError,
  MigrationsPendingError,
  SchemaTooNewError,
  NotEnoughConnectionsError,
  IntegrationError,
  JobRunningError,
  JobNotFoundError,
  DuplicateJobError,
  type ArrowerJobsErrorCode,
} from "./errors.ts";
export type { Queue, Handler, HandlerFor, HandlerContext, RegisterOptions, QueueEvents, JobEvent } from "./queue.ts";
export type { QueueOptions, BackoffOptions, Strategy } from "./worker/options.ts";
export { defineConfig, handle, type ArrowerJobsConfig, type QueueConfig, type HandlerEntry } from "./config-file.ts";
export { UnrecoverableError, snooze, JobSnooze } from "./outcomes.ts";
export type { JobInfo, JobDetails, AttemptInfo, JobFilter, JobPage, QueueStats, PruneOptions, RequeueResult } from "./admin/api.ts";
