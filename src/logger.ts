/**
 * The worker's own log lines (start, stop, failures). `console` satisfies this interface, and
 * so does a pino logger wrapped as `pinoLogger(pino())` (pino takes the fields first).
 */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** A logger that drops everything (the default under test runners). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Lines as `arrower-jobs: message key=value …` on the console; debug lines are dropped. */
export const consoleLogger: Logger = {
  debug() {},
  info: (message, fields) => console.info(format(message, fields)),
  warn: (message, fields) => console.warn(format(message, fields)),
  error: (message, fields) => console.error(format(message, fields)),
};

/** Adapts a pino-style logger (`logger.info(fields, message)`). */
export function pinoLogger(pino: { [L in "debug" | "info" | "warn" | "error"]: (fields: object, message: string) => void }): Logger {
  return {
    debug: (m, f) => pino.debug(f ?? {}, m),
    info: (m, f) => pino.info(f ?? {}, m),
    warn: (m, f) => pino.warn(f ?? {}, m),
    error: (m, f) => pino.error(f ?? {}, m),
  };
}

function format(message: string, fields?: Record<string, unknown>): string {
  if (!fields) return `arrower-jobs: ${message}`;
  const parts = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === "string" && !/\s/.test(v) ? v : JSON.stringify(v instanceof Error ? v.message : v)}`);
  return `arrower-jobs: ${message} ${parts.join(" ")}`;
}

/**
 * The default: silent under test runners (vitest sets VITEST, jest NODE_ENV=test, `node --test`
 * NODE_TEST_CONTEXT in the processes it runs test files in), the console otherwise.
 */
export function defaultLogger(): Logger {
  const env = process.env;
  return env.NODE_ENV === "test" || env.VITEST || env.NODE_TEST_CONTEXT ? silentLogger : consoleLogger;
}
