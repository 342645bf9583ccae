/**
 * Limits across processes: `concurrency` of a job type (both modes) and of a queue, and a
 * queue's `groupConcurrency` per group, and a job type's rate limit, are never exceeded by 3
 * worker processes (holders counted from each run's start and end, by the
 * database's clock); a rate limit wakes its pool when its window ends, not by polling.
 */
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { defineJob, InvalidOptionsError } from "../../src/index.ts";
import { createTestApp, waitFor, type TestApp } from "../helpers/app.ts";
import { startProcess, stopProcess, type WorkerProcess } from "../helpers/processes.ts";
import pg from "pg";
import { Capped, CappedLease, QA, QB, Rated, Tenant } from "./fixtures/limits-jobs.ts";

const fixture = fileURLToPath(new URL("./fixtures/limits-process.ts", import.meta.url));

/** A PostgreSQL timestamptz as text ("2026-12-04 18:00:00.123+00"), in ms. */
function parseTime(text: string): number {
  return Date.parse(text.replace(" ", "T").replace(/([+-]\d\d)$/, "$1:00"));
}

/** The most runs in progress at any instant, from "start|end" notes. */
function mostAtOnce(notes: string[]): number {
  const events = notes.flatMap((note) => {
    const [start, end] = note.split("|").map(parseTime);
    return [
      { at: start!, delta: 1 },
      { at: end!, delta: -1 },
    ];
  });
  // Ends before starts at the same instant: touching runs do not overlap.
  events.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let now = 0;
  let most = 0;
  for (const event of events) most = Math.max(most, (now += event.delta));
  return most;
}

describe("limits", () => {
  let app: TestApp;
  const workers: WorkerProcess[] = [];
  beforeAll(async () => {
    app = await createTestApp();
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map(stopProcess));
  });
  afterAll(() => app.close());

  async function notes(ids: string[]): Promise<string[]> {
    return (await app.rows<{ note: string }>(`SELECT note FROM "SideEffect" WHERE id = ANY($1)`, [ids])).map((r) => r.note);
  }

  it("3 processes of 4 slots each never run more than a job type's or a queue's concurrency at once", async () => {
    workers.push(...(await Promise.all([1, 2, 3].map(() => startProcess(fixture, [app.url])))));
    const capped = await app.prisma.$jobs.enqueue(Array.from({ length: 120 }, (_, n) => Capped({ n })));
    const leased = await app.prisma.$jobs.enqueue(Array.from({ length: 60 }, (_, n) => CappedLease({ n })));
    const queued = await app.prisma.$jobs.enqueue(Array.from({ length: 120 }, (_, n) => (n % 2 ? QA({ n }) : QB({ n }))));
    const tenants = ["t1", "t2", "t3"];
    const grouped = await Promise.all(tenants.map((group) => app.prisma.$jobs.enqueue(Array.from({ length: 30 }, (_, n) => Tenant({ n })), { group })));
    const rated = await app.prisma.$jobs.enqueue(Array.from({ length: 20 }, (_, n) => Rated({ n })));
    const all = [...capped, ...leased, ...queued, ...grouped.flat(), ...rated];
    await waitFor(async () => (await app.count("job_history", "id = ANY($1) AND state = 'succeeded'", [all])) === all.length, 120_000, "every job to succeed");
    expect(await app.count("attempts", "job_id = ANY($1)", [all])).toBe(0);
    // Each limit was reached (the test would prove nothing otherwise), never exceeded.
    expect(mostAtOnce(await notes(capped))).toBe(3);
    expect(mostAtOnce(await notes(leased))).toBe(2);
    expect(mostAtOnce(await notes(queued))).toBe(2);
    // One at a time per group, several groups at once.
    for (const ids of grouped) expect(mostAtOnce(await notes(ids))).toBe(1);
    expect(mostAtOnce(await notes(grouped.flat()))).toBeGreaterThan(1);
    // The rate limit (5 per 500 ms, fixed windows): any 16 starts span 3 windows or more, so
    // more than 2 windows' length (1,000 ms); asserted with room for the time from a token to the
    // handler's start, which varies under load. Unlimited, all 20 would start within ~100 ms.
    const starts = (await notes(rated)).map(parseTime).sort((a, b) => a - b);
    for (let i = 0; i + 15 < starts.length; i++) expect(starts[i + 15]! - starts[i]!).toBeGreaterThanOrEqual(800);
    expect(starts.at(-1)! - starts[0]!).toBeGreaterThanOrEqual(2 * 500);
  }, 180_000);

  it("a worker that dies holding a slot frees it at once: the other processes fill it", async () => {
    workers.push(await startProcess(fixture, [app.url]));
    // The slots are advisory locks of the running jobs' transactions: here, all three held by a
    // session that then dies, as a killed worker's does.
    const holder = new pg.Client({ connectionString: app.url });
    holder.on("error", () => undefined); // its termination below
    await holder.connect();
    await holder.query(`BEGIN`);
    await holder.query(`SELECT pg_advisory_xact_lock(hashtext('arrower:type:capped'), k) FROM generate_series(0, 2) k`);
    const ids = await app.prisma.$jobs.enqueue(Array.from({ length: 5 }, (_, n) => Capped({ n })));
    // While they are held nothing of the type starts (its pools claim, find no slot, give back).
    // A negative, so it waits: a second, with the pools polling every 200 ms.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await app.count("job_history", "id = ANY($1)", [ids])).toBe(0);
    await app.rows(`SELECT pg_terminate_backend($1)`, [(holder as unknown as { processID: number }).processID]);
    await holder.end().catch(() => undefined);
    await waitFor(async () => (await app.count("job_history", "id = ANY($1) AND state = 'succeeded'", [ids])) === 5, 20_000, "the jobs to run");
    expect(await app.count("attempts", "job_id = ANY($1)", [ids])).toBe(0);
  }, 60_000);

  it("a rate limit starts at most max jobs per window and wakes the pool when the window ends (poll interval 60 s)", async () => {
    const Rated = defineJob<{ n: number }>("rated", { queue: "rated", rateLimit: { max: 4, per: 400 } });
    const queue = app.prisma.$jobs.queue("rated", { poolSize: 3, pollInterval: 60_000, autoStartDelay: 60_000 });
    const starts: number[] = [];
    await queue.register(Rated, async () => void starts.push(Date.now()));
    const ids = await queue.enqueue(Array.from({ length: 12 }, (_, n) => Rated({ n })));
    await queue.start();
    try {
      await waitFor(async () => (await app.count("job_history", "id = ANY($1)", [ids])) === 12, 20_000, "12 rated jobs");
    } finally {
      await queue.shutdown();
    }
    starts.sort((a, b) => a - b);
    // A fixed window: never more than max in one, so never 2 × max within one window's length.
    for (let i = 0; i + 8 < starts.length; i++) expect(starts[i + 8]! - starts[i]!).toBeGreaterThanOrEqual(400 - 20);
    // Three windows at least: 12 jobs at 4 per 400 ms.
    expect(starts.at(-1)! - starts[0]!).toBeGreaterThanOrEqual(800 - 20);
  }, 60_000);

  it("a group's backlog does not starve another group: with groupConcurrency 1, a small tenant's jobs finish long before a big one's", async () => {
    const Work = defineJob<{ n: number }>("group-work", { queue: "fair" });
    const queue = app.prisma.$jobs.queue("fair", { poolSize: 4, pollInterval: 100, autoStartDelay: 60_000, groupConcurrency: 1 });
    const ends: Record<string, number[]> = { big: [], small: [] };
    let running: Record<string, number> = { big: 0, small: 0 };
    const most: Record<string, number> = { big: 0, small: 0 };
    await queue.register(Work, async ({ n }) => {
      const group = n < 1000 ? "big" : "small";
      most[group] = Math.max(most[group]!, ++running[group]!);
      await new Promise((r) => setTimeout(r, 20));
      running[group]!--;
      ends[group]!.push(Date.now());
    });
    const big = await queue.enqueue(Array.from({ length: 40 }, (_, n) => Work({ n })), { group: "big" });
    const small = await queue.enqueue(Array.from({ length: 4 }, (_, n) => Work({ n: 1000 + n })), { group: "small" });
    await queue.start();
    try {
      await waitFor(async () => (await app.count("job_history", "id = ANY($1)", [[...big, ...small]])) === 44, 30_000, "every job");
    } finally {
      await queue.shutdown();
    }
    running = { big: 0, small: 0 };
    expect(most).toEqual({ big: 1, small: 1 });
    // The small tenant waited for none of the big one's 40 jobs: done before the big one's 10th.
    expect(Math.max(...ends.small!)).toBeLessThan(ends.big!.sort((a, b) => a - b)[9]!);
  }, 60_000);

  it("bad limits are refused with typed errors", () => {
    expect(() => defineJob("bad-1", { concurrency: 0 })).toThrow(InvalidOptionsError);
    expect(() => defineJob("bad-2", { rateLimit: { max: 5 } as never })).toThrow('defineJob("bad-2") defaults: rateLimit needs both max and per');
    expect(() => app.prisma.$jobs.queue("bad-3", { concurrency: 1.5 })).toThrow(InvalidOptionsError);
    expect(() => app.prisma.$jobs.queue("bad-4", { rateLimit: { max: 1, per: 1, extra: 1 } as never })).toThrow(InvalidOptionsError);
    expect(() => app.prisma.$jobs.queue("bad-5", { groupConcurrency: 0 })).toThrow(InvalidOptionsError);
    return expect(app.prisma.$jobs.enqueue(Tenant({ n: 1 }), { group: "" })).rejects.toBeInstanceOf(InvalidOptionsError);
  });
});
