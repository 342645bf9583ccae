/**
 * A running job as its slot and pool see it: whether and why it was aborted (timeout,
 * shutdown, lost connection), the worker's own reaction, and the handler's `signal`.
 *
 * The `AbortSignal` is made only when the handler reads `signal`: creating an AbortController
 * (and adding and removing a listener) was the largest single cost of a no-op job in batched
 * mode (~7 % of the worker's CPU), and most handlers never look at it. A signal made after the
 * abort is returned already aborted, with the same reason.
 */
import type { ProgressWriter } from "./progress.ts";

export class RunningJob {
  private controller: AbortController | undefined;
  /** Its `ctx.progress()` writes, once it reported any. */
  progress: ProgressWriter | undefined = undefined;
  /** The abort's reason, once aborted. */
  reason: unknown = undefined;
  aborted = false;
  /** The worker's reaction to an abort (called once, after the signal has fired). */
  onAbort: (() => void) | undefined = undefined;

  constructor(readonly id: string) {}

  /** Aborts the job (the first reason wins). */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
    this.onAbort?.();
  }

  /** The handler's `signal`. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }
}
