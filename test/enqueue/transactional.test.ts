import { describe, expect, it } from "vitest";
import { defineJob } from "../../src/index.ts";
import { createTestApp, useTestApp } from "../helpers/app.ts";

const SendWelcome = defineJob<{ userId: number; at: Date }>("send-welcome");

describe("transactional enqueue", () => {
  const { app } = useTestApp();

  it("a transaction that throws leaves no job (and no user)", async () => {
    const before = await app.count("jobs");
    await expect(
      app.prisma.$transaction(async (tx) => {
        const user = await tx.user.create({ data: { email: "rolled-back@example.com" } });
        await tx.$jobs.enqueue(SendWelcome({ userId: user.id, at: new Date() }));
        throw new Error("checkout failed");
      }),
    ).rejects.toThrow("checkout failed");
    expect(await app.count("jobs")).toBe(before);
    expect(await app.rows(`SELECT * FROM "User" WHERE email = 'rolled-back@example.com'`)).toEqual([]);
  });

  it("a committed job is invisible to another connection until the commit, visible after", async () => {
    let seenInside: number | undefined;
    let id: string | undefined;
    await app.prisma.$transaction(async (tx) => {
      const user = await tx.user.create({ data: { email: "committed@example.com" } });
      id = await tx.$jobs.enqueue(SendWelcome({ userId: user.id, at: new Date() }));
      seenInside = await app.count("jobs", "id = $1", [id]);
    });
    expect(seenInside).toBe(0);
    expect(await app.count("jobs", "id = $1", [id])).toBe(1);
  });

  it("a batch through tx.$jobs stores each job's own values: shared and per-job columns, Dates, dedup keys", async () => {
    // Through Prisma's query layer (not the adapter's pool): one-element arrays, [null], a Date
    // array and the payloads' JSON array must arrive as the statement expects them.
    const later = new Date(Date.now() + 3_600_000);
    const [first, second, third] = await app.prisma.$transaction(async (tx) => [
      ...(await tx.$jobs.enqueue([SendWelcome({ userId: 1, at: later }), SendWelcome({ userId: 2, at: later })], { runAt: later, priority: 3 })),
      await tx.$jobs.enqueue(SendWelcome({ userId: 3, at: later }), { dedupKey: "user-3" }),
    ]);
    const again = await app.prisma.$transaction((tx) => tx.$jobs.enqueue(SendWelcome({ userId: 3, at: later }), { dedupKey: "user-3" }));
    expect(again).toBe(third);
    const rows = await app.rows<{ payload: unknown; payload_meta: unknown; priority: number; run_at: Date; dedup_key: string | null }>(
      `SELECT payload, payload_meta, priority, run_at, dedup_key FROM arrower.jobs WHERE id = ANY($1::bigint[]) ORDER BY id`,
      [[first, second, third]],
    );
    expect(rows.map((r) => [r.payload, r.priority, r.dedup_key])).toEqual([
      [{ userId: 1, at: later.toISOString() }, 3, null],
      [{ userId: 2, at: later.toISOString() }, 3, null],
      [{ userId: 3, at: later.toISOString() }, 0, "user-3"],
    ]);
    expect(rows.map((r) => r.payload_meta)).toEqual([{ values: { at: ["Date"] }, v: 1 }, { values: { at: ["Date"] }, v: 1 }, { values: { at: ["Date"] }, v: 1 }]);
    expect(rows[0]!.run_at).toEqual(later);
    expect(rows[2]!.run_at.getTime()).toBeLessThanOrEqual(Date.now());
  });

  it("tx.$transaction() inside stays in the same transaction (a savepoint)", async () => {
    await expect(
      app.prisma.$transaction(async (tx) => {
        await tx.$transaction(async (inner) => {
          await inner.$jobs.enqueue(SendWelcome({ userId: 7, at: new Date() }), { dedupKey: "nested" });
        });
        throw new Error("outer fails");
      }),
    ).rejects.toThrow("outer fails");
    expect(await app.count("jobs", "dedup_key = 'nested'")).toBe(0);
  });

  it("prisma.$jobs inside a transaction callback is not part of it", async () => {
    await expect(
      app.prisma.$transaction(async () => {
        await app.prisma.$jobs.enqueue(SendWelcome({ userId: 8, at: new Date() }), { dedupKey: "outside" });
        throw new Error("tx fails");
      }),
    ).rejects.toThrow("tx fails");
    expect(await app.count("jobs", "dedup_key = 'outside'")).toBe(1);
  });

  it("sends a NOTIFY on commit, not before", async () => {
    const heard: string[] = [];
    const listener = (message: { channel: string; payload?: string }) => heard.push(message.payload ?? "");
    app.observer.on("notification", listener);
    await app.observer.query(`LISTEN "arrower_jobs:arrower"`);
    try {
      await app.prisma.$transaction(async (tx) => {
        await tx.$jobs.enqueue(SendWelcome({ userId: 9, at: new Date() }), { queue: "mail" });
        await new Promise((r) => setTimeout(r, 50));
        expect(heard).toEqual([]);
      });
      await expect.poll(() => heard).toEqual(["mail"]);
    } finally {
      await app.observer.query(`UNLISTEN *`);
      app.observer.off("notification", listener);
    }
  });
});

describe("extension composition", () => {
  it("composes with $extends before and after jobs(), and later extensions stay on tx", async () => {
    const { createAppClient } = await import("../helpers/db.ts");
    const { jobs } = await import("../../src/index.ts");
    const app = await createTestApp();
    const prisma = createAppClient(app.url)
      .$extends({ client: { $before: () => "before" } })
      .$extends(jobs())
      .$extends({ client: { $after: () => "after" } });
    try {
      await prisma.$transaction(async (tx) => {
        expect(tx.$before()).toBe("before");
        expect(tx.$after()).toBe("after");
        await tx.$jobs.enqueue(SendWelcome({ userId: 1, at: new Date() }));
      });
      expect(prisma.$before()).toBe("before");
      expect(await app.count("jobs")).toBe(1);
    } finally {
      await prisma.$disconnect();
      await app.close();
    }
  });
});
