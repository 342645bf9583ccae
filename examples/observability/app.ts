/**
 * arrower-jobs with OpenTelemetry: a small shop whose orders are charged, and receipts sent, by
 * background jobs, with the Node SDK exporting traces over OTLP and metrics for Prometheus
 * (instrumentation.ts), and a Grafana dashboard over those metrics (grafana-dashboard.json).
 *
 * Run, from this folder, against any PostgreSQL database (arrower-jobs' tables go into their
 * own schema, the example's one table into `public`):
 *
 *   npm install && npm run generate
 *   DATABASE_URL=postgresql://postgres@localhost:5432/shop npm start
 *
 * Then:
 * - `curl -X POST localhost:3000/orders` places an order; a load loop places ORDERS_PER_SECOND
 *   (default 5) for RUN_SECONDS (default: until Ctrl-C);
 * - http://localhost:9464/metrics shows arrower_jobs_* (scrape it with Prometheus, import
 *   grafana-dashboard.json into Grafana);
 * - each `POST /orders` trace holds the enqueue's `send orders` span; each attempt is a trace of
 *   its own (`process orders`, `process emails`) linked to it.
 */
import { telemetry } from "./instrumentation.ts"; // first: the SDK is registered before anything records
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { context, propagation, trace, SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { PrismaPg } from "@prisma/adapter-pg";
import { defineJob, jobs, type TransactionClient } from "../../src/index.ts";
import { PrismaClient } from "./generated/prisma/client.ts";

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) throw new Error("DATABASE_URL is not set: point it at a PostgreSQL database");
const httpPort = Number(process.env.PORT ?? 3000);
const ordersPerSecond = Number(process.env.ORDERS_PER_SECOND ?? 5);
const runSeconds = Number(process.env.RUN_SECONDS ?? 0);

const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl, max: 5 }) }).$extends(jobs());
type Tx = TransactionClient<typeof prisma>;
declare module "../../src/index.ts" {
  interface Register {
    client: typeof prisma;
  }
}

/** Charges an order. The payment provider is flaky: about one call in six fails. */
const ChargeOrder = defineJob<{ orderId: number }>("charge-order", { queue: "orders", maxAttempts: 3 });
/** Sends the receipt of a charged order. */
const SendReceipt = defineJob<{ orderId: number }>("send-receipt", { queue: "emails" });

const tracer = trace.getTracer("shop");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `POST /orders`: the order and its charge job commit together. */
async function placeOrder(): Promise<number> {
  return prisma.$transaction(async (tx) => {
    const order = await tx.order.create({ data: { total: 100 + Math.floor(Math.random() * 9_900) } });
    await tx.$jobs.enqueue(ChargeOrder({ orderId: order.id }));
    return order.id;
  });
}

async function chargeOrder({ orderId }: { orderId: number }, { tx }: { tx: Tx }): Promise<void> {
  // A span of the app's own: a child of the attempt's `process orders` span.
  await tracer.startActiveSpan("payment-provider charge", async (span) => {
    try {
      await sleep(20 + Math.random() * 200);
      if (Math.random() < 0.17) throw new Error("payment provider timed out");
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  });
  await tx.order.update({ where: { id: orderId }, data: { chargedAt: new Date() } });
  await tx.$jobs.enqueue(SendReceipt({ orderId })); // committed with the charge, traced as its child
}

async function sendReceipt(): Promise<void> {
  await sleep(5 + Math.random() * 40);
  if (Math.random() < 0.05) throw new Error("mail server refused the connection");
}

async function main(): Promise<void> {
  await prisma.$executeRawUnsafe(`CREATE TABLE IF NOT EXISTS "Order" ("id" SERIAL PRIMARY KEY, "total" INTEGER NOT NULL, "chargedAt" TIMESTAMP(3))`);
  await prisma.$jobs.migrate();

  const orders = prisma.$jobs.queue("orders", { poolSize: 4, backoff: { baseDelay: 500, maxDelay: 5_000 } });
  const emails = prisma.$jobs.queue("emails", { poolSize: 2 });
  await orders.register(ChargeOrder, chargeOrder);
  await emails.register(SendReceipt, sendReceipt);
  await Promise.all([orders.start(), emails.start()]);

  const server = createServer((request, response) => void handle(request, response));
  server.listen(httpPort, () => console.log(`orders: curl -X POST http://localhost:${httpPort}/orders`));

  // The load: requests handled like the server's, without the network.
  const load = ordersPerSecond > 0 ? setInterval(() => void serverSpan("POST /orders", {}, placeOrder).catch(() => undefined), 1000 / ordersPerSecond) : undefined;

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log("stopping: waiting for running jobs");
    clearInterval(load);
    server.close();
    await Promise.all([orders.shutdown(), emails.shutdown()]);
    await prisma.$disconnect();
    await telemetry.shutdown(); // flushes the last spans
  };
  process.once("SIGINT", () => void stop());
  process.once("SIGTERM", () => void stop());
  if (runSeconds > 0) setTimeout(() => void stop(), runSeconds * 1000);
}

async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (request.method !== "POST" || request.url !== "/orders") {
    response.writeHead(404).end();
    return;
  }
  try {
    const id = await serverSpan("POST /orders", request.headers, placeOrder);
    response.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify({ id }));
  } catch (error) {
    response.writeHead(500).end(String(error));
  }
}

/**
 * What HTTP server instrumentation does: continue the caller's trace (traceparent header) in a
 * SERVER span. (@opentelemetry/instrumentation-http does it for real apps.)
 */
function serverSpan<T>(name: string, headers: Record<string, string | string[] | undefined>, fn: () => Promise<T>): Promise<T> {
  const parent = propagation.extract(context.active(), headers);
  return tracer.startActiveSpan(name, { kind: SpanKind.SERVER }, parent, async (span) => {
    try {
      return await fn();
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  });
}

await main();
