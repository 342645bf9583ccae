/**
 * `ctx.progress(value)`: validated at the call, written on the control connection (outside the
 * job's transaction, see migrations/000006.sql), one write at a time per job, the latest value
 * winning: a handler reporting in a tight loop costs one statement per round trip, not per call.
 */
import { InvalidProgressError } from "../errors.ts";

/** The largest progress value, as JSON text. */
export const MAX_PROGRESS_BYTES = 16 * 1024;

/** A high surrogate not followed by a low one, or a low one not preceded by a high one, as JSON escapes. */
const LONE_SURROGATE = /\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f][0-9a-f]{2})|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}/i;

/**
 * The JSON text of a progress value, or an InvalidProgressError (thrown at the call, so that a
 * bad value is a bug the handler sees, never an unhandled rejection).
 */
export function progressText(jobId: string, value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new InvalidProgressError(jobId, `it is not JSON (${(error as Error).message})`, { cause: error });
  }
  if (text === undefined) throw new InvalidProgressError(jobId, `${typeof value} is not JSON`);
  if (Buffer.byteLength(text) > MAX_PROGRESS_BYTES) throw new InvalidProgressError(jobId, `it is ${Buffer.byteLength(text)} bytes as JSON, more than ${MAX_PROGRESS_BYTES}`);
  if (text.includes("\\u0000")) throw new InvalidProgressError(jobId, "it contains \\u0000, which PostgreSQL's jsonb cannot store");
  if (LONE_SURROGATE.test(text)) throw new InvalidProgressError(jobId, "it contains a lone surrogate (half a UTF-16 pair), which PostgreSQL's jsonb cannot store");
  return text;
}

/** One job's progress writes. */
export class ProgressWriter {
  private next: { text: string; done: Promise<void> } | undefined;
  private tail: Promise<void> = Promise.resolve();

  /** `write` stores a value; it never rejects (the caller logs failures: progress is best effort). */
  constructor(private readonly write: (text: string) => Promise<void>) {}

  /** Stores `text` after the write in flight; resolves once it (or a later value) is stored. */
  report(text: string): Promise<void> {
    if (this.next) {
      this.next.text = text;
      return this.next.done;
    }
    const next: { text: string; done: Promise<void> } = { text, done: Promise.resolve() };
    next.done = this.tail.then(() => {
      if (this.next === next) this.next = undefined;
      return this.write(next.text);
    });
    this.next = next;
    this.tail = next.done;
    return next.done;
  }

  /** Resolves when every reported value has been written (before the job's progress is deleted). */
  settled(): Promise<void> {
    return this.tail;
  }
}
