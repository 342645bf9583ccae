/**
 * Type tests, checked by `npm run typecheck` (tsc): what must compile, and with
 * `@ts-expect-error`, what must not. Never executed.
 */
import { PrismaClient } from "../generated/prisma/client.ts";
import { PrismaPg } from "@prisma/adapter-pg";
import {
  defineJob,
  handle,
  jobs,
  type Enqueuer,
  type Handler,
  type HandlerFor,
  type RegisterYourPrismaClient_SeeReadmeInstall,
  type TransactionClient,
} from "../../src/index.ts";

const SendWelcome = defineJob<{ userId: number; at: Date }>("send-welcome");

const audit = { client: { $audit: () => "audited" as const } };
const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: "" }) })
  .$extends(audit)
  .$extends(jobs())
  .$extends({ client: { $after: () => 1 } });

// Handlers' `tx` comes from the Register augmentation in test/helpers/app.ts (the test app's client).
import type { TestClient } from "../helpers/app.ts";

export async function typeTests(): Promise<void> {
  // $jobs on the client and on tx, no casts; other extensions stay on tx.
  const id: string = await prisma.$jobs.enqueue(SendWelcome({ userId: 1, at: new Date() }));
  const ids: string[] = await prisma.$jobs.enqueue([SendWelcome({ userId: 1, at: new Date() })]);
  await prisma.$transaction(async (tx) => {
    const user = await tx.user.create({ data: { email: "a@example.com" } });
    await tx.$jobs.enqueue(SendWelcome({ userId: user.id, at: new Date() }), { priority: 1 });
    const a: "audited" = tx.$audit();
    const b: number = tx.$after();
    await tx.$transaction(async (inner) => inner.$jobs.enqueue(SendWelcome({ userId: 2, at: new Date() })));
    void a, b;
  });

  // Payload types flow from defineJob to enqueue...
  // @ts-expect-error userId must be a number
  SendWelcome({ userId: "1", at: new Date() });
  // @ts-expect-error unknown enqueue option
  await prisma.$jobs.enqueue(SendWelcome({ userId: 1, at: new Date() }), { priorty: 1 });

  // ...and to the handler, whose tx is the extended transaction client.
  const queue = prisma.$jobs.queue("default", { poolSize: 2 });
  await queue.register(SendWelcome, async (job, { tx, attempt, signal }) => {
    const userId: number = job.userId;
    const at: Date = job.at;
    await tx.user.update({ where: { id: userId }, data: { welcomedAt: at } });
    await tx.$jobs.enqueue(SendWelcome({ userId, at }));
    // @ts-expect-error the payload has no such field
    job.email;
    void attempt, signal;
  });

  // Application code depends on the narrow interface.
  const enqueuer: Enqueuer = prisma.$jobs;
  const queueAsEnqueuer: Enqueuer = queue;
  void id, ids, enqueuer, queueAsEnqueuer;

  // A handler in a file of its own: HandlerFor<typeof JobType> types payload and tx.
  const sendWelcome: HandlerFor<typeof SendWelcome> = async (job, { tx }) => {
    await tx.user.update({ where: { id: job.userId }, data: { welcomedAt: job.at } });
    // @ts-expect-error the payload has no such field
    job.email;
  };
  await queue.register(SendWelcome, sendWelcome);
  handle(SendWelcome, sendWelcome);
  const sameAsHandler: Handler<{ userId: number; at: Date }, TransactionClient<TestClient>> = sendWelcome;
  void sameAsHandler;
  // @ts-expect-error HandlerFor takes a job type, not a payload
  type NotAJobType = HandlerFor<{ userId: number }>;
  // @ts-expect-error a handler of another job type does not fit
  await queue.register(defineJob<{ other: string }>("other"), sendWelcome);

  // Without Register, tx is a type with nothing on it whose name says the fix (see
  // test/types/unregistered.test.ts for the message an app without the augmentation gets).
  const unregistered = {} as RegisterYourPrismaClient_SeeReadmeInstall;
  // @ts-expect-error no models on the unregistered tx
  unregistered.user;
  // @ts-expect-error nothing real is assignable to it: it is no `any`
  const notAssignable: RegisterYourPrismaClient_SeeReadmeInstall = { user: {} };
  void notAssignable;
}
