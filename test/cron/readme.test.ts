// The README's "Cron schedules" section, run as written (only `prisma` is the test app's client,
// and the handlers are the test's): if an example stops type-checking or working, this fails.
import { afterEach, describe, expect, it, vi } from "vitest";
import { defineJob, type Enqueuer, type Queue, type Scheduler } from "../../src/index.ts";
import { createTestingJobs } from "../../src/testing.ts";
import { parseCronSpec } from "../../src/cron/spec.ts";
import { useTestApp } from "../helpers/app.ts";

export const Cleanup = defineJob<{ olderThanDays: number }>("cleanup", { queue: "maintenance" });
export const Report = defineJob<{ kind: string }>("report");

// Run at every start, next to your `register` calls: declaring is idempotent.
export async function declareSchedules(scheduler: Scheduler) {
  await scheduler.schedule("0 4 * * *", Cleanup({ olderThanDays: 30 })); // → "1", the schedule's id
  await scheduler.schedule("30 8 * * MON-FRI", Report({ kind: "daily" }), {
    name: "daily-report", timezone: "Europe/Berlin", priority: 5,
  });
}

/** The README's `registerHandlers(jobs, { mailer })`: app code that takes a Queue. */
async function registerHandlers(queue: Pick<Queue, "register"> & Enqueuer, deps: { mailer: { sent: string[] } }) {
  await queue.register(Cleanup, async ({ olderThanDays }) => {
    deps.mailer.sent.push(`cleaned ${olderThanDays} days`);
  });
  await queue.register(Report, async ({ kind }) => {
    deps.mailer.sent.push(`report ${kind}`);
  });
}

describe("README: Cron schedules", () => {
  const { app, queues } = useTestApp();

  it("the first example: declare, queue.schedule, unschedule, listSchedules", async () => {
    const prisma = app.prisma;
    await declareSchedules(prisma.$jobs);

    const reports = prisma.$jobs.queue("reports");
    queues.push(reports);
    const quarter = await reports.schedule("@every 15m", Report({ kind: "quarter-hourly" })); // its jobs go to "reports"

    const listed = await prisma.$jobs.listSchedules();
    expect(listed.map((s) => [s.name, s.spec, s.timezone, s.type, s.queue, s.priority]).sort()).toEqual([
      [null, "0 4 * * *", "UTC", "cleanup", "maintenance", 0],
      [null, "@every 15m", "UTC", "report", "reports", 0],
      ["daily-report", "30 8 * * MON-FRI", "Europe/Berlin", "report", "default", 5],
    ]);
    expect(listed[0]!.nextRunAt.getTime()).toBeLessThanOrEqual(listed[1]!.nextRunAt.getTime()); // soonest first
    expect(listed.find((s) => s.id === quarter)?.nextRunAt.getTime()! % 900_000).toBe(0); // epoch-aligned

    // Declaring again changes nothing: same ids.
    const before = listed.map((s) => s.id).sort();
    await declareSchedules(prisma.$jobs);
    expect((await prisma.$jobs.listSchedules()).map((s) => s.id).sort()).toEqual(before);

    expect(await prisma.$jobs.unschedule("daily-report")).toBe(true); // by name, or by the id schedule() returned → true
    expect(await prisma.$jobs.unschedule("daily-report")).toBe(false);
    expect(await prisma.$jobs.unschedule(quarter)).toBe(true);
  });

  it("the stale-schedule cleanup example removes exactly what the app no longer declares", async () => {
    const prisma = app.prisma;
    await app.rows(`DELETE FROM arrower.schedules`);
    const gone = await prisma.$jobs.schedule("@hourly", Report({ kind: "no longer declared" }));
    await prisma.$jobs.schedule("@every 15m", Report({ kind: "quarter-hourly" }), { queue: "reports" });

    const declared = new Set([
      await prisma.$jobs.schedule("0 4 * * *", Cleanup({ olderThanDays: 30 })),
      await prisma.$jobs.schedule("@every 15m", Report({ kind: "quarter-hourly" }), { queue: "reports" }),
    ]);
    for (const s of await prisma.$jobs.listSchedules()) if (!declared.has(s.id)) await prisma.$jobs.unschedule(s.id);

    const left = await prisma.$jobs.listSchedules();
    expect(left.map((s) => s.id).sort()).toEqual([...declared].sort());
    expect(left.map((s) => s.id)).not.toContain(gone);
  });

  it("every spec in the table is accepted, the limits and the error quoted are as written", () => {
    for (const spec of [
      "0 4 * * *", "30 0 4 * * *", "*/15 9-17 * * MON-FRI", "0 0 L * *", "0 9 * * 5L", "0 9 * * 1#2",
      "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly",
      "@every 90s", "@every 1h30m", "@every 1.5h", "@every 2500ms", "@every 1s", "@every 87600h",
    ]) {
      expect(() => parseCronSpec(spec), spec).not.toThrow();
    }
    expect(() => parseCronSpec("@every 999ms")).toThrow("below the minimum of 1s");
    expect(() => parseCronSpec("@every 87601h")).toThrow("above the maximum of 87600h (ten years)");
    expect(() => parseCronSpec("H 4 * * *")).toThrow("H (hashed) values are not supported");
    expect(() => parseCronSpec("61 * * * *")).toThrow('invalid schedule "61 * * * *": minute 61 is out of range 0-59');
    expect(parseCronSpec("30 0 4 * * *").next(new Date("2026-01-10T00:00:00Z")).toISOString()).toBe("2026-01-10T04:00:30.000Z");
    expect(parseCronSpec("@every 1h", { timezone: "Asia/Kolkata" }).next(new Date("2026-01-10T12:34:56Z")).toISOString()).toBe("2026-01-10T13:00:00.000Z");
  });

  it("the daylight saving examples", () => {
    const ticks = (spec: string, timezone: string, from: string, count: number) => {
      const cron = parseCronSpec(spec, { timezone });
      const out: string[] = [];
      let after = new Date(from);
      for (let i = 0; i < count; i++) out.push((after = cron.next(after)).toISOString());
      return out;
    };
    // 0 * * * * in Europe/Berlin on 2026-03-29: 01:00 CET, then 03:00 CEST.
    expect(ticks("0 * * * *", "Europe/Berlin", "2026-03-28T23:30:00Z", 2)).toEqual(["2026-03-29T00:00:00.000Z", "2026-03-29T01:00:00.000Z"]);
    // */30 in Australia/Lord_Howe on 2026-04-05: 01:30 +11, then 01:30 +10:30 half an hour later.
    expect(ticks("*/30 * * * *", "Australia/Lord_Howe", "2026-04-04T14:15:00Z", 2)).toEqual(["2026-04-04T14:30:00.000Z", "2026-04-04T15:00:00.000Z"]);
    // 30 2 * * * in Europe/Berlin: 03:30 CEST on 2026-03-29; once, at 02:30 CEST, on 2026-10-25.
    expect(ticks("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", 1)).toEqual(["2026-03-29T01:30:00.000Z"]);
    expect(ticks("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", 2)).toEqual(["2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"]);
    // 0 2 * * * in Australia/Lord_Howe: 02:30 (+11) on 2026-10-04.
    expect(ticks("0 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00Z", 1)).toEqual(["2026-10-03T15:30:00.000Z"]);
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it("the testing example", async () => {
    // A Friday evening in Berlin: the weekday report is not due within the day, the cleanup is.
    vi.useFakeTimers({ now: new Date("2026-03-06T18:00:00Z"), toFake: ["Date"] });
    const mailer = { sent: [] as string[] };

    const jobs = createTestingJobs();
    await declareSchedules(jobs);
    expect(jobs.schedules()).toEqual([
      { id: "1", name: null, spec: "0 4 * * *", timezone: "UTC", type: "cleanup", queue: "maintenance", nextRunAt: new Date("2026-03-07T04:00:00Z") },
      { id: "2", name: "daily-report", spec: "30 8 * * MON-FRI", timezone: "Europe/Berlin", type: "report", queue: "default", nextRunAt: new Date("2026-03-09T07:30:00Z") },
    ]);
    expect(await jobs.tick(new Date(Date.now() + 86_400_000))).toHaveLength(1); // what is due a day from now → job ids
    jobs.assert().queued(Cleanup, 1);
    await registerHandlers(jobs, { mailer });
    await jobs.drain(); // runs them through the registered handlers
    expect(mailer.sent).toEqual(["cleaned 30 days"]);
  });
});
