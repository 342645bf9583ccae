import { describe, expect, expectTypeOf, it } from "vitest";
import {
  defineJob,
  InvalidJobError,
  InvalidNameError,
  InvalidOptionsError,
  InvalidPayloadError,
  type Enqueuer,
  type Job,
  type Queue,
} from "../../src/index.ts";
import { createTestingJobs, TestingJobs, type QueuedJob } from "../../src/testing.ts";

const SendWelcome = defineJob<{ userId: number; email: string; at: Date }>("send-welcome");
const Cleanup = defineJob<{ olderThanDays: number }>("cleanup", { queue: "maintenance", priority: 5, maxAttempts: 10, timeout: 60_000 });

// App code that depends on the narrow interfaces, as the README recommends.
async function signUp(jobs: Enqueuer, userId: number, email: string): Promise<string> {
  return jobs.enqueue(SendWelcome({ userId, email, at: new Date("2026-05-01T12:00:00Z") }));
}
async function nightly(queue: Queue): Promise<string[]> {
  return queue.enqueue([Cleanup({ olderThanDays: 30 }), Cleanup({ olderThanDays: 90 })]);
}

describe("standing in for the real queue", () => {
  it("is an Enqueuer and a Queue, with no cast", async () => {
    const jobs = createTestingJobs();
    expectTypeOf(jobs).toMatchTypeOf<Enqueuer>();
    expectTypeOf(jobs).toMatchTypeOf<Queue>();
    const id = await signUp(jobs, 1, "ada@example.com");
    const ids = await nightly(jobs);
    expect(id).toBe("1");
    expect(ids).toEqual(["2", "3"]);
    jobs.assert().queuedTotal(3).queued(SendWelcome, 1).queued(Cleanup, 2);
  });

  it("a Queue<TX> parameter accepts it with the app's TX", async () => {
    interface AppTx {
      $jobs: Enqueuer;
    }
    function registerAll(queue: Queue<AppTx>): Promise<void> {
      return queue.register(SendWelcome, async (payload, { tx }) => {
        expectTypeOf(tx).toEqualTypeOf<AppTx>();
        await tx.$jobs.enqueue(Cleanup({ olderThanDays: payload.userId }));
      });
    }
    const jobs = createTestingJobs<AppTx>({ tx: (queue) => ({ $jobs: queue }) });
    await registerAll(jobs);
    await jobs.register(Cleanup, () => undefined);
    await signUp(jobs, 3, "c@example.com");
    await jobs.runAll();
    jobs.assert().queuedTotal(1).contains(Cleanup({ olderThanDays: 3 }));
  });

  it("keeps job type defaults and options, like prisma.$jobs (jobs of every queue)", async () => {
    const jobs = createTestingJobs({ queue: "web" });
    expect(jobs.name).toBe("web");
    const runAt = new Date(Date.now() + 60_000);
    await jobs.enqueue(Cleanup({ olderThanDays: 1 }));
    await jobs.enqueue(SendWelcome({ userId: 1, email: "a@b.c", at: new Date(0) }), { priority: -2, maxAttempts: 2, timeout: 5, runAt, dedupKey: "welcome-1" });
    const [cleanup, welcome] = jobs.all();
    expect(cleanup).toMatchObject({ id: "1", type: "cleanup", queue: "maintenance", priority: 5, maxAttempts: 10, timeout: 60_000, attempts: 0, dedupKey: null, lastError: null });
    expect(welcome).toEqual({
      id: "2",
      type: "send-welcome",
      queue: "default",
      payload: { userId: 1, email: "a@b.c", at: new Date(0) },
      priority: -2,
      runAt,
      createdAt: expect.any(Date),
      attempts: 0,
      maxAttempts: 2,
      timeout: 5,
      dedupKey: "welcome-1",
      lastError: null,
      state: "scheduled",
      dependsOn: [],
      onParentFailure: null,
      workflowId: null,
    } satisfies QueuedJob);
  });

  it("a dedup key is free again once its job has run", async () => {
    const jobs = createTestingJobs();
    await jobs.register(SendWelcome, () => undefined);
    const a = await jobs.enqueue(SendWelcome({ userId: 1, email: "a@b.c", at: new Date(0) }), { dedupKey: "k" });
    expect(await jobs.enqueue(SendWelcome({ userId: 1, email: "a@b.c", at: new Date(0) }), { dedupKey: "k" })).toBe(a);
    await jobs.runAll();
    const b = await jobs.enqueue(SendWelcome({ userId: 1, email: "a@b.c", at: new Date(0) }), { dedupKey: "k" });
    expect(b).not.toBe(a);
  });

  it("rejects payloads the database could not store, with the real errors", async () => {
    const jobs = createTestingJobs({ maxPayloadBytes: 100 });
    const Any = defineJob<unknown>("any");
    await expect(jobs.enqueue(Any({ text: "x".repeat(200) }))).rejects.toThrow(/over the limit of 100/);
    await expect(jobs.enqueue(Any({ when: () => 1 }))).rejects.toBeInstanceOf(InvalidPayloadError);
    jobs.assert().empty();
  });
});

describe("inspection", () => {
  it("getFirstOf returns the typed payload of the first job of a type, decoded afresh", async () => {
    const jobs = createTestingJobs();
    expect(jobs.getFirstOf(SendWelcome)).toBeUndefined();
    await jobs.enqueue(Cleanup({ olderThanDays: 1 }));
    await jobs.enqueue(SendWelcome({ userId: 1, email: "first@example.com", at: new Date(0) }), { priority: 10 });
    await jobs.enqueue(SendWelcome({ userId: 2, email: "second@example.com", at: new Date(0) }), { priority: -10 });

    const welcome = jobs.getFirstOf(SendWelcome);
    expectTypeOf(welcome).toEqualTypeOf<{ userId: number; email: string; at: Date } | undefined>();
    // First in enqueue order, whatever the run order.
    expect(welcome).toEqual({ userId: 1, email: "first@example.com", at: new Date(0) });
    expect(welcome?.at).toBeInstanceOf(Date);
    welcome!.email = "changed";
    expect(jobs.getFirstOf(SendWelcome)?.email).toBe("first@example.com");
    expectTypeOf(jobs.getFirstOf(Cleanup)).toEqualTypeOf<{ olderThanDays: number } | undefined>();
    // @ts-expect-error the payload has no such field
    void jobs.getFirstOf(Cleanup)?.userId;
  });

  it("all() lists queued jobs in enqueue order and gives copies", async () => {
    const jobs = createTestingJobs();
    await jobs.enqueue(Cleanup({ olderThanDays: 1 }), { priority: 9 });
    await jobs.enqueue(Cleanup({ olderThanDays: 2 }), { priority: -9 });
    const all = jobs.all();
    expect(all.map((j) => j.payload)).toEqual([{ olderThanDays: 1 }, { olderThanDays: 2 }]);
    all[0]!.runAt.setTime(0);
    expect(jobs.all()[0]!.runAt.getTime()).not.toBe(0);
  });

  it("reset() forgets queued and finished jobs, restarts ids, keeps handlers", async () => {
    const jobs = createTestingJobs();
    await jobs.register(Cleanup, () => undefined);
    await jobs.enqueue([Cleanup({ olderThanDays: 1 }), Cleanup({ olderThanDays: 2 })]);
    await jobs.runAll();
    await jobs.enqueue(Cleanup({ olderThanDays: 3 }), { runAt: new Date(Date.now() + 60_000) });
    expect(jobs.succeeded()).toHaveLength(2);
    jobs.reset();
    jobs.assert().empty();
    expect(jobs.succeeded()).toEqual([]);
    expect(jobs.failed()).toEqual([]);
    expect(await jobs.enqueue(Cleanup({ olderThanDays: 4 }))).toBe("1");
    await jobs.runAll(); // the handler is still registered
    expect(jobs.succeeded()).toHaveLength(1);
  });
});

describe("lifecycle: consistent, and nothing runs in the background", () => {
  it("start() needs a handler, like the real pool; start and shutdown are idempotent", async () => {
    const jobs = createTestingJobs();
    await expect(jobs.start()).rejects.toThrow(new InvalidOptionsError("handlers", 'queue "default" has no handlers: register at least one job type before start()'));
    expect(jobs.started).toBe(false);
    await jobs.register(Cleanup, () => undefined);
    await jobs.start();
    await jobs.start();
    expect(jobs.started).toBe(true);
    await jobs.enqueue(Cleanup({ olderThanDays: 1 }));
    await new Promise((r) => setTimeout(r, 20));
    jobs.assert().queued(Cleanup, 1); // started, yet nothing ran on its own
    await jobs.shutdown();
    await jobs.shutdown({ deadline: 10 });
    expect(jobs.started).toBe(false);
    jobs.assert().queued(Cleanup, 1);
    await jobs.enqueue(Cleanup({ olderThanDays: 2 }));
    await jobs.drain();
    jobs.assert().empty();
  });

  it("supports await using", async () => {
    let outer: TestingJobs | undefined;
    {
      await using jobs = createTestingJobs();
      await jobs.register(Cleanup, () => undefined);
      await jobs.start();
      outer = jobs;
    }
    expect(outer.started).toBe(false);
  });

  it("on/off take listeners like the real pool", () => {
    const jobs = createTestingJobs();
    const listener = (_error: Error) => undefined;
    expect(jobs.on("error", listener)).toBe(jobs);
    expect(jobs.off("error", listener)).toBe(jobs);
  });

  it("register() validates like the real pool", async () => {
    const jobs = createTestingJobs();
    await expect(jobs.register(SendWelcome({ userId: 1, email: "", at: new Date() }) as never, () => undefined)).rejects.toThrow(
      new InvalidJobError("register expects a job type from defineJob(), got object"),
    );
    await expect(jobs.register(SendWelcome, "nope" as never)).rejects.toThrow('register("send-welcome") expects a handler function, got string');
  });

  it("one handler per job type, as in the real pool: another is refused unless { replace: true }", async () => {
    const jobs = createTestingJobs();
    const ran: string[] = [];
    const first = () => void ran.push("first");
    await jobs.register(Cleanup, first);
    await jobs.register(Cleanup, first); // the same handler again changes nothing
    await expect(jobs.register(Cleanup, () => void ran.push("second"))).rejects.toThrow(
      new InvalidJobError(
        'queue "default" already has a handler for job type "cleanup": registering another would replace it. ' +
          "Register each job type once per queue, or pass { replace: true } to replace the handler on purpose",
      ),
    );
    await jobs.enqueue(Cleanup({ olderThanDays: 1 }));
    await jobs.drain();
    await jobs.register(Cleanup, () => void ran.push("third"), { replace: true });
    await jobs.enqueue(Cleanup({ olderThanDays: 2 }));
    await jobs.drain();
    expect(ran).toEqual(["first", "third"]);
  });
});

describe("options", () => {
  it("are validated at construction, with did-you-mean", () => {
    expect(() => createTestingJobs({ maxPayloadByte: 1 } as never)).toThrow('unknown option "maxPayloadByte" for createTestingJobs() options, did you mean "maxPayloadBytes"?');
    expect(() => createTestingJobs({ maxPayloadBytes: 0 })).toThrow("createTestingJobs() options: maxPayloadBytes must be between 1 and 33554432 (32 MiB), got 0");
    expect(() => createTestingJobs({ queue: "has space" })).toThrow(InvalidNameError);
    expect(() => createTestingJobs(5 as never)).toThrow(InvalidOptionsError);
  });

  it("TX is inferred from a tx value or factory", () => {
    const fake = { kind: "fake" as const };
    expectTypeOf(createTestingJobs({ tx: fake })).toEqualTypeOf<TestingJobs<{ kind: "fake" }>>();
    expectTypeOf(createTestingJobs({ tx: () => fake })).toEqualTypeOf<TestingJobs<{ kind: "fake" }>>();
    expectTypeOf(createTestingJobs()).toEqualTypeOf<TestingJobs<unknown>>();
  });

  it("jobs made by hand are rejected", async () => {
    const jobs = createTestingJobs();
    await expect(jobs.enqueue({ type: SendWelcome, payload: {} } as unknown as Job)).rejects.toBeInstanceOf(InvalidJobError);
  });
});

describe("stored values are the queue's own", () => {
  it("mutating the runAt Date after enqueue changes nothing", async () => {
    const jobs = createTestingJobs();
    const runAt = new Date(Date.now() + 60_000);
    const expected = runAt.getTime();
    await jobs.enqueue(Cleanup({ olderThanDays: 1 }), { runAt });
    runAt.setTime(0);
    expect(jobs.all()[0]!.runAt.getTime()).toBe(expected);
    await jobs.register(Cleanup, () => undefined);
    expect((await jobs.runAll()).attempts).toBe(0);
  });
});
