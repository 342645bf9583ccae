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

/** Longest error text kept in history. */
const MAX_ERROR_LENGTH = 16 * 1024;

/** The text stored for a thrown value: the stack when there is one, else a readable form. */
export function describeError(thrown: unknown): string {
  let text: string;
  if (thrown instanceof Error) {
    text = thrown.stack && thrown.stack.includes(thrown.message) ? thrown.stack : `${thrown.name}: ${thrown.message}\n${thrown.stack ?? ""}`;
    if (thrown.cause !== undefined) text += `\ncaused by: ${describeError(thrown.cause)}`;
  } else {
    text = `non-Error thrown: ${inspect(thrown, { depth: 3, breakLength: Infinity })}`;
  }
  // jsonb and text reject \u0000; history must always be writable.
  text = text.replaceAll("\u0000", "\\u0000");
  return text.length > MAX_ERROR_LENGTH ? text.slice(0, MAX_ERROR_LENGTH) + "…(truncated)" : text;
}
