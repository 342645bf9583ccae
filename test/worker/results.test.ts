/**
 * Results: what a handler returns (`defineJob<P, R>`) is stored with the finished job, in the
 * job's own transaction, and read back typed (`getResult`) or untyped (`getJob(id).result`).
 */
import { describe, expect, it } from "vitest";
import { defineJob, type JobEvent, type Queue } from "../../src/index.ts";
import { Queries } from "../../src/postgres/queries.ts";
import { useTestApp } from "../helpers/app.ts";

const Resize = defineJob<{ imageId: string }, { at: Date; sizes: Map<string, number>; bytes: bigint }>("results-resize");
const Maybe = defineJob<{ value: "nothing" | "null" | "text" }, string | null | undefined>("results-maybe");
const Flaky = defineJob<{ note: string }, { attempt: number }>("results-flaky");
const Bad = defineJob<{ kind: "function" | "large" | "class" }, unknown>("results-bad");
const Plain = defineJob<{ n: number }>("results-plain");
const Tagged = defineJob<{ n: number }, { n: number; at: Date }>("results-tagged");
/** Returns the statements prepared on its worker's connection so far (the handler's tx runs on it). */
const Probe = defineJob<{ n: number }, { name: string; statement: string }[]>("results-probe");

class Money {
  constructor(readonly cents: number) {}
}

describe("job results", () => {
  const { app, queues } = useTestApp();
  const q = new Queries("arrower");

  /**
   * Resolves with the job's final outcome: its event (emitted once its commit is done), or, when
   * the job finished before we looked (a running pool may finish it before `enqueue`'s caller
   * resumes), its state in history.
   */
  function finished(queue: Queue, jobId: string): Promise<Pick<JobEvent, "kind">> {
    return new Promise((resolve) => {
      const done = (event: Pick<JobEvent, "kind">) => {
        queue.off("succeeded", listener).off("failed", listener);
        resolve(event);
      };
      const listener = (event: JobEvent) => {
        if (event.jobId === jobId) done(event);
      };
      queue.on("succeeded", listener).on("failed", listener);
      void app.rows<{ state: string }>(`SELECT state FROM arrower.job_history WHERE id = $1`, [jobId]).then(([row]) => {
        if (row) done({ kind: row.state === "succeeded" ? "succeeded" : "failed" });
      });
    });
  }

  // Pools start at start(), never on their own: a test attaches its listeners first.
  function queueOf(name: string, options: Parameters<typeof app.prisma.$jobs.queue>[1] = {}) {
    const queue = app.prisma.$jobs.queue(name, { poolSize: 1, pollInterval: 100, autoStartDelay: 60_000, backoff: { baseDelay: 1, maxDelay: 1 }, ...options });
    queues.push(queue);
    return queue;
  }

  it("a handler's return value is stored with the finished job, in its transaction: Date, Map and BigInt survive, typed", async () => {
    const queue = queueOf("results-typed");
    await queue.register(Resize, async (job, { tx, jobId }) => {
      await tx.sideEffect.create({ data: { id: `resize:${jobId}`, note: job.imageId } });
      return { at: new Date("2026-01-02T03:04:05.678Z"), sizes: new Map([["small", 64], ["large", 1024]]), bytes: 12345678901234567890n };
    });
    const id = await app.prisma.$jobs.enqueue(Resize({ imageId: "img-1" }), { queue: "results-typed" });
    const done = finished(queue, id);
    await queue.start();
    expect((await done).kind).toBe("succeeded");

    const result = await app.prisma.$jobs.getResult(Resize, id);
    expect(result).toStrictEqual({ at: new Date("2026-01-02T03:04:05.678Z"), sizes: new Map([["small", 64], ["large", 1024]]), bytes: 12345678901234567890n });
    expect(result?.at).toBeInstanceOf(Date);
    expect((await app.prisma.$jobs.getJob(id))?.result).toStrictEqual(result);
    // Stored like payloads: readable JSON plus superjson's type meta; next to the handler's write.
    const [row] = await app.rows<{ result: unknown; has_meta: boolean; effect: string | null }>(
      `SELECT h.result, h.result_meta IS NOT NULL AS has_meta, (SELECT note FROM "SideEffect" WHERE id = $2) AS effect
       FROM arrower.job_history h WHERE h.id = $1`,
      [id, `resize:${id}`],
    );
    expect(row).toEqual({ result: { at: "2026-01-02T03:04:05.678Z", sizes: [["small", 64], ["large", 1024]], bytes: "12345678901234567890" }, has_meta: true, effect: "img-1" });
  });

  it("undefined stores nothing; null is stored as null; a live job has no result yet", async () => {
    const queue = queueOf("results-maybe");
    await queue.register(Maybe, async (job) => (job.value === "nothing" ? undefined : job.value === "null" ? null : "text"));
    const [nothing, nul, text] = await app.prisma.$jobs.enqueue([Maybe({ value: "nothing" }), Maybe({ value: "null" }), Maybe({ value: "text" })], { queue: "results-maybe" });
    expect(await app.prisma.$jobs.getResult(Maybe, nothing!)).toBeUndefined();
    expect((await app.prisma.$jobs.getJob(nothing!))?.result).toBeUndefined();
    const done = Promise.all([nothing!, nul!, text!].map((id) => finished(queue, id)));
    await queue.start();
    await done;

    expect(await app.prisma.$jobs.getResult(Maybe, nothing!)).toBeUndefined();
    expect(await app.prisma.$jobs.getResult(Maybe, nul!)).toBeNull();
    expect(await app.prisma.$jobs.getResult(Maybe, text!)).toBe("text");
    expect((await app.prisma.$jobs.getJob(nothing!))?.result).toBeUndefined();
    expect((await app.prisma.$jobs.getJob(nul!))?.result).toBeNull();
    expect(await app.rows(`SELECT id::text AS id, result IS NULL AS sql_null FROM arrower.job_history WHERE id = ANY($1) ORDER BY id`, [[nothing, nul]])).toEqual([
      { id: nothing, sql_null: true },
      { id: nul, sql_null: false },
    ]);
  });

  it("a rolled-back attempt stores no result: the next attempt's is the job's, and a job that fails keeps none", async () => {
    const queue = queueOf("results-flaky");
    // The first attempt catches a failed statement of its tx and returns: its transaction is
    // aborted, so the attempt fails and neither its write nor its result is kept.
    await queue.register(Flaky, async (job, { tx, jobId, attempt }) => {
      await tx.sideEffect.create({ data: { id: `flaky:${jobId}:${attempt}`, note: job.note } });
      if (attempt === 1 || job.note === "always") await tx.$executeRawUnsafe("SELECT 1/0").catch(() => undefined);
      return { attempt };
    });
    const retried = await app.prisma.$jobs.enqueue(Flaky({ note: "once" }), { queue: "results-flaky" });
    const failed = await app.prisma.$jobs.enqueue(Flaky({ note: "always" }), { queue: "results-flaky", maxAttempts: 1 });
    const done = Promise.all([finished(queue, retried), finished(queue, failed)]);
    await queue.start();
    expect((await done).map((e) => e.kind)).toEqual(["succeeded", "failed"]);

    expect(await app.prisma.$jobs.getResult(Flaky, retried)).toEqual({ attempt: 2 });
    const failedJob = await app.prisma.$jobs.getJob(failed);
    expect(failedJob).toMatchObject({ state: "failed", result: undefined });
    expect(failedJob?.lastError).toContain("the handler's transaction was aborted by an earlier failed statement");
    expect(await app.rows(`SELECT id::text AS id, result FROM arrower.job_history WHERE id = $1`, [failed])).toEqual([{ id: failed, result: null }]);
    expect(await app.rows(`SELECT id FROM "SideEffect" WHERE id LIKE 'flaky:%' ORDER BY id`)).toEqual([{ id: `flaky:${retried}:2` }]);
  });

  it("a result that cannot be stored fails the attempt with a clear error, rolls its writes back and is retried; the worker goes on", async () => {
    const queue = queueOf("results-bad");
    await queue.register(Bad, async (job, { tx, jobId, attempt }) => {
      await tx.sideEffect.create({ data: { id: `bad:${jobId}:${attempt}` } });
      if (job.kind === "function") return attempt === 1 ? { rows: [{ format: () => "x" }] } : { rows: [] };
      if (job.kind === "class") return { price: new Money(5) };
      return "x".repeat(1024 * 1024 + 1);
    });
    const fn = await app.prisma.$jobs.enqueue(Bad({ kind: "function" }), { queue: "results-bad" });
    const cls = await app.prisma.$jobs.enqueue(Bad({ kind: "class" }), { queue: "results-bad", maxAttempts: 1 });
    const large = await app.prisma.$jobs.enqueue(Bad({ kind: "large" }), { queue: "results-bad", maxAttempts: 1 });
    const done = Promise.all([fn, cls, large].map((id) => finished(queue, id)));
    await queue.start();
    expect((await done).map((e) => e.kind)).toEqual(["succeeded", "failed", "failed"]);

    // Retried like any failure: attempt 1's error is in its attempts, attempt 2's result stored.
    const retried = await app.prisma.$jobs.getJob(fn);
    expect(retried?.attemptHistory.map((a) => [a.attempt, a.outcome])).toEqual([[1, "failed"]]);
    expect(retried?.attemptHistory[0]?.error).toMatch(
      /^InvalidResultError: the handler of job "results-bad" returned a result that cannot be stored: a function cannot be stored at rows\[0\]\.format\n/,
    );
    expect(retried?.result).toEqual({ rows: [] });
    expect((await app.prisma.$jobs.getJob(cls))?.lastError).toMatch(
      /^InvalidResultError: the handler of job "results-bad" returned a result that cannot be stored: an instance of class Money would lose its class \(use plain objects, or register the class with superjson\.registerClass\) at price\n/,
    );
    expect((await app.prisma.$jobs.getJob(large))?.lastError).toMatch(
      /^InvalidResultError: the handler of job "results-bad" returned a result that cannot be stored: it is 1048579 bytes serialised, over the limit of 1048576 \(maxPayloadBytes; store large data in your own table and return its id\) at \(root\)\n/,
    );
    const effects = await app.rows<{ id: string }>(`SELECT id FROM "SideEffect" WHERE id LIKE 'bad:%' ORDER BY id`);
    expect(effects).toEqual([{ id: `bad:${fn}:2` }]);
  });

  it("getResult checks the job type, and answers undefined for an unknown id", async () => {
    const queue = queueOf("results-check");
    await queue.register(Maybe, async () => "ok");
    const id = await app.prisma.$jobs.enqueue(Maybe({ value: "text" }), { queue: "results-check" });
    const done = finished(queue, id);
    await queue.start();
    await done;
    await expect(app.prisma.$jobs.getResult(Resize, id)).rejects.toThrow(`getResult: job ${id} is of type "results-maybe", not "results-resize": pass the job type it was enqueued with`);
    expect(await app.prisma.$jobs.getResult(Maybe, "999999999")).toBeUndefined();
  });

  it("results need history: a queue with retention { succeeded: 0 } keeps none", async () => {
    const queue = queueOf("results-discard", { retention: { succeeded: 0 } });
    await queue.register(Maybe, async () => "gone");
    const id = await app.prisma.$jobs.enqueue(Maybe({ value: "text" }), { queue: "results-discard" });
    const done = finished(queue, id);
    await queue.start();
    await done;
    expect(await app.prisma.$jobs.getJob(id)).toBeNull();
    expect(await app.prisma.$jobs.getResult(Maybe, id)).toBeUndefined();
  });

  describe("hot path: jobs without a result send exactly the statements they sent before results", () => {
    /** The statements prepared on the worker's connection, as a Probe job read them. */
    async function probe(queue: Queue, n: number): Promise<Map<string, string>> {
      const id = await app.prisma.$jobs.enqueue(Probe({ n }), { queue: queue.name });
      const done = finished(queue, id);
      await done;
      return new Map((await app.prisma.$jobs.getResult(Probe, id))!.map((s) => [s.name, s.statement]));
    }
    async function run(queue: Queue, jobs: Parameters<typeof app.prisma.$jobs.enqueue>[0] & unknown[]): Promise<string[]> {
      const ids = await app.prisma.$jobs.enqueue(jobs, { queue: queue.name });
      await Promise.all(ids.map((id) => finished(queue, id)));
      return ids;
    }
    async function register(queue: ReturnType<typeof queueOf>): Promise<void> {
      await queue.register(Plain, async () => undefined);
      await queue.register(Tagged, async (job) => ({ n: job.n, at: new Date(job.n) }));
      await queue.register(Probe, async (_job, { tx }) =>
        tx.$queryRaw<{ name: string; statement: string }[]>`SELECT name, statement FROM pg_prepared_statements WHERE name LIKE 'arrower_finish%' ORDER BY name`,
      );
      await queue.start();
    }

    it("one job per transaction: `finish` as before; a job with a result takes `finish_result`", async () => {
      const queue = queueOf("results-hot");
      await register(queue);
      await run(queue, [Plain({ n: 1 })]);
      await run(queue, [Plain({ n: 2 })]);
      // Two result-less jobs (and nothing else) finished on this connection: only `finish`, the
      // statement unchanged.
      expect(await probe(queue, 1)).toEqual(new Map([["arrower_finish", q.finish]]));
      // The probe itself returned a result: it finished with `finish_result`.
      expect(await probe(queue, 2)).toEqual(new Map([["arrower_finish", q.finish], ["arrower_finish_result", q.finishWithResult]]));
    });

    it("batched: result-less jobs take `finish_many` as before, those with a result `finish_many_result`, each row its own", async () => {
      const queue = queueOf("results-batched", { batchSize: 10 });
      await register(queue);
      await run(queue, [Plain({ n: 1 }), Plain({ n: 2 }), Plain({ n: 3 })]);
      expect(await probe(queue, 1)).toEqual(new Map([["arrower_finish_many", q.finishMany]]));

      const ids = await run(queue, [Plain({ n: 4 }), Tagged({ n: 5 }), Plain({ n: 6 }), Tagged({ n: 7 })]);
      const statements = await probe(queue, 2);
      expect([...statements.keys()]).toEqual(["arrower_finish_many", "arrower_finish_many_result", "arrower_finish_result"]);
      expect(statements.get("arrower_finish_many_result")).toBe(q.finishManyWithResult);
      const rows = await app.rows<{ id: string; type: string; result: unknown }>(`SELECT id::text AS id, type, result FROM arrower.job_history WHERE id = ANY($1) ORDER BY id`, [ids]);
      expect(rows).toEqual([
        { id: ids[0], type: "results-plain", result: null },
        { id: ids[1], type: "results-tagged", result: { n: 5, at: new Date(5).toISOString() } },
        { id: ids[2], type: "results-plain", result: null },
        { id: ids[3], type: "results-tagged", result: { n: 7, at: new Date(7).toISOString() } },
      ]);
      expect(await app.prisma.$jobs.getResult(Tagged, ids[3]!)).toStrictEqual({ n: 7, at: new Date(7) });
    });
  });
});
