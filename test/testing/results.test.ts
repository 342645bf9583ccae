/**
 * Results in the testing queue: an app's test asserts on what its handlers returned, as it
 * would read it from the real queue (`getResult`), or on the list of succeeded jobs.
 */
import { describe, expect, it } from "vitest";
import { defineJob, type Enqueuer } from "../../src/index.ts";
import { createTestingJobs } from "../../src/testing.ts";

const Quote = defineJob<{ items: { sku: string; qty: number }[] }, { total: bigint; validUntil: Date }>("quote");
const Notify = defineJob<{ userId: number }>("notify");

async function requestQuote(jobs: Enqueuer, skus: string[]): Promise<string> {
  return jobs.enqueue(Quote({ items: skus.map((sku) => ({ sku, qty: 1 })) }));
}

describe("testing queue: results", () => {
  it("getResult and succeeded() give the handler's result, round-tripped as the database would", async () => {
    const jobs = createTestingJobs();
    const validUntil = new Date("2026-06-01T00:00:00Z");
    await jobs.register(Quote, async (job) => ({ total: BigInt(job.items.length) * 999n, validUntil }));
    await jobs.register(Notify, async () => undefined);
    const id = await requestQuote(jobs, ["a", "b"]);
    const notify = await jobs.enqueue(Notify({ userId: 1 }));
    expect(await jobs.getResult(Quote, id)).toBeUndefined(); // not run yet

    await jobs.drain();
    const result = await jobs.getResult(Quote, id);
    expect(result).toEqual({ total: 1998n, validUntil });
    expect(result!.validUntil).not.toBe(validUntil); // a copy, as read back from a database
    expect(jobs.succeeded().map((j) => [j.type, j.result])).toEqual([
      ["quote", { total: 1998n, validUntil }],
      ["notify", undefined],
    ]);
    expect(await jobs.getResult(Notify, notify)).toBeUndefined();
  });

  it("a result that cannot be stored fails the attempt and is retried, as in the real queue", async () => {
    const jobs = createTestingJobs();
    const Bad = defineJob<{ n: number }, unknown>("bad");
    let calls = 0;
    await jobs.register(Bad, async () => (++calls === 1 ? { callback: () => 1 } : "fine"));
    const id = await jobs.enqueue(Bad({ n: 1 }));
    expect(await jobs.drain()).toMatchObject({ attempts: 2, retried: 1, succeeded: 1 });
    const [done] = jobs.succeeded();
    expect(done?.errors[0]?.split("\n")[0]).toBe('InvalidResultError: the handler of job "bad" returned a result that cannot be stored: a function cannot be stored at callback');
    expect(await jobs.getResult(Bad, id)).toBe("fine");
  });

  it("reset() forgets results with the jobs", async () => {
    const jobs = createTestingJobs();
    await jobs.register(Quote, async () => ({ total: 1n, validUntil: new Date(0) }));
    const id = await requestQuote(jobs, ["a"]);
    await jobs.drain();
    jobs.reset();
    expect(await jobs.getResult(Quote, id)).toBeUndefined();
  });
});
