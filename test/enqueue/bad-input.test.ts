import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import superjson from "superjson";
import {
  ArrowerJobsError,
  defineJob,
  InvalidJobError,
  InvalidNameError,
  InvalidOptionsError,
  InvalidPayloadError,
  jobs,
  snooze,
  type ArrowerJobsErrorCode,
  type EnqueueOptions,
  type Job,
  type ScheduleOptions,
} from "../../src/index.ts";
import { createTestingJobs } from "../../src/testing.ts";
import { createTestApp, type TestApp, useTestApp } from "../helpers/app.ts";

const Any = defineJob<unknown>("any");
class Money {
  constructor(readonly cents: number) {}
}
class Registered {
  constructor(readonly v = 1) {}
}
superjson.registerClass(Registered, { identifier: "Registered" });

type Case = [name: string, call: (app: TestApp) => Promise<unknown>, error: new (...args: never[]) => ArrowerJobsError, message: RegExp];

const cases: Case[] = [
  ["a plain object instead of a job", (a) => a.prisma.$jobs.enqueue({ userId: 1 } as unknown as Job), InvalidJobError, /expects a job or an array of jobs, got an object/],
  ["the job type itself", (a) => a.prisma.$jobs.enqueue(Any as unknown as Job), InvalidJobError, /job type "any" itself, call it with a payload/],
  ["null in a batch", (a) => a.prisma.$jobs.enqueue([Any(1), null as unknown as Job]), InvalidJobError, /got null at index 1/],
  ["a function in the payload", (a) => a.prisma.$jobs.enqueue(Any({ cb: () => 1 })), InvalidPayloadError, /a function cannot be stored at cb/],
  ["a symbol in the payload", (a) => a.prisma.$jobs.enqueue(Any({ s: [Symbol("x")] })), InvalidPayloadError, /a symbol cannot be stored at s\[0\]/],
  ["an unknown class instance", (a) => a.prisma.$jobs.enqueue(Any({ price: new Money(5) })), InvalidPayloadError, /an instance of class Money would lose its class .* at price$/],
  ["\\u0000 in a string", (a) => a.prisma.$jobs.enqueue(Any({ note: "a\u0000b" })), InvalidPayloadError, /\\u0000 .* at note/],
  ["a circular payload", (a) => { const o: Record<string, unknown> = {}; o.self = o; return a.prisma.$jobs.enqueue(Any(o)); }, InvalidPayloadError, /circular reference/],
  ["a payload over the size cap", (a) => a.prisma.$jobs.enqueue(Any({ big: "x".repeat(1024 * 1024 + 1) })), InvalidPayloadError, /over the limit of 1048576/],
  ["a misspelt option", (a) => a.prisma.$jobs.enqueue(Any(1), { priorty: 1 } as never), InvalidOptionsError, /unknown option "priorty" for enqueue options, did you mean "priority"\?/],
  ["negative maxAttempts", (a) => a.prisma.$jobs.enqueue(Any(1), { maxAttempts: -1 }), InvalidOptionsError, /maxAttempts must be between 1 and/],
  ["fractional priority", (a) => a.prisma.$jobs.enqueue(Any(1), { priority: 1.5 }), InvalidOptionsError, /priority must be an integer, got number 1.5/],
  ["runAt not a Date", (a) => a.prisma.$jobs.enqueue(Any(1), { runAt: "tomorrow" as never }), InvalidOptionsError, /runAt must be a Date, got the string "tomorrow"/],
  ["an invalid Date", (a) => a.prisma.$jobs.enqueue(Any(1), { runAt: new Date("nope") }), InvalidOptionsError, /runAt is an invalid Date/],
  ["a zero timeout", (a) => a.prisma.$jobs.enqueue(Any(1), { timeout: 0 }), InvalidOptionsError, /timeout must be between 1 and/],
  ["an empty queue name", (a) => a.prisma.$jobs.enqueue(Any(1), { queue: "" }), InvalidNameError, /queue name must not be empty/],
  ["a queue name with spaces", (a) => a.prisma.$jobs.enqueue(Any(1), { queue: "my queue" }), InvalidNameError, /may only contain letters, digits/],
  ["an empty dedup key", (a) => a.prisma.$jobs.enqueue(Any(1), { dedupKey: "" }), InvalidOptionsError, /dedupKey must be a non-empty string/],
  ["options that are not an object", (a) => a.prisma.$jobs.enqueue(Any(1), 5 as never), InvalidOptionsError, /enqueue options must be an object, got number/],
];

describe("bad input raises a typed error and changes nothing", () => {
  const { app } = useTestApp();

  it.each(cases)("%s", async (_name, call, type, message) => {
    const before = await app.count("jobs");
    const error = await Promise.resolve()
      .then(() => call(app))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(type);
    expect(error).toBeInstanceOf(ArrowerJobsError);
    expect((error as Error).message).toMatch(message);
    expect(await app.count("jobs")).toBe(before);
  });

  it("a bad job in a batch rejects the whole batch", async () => {
    const before = await app.count("jobs");
    await expect(app.prisma.$jobs.enqueue([Any(1), Any({ f: () => 2 })])).rejects.toBeInstanceOf(InvalidPayloadError);
    expect(await app.count("jobs")).toBe(before);
  });

  it("a bad enqueue inside a transaction leaves the transaction usable", async () => {
    await app.prisma.$transaction(async (tx) => {
      await expect(tx.$jobs.enqueue(Any({ note: "\u0000" }))).rejects.toBeInstanceOf(InvalidPayloadError);
      await tx.$jobs.enqueue(Any({ note: "fine" }));
    });
    expect(await app.count("jobs", `payload->>'note' = 'fine'`)).toBe(1);
  });

  it("a registered superjson class is accepted", async () => {
    await expect(app.prisma.$jobs.enqueue(Any({ r: new Registered(2) }))).resolves.toMatch(/^\d+$/);
  });
});

describe("snooze(delayMs) out of range", () => {
  it.each([-1, 1.5, Number.NaN, 2 ** 31, Infinity])("snooze(%s) is an InvalidOptionsError that says the range", (delayMs) => {
    expect(() => snooze(delayMs)).toThrow(InvalidOptionsError);
    expect(() => snooze(delayMs)).toThrow(`snooze(delayMs) takes a whole number of milliseconds from 0 to 2147483647 (24.8 days), got ${delayMs}`);
  });
});

describe("bad definitions fail at the call site", () => {
  it.each([
    ["", /job type name must not be empty/],
    ["x".repeat(129), /is 129 characters long, the limit is 128/],
    ["send welcome", /may only contain letters, digits and _ - \. : \/ \(found " "\)/],
    [42, /job type name must be a string, got number/],
  ])("defineJob(%j)", (name, message) => {
    expect(() => defineJob(name as string)).toThrow(InvalidNameError);
    expect(() => defineJob(name as string)).toThrow(message);
  });

  it("defineJob rejects unknown defaults with a suggestion", () => {
    expect(() => defineJob("x", { maxAttempt: 3 } as never)).toThrow(/unknown option "maxAttempt" .* did you mean "maxAttempts"\?/);
  });

  it("jobs() rejects unknown options and a bad schema name", () => {
    expect(() => jobs({ shema: "x" } as never)).toThrow(/did you mean "schema"\?/);
    expect(() => jobs({ schema: "Robert'); DROP TABLE" })).toThrow(InvalidOptionsError);
  });
});

// ---------------------------------------------------------------------------------------------
// Issue 16: inputs that used to be accepted and then failed later, changed silently, or failed
// with an untyped error (or a database error that aborted the caller's transaction).

const Good = defineJob<{ note: string }>("good");

interface Refusal {
  error: new (...args: never[]) => ArrowerJobsError;
  code: ArrowerJobsErrorCode;
  /** A fragment of the message. */
  says: string;
}

type Call = (job: Job, options?: EnqueueOptions) => Promise<unknown>;

const SCHEDULE_KEYS = ["queue", "priority", "maxAttempts", "timeout"] as const;

/** Enqueue options that schedule() also takes, or undefined when the options are enqueue-only. */
function asScheduleOptions(options: EnqueueOptions | undefined): ScheduleOptions | undefined | null {
  if (options === undefined) return undefined;
  if (Object.keys(options).some((key) => !(SCHEDULE_KEYS as readonly string[]).includes(key))) return null;
  return options as ScheduleOptions;
}

/** Every way an application enqueues (tx.$jobs is checked on its own, inside a transaction). */
function enqueuePaths(app: TestApp, options: EnqueueOptions | undefined): Array<[string, Call]> {
  const testing = createTestingJobs();
  const paths: Array<[string, Call]> = [
    ["prisma.$jobs.enqueue", (job, o) => app.prisma.$jobs.enqueue(job, o)],
    ["queue.enqueue", (job, o) => app.prisma.$jobs.queue("default").enqueue(job, o)],
    ["a batch", (job, o) => app.prisma.$jobs.enqueue([Good({ note: "first of the batch" }), job], o)],
    ["the testing queue", (job, o) => testing.enqueue(job, o)],
    ["the testing queue's batch", (job, o) => testing.enqueue([Good({ note: "first" }), job], o)],
  ];
  const scheduleOptions = asScheduleOptions(options);
  if (scheduleOptions !== null) {
    paths.push(
      ["prisma.$jobs.schedule", (job) => app.prisma.$jobs.schedule("@every 1h", job, scheduleOptions)],
      ["the testing queue's schedule", (job) => testing.schedule("@every 1h", job, scheduleOptions)],
    );
  }
  return paths;
}

function expectError(error: unknown, expected: Refusal, where: string): void {
  expect(error, where).toBeInstanceOf(expected.error);
  expect(error, where).toBeInstanceOf(ArrowerJobsError);
  expect((error as ArrowerJobsError).code, where).toBe(expected.code);
  expect((error as Error).message, where).toContain(expected.says);
}

const rejection = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => undefined,
    (e: unknown) => e,
  );

/**
 * `job` with `options` is refused with `expected` on every enqueue path, nothing is written, and
 * a transaction that enqueues it among its own writes still commits them.
 */
async function expectRefusedEverywhere(app: TestApp, job: Job, options: EnqueueOptions | undefined, expected: Refusal): Promise<void> {
  const jobsBefore = await app.count("jobs");
  const schedulesBefore = await app.count("schedules");
  for (const [where, call] of enqueuePaths(app, options)) {
    expectError(await rejection(Promise.resolve().then(() => call(job, options))), expected, where);
  }
  expect(await app.count("jobs")).toBe(jobsBefore);
  expect(await app.count("schedules")).toBe(schedulesBefore);

  const email = `${randomUUID()}@example.com`;
  let inTransaction: unknown;
  await app.prisma.$transaction(async (tx) => {
    await tx.user.create({ data: { email } });
    inTransaction = await rejection(tx.$jobs.enqueue(job, options));
    await tx.$jobs.enqueue(Good({ note: email }));
  });
  expectError(inTransaction, expected, "tx.$jobs.enqueue");
  expect(await app.rows(`SELECT 1 FROM "User" WHERE email = $1`, [email])).toHaveLength(1);
  expect(await app.count("jobs", `payload->>'note' = $1`, [email])).toBe(1);
  expect(await app.count("jobs")).toBe(jobsBefore + 1);
}

describe("a payload that would not come back as it was is refused at enqueue (issue 16, item 5)", () => {
  const { app } = useTestApp();
  const refused = (says: string): Refusal => ({ error: InvalidPayloadError, code: "INVALID_PAYLOAD", says });
  const Upload = defineJob<unknown>("upload");

  it("a Buffer (it failed at the job's first attempt: unknown typed array)", async () => {
    await expectRefusedEverywhere(app, Upload({ file: { data: Buffer.from("hello") } }), undefined, refused("a Buffer would not come back (superjson cannot decode it): pass new Uint8Array(buffer), or buffer.toString(\"base64\") at file.data"));
  });

  it("a DataView (it came back as {})", async () => {
    await expectRefusedEverywhere(app, Upload({ view: new DataView(new ArrayBuffer(8)) }), undefined, refused("a DataView would come back as {}"));
  });

  it("an invalid Date in a list (it came back as null): the message names its path", async () => {
    await expectRefusedEverywhere(app, Upload({ items: [new Date(0), new Date(1), new Date(2), new Date("not a date")] }), undefined, refused("an invalid Date would come back as null at items[3]"));
  });

  it("a sparse array (its hole came back as null)", async () => {
    const list: number[] = [];
    list[2] = 1;
    await expectRefusedEverywhere(app, Upload({ list }), undefined, refused("an array with a hole at index 0 would come back with null there"));
  });

  it("an array with a named property (the property was dropped)", async () => {
    await expectRefusedEverywhere(app, Upload({ rows: Object.assign([1, 2], { total: 3 }) }), undefined, refused('an array would lose its property "total"'));
  });

  it("a subclass of Uint8Array (it failed at the first attempt)", async () => {
    class Bytes extends Uint8Array {}
    await expectRefusedEverywhere(app, Upload({ bytes: new Bytes(2) }), undefined, refused("a Bytes would not come back (superjson knows only the standard typed arrays)"));
  });

  it("what does round-trip is still accepted: typed arrays, a Date, plain arrays with undefined", async () => {
    const payload = { u8: new Uint8Array([1, 2]), f64: new Float64Array([1.5, Number.NaN]), at: new Date(5), list: [1, undefined, 3] };
    const id = await app.prisma.$jobs.enqueue(Upload(payload));
    expect(id).toMatch(/^\d+$/);
  });
});

describe("payloads that threw untyped errors get an InvalidPayloadError (issue 16, item 14)", () => {
  const { app } = useTestApp();
  const Tree = defineJob<unknown>("tree");
  const refused = (says: string): Refusal => ({ error: InvalidPayloadError, code: "INVALID_PAYLOAD", says });

  it("a payload nested 5,000 levels deep (RangeError: Maximum call stack size exceeded)", async () => {
    let deep: unknown = { leaf: new Date(0) };
    for (let i = 0; i < 5_000; i++) deep = { child: deep };
    await expectRefusedEverywhere(app, Tree(deep), undefined, refused("it is nested more than 1000 levels deep"));
  });

  it("nesting up to 1,000 levels is accepted", async () => {
    let deep: unknown = { leaf: new Date(0) };
    for (let i = 0; i < 998; i++) deep = { child: deep };
    await expect(app.prisma.$jobs.enqueue(Tree(deep))).resolves.toMatch(/^\d+$/);
  });

  it("{ constructor: { d: new Date() } } (superjson's own Error about prototype pollution)", async () => {
    await expectRefusedEverywhere(app, Tree({ constructor: { d: new Date() } }), undefined, refused('a key named "constructor" cannot be stored in a payload that holds a Date'));
  });

  it("a key named constructor in a plain-JSON payload is still accepted (superjson is not involved)", async () => {
    await expect(app.prisma.$jobs.enqueue(Tree({ constructor: { d: 1 } }))).resolves.toMatch(/^\d+$/);
  });
});

describe("a timeout past Node's 32-bit timer is refused (issue 16, item 9)", () => {
  const { app, queues } = useTestApp();
  const Long = defineJob<{ n: number }>("long");
  const MAX = 24 * 86_400_000;

  it("enqueue with timeout 2^31 - 1 (the handler's transaction expired after 1 ms)", async () => {
    await expectRefusedEverywhere(app, Long({ n: 1 }), { timeout: 2 ** 31 - 1 }, {
      error: InvalidOptionsError,
      code: "INVALID_OPTIONS",
      says: "timeout must be between 1 and 2073600000 (24 days), got 2147483647",
    });
  });

  it("a job type defined with such a timeout", () => {
    expect(() => defineJob("too-long", { timeout: MAX + 1 })).toThrow(/timeout must be between 1 and 2073600000 \(24 days\), got 2073600001/);
  });

  it("24 days is accepted", async () => {
    await expect(app.prisma.$jobs.enqueue(Long({ n: 1 }), { timeout: MAX })).resolves.toMatch(/^\d+$/);
  });

  it("a job with the longest timeout runs, and one stored with 2^31 - 1 by an older version too", async () => {
    const longest = await app.prisma.$jobs.enqueue(Long({ n: 1 }), { timeout: MAX });
    const legacy = await app.prisma.$jobs.enqueue(Long({ n: 2 }));
    await app.rows(`UPDATE arrower.jobs SET timeout_ms = 2147483647 WHERE id = $1`, [legacy]);
    const queue = app.prisma.$jobs.queue("default", { poolSize: 2 });
    queues.push(queue);
    const outcomes = new Map<string, string>();
    const done = new Promise<void>((resolve) => {
      const record = (event: { jobId: string; kind: string; error?: string }) => {
        if (event.jobId !== longest && event.jobId !== legacy) return; // earlier tests' jobs
        outcomes.set(event.jobId, event.kind === "succeeded" ? "succeeded" : `${event.kind}: ${event.error}`);
        if (outcomes.size === 2) resolve();
      };
      queue.on("succeeded", record);
      queue.on("retrying", record);
      queue.on("failed", record);
    });
    // The handler's transaction outlives a first query: with an overflowed timer it had expired.
    await queue.register(Long, async (_job, { tx }) => {
      await tx.$queryRawUnsafe("SELECT 1 FROM pg_sleep(0.05)");
      await tx.$queryRawUnsafe("SELECT 1");
    });
    await done;
    expect(Object.fromEntries(outcomes)).toEqual({ [longest]: "succeeded", [legacy]: "succeeded" });
  });

  it("queue shutdown({ deadline }) past the timer range is refused, on both backends", async () => {
    for (const queue of [app.prisma.$jobs.queue("deadline"), createTestingJobs()]) {
      const error = await rejection(Promise.resolve().then(() => queue.shutdown({ deadline: 2 ** 31 })));
      expectError(error, { error: InvalidOptionsError, code: "INVALID_OPTIONS", says: "shutdown options: deadline must be between 0 and 86400000, got 2147483648" }, queue.constructor.name);
    }
  });
});

describe("a dedup key or name with a lone surrogate is refused (issue 16, item 15)", () => {
  const { app } = useTestApp();
  const Order = defineJob<{ n: number }>("order");

  it("two dedup keys differing only in a lone surrogate: the second job was silently dropped", async () => {
    await expectRefusedEverywhere(app, Order({ n: 2 }), { dedupKey: "order-\uD83D" }, {
      error: InvalidOptionsError,
      code: "INVALID_OPTIONS",
      says: 'dedupKey "order-\\ud83d" contains a lone UTF-16 surrogate',
    });
    const first = await app.prisma.$jobs.enqueue(Order({ n: 1 }), { dedupKey: "order-\uD83D\uDE00" });
    const second = await rejection(app.prisma.$jobs.enqueue(Order({ n: 2 }), { dedupKey: "order-\uDE00" }));
    expect(second).toBeInstanceOf(InvalidOptionsError);
    expect(await app.count("jobs", "type = 'order'")).toBe(1);
    expect(first).toMatch(/^\d+$/);
  });

  it("a schedule name with a lone surrogate, on both backends", async () => {
    for (const scheduler of [app.prisma.$jobs, createTestingJobs()]) {
      const error = await rejection(scheduler.schedule("@daily", Order({ n: 1 }), { name: "report-\uD83D" }));
      expectError(error, { error: InvalidOptionsError, code: "INVALID_OPTIONS", says: 'schedule options: name "report-\\ud83d" contains a lone UTF-16 surrogate' }, scheduler.constructor.name);
    }
    expect(await app.count("schedules")).toBe(0);
  });

  it("a poolName with a lone surrogate", () => {
    expect(() => app.prisma.$jobs.queue("q", { poolName: "host-\uDE00" })).toThrow(/poolName "host-\\ude00" contains a lone UTF-16 surrogate/);
  });
});

describe("a schema name whose NOTIFY channel would be too long is refused by jobs() (issue 16, item 10)", () => {
  it("schema names of 51 to 63 characters passed, then every enqueue failed and aborted the caller's transaction", () => {
    for (const length of [51, 63]) {
      const schema = "s".repeat(length);
      expect(() => jobs({ schema })).toThrow(InvalidOptionsError);
      expect(() => jobs({ schema })).toThrow(`schema "${schema}" is ${length} characters long, the limit is 50 (its NOTIFY channel, "arrower_jobs:" and the name, must fit PostgreSQL's 63 bytes)`);
    }
  });

  it("a 50-character schema works end to end: migrate, enqueue in a transaction, LISTEN", async () => {
    const schema = "s".repeat(50);
    const app = await createTestApp({ jobs: { schema } });
    try {
      await app.prisma.$transaction(async (tx) => {
        await tx.user.create({ data: { email: "schema50@example.com" } });
        await tx.$jobs.enqueue(Good({ note: "schema50" }));
      });
      expect(await app.count("jobs")).toBe(1);
      const queue = app.prisma.$jobs.queue("default", { pollInterval: 60_000 });
      // The poll interval is a minute: only the NOTIFY on the schema's channel wakes the pool in time.
      const woken = new Promise<void>((resolve) => {
        void queue.register(Good, async (job) => {
          if (job.note === "woken by NOTIFY") resolve();
        });
      });
      await queue.start();
      await app.prisma.$jobs.enqueue(Good({ note: "woken by NOTIFY" }));
      await woken;
      await queue.shutdown();
    } finally {
      await app.close();
    }
  });
});
