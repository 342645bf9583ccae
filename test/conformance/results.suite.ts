/**
 * Job results, on both backends (postgres.test.ts, memory.test.ts): what a handler returns is
 * stored with the finished job and read back by `getResult` the same way, with the same errors
 * for a value that cannot be stored or a job asked for as another type.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defineJob, InvalidJobError, type Handler, type JobType } from "../../src/index.ts";

/** A backend under test. */
export interface ResultsTarget {
  /**
   * Runs one job of `type` through `handler` until it has finished (succeeded, or failed its
   * last attempt) and reports how it ended.
   */
  run<P, R>(type: JobType<P, R>, handler: Handler<P, unknown, R>, payload: P, options?: { maxAttempts?: number }): Promise<{ id: string; state: string; lastError: string | null }>;
  /** Enqueues a job without running it. */
  enqueue<P, R>(type: JobType<P, R>, payload: P): Promise<string>;
  getResult<P, R>(type: JobType<P, R>, id: string): Promise<R | undefined>;
  close(): Promise<void>;
}

const Any = defineJob<{ n: number }, unknown>("conf-result-any");
const Typed = defineJob<{ n: number }, { at: Date; tags: Set<string>; scores: Map<string, bigint>; maybe: undefined }>("conf-result-typed");
const Other = defineJob<{ n: number }, string>("conf-result-other");

class Money {
  constructor(readonly cents: number) {}
}

/** Results that cannot be stored, and the first line of the error the attempt fails with. */
const unstorable: [name: string, value: unknown, firstLine: string][] = [
  ["a function", { format: () => "x" }, 'InvalidResultError: the handler of job "conf-result-any" returned a result that cannot be stored: a function cannot be stored at format'],
  ["a class instance", [new Money(1)], 'InvalidResultError: the handler of job "conf-result-any" returned a result that cannot be stored: an instance of class Money would lose its class (use plain objects, or register the class with superjson.registerClass) at [0]'],
  ["\\u0000 in a string", "a\u0000b", 'InvalidResultError: the handler of job "conf-result-any" returned a result that cannot be stored: a string containing \\u0000 cannot be stored in PostgreSQL jsonb at (root)'],
  ["over the size cap", "x".repeat(1024 * 1024), 'InvalidResultError: the handler of job "conf-result-any" returned a result that cannot be stored: it is 1048578 bytes serialised, over the limit of 1048576 (maxPayloadBytes; store large data in your own table and return its id) at (root)'],
];

export function resultsConformance(name: string, make: () => Promise<ResultsTarget>): void {
  describe(`${name}: results conformance`, () => {
    let target: ResultsTarget;
    beforeAll(async () => {
      target = await make();
    });
    afterAll(() => target?.close());

    it("a result comes back as returned: Date, Set, Map of BigInt, undefined members", async () => {
      const value = { at: new Date("2026-03-04T05:06:07.089Z"), tags: new Set(["a", "b"]), scores: new Map([["x", 12345678901234567890n]]), maybe: undefined };
      const { id, state } = await target.run(Typed, async () => value, { n: 1 });
      expect(state).toBe("succeeded");
      const result = await target.getResult(Typed, id);
      expect(result).toStrictEqual(value);
      expect("maybe" in result!).toBe(true);
    });

    it("undefined stores nothing, null is null, a string is a string", async () => {
      const nothing = await target.run(Any, async () => undefined, { n: 1 });
      const nul = await target.run(Any, async () => null, { n: 2 });
      const text = await target.run(Any, () => "text", { n: 3 });
      expect([nothing.state, nul.state, text.state]).toEqual(["succeeded", "succeeded", "succeeded"]);
      expect(await target.getResult(Any, nothing.id)).toBeUndefined();
      expect(await target.getResult(Any, nul.id)).toBeNull();
      expect(await target.getResult(Any, text.id)).toBe("text");
    });

    it.each(unstorable)("a result that cannot be stored (%s) fails the attempt, with the same error", async (_name, value, firstLine) => {
      const { id, state, lastError } = await target.run(Any, async () => value, { n: 1 }, { maxAttempts: 1 });
      expect(state).toBe("failed");
      expect(lastError?.split("\n")[0]).toBe(firstLine);
      expect(await target.getResult(Any, id)).toBeUndefined();
    });

    it("a queued job has no result yet; an unknown id has none", async () => {
      const id = await target.enqueue(Other, { n: 1 });
      expect(await target.getResult(Other, id)).toBeUndefined();
      expect(await target.getResult(Other, "987654321")).toBeUndefined();
    });

    it("asked for as another job type: InvalidJobError naming both", async () => {
      const { id } = await target.run(Other, async () => "mine", { n: 1 });
      const error = await target.getResult(Any, id).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidJobError);
      expect((error as Error).message).toBe(`getResult: job ${id} is of type "conf-result-other", not "conf-result-any": pass the job type it was enqueued with`);
    });
  });
}
