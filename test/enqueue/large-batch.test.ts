/**
 * Batches too large for one statement (issue 16, item 12). PostgreSQL refuses a jsonb value
 * over 256 MiB (54000: "total size of jsonb array elements exceeds the maximum of 268435455
 * bytes"), which aborted the caller's transaction. Such batches are split by size into several
 * statements, in the caller's transaction or, on `prisma.$jobs`, in one of their own: all or
 * nothing either way. Batches under 32 Mi characters of payload keep their single statement.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { defineJob, InvalidOptionsError, jobs } from "../../src/index.ts";
import { createTestingJobs } from "../../src/testing.ts";
import { prepareJobs, splitBySize, STATEMENT_TEXT_BUDGET } from "../../src/enqueue.ts";
import { useTestApp } from "../helpers/app.ts";

const Blob = defineJob<{ i: number; data: string }>("blob");
const MB = "x".repeat(1_000_000);
/** 270 MB through PostgreSQL: ~15 s on 2 idle cores, more when the machine is shared. */
const HEAVY = { timeout: 240_000 };

describe("a batch of 270 payloads of ~1 MB each (270 MB)", () => {
  const { app } = useTestApp();

  it("tx.$jobs.enqueue: all of them, in the caller's transaction, which commits its other writes", HEAVY, async () => {
    const email = `${randomUUID()}@example.com`;
    let ids: string[] = [];
    await app.prisma.$transaction(
      async (tx) => {
        await tx.user.create({ data: { email } });
        const started = performance.now();
        ids = await tx.$jobs.enqueue(Array.from({ length: 270 }, (_, i) => Blob({ i, data: MB })));
        console.log(`270 x 1 MB on tx.$jobs: ${Math.round(performance.now() - started)} ms`);
      },
      { timeout: 300_000 },
    );
    expect(ids).toHaveLength(270);
    expect(ids.map(Number)).toEqual([...ids.map(Number)].sort((a, b) => a - b));
    expect(await app.rows(`SELECT 1 FROM "User" WHERE email = $1`, [email])).toHaveLength(1);
    const [row] = await app.rows(`SELECT count(*)::int AS n, min((payload->>'i')::int) AS first, max((payload->>'i')::int) AS last,
                                         bool_and(length(payload->>'data') = 1000000) AS whole FROM arrower.jobs WHERE type = 'blob'`);
    expect(row).toEqual({ n: 270, first: 0, last: 269, whole: true });
  });
});

describe("a batch of 10,000 payloads of 27 KB each (270 MB) on prisma.$jobs", () => {
  const { app } = useTestApp();

  it("enqueues all of them, ids in input order", HEAVY, async () => {
    const data = "y".repeat(27_000);
    const started = performance.now();
    const ids = await app.prisma.$jobs.enqueue(Array.from({ length: 10_000 }, (_, i) => Blob({ i, data })));
    console.log(`10,000 x 27 KB on prisma.$jobs: ${Math.round(performance.now() - started)} ms`);
    expect(ids).toHaveLength(10_000);
    const rows = await app.rows<{ id: string; i: number }>(`SELECT id::text AS id, (payload->>'i')::int AS i FROM arrower.jobs ORDER BY jobs.id`);
    expect(rows.map((r) => r.id)).toEqual(ids);
    expect(rows.map((r) => r.i)).toEqual(ids.map((_, i) => i));
  });
});

describe("a split batch is all or nothing", () => {
  const { app } = useTestApp();

  /** The database refuses job 39 of the batch, in the batch's second statement. */
  async function refuseJob39(): Promise<void> {
    await app.rows(`CREATE FUNCTION public.refuse_39() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN IF NEW.payload->>'i' = '39' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$`);
    await app.rows(`CREATE TRIGGER refuse_39 BEFORE INSERT ON arrower.jobs FOR EACH ROW EXECUTE FUNCTION public.refuse_39()`);
  }

  it("prisma.$jobs: the second statement fails, the first one's jobs are not committed either", async () => {
    await refuseJob39();
    const batch = Array.from({ length: 40 }, (_, i) => Blob({ i, data: MB }));
    expect(splitBySize(prepareJobs(batch, undefined, 2_000_000), STATEMENT_TEXT_BUDGET)).toHaveLength(2);
    await expect(app.prisma.$jobs.enqueue(batch)).rejects.toThrow(/refused by the test/);
    expect(await app.count("jobs")).toBe(0);
    // Without the trigger the same batch goes in.
    await app.rows(`DROP TRIGGER refuse_39 ON arrower.jobs`);
    await expect(app.prisma.$jobs.enqueue(batch)).resolves.toHaveLength(40);
  });
});

describe("splitting by size", () => {
  it("a normal batch stays one statement: 1,000 jobs of 1 KB, 100,000 small ones", () => {
    const kb = "k".repeat(1_000);
    expect(splitBySize(prepareJobs(Array.from({ length: 1_000 }, (_, i) => Blob({ i, data: kb })), undefined, 1 << 20), STATEMENT_TEXT_BUDGET)).toHaveLength(1);
    expect(splitBySize(prepareJobs(Array.from({ length: 100_000 }, (_, i) => Blob({ i, data: "" })), undefined, 1 << 20), STATEMENT_TEXT_BUDGET)).toHaveLength(1);
  });

  it("270 payloads of 1 MB take 9 statements of at most 32 Mi characters, in input order", () => {
    const prepared = prepareJobs(Array.from({ length: 270 }, (_, i) => Blob({ i, data: MB })), undefined, 2_000_000);
    const chunks = splitBySize(prepared, STATEMENT_TEXT_BUDGET);
    expect(chunks).toHaveLength(9);
    expect(chunks.flat()).toEqual(prepared);
    for (const chunk of chunks) expect(chunk.reduce((n, j) => n + j.payload.length + (j.payloadMeta?.length ?? 0), 0)).toBeLessThanOrEqual(STATEMENT_TEXT_BUDGET);
  });

  it("maxPayloadBytes is at most 32 MiB, so one payload always fits one statement (both backends)", () => {
    for (const make of [() => jobs({ maxPayloadBytes: 64 * 1024 * 1024 }), () => createTestingJobs({ maxPayloadBytes: 64 * 1024 * 1024 })]) {
      expect(make).toThrow(InvalidOptionsError);
      expect(make).toThrow("maxPayloadBytes must be between 1 and 33554432 (32 MiB), got 67108864");
    }
  });
});
