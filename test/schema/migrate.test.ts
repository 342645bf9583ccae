import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defineJob, MigrationsPendingError } from "../../src/index.ts";
import { latestVersion } from "../../src/postgres/migrations.ts";
import { createTestApp, extendedClient, type TestApp } from "../helpers/app.ts";

const Ping = defineJob<{ n: number }>("ping");

describe("migrate", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp({ migrate: false });
  });
  afterAll(() => app.close());

  it("enqueue before migrating says to run migrate, and writes nothing", async () => {
    const error = await app.prisma.$jobs.enqueue(Ping({ n: 1 })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationsPendingError);
    expect((error as MigrationsPendingError).message).toContain("npx arrower-jobs migrate");
    // Inside a transaction the check cannot abort the caller's transaction.
    await app.prisma.$transaction(async (tx) => {
      await expect(tx.$jobs.enqueue(Ping({ n: 1 }))).rejects.toBeInstanceOf(MigrationsPendingError);
      await tx.user.create({ data: { email: "still-works@example.com" } });
    });
    expect(await app.rows(`SELECT 1 FROM "User" WHERE email = 'still-works@example.com'`)).toHaveLength(1);
  });

  it("4 concurrent callers: the schema is created once, no error; again: a no-op", async () => {
    const clients = [1, 2, 3, 4].map(() => extendedClient(app.url));
    try {
      const results = await Promise.all(clients.map((c) => c.$jobs.migrate()));
      expect(results.map((r) => r.applied.length).sort()).toEqual([0, 0, 0, latestVersion()]);
      expect(results.every((r) => r.version === latestVersion())).toBe(true);
      const again = await clients[0]!.$jobs.migrate();
      expect(again).toEqual({ applied: [], version: latestVersion() });
      const versions = await app.rows<{ version: number }>(`SELECT version FROM arrower.migrations ORDER BY version`);
      expect(versions.map((v) => v.version)).toEqual(Array.from({ length: latestVersion() }, (_, i) => i + 1));
    } finally {
      await Promise.all(clients.map((c) => c.$disconnect()));
    }
  });

  it("after migrating, the same client enqueues", async () => {
    expect(await app.prisma.$jobs.enqueue(Ping({ n: 2 }))).toMatch(/^\d+$/);
  });

  it("a custom schema keeps its tables apart", async () => {
    const other = extendedClient(app.url, { schema: "jobs_two" });
    try {
      await other.$jobs.migrate();
      await other.$jobs.enqueue(Ping({ n: 3 }));
      expect(await app.rows(`SELECT count(*)::int AS n FROM jobs_two.jobs`)).toEqual([{ n: 1 }]);
    } finally {
      await other.$disconnect();
    }
  });
});
