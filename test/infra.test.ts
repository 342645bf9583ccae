// Smoke test for the test infrastructure itself (global setup + helpers/db.ts).
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createAppClient, createAppTables, createTestDatabase, type AppClient, type TestDatabase } from "./helpers/db.ts";

describe("test infrastructure", () => {
  let db: TestDatabase;
  let prisma: AppClient;

  beforeAll(async () => {
    db = await createTestDatabase();
    await createAppTables(db.url);
    prisma = createAppClient(db.url);
  });

  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
  });

  it("provides an admin URL and creates a fresh database", () => {
    expect(inject("adminUrl")).toMatch(/^postgres(ql)?:\/\//);
    expect(new URL(db.url).pathname).toMatch(/^\/arrower_t_[a-z0-9_]+$/);
  });

  it("creates and reads a User through the generated Prisma client", async () => {
    const created = await prisma.user.create({ data: { email: "ada@example.com" } });
    expect(created.id).toBeGreaterThan(0);
    expect(created.welcomedAt).toBeNull();

    const found = await prisma.user.findUnique({ where: { email: "ada@example.com" } });
    expect(found).toEqual(created);

    await expect(prisma.user.create({ data: { email: "ada@example.com" } })).rejects.toThrow();

    const effect = await prisma.sideEffect.create({ data: { id: "se-1" } });
    expect(effect.createdAt).toBeInstanceOf(Date);
    expect(effect.note).toBeNull();
  });

  it("drop() removes the database (and is idempotent)", async () => {
    const other = await createTestDatabase();
    const name = new URL(other.url).pathname.slice(1);
    const admin = new pg.Client({ connectionString: inject("adminUrl") });
    await admin.connect();
    try {
      const exists = async () =>
        (await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])).rowCount === 1;
      expect(await exists()).toBe(true);
      // An open connection must not block the drop (WITH (FORCE)).
      const holder = new pg.Client({ connectionString: other.url });
      holder.on("error", () => {});
      await holder.connect();
      await other.drop();
      await other.drop();
      expect(await exists()).toBe(false);
      await holder.end().catch(() => {});
    } finally {
      await admin.end();
    }
  });
});
