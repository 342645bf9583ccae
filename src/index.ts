/**
 * arrower-jobs: background jobs for Prisma and PostgreSQL, enqueued in your transaction and
 * run in one of their own.
 */
export { jobs, type JobsExtension } from "./prisma/extension.ts";
export type { Register, TransactionClient, RegisteredTransaction, RegisterYourPrismaClient_SeeReadmeInstall } from "./prisma/register.ts";
export type { JobsOptions } from "./engine.ts";
export { JobsClient, type SchemaStatus } from "./client.ts";
export type { Enqueuer, Scheduler } from "./enqueuer.ts";
export type { ScheduleOptions, ScheduleInfo } from "./cron/schedules.ts";
export {
  defineJob,
  dependsOn,
  type DependsOnOptions,
  type JobTypeDefaults,
  JobState,
  JOB_DEFAULTS,
  type Job,
  type JobType,
  type LeaseJobType,
  type LeaseJobTypeDefaults,
  type JobMode,
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
  InvalidProgressError,
  LeaseLostError,
  type ArrowerJobsErrorCode,
} from "./errors.ts";
export type { Queue, HandlerFor } from "./queue.ts";
export type { Handler, HandlerContext, JobContext, LeaseHandler, LeaseHandlerContext, ProgressValue, RegisterOptions, QueueEvents, JobEvent } from "./handler.ts";
export type { QueueOptions, Strategy } from "./worker/options.ts";
export type { BackoffOptions } from "./backoff.ts";
export type { LimitOptions, RateLimit } from "./limits.ts";
export { defineConfig, handle, type ArrowerJobsConfig, type QueueConfig, type HandlerEntry } from "./config-file.ts";
export { UnrecoverableError, snooze, JobSnooze } from "./outcomes.ts";
export type { JobInfo, JobDetails, AttemptInfo, JobFilter, JobPage, QueueStats, PruneOptions, RequeueResult, WorkflowInfo } from "./admin/api.ts";
