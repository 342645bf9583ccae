/**
 * A workflow: an order is charged, then packed (a long job, in lease mode, reporting progress)
 * and receipted (rate-limited e-mail) side by side, then closed once both are done, reading
 * their results. Enqueued as one call, in the same transaction as the app's own write.
 *
 *   DATABASE_URL=postgresql://… npx tsx examples/workflow/order.ts
 *
 * It uses the welcome example's Prisma client (examples/welcome/db.ts; `npm run demo` generates
 * it), in two fresh schemas that it drops at the end. In your app, import from "arrower-jobs".
 */
import { randomBytes } from "node:crypto";
import { defineJob, dependsOn } from "../../src/index.ts";
import { createPrisma, ensureTables } from "../welcome/db.ts";

/** Charges the order's card: its result is the charge's id. */
const Charge = defineJob<{ orderId: string; cents: number }, { chargeId: string }>("order.charge");
/** Packs the parcel: long work, so it runs in lease mode (no transaction held while it works). */
const Pack = defineJob<{ orderId: string; items: number }, { parcel: string }>("order.pack", { mode: "lease", leaseTimeout: 10_000, concurrency: 2 });
/** Sends the receipt: the mail provider allows 10 a second, across all workers. */
const EmailReceipt = defineJob<{ email: string; orderId: string }>("order.email-receipt", { rateLimit: { max: 10, per: 1_000 } });
/** Closes the order once it is packed and receipted. */
const Close = defineJob<{ orderId: string }, { closed: string }>("order.close");

const suffix = randomBytes(3).toString("hex");
const appSchema = `workflow_app_${suffix}`;
const jobsSchema = `workflow_jobs_${suffix}`;
const prisma = createPrisma(undefined, { appSchema, jobsSchema });

try {
  await ensureTables(prisma, appSchema);
  await prisma.$jobs.migrate();

  // One order = one workflow: the app's write and the four jobs commit together.
  const orders: string[] = [];
  for (const [n, email] of ["ada@example.com", "grace@example.com", "edsger@example.com"].entries()) {
    const orderId = `order-${n + 1}`;
    await prisma.$transaction(async (tx) => {
      await tx.user.create({ data: { email, name: email.split("@")[0]! } });
      const charge = Charge({ orderId, cents: 1_999 });
      const pack = dependsOn(Pack({ orderId, items: 3 }), [charge]);
      const receipt = dependsOn(EmailReceipt({ email, orderId }), [charge]);
      const close = dependsOn(Close({ orderId }), [pack, receipt]);
      const [first] = await tx.$jobs.enqueue([charge, pack, receipt, close]);
      orders.push(first!);
    });
  }

  const queue = prisma.$jobs.queue("default", { poolSize: 4, pollInterval: 1_000 });
  await queue.register(Charge, async ({ orderId }) => ({ chargeId: `ch_${orderId}` }));
  await queue.register(Pack, async ({ orderId, items }, { progress, complete }) => {
    for (let item = 1; item <= items; item++) {
      await new Promise((resolve) => setTimeout(resolve, 50)); // the long part
      await progress({ packed: item, of: items });
    }
    // The last write and the job's completion commit together.
    await prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT 1`; // e.g. tx.parcel.create(...)
      await complete(tx, { parcel: `parcel-${orderId}` });
    });
  });
  await queue.register(EmailReceipt, async ({ email }) => {
    console.log(`  receipt sent to ${email}`);
  });
  await queue.register(Close, async ({ orderId }, { parentResult }) => {
    const pack = await parentResult(Pack);
    return { closed: `${orderId} shipped as ${pack?.parcel}` };
  });
  await queue.start();

  // Wait for the last job of every order, then show the first order's workflow.
  const closing = await Promise.all(orders.map(async (first) => (await prisma.$jobs.getWorkflow(first))!.jobs.find((job) => job.type === "order.close")!.id));
  for (;;) {
    const states = await Promise.all(closing.map(async (id) => (await prisma.$jobs.getJob(id))?.state));
    if (states.every((state) => state === "succeeded")) break;
    if (states.some((state) => state === "failed" || state === "cancelled")) throw new Error(`an order did not close: ${states.join(", ")}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await queue.shutdown();

  const workflow = (await prisma.$jobs.getWorkflow(orders[0]!))!;
  console.log(`\nworkflow ${workflow.id}:`);
  console.table(workflow.jobs.map((job) => ({ id: job.id, type: job.type, state: job.state, dependsOn: job.dependsOn.join(", ") || "—" })));
  for (const id of closing) console.log(`  ${(await prisma.$jobs.getResult(Close, id))!.closed}`);
} finally {
  await prisma.$executeRawUnsafe(`DROP SCHEMA IF EXISTS "${appSchema}" CASCADE`);
  await prisma.$executeRawUnsafe(`DROP SCHEMA IF EXISTS "${jobsSchema}" CASCADE`);
  await prisma.$disconnect();
}
