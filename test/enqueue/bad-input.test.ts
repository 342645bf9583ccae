import { describe, expect, it } from "vitest";
import superjson from "superjson";
import { ArrowerJobsError, defineJob, InvalidJobError, InvalidNameError, InvalidOptionsError, InvalidPayloadError, jobs, type Job,  } from "../../src/index.ts";
import { type TestApp, useTestApp } from "../helpers/app.ts";

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
