/**
 * Workflows (`dependsOn`), on both backends (workflow-postgres.test.ts, workflow-memory.test.ts):
 * a dependant waits until all its parents have succeeded and reads their results; a parent
 * that fails for good cancels its dependants (and theirs) or, for those enqueued with
 * `onParentFailure: "run"`, counts as done; a workflow enqueued in the app's transaction rolls
 * back with it; bad workflows are refused with the same errors before anything is written.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defineJob, dependsOn, snooze, UnrecoverableError, type EnqueueOptions, type Enqueuer, type Job, type JobType } from "../../src/index.ts";
import type { HandlerContext, LeaseHandlerContext } from "../../src/handler.ts";
import type { LeaseJobType } from "../../src/job.ts";

/** How a job of a workflow ended. */
export interface Ended {
  id: string;
  type: string;
  state: string;
  attempts: number;
  lastError: string | null;
}

/** A job as the backend shows it before it runs (the admin API's getJob and getWorkflow). */
export interface Shown {
  state: string;
  dependsOn: string[];
  workflowId: string | null;
}

/** A handler for the run: transaction or lease mode, by its job type. */
export interface Entry {
  type: JobType<never, unknown>;
  handler: (payload: never, ctx: never) => unknown;
}

/** A backend under test. */
export interface WorkflowTarget {
  /**
   * Registers `handlers`, enqueues `jobs` in one call and runs them (one at a time) until every
   * one has finished. Returns the ids, and how each ended, in id order.
   */
  run(handlers: Entry[], jobs: Job[]): Promise<{ ids: string[]; ended: Ended[] }>;
  /** Enqueues without running (into a queue no pool runs). */
  enqueue(jobs: Job | Job[], options?: EnqueueOptions): Promise<string[]>;
  /** Records a cron schedule (never ticked). */
  schedule(job: Job): Promise<string>;
  /** Job `id` as it is now; undefined when it does not exist, live or finished. */
  show(id: string): Promise<Shown | undefined>;
  /** How many jobs exist, live or finished, in the queue `enqueue` uses. */
  count(): Promise<number>;
  /** Runs `fn` in one of the app's transactions, with that transaction's `$jobs`. */
  transaction<T>(fn: (jobs: Enqueuer, tx: unknown) => Promise<T>): Promise<T>;
  getResult<P, R>(type: JobType<P, R>, id: string): Promise<R | undefined>;
  close(): Promise<void>;
}

/** Retries come quickly (the real queue waits out the backoff; the testing queue drains). */
const backoff = { baseDelay: 10, jitter: 0 };
const Fetch = defineJob<{ url: string; fail?: "always" | "once" | "unrecoverable" }, { bytes: number }>("conf-wf-fetch", { maxAttempts: 2, backoff });
const Resize = defineJob<{ width: number }, { width: number; from: number | undefined }>("conf-wf-resize", { backoff });
const Notify = defineJob<{ user: string }, { saw: (number | undefined)[] }>("conf-wf-notify", { backoff });
const Audit = defineJob<{ n: number }>("conf-wf-audit", { backoff });
const LongFetch = defineJob<{ url: string }, { bytes: number }>("conf-wf-long-fetch", { mode: "lease", leaseTimeout: 60_000, backoff });

/** A handler entry, typed by its job type's mode (as `register`'s overloads). */
function on<P, R>(type: LeaseJobType<P, R>, handler: (payload: P, ctx: LeaseHandlerContext<unknown, R>) => unknown): Entry;
function on<P, R>(type: JobType<P, R>, handler: (payload: P, ctx: HandlerContext<unknown>) => unknown): Entry;
function on(type: { name: string }, handler: (payload: never, ctx: never) => unknown): Entry {
  return { type: type as JobType<never, unknown>, handler };
}

const CANCELLED = 'cancelled: a job it depends on failed or was cancelled (dependsOn, onParentFailure "cancel")';

/** What a call threw: its class and message (or that it did not throw). */
async function refusal(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (error) {
    return `${(error as Error).constructor.name}: ${(error as Error).message}`;
  }
  return "did not throw";
}

export function workflowConformance(name: string, make: () => Promise<WorkflowTarget>): void {
  describe(`${name}: workflow conformance`, () => {
    let target: WorkflowTarget;
    beforeAll(async () => {
      target = await make();
    });
    afterAll(() => target?.close());

    it("dependants wait, then run after all their parents succeeded, and read their results", async () => {
      const order: string[] = [];
      const handlers = [
        on(Fetch, async ({ url }) => {
          order.push("fetch");
          return { bytes: url.length };
        }),
        on(Resize, async ({ width }, { parentResult }) => {
          order.push("resize");
          return { width, from: (await parentResult(Fetch))?.bytes };
        }),
        on(Notify, async (_, { parentResult }) => {
          order.push("notify");
          return { saw: [(await parentResult(Fetch))?.bytes, (await parentResult(Resize))?.width, (await parentResult(Notify))?.saw.length] };
        }),
        on(Audit, async ({ n }) => void order.push(`audit ${n}`)),
      ];
      const fetch = Fetch({ url: "https://example.com/a.png" });
      const resize = dependsOn(Resize({ width: 100 }), [fetch]);
      // Listed dependants first: the order of the call does not matter, its edges do.
      const jobs = [dependsOn(Notify({ user: "ada" }), [fetch, resize]), resize, fetch, Audit({ n: 1 })];

      const waiting = await target.enqueue(jobs);
      expect(await Promise.all(waiting.map((id) => target.show(id)))).toEqual([
        { state: "waiting", dependsOn: [waiting[1], waiting[2]], workflowId: waiting[0] },
        { state: "waiting", dependsOn: [waiting[2]], workflowId: waiting[0] },
        { state: "available", dependsOn: [], workflowId: waiting[0] },
        { state: "available", dependsOn: [], workflowId: waiting[0] },
      ]);

      const { ids, ended } = await target.run(handlers, jobs);
      expect(ended.map((e) => [e.type, e.state, e.attempts])).toEqual([
        ["conf-wf-notify", "succeeded", 1],
        ["conf-wf-resize", "succeeded", 1],
        ["conf-wf-fetch", "succeeded", 1],
        ["conf-wf-audit", "succeeded", 1],
      ]);
      expect(order.filter((step) => step !== "audit 1")).toEqual(["fetch", "resize", "notify"]);
      // The released resize is due when fetch finishes: after the audit, due since the enqueue.
      expect(order.indexOf("audit 1")).toBeLessThan(order.indexOf("resize"));
      expect(await target.getResult(Resize, ids[1]!)).toEqual({ width: 100, from: 25 });
      // parentResult of a type it does not depend on: undefined.
      expect(await target.getResult(Notify, ids[0]!)).toEqual({ saw: [25, 100, undefined] });
    });

    it("a parent retried after a failure, or snoozed, keeps its dependant waiting until it succeeds", async () => {
      const order: string[] = [];
      let snoozed = false;
      const handlers = [
        on(Fetch, async ({ url, fail }, { attempt }) => {
          order.push(`fetch ${url} attempt ${attempt}`);
          if (fail === "once" && attempt === 1) throw new Error("the server said 503");
          if (url === "snooze" && !snoozed) {
            snoozed = true;
            return snooze(10);
          }
          return { bytes: url.length };
        }),
        on(Resize, async ({ width }, { parentResult }) => {
          order.push(`resize ${width}`);
          return { width, from: (await parentResult(Fetch))?.bytes };
        }),
      ];
      const flaky = Fetch({ url: "flaky", fail: "once" });
      const sleepy = Fetch({ url: "snooze" });
      const { ids, ended } = await target.run(handlers, [flaky, dependsOn(Resize({ width: 1 }), [flaky])]);
      expect(ended.map((e) => [e.state, e.attempts])).toEqual([["succeeded", 2], ["succeeded", 1]]);
      expect(await target.getResult(Resize, ids[1]!)).toEqual({ width: 1, from: 5 });
      const second = await target.run(handlers, [sleepy, dependsOn(Resize({ width: 2 }), [sleepy])]);
      expect(second.ended.map((e) => [e.state, e.attempts])).toEqual([["succeeded", 1], ["succeeded", 1]]);
      expect(await target.getResult(Resize, second.ids[1]!)).toEqual({ width: 2, from: 6 });
      expect(order).toEqual(["fetch flaky attempt 1", "fetch flaky attempt 2", "resize 1", "fetch snooze attempt 1", "fetch snooze attempt 1", "resize 2"]);
    });

    it('a parent that fails for good cancels its dependants and theirs; "run" ones run, without its result', async () => {
      const ran: string[] = [];
      const handlers = [
        on(Fetch, async ({ fail }) => {
          if (fail === "unrecoverable") throw new UnrecoverableError("the file is gone");
          if (fail) throw new Error("the server said 500");
          return { bytes: 1 };
        }),
        on(Resize, async ({ width }) => {
          ran.push(`resize ${width}`);
          return { width, from: 0 };
        }),
        on(Notify, async ({ user }, { parentResult }) => {
          ran.push(`notify ${user}`);
          return { saw: [(await parentResult(Fetch))?.bytes] };
        }),
        on(Audit, async ({ n }) => void ran.push(`audit ${n}`)),
      ];
      const broken = Fetch({ url: "x", fail: "always" });
      const fine = Fetch({ url: "y" });
      const resize = dependsOn(Resize({ width: 1 }), [broken]);
      const { ids, ended } = await target.run(handlers, [
        broken,
        fine,
        resize,
        dependsOn(Resize({ width: 2 }), [resize]), // cancelled in turn
        dependsOn(Notify({ user: "ada" }), [broken, fine], { onParentFailure: "run" }), // runs, sees fine's result only
        dependsOn(Audit({ n: 1 }), [resize], { onParentFailure: "run" }), // its parent was cancelled: counts as done
        dependsOn(Notify({ user: "bob" }), [fine, resize]), // one parent succeeded, the other was cancelled
      ]);
      expect(ended.map((e) => [e.type, e.state, e.attempts])).toEqual([
        ["conf-wf-fetch", "failed", 2],
        ["conf-wf-fetch", "succeeded", 1],
        ["conf-wf-resize", "cancelled", 0],
        ["conf-wf-resize", "cancelled", 0],
        ["conf-wf-notify", "succeeded", 1],
        ["conf-wf-audit", "succeeded", 1],
        ["conf-wf-notify", "cancelled", 0],
      ]);
      expect([ended[2]!.lastError, ended[3]!.lastError, ended[6]!.lastError]).toEqual([CANCELLED, CANCELLED, CANCELLED]);
      expect(ended[0]!.lastError?.split("\n")[0]).toBe("Error: the server said 500");
      expect(ran.sort()).toEqual(["audit 1", "notify ada"]);
      expect(await target.getResult(Notify, ids[4]!)).toEqual({ saw: [1] });

      // An UnrecoverableError fails a parent for good at its first attempt.
      const gone = Fetch({ url: "z", fail: "unrecoverable" });
      const again = await target.run(handlers, [gone, dependsOn(Resize({ width: 3 }), [gone])]);
      expect(again.ended.map((e) => [e.state, e.attempts, e.lastError?.split("\n")[0]])).toEqual([
        ["failed", 1, "UnrecoverableError: the file is gone"],
        ["cancelled", 0, CANCELLED],
      ]);
    });

    it("a lease-mode parent that completes in the app's transaction releases its dependant", async () => {
      const handlers = [
        on(LongFetch, async (_, { complete }) => {
          await target.transaction((_jobs, tx) => complete(tx, { bytes: 7 }));
        }),
        on(Resize, async ({ width }, { parentResult }) => ({ width, from: (await parentResult(LongFetch))?.bytes })),
      ];
      const fetch = LongFetch({ url: "big" });
      const { ids, ended } = await target.run(handlers, [fetch, dependsOn(Resize({ width: 3 }), [fetch])]);
      expect(ended.map((e) => e.state)).toEqual(["succeeded", "succeeded"]);
      expect(await target.getResult(Resize, ids[1]!)).toEqual({ width: 3, from: 7 });
    });

    it("a workflow enqueued in the app's transaction commits with it, and rolls back with it", async () => {
      const fetch = Fetch({ url: "tx" });
      const workflow = [fetch, dependsOn(Resize({ width: 1 }), [fetch])];
      let rolledBack: string[] = [];
      const error = await refusal(() =>
        target.transaction(async (jobs) => {
          rolledBack = await jobs.enqueue(workflow);
          throw new Error("the app's transaction fails");
        }),
      );
      expect(error).toBe("Error: the app's transaction fails");
      expect(rolledBack).toHaveLength(2);
      expect(await Promise.all(rolledBack.map((id) => target.show(id)))).toEqual([undefined, undefined]);

      const committed = await target.transaction((jobs) => jobs.enqueue(workflow));
      expect(await Promise.all(committed.map((id) => target.show(id)))).toEqual([
        { state: "available", dependsOn: [], workflowId: committed[0] },
        { state: "waiting", dependsOn: [committed[0]], workflowId: committed[0] },
      ]);
    });

    it("a parent listed twice is one edge; a job enqueued without dependsOn is in no workflow", async () => {
      const fetch = Fetch({ url: "twice" });
      const ids = await target.enqueue([fetch, dependsOn(dependsOn(Resize({ width: 1 }), [fetch, fetch]), [fetch])]);
      expect(await target.show(ids[1]!)).toEqual({ state: "waiting", dependsOn: [ids[0]], workflowId: ids[0] });
      const [alone] = await target.enqueue(Fetch({ url: "alone" }));
      expect(await target.show(alone!)).toEqual({ state: "available", dependsOn: [], workflowId: null });
    });

    it("bad workflows are refused with the same errors, before anything is written", async () => {
      const before = await target.count();
      const fetch = Fetch({ url: "x" });
      const orphan = dependsOn(Resize({ width: 1 }), [fetch]);
      const Big = defineJob<{ text: string }>("conf-wf-big", { backoff });
      const big = Array.from({ length: 40 }, () => Big({ text: "x".repeat(900_000) }));
      const refused = [
        await refusal(() => target.enqueue([orphan])),
        await refusal(() => target.enqueue([fetch, orphan], { dedupKey: "k" })),
        await refusal(() => target.enqueue([fetch, fetch, orphan])),
        await refusal(() => target.enqueue([...big, dependsOn(Audit({ n: 1 }), [big[0]!])])),
        await refusal(() => target.schedule(orphan)),
      ];
      expect(refused).toEqual([
        "InvalidJobError: enqueue: conf-wf-resize(…) at index 0 depends on a conf-wf-fetch(…) job that is not in this call: enqueue a job and the jobs it depends on in one call",
        "InvalidOptionsError: enqueue options: dedupKey cannot be used with dependsOn (a dedup key could turn a parent into another, already running job): enqueue the workflow without it",
        "InvalidJobError: enqueue: the same conf-wf-fetch(…) job value is at index 0 and 1, and another job depends on it: make one job value per job",
        "InvalidOptionsError: a workflow is enqueued in one statement, and this one's payloads are 36000447 characters, over 33554432: store large data in your own tables and pass ids",
        "InvalidJobError: schedule takes a job without dependsOn: a cron tick enqueues one job, and the jobs it would depend on are not enqueued with it",
      ]);
      expect(await target.count()).toBe(before);
    });

    it("parentResult refuses what is not a job type, like getResult", async () => {
      const seen: string[] = [];
      const handlers = [
        on(Fetch, async () => ({ bytes: 1 })),
        on(Resize, async ({ width }, { parentResult }) => {
          seen.push(await refusal(() => parentResult(Fetch({ url: "a" }) as never)));
          return { width, from: undefined };
        }),
      ];
      const fetch = Fetch({ url: "a" });
      const { ended } = await target.run(handlers, [fetch, dependsOn(Resize({ width: 1 }), [fetch])]);
      expect(ended.map((e) => e.state)).toEqual(["succeeded", "succeeded"]);
      expect(seen).toEqual(["InvalidJobError: parentResult expects a job type from defineJob(), got object"]);
    });
  });
}
