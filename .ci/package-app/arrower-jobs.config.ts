import { existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { defineConfig, handle } from "arrower-jobs";
import { prisma, Greet, Hold } from "./db.ts";

export default defineConfig({
  prisma,
  queues: [
    {
      name: "default",
      poolSize: 2,
      handlers: [
        handle(Greet, async (job, { tx }) => {
          await tx.account.update({ where: { id: job.accountId }, data: { greetedAt: job.at } });
        }),
        handle(Hold, async (job, { tx }) => {
          console.log(`hold job started for account ${job.accountId}`);
          while (!existsSync(job.release)) await sleep(50);
          await tx.account.update({ where: { id: job.accountId }, data: { greetedAt: new Date() } });
        }),
      ],
    },
  ],
});
