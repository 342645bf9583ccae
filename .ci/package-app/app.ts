// Enqueue in a transaction with the installed package, then let `npx arrower-jobs worker` run it.
import pg from "pg";
import { createTestingJobs } from "arrower-jobs/testing";
import { prisma, signUp, Greet } from "./db.ts";

const mode = process.argv[2];
const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
await admin.connect();
if (mode === "setup") {
  await admin.query(`CREATE TABLE IF NOT EXISTS "Account" (id serial PRIMARY KEY, email text UNIQUE NOT NULL, "greetedAt" timestamp(3))`);
  const id = await signUp(`user-${Date.now()}@example.com`);
  console.log(`enqueued a greeting for account ${id}`);
  const testing = createTestingJobs();
  await testing.enqueue(Greet({ accountId: id, at: new Date() }));
  testing.assert().queued(Greet, 1);
} else if (mode === "check") {
  const { rows } = await admin.query(`SELECT count(*)::int AS n FROM "Account" WHERE "greetedAt" IS NULL`);
  if (rows[0].n !== 0) throw new Error(`${rows[0].n} accounts not greeted`);
  console.log("every account greeted by the worker");
}
await admin.end();
await prisma.$disconnect();
