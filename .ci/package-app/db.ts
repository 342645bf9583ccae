import { PrismaPg } from "@prisma/adapter-pg";
import { jobs, defineJob, type Enqueuer } from "arrower-jobs";
import { PrismaClient } from "./generated/prisma/client.ts";

export const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: process.env.DATABASE_URL!, max: 3 }) }).$extends(
  jobs({ schema: process.env.ARROWER_SCHEMA ?? "arrower" }),
);

declare module "arrower-jobs" {
  interface Register {
    client: typeof prisma;
  }
}

export const Greet = defineJob<{ accountId: number; at: Date }>("greet");

export async function signUp(email: string): Promise<number> {
  return prisma.$transaction(async (tx) => {
    const account = await tx.account.create({ data: { email } });
    const jobsOfTx: Enqueuer = tx.$jobs;
    await jobsOfTx.enqueue(Greet({ accountId: account.id, at: new Date() }));
    return account.id;
  });
}
