// Enqueue in a transaction with the installed package, then let `npx arrower-jobs worker` run it.
import pg from "pg";
import { createTestingJobs } from "arrower-jobs/testing";
import { prisma, schema, signUp, Greet, Hold } from "./db.ts";

const mode = process.argv[2];
const admin = new pg.Client({ connectionString: process.env.DATABASE_URL, options: `-c search_path=${schema}` });
await admin.connect();
if (mode === "setup") {
  await admin.query(`CREATE TABLE IF NOT EXISTS "Account" (id serial PRIMARY KEY, email text UNIQUE NOT NULL, "greetedAt" timestamp(3))`);
  const id = await signUp(`user-${Date.now()}@example.com`);
  console.log(`enqueued a greeting for account ${id}`);
  const testing = createTestingJobs();
  await testing.enqueue(Greet({ accountId: id, at: new Date() }));
  testing.assert().queued(Greet, 1);
} else if (mode === "hold") {
  // A job that runs until the file argv[3] exists.
  const release = process.argv[3]!;
  const id = await prisma.$transaction(async (tx) => {
    const account = await tx.account.create({ data: { email: `held-${Date.now()}@example.com` } });
    await tx.$jobs.enqueue(Hold({ accountId: account.id, release }));
    return account.id;
  });
  console.log(`enqueued a held greeting for account ${id}`);
} else if (mode === "check") {
  const { rows } = await admin.query(`SELECT count(*)::int AS n FROM "Account" WHERE "greetedAt" IS NULL`);
  if (rows[0].n !== 0) throw new Error(`${rows[0].n} accounts not greeted`);
  // The held jobs were running when their worker was signalled: each finished, at its first attempt.
  const held = await admin.query(`SELECT state, attempts FROM job_history WHERE type = 'hold'`);
  const expected = Number(process.argv[3] ?? 0);
  const bad = held.rows.filter((row) => row.state !== "succeeded" || row.attempts !== 1);
  if (held.rows.length !== expected || bad.length > 0) throw new Error(`held jobs: expected ${expected} succeeded at attempt 1, got ${JSON.stringify(held.rows)}`);
  const left = await admin.query(`SELECT count(*)::int AS n FROM jobs`);
  if (left.rows[0].n !== 0) throw new Error(`${left.rows[0].n} jobs left in the queue`);
  console.log(`every account greeted by the worker${expected > 0 ? `, ${expected} of them by a job running at SIGTERM` : ""}`);
}
await admin.end();
await prisma.$disconnect();
