/**
 * Workflows in the testing queue, as an app's tests use them: what the app enqueued (waiting
 * jobs, their edges, the workflow), how runAll() and drain() run it, and what it left behind.
 * The behaviour shared with PostgreSQL is in test/conformance/workflow.suite.ts.
 */
import { AssertionError } from "node:assert";
import { beforeEach, describe, expect, it } from "vitest";
import { defineJob, dependsOn, InvalidJobError, InvalidOptionsError, type Enqueuer, type Job, type JobType } from "../../src/index.ts";
import { createTestingJobs, type TestingJobs } from "../../src/testing.ts";

const Charge = defineJob<{ orderId: number; fail?: boolean }, { chargeId: string }>("charge", { maxAttempts: 2 });
const Ship = defineJob<{ orderId: number }, { tracking: string }>("ship");
const Email = defineJob<{ orderId: number }>("email");

interface FakeTx {
  $jobs: Enqueuer;
}

let jobs: TestingJobs<FakeTx>;
beforeEach(() => {
  jobs = createTestingJobs<FakeTx>({ tx: (queue) => ({ $jobs: queue }) });
});

/** The app code under test: an order's charge, then its shipment, then an email either way. */
async function placeOrder(enqueuer: Enqueuer, orderId: number, options: { fail?: boolean } = {}): Promise<string[]> {
  const charge = Charge({ orderId, ...options });
  const ship = dependsOn(Ship({ orderId }), [charge]);
  return enqueuer.enqueue([charge, ship, dependsOn(Email({ orderId }), [ship], { onParentFailure: "run" })]);
}

async function registerHandlers(ran: string[] = []): Promise<void> {
  await jobs.register(Charge, ({ orderId, fail }) => {
    ran.push(`charge ${orderId}`);
    if (fail) throw new Error("card declined");
    return { chargeId: `ch_${orderId}` };
  });
  await jobs.register(Ship, async ({ orderId }, { parentResult }) => {
    ran.push(`ship ${orderId}`);
    return { tracking: `${(await parentResult(Charge))?.chargeId}/parcel` };
  });
  await jobs.register(Email, () => void ran.push("email"));
}

/** The AssertionError `fn` throws. */
function failure(fn: () => unknown): AssertionError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(AssertionError);
    return error as AssertionError;
  }
  throw new Error("expected an AssertionError, nothing was thrown");
}

describe("what the app enqueued", () => {
  it("dependants wait; getJob and getWorkflow show their edges and the workflow", async () => {
    const [charge, ship, email] = await placeOrder(jobs, 7);
    expect(jobs.all().map((j) => [j.id, j.state, j.dependsOn, j.onParentFailure, j.workflowId])).toEqual([
      [charge, "available", [], null, charge],
      [ship, "waiting", [charge], "cancel", charge],
      [email, "waiting", [ship], "run", charge],
    ]);
    expect(jobs.getJob(ship!)).toMatchObject({ type: "ship", state: "waiting", dependsOn: [charge], workflowId: charge });
    expect(jobs.getWorkflow(email!)).toMatchObject({ id: charge, jobs: [{ id: charge }, { id: ship }, { id: email }] });
    // A job enqueued without dependsOn is in no workflow.
    const alone = await jobs.enqueue(Email({ orderId: 8 }));
    expect([jobs.getJob(alone)?.workflowId, jobs.getWorkflow(alone), jobs.getJob("99")]).toEqual([null, undefined, undefined]);
  });

  it("assert().dependsOn() and waiting() read like the code that enqueued", async () => {
    await placeOrder(jobs, 7);
    jobs
      .assert()
      .queuedTotal(3)
      .waiting(Ship, 1)
      .waiting(Charge, 0)
      .dependsOn(Ship({ orderId: 7 }), [Charge({ orderId: 7 })])
      .dependsOn(Ship({ orderId: 7 }), [Charge({ orderId: 7 })], { onParentFailure: "cancel" })
      .dependsOn(Email({ orderId: 7 }), [Ship({ orderId: 7 })], { onParentFailure: "run" });
  });

  it("assert().dependsOn() matches parents by type and payload, in any order, all of them", async () => {
    const a = Charge({ orderId: 1 });
    const b = Charge({ orderId: 2 });
    await jobs.enqueue([a, b, dependsOn(Email({ orderId: 3 }), [a, b])]);
    jobs.assert().dependsOn(Email({ orderId: 3 }), [Charge({ orderId: 2 }), Charge({ orderId: 1 })]);
    failure(() => jobs.assert().dependsOn(Email({ orderId: 3 }), [Charge({ orderId: 1 })]));
    failure(() => jobs.assert().dependsOn(Email({ orderId: 3 }), [Charge({ orderId: 1 }), Charge({ orderId: 1 })]));
  });

  it("a workflow enqueued in jobs.transaction() appears when it commits, and not at all when it throws", async () => {
    await expect(
      jobs.transaction(async (tx) => {
        await placeOrder(tx.$jobs, 1);
        throw new Error("the order row failed to insert");
      }),
    ).rejects.toThrow("the order row failed to insert");
    jobs.assert().empty();
    const ids = await jobs.transaction((tx) => placeOrder(tx.$jobs, 2));
    jobs.assert().queuedTotal(3).dependsOn(Ship({ orderId: 2 }), [Charge({ orderId: 2 })]);
    expect(jobs.getWorkflow(ids[2]!)?.id).toBe(ids[0]);
  });
});

describe("running it", () => {
  it("runAll() runs what is due; a released dependant waits for the next call, like other follow-ups", async () => {
    const ran: string[] = [];
    await registerHandlers(ran);
    await placeOrder(jobs, 7);
    expect(await jobs.runAll()).toMatchObject({ rounds: 1, attempts: 1, succeeded: 1 });
    jobs.assert().waiting(Ship, 0).waiting(Email, 1);
    expect(jobs.all().map((j) => [j.type, j.state])).toEqual([
      ["ship", "available"],
      ["email", "waiting"],
    ]);
    await jobs.runAll();
    await jobs.runAll();
    expect(ran).toEqual(["charge 7", "ship 7", "email"]);
    jobs.assert().empty();
    expect(await jobs.getResult(Ship, "2")).toEqual({ tracking: "ch_7/parcel" });
  });

  it("drain() runs the whole workflow; a failed parent cancels its dependants, which cancelled() lists", async () => {
    const ran: string[] = [];
    await registerHandlers(ran);
    const [charge] = await placeOrder(jobs, 7, { fail: true });
    expect(await jobs.drain()).toEqual({ rounds: 3, attempts: 3, succeeded: 1, retried: 1, failed: 1 });
    expect(ran).toEqual(["charge 7", "charge 7", "email"]);
    expect(jobs.cancelled()).toMatchObject([
      { type: "ship", state: "cancelled", attempts: 0, errors: [], lastError: 'cancelled: a job it depends on failed or was cancelled (dependsOn, onParentFailure "cancel")' },
    ]);
    jobs.assert().workflow(charge!, [
      { type: Charge, state: "failed" },
      { type: Ship, state: "cancelled" },
      { type: Email, state: "succeeded" },
    ]);
    // By a job like one of the workflow's, finished or not.
    jobs.assert().workflow(Email({ orderId: 7 }), [
      { type: Charge, state: "failed" },
      { type: Ship, state: "cancelled" },
      { type: Email, state: "succeeded" },
    ]);
  });
});

describe("failure messages show the workflow", () => {
  it("dependsOn() with other parents lists the job and the ones it depends on", async () => {
    await placeOrder(jobs, 7);
    const error = failure(() => jobs.assert().dependsOn(Ship({ orderId: 7 }), [Charge({ orderId: 8 })]));
    expect(error.message).toBe(
      [
        'expected a queued "ship" job with payload { orderId: 7 } that depends on charge { orderId: 8 }, found one with that payload depending on other jobs:',
        "  #2 ship (default) waiting, depends on #1 { orderId: 7 }",
        "The jobs they depend on:",
        "  #1 charge (default) { orderId: 7 }",
      ].join("\n"),
    );
    expect(error.actual).toEqual({ dependsOn: [{ type: "charge", payload: { orderId: 7 } }], onParentFailure: "cancel" });
    expect(error.expected).toEqual({ dependsOn: [{ type: "charge", payload: { orderId: 8 } }], onParentFailure: "any" });
    expect(error.operator).toBe("dependsOn");
  });

  it("dependsOn() with another policy, or no such job", async () => {
    await placeOrder(jobs, 7);
    expect(failure(() => jobs.assert().dependsOn(Email({ orderId: 7 }), [Ship({ orderId: 7 })], { onParentFailure: "cancel" })).message).toBe(
      [
        'expected a queued "email" job with payload { orderId: 7 } that depends on ship { orderId: 7 } (onParentFailure "cancel"), found one with that payload depending on other jobs:',
        '  #3 email (default) waiting, depends on #2 (onParentFailure "run") { orderId: 7 }',
        "The jobs they depend on:",
        "  #2 ship (default) waiting, depends on #1 { orderId: 7 }",
      ].join("\n"),
    );
    expect(failure(() => jobs.assert().dependsOn(Ship({ orderId: 8 }), [Charge({ orderId: 8 })])).message).toBe(
      [
        'expected a queued "ship" job with payload { orderId: 8 } that depends on charge { orderId: 8 }, found none.',
        'Queued "ship" jobs (1):',
        "  #2 ship (default) waiting, depends on #1 { orderId: 7 }",
        'Other queued jobs: "charge" ×1, "email" ×1',
      ].join("\n"),
    );
  });

  it("waiting(type, n)", async () => {
    await placeOrder(jobs, 7);
    const error = failure(() => jobs.assert().waiting(Ship, 0));
    expect(error.message).toBe(
      [
        'expected 0 jobs of type "ship" waiting for jobs they depend on, found 1.',
        "Queued (3):",
        "  #1 charge (default) { orderId: 7 }",
        "  #2 ship (default) waiting, depends on #1 { orderId: 7 }",
        '  #3 email (default) waiting, depends on #2 (onParentFailure "run") { orderId: 7 }',
      ].join("\n"),
    );
    expect([error.actual, error.expected]).toEqual([1, 0]);
  });

  it("workflow() lists its jobs with their states; or says there is no such workflow", async () => {
    await placeOrder(jobs, 7);
    const error = failure(() => jobs.assert().workflow("3", [{ type: Charge, state: "succeeded" }]));
    expect(error.message).toBe(
      [
        "expected workflow 1 to have charge succeeded; found (3):",
        "  #1 charge (default) available { orderId: 7 }",
        "  #2 ship (default) waiting, depends on #1 { orderId: 7 }",
        '  #3 email (default) waiting, depends on #2 (onParentFailure "run") { orderId: 7 }',
      ].join("\n"),
    );
    expect(error.actual).toEqual([
      { type: "charge", state: "available" },
      { type: "ship", state: "waiting" },
      { type: "email", state: "waiting" },
    ]);
    const alone = await jobs.enqueue(Email({ orderId: 9 }));
    expect(failure(() => jobs.assert().workflow(alone, [])).message).toBe("expected workflow to have no jobs; job 4 is in no workflow (it was enqueued without dependsOn)");
    expect(failure(() => jobs.assert().workflow("99", [])).message).toBe("expected workflow to have no jobs; job 99 is unknown");
    expect(failure(() => jobs.assert().workflow(Email({ orderId: 9 }), [{ type: Email, state: "available" }])).message).toBe(
      'expected workflow to have email available; no job of type "email" with payload { orderId: 9 } is in a workflow',
    );
  });
});

describe("misuse gets a typed error", () => {
  it("dependsOn() without parents, with a job type, or a bad policy", () => {
    expect(() => jobs.assert().dependsOn(Ship({ orderId: 1 }), [])).toThrow(new InvalidJobError("assert().dependsOn(ship(…), parents) expects a non-empty array of jobs, got an empty array"));
    expect(() => jobs.assert().dependsOn(Ship({ orderId: 1 }), [Charge as unknown as Job])).toThrow(/the job type "charge" itself/);
    expect(() => jobs.assert().dependsOn(Ship({ orderId: 1 }), [Charge({ orderId: 1 })], { onParentFailure: "skip" as never })).toThrow(InvalidOptionsError);
  });

  it("workflow() with something else than { type, state }", () => {
    expect(() => jobs.assert().workflow("1", [{ type: Ship({ orderId: 1 }) as unknown as JobType<never>, state: "waiting" }])).toThrow(InvalidJobError);
    expect(() => jobs.assert().workflow("1", [{ type: Ship, state: "done" as never }])).toThrow(
      new InvalidOptionsError(
        "state",
        'assert().workflow(): jobs[0].state must be one of "available", "scheduled", "waiting", "running", "succeeded", "failed", "cancelled", got the string "done"',
      ),
    );
    expect(() => jobs.assert().workflow(42 as never, [])).toThrow(InvalidJobError);
  });
});
