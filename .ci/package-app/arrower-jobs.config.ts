import { defineConfig, handle } from "arrower-jobs";
import { prisma, Greet } from "./db.ts";

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
      ],
    },
  ],
});
