/**
 * The handler's `tx`: a Prisma transaction on the job's connection, opened when first used.
 * Whatever shape a handler's use of it takes, its writes commit with the job or not at all.
 */
import { describe, expect, it } from "vitest";
import { defineJob, type Handler } from "../../src/index.ts";
import { type TestApp, useTestApp, waitFor } from "../helpers/app.ts";

const Task = defineJob<{ note: string }>("task");

describe("the handler's transaction", () => {
  const { app, queues } = useTestApp();

  /** Runs one job through `handler` on a fresh queue and returns its history row. */
  async function runJob(name: string, handler: Handler<{ note: string }, TestTx>, maxAttempts = 1) {
    const queue = app.prisma.$jobs.queue(name, { poolSize: 1, pollInterval: 100, autoStartDelay: 0, backoff: { baseDelay: 10, maxDelay: 10 } });
    queues.push(queue);
    await queue.register(Task, handler);
    await queue.start();
    const id = await queue.enqueue(Task({ note: name }), { maxAttempts });
    await waitFor(async () => (await app.count("job_history", "id = $1", [id])) === 1, 20_000, `job ${id} to finish`);
    const [row] = await app.rows<{ state: string; last_error: string | null }>(`SELECT state, last_error FROM arrower.job_history WHERE id = $1`, [id]);
    return { id, ...row! };
  }

  it("a handler that never uses tx succeeds, and a later job's tx still works", async () => {
    expect(await runJob("untouched", async () => undefined)).toMatchObject({ state: "succeeded" });
    const { id, state } = await runJob("touched", async (_job, { tx, jobId }) => {
      await tx.sideEffect.create({ data: { id: jobId, note: "written" } });
    });
    expect(state).toBe("succeeded");
    expect(await app.rows(`SELECT note FROM "SideEffect" WHERE id = $1`, [id])).toEqual([{ note: "written" }]);
  });

  it("5 slots opening their transactions at the same time, over and over: each write lands in its own job's transaction", async () => {
    // Handlers' transactions find their job's connection through an AsyncLocalStorage scope
    // that is switched off whenever no transaction is opening (src/prisma/connection.ts).
    const queue = app.prisma.$jobs.queue("crowd", { poolSize: 5, autoStartDelay: 0, backoff: { baseDelay: 60_000, maxDelay: 60_000 } });
    queues.push(queue);
    const ids = await queue.enqueue(Array.from({ length: 60 }, (_, i) => Task({ note: String(i) })), { maxAttempts: 1 });
    await queue.register(Task, async (job, { tx, jobId }) => {
      // Some handlers open late, some never: openings interleave with running transactions.
      if (Number(job.note) % 4 === 3) return;
      if (Number(job.note) % 4 === 2) await new Promise((resolve) => setTimeout(resolve, 5));
      await tx.sideEffect.create({ data: { id: jobId, note: job.note } });
      if (Number(job.note) % 4 === 1) throw new Error("rolled back");
    });
    await waitFor(async () => (await app.count("job_history", "id = ANY($1::bigint[])", [ids])) === 60, 20_000);
    const states = await app.rows<{ id: string; state: string; last_error: string | null }>(
      `SELECT h.id::text AS id, h.state, h.last_error FROM arrower.job_history h WHERE h.id = ANY($1::bigint[]) ORDER BY h.id`,
      [ids],
    );
    expect(states).toEqual(ids.map((id, i) => ({ id, state: i % 4 === 1 ? "failed" : "succeeded", last_error: i % 4 === 1 ? expect.stringMatching(/rolled back/) : null })));
    const written = await app.rows<{ id: string }>(`SELECT id FROM "SideEffect" WHERE id = ANY($1::text[]) ORDER BY id::bigint`, [ids]);
    expect(written.map((r) => r.id)).toEqual(ids.filter((_, i) => i % 4 === 0 || i % 4 === 2));
  });

  it("queries in parallel, raw SQL, field references and a nested transaction all land in the job's transaction", async () => {
    const { id, state, last_error } = await runJob("shapes", async (_job, { tx, jobId }) => {
      await Promise.all([
        tx.sideEffect.create({ data: { id: `${jobId}:a`, note: "x" } }),
        tx.sideEffect.create({ data: { id: `${jobId}:b`, note: "x" } }),
      ]);
      await tx.$executeRaw`INSERT INTO "SideEffect" (id, note) VALUES (${`${jobId}:raw`}, 'raw')`;
      // Field references are read synchronously (the same for the client and its transactions).
      const same = await tx.sideEffect.findMany({ where: { id: { startsWith: jobId }, note: { equals: tx.sideEffect.fields.note } }, orderBy: { id: "asc" } });
      if (same.length !== 3) throw new Error(`expected 3 rows, saw ${same.length}`);
      await tx.$transaction(async (inner) => {
        await inner.sideEffect.create({ data: { id: `${jobId}:nested`, note: "nested" } });
      });
      const [row] = await tx.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM "SideEffect" WHERE id LIKE ${`${jobId}:%`}`;
      if (row?.n !== 4) throw new Error(`expected 4 rows, saw ${row?.n}`);
    });
    expect({ state, last_error }).toEqual({ state: "succeeded", last_error: null });
    expect(await app.rows(`SELECT id FROM "SideEffect" WHERE id LIKE $1 ORDER BY id`, [`${id}:%`])).toEqual([
      { id: `${id}:a` },
      { id: `${id}:b` },
      { id: `${id}:nested` },
      { id: `${id}:raw` },
    ]);
  });

  it("a handler that throws after writing leaves nothing behind", async () => {
    const { id, state, last_error } = await runJob("throws", async (_job, { tx, jobId }) => {
      await tx.sideEffect.create({ data: { id: jobId } });
      await tx.$jobs.enqueue(Task({ note: "follow-up" }), { queue: "follow-ups" });
      throw new Error("card declined");
    });
    expect(state).toBe("failed");
    expect(last_error).toMatch(/^Error: card declined\n/);
    expect(await app.count("jobs", "queue = 'follow-ups'")).toBe(0);
    expect(await app.rows(`SELECT id FROM "SideEffect" WHERE id = $1`, [id])).toEqual([]);
  });

  it("a handler that catches a failed statement and returns: the job fails, saying why, and its writes are rolled back", async () => {
    const { id, state, last_error } = await runJob("swallowed", async (_job, { tx, jobId }) => {
      await tx.sideEffect.create({ data: { id: jobId } });
      await tx.sideEffect.create({ data: { id: jobId } }).catch(() => undefined); // duplicate key, ignored
    });
    expect(state).toBe("failed");
    expect(last_error).toMatch(/aborted by an earlier failed statement that the handler caught/);
    expect(await app.rows(`SELECT id FROM "SideEffect" WHERE id = $1`, [id])).toEqual([]);
  });

  it("a write in the first attempt that fails is gone; the second attempt's write commits", async () => {
    let attempts = 0;
    const { id, state } = await runJob(
      "second-time",
      async (_job, { tx, jobId, attempt }) => {
        attempts++;
        await tx.sideEffect.create({ data: { id: `${jobId}:${attempt}` } });
        if (attempt === 1) throw new Error("try again");
      },
      2,
    );
    expect(state).toBe("succeeded");
    expect(attempts).toBe(2);
    expect(await app.rows(`SELECT id FROM "SideEffect" WHERE id LIKE $1`, [`${id}:%`])).toEqual([{ id: `${id}:2` }]);
  });
});

/** What a handler of the test app's queues receives as `tx`. */
type TestTx = Parameters<Parameters<ReturnType<TestApp["prisma"]["$jobs"]["queue"]>["register"]>[1]>[1]["tx"];
