/**
 * Workers put a handler's Prisma transaction on the job's own connection by hooking
 * `@prisma/adapter-pg`. A client built on another driver adapter (here: a wrapper around
 * PrismaPg with its own name, as an instrumentation layer would be) can enqueue, but its pools
 * must refuse to start saying that workers need @prisma/adapter-pg, not blame the order of
 * `jobs()`. And a PrismaPg built from an unset DATABASE_URL is reported as that, not as pg's
 * "no PostgreSQL user name specified in startup packet".
 */
import { PrismaPg } from "@prisma/adapter-pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defineJob, IntegrationError, jobs } from "../../src/index.ts";
import { PrismaClient } from "../generated/prisma/client.ts";
import { createAppTables, createTestDatabase, type TestDatabase } from "../helpers/db.ts";

const Ping = defineJob<{ n: number }>("ping");

/** Another driver adapter: delegates to PrismaPg under a name of its own. */
function wrappedAdapter(connectionString: string): NonNullable<ConstructorParameters<typeof PrismaClient>[0]["adapter"]> {
  const inner = new PrismaPg({ connectionString, max: 2 });
  return {
    provider: inner.provider,
    adapterName: "acme-traced-pg",
    connect: () => inner.connect(),
  };
}

describe("clients workers cannot run on: another driver adapter, no connection string", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    await createAppTables(db.url);
  });
  afterAll(() => db.drop());

  it("enqueues, but a pool refuses to start: workers need @prisma/adapter-pg (with jobs({ connectionString }))", async () => {
    const prisma = new PrismaClient({ adapter: wrappedAdapter(db.url) }).$extends(jobs({ connectionString: db.url }));
    try {
      await prisma.$jobs.migrate();
      await prisma.$transaction(async (tx) => tx.$jobs.enqueue(Ping({ n: 1 })));
      const queue = prisma.$jobs.queue("default", { poolSize: 1, autoStartDelay: 60_000 });
      await queue.register(Ping, async () => undefined);
      const started = queue.start();
      await expect(started).rejects.toThrow(IntegrationError);
      await expect(started).rejects.toThrow(
        'workers need @prisma/adapter-pg: this Prisma client uses the driver adapter "acme-traced-pg", on which a handler\'s transaction cannot join its job\'s. ' +
          "Build the client that runs workers with `new PrismaClient({ adapter: new PrismaPg(...) })` (enqueueing works with any adapter)",
      );
      await queue.shutdown();
    } finally {
      await prisma.$disconnect();
    }
  });

  it("without jobs({ connectionString }) too, the refusal names @prisma/adapter-pg", async () => {
    const prisma = new PrismaClient({ adapter: wrappedAdapter(db.url) }).$extends(jobs());
    try {
      const queue = prisma.$jobs.queue("default", { poolSize: 1, autoStartDelay: 60_000 });
      await queue.register(Ping, async () => undefined);
      await expect(queue.start()).rejects.toThrow(/workers need @prisma\/adapter-pg: this Prisma client uses the driver adapter "acme-traced-pg"/);
      await queue.shutdown();
    } finally {
      await prisma.$disconnect();
    }
  });

  it("PrismaPg without a connection string (DATABASE_URL unset): start() and migrate() say so instead of pg's 'no PostgreSQL user name'", async () => {
    const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: undefined }) }).$extends(jobs());
    try {
      const queue = prisma.$jobs.queue("default", { poolSize: 1, autoStartDelay: 60_000 });
      await queue.register(Ping, async () => undefined);
      const refusal = { name: "InvalidOptionsError", option: "connectionString", message: expect.stringContaining("Is DATABASE_URL set in this environment?") };
      await expect(queue.start()).rejects.toMatchObject(refusal);
      await expect(prisma.$jobs.migrate()).rejects.toMatchObject(refusal);
      await queue.shutdown();
    } finally {
      await prisma.$disconnect();
    }
  });
});
