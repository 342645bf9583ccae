/**
 * The errors arrower-jobs throws. Every error is an {@link ArrowerJobsError} with a stable
 * `code` that programs can branch on, and a message that says what was detected and how to
 * fix it. Bad input is rejected before anything is written.
 *
 * @example
 * ```ts
 * try {
 *   await prisma.$jobs.enqueue(SendWelcome({ userId: 1, at: new Date() }), { priorty: 1 });
 * } catch (error) {
 *   if (error instanceof InvalidOptionsError) console.error(error.message);
 *   // unknown option "priorty" for enqueue options, did you mean "priority"?
 * }
 * ```
 */

/** Stable machine-readable codes, one per kind of failure. */
export type ArrowerJobsErrorCode =
  | "INVALID_JOB"
  | "INVALID_PAYLOAD"
  | "INVALID_RESULT"
  | "INVALID_OPTIONS"
  | "INVALID_NAME"
  | "INVALID_CRON"
  | "MIGRATIONS_PENDING"
  | "SCHEMA_TOO_NEW"
  | "NOT_ENOUGH_CONNECTIONS"
  | "INTEGRATION"
  | "JOB_RUNNING"
  | "JOB_NOT_FOUND"
  | "DUPLICATE_JOB"
  | "INVALID_PROGRESS"
  | "LEASE_LOST"
  | "TESTING_ASSERTION"
  | "DRAIN_LIMIT";

/** Base class of every error arrower-jobs throws. */
export class ArrowerJobsError extends Error {
  /** A stable code for this kind of failure. */
  readonly code: ArrowerJobsErrorCode;

  constructor(code: ArrowerJobsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A value given where a job was expected is not one (make jobs by calling a job type). */
export class InvalidJobError extends ArrowerJobsError {
  constructor(message: string) {
    super("INVALID_JOB", message);
  }
}

/**
 * A payload cannot be stored faithfully (functions, symbols, unknown classes, `\u0000`, too large,
 * too deep, or a value that would come back changed: a Buffer, an invalid Date, a sparse array).
 */
export class InvalidPayloadError extends ArrowerJobsError {
  /** The job type whose payload was rejected. */
  readonly jobType: string;
  /** Where in the payload the problem is, as a path like `user.tags[2]`. */
  readonly path: string;
  /** What is wrong there, e.g. `a function cannot be stored`. */
  readonly problem: string;

  constructor(jobType: string, path: string, problem: string, options?: { cause?: unknown }) {
    super(
      "INVALID_PAYLOAD",
      `payload of job "${jobType}" cannot be stored: ${problem} at ${path || "(root)"}`,
      options,
    );
    this.jobType = jobType;
    this.path = path;
    this.problem = problem;
  }
}

/**
 * What a handler returned cannot be stored as the job's result: the same checks as payloads
 * (functions, unknown classes, `\u0000`, too large…). The attempt fails with this error, its
 * writes roll back, and the job is retried like after any failure.
 */
export class InvalidResultError extends ArrowerJobsError {
  /** The job type whose handler returned the value. */
  readonly jobType: string;
  /** Where in the result the problem is, as a path like `rows[2].at`. */
  readonly path: string;

  constructor(jobType: string, path: string, problem: string, options?: { cause?: unknown }) {
    super(
      "INVALID_RESULT",
      `the handler of job "${jobType}" returned a result that cannot be stored: ${problem} at ${path || "(root)"}`,
      options,
    );
    this.jobType = jobType;
    this.path = path;
  }
}

/** Options that are unknown, of the wrong type or out of range. */
export class InvalidOptionsError extends ArrowerJobsError {
  /** The option at fault, e.g. `maxAttempts`. */
  readonly option: string;

  constructor(option: string, message: string) {
    super("INVALID_OPTIONS", message);
    this.option = option;
  }
}

/** A job-type or queue name that is empty, too long or uses characters that are not allowed. */
export class InvalidNameError extends ArrowerJobsError {
  constructor(message: string) {
    super("INVALID_NAME", message);
  }
}

/** A cron spec, time zone or `@every` duration that cannot be used. */
export class InvalidCronError extends ArrowerJobsError {
  /** The spec as given. */
  readonly spec: string;

  constructor(spec: string, problem: string) {
    // A spec of thousands of characters would drown the problem: quote its start.
    const quoted = spec.length > 120 ? `"${spec.slice(0, 100)}…" (${spec.length} characters)` : `"${spec}"`;
    super("INVALID_CRON", `invalid schedule ${quoted}: ${problem}`);
    this.spec = spec;
  }
}

/** The library's tables are missing or older than this version of arrower-jobs. */
export class MigrationsPendingError extends ArrowerJobsError {
  /** The schema version found in the database (0 when the schema does not exist). */
  readonly found: number;
  /** The schema version this version of arrower-jobs needs. */
  readonly expected: number;

  constructor(schema: string, found: number, expected: number) {
    super(
      "MIGRATIONS_PENDING",
      found === 0
        ? `arrower-jobs tables are missing in schema "${schema}": run \`npx arrower-jobs migrate\` or \`await prisma.$jobs.migrate()\``
        : `arrower-jobs schema "${schema}" is at version ${found}, this version needs ${expected}: run \`npx arrower-jobs migrate\` or \`await prisma.$jobs.migrate()\``,
    );
    this.found = found;
    this.expected = expected;
  }
}

/** The database was migrated by a newer arrower-jobs than this one (deploy the new code first). */
export class SchemaTooNewError extends ArrowerJobsError {
  readonly found: number;
  readonly expected: number;

  constructor(schema: string, found: number, expected: number) {
    super(
      "SCHEMA_TOO_NEW",
      `arrower-jobs schema "${schema}" is at version ${found}, newer than the ${expected} this version knows: upgrade arrower-jobs in this process`,
    );
    this.found = found;
    this.expected = expected;
  }
}

/** A queue's pool cannot get the connections it needs. */
export class NotEnoughConnectionsError extends ArrowerJobsError {
  readonly needed: number;
  readonly available: number;

  constructor(queue: string, needed: number, available: number, cause?: unknown) {
    super(
      "NOT_ENOUGH_CONNECTIONS",
      `queue "${queue}" needs ${needed} database connections (poolSize plus one for LISTEN) but could open only ${available}: lower poolSize or raise the server's max_connections`,
      { cause },
    );
    this.needed = needed;
    this.available = available;
  }
}

/** arrower-jobs cannot work with the Prisma client or driver it was given. */
export class IntegrationError extends ArrowerJobsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("INTEGRATION", message, options);
  }
}

/** An admin action on a job that a worker is running right now. */
export class JobRunningError extends ArrowerJobsError {
  readonly jobId: string;

  constructor(jobId: string, action: string) {
    super("JOB_RUNNING", `job ${jobId} is running: cannot ${action} it now, try again when it has finished`);
    this.jobId = jobId;
  }
}

/** An admin action on a job id that does not exist (any more). */
export class JobNotFoundError extends ArrowerJobsError {
  readonly jobId: string;

  constructor(jobId: string) {
    super("JOB_NOT_FOUND", `job ${jobId} not found`);
    this.jobId = jobId;
  }
}

/**
 * An admin action that would make a second live job with a dedup key another live job holds
 * (`retry` of a finished job): a dedup key names one live job per queue.
 */
export class DuplicateJobError extends ArrowerJobsError {
  /** The job that was to run again. */
  readonly jobId: string;
  readonly queue: string;
  readonly dedupKey: string;
  /** The live job (queued or running) that holds the key. */
  readonly liveJobId: string;

  constructor(jobId: string, queue: string, dedupKey: string, liveJobId: string) {
    super(
      "DUPLICATE_JOB",
      `job ${jobId} cannot run again now: job ${liveJobId} in queue ${JSON.stringify(queue)} holds its dedup key ${JSON.stringify(dedupKey)} ` +
        `(a dedup key names one live job per queue); retry it once job ${liveJobId} has finished, or cancel that one first`,
    );
    this.jobId = jobId;
    this.queue = queue;
    this.dedupKey = dedupKey;
    this.liveJobId = liveJobId;
  }
}

/** A value given to `ctx.progress()` that is not JSON, or larger than 16 KiB as JSON text. */
export class InvalidProgressError extends ArrowerJobsError {
  readonly jobId: string;

  constructor(jobId: string, problem: string, options?: { cause?: unknown }) {
    super("INVALID_PROGRESS", `progress of job ${jobId} cannot be stored: ${problem}. Report JSON: a number, a string, or an object such as { done: 40, of: 100 }`, options);
    this.jobId = jobId;
  }
}

/**
 * A lease-mode job's worker no longer holds it: it was cancelled (or deleted), or its lease
 * expired (the worker was paused or cut off from the database for longer than `leaseTimeout`)
 * and another worker took it over. Thrown by `ctx.complete(tx)` (your transaction then rolls
 * back) and the reason the handler's `signal` aborts.
 */
export class LeaseLostError extends ArrowerJobsError {
  readonly jobId: string;
  /** Why: `cancelled` (or deleted), `taken over` (expired, another worker holds it), `expired` (not renewed in time). */
  readonly reason: "cancelled" | "taken over" | "expired";

  constructor(jobId: string, attempt: number, reason: "cancelled" | "taken over" | "expired") {
    const why = {
      cancelled: "it was cancelled or deleted",
      "taken over": "its lease expired and another worker took it over",
      expired: "its lease could not be renewed in time (is the database reachable?), so another worker may take it over",
    }[reason];
    super("LEASE_LOST", `job ${jobId}: this worker no longer holds attempt ${attempt}: ${why}; its completion is refused`);
    this.jobId = jobId;
    this.reason = reason;
  }
}
