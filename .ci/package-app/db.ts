import { PrismaPg } from "@prisma/adapter-pg";
import { jobs, defineJob, type Enqueuer } from "arrower-jobs";
import { PrismaClient } from "./generated/prisma/client.ts";

// One schema per smoke run for the app's table and the library's (dropped at the end), so that
// runs sharing a database do not see each other's accounts.
export const schema = process.env.ARROWER_SCHEMA ?? "arrower";
export const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: process.env.DATABASE_URL!, max: 3 }, { schema }) }).$extends(
  jobs({ schema }),
);

declare module "arrower-jobs" {
  interface Register {
    client: typeof prisma;
  }
}

export const Greet = defineJob<{ accountId: number; at: Date }>("greet");
/** Greets too, but only once the file `release` exists: a job still running when the worker is signalled. */
export const Hold = defineJob<{ accountId: number; release: string }>("hold");

export async function signUp(email: string): Promise<number> {
  return prisma.$transaction(async (tx) => {
    const account = await tx.account.create({ data: { email } });
    const jobsOfTx: Enqueuer = tx.$jobs;
    await jobsOfTx.enqueue(Greet({ accountId: account.id, at: new Date() }));
    return account.id;
  });
}
