/**
 * The same tests with node:test and node:assert: the testing queue's assertions throw
 * `AssertionError`, which node:test reports like its own.
 * Run: node --import tsx --test examples/testing/signup.node-test.ts
 */
import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { createTestingJobs, type TestingJobs } from "arrower-jobs/testing";
import { registerHandlers, SendWelcome, signUp, TrackEvent, TrialReminder, type AppTx } from "./signup.ts";
import { FakeMailer, MemoryUsers, daysFrom } from "./fakes.ts";

let jobs: TestingJobs<AppTx>;
let users: MemoryUsers;
let mailer: FakeMailer;
let now: Date;

beforeEach(async () => {
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
    assert.deepEqual(jobs.getFirstOf(TrialReminder)?.endsAt, daysFrom(now, 14));
    const reminder = jobs.all().find((job) => job.type === TrialReminder.name);
    assert.deepEqual(reminder?.runAt, daysFrom(now, 11));
  });

  it("queues one reminder per user, however often sign-up is retried", async () => {
    const user = await signUp({ users, jobs }, "ada@example.com", now);
    await jobs.enqueue(TrialReminder({ userId: user.id, email: user.email, endsAt: now }), { dedupKey: `trial-reminder:${user.id}` });
    jobs.assert().queued(TrialReminder, 1);
  });

  it("a failed assertion is an AssertionError that lists the queue", async () => {
    await signUp({ users, jobs }, "ada@example.com", now);
    assert.throws(() => jobs.assert().empty(), {
      name: "AssertionError",
      message: /^expected no queued jobs, found 2 jobs:\n {2}#1 send-welcome \(default\) \{ email: 'ada@example\.com', userId: 1 \}/,
    });
  });
});

describe("the whole flow", () => {
  it("sends the welcome mail now, the reminder later, and tracks the welcome", async () => {
    await signUp({ users, jobs }, "ada@example.com", now);

    await jobs.runAll(); // what is due now: the welcome mail
    assert.deepEqual(mailer.sent, [{ to: "ada@example.com", subject: "Welcome!" }]);
    jobs.assert().queued(TrialReminder, 1).queued(TrackEvent, 1);

    await jobs.drain(); // everything else, the reminder due in 11 days included
    assert.deepEqual(
      mailer.sent.map((m) => m.subject),
      ["Welcome!", `Your trial ends on ${daysFrom(now, 14).toISOString().slice(0, 10)}`],
    );
    jobs.assert().empty();
  });

  it("retries a mail the provider rejected, and tracks the welcome only once", async () => {
    mailer.failNext(2);
    await signUp({ users, jobs }, "ada@example.com", now);

    const summary = await jobs.drain();

    assert.equal(summary.retried, 2);
    assert.equal(summary.failed, 0);
    assert.equal(jobs.succeeded().filter((job) => job.type === TrackEvent.name).length, 1);
    assert.deepEqual(jobs.failed(), []);
  });
});
