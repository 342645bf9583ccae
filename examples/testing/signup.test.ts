/**
 * Testing the sign-up flow with vitest and the in-memory queue: no database, no worker.
 * Run: npx vitest run --root examples/testing
 */
import { beforeEach, describe, expect, it } from "vitest";
import { createTestingJobs, type TestingJobs } from "arrower-jobs/testing";
import { registerHandlers, SendWelcome, signUp, TrackEvent, TrialReminder, type AppTx } from "./signup.ts";
import { FakeMailer, MemoryUsers, daysFrom } from "./fakes.ts";

let jobs: TestingJobs<AppTx>;
let users: MemoryUsers;
let mailer: FakeMailer;
let now: Date;

beforeEach(async () => {
  // A fresh queue per test: its handlers close over this test's fakes. Handlers get a fake
  // transaction client whose $jobs is the testing queue itself.
  jobs = createTestingJobs<AppTx>({ tx: (queue) => ({ $jobs: queue }) });
  users = new MemoryUsers();
  mailer = new FakeMailer();
  now = new Date();
  await registerHandlers(jobs, { mailer });
});

describe("signUp", () => {
  it("queues a welcome mail and a trial reminder", async () => {
    const user = await signUp({ users, jobs }, "ada@example.com", now);

    jobs
      .assert()
      .queuedTotal(2)
      .contains(SendWelcome({ userId: user.id, email: "ada@example.com" }))
      .queued(TrialReminder, 1);
    expect(jobs.getFirstOf(TrialReminder)?.endsAt).toEqual(daysFrom(now, 14));
    const reminder = jobs.all().find((job) => job.type === TrialReminder.name);
    expect(reminder).toMatchObject({ runAt: daysFrom(now, 11), priority: 5 });
  });

  it("queues one reminder per user, however often sign-up is retried", async () => {
    const user = await signUp({ users, jobs }, "ada@example.com", now);
    await jobs.enqueue(TrialReminder({ userId: user.id, email: user.email, endsAt: now }), { dedupKey: `trial-reminder:${user.id}` });
    jobs.assert().queued(TrialReminder, 1);
  });
});

describe("the whole flow", () => {
  it("sends the welcome mail now, the reminder later, and tracks the welcome", async () => {
    await signUp({ users, jobs }, "ada@example.com", now);

    await jobs.runAll(); // what is due now: the welcome mail
    expect(mailer.sent).toEqual([{ to: "ada@example.com", subject: "Welcome!" }]);
    jobs.assert().queued(TrialReminder, 1).queued(TrackEvent, 1);
    expect(jobs.getFirstOf(TrackEvent)?.properties.get("channel")).toBe("email");

    await jobs.drain(); // everything else, the reminder due in 11 days included
    expect(mailer.sent.map((m) => m.subject)).toEqual(["Welcome!", `Your trial ends on ${daysFrom(now, 14).toISOString().slice(0, 10)}`]);
    jobs.assert().empty();
  });

  it("retries a mail the provider rejected, and tracks the welcome only once", async () => {
    mailer.failNext(2);
    await signUp({ users, jobs }, "ada@example.com", now);

    const summary = await jobs.drain();

    expect(summary).toMatchObject({ retried: 2, failed: 0 });
    expect(mailer.sent.map((m) => m.to)).toEqual(["ada@example.com", "ada@example.com"]);
    // The failed attempts' follow-ups were rolled back with them.
    expect(jobs.succeeded().filter((job) => job.type === TrackEvent.name)).toHaveLength(1);
    expect(jobs.failed()).toEqual([]);
  });
});
