/**
 * The welcome e-mail: a job type, and the handler that runs it in the job's transaction.
 */
import { defineJob, type HandlerContext, type PayloadOf } from "../../src/index.ts";
import type { Tx } from "./db.ts";

/** Sent once per new user. Enqueue it in the sign-up transaction: no user, no e-mail. */
export const SendWelcome = defineJob<{ userId: number }>("send-welcome", { maxAttempts: 5 });

/**
 * Marks the user as welcomed and "sends" the e-mail (logs it).
 *
 * The update runs in the job's transaction: it commits exactly when the job succeeds. If
 * sending throws, the update rolls back and the job is retried with backoff. The e-mail itself
 * is outside the transaction, so a crash between sending and the commit sends it again:
 * delivery is at least once, as with any queue — give your mail provider an idempotency key
 * (the job id) where it supports one.
 */
export async function sendWelcome(job: PayloadOf<typeof SendWelcome>, { tx, jobId, attempt }: HandlerContext<Tx>): Promise<void> {
  const user = await tx.user.update({ where: { id: job.userId }, data: { welcomedAt: new Date() } });
  console.log(`  [send-welcome] job ${jobId}, attempt ${attempt}: "Welcome, ${user.name}!" sent to ${user.email}`);
}
