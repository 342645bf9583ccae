/**
 * What a handler can say besides "done" (return) and "failed, retry" (throw).
 *
 * @example
 * ```ts
 * await queue.register(ChargeCard, async (job, { tx }) => {
 *   const card = await tx.card.findUnique({ where: { id: job.cardId } });
 *   if (!card) throw new UnrecoverableError(`card ${job.cardId} was deleted`); // no more attempts
 *   if (await provider.isRateLimited()) return snooze(60_000); // later, attempt not counted
 *   await provider.charge(card, job.amount);
 * });
 * ```
 */
import { InvalidOptionsError } from "./errors.ts";

/**
 * Throw it from a handler to fail the job now: no further attempts, kept in history as failed
 * (BullMQ users know the name). The handler's writes roll back, as for any failure.
 */
export class UnrecoverableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "UnrecoverableError";
  }
}

/** The value {@link snooze} returns; a handler returns it. */
export class JobSnooze {
  /** @internal use {@link snooze} */
  constructor(readonly delayMs: number) {}
}

/**
 * Return `snooze(ms)` from a handler to run the job again after `ms`, without counting this
 * attempt. The handler's writes roll back: the job has not done its work.
 * @param delayMs 0 to 2147483647 (24.8 days)
 * @throws InvalidOptionsError for any other value (the attempt then fails with it)
 */
export function snooze(delayMs: number): JobSnooze {
  if (!Number.isInteger(delayMs) || delayMs < 0 || delayMs > 2_147_483_647) {
    throw new InvalidOptionsError("delayMs", `snooze(delayMs) takes a whole number of milliseconds from 0 to 2147483647 (24.8 days), got ${delayMs}`);
  }
  return new JobSnooze(delayMs);
}
