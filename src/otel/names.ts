/**
 * Every name arrower-jobs puts on a span or a metric, in one place: the instrumentation uses
 * them, the README documents them, and the dashboard test checks the Grafana queries against
 * them. Renaming one is a breaking change for dashboards and alerts.
 *
 * Span attributes follow the OpenTelemetry semantic conventions for messaging
 * (`messaging.*`, `error.type`); what the conventions have no name for is under
 * `arrower_jobs.*`.
 */

/** Instrumentation scope of the tracer and the meter. */
export const SCOPE = "arrower-jobs";

/** `messaging.system` of every span. */
export const MESSAGING_SYSTEM = "arrower-jobs";

/** Attribute names. */
export const ATTR = {
  messagingSystem: "messaging.system",
  operationType: "messaging.operation.type",
  operationName: "messaging.operation.name",
  /** The queue. Also on every metric. */
  destination: "messaging.destination.name",
  /** The job id (on a send span only when the call enqueued one job). */
  messageId: "messaging.message.id",
  /** Jobs in one enqueue call, when it sent more than one. */
  batchCount: "messaging.batch.message_count",
  /** The pool that ran the attempt (`poolName`, default `host:pid`). */
  clientId: "messaging.client.id",
  /** The error's class name (`Error`, `JobTimeoutError`, …), on failed attempts and enqueues. */
  errorType: "error.type",
  /** The job type. Also on every metric. */
  jobType: "arrower_jobs.job.type",
  /** This attempt's number, from 1. */
  attempt: "arrower_jobs.job.attempt",
  maxAttempts: "arrower_jobs.job.max_attempts",
  priority: "arrower_jobs.job.priority",
  /** Milliseconds from the job's due time (`run_at`) to the start of this attempt. */
  waitMs: "arrower_jobs.job.wait_ms",
  /** How an attempt ended: see {@link AttemptOutcome}. Also on the run-duration histogram. */
  outcome: "arrower_jobs.attempt.outcome",
  /** Queue depth state: `available` (due), `scheduled` (run_at in the future) or `running`. */
  state: "arrower_jobs.job.state",
  /** The cron schedule a tick span enqueues for. */
  scheduleId: "arrower_jobs.schedule.id",
} as const;

/**
 * How an attempt ended:
 * - `succeeded`: the handler returned and its transaction committed;
 * - `retried`: it failed and the job runs again later;
 * - `failed`: it failed and was the last attempt, or threw `UnrecoverableError` (the job is kept
 *   as failed);
 * - `snoozed`: the handler snoozed the job (it runs again later; the attempt does not count);
 * - `abandoned`: shutdown aborted it past the deadline and gave the job back (the attempt does
 *   not count);
 * - `crashed`: the worker lost its connection before it could record the outcome (the next
 *   claimer counts the attempt as crashed).
 */
export type AttemptOutcome = "succeeded" | "retried" | "failed" | "snoozed" | "abandoned" | "crashed";

/** Queue depth states, as {@link JobState} names them. */
export const DEPTH_STATES = ["available", "scheduled", "running"] as const;

type MetricKind = "counter" | "histogram" | "gauge";

/** One metric: its OpenTelemetry name, kind, unit (UCUM), attributes and meaning. */
export interface MetricDefinition {
  readonly name: string;
  readonly kind: MetricKind;
  readonly unit: string;
  readonly attributes: readonly string[];
  readonly description: string;
}

/**
 * Bucket boundaries of the duration histograms, in seconds: from 5 ms (a job that only writes a
 * row) to an hour (a report, or a backlog's wait).
 */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

const JOB = [ATTR.destination, ATTR.jobType] as const;

/** Every metric arrower-jobs records. */
export const METRICS = {
  enqueued: {
    name: "arrower_jobs.enqueued",
    kind: "counter",
    unit: "{job}",
    attributes: JOB,
    description: "Jobs sent by enqueue calls and cron ticks (counted when the insert succeeds, even if the caller's transaction later rolls back)",
  },
  succeeded: {
    name: "arrower_jobs.succeeded",
    kind: "counter",
    unit: "{job}",
    attributes: JOB,
    description: "Jobs whose attempt succeeded",
  },
  retried: {
    name: "arrower_jobs.retried",
    kind: "counter",
    unit: "{attempt}",
    attributes: JOB,
    description: "Attempts that failed and will be retried",
  },
  failed: {
    name: "arrower_jobs.failed",
    kind: "counter",
    unit: "{job}",
    attributes: JOB,
    description: "Jobs that failed for good (last attempt failed, UnrecoverableError, or a payload that cannot be decoded)",
  },
  snoozed: {
    name: "arrower_jobs.snoozed",
    kind: "counter",
    unit: "{attempt}",
    attributes: JOB,
    description: "Attempts whose handler snoozed the job",
  },
  crashed: {
    name: "arrower_jobs.crashed",
    kind: "counter",
    unit: "{attempt}",
    attributes: JOB,
    description: "Attempts whose worker died mid-job, counted by the worker that claims the job next",
  },
  runDuration: {
    name: "arrower_jobs.run.duration",
    kind: "histogram",
    unit: "s",
    attributes: [...JOB, ATTR.outcome],
    description: "Duration of an attempt: handler, then recording its outcome and committing",
  },
  waitDuration: {
    name: "arrower_jobs.wait.duration",
    kind: "histogram",
    unit: "s",
    attributes: JOB,
    description: "Time from a job's due time (run_at) to the start of its attempt",
  },
  queueDepth: {
    name: "arrower_jobs.queue.depth",
    kind: "gauge",
    unit: "{job}",
    attributes: [ATTR.destination, ATTR.state],
    description: "Live jobs per queue and state (available = due, scheduled, running), read with one query per collection while a pool runs in this process",
  },
} as const satisfies Record<string, MetricDefinition>;
