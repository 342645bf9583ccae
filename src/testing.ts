/**
 * `arrower-jobs/testing`: an in-memory queue with assertions, for testing the code that enqueues
 * jobs, and whole flows through the handlers, without a database.
 *
 * @example
 * ```ts
 * import { createTestingJobs } from "arrower-jobs/testing";
 *
 * const jobs = createTestingJobs();
 * await signUp({ jobs, users }, "ada@example.com");
 * jobs.assert().queued(SendWelcome, 1);
 * ```
 */
export {
  createTestingJobs,
  TestingJobs,
  type TestingJobsOptions,
  type DrainOptions,
  type RunSummary,
  type TestingJobEvent,
  type TestingWorkflow,
} from "./testing/queue.ts";
export type { JobAssertions, WorkflowJob } from "./testing/assertions.ts";
export type { QueuedJob, FinishedJob, FinishedState } from "./testing/store.ts";
export { DrainLimitError, NoHandlerError, type QueuedCount } from "./testing/errors.ts";
