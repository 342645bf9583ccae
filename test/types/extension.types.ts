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
  type JobType,
  type PayloadOf,
  type RegisterYourPrismaClient_SeeReadmeInstall,
  type ResultOf,
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
import { createTestingJobs } from "../../src/testing.ts";
import { snooze } from "../../src/index.ts";

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

  // Results: defineJob<P, R> makes the handler return R, and getResult read it back typed.
  const Resize = defineJob<{ imageId: string }, { width: number; height: number }>("resize");
  await queue.register(Resize, async (job, { tx }) => {
    await tx.user.findMany();
    return { width: job.imageId.length, height: 1 };
  });
  await queue.register(Resize, () => ({ width: 1, height: 2 }), { replace: true }); // sync is fine too
  await queue.register(Resize, async () => snooze(1_000), { replace: true }); // and so is a snooze
  // @ts-expect-error a handler of a job type with a result must return it
  await queue.register(Resize, async () => {}, { replace: true });
  // @ts-expect-error ...of the declared type
  await queue.register(Resize, async () => ({ width: "wide", height: 2 }), { replace: true });
  // @ts-expect-error ...with every field
  await queue.register(Resize, () => ({ width: 1 }), { replace: true });
  const size: { width: number; height: number } | undefined = await prisma.$jobs.getResult(Resize, "1");
  // @ts-expect-error possibly undefined (not finished, or no result)
  const sizeNotUndefined: { width: number } = await prisma.$jobs.getResult(Resize, "1");
  const untyped: unknown = (await prisma.$jobs.getJob("1"))?.result;
  const resizeHandler: HandlerFor<typeof Resize> = async (job) => ({ width: job.imageId.length, height: 0 });
  // @ts-expect-error HandlerFor carries the result type too
  const wrongResizeHandler: HandlerFor<typeof Resize> = async () => "done";
  handle(Resize, resizeHandler);
  // @ts-expect-error handle() checks the result type like register
  handle(Resize, async () => undefined);
  const resultOf: ResultOf<typeof Resize> = { width: 1, height: 2 };
  const payloadOf: PayloadOf<typeof Resize> = { imageId: "a" };
  const noResult: ResultOf<typeof SendWelcome> = undefined;
  // A job type with a result fits where any job type of its payload goes (JobType<P>)...
  const anyResize: JobType<{ imageId: string }> = Resize;
  // ...but one without a result is not a job type with one.
  // @ts-expect-error no result declared
  const notResize: JobType<{ userId: number; at: Date }, { width: number }> = SendWelcome;
  // The testing queue: same types.
  const testing = createTestingJobs();
  await testing.register(Resize, async () => ({ width: 1, height: 1 }));
  // @ts-expect-error the testing queue checks the result type too
  await testing.register(Resize, async () => 1, { replace: true });
  const testingSize: { width: number; height: number } | undefined = await testing.getResult(Resize, "1");
  void size, sizeNotUndefined, untyped, wrongResizeHandler, resultOf, payloadOf, noResult, anyResize, notResize, testingSize;

  // Without Register, tx is a type with nothing on it whose name says the fix (see
  // test/types/unregistered.test.ts for the message an app without the augmentation gets).
  const unregistered = {} as RegisterYourPrismaClient_SeeReadmeInstall;
  // @ts-expect-error no models on the unregistered tx
  unregistered.user;
  // @ts-expect-error nothing real is assignable to it: it is no `any`
  const notAssignable: RegisterYourPrismaClient_SeeReadmeInstall = { user: {} };
  void notAssignable;
}
