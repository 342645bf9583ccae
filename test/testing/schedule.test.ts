import { afterEach, describe, expect, it, vi } from "vitest";
import { defineJob, InvalidCronError } from "../../src/index.ts";
import { createTestingJobs } from "../../src/testing.ts";

const Cleanup = defineJob<{ olderThanDays: number }>("cleanup", { queue: "maintenance" });

describe("testing queue: schedules", () => {
  it("validates like the real queue and keeps one schedule per identity", async () => {
    const jobs = createTestingJobs();
    await expect(jobs.schedule("61 * * * *", Cleanup({ olderThanDays: 1 }))).rejects.toBeInstanceOf(InvalidCronError);
    await expect(jobs.schedule("@every 2500000000h", Cleanup({ olderThanDays: 1 }))).rejects.toThrow(/above the maximum of 87600h/);
    const a = await jobs.schedule("0 4 * * *", Cleanup({ olderThanDays: 30 }));
    const b = await jobs.schedule("0  4 * * *", Cleanup({ olderThanDays: 30 }));
    expect(b).toBe(a);
    const named = await jobs.schedule("@hourly", Cleanup({ olderThanDays: 1 }), { name: "hourly" });
    expect(await jobs.schedule("@daily", Cleanup({ olderThanDays: 2 }), { name: "hourly" })).toBe(named);
    expect(jobs.schedules().map((s) => s.spec).sort()).toEqual(["0 4 * * *", "@daily"]);
    expect(await jobs.unschedule("hourly")).toBe(true);
    expect(await jobs.unschedule("hourly")).toBe(false);
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it("tick() enqueues one job per due schedule, catch-up included", async () => {
    // "@every 1h" ticks on the hour: a fixed clock at half past keeps "a minute later" before the
    // next tick whatever the time of day the suite runs at (it failed in CI at 11:59).
    vi.useFakeTimers({ now: new Date("2026-03-01T10:30:00Z"), toFake: ["Date"] });
    const jobs = createTestingJobs();
    await jobs.schedule("@every 1h", Cleanup({ olderThanDays: 7 }));
    expect(await jobs.tick(new Date(Date.now() + 60_000))).toEqual([]);
    const later = new Date(Date.now() + 5 * 3_600_000);
    expect(await jobs.tick(later)).toHaveLength(1); // five missed hours: one catch-up job
    expect(await jobs.tick(later)).toEqual([]);
    jobs.assert().queued(Cleanup, 1);
    expect(jobs.all()[0]).toMatchObject({ queue: "maintenance", payload: { olderThanDays: 7 } });
  });
});
