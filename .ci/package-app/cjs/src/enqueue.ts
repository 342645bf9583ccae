// A CommonJS TypeScript app (module: nodenext): compiled by tsc to require() calls, it signs up
// an account with the Prisma client extended with jobs() and enqueues in the same transaction;
// the worker started later greets it like the ESM app's.
import { PrismaPg } from "@prisma/adapter-pg";
import { defineJob, jobs, type Enqueuer } from "arrower-jobs";
import { createTestingJobs } from "arrower-jobs/testing";
import { PrismaClient } from "../generated/prisma/client.ts";

const Greet = defineJob<{ accountId: number; at: Date }>("greet");

async function main(): Promise<void> {
  const schema = process.env.ARROWER_SCHEMA ?? "arrower";
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: process.env.DATABASE_URL!, max: 2 }, { schema }) }).$extends(
    jobs({ schema }),
  );
  try {
    const id = await prisma.$transaction(async (tx) => {
      const account = await tx.account.create({ data: { email: `cjs-${Date.now()}@example.com` } });
      const enqueuer: Enqueuer = tx.$jobs;
      await enqueuer.enqueue(Greet({ accountId: account.id, at: new Date() }));
      return account.id;
    });
    const testing = createTestingJobs();
    await testing.enqueue(Greet({ accountId: id, at: new Date() }));
    testing.assert().queued(Greet, 1);
    console.log(`CommonJS TypeScript app: enqueued a greeting for account ${id}`);
  } finally {
    await prisma.$disconnect();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
