import { AssertionError } from "node:assert";
import { beforeEach, describe, expect, it } from "vitest";
import { defineJob, InvalidJobError, InvalidOptionsError, type JobType } from "../../src/index.ts";
import { createTestingJobs } from "../../src/testing.ts";

const SendWelcome = defineJob<{ userId: number; at: Date }>("send-welcome");
const Cleanup = defineJob<{ olderThanDays: number }>("cleanup", { queue: "maintenance" });
const Tags = defineJob<{ tags: Set<string>; scores: Map<string, bigint> }>("tags");

const at = new Date("2026-01-02T03:04:05.000Z");
const jobs = createTestingJobs();
beforeEach(() => jobs.reset());

/** The AssertionError `fn` throws (fails the test if it throws nothing or something else). */
function failure(fn: () => unknown): AssertionError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(AssertionError);
    return error as AssertionError;
  }
  throw new Error("expected an AssertionError, nothing was thrown");
}

describe("passing assertions", () => {
  it("chain, and read the queue as it is at each call", async () => {
    jobs.assert().empty().queuedTotal(0).queued(SendWelcome, 0).notContains(SendWelcome({ userId: 1, at }));
    await jobs.enqueue([SendWelcome({ userId: 1, at }), Cleanup({ olderThanDays: 30 })]);
    jobs
      .assert()
      .notEmpty()
      .queuedTotal(2)
      .queued(SendWelcome, 1)
      .queued(Cleanup, 1)
      .contains(SendWelcome({ userId: 1, at }))
      .contains(Cleanup({ olderThanDays: 30 }))
      .notContains(SendWelcome({ userId: 2, at }))
      .notContains(Cleanup({ olderThanDays: 7 }));
  });

  it("contains compares round-tripped payloads deeply: Dates, Sets, Maps, BigInts", async () => {
    await jobs.enqueue(Tags({ tags: new Set(["a", "b"]), scores: new Map([["x", 10n]]) }));
    jobs.assert().contains(Tags({ tags: new Set(["a", "b"]), scores: new Map([["x", 10n]]) }));
    jobs.assert().notContains(Tags({ tags: new Set(["a"]), scores: new Map([["x", 10n]]) }));
    jobs.assert().notContains(Tags({ tags: new Set(["a", "b"]), scores: new Map([["x", 11n]]) }));
  });

  it("contains is strict: a number is not a string, a missing key is not undefined", async () => {
    const Loose = defineJob<Record<string, unknown>>("loose");
    await jobs.enqueue(Loose({ id: 1, maybe: undefined }));
    jobs.assert().contains(Loose({ id: 1, maybe: undefined }));
    jobs.assert().notContains(Loose({ id: "1", maybe: undefined }));
    jobs.assert().notContains(Loose({ id: 1 }));
  });

  it("queued counts a type across queues", async () => {
    await jobs.enqueue(SendWelcome({ userId: 1, at }));
    await jobs.enqueue(SendWelcome({ userId: 2, at }), { queue: "other" });
    jobs.assert().queued(SendWelcome, 2);
  });
});

describe("failure messages say what was expected and what is queued", () => {
  it("empty() lists the queued jobs with their payloads", async () => {
    await jobs.enqueue([SendWelcome({ userId: 1, at }), Cleanup({ olderThanDays: 30 })]);
    const error = failure(() => jobs.assert().empty());
    expect(error.message).toBe(
      [
        "expected no queued jobs, found 2 jobs:",
        "  #1 send-welcome (default) { at: 2026-01-02T03:04:05.000Z, userId: 1 }",
        "  #2 cleanup (maintenance) { olderThanDays: 30 }",
      ].join("\n"),
    );
    expect(error.code).toBe("ERR_ASSERTION");
    expect(error.operator).toBe("empty");
  });

  it("notEmpty()", () => {
    expect(failure(() => jobs.assert().notEmpty()).message).toBe("expected at least one queued job, found none");
  });

  it("queued(type, n) names the type and counts, with actual and expected for diffs", async () => {
    await jobs.enqueue([SendWelcome({ userId: 1, at }), Cleanup({ olderThanDays: 30 })]);
    const error = failure(() => jobs.assert().queued(SendWelcome, 2));
    expect(error.message).toBe(
      [
        'expected 2 jobs of type "send-welcome" queued, found 1.',
        "Queued (2):",
        "  #1 send-welcome (default) { at: 2026-01-02T03:04:05.000Z, userId: 1 }",
        "  #2 cleanup (maintenance) { olderThanDays: 30 }",
      ].join("\n"),
    );
    expect(error.actual).toBe(1);
    expect(error.expected).toBe(2);
  });

  it("queued(type, n) on an empty queue says nothing is queued", () => {
    expect(failure(() => jobs.assert().queued(Cleanup, 1)).message).toBe('expected 1 job of type "cleanup" queued, found 0.\nNothing is queued.');
  });

  it("queuedTotal(n)", async () => {
    await jobs.enqueue(Cleanup({ olderThanDays: 1 }));
    expect(failure(() => jobs.assert().queuedTotal(3)).message).toBe(
      "expected 3 jobs queued in total, found 1.\nQueued (1):\n  #1 cleanup (maintenance) { olderThanDays: 1 }",
    );
  });

  it("contains(job) shows the expected payload, the queued ones of that type, and a summary of the rest", async () => {
    await jobs.enqueue([SendWelcome({ userId: 1, at }), Cleanup({ olderThanDays: 30 }), Cleanup({ olderThanDays: 7 })]);
    const error = failure(() => jobs.assert().contains(SendWelcome({ userId: 2, at })));
    expect(error.message).toBe(
      [
        'expected a queued "send-welcome" job with payload { userId: 2, at: 2026-01-02T03:04:05.000Z }, found none.',
        'Queued "send-welcome" jobs (1):',
        "  #1 send-welcome (default) { at: 2026-01-02T03:04:05.000Z, userId: 1 }",
        'Other queued jobs: "cleanup" ×2',
      ].join("\n"),
    );
    expect(error.expected).toEqual({ userId: 2, at });
    // One candidate: actual is its payload, so runners diff it field by field.
    expect(error.actual).toEqual({ userId: 1, at });
  });

  it("contains(job) when no job of the type is queued", async () => {
    await jobs.enqueue(Cleanup({ olderThanDays: 30 }));
    expect(failure(() => jobs.assert().contains(SendWelcome({ userId: 2, at }))).message).toBe(
      'expected a queued "send-welcome" job with payload { userId: 2, at: 2026-01-02T03:04:05.000Z }, found none.\n' +
        'No "send-welcome" jobs are queued.\nOther queued jobs: "cleanup" ×1',
    );
  });

  it("notContains(job) names the matching job", async () => {
    await jobs.enqueue(Cleanup({ olderThanDays: 30 }), { queue: "nightly" });
    expect(failure(() => jobs.assert().notContains(Cleanup({ olderThanDays: 30 }))).message).toBe(
      'expected no queued "cleanup" job with payload { olderThanDays: 30 }, found job 1 in queue "nightly".\n' +
        'Queued "cleanup" jobs (1):\n  #1 cleanup (nightly) { olderThanDays: 30 }',
    );
  });

  it("renders Maps, Sets and BigInts readably", async () => {
    await jobs.enqueue(Tags({ tags: new Set(["a"]), scores: new Map([["x", 10n]]) }));
    expect(failure(() => jobs.assert().empty()).message).toContain("#1 tags (default) { tags: Set(1) { 'a' }, scores: Map(1) { 'x' => 10n } }");
  });

  it("long lists are truncated after 10 jobs", async () => {
    await jobs.enqueue(Array.from({ length: 25 }, (_, i) => Cleanup({ olderThanDays: i })));
    const lines = failure(() => jobs.assert().queuedTotal(0)).message.split("\n");
    expect(lines).toHaveLength(2 + 10 + 1);
    expect(lines.at(-2)).toBe("  #10 cleanup (maintenance) { olderThanDays: 9 }");
    expect(lines.at(-1)).toBe("  … and 15 more");
  });

  it("long payloads are cut to one bounded line", async () => {
    const Big = defineJob<{ text: string; list: number[] }>("big");
    await jobs.enqueue(Big({ text: "y".repeat(10_000), list: Array.from({ length: 1000 }, (_, i) => i) }));
    const line = failure(() => jobs.assert().empty()).message.split("\n")[1]!;
    expect(line.length).toBeLessThan(400);
    expect(line).toContain("... 9920 more characters");
  });

  it("the stack points at the test, not at the library", async () => {
    await jobs.enqueue(Cleanup({ olderThanDays: 1 }));
    const error = failure(() => jobs.assert().empty());
    const frames = error.stack!.split("\n").filter((line) => line.trimStart().startsWith("at "));
    expect(frames[0]).toContain("test/testing/assertions.test.ts");
    expect(error.stack).not.toContain("src/testing/assertions.ts");
  });
});

describe("misuse gets a typed error, not a failed assertion", () => {
  it("queued() with a job instead of a job type", () => {
    expect(() => jobs.assert().queued(SendWelcome({ userId: 1, at }) as unknown as JobType<unknown>, 1)).toThrow(
      new InvalidJobError('assert().queued() expects a job type from defineJob(), got a job of type "send-welcome" (pass the job type itself)'),
    );
  });

  it("contains() with a job type instead of a job", () => {
    expect(() => jobs.assert().contains(SendWelcome as never)).toThrow(InvalidJobError);
    expect(() => jobs.assert().contains(SendWelcome as never)).toThrow(/the job type "send-welcome" itself, call it with the payload you expect/);
  });

  it("a negative or fractional count", () => {
    expect(() => jobs.assert().queued(SendWelcome, -1)).toThrow(InvalidOptionsError);
    expect(() => jobs.assert().queuedTotal(1.5)).toThrow(/count must be an integer/);
  });
});
