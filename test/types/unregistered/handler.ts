/**
 * An app that forgot `declare module "arrower-jobs" { interface Register { client: typeof prisma } }`.
 * Compiled on its own by test/types/unregistered.test.ts (excluded from `npm run typecheck`,
 * whose program includes the test app's augmentation); the errors it must produce are asserted there.
 */
import { defineJob, handle } from "../../../src/index.ts";

const SendWelcome = defineJob<{ userId: number; at: Date }>("send-welcome");

export const entry = handle(SendWelcome, async (job, { tx }) => {
  await tx.user.update({ where: { id: job.userId }, data: { welcomedAt: job.at } });
});
