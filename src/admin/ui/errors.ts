/**
 * How a failed request is shown: a status, a title and a message the operator can act on.
 * Errors are matched by `code`, not class: a config loaded by the CLI may bring its own copy
 * of arrower-jobs' modules, whose errors are not instances of ours.
 */

/** What the error page (or JSON error) says, and whether to log it as unexpected. */
export interface ErrorView {
  status: 400 | 404 | 409 | 500 | 503;
  title: string;
  message: string;
  log: boolean;
}

export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

export function errorText(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return [...new Set(error.errors.map(errorText))].join("; ");
  if (error instanceof Error) return error.message.split("\n", 1)[0] || error.name;
  return String(error);
}

export function describeError(error: unknown): ErrorView {
  const code = errorCode(error);
  const message = errorText(error);
  switch (code) {
    case "JOB_NOT_FOUND":
      return { status: 404, title: "Not found", message, log: false };
    case "JOB_RUNNING":
      return { status: 409, title: "Running", message, log: false };
    case "DUPLICATE_JOB":
      return { status: 409, title: "Conflict", message, log: false };
    case "INVALID_OPTIONS":
    case "INVALID_NAME":
    case "INVALID_JOB":
      return { status: 400, title: "Bad request", message, log: false };
    case "MIGRATIONS_PENDING":
    case "SCHEMA_TOO_NEW":
      return { status: 503, title: "Schema not ready", message, log: false };
    case "42P01": // undefined_table
    case "3F000": // invalid_schema_name
      return {
        status: 503,
        title: "Schema not ready",
        message: `arrower-jobs' tables are missing (${message}): run \`npx arrower-jobs migrate\``,
        log: false,
      };
  }
  if (code !== undefined && /^E[A-Z]+$/.test(code) || (error instanceof AggregateError && error.errors.every((e) => /^E[A-Z]+$/.test(errorCode(e) ?? "")))) {
    return { status: 503, title: "Database unreachable", message: `cannot reach the database: ${message}`, log: true };
  }
  return { status: 500, title: "Error", message, log: true };
}
