/**
 * Lease mode and progress, on both backends (lease-postgres.test.ts, lease-memory.test.ts): a
 * lease-mode job runs outside a transaction and completes when its handler returns, or in the
 * app's own transaction with `ctx.complete(tx, result)`, together with what that transaction
 * writes; it retries and fails like a transaction-mode job; and `ctx.progress()` is validated,
 * shown while the attempt runs and gone when it ends, in either mode.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defineJob, InvalidResultError, type Handler, type JobType } from "../../src/index.ts";
import { InvalidProgressError } from "../../src/errors.ts";
import type { LeaseHandler } from "../../src/handler.ts";
import type { LeaseJobType } from "../../src/job.ts";

/** How a job ended. */
export interface Ended {
  id: string;
  state: string;
  attempts: number;
  lastError: string | null;
}

/** A backend under test. */
export interface LeaseTarget {
  /** Runs one job of a lease-mode type through `handler` until it has finished (succeeded, or failed its last attempt). */
  runLease<P, R>(type: LeaseJobType<P, R>, handler: LeaseHandler<P, unknown, R>, payload: P): Promise<Ended>;
  /** The same, for a transaction-mode type. */
  runTransaction<P, R>(type: JobType<P, R>, handler: Handler<P, unknown, R>, payload: P): Promise<Ended>;
  /** Runs `fn` in one of the app's transactions: what `write` writes in it commits, or not, with it. */
  transaction<T>(fn: (tx: unknown) => Promise<T>): Promise<T>;
  /** Writes `note` in `tx`, as a handler writes its work. */
  write(tx: unknown, note: string): Promise<void>;
  /** Whether `note` was written by a transaction that committed. */
  written(note: string): Promise<boolean>;
  /** The progress stored for job `id` now; undefined when none. */
  progressOf(id: string): Promise<unknown>;
  getResult<P, R>(type: JobType<P, R>, id: string): Promise<R | undefined>;
  close(): Promise<void>;
}

const LEASE_TIMEOUT = 60_000;
/** Retries come quickly (the real queue waits out the backoff; the testing queue drains). */
const backoff = { baseDelay: 10, jitter: 0 };
const Report = defineJob<{ month: string }, { rows: number; at: Date }>("conf-lease-report", { mode: "lease", leaseTimeout: LEASE_TIMEOUT, backoff });
const Export = defineJob<{ month: string }, string>("conf-lease-export", { mode: "lease", maxAttempts: 3, backoff });
const Flaky = defineJob<{ month: string }>("conf-lease-flaky", { mode: "lease", maxAttempts: 2, backoff });
const Count = defineJob<{ n: number }>("conf-lease-count", { maxAttempts: 2, backoff });
const Tally = defineJob<{ n: number }>("conf-lease-tally", { mode: "lease", maxAttempts: 2, backoff });

/** Values progress() refuses, and the problem its InvalidProgressError names. */
const badProgress: [name: string, value: unknown, problem: string][] = [
  ["a function", () => 1, "function is not JSON"],
  ["a BigInt", 1n, "it is not JSON (Do not know how to serialize a BigInt)"],
  ["over 16 KiB", "x".repeat(16 * 1024), "it is 16386 bytes as JSON, more than 16384"],
  ["\\u0000 in a string", "a\u0000b", "it contains \\u0000, which PostgreSQL's jsonb cannot store"],
  ["a lone surrogate", "\ud800", "it contains a lone surrogate (half a UTF-16 pair), which PostgreSQL's jsonb cannot store"],
];

/** What each bad value did at the call: the InvalidProgressError's message, or how it failed to throw. */
function refusals(progress: (value: never) => Promise<void>): string[] {
  return badProgress.map(([, value]) => {
    let promise: Promise<void>;
    try {
      promise = progress(value as never);
    } catch (error) {
      return error instanceof InvalidProgressError && error.code === "INVALID_PROGRESS" ? error.message : `threw ${String(error)}`;
    }
    promise.catch(() => undefined);
    return "did not throw at the call";
  });
}

function refusalMessages(id: string): string[] {
  return badProgress.map(([, , problem]) => `progress of job ${id} cannot be stored: ${problem}. Report JSON: a number, a string, or an object such as { done: 40, of: 100 }`);
}

let notes = 0;
/** A note no other test (or earlier run) wrote. */
function freshNote(): string {
  return `note-${process.pid}-${Date.now()}-${++notes}`;
}

export function leaseConformance(name: string, make: () => Promise<LeaseTarget>): void {
  describe(`${name}: lease mode conformance`, () => {
    let target: LeaseTarget;
    beforeAll(async () => {
      target = await make();
    });
    afterAll(() => target?.close());

    it("a lease-mode job runs without a job transaction and stores what its handler returns", async () => {
      const at = new Date("2026-05-01T00:00:00.000Z");
      let seen: { hasTx: boolean; leaseLeft: number; attempt: number } | undefined;
      const ended = await target.runLease(Report, async (job, ctx) => {
        seen = { hasTx: "tx" in ctx, leaseLeft: ctx.leaseExpiresAt.getTime() - Date.now(), attempt: ctx.attempt };
        return { rows: job.month.length, at };
      }, { month: "2026-04" });
      expect(ended).toEqual({ id: ended.id, state: "succeeded", attempts: 1, lastError: null });
      expect(await target.getResult(Report, ended.id)).toEqual({ rows: 7, at });
      expect(seen).toMatchObject({ hasTx: false, attempt: 1 });
      // The lease runs leaseTimeout from when it was taken (or last renewed).
      expect(seen!.leaseLeft).toBeGreaterThan(LEASE_TIMEOUT - 10_000);
      expect(seen!.leaseLeft).toBeLessThanOrEqual(LEASE_TIMEOUT);
    });

    it("complete(tx, result) ends the job with the transaction's writes; what the handler returns after is not stored", async () => {
      const note = freshNote();
      const ended = await target.runLease(Export, async (_job, ctx) => {
        await target.transaction(async (tx) => {
          await target.write(tx, note);
          await ctx.complete(tx, "from complete");
        });
        return "from return";
      }, { month: "2026-04" });
      expect(ended).toMatchObject({ state: "succeeded", attempts: 1, lastError: null });
      expect(await target.getResult(Export, ended.id)).toBe("from complete");
      expect(await target.written(note)).toBe(true);
    });

    it("a transaction that throws after complete(tx) rolls back the completion with its writes: the attempt is retried", async () => {
      const first = freshNote();
      const second = freshNote();
      const ended = await target.runLease(Export, async (_job, ctx) => {
        await target.transaction(async (tx) => {
          await target.write(tx, ctx.attempt === 1 ? first : second);
          await ctx.complete(tx, `attempt ${ctx.attempt}`);
          if (ctx.attempt === 1) throw new Error("the ledger is locked");
        });
        return "never stored";
      }, { month: "2026-04" });
      expect(ended).toMatchObject({ state: "succeeded", attempts: 2 });
      expect(await target.getResult(Export, ended.id)).toBe("attempt 2");
      expect(await target.written(first)).toBe(false);
      expect(await target.written(second)).toBe(true);
    });

    it("complete(tx, result) with a result that cannot be stored rejects, and completes nothing", async () => {
      const Odd = Export as unknown as LeaseJobType<{ month: string }, unknown>;
      let refused: unknown;
      const ended = await target.runLease(Odd, async (_job, ctx) => {
        if (ctx.attempt === 1) {
          refused = await target.transaction((tx) => ctx.complete(tx, { format: () => "x" })).catch((error: unknown) => error);
          throw refused;
        }
        return "fine";
      }, { month: "2026-04" });
      expect(refused).toBeInstanceOf(InvalidResultError);
      expect(ended).toMatchObject({ state: "succeeded", attempts: 2 });
      expect(await target.getResult(Odd, ended.id)).toBe("fine");
    });

    it("a throwing lease handler is retried, then fails with the error of its last attempt", async () => {
      let calls = 0;
      const ended = await target.runLease(Flaky, async () => {
        calls++;
        throw new Error(`out of paper (call ${calls})`);
      }, { month: "2026-04" });
      expect(calls).toBe(2);
      expect(ended).toMatchObject({ state: "failed", attempts: 2 });
      expect(ended.lastError?.split("\n")[0]).toBe("Error: out of paper (call 2)");
    });

    it("progress() refuses what cannot be stored, at the call, in either mode", async () => {
      const results: { mode: string; id: string; refused: string[]; stored: unknown }[] = [];
      const lease = await target.runLease(Tally, async (_job, ctx) => {
        results.push({ mode: "lease", id: ctx.jobId, refused: refusals(ctx.progress), stored: await target.progressOf(ctx.jobId) });
      }, { n: 1 });
      const transaction = await target.runTransaction(Count, async (_job, ctx) => {
        results.push({ mode: "transaction", id: ctx.jobId, refused: refusals(ctx.progress), stored: await target.progressOf(ctx.jobId) });
      }, { n: 1 });
      expect([lease.state, transaction.state]).toEqual(["succeeded", "succeeded"]);
      expect(results).toEqual([
        { mode: "lease", id: lease.id, refused: refusalMessages(lease.id), stored: undefined },
        { mode: "transaction", id: transaction.id, refused: refusalMessages(transaction.id), stored: undefined },
      ]);
    });

    it.each(["lease", "transaction"] as const)("in %s mode, the latest progress shows while the attempt runs, and goes when it ends", async (mode) => {
      const seen: unknown[] = [];
      const handler = async (_job: { n: number }, ctx: { jobId: string; attempt: number; progress: (value: { done: number; of: number }) => Promise<void> }) => {
        seen.push(await target.progressOf(ctx.jobId)); // nothing yet, and nothing left by the failed attempt
        await ctx.progress({ done: 1, of: 2 });
        await ctx.progress({ done: 2, of: 2 });
        const latest = await target.progressOf(ctx.jobId);
        seen.push(latest, Object.keys(latest as object)); // read back as jsonb keeps it: shorter keys first
        if (ctx.attempt === 1) throw new Error("try again");
      };
      const ended = mode === "lease" ? await target.runLease(Tally, handler, { n: 2 }) : await target.runTransaction(Count, handler, { n: 2 });
      expect(ended).toMatchObject({ state: "succeeded", attempts: 2 });
      const attempt = [undefined, { of: 2, done: 2 }, ["of", "done"]];
      expect(seen).toEqual([...attempt, ...attempt]);
      expect(await target.progressOf(ended.id)).toBeUndefined();
    });
  });
}
