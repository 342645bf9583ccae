import { beforeEach, describe, expect, it } from "vitest";
import { defineJob, InvalidCronError, InvalidJobError, InvalidOptionsError, InvalidPayloadError, InvalidNameError, type ScheduleInfo, type Scheduler,  } from "../../src/index.ts";
import { useTestApp } from "../helpers/app.ts";
import { CronTick } from "./fixtures/cron-jobs.ts";

const Report = defineJob<{ kind: string; at?: Date; filters?: Record<string, unknown> }>("report", { queue: "reports", priority: 3 });

interface ScheduleRow {
  id: string;
  name: string | null;
  spec: string;
  timezone: string;
  queue: string;
  type: string;
  payload: unknown;
  priority: number;
  max_attempts: number;
  timeout_ms: number;
  next_run_at: Date;
  declared_at: Date;
}

describe("schedule / unschedule / listSchedules", () => {
  const { app } = useTestApp();
  const schedules = () =>
    app.rows<ScheduleRow>(
      `SELECT id::text, name, spec, timezone, queue, type, payload, priority, max_attempts, timeout_ms, next_run_at, declared_at
       FROM arrower.schedules ORDER BY id`,
    );
  const dbNow = async () => (await app.rows<{ now: Date }>(`SELECT clock_timestamp() AS now`))[0]!.now;

  beforeEach(async () => {
    await app.rows(`DELETE FROM arrower.schedules`);
  });

  it("prisma.$jobs and tx.$jobs satisfy Scheduler", () => {
    const scheduler: Scheduler = app.prisma.$jobs;
    expect(typeof scheduler.schedule).toBe("function");
    expect(typeof scheduler.unschedule).toBe("function");
  });

  it("scheduling the same job twice: one schedule, same id, declared_at refreshed, next run untouched", async () => {
    const before = await dbNow();
    const id = await app.prisma.$jobs.schedule("0 4 * * *", Report({ kind: "daily" }));
    expect(id).toMatch(/^\d+$/);
    const [first] = await schedules();
    expect(first).toMatchObject({
      id,
      name: null,
      spec: "0 4 * * *",
      timezone: "UTC",
      queue: "reports", // the job type's defaults, resolved when scheduled
      type: "report",
      payload: { kind: "daily" },
      priority: 3,
      max_attempts: 25,
      timeout_ms: 30_000,
    });
    // The first tick after the database's now.
    const expected = new Date(before);
    expected.setUTCHours(4, 0, 0, 0);
    if (expected <= before) expected.setUTCDate(expected.getUTCDate() + 1);
    expect(first!.next_run_at).toEqual(expected);

    await new Promise((r) => setTimeout(r, 20));
    expect(await app.prisma.$jobs.schedule("0 4 * * *", Report({ kind: "daily" }))).toBe(id);
    // Whitespace in the spec does not make another schedule.
    expect(await app.prisma.$jobs.schedule("  0  4 * *   * ", Report({ kind: "daily" }))).toBe(id);
    const rows = await schedules();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.declared_at.getTime()).toBeGreaterThan(first!.declared_at.getTime());
    expect(rows[0]!.next_run_at).toEqual(first!.next_run_at);
  });

  it("payload key order does not matter, nested or with Dates; a different payload, spec, zone or type is another schedule", async () => {
    const at = new Date("2026-01-01T00:00:00Z");
    const a = await app.prisma.$jobs.schedule("@hourly", Report({ kind: "k", at, filters: { b: 1, a: { y: [1, { q: 1, p: 2 }], x: null } } }));
    const b = await app.prisma.$jobs.schedule("@hourly", Report({ filters: { a: { x: null, y: [1, { p: 2, q: 1 }] }, b: 1 }, at, kind: "k" }));
    expect(b).toBe(a);
    const others = [
      await app.prisma.$jobs.schedule("@hourly", Report({ kind: "k", at: new Date("2026-01-02T00:00:00Z") })),
      await app.prisma.$jobs.schedule("@hourly", Report({ kind: "k", filters: { b: 1, a: { y: [{ q: 1, p: 2 }, 1], x: null } }, at })), // array order counts
      await app.prisma.$jobs.schedule("@daily", Report({ kind: "k", at, filters: { b: 1, a: { y: [1, { q: 1, p: 2 }], x: null } } })),
      await app.prisma.$jobs.schedule("@hourly", Report({ kind: "k", at, filters: { b: 1, a: { y: [1, { q: 1, p: 2 }], x: null } } }), {
        timezone: "Asia/Kolkata",
      }),
      await app.prisma.$jobs.schedule("@hourly", CronTick({ label: "k" })),
      // A Date and its ISO string have the same JSON but are different payloads.
      await app.prisma.$jobs.schedule("@every 1h", Report({ kind: "k", at })),
      await app.prisma.$jobs.schedule("@every 1h", Report({ kind: "k", at: at.toISOString() as unknown as Date })),
    ];
    expect(new Set([a, ...others]).size).toBe(1 + others.length);
    expect(await app.count("schedules")).toBe(1 + others.length);
  });

  it("re-declaring an unnamed schedule updates its job options, not its timing", async () => {
    const id = await app.prisma.$jobs.schedule("@daily", Report({ kind: "opts" }));
    await app.rows(`UPDATE arrower.schedules SET next_run_at = '2020-01-01T00:00:00Z' WHERE id = $1`, [id]);
    expect(await app.prisma.$jobs.schedule("@daily", Report({ kind: "opts" }), { queue: "elsewhere", priority: -1, maxAttempts: 2, timeout: 5_000 })).toBe(id);
    expect((await schedules())[0]).toMatchObject({ queue: "elsewhere", priority: -1, max_attempts: 2, timeout_ms: 5_000, next_run_at: new Date("2020-01-01T00:00:00Z") });
  });

  it("with a name: scheduling the name again replaces spec, zone, payload and options, and recomputes the next run", async () => {
    const id = await app.prisma.$jobs.schedule("0 0 1 1 *", Report({ kind: "v1" }), { name: "the-report" });
    const [v1] = await schedules();
    expect(v1).toMatchObject({ id, name: "the-report", spec: "0 0 1 1 *" });

    const before = await dbNow();
    const again = await app.prisma.$jobs.schedule("@every 1s", CronTick({ label: "v2" }), { name: "the-report", timezone: "Europe/Berlin", priority: 7 });
    expect(again).toBe(id);
    const rows = await schedules();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      id,
      name: "the-report",
      spec: "@every 1s",
      timezone: "Europe/Berlin",
      type: "cron-tick",
      queue: "cron",
      payload: { label: "v2" },
      priority: 7,
    });
    const next = rows[0]!.next_run_at.getTime();
    expect(next).toBeGreaterThan(before.getTime());
    expect(next).toBeLessThanOrEqual(before.getTime() + 2_000);
    expect(next % 1000).toBe(0);
  });

  it("a named schedule declared again with the same spec keeps an overdue next run (its catch-up tick)", async () => {
    const id = await app.prisma.$jobs.schedule("@hourly", Report({ kind: "boot" }), { name: "boot-declared" });
    await app.rows(`UPDATE arrower.schedules SET next_run_at = '2020-01-01T00:00:00Z' WHERE id = $1`, [id]);
    expect(await app.prisma.$jobs.schedule("@hourly", Report({ kind: "boot, edited payload" }), { name: "boot-declared" })).toBe(id);
    expect((await schedules())[0]).toMatchObject({ payload: { kind: "boot, edited payload" }, next_run_at: new Date("2020-01-01T00:00:00Z") });
  });

  it("a named and an unnamed schedule of the same job are two schedules", async () => {
    const unnamed = await app.prisma.$jobs.schedule("@hourly", Report({ kind: "x" }));
    const named = await app.prisma.$jobs.schedule("@hourly", Report({ kind: "x" }), { name: "x" });
    expect(named).not.toBe(unnamed);
    expect(await app.count("schedules")).toBe(2);
  });

  it("unschedule by id and by name; unknown ones report false", async () => {
    const byId = await app.prisma.$jobs.schedule("@hourly", Report({ kind: "by-id" }));
    const byName = await app.prisma.$jobs.schedule("@hourly", Report({ kind: "by-name" }), { name: "nightly" });
    const kept = await app.prisma.$jobs.schedule("@daily", Report({ kind: "kept" }), { name: "kept" });

    expect(await app.prisma.$jobs.unschedule(byId)).toBe(true);
    expect(await app.prisma.$jobs.unschedule(byId)).toBe(false);
    expect(await app.prisma.$jobs.unschedule("nightly")).toBe(true);
    expect(await app.prisma.$jobs.unschedule("nightly")).toBe(false);
    expect(await app.prisma.$jobs.unschedule(byName)).toBe(false);
    expect(await app.prisma.$jobs.unschedule("no-such-schedule")).toBe(false);
    expect(await app.prisma.$jobs.unschedule("99999999999999999999")).toBe(false); // beyond bigint: a name, not an error
    expect((await schedules()).map((s) => s.id)).toEqual([kept]);
    await expect(app.prisma.$jobs.unschedule("" as string)).rejects.toBeInstanceOf(InvalidOptionsError);
    await expect(app.prisma.$jobs.unschedule(42 as unknown as string)).rejects.toBeInstanceOf(InvalidOptionsError);
  });

  it("invalid specs, zones and durations raise InvalidCronError quoting the spec, and store nothing", async () => {
    const cases: Array<[string, string | undefined, string]> = [
      ["", undefined, "empty"],
      ["61 * * * *", undefined, "minute 61 is out of range"],
      ["* * * *", undefined, "expected 5 fields"],
      ["0 0 30 2 *", undefined, "never fires"],
      ["@every", undefined, "needs a duration"],
      ["@every 500ms", undefined, "below the minimum"],
      ["@every 2d", undefined, 'unit "d"'],
      ["@every -5s", undefined, "sign"],
      ["@every 2500000000h", undefined, "above the maximum of 87600h"],
      ["@every 1e30s", undefined, 'unknown unit "e"'],
      ["@every 0.5s", undefined, "below the minimum of 1s"],
      ["60 * * * * *", undefined, "second 60 is out of range 0-59"],
      ["@fortnightly", undefined, "unknown macro"],
      ["H * * * *", undefined, "H (hashed)"],
      ["0 4 * * *", "Mars/Olympus_Mons", "unknown time zone"],
    ];
    for (const [spec, timezone, fragment] of cases) {
      const options = timezone === undefined ? {} : { timezone };
      const error = await app.prisma.$jobs.schedule(spec, Report({ kind: "bad" }), options).catch((e: unknown) => e);
      expect(error, spec).toBeInstanceOf(InvalidCronError);
      expect((error as InvalidCronError).code).toBe("INVALID_CRON");
      expect((error as Error).message).toContain(`"${spec}"`);
      expect((error as Error).message).toContain(fragment);
    }
    await expect(app.prisma.$jobs.schedule(undefined as unknown as string, Report({ kind: "bad" }))).rejects.toBeInstanceOf(InvalidCronError);
    expect(await app.count("schedules")).toBe(0);
  });

  it("bad jobs, payloads and options are rejected before anything is stored", async () => {
    const rejects = async (promise: Promise<unknown>, type: new (...args: never[]) => Error, fragment: string) => {
      const error = await promise.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(type);
      expect((error as Error).message).toContain(fragment);
    };
    const job = Report({ kind: "x" });
    await rejects(app.prisma.$jobs.schedule("@daily", job, { timeZone: "UTC" } as never), InvalidOptionsError, 'did you mean "timezone"?');
    await rejects(app.prisma.$jobs.schedule("@daily", job, { prority: 1 } as never), InvalidOptionsError, 'did you mean "priority"?');
    await rejects(app.prisma.$jobs.schedule("@daily", job, { runAt: new Date() } as never), InvalidOptionsError, 'unknown option "runAt"');
    await rejects(app.prisma.$jobs.schedule("@daily", job, { priority: 1.5 }), InvalidOptionsError, "priority must be an integer");
    await rejects(app.prisma.$jobs.schedule("@daily", job, { maxAttempts: 0 }), InvalidOptionsError, "maxAttempts must be between");
    await rejects(app.prisma.$jobs.schedule("@daily", job, { queue: "" }), InvalidNameError, "queue name must not be empty");
    await rejects(app.prisma.$jobs.schedule("@daily", job, { name: "" }), InvalidOptionsError, "name must not be empty");
    await rejects(app.prisma.$jobs.schedule("@daily", job, { name: "123" }), InvalidOptionsError, "only digits");
    await rejects(app.prisma.$jobs.schedule("@daily", job, { name: "a\nb" }), InvalidOptionsError, "control character");
    await rejects(app.prisma.$jobs.schedule("@daily", job, "daily" as never), InvalidOptionsError, "must be an object");
    await rejects(app.prisma.$jobs.schedule("@daily", Report as never), InvalidJobError, "call it with a payload");
    await rejects(app.prisma.$jobs.schedule("@daily", [job] as never), InvalidJobError, "one job");
    await rejects(app.prisma.$jobs.schedule("@daily", Report({ kind: "x\u0000y" })), InvalidPayloadError, "\\u0000");
    await rejects(app.prisma.$jobs.schedule("@daily", Report({ kind: "f", filters: { f: () => 1 } })), InvalidPayloadError, "function");
    expect(await app.count("schedules")).toBe(0);
  });

  it("tx.$jobs.schedule commits and rolls back with the transaction", async () => {
    await app.prisma
      .$transaction(async (tx) => {
        await tx.$jobs.schedule("@daily", Report({ kind: "rolled back" }));
        expect(await app.count("schedules")).toBe(0); // not visible outside yet
        throw new Error("roll back");
      })
      .catch(() => undefined);
    expect(await app.count("schedules")).toBe(0);
    const id = await app.prisma.$transaction((tx) => tx.$jobs.schedule("@daily", Report({ kind: "committed" })));
    expect((await schedules()).map((s) => s.id)).toEqual([id]);
  });

  it("listSchedules returns every schedule with its decoded payload and times", async () => {
    const at = new Date("2026-03-04T05:06:07.089Z");
    const a = await app.prisma.$jobs.schedule("@every 90s", Report({ kind: "listed", at, filters: { set: new Set([1, 2]) } }), {
      name: "listed",
      timezone: "America/New_York",
      maxAttempts: 4,
      timeout: 1_000,
    });
    const b = await app.prisma.$jobs.schedule("0 0 1 1 *", CronTick({ label: "yearly" }));
    await app.rows(`UPDATE arrower.schedules SET last_run_at = '2025-01-01T00:00:00Z' WHERE id = $1`, [b]);
    const list: ScheduleInfo[] = await app.prisma.$jobs.listSchedules();
    expect(list.map((s) => s.id)).toEqual([a, b]); // soonest first
    expect(list[0]).toMatchObject({
      id: a,
      name: "listed",
      spec: "@every 90s",
      timezone: "America/New_York",
      queue: "reports",
      type: "report",
      payload: { kind: "listed", at, filters: { set: new Set([1, 2]) } },
      priority: 3,
      maxAttempts: 4,
      timeout: 1_000,
      lastRunAt: null,
    });
    expect(list[0]!.nextRunAt).toBeInstanceOf(Date);
    expect(list[0]!.nextRunAt.getTime() % 90_000).toBe(0);
    expect(list[0]!.declaredAt).toBeInstanceOf(Date);
    expect(list[0]!.createdAt).toBeInstanceOf(Date);
    expect(list[1]).toMatchObject({ id: b, name: null, lastRunAt: new Date("2025-01-01T00:00:00Z"), payload: { label: "yearly" } });
  });
});
