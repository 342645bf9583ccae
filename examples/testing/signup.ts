/**
 * A small sign-up flow, written the way an application would: the code that enqueues depends on
 * `Enqueuer`, the handlers on `Queue` and a narrow view of the transaction client, so tests can
 * hand them `createTestingJobs()` instead of Prisma.
 *
 * In production:
 *
 * ```ts
 * const prisma = new PrismaClient({ adapter }).$extends(jobs());
 * await prisma.$transaction((tx) => signUp({ users: prismaUsers(tx), jobs: tx.$jobs }, email));
 * await registerHandlers(prisma.$jobs.queue("default"), { mailer });
 * ```
 */
import { defineJob, type Enqueuer, type Queue } from "arrower-jobs";

export const SendWelcome = defineJob<{ userId: number; email: string }>("send-welcome");
export const TrialReminder = defineJob<{ userId: number; email: string; endsAt: Date }>("trial-reminder", { priority: 5 });
export const TrackEvent = defineJob<{ userId: number; event: string; properties: Map<string, string> }>("track-event", {
  queue: "analytics",
  maxAttempts: 3,
});

/** Trials last 14 days; the reminder goes out 3 days before the end. */
export const TRIAL_DAYS = 14;
const DAY = 86_400_000;

export interface User {
  id: number;
  email: string;
}

/** Where users are stored (a Prisma-backed implementation in production). */
export interface Users {
  create(email: string): Promise<User>;
}

/** How mail is sent. */
export interface Mailer {
  send(to: string, subject: string): Promise<void>;
}

/** What handlers use of the job's transaction client (Prisma's `tx` has it: `tx.$jobs`). */
export interface AppTx {
  $jobs: Enqueuer;
}

/**
 * Creates the user and, in the same transaction, queues the welcome mail and the trial
 * reminder. The reminder's dedup key keeps a retried sign-up from queueing a second one.
 */
export async function signUp(deps: { users: Users; jobs: Enqueuer }, email: string, now = new Date()): Promise<User> {
  const user = await deps.users.create(email);
  await deps.jobs.enqueue(SendWelcome({ userId: user.id, email }));
  const endsAt = new Date(now.getTime() + TRIAL_DAYS * DAY);
  await deps.jobs.enqueue(TrialReminder({ userId: user.id, email, endsAt }), {
    runAt: new Date(endsAt.getTime() - 3 * DAY),
    dedupKey: `trial-reminder:${user.id}`,
  });
  return user;
}

/** The handlers of this flow. Follow-up jobs go through `tx.$jobs`, so they commit with the job. */
export async function registerHandlers(queue: Queue<AppTx>, deps: { mailer: Mailer }): Promise<void> {
  await queue.register(SendWelcome, async ({ userId, email }, { tx }) => {
    await deps.mailer.send(email, "Welcome!");
    await tx.$jobs.enqueue(TrackEvent({ userId, event: "welcomed", properties: new Map([["channel", "email"]]) }));
  });
  await queue.register(TrialReminder, async ({ email, endsAt }) => {
    await deps.mailer.send(email, `Your trial ends on ${endsAt.toISOString().slice(0, 10)}`);
  });
  await queue.register(TrackEvent, async () => {
    // Sent to an analytics service in production.
  });
}
