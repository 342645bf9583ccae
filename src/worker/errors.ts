/**
 * How a failed attempt is described in history, whatever was thrown: one shape for errors,
 * non-Error throws, timeouts and crashes.
 */
import { inspect } from "node:util";

/** The abort reason of a job whose timeout ran out. */
export class JobTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`job timed out after ${timeoutMs} ms`);
    this.name = "JobTimeoutError";
  }
}

/** The abort reason of a job stopped by `shutdown` or a `register` restart (not counted). */
export class JobAbortedError extends Error {
  constructor(why: string) {
    super(`job aborted: ${why}; it will run again`);
    this.name = "JobAbortedError";
  }
}

/**
 * The abort reason of a job whose connection ended mid-attempt (the server ended the session:
 * idle_in_transaction_session_timeout, transaction_timeout, pg_terminate_backend; or the network
 * dropped it). The job's transaction and row lock went with the connection; the attempt is
 * recorded as failed on another connection, and the job retried.
 */
export class ConnectionLostError extends Error {
  constructor(cause: unknown) {
    super(`the job's database connection ended mid-attempt, and its transaction with it: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "ConnectionLostError";
  }
}

/**
 * PostgreSQL limits and interventions that end a job's statement or session, by SQLSTATE. The
 * server's own words ("canceling statement due to statement timeout", "terminating connection
 * due to idle-in-transaction timeout") do not name the setting to change: history does.
 */
const SERVER_LIMITS: ReadonlyArray<{ code: string; when?: RegExp; says: string }> = [
  {
    code: "57014",
    when: /statement timeout/i,
    says: "statement_timeout: PostgreSQL canceled a statement of the job that ran longer than the statement_timeout setting; raise it for the workers' role or database (ALTER ROLE … SET statement_timeout = …) or make the statement faster",
  },
  {
    code: "55P03",
    when: /lock timeout/i,
    says: "lock_timeout: PostgreSQL canceled a statement of the job that waited for a lock longer than the lock_timeout setting; raise it for the workers' role or database, or find who holds the lock",
  },
  {
    code: "25P03",
    says: "idle_in_transaction_session_timeout: PostgreSQL ended the job's session because its transaction sat idle (the handler awaited something other than the database) longer than the idle_in_transaction_session_timeout setting; raise it for the workers' role or database (ALTER ROLE … SET idle_in_transaction_session_timeout = …) above the jobs' timeout, or keep slow non-database work out of the handler",
  },
  {
    code: "25P04",
    says: "transaction_timeout: PostgreSQL ended the job's session because its transaction ran longer than the transaction_timeout setting; raise it for the workers' role or database above the jobs' timeout",
  },
  {
    code: "57014",
    when: /user request/i,
    says: "PostgreSQL canceled a statement of the job on request (pg_cancel_backend, or a client's cancel request)",
  },
  {
    code: "57P01",
    says: "PostgreSQL terminated the job's session (pg_terminate_backend, or the server shutting down)",
  },
];

/**
 * The server limit behind an error, if any: looks for a SQLSTATE in `pg`'s errors and in
 * Prisma's (`meta.driverAdapterError.cause.originalCode`), following `cause`.
 */
export function serverLimit(thrown: unknown): { code: string; says: string } | undefined {
  const seen = new Set<unknown>();
  const queue: unknown[] = [thrown];
  while (queue.length > 0) {
    const e = queue.shift();
    if (typeof e !== "object" || e === null || seen.has(e)) continue;
    seen.add(e);
    const o = e as { code?: unknown; originalCode?: unknown; message?: unknown; originalMessage?: unknown; cause?: unknown; meta?: { driverAdapterError?: unknown } };
    for (const [code, message] of [[o.originalCode, o.originalMessage], [o.code, o.message]] as const) {
      if (typeof code !== "string") continue;
      const limit = SERVER_LIMITS.find((l) => l.code === code && (!l.when || l.when.test(String(message ?? ""))));
      if (limit) return limit;
    }
    queue.push(o.cause, o.meta?.driverAdapterError);
  }
  return undefined;
}

/** Longest error text kept in history. */
const MAX_ERROR_LENGTH = 16 * 1024;

/**
 * The text stored for a thrown value: the stack when there is one, else a readable form; first
 * a line naming the server setting when a PostgreSQL limit ended the statement or session.
 */
export function describeError(thrown: unknown): string {
  const limit = serverLimit(thrown);
  let text = (limit ? `${limit.says}\n` : "") + describe(thrown);
  // jsonb and text reject \u0000; history must always be writable.
  text = text.replaceAll("\u0000", "\\u0000");
  return text.length > MAX_ERROR_LENGTH ? text.slice(0, MAX_ERROR_LENGTH) + "…(truncated)" : text;
}

/** Causes followed at most: history keeps 16 KiB anyway. */
const MAX_CAUSES = 20;

/**
 * The thrown value and its causes, each once. A cause chain may loop (some clients link an
 * error and its wrapper both ways): followed blindly it overflowed the stack, and the attempt
 * was recorded as a worker crash.
 */
function describe(thrown: unknown): string {
  const seen = new Set<unknown>();
  const parts: string[] = [];
  let current: unknown = thrown;
  for (;;) {
    if (seen.has(current)) {
      parts.push("(the error above: the cause chain loops)");
      break;
    }
    seen.add(current);
    if (!(current instanceof Error)) {
      parts.push(`non-Error thrown: ${inspect(current, { depth: 3, breakLength: Infinity })}`);
      break;
    }
    parts.push(current.stack && current.stack.includes(current.message) ? current.stack : `${current.name}: ${current.message}\n${current.stack ?? ""}`);
    if (current.cause === undefined) break;
    if (parts.length > MAX_CAUSES) {
      parts.push("(more causes not shown)");
      break;
    }
    current = current.cause;
  }
  return parts.join("\ncaused by: ");
}
