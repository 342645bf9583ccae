/**
 * What the PostgreSQL queue and the in-memory testing queue share, written once and run against
 * both (postgres.test.ts, memory.test.ts), so the testing queue cannot drift from the real one:
 * the shape enqueue returns, the errors bad input gets (same classes, same messages), how
 * payloads come back, dedup keys, and how job type defaults and enqueue options combine.
 *
 * Each describe block gets one backend from `make()` and shares it between its tests, so tests
 * look only at the jobs they added (`added()`), never at totals.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ArrowerJobsError,
  defineJob,
  InvalidJobError,
  InvalidNameError,
  InvalidOptionsError,
  InvalidPayloadError,
  type EnqueueOptions,
  type Enqueuer,
  type Job,
} from "../../src/index.ts";

/** A queued job as both backends can report it. */
export interface ConformanceRow {
  type: string;
  queue: string;
  payload: unknown;
  priority: number;
  dedupKey?: string | null;
}

/** A backend under test. */
export interface ConformanceTarget {
  jobs: Enqueuer;
  /** Live jobs in id order, payloads decoded as a handler would receive them. */
  queued(): Promise<ConformanceRow[]>;
  close(): Promise<void>;
}

const Any = defineJob<unknown>("conf-any");
const Plain = defineJob<{ n: number }>("conf-plain");
const Maintenance = defineJob<{ days: number }>("conf-maintenance", { queue: "maintenance", priority: 7, maxAttempts: 3 });

class Money {
  constructor(readonly cents: number) {}
}

type BadCase = [name: string, call: (jobs: Enqueuer) => Promise<unknown>, error: new (...args: never[]) => ArrowerJobsError, message: string];

const circular: Record<string, unknown> = {};
circular.self = circular;

/** `{ a: { a: … { a: 1 } } }`, `depth` levels deep. */
function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

/** Bad input and the exact error both backends must give. */
const badInput: BadCase[] = [
  ["a plain object instead of a job", (j) => j.enqueue({ userId: 1 } as unknown as Job), InvalidJobError, "enqueue expects a job or an array of jobs, got an object ([object Object]): make jobs by calling a job type from defineJob(), e.g. SendWelcome({ userId: 1 })"],
  ["the job type itself", (j) => j.enqueue(Any as unknown as Job), InvalidJobError, 'enqueue expects a job or an array of jobs, got a function: it is the job type "conf-any" itself, call it with a payload, e.g. conf-any({...})'],
  ["null in a batch", (j) => j.enqueue([Any(1), null as unknown as Job]), InvalidJobError, "enqueue expects a job or an array of jobs, got null at index 1: make jobs by calling a job type from defineJob(), e.g. SendWelcome({ userId: 1 })"],
  ["a function in the payload", (j) => j.enqueue(Any({ cb: () => 1 })), InvalidPayloadError, 'payload of job "conf-any" cannot be stored: a function cannot be stored at cb'],
  ["a function deep in a Map", (j) => j.enqueue(Any({ a: { b: [1, { c: new Map([["k", () => 1]]) }] } })), InvalidPayloadError, 'payload of job "conf-any" cannot be stored: a function cannot be stored at a.b[1].c.get("k")'],
  ["a symbol in the payload", (j) => j.enqueue(Any({ s: [Symbol("x")] })), InvalidPayloadError, 'payload of job "conf-any" cannot be stored: a symbol cannot be stored at s[0]'],
  ["an unknown class instance", (j) => j.enqueue(Any({ price: new Money(5) })), InvalidPayloadError, 'payload of job "conf-any" cannot be stored: an instance of class Money would lose its class (use plain objects, or register the class with superjson.registerClass) at price'],
  ["\\u0000 in a string", (j) => j.enqueue(Any({ note: "a\u0000b" })), InvalidPayloadError, 'payload of job "conf-any" cannot be stored: a string containing \\u0000 cannot be stored in PostgreSQL jsonb at note'],
  ["a circular payload", (j) => j.enqueue(Any(circular)), InvalidPayloadError, 'payload of job "conf-any" cannot be stored: a circular reference cannot be stored at self'],
  ["a payload over the size cap", (j) => j.enqueue(Any({ big: "x".repeat(1024 * 1024 + 1) })), InvalidPayloadError, 'payload of job "conf-any" cannot be stored: it is 1048587 bytes serialised, over the limit of 1048576 (store large data in your own table and pass its id) at (root)'],
  ["a misspelt option", (j) => j.enqueue(Any(1), { priorty: 1 } as EnqueueOptions), InvalidOptionsError, 'unknown option "priorty" for enqueue options, did you mean "priority"?'],
  ["negative maxAttempts", (j) => j.enqueue(Any(1), { maxAttempts: -1 }), InvalidOptionsError, "enqueue options: maxAttempts must be between 1 and 1000000, got -1"],
  ["fractional priority", (j) => j.enqueue(Any(1), { priority: 1.5 }), InvalidOptionsError, "enqueue options: priority must be an integer, got number 1.5"],
  ["runAt not a Date", (j) => j.enqueue(Any(1), { runAt: "tomorrow" as unknown as Date }), InvalidOptionsError, 'enqueue options: runAt must be a Date, got the string "tomorrow"'],
  ["an invalid Date", (j) => j.enqueue(Any(1), { runAt: new Date("nope") }), InvalidOptionsError, "enqueue options: runAt is an invalid Date"],
  ["a zero timeout", (j) => j.enqueue(Any(1), { timeout: 0 }), InvalidOptionsError, "enqueue options: timeout must be between 1 and 2073600000 (24 days), got 0"],
  ["an empty queue name", (j) => j.enqueue(Any(1), { queue: "" }), InvalidNameError, "queue name must not be empty"],
  ["a queue name with spaces", (j) => j.enqueue(Any(1), { queue: "my queue" }), InvalidNameError, 'queue name "my queue" may only contain letters, digits and _ - . : / (found " ")'],
  ["an empty dedup key", (j) => j.enqueue(Any(1), { dedupKey: "" }), InvalidOptionsError, 'enqueue options: dedupKey must be a non-empty string of at most 512 characters without \\u0000, got the string ""'],
  ["options that are not an object", (j) => j.enqueue(Any(1), 5 as unknown as EnqueueOptions), InvalidOptionsError, "enqueue options must be an object, got number"],
  ["one bad job in a batch", (j) => j.enqueue([Plain({ n: 1 }), Any({ f: () => 2 })]), InvalidPayloadError, 'payload of job "conf-any" cannot be stored: a function cannot be stored at f'],
  // Accepted once, then undecodable or silently changed on the way back (issue 16, item 5).
  ["a Buffer", (j) => j.enqueue(Any({ file: { data: Buffer.from("hi") } })), InvalidPayloadError, 'payload of job "conf-any" cannot be stored: a Buffer would not come back (superjson cannot decode it): pass new Uint8Array(buffer), or buffer.toString("base64") at file.data'],
  ["a DataView", (j) => j.enqueue(Any({ view: new DataView(new ArrayBuffer(4)) })), InvalidPayloadError, 'payload of job "conf-any" cannot be stored: a DataView would come back as {}: pass new Uint8Array(view.buffer, view.byteOffset, view.byteLength) at view'],
  ["an invalid Date", (j) => j.enqueue(Any({ items: [1, 2, 3, new Date("nope")] })), InvalidPayloadError, 'payload of job "conf-any" cannot be stored: an invalid Date would come back as null at items[3]'],
  ["a sparse array", (j) => j.enqueue(Any({ list: [1, , 3] })), InvalidPayloadError, 'payload of job "conf-any" cannot be stored: an array with a hole at index 1 would come back with null there: fill the hole (with undefined or null) at list'],
  ["an array with a named property", (j) => j.enqueue(Any({ list: Object.assign([1, 2], { total: 3 }) })), InvalidPayloadError, 'payload of job "conf-any" cannot be stored: an array would lose its property "total" (arrays keep only their items): use an object at list'],
  ["a Map with a named property", (j) => j.enqueue(Any({ m: Object.assign(new Map(), { label: "x" }) })), InvalidPayloadError, 'payload of job "conf-any" cannot be stored: a Map would lose its property "label" (only its entries are stored): use an object at m'],
  // Errors that were not ArrowerJobsErrors (item 14).
  ["a payload nested 5,000 deep", (j) => j.enqueue(Any(nested(5_000))), InvalidPayloadError, `payload of job "conf-any" cannot be stored: it is nested more than 1000 levels deep (objects, arrays, Maps and Sets inside each other) at ${"a.".repeat(20)}…`],
  ["a key named constructor next to a Date", (j) => j.enqueue(Any({ constructor: { d: new Date(0) } })), InvalidPayloadError, 'payload of job "conf-any" cannot be stored: a key named "constructor" cannot be stored in a payload that holds a Date, Map, Set, BigInt, undefined or other value superjson encodes (superjson refuses it as a prototype-pollution risk): rename the key at constructor'],
  // A lone surrogate would be stored as U+FFFD: two different keys would become one (item 15).
  ["a dedup key with a lone surrogate", (j) => j.enqueue(Any(1), { dedupKey: "order-\uD83D" }), InvalidOptionsError, 'enqueue options: dedupKey "order-\\ud83d" contains a lone UTF-16 surrogate (half of a character such as an emoji), which PostgreSQL would store as U+FFFD, so different keys would collide: pass whole characters (cut strings with Array.from, not slice)'],
  // Past Node's 32-bit timer the handler's transaction would expire at once (item 9).
  ["a timeout of 25 days", (j) => j.enqueue(Any(1), { timeout: 25 * 86_400_000 }), InvalidOptionsError, "enqueue options: timeout must be between 1 and 2073600000 (24 days), got 2160000000"],
];

/** Payloads that must come back exactly (deep equality, types included). */
const roundTrips: [name: string, payload: unknown][] = [
  ["Date, Map, Set, BigInt, nested undefined", {
    at: new Date("2026-11-29T10:00:00.123Z"),
    tags: new Set(["a", "b"]),
    scores: new Map<string, bigint>([["x", 12345678901234567890n]]),
    nested: { maybe: undefined, list: [1, undefined, 3] },
  }],
  ["a Map with object keys and a Set of Dates", { m: new Map<unknown, unknown>([[{ id: 1 }, "one"], [2, new Date(0)]]), s: new Set([new Date(1), new Date(2)]) }],
  ["special numbers", { nan: Number.NaN, inf: Number.POSITIVE_INFINITY, negInf: Number.NEGATIVE_INFINITY, negZero: -0, float: 0.1 + 0.2, large: 2 ** 60 }],
  ["RegExp, URL and typed values", { re: /a+b/gi, url: new URL("https://example.com/a?b=1") }],
  ["unicode text", { text: "héllo ✓ 😀 \u2028 \"quoted\" \\ back" }],
  ["a number", 42],
  ["a string", "just text"],
  ["null", null],
  ["undefined", undefined],
  ["an array with holes of undefined", [1, undefined, "x", null]],
  ["an empty object", {}],
];

export function enqueueConformance(name: string, make: () => Promise<ConformanceTarget>): void {
  describe(`${name}: enqueue conformance`, () => {
    let target: ConformanceTarget;
    beforeAll(async () => {
      target = await make();
    });
    afterAll(() => target?.close());

    /** The jobs `fn` added (backends list jobs in id order, and nothing here removes any). */
    async function added(fn: () => Promise<unknown>): Promise<ConformanceRow[]> {
      const before = (await target.queued()).length;
      await fn();
      return (await target.queued()).slice(before);
    }

    describe("return shape", () => {
      it("enqueue(job) resolves to one id: a decimal string", async () => {
        let id: unknown;
        const rows = await added(async () => {
          id = await target.jobs.enqueue(Plain({ n: 1 }));
        });
        expect(typeof id).toBe("string");
        expect(id).toMatch(/^[1-9][0-9]*$/);
        expect(rows).toEqual([expect.objectContaining({ type: "conf-plain", queue: "default", payload: { n: 1 }, priority: 0 })]);
      });

      it("enqueue(jobs) resolves to ids in input order, distinct and increasing", async () => {
        let ids: string[] = [];
        const rows = await added(async () => {
          ids = await target.jobs.enqueue([Plain({ n: 1 }), Maintenance({ days: 2 }), Plain({ n: 3 })]);
        });
        expect(ids).toHaveLength(3);
        expect(new Set(ids).size).toBe(3);
        expect(ids.map(Number)).toEqual([...ids.map(Number)].sort((a, b) => a - b));
        expect(rows.map((r) => [r.type, r.payload])).toEqual([
          ["conf-plain", { n: 1 }],
          ["conf-maintenance", { days: 2 }],
          ["conf-plain", { n: 3 }],
        ]);
      });

      it("a one-job batch still resolves to an array", async () => {
        const ids = await target.jobs.enqueue([Plain({ n: 1 })]);
        expect(ids).toEqual([expect.stringMatching(/^[0-9]+$/)]);
      });

      it("an empty batch resolves to [] and adds nothing", async () => {
        let ids: string[] | undefined;
        const rows = await added(async () => {
          ids = await target.jobs.enqueue([]);
        });
        expect(ids).toEqual([]);
        expect(rows).toEqual([]);
      });

      it("ids keep increasing across calls", async () => {
        const a = await target.jobs.enqueue(Plain({ n: 1 }));
        const b = await target.jobs.enqueue(Plain({ n: 2 }));
        expect(Number(b)).toBeGreaterThan(Number(a));
      });
    });

    describe("bad input: same error class and message, nothing added", () => {
      it.each(badInput)("%s", async (_name, call, type, message) => {
        let promise: Promise<unknown> | undefined;
        const rows = await added(async () => {
          // A rejected promise, never a synchronous throw: callers `await` enqueue.
          expect(() => {
            promise = call(target.jobs);
          }).not.toThrow();
          const error = await promise!.then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(error).toBeInstanceOf(type);
          expect(error).toBeInstanceOf(ArrowerJobsError);
          expect((error as Error).message).toBe(message);
        });
        expect(rows).toEqual([]);
      });
    });

    describe("payload round-trip", () => {
      it.each(roundTrips)("%s", async (_name, payload) => {
        const rows = await added(() => target.jobs.enqueue(Any(payload)));
        expect(rows).toHaveLength(1);
        expect(rows[0]!.payload).toStrictEqual(payload);
      });

      it("undefined object members stay present", async () => {
        const [row] = await added(() => target.jobs.enqueue(Any({ nested: { maybe: undefined } })));
        expect("maybe" in (row!.payload as { nested: object }).nested).toBe(true);
      });

      it("BigInt beyond 2^53 is exact", async () => {
        const [row] = await added(() => target.jobs.enqueue(Any({ big: 12345678901234567890n })));
        expect((row!.payload as { big: bigint }).big).toBe(12345678901234567890n);
      });

      it("object keys come back in jsonb order (shortest first, then bytewise)", async () => {
        const [row] = await added(() => target.jobs.enqueue(Any({ zeta: 1, b: 2, mm: { yy: 1, a: 2 }, a: 3, B: 4 })));
        const payload = row!.payload as Record<string, Record<string, number>>;
        expect(Object.keys(payload)).toEqual(["B", "a", "b", "mm", "zeta"]);
        expect(Object.keys(payload.mm!)).toEqual(["a", "yy"]);
      });

      it("a payload is stored as it was when enqueued", async () => {
        const payload = { list: [1, 2] };
        const rows = await added(async () => {
          const job = Any(payload);
          await target.jobs.enqueue(job);
          payload.list.push(3);
        });
        expect(rows[0]!.payload).toEqual({ list: [1, 2] });
      });
    });

    describe("dedup key", () => {
      it("a live job with the same key in the same queue: same id, one job", async () => {
        let first = "";
        let second = "";
        const rows = await added(async () => {
          first = await target.jobs.enqueue(Plain({ n: 1 }), { dedupKey: "conf-same" });
          second = await target.jobs.enqueue(Plain({ n: 2 }), { dedupKey: "conf-same" });
        });
        expect(second).toBe(first);
        // The first job wins; the second payload is not stored.
        expect(rows).toEqual([expect.objectContaining({ type: "conf-plain", payload: { n: 1 }, dedupKey: "conf-same" })]);
      });

      it("the same key twice in one batch is one job", async () => {
        let ids: string[] = [];
        const rows = await added(async () => {
          ids = await target.jobs.enqueue([Plain({ n: 1 }), Plain({ n: 2 }), Maintenance({ days: 1 })], { dedupKey: "conf-batch" });
        });
        // Plain and Maintenance go to different queues: two jobs; the two Plain jobs are one.
        expect(ids[0]).toBe(ids[1]);
        expect(ids[2]).not.toBe(ids[0]);
        expect(rows.map((r) => [r.type, r.queue, r.payload])).toEqual([
          ["conf-plain", "default", { n: 1 }],
          ["conf-maintenance", "maintenance", { days: 1 }],
        ]);
      });

      it("the same key in another queue is another job", async () => {
        const a = await target.jobs.enqueue(Plain({ n: 1 }), { dedupKey: "conf-per-queue" });
        const b = await target.jobs.enqueue(Plain({ n: 1 }), { dedupKey: "conf-per-queue", queue: "other" });
        expect(b).not.toBe(a);
      });

      it("the key does not depend on job type or payload", async () => {
        const a = await target.jobs.enqueue(Plain({ n: 1 }), { dedupKey: "conf-any-type" });
        const b = await target.jobs.enqueue(Any("different"), { dedupKey: "conf-any-type" });
        expect(b).toBe(a);
      });

      it("jobs without a key are never deduplicated", async () => {
        const rows = await added(() => target.jobs.enqueue([Plain({ n: 9 }), Plain({ n: 9 })]));
        expect(rows).toHaveLength(2);
        expect(rows.every((r) => (r.dedupKey ?? null) === null)).toBe(true);
      });
    });

    describe("job type defaults and enqueue options", () => {
      it("with neither: queue default, priority 0", async () => {
        const [row] = await added(() => target.jobs.enqueue(Plain({ n: 1 })));
        expect(row).toMatchObject({ queue: "default", priority: 0 });
      });

      it("the job type's defaults apply", async () => {
        const [row] = await added(() => target.jobs.enqueue(Maintenance({ days: 30 })));
        expect(row).toMatchObject({ type: "conf-maintenance", queue: "maintenance", priority: 7 });
      });

      it("enqueue options override them, for every job of the call", async () => {
        const rows = await added(() => target.jobs.enqueue([Maintenance({ days: 1 }), Plain({ n: 1 })], { queue: "urgent", priority: -3 }));
        expect(rows.map((r) => [r.type, r.queue, r.priority])).toEqual([
          ["conf-maintenance", "urgent", -3],
          ["conf-plain", "urgent", -3],
        ]);
      });

      it("an option given for one field leaves the other defaults", async () => {
        const [row] = await added(() => target.jobs.enqueue(Maintenance({ days: 1 }), { priority: 1 }));
        expect(row).toMatchObject({ queue: "maintenance", priority: 1 });
      });

      it("a future runAt still queues the job", async () => {
        const rows = await added(() => target.jobs.enqueue(Plain({ n: 1 }), { runAt: new Date(Date.now() + 3_600_000) }));
        expect(rows).toHaveLength(1);
      });
    });
  });
}
