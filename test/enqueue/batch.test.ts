import { describe, expect, it } from "vitest";
import { defineJob } from "../../src/index.ts";
import pg from "pg";
import { deserializePayload } from "../../src/payload.ts";
import { Engine, resolveJobsOptions } from "../../src/engine.ts";
import { insertJobs, prepareJobs } from "../../src/enqueue.ts";
import type { Queryable } from "../../src/backend.ts";
import { useTestApp } from "../helpers/app.ts";

const SendWelcome = defineJob<{ userId: number; at: Date }>("send-welcome");
const Rich = defineJob<{
  at: Date;
  tags: Set<string>;
  scores: Map<string, bigint>;
  nested: { maybe: string | undefined; list: (number | undefined)[] };
}>("rich", { queue: "other" });

describe("batch enqueue", () => {
  const { app } = useTestApp();

  it("inserts 10,000 mixed jobs with one statement and returns 10,000 ids in order", async () => {
    const jobs = Array.from({ length: 10_000 }, (_, i) =>
      i % 2 === 0
        ? SendWelcome({ userId: i, at: new Date(Date.UTC(2026, 0, 1, 0, 0, i % 60)) })
        : Rich({ at: new Date(i), tags: new Set([`t${i}`]), scores: new Map([["s", BigInt(i)]]), nested: { maybe: undefined, list: [i, undefined] } }),
    );
    // Count the statements enqueue sends, on a connection of our own.
    const client = new pg.Client({ connectionString: app.url });
    await client.connect();
    const sent: string[] = [];
    const db: Queryable = {
      query: async <R,>(sql: string, values: readonly unknown[]) => {
        sent.push(sql);
        return (await client.query(sql, values as unknown[])).rows as R[];
      },
    };
    const engine = new Engine(resolveJobsOptions({}), undefined);
    await engine.ensureSchema(db);
    sent.length = 0;
    const ids = await insertJobs(engine, db, prepareJobs(jobs, {}, engine.options.maxPayloadBytes));
    await client.end();
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatch(/INSERT INTO "arrower"\.jobs/);

    expect(ids).toHaveLength(10_000);
    expect(new Set(ids).size).toBe(10_000);
    // Ids are drawn in input order, and each id is its own job's.
    expect(ids.map(Number)).toEqual([...ids.map(Number)].sort((a, b) => a - b));
    const stored = new Map(
      (await app.rows<{ id: string; payload: { userId?: number; at: string } }>(`SELECT j.id::text AS id, j.payload FROM arrower.jobs j`)).map((r) => [r.id, r.payload]),
    );
    expect(ids.every((id, i) => (i % 2 === 0 ? stored.get(id)?.userId === i : stored.get(id)?.at === new Date(i).toISOString()))).toBe(true);
    expect(await app.count("jobs")).toBe(10_000);
    const byQueue = await app.rows<{ queue: string; type: string; n: number }>(
      `SELECT queue, type, count(*)::int AS n FROM arrower.jobs GROUP BY 1, 2 ORDER BY 1`,
    );
    expect(byQueue).toEqual([
      { queue: "default", type: "send-welcome", n: 5000 },
      { queue: "other", type: "rich", n: 5000 },
    ]);
    const [row] = await app.rows<{ payload: unknown; payload_meta: unknown }>(`SELECT payload, payload_meta FROM arrower.jobs WHERE id = $1`, [ids[1]]);
    expect(deserializePayload(row!.payload, row!.payload_meta)).toEqual({
      at: new Date(1),
      tags: new Set(["t1"]),
      scores: new Map([["s", 1n]]),
      nested: { maybe: undefined, list: [1, undefined] },
    });
  });

  it("payloads round-trip exactly: Date, Map, Set, BigInt, nested undefined", async () => {
    const payload = {
      at: new Date("2026-11-29T10:00:00.123Z"),
      tags: new Set(["a", "b"]),
      scores: new Map([["x", 12345678901234567890n]]),
      nested: { maybe: undefined, list: [1, undefined, 3] },
    };
    const id = await app.prisma.$jobs.enqueue(Rich(payload));
    const [row] = await app.rows<{ payload: unknown; payload_meta: unknown }>(`SELECT payload, payload_meta FROM arrower.jobs WHERE id = $1`, [id]);
    const decoded = deserializePayload<typeof payload>(row!.payload, row!.payload_meta);
    expect(decoded).toEqual(payload);
    expect("maybe" in decoded.nested).toBe(true);
    expect(decoded.scores.get("x")).toBe(12345678901234567890n);
  });

  it("a batch whose jobs differ in some options and share others stores each job's own", async () => {
    const Slow = defineJob<{ n: number }>("slow", { queue: "other", maxAttempts: 2, timeout: 60_000, priority: 5 });
    const Fast = defineJob<{ n: number }>("fast", { queue: "other", maxAttempts: 9, timeout: 1_000 });
    const later = new Date(Date.now() + 3_600_000);
    const ids = await app.prisma.$jobs.enqueue([Slow({ n: 1 }), Fast({ n: 2 }), Slow({ n: 3 })]);
    const [dated] = await app.prisma.$jobs.enqueue([Fast({ n: 4 })], { runAt: later });
    const rows = await app.rows(
      `SELECT queue, type, payload, payload_meta, priority, max_attempts, timeout_ms, run_at <= clock_timestamp() AS due
       FROM arrower.jobs WHERE id = ANY($1::bigint[]) ORDER BY id`,
      [[...ids, dated]],
    );
    expect(rows).toEqual([
      { queue: "other", type: "slow", payload: { n: 1 }, payload_meta: null, priority: 5, max_attempts: 2, timeout_ms: 60_000, due: true },
      { queue: "other", type: "fast", payload: { n: 2 }, payload_meta: null, priority: 0, max_attempts: 9, timeout_ms: 1_000, due: true },
      { queue: "other", type: "slow", payload: { n: 3 }, payload_meta: null, priority: 5, max_attempts: 2, timeout_ms: 60_000, due: true },
      { queue: "other", type: "fast", payload: { n: 4 }, payload_meta: null, priority: 0, max_attempts: 9, timeout_ms: 1_000, due: false },
    ]);
  });

  it("plain JSON is stored without type meta; what plain JSON would change keeps its meta", async () => {
    const Any = defineJob<unknown>("any");
    const shared = { k: 1 };
    const payloads: unknown[] = [
      { a: [1, "x", true, null, { b: [] }], "": 0 },
      "just a string",
      { shared, again: shared },
      { zero: -0, nan: NaN, inf: -Infinity },
      { gone: undefined },
      [undefined],
      Object.assign(Object.create(null) as object, { bare: 1 }),
    ];
    const ids = await app.prisma.$jobs.enqueue(payloads.map((p) => Any(p)));
    const rows = await app.rows<{ payload: unknown; payload_meta: unknown }>(
      `SELECT payload, payload_meta FROM arrower.jobs WHERE id = ANY($1::bigint[]) ORDER BY id`,
      [ids],
    );
    expect(rows.map((r) => r.payload_meta === null)).toEqual([true, true, false, false, false, false, true]);
    const decoded = rows.map((r) => deserializePayload<unknown>(r.payload, r.payload_meta));
    expect(decoded).toEqual(payloads);
    const [, , sharedBack, numbers, gone] = decoded as [unknown, unknown, { shared: object; again: object }, { zero: number }, object];
    expect(sharedBack.again).toBe(sharedBack.shared);
    expect(Object.is(numbers.zero, -0)).toBe(true);
    expect("gone" in gone).toBe(true);
  });

  it("applies options and job type defaults, options winning", async () => {
    const runAt = new Date(Date.now() + 3_600_000);
    const [a, b] = await app.prisma.$jobs.enqueue(
      [Rich({ at: new Date(), tags: new Set(), scores: new Map(), nested: { maybe: "x", list: [] } }), SendWelcome({ userId: 1, at: new Date() })],
      { priority: -5, maxAttempts: 3, timeout: 1234, runAt },
    );
    const rows = await app.rows<{ id: string; queue: string; priority: number; max_attempts: number; timeout_ms: number; run_at: Date }>(
      `SELECT id::text, queue, priority, max_attempts, timeout_ms, run_at FROM arrower.jobs WHERE id = ANY($1::bigint[]) ORDER BY id`,
      [[a, b]],
    );
    expect(rows).toEqual([
      { id: a, queue: "other", priority: -5, max_attempts: 3, timeout_ms: 1234, run_at: runAt },
      { id: b, queue: "default", priority: -5, max_attempts: 3, timeout_ms: 1234, run_at: runAt },
    ]);
  });

  it("an empty batch is a no-op", async () => {
    expect(await app.prisma.$jobs.enqueue([])).toEqual([]);
  });
});

describe("dedup key", () => {
  const { app } = useTestApp();

  it("two enqueues with the same key: one live job, the same id", async () => {
    const first = await app.prisma.$jobs.enqueue(SendWelcome({ userId: 1, at: new Date() }), { dedupKey: "welcome-1" });
    const second = await app.prisma.$jobs.enqueue(SendWelcome({ userId: 1, at: new Date() }), { dedupKey: "welcome-1" });
    expect(second).toBe(first);
    expect(await app.count("jobs", "dedup_key = 'welcome-1'")).toBe(1);
  });

  it("the same key within one batch is one job", async () => {
    const ids = await app.prisma.$jobs.enqueue(
      [SendWelcome({ userId: 2, at: new Date() }), SendWelcome({ userId: 3, at: new Date() })],
      { dedupKey: "batch-key" },
    );
    expect(ids[0]).toBe(ids[1]);
    expect(await app.count("jobs", "dedup_key = 'batch-key'")).toBe(1);
  });

  it("the same key in another queue is another job", async () => {
    const a = await app.prisma.$jobs.enqueue(SendWelcome({ userId: 4, at: new Date() }), { dedupKey: "per-queue" });
    const b = await app.prisma.$jobs.enqueue(SendWelcome({ userId: 4, at: new Date() }), { dedupKey: "per-queue", queue: "other" });
    expect(a).not.toBe(b);
  });

  it("concurrent transactions with the same key get the same id", async () => {
    const results = await Promise.all(
      [1, 2, 3].map(() => app.prisma.$transaction(async (tx) => tx.$jobs.enqueue(SendWelcome({ userId: 5, at: new Date() }), { dedupKey: "race" }))),
    );
    expect(new Set(results).size).toBe(1);
    expect(await app.count("jobs", "dedup_key = 'race'")).toBe(1);
  });
});

