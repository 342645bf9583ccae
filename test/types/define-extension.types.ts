/**
 * Type tests, checked by `npm run typecheck` (tsc), for what `jobs()` (built with Prisma's
 * `defineExtension`) must keep: `$jobs` on the client and on `tx` is exactly the typed
 * JobsClient, never `any`, and the overrides it makes at runtime ($transaction, $extends,
 * $disconnect) leave Prisma's own signatures on the app's client. Never executed.
 */
import { PrismaClient } from "../generated/prisma/client.ts";
import { PrismaPg } from "@prisma/adapter-pg";
import { defineJob, jobs, type JobsClient, type TransactionClient } from "../../src/index.ts";
import type { TestClient } from "../helpers/app.ts";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type IsAny<T> = 0 extends 1 & T ? true : false;

const Ping = defineJob<{ n: number }>("ping");
const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: "" }) }).$extends(jobs());

export async function defineExtensionTypeTests(): Promise<void> {
  // Exactly the registered client's JobsClient (test/helpers/app.ts registers TestClient).
  const onClient: Equal<typeof prisma.$jobs, JobsClient<TransactionClient<TestClient>>> = true;
  const clientNotAny: IsAny<typeof prisma.$jobs> = false;

  await prisma.$transaction(async (tx) => {
    const txNotAny: IsAny<typeof tx> = false;
    const onTx: Equal<typeof tx.$jobs, JobsClient<TransactionClient<TestClient>>> = true;
    // @ts-expect-error tx.$jobs checks its options (it is no `any`)
    await tx.$jobs.enqueue(Ping({ n: 1 }), { priorty: 1 });
    // @ts-expect-error the models on tx keep their types
    await tx.user.create({ data: { email: 1 } });
    void txNotAny, onTx;
  });

  // Prisma's own $transaction overloads stay: the batch form and its options.
  const [count]: [number] = await prisma.$transaction([prisma.user.count()], { isolationLevel: "Serializable" });
  // @ts-expect-error an unknown transaction option
  await prisma.$transaction(async () => 1, { timeot: 5 });

  // $extends after jobs() keeps both: the new member and $jobs.
  const later = prisma.$extends({ client: { $later: () => "later" as const } });
  const fromLater: "later" = later.$later();
  const laterJobs: Equal<typeof later.$jobs, JobsClient<TransactionClient<TestClient>>> = true;
  // $disconnect keeps its signature.
  const disconnected: Promise<void> = prisma.$disconnect();
  void onClient, clientNotAny, count, fromLater, laterJobs, disconnected;
}
