/**
 * Takes the README's screenshot of the dashboard (docs/admin-overview.png): a fresh database on
 * the given server with an hour of history, real worker pools busy on a backlog, a failing job
 * type, a paused queue and a few schedules; then headless Chromium (Debian's) photographs the
 * overview. The database is dropped at the end.
 *
 *   npx tsx scripts/ui-screenshot.ts [--database-url postgresql://postgres@127.0.0.1:5432/test] [--out docs/admin-overview.png]
 *
 * Needs the test app's Prisma client (test/generated/, made by `npx prisma generate` or `npm test`).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { chromium } from "playwright-core";
import { PrismaClient } from "../test/generated/prisma/client.ts";
import { defineJob, jobs, silentLogger, UnrecoverableError, type Queue } from "../src/index.ts";
import { serveAdmin } from "../src/admin/ui/index.ts";

const { values: flags } = parseArgs({
  options: {
    "database-url": { type: "string", default: process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test" },
    out: { type: "string", default: "docs/admin-overview.png" },
  },
});

const SendWelcome = defineJob<{ userId: number }>("send-welcome");
const SendMail = defineJob<{ to: string; template: string }>("send-mail");
const ChargeCard = defineJob<{ orderId: string; cents: number }>("charge-card");
const BuildReport = defineJob<{ kind: string; day: Date }>("build-report");
const Cleanup = defineJob<{ olderThanDays: number }>("cleanup");

const server = new URL(flags["database-url"]!);
const adminUrl = new URL(server);
adminUrl.pathname = "/postgres";
const admin = new pg.Client({ connectionString: adminUrl.toString() });
await admin.connect();
const dbName = `arrower_ui_shot_${randomBytes(4).toString("hex")}`;
await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(dbName)}`);
const url = new URL(server);
url.pathname = `/${dbName}`;

const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: url.toString(), max: 4 }) }).$extends(jobs({ logger: silentLogger }));
const queues: Queue[] = [];
try {
  await prisma.$jobs.migrate();
  const db = new pg.Client({ connectionString: url.toString() });
  await db.connect();
  // An hour of history with a daily-traffic wave, per queue; a few failures in "payments".
  await db.query(`
    INSERT INTO arrower.job_history (id, queue, type, payload, priority, run_at, created_at, state, attempts, max_attempts,
                                     timeout_ms, last_error, started_at, finished_at, pool)
    SELECT nextval('arrower.job_id_seq'), q.queue, q.type, '{}'::jsonb, 0, t.at, t.at, 'succeeded', 1, 25, 30000, NULL,
           t.at, t.at + interval '80 milliseconds', 'worker-1'
    FROM (VALUES ('default', 'send-welcome', 40), ('mail', 'send-mail', 120), ('payments', 'charge-card', 25),
                 ('reports', 'build-report', 4)) AS q(queue, type, rate)
    CROSS JOIN LATERAL generate_series(0, 59) AS m
    CROSS JOIN LATERAL generate_series(1, greatest(1, (q.rate * (1.2 + sin(m / 9.0 + length(q.queue)))))::int) AS k
    CROSS JOIN LATERAL (SELECT now() - (m || ' minutes')::interval - (k || ' seconds')::interval AS at) t`);
  await db.end();

  const pool = (name: string, poolName: string, poolSize: number) => {
    const queue = prisma.$jobs.queue(name, { poolSize, pollInterval: 500, poolName });
    queues.push(queue);
    return queue;
  };
  const slow = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
  const mail = pool("mail", "worker-1", 8);
  await mail.register(SendMail, async () => slow(600 + Math.random() * 900));
  const welcome = pool("default", "api-1", 4);
  await welcome.register(SendWelcome, async () => slow(50));
  const payments = pool("payments", "worker-2", 2);
  await payments.register(ChargeCard, async ({ orderId, cents }) => {
    if (cents > 50_000) throw new UnrecoverableError(`card declined for order ${orderId}: amount over limit`);
    await slow(100);
  });
  const reports = pool("reports", "worker-2", 1);
  await reports.register(BuildReport, async () => slow(200));
  await Promise.all(queues.map((q) => q.start()));

  await prisma.$jobs.enqueue(Array.from({ length: 400 }, (_, i) => SendMail({ to: `user${i}@example.com`, template: "digest" })), { queue: "mail" });
  await prisma.$jobs.enqueue(Array.from({ length: 30 }, (_, i) => SendWelcome({ userId: 1000 + i })), { queue: "default" });
  await prisma.$jobs.enqueue(Array.from({ length: 12 }, (_, i) => ChargeCard({ orderId: `A-${2000 + i}`, cents: i % 4 === 0 ? 90_000 : 1_999 })), { queue: "payments" });
  await prisma.$jobs.enqueue(BuildReport({ kind: "weekly", day: new Date() }), { queue: "reports", runAt: new Date(Date.now() + 6 * 3_600_000) });
  await prisma.$jobs.enqueue(Cleanup({ olderThanDays: 30 }), { queue: "maintenance" });
  await prisma.$jobs.pause("maintenance");
  await prisma.$jobs.schedule("0 4 * * *", Cleanup({ olderThanDays: 30 }), { name: "nightly-cleanup", queue: "maintenance" });
  await prisma.$jobs.schedule("@every 15m", BuildReport({ kind: "kpis", day: new Date(0) }), { name: "kpi-report", queue: "reports" });

  // Let the pools pick up the backlog and report it in a heartbeat.
  await slow(6_000);
  const ui = await serveAdmin(prisma, { port: 0 });
  const profile = await mkdtemp(join(tmpdir(), "arrower-chromium-"));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1360, height: 520 },
    deviceScaleFactor: 1,
  });
  try {
    const page = browser.pages()[0] ?? (await browser.newPage());
    await page.goto(ui.url);
    await page.screenshot({ path: flags.out!, fullPage: true });
    console.log(`saved ${flags.out}`);
  } finally {
    await browser.close();
    await rm(profile, { recursive: true, force: true });
    await ui.close();
  }
} finally {
  await Promise.all(queues.map((q) => q.shutdown({ deadline: 0 }).catch(() => undefined)));
  await prisma.$disconnect();
  await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(dbName)} WITH (FORCE)`);
  await admin.end();
}
