import { describe, expect, it } from "vitest";
import { defineJob, type Queue } from "../../src/index.ts";
import { useTestApp, waitFor } from "../helpers/app.ts";

const Write = defineJob<{ note: string; failUntil?: number }>("write");

describe("processing", () => {
  const { app, queues } = useTestApp();

  it("a handler that writes then throws: its write is rolled back, the retry's write commits, history has both attempts", async () => {
    const queue = app.prisma.$jobs.queue("retry", { poolSize: 2, pollInterval: 200, backoff: { baseDelay: 50, maxDelay: 50 } });
    queues.push(queue);
    await queue.register(Write, async (job, { tx, jobId, attempt }) => {
      await tx.sideEffect.create({ data: { id: `${jobId}:${attempt}`, note: job.note } });
      if (attempt < (job.failUntil ?? 0)) throw new Error(`payment provider down (attempt ${attempt})`);
    });
    await queue.start();
    const id = await queue.enqueue(Write({ note: "hello", failUntil: 2 }));

    await waitFor(async () => (await app.count("job_history", "id = $1", [id])) === 1, 20_000, "the job to finish");
    expect(await app.rows(`SELECT id FROM "SideEffect" WHERE id LIKE $1 ORDER BY id`, [`${id}:%`])).toEqual([{ id: `${id}:2` }]);
    const [history] = await app.rows<{ state: string; attempts: number; last_error: string | null }>(
      `SELECT state, attempts, last_error FROM arrower.job_history WHERE id = $1`,
      [id],
    );
    expect(history).toEqual({ state: "succeeded", attempts: 2, last_error: null });
    const attempts = await app.rows<{ attempt: number; outcome: string; error: string }>(
      `SELECT attempt, outcome, error FROM arrower.attempts WHERE job_id = $1 ORDER BY attempt`,
      [id],
    );
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ attempt: 1, outcome: "failed" });
    expect(attempts[0]!.error).toContain("payment provider down (attempt 1)");
    expect(await app.count("jobs")).toBe(0);
  });

  it("after maxAttempts the job is kept as failed in history, never dropped", async () => {
    const queue = app.prisma.$jobs.queue("dead", { poolSize: 1, pollInterval: 200, backoff: { baseDelay: 10, maxDelay: 10 } });
    queues.push(queue);
    await queue.register(Write, async () => {
      throw "a string, not an Error";
    });
    await queue.start();
    const id = await queue.enqueue(Write({ note: "doomed" }), { maxAttempts: 3 });
    await waitFor(async () => (await app.count("job_history", "id = $1", [id])) === 1);
    const [row] = await app.rows<{ state: string; attempts: number; last_error: string }>(
      `SELECT state, attempts, last_error FROM arrower.job_history WHERE id = $1`,
      [id],
    );
    expect(row).toMatchObject({ state: "failed", attempts: 3 });
    expect(row!.last_error).toBe(`non-Error thrown: 'a string, not an Error'`);
    expect(await app.count("attempts", "job_id = $1", [id])).toBe(2);
  });

  it("the handler can enqueue follow-up jobs atomically with tx.$jobs", async () => {
    const Next = defineJob<{ from: string }>("next");
    const queue = app.prisma.$jobs.queue("chain", { poolSize: 1, pollInterval: 200, backoff: { baseDelay: 10, maxDelay: 10 } });
    queues.push(queue);
    let calls = 0;
    await queue.register(Write, async (job, { tx, jobId }) => {
      await tx.$jobs.enqueue(Next({ from: jobId }), { queue: "elsewhere" });
      if (++calls === 1) throw new Error("first attempt fails after enqueueing");
    });
    await queue.start();
    const id = await queue.enqueue(Write({ note: "x" }));
    await waitFor(async () => (await app.count("job_history", "id = $1", [id])) === 1);
    const followUps = await app.rows<{ payload: { from: string } }>(`SELECT payload FROM arrower.jobs WHERE queue = 'elsewhere'`);
    expect(followUps).toEqual([{ payload: { from: id } }]);
  });

  it("a job whose type has no handler in this pool stays queued", async () => {
    const Other = defineJob<{ n: number }>("other-type");
    const queue = app.prisma.$jobs.queue("shared", { poolSize: 1, pollInterval: 100 });
    queues.push(queue);
    await queue.register(Write, async () => undefined);
    await queue.start();
    const skipped = await queue.enqueue(Other({ n: 1 }));
    const handled = await queue.enqueue(Write({ note: "mine" }));
    await waitFor(async () => (await app.count("job_history", "id = $1", [handled])) === 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(await app.count("jobs", "id = $1", [skipped])).toBe(1);
  });

  it("a row whose payload cannot be decoded is failed with a clear error, and the pool keeps running", async () => {
    const queue = app.prisma.$jobs.queue("poison", { poolSize: 1, pollInterval: 100 });
    queues.push(queue);
    await queue.register(Write, async (job, { tx, jobId }) => {
      await tx.sideEffect.create({ data: { id: `ok-${jobId}`, note: job.note } });
    });
    await queue.start();
    const [{ id: bad }] = await app.rows<{ id: string }>(
      `INSERT INTO arrower.jobs (queue, type, payload, payload_meta) VALUES ('poison', 'write', '{"note": 1}', '{"values": {"note": ["no-such-transformer"]}, "v": 1}') RETURNING id::text`,
    ) as [{ id: string }];
    const good = await queue.enqueue(Write({ note: "fine" }));
    await waitFor(async () => (await app.count("job_history", "id = ANY($1::bigint[])", [[bad, good]])) === 2);
    const rows = await app.rows<{ id: string; state: string; last_error: string | null; attempts: number }>(
      `SELECT id::text, state, last_error, attempts FROM arrower.job_history WHERE id = ANY($1::bigint[]) ORDER BY id`,
      [[bad, good]],
    );
    expect(rows[0]).toMatchObject({ id: bad, state: "failed", attempts: 1 });
    expect(rows[0]!.last_error).toMatch(/^payload cannot be decoded/);
    expect(rows[1]).toMatchObject({ id: good, state: "succeeded" });
  });
});

describe("errors a handler throws", () => {
  const { app, queues } = useTestApp();
  const Cyclic = defineJob<{ n: number }>("cyclic");

  it("an error whose cause chain loops is recorded as the handler's failure, each error once", async () => {
    const queue = app.prisma.$jobs.queue("cyclic", { poolSize: 1, pollInterval: 100, autoStartDelay: 0 });
    queues.push(queue);
    await queue.register(Cyclic, async () => {
      const inner = new Error("the upstream call failed");
      const outer = new Error("could not sync the account", { cause: inner });
      inner.cause = outer; // as some HTTP clients and ORMs link their errors
      throw outer;
    });
    const id = await queue.enqueue(Cyclic({ n: 1 }), { maxAttempts: 1 });
    await waitFor(async () => (await app.count("job_history", "id = $1", [id])) === 1, 10_000, "the job to fail");
    const [row] = await app.rows<{ state: string; attempts: number; last_error: string }>(`SELECT state, attempts, last_error FROM arrower.job_history WHERE id = $1`, [id]);
    expect(row).toMatchObject({ state: "failed", attempts: 1 });
    expect(row!.last_error).toMatch(/^Error: could not sync the account\n/);
    expect(row!.last_error).toContain("caused by: Error: the upstream call failed");
    expect(row!.last_error).toContain("caused by: (the error above: the cause chain loops)");
    expect(row!.last_error.match(/could not sync the account/g)).toHaveLength(1);
    expect(await app.count("attempts", "job_id = $1", [id])).toBe(0);
  });
});

describe("order", () => {
  const { app } = useTestApp();

  async function runInOrder(strategy: "priority" | "time", enqueue: (q: Queue) => Promise<void>, expected: number): Promise<string[]> {
    const seen: string[] = [];
    const queue = app.prisma.$jobs.queue(`order-${strategy}`, { poolSize: 1, pollInterval: 100, strategy });
    await enqueue(queue);
    await queue.register(Write, async (job) => {
      seen.push(job.note);
    });
    await queue.start();
    await waitFor(() => seen.length >= expected);
    await queue.shutdown();
    return seen;
  }

  it('strategy "priority": lower priority first, then run_at', async () => {
    const past = (s: number) => new Date(Date.now() - s * 1000);
    const seen = await runInOrder(
      "priority",
      async (q) => {
        await q.enqueue(Write({ note: "p5-old" }), { priority: 5, runAt: past(30) });
        await q.enqueue(Write({ note: "p1-new" }), { priority: 1, runAt: past(10) });
        await q.enqueue(Write({ note: "p1-old" }), { priority: 1, runAt: past(20) });
        await q.enqueue(Write({ note: "p-3" }), { priority: -3, runAt: past(1) });
      },
      4,
    );
    expect(seen).toEqual(["p-3", "p1-old", "p1-new", "p5-old"]);
  });

  it('strategy "time": run_at only', async () => {
    const past = (s: number) => new Date(Date.now() - s * 1000);
    const seen = await runInOrder(
      "time",
      async (q) => {
        await q.enqueue(Write({ note: "third" }), { priority: -10, runAt: past(1) });
        await q.enqueue(Write({ note: "first" }), { priority: 10, runAt: past(30) });
        await q.enqueue(Write({ note: "second" }), { priority: 0, runAt: past(20) });
      },
      3,
    );
    expect(seen).toEqual(["first", "second", "third"]);
  });

  it("a runAt in the future is not run early, and runs soon after it is due", async () => {
    const ran: number[] = [];
    const queue = app.prisma.$jobs.queue("future", { poolSize: 1, pollInterval: 5_000 });
    await queue.register(Write, async () => {
      ran.push(Date.now());
    });
    await queue.start();
    const due = Date.now() + 1_500;
    await queue.enqueue(Write({ note: "later" }), { runAt: new Date(due) });
    await waitFor(() => ran.length === 1, 10_000);
    await queue.shutdown();
    expect(ran[0]!).toBeGreaterThanOrEqual(due - 5); // database and node clocks are the same machine's
    expect(ran[0]! - due).toBeLessThan(1_000); // woken by the next-due timer, not the 5 s poll
  });
});
