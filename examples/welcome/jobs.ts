/**
 * The welcome e-mail: a job type, and the handler that runs it in the job's transaction.
 */
import { defineJob, type HandlerFor } from "../../src/index.ts";
// Registers the app's client type (interface Register), which types `tx` below.
import type {} from "./db.ts";

/** Sent once per new user. Enqueue it in the sign-up transaction: no user, no e-mail. */
export const SendWelcome = defineJob<{ userId: number }>("send-welcome", { maxAttempts: 5 });

/**
 * Marks the user as welcomed and "sends" the e-mail (logs it). Written in a file of its own, it
 * is typed with `HandlerFor`: the payload from `SendWelcome`, `tx` from the registered client.
 *
 * The update runs in the job's transaction: it commits exactly when the job succeeds. If
 * sending throws, the update rolls back and the job is retried with backoff. The e-mail itself
 * is outside the transaction, so a crash between sending and the commit sends it again:
 * delivery is at least once, as with any queue — give your mail provider an idempotency key
 * (the job id) where it supports one.
 */
export const sendWelcome: HandlerFor<typeof SendWelcome> = async (job, { tx, jobId, attempt }) => {
  const user = await tx.user.update({ where: { id: job.userId }, data: { welcomedAt: new Date() } });
  console.log(`  [send-welcome] job ${jobId}, attempt ${attempt}: "Welcome, ${user.name}!" sent to ${user.email}`);
};
