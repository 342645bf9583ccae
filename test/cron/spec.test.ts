import { describe, it, expect } from "vitest";
import { InvalidCronError } from "../../src/errors.ts";
import { MAX_EVERY_MS, MAX_SPEC_LENGTH, MIN_EVERY_MS, parseCronSpec, parseDuration } from "../../src/cron/spec.ts";

const at = (iso: string): Date => new Date(iso);
const iso = (date: Date): string => date.toISOString();

/** The next `count` ticks, each computed from the one before, as the scheduler does. */
function chain(spec: string, timezone: string, from: string, count: number): string[] {
  const cron = parseCronSpec(spec, { timezone });
  const ticks: string[] = [];
  let after = at(from);
  for (let i = 0; i < count; i++) {
    after = cron.next(after);
    ticks.push(iso(after));
  }
  return ticks;
}

function expectInvalid(run: () => unknown, fragment: string, spec?: string): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(InvalidCronError);
  const error = caught as InvalidCronError;
  expect(error.code).toBe("INVALID_CRON");
  expect(error.message).toContain(fragment);
  if (spec !== undefined) {
    expect(error.spec).toBe(spec);
    expect(error.message).toContain(`"${spec}"`);
  }
}

const localFormats = new Map<string, Intl.DateTimeFormat>();

/** `instant` read in `timezone`: "2026-10-04 02:30 GMT+11". */
function localTime(instant: string, timezone: string): string {
  let format = localFormats.get(timezone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-GB", {
      timeZone: timezone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      timeZoneName: "short",
    });
    localFormats.set(timezone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(new Date(instant)).map((part) => [part.type, part.value]));
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${parts.timeZoneName}`;
}

// A Saturday.
const SATURDAY_NOON = "2026-01-10T12:34:56Z";

describe("parseCronSpec: crontab", () => {
  it("keeps the trimmed spec and defaults the zone to UTC", () => {
    const cron = parseCronSpec("  0 4 * * *\t");
    expect(cron.spec).toBe("0 4 * * *");
    expect(cron.timezone).toBe("UTC");
    expect(parseCronSpec("0 4 * * *", { timezone: "Europe/Berlin" }).timezone).toBe("Europe/Berlin");
  });

  it("computes 5-field ticks strictly after the given instant", () => {
    const cron = parseCronSpec("0 9 * * *");
    expect(iso(cron.next(at("2026-01-10T08:59:59.999Z")))).toBe("2026-01-10T09:00:00.000Z");
    expect(iso(cron.next(at("2026-01-10T09:00:00.000Z")))).toBe("2026-01-11T09:00:00.000Z");
    expect(iso(cron.next(at("2026-01-10T09:00:00.001Z")))).toBe("2026-01-11T09:00:00.000Z");
  });

  it("accepts lists, ranges, steps, names, L and #", () => {
    expect(chain("*/15 * * * *", "UTC", SATURDAY_NOON, 2)).toEqual(["2026-01-10T12:45:00.000Z", "2026-01-10T13:00:00.000Z"]);
    expect(chain("0 9 * * MON-FRI", "UTC", SATURDAY_NOON, 2)).toEqual(["2026-01-12T09:00:00.000Z", "2026-01-13T09:00:00.000Z"]);
    expect(chain("0 0 1 jan,jul *", "UTC", SATURDAY_NOON, 2)).toEqual(["2026-07-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z"]);
    expect(chain("0 0 L * *", "UTC", SATURDAY_NOON, 2)).toEqual(["2026-01-31T00:00:00.000Z", "2026-02-28T00:00:00.000Z"]);
    expect(chain("0 0 * * 5L", "UTC", SATURDAY_NOON, 1)).toEqual(["2026-01-30T00:00:00.000Z"]);
    expect(chain("0 0 * * 1#2", "UTC", SATURDAY_NOON, 1)).toEqual(["2026-01-12T00:00:00.000Z"]);
    expect(chain("0 0 * * 7", "UTC", SATURDAY_NOON, 1)).toEqual(["2026-01-11T00:00:00.000Z"]);
    expect(chain("5-10/5,30 * * * *", "UTC", SATURDAY_NOON, 3)).toEqual([
      "2026-01-10T13:05:00.000Z",
      "2026-01-10T13:10:00.000Z",
      "2026-01-10T13:30:00.000Z",
    ]);
  });

  it("fires on either day when both day-of-month and weekday are restricted (Vixie cron)", () => {
    // The 13th, or any Friday.
    expect(chain("0 0 13 * 5", "UTC", SATURDAY_NOON, 3)).toEqual([
      "2026-01-13T00:00:00.000Z",
      "2026-01-16T00:00:00.000Z",
      "2026-01-23T00:00:00.000Z",
    ]);
  });

  it("finds rare ticks (29 February)", () => {
    expect(chain("0 0 29 2 *", "UTC", SATURDAY_NOON, 2)).toEqual(["2028-02-29T00:00:00.000Z", "2032-02-29T00:00:00.000Z"]);
  });

  it("reads 6 fields with seconds first", () => {
    expect(chain("*/20 * * * * *", "UTC", SATURDAY_NOON, 3)).toEqual([
      "2026-01-10T12:35:00.000Z",
      "2026-01-10T12:35:20.000Z",
      "2026-01-10T12:35:40.000Z",
    ]);
    expect(chain("30 0 9 * * *", "UTC", SATURDAY_NOON, 1)).toEqual(["2026-01-11T09:00:30.000Z"]);
    const everySecond = parseCronSpec("* * * * * *");
    expect(iso(everySecond.next(at("2026-01-10T12:34:56.500Z")))).toBe("2026-01-10T12:34:57.000Z");
    expect(iso(everySecond.next(at("2026-01-10T12:34:56.000Z")))).toBe("2026-01-10T12:34:57.000Z");
  });

  it("is deterministic: the same input gives the same tick, whatever was asked before", () => {
    const a = parseCronSpec("7 */3 * * *", { timezone: "Europe/Berlin" });
    const b = parseCronSpec("7 */3 * * *", { timezone: "Europe/Berlin" });
    const after = at("2026-05-05T05:05:05Z");
    a.next(at("2030-01-01T00:00:00Z"));
    expect(iso(a.next(after))).toBe(iso(b.next(after)));
    expect(iso(a.next(after))).toBe(iso(a.next(after)));
  });

  it("rejects an invalid Date passed to next", () => {
    expect(() => parseCronSpec("* * * * *").next(new Date(Number.NaN))).toThrow(RangeError);
    expect(() => parseCronSpec("@every 1s").next(new Date(Number.NaN))).toThrow(RangeError);
  });

  it("returns frozen specs", () => {
    expect(Object.isFrozen(parseCronSpec("@daily"))).toBe(true);
    expect(Object.isFrozen(parseCronSpec("@every 1m"))).toBe(true);
  });
});

describe("parseCronSpec: macros", () => {
  const cases: Array<[string, string]> = [
    ["@yearly", "2027-01-01T00:00:00.000Z"],
    ["@annually", "2027-01-01T00:00:00.000Z"],
    ["@monthly", "2026-02-01T00:00:00.000Z"],
    ["@weekly", "2026-01-11T00:00:00.000Z"], // Sunday
    ["@daily", "2026-01-11T00:00:00.000Z"],
    ["@midnight", "2026-01-11T00:00:00.000Z"],
    ["@hourly", "2026-01-10T13:00:00.000Z"],
  ];
  it.each(cases)("%s", (spec, expected) => {
    expect(iso(parseCronSpec(spec).next(at(SATURDAY_NOON)))).toBe(expected);
  });

  it("reads midnight in the schedule's time zone", () => {
    expect(chain("@daily", "Europe/Berlin", SATURDAY_NOON, 1)).toEqual(["2026-01-10T23:00:00.000Z"]);
    expect(chain("@weekly", "America/New_York", SATURDAY_NOON, 1)).toEqual(["2026-01-11T05:00:00.000Z"]);
  });
});

describe("parseCronSpec: @every", () => {
  it("aligns ticks to multiples of the interval since the Unix epoch", () => {
    expect(iso(parseCronSpec("@every 90s").next(new Date(100_000)))).toBe("1970-01-01T00:03:00.000Z");
    expect(chain("@every 1h", "UTC", SATURDAY_NOON, 2)).toEqual(["2026-01-10T13:00:00.000Z", "2026-01-10T14:00:00.000Z"]);
    expect(chain("@every 1.5h", "UTC", SATURDAY_NOON, 2)).toEqual(["2026-01-10T13:30:00.000Z", "2026-01-10T15:00:00.000Z"]);
    expect(chain("@every 1h30m", "UTC", SATURDAY_NOON, 1)).toEqual(["2026-01-10T13:30:00.000Z"]);
    expect(chain("@every 1m30s", "UTC", SATURDAY_NOON, 2)).toEqual(["2026-01-10T12:36:00.000Z", "2026-01-10T12:37:30.000Z"]);
    expect(chain("@every 1s", "UTC", "2026-01-10T12:34:56.001Z", 2)).toEqual(["2026-01-10T12:34:57.000Z", "2026-01-10T12:34:58.000Z"]);
    expect(chain("@every 2h", "UTC", SATURDAY_NOON, 1)).toEqual(["2026-01-10T14:00:00.000Z"]);
  });

  it("gives every process the same ticks, whenever it started", () => {
    const interval = 7_000;
    const cron = parseCronSpec("@every 7s");
    for (const after of [0, 1, 6_999, 7_000, 1_768_048_496_123, -1, -7_000, -7_001]) {
      const tick = cron.next(new Date(after)).getTime();
      expect(tick).toBeGreaterThan(after);
      expect(tick - after).toBeLessThanOrEqual(interval);
      expect(tick % interval === 0).toBe(true);
    }
    expect(cron.next(new Date(7_000)).getTime()).toBe(14_000);
    expect(cron.next(new Date(-7_000)).getTime()).toBe(0);
  });

  it("ignores the time zone, which is still validated", () => {
    // Asia/Kolkata is UTC+5:30: zone-aligned hourly ticks would fall on :30.
    expect(chain("@every 1h", "Asia/Kolkata", SATURDAY_NOON, 1)).toEqual(["2026-01-10T13:00:00.000Z"]);
    expect(parseCronSpec("@every 1h", { timezone: "Asia/Kolkata" }).timezone).toBe("Asia/Kolkata");
    expectInvalid(() => parseCronSpec("@every 1h", { timezone: "Nowhere/Special" }), 'unknown time zone "Nowhere/Special"');
  });

  it("accepts the minimum interval", () => {
    expect(MIN_EVERY_MS).toBe(1000);
    expect(() => parseCronSpec("@every 1000ms")).not.toThrow();
    expect(() => parseCronSpec("@every 0.001m")).toThrow(InvalidCronError); // 60 ms
  });

  it("accepts the maximum interval, 87600h (ten years of 365 days), and computes its ticks", () => {
    expect(MAX_EVERY_MS).toBe(87_600 * 3_600_000);
    expect(iso(parseCronSpec("@every 87600h").next(at(SATURDAY_NOON)))).toBe("2029-12-17T00:00:00.000Z");
    expect(iso(parseCronSpec("@every 8760h").next(at(SATURDAY_NOON)))).toBe("2026-12-18T00:00:00.000Z");
  });

  it.each([
    ["@every 2500000000h", "interval 2500000000h is above the maximum of 87600h (ten years)"],
    ["@every 87600h1ms", "interval 87600h1ms is above the maximum of 87600h"],
    ["@every 9007199254740991ms", "is above the maximum of 87600h"],
    ["@every 99999999999999999999999999h", "is above the maximum of 87600h"],
    ["@every 1e30s", 'unknown unit "e"'],
    ["@every 0.5s", "interval 0.5s is below the minimum of 1s"],
    ["@every -1h", "has a sign"],
    ["@every Infinitys", 'cannot read "Infinitys" as a duration'],
  ])("rejects %j with InvalidCronError, never a RangeError", (spec, fragment) => {
    expectInvalid(() => parseCronSpec(spec), fragment, spec);
  });
});

describe("parseDuration", () => {
  it.each([
    ["90s", 90_000],
    ["1h30m", 5_400_000],
    ["500ms", 500],
    ["2h", 7_200_000],
    ["1m30s", 90_000],
    ["1.5h", 5_400_000],
    ["0.1h", 360_000],
    [".5s", 500],
    ["1h1h", 7_200_000],
    ["1s500ms", 1_500],
    ["0s", 0],
  ])("%s = %i ms", (text, ms) => {
    expect(parseDuration(text, `@every ${text}`)).toBe(ms);
  });

  it.each([
    ["", "got nothing"],
    ["90", 'missing unit after "90"'],
    ["2d", "use h (1d = 24h)"],
    ["1w", "1w = 168h"],
    ["10us", "finer than a schedule can use"],
    ["1H", 'must be lower-case: "h"'],
    ["5x", 'unknown unit "x"'],
    ["-1s", "has a sign"],
    ["1.0001s", "not a whole number of milliseconds"],
    ["abc", 'cannot read "abc" as a duration'],
    ["99999999999999999999h", "is above the maximum of 87600h (ten years)"],
  ])("rejects %j", (text, fragment) => {
    expectInvalid(() => parseDuration(text, `@every ${text}`), fragment, `@every ${text}`);
  });
});

describe("parseCronSpec: time zones", () => {
  it("reads America/New_York 9:00 as 14:00Z in winter and 13:00Z in summer", () => {
    expect(chain("0 9 * * *", "America/New_York", "2026-01-10T00:00:00Z", 1)).toEqual(["2026-01-10T14:00:00.000Z"]);
    expect(chain("0 9 * * *", "America/New_York", "2026-07-10T00:00:00Z", 1)).toEqual(["2026-07-10T13:00:00.000Z"]);
    // Across the US spring-forward (2026-03-08) the UTC time moves by an hour.
    expect(chain("0 9 * * *", "America/New_York", "2026-03-07T00:00:00Z", 2)).toEqual([
      "2026-03-07T14:00:00.000Z",
      "2026-03-08T13:00:00.000Z",
    ]);
  });

  it("reads 6-field specs in the zone too", () => {
    expect(chain("15 30 9 * * *", "Asia/Kolkata", SATURDAY_NOON, 1)).toEqual(["2026-01-11T04:00:15.000Z"]);
  });
});

describe("parseCronSpec: daylight saving in Europe/Berlin", () => {
  // 2026-03-29: 02:00 CET (01:00Z) jumps to 03:00 CEST. 2026-10-25: 03:00 CEST (01:00Z) goes back to 02:00 CET.

  it("fires a skipped wall-clock time once, shifted by the gap (spring forward)", () => {
    expect(chain("30 2 * * *", "Europe/Berlin", "2026-03-27T12:00:00Z", 3)).toEqual([
      "2026-03-28T01:30:00.000Z", // 02:30 CET
      "2026-03-29T01:30:00.000Z", // 03:30 CEST: 02:30 does not exist that day
      "2026-03-30T00:30:00.000Z", // 02:30 CEST
    ]);
    // Asked between the jump and the shifted tick (03:00 CEST): still the shifted tick, whoever
    // asks (a scheduler catching up asks from "now", not from the previous tick).
    expect(iso(parseCronSpec("30 2 * * *", { timezone: "Europe/Berlin" }).next(at("2026-03-29T01:00:00Z")))).toBe(
      "2026-03-29T01:30:00.000Z",
    );
  });

  it("skips the missing hour for hourly specs (spring forward)", () => {
    expect(chain("0 * * * *", "Europe/Berlin", "2026-03-28T23:30:00Z", 3)).toEqual([
      "2026-03-29T00:00:00.000Z", // 01:00 CET
      "2026-03-29T01:00:00.000Z", // 03:00 CEST
      "2026-03-29T02:00:00.000Z", // 04:00 CEST
    ]);
  });

  it("fires a repeated wall-clock time once, at its first occurrence (fall back)", () => {
    expect(chain("30 2 * * *", "Europe/Berlin", "2026-10-23T12:00:00Z", 3)).toEqual([
      "2026-10-24T00:30:00.000Z", // 02:30 CEST
      "2026-10-25T00:30:00.000Z", // 02:30 CEST, not again at 02:30 CET (01:30Z)
      "2026-10-26T01:30:00.000Z", // 02:30 CET
    ]);
    // Asked from inside the second pass, before its 02:30: the next day's, as 02:30 already
    // fired in the first pass (a scheduler catching up from "now" must not fire it twice).
    expect(iso(parseCronSpec("30 2 * * *", { timezone: "Europe/Berlin" }).next(at("2026-10-25T01:15:00Z")))).toBe(
      "2026-10-26T01:30:00.000Z",
    );
  });

  it("gives hourly specs distinct, increasing ticks through the repeated hour (fall back)", () => {
    const ticks = chain("0 * * * *", "Europe/Berlin", "2026-10-24T22:30:00Z", 5);
    expect(ticks).toEqual([
      "2026-10-24T23:00:00.000Z", // 01:00 CEST
      "2026-10-25T00:00:00.000Z", // 02:00 CEST
      "2026-10-25T01:00:00.000Z", // 02:00 CET
      "2026-10-25T02:00:00.000Z", // 03:00 CET
      "2026-10-25T03:00:00.000Z", // 04:00 CET
    ]);
    expect(new Set(ticks).size).toBe(ticks.length);
  });

  it("steps sub-hourly specs evenly through both transitions", () => {
    for (const [from, to] of [
      ["2026-03-28T22:00:00Z", "2026-03-29T04:00:00Z"],
      ["2026-10-24T22:00:00Z", "2026-10-25T04:00:00Z"],
    ] as const) {
      const ticks = chain("*/20 * * * *", "Europe/Berlin", from, 18).map((t) => Date.parse(t));
      ticks.forEach((tick, i) => expect(tick).toBe(Date.parse(from) + (i + 1) * 20 * 60_000));
      expect(ticks.at(-1)).toBe(Date.parse(to));
    }
  });
});

describe("parseCronSpec: daylight saving in Australia/Lord_Howe (30-minute shifts)", () => {
  // Lord Howe Island moves its clocks by 30 minutes. 2026-10-04 (first Sunday of October):
  // 02:00 +10:30 (15:30Z on the 3rd) becomes 02:30 +11, so 02:00-02:29 do not exist that day.
  // 2026-04-05 (first Sunday of April): 02:00 +11 (15:00Z on the 4th) becomes 01:30 +10:30, so
  // 01:30-01:59 happen twice.
  const LORD_HOWE = "Australia/Lord_Howe";

  it("has the transitions this suite is written against", () => {
    expect(localTime("2026-10-03T15:29:00Z", LORD_HOWE)).toBe("2026-10-04 01:59 GMT+10:30");
    expect(localTime("2026-10-03T15:30:00Z", LORD_HOWE)).toBe("2026-10-04 02:30 GMT+11");
    expect(localTime("2026-04-04T14:59:00Z", LORD_HOWE)).toBe("2026-04-05 01:59 GMT+11");
    expect(localTime("2026-04-04T15:00:00Z", LORD_HOWE)).toBe("2026-04-05 01:30 GMT+10:30");
  });

  it("fires */30 at the real 02:30 on the spring-forward day, once", () => {
    expect(chain("*/30 * * * *", LORD_HOWE, "2026-10-03T14:00:00Z", 4)).toEqual([
      "2026-10-03T14:30:00.000Z", // 01:00 +10:30
      "2026-10-03T15:00:00.000Z", // 01:30 +10:30
      "2026-10-03T15:30:00.000Z", // 02:30 +11 (02:00 does not exist)
      "2026-10-03T16:00:00.000Z", // 03:00 +11
    ]);
  });

  it("fires */30 at both 01:30s on the fall-back day", () => {
    expect(chain("*/30 * * * *", LORD_HOWE, "2026-04-04T13:30:00Z", 5)).toEqual([
      "2026-04-04T14:00:00.000Z", // 01:00 +11
      "2026-04-04T14:30:00.000Z", // 01:30 +11
      "2026-04-04T15:00:00.000Z", // 01:30 +10:30, the second pass
      "2026-04-04T15:30:00.000Z", // 02:00 +10:30
      "2026-04-04T16:00:00.000Z", // 02:30 +10:30
    ]);
  });

  it("fires fixed times once: a skipped one shifted by the gap, a repeated one at its first occurrence", () => {
    expect(chain("0 2 * * *", LORD_HOWE, "2026-10-02T12:00:00Z", 3)).toEqual([
      "2026-10-02T15:30:00.000Z", // 02:00 +10:30
      "2026-10-03T15:30:00.000Z", // 02:30 +11: 02:00 does not exist that day
      "2026-10-04T15:00:00.000Z", // 02:00 +11
    ]);
    expect(chain("30 1 * * *", LORD_HOWE, "2026-04-03T12:00:00Z", 3)).toEqual([
      "2026-04-03T14:30:00.000Z", // 01:30 +11
      "2026-04-04T14:30:00.000Z", // 01:30 +11, not again at 01:30 +10:30 (15:00Z)
      "2026-04-05T15:00:00.000Z", // 01:30 +10:30
    ]);
  });

  it("gives every-hour specs exactly the real instants whose wall-clock time matches", () => {
    // Brute force: every minute of the transition days, read in the zone.
    const windows: Array<[string, string]> = [
      [LORD_HOWE, "2026-10-03T06:00:00Z"],
      [LORD_HOWE, "2026-04-04T06:00:00Z"],
      ["Pacific/Chatham", "2026-09-26T06:00:00Z"],
      ["Pacific/Chatham", "2026-04-04T06:00:00Z"],
      ["Europe/Berlin", "2026-03-28T18:00:00Z"],
      ["Europe/Berlin", "2026-10-24T18:00:00Z"],
      ["America/New_York", "2026-03-08T00:00:00Z"],
      ["America/New_York", "2026-11-01T00:00:00Z"],
    ];
    const specs: Array<[string, (minute: number) => boolean]> = [
      ["*/30 * * * *", (m) => m % 30 === 0],
      ["*/15 * * * *", (m) => m % 15 === 0],
      ["0 * * * *", (m) => m === 0],
      ["45 * * * *", (m) => m === 45],
    ];
    for (const [timezone, start] of windows) {
      for (const [spec, matches] of specs) {
        const begin = Date.parse(start);
        const expected: string[] = [];
        for (let t = begin + 60_000; t <= begin + 16 * 3_600_000; t += 60_000) {
          if (matches(Number(localTime(new Date(t).toISOString(), timezone).slice(14, 16)))) expected.push(iso(new Date(t)));
        }
        const ticks = chain(spec, timezone, start, expected.length);
        expect({ timezone, spec, ticks }).toEqual({ timezone, spec, ticks: expected });
      }
    }
  });
});

describe("parseCronSpec: next() is the successor in one fixed set of ticks", () => {
  it("returns the same tick from any instant between two ticks, across DST transitions", () => {
    const windows: Array<[string, string]> = [
      ["Australia/Lord_Howe", "2026-10-03T10:00:00Z"],
      ["Australia/Lord_Howe", "2026-04-04T10:00:00Z"],
      ["Europe/Berlin", "2026-03-28T20:00:00Z"],
      ["Europe/Berlin", "2026-10-24T20:00:00Z"],
      ["America/New_York", "2026-03-08T02:00:00Z"],
      ["America/New_York", "2026-11-01T01:00:00Z"],
    ];
    for (const [timezone, start] of windows) {
      for (const spec of ["*/30 * * * *", "0 2 * * *", "30 2 * * *", "30 1 * * *", "0 */2 * * *", "15 30 1 * * *"]) {
        const cron = parseCronSpec(spec, { timezone });
        const begin = Date.parse(start);
        const ticks = chain(spec, timezone, start, 3).map((t) => Date.parse(t));
        let previous = begin;
        for (const tick of ticks) {
          const probes = [previous, previous + 1, tick - 60_000, tick - 1];
          for (let after = previous; after < tick; after += 17 * 60_000 + 7) probes.push(after);
          for (const after of probes.filter((probe) => probe >= previous && probe < tick)) {
            expect({ timezone, spec, after: iso(new Date(after)), next: iso(cron.next(new Date(after))) }).toEqual({
              timezone,
              spec,
              after: iso(new Date(after)),
              next: iso(new Date(tick)),
            });
          }
          previous = tick;
        }
      }
    }
  });
});

describe("parseCronSpec: zones where cron-parser stumbles", () => {
  // Australia/Lord_Howe shifts by 30 minutes (2026-04-05 02:00 +11 → 01:30 +10:30, at 15:00Z);
  // Pacific/Chatham runs at +12:45/+13:45. cron-parser returns times before `after` here.
  it("still returns the first matching time strictly after `after`", () => {
    const hourly = parseCronSpec("0 * * * *", { timezone: "Australia/Lord_Howe" });
    // 01:01 +11; local 02:00 first exists at 15:30Z (02:00 +10:30).
    expect(iso(hourly.next(at("2026-04-04T14:01:16.440Z")))).toBe("2026-04-04T15:30:00.000Z");
  });

  it("recovers when cron-parser gives up (loop limit) near a transition", () => {
    // cron-parser throws here after ~1 s of searching; 02:00 local next exists at 15:30Z.
    const twoHourly = parseCronSpec("0 */2 * * *", { timezone: "Australia/Lord_Howe" });
    expect(iso(twoHourly.next(at("2026-04-04T13:05:00Z")))).toBe("2026-04-04T15:30:00.000Z");
  });

  it("keeps ticks strictly after `after` and increasing across both transitions", () => {
    const windows: Array<[string, string]> = [
      ["Australia/Lord_Howe", "2026-04-04T12:00:00Z"],
      ["Australia/Lord_Howe", "2026-10-03T13:00:00Z"],
      ["Pacific/Chatham", "2026-04-04T11:00:00Z"],
      ["Pacific/Chatham", "2026-09-26T12:00:00Z"],
    ];
    for (const [timezone, start] of windows) {
      for (const spec of ["0 * * * *", "*/20 * * * *", "30 2 * * *", "0 30 * * * *"]) {
        const cron = parseCronSpec(spec, { timezone });
        const begin = Date.parse(start);
        for (let after = begin; after < begin + 6 * 3_600_000; after += 7 * 60_000 + 13) {
          expect(cron.next(new Date(after)).getTime()).toBeGreaterThan(after);
        }
        let after = begin;
        for (let i = 0; i < 12; i++) {
          const tick = cron.next(new Date(after)).getTime();
          expect(tick).toBeGreaterThan(after);
          after = tick;
        }
      }
    }
  });
});

describe("parseCronSpec: invalid specs", () => {
  const cases: Array<[string, { timezone?: string }, string]> = [
    ["", {}, "the spec is empty"],
    ["   ", {}, "the spec is empty"],
    ["* * *", {}, "expected 5 fields (minute hour day month weekday) or 6 with seconds first, got 3"],
    ["* * * * * * *", {}, "got 7 (a year field is not supported)"],
    ["60 * * * *", {}, "minute 60 is out of range 0-59"],
    ["0 24 * * *", {}, "hour 24 is out of range 0-23"],
    ["0 0 0 * *", {}, "day-of-month 0 is out of range 1-31"],
    ["0 0 * 13 *", {}, "month 13 is out of range 1-12"],
    ["0 0 * * 8", {}, "weekday 8 is out of range 0-7"],
    ["60 0 * * * *", {}, "second 60 is out of range 0-59"],
    ["*/61 * * * *", {}, "minute step 61"],
    ["*/0 * * * *", {}, "minute step 0"],
    ["0 22-2 * * *", {}, "hour range 22-2 runs backwards"],
    ["0 0 * * fri-mon", {}, "e.g. 5-6,0-1"],
    ["1,,2 * * * *", {}, "empty list item"],
    ["H * * * *", {}, "H (hashed) values are not supported"],
    ["? * * * *", {}, '"?" is only allowed in the day-of-month and weekday fields'],
    ["0 0 * * 1#6", {}, "the number after # must be 1-5"],
    ["0 0 * * L", {}, "5L for the last Friday"],
    ["0 0 30 2 *", {}, "it never fires"],
    ["* * * * $", {}, 'weekday field has "$"'],
    ["a b c d e", {}, 'minute field has "a"'],
    ["0 0 * FOO *", {}, 'month field has "FOO" where a number 1-12 or a name like JAN was expected'],
    ["@fortnightly", {}, "use one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every <duration>"],
    ["@Daily", {}, 'did you mean "@daily"?'],
    ["@daily extra", {}, "@daily takes nothing after it"],
    ["@every", {}, "@every needs a duration"],
    ["@every5s", {}, 'put a space after @every: "@every 5s"'],
    ["@every 1h 30m", {}, "@every takes one duration without spaces"],
    ["@every 0s", {}, "interval 0s is below the minimum of 1s"],
    ["@every 500ms", {}, "interval 500ms is below the minimum of 1s"],
    ["@every 5x", {}, 'unknown unit "x"'],
    ["@every -1s", {}, "has a sign"],
    ["@every 1d", {}, "use h (1d = 24h)"],
    ["0 9 * * *", { timezone: "Mars/Olympus_Mons" }, 'unknown time zone "Mars/Olympus_Mons"'],
    ["0 9 * * *", { timezone: "" }, 'unknown time zone ""'],
  ];

  it.each(cases)("rejects %j %j", (spec, options, fragment) => {
    expectInvalid(() => parseCronSpec(spec, options), fragment, spec.trim() === "" ? spec : spec.trim());
  });

  it("quotes the whole spec in the message", () => {
    expectInvalid(() => parseCronSpec("  61 * * * *  "), 'invalid schedule "61 * * * *": minute 61 is out of range 0-59');
  });

  it("rejects a spec longer than the limit, quoting only its start", () => {
    expect(MAX_SPEC_LENGTH).toBe(1000);
    const long = `${"0,".repeat(600)}0 * * * *`;
    let caught: unknown;
    try {
      parseCronSpec(long);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidCronError);
    const error = caught as InvalidCronError;
    expect(error.spec).toBe(long);
    expect(error.message).toBe(`invalid schedule "${long.slice(0, 100)}…" (1209 characters): the spec is 1209 characters long, the limit is 1000`);
    // A list of every value of every field still fits.
    const everything = [60, 60, 24, 31, 12, 7].map((n, i) => Array.from({ length: n }, (_, v) => v + (i === 3 || i === 4 ? 1 : 0)).join(","));
    expect(everything.join(" ").length).toBeLessThan(MAX_SPEC_LENGTH);
    expect(() => parseCronSpec(everything.join(" "))).not.toThrow();
  });

  it("shortens a long spec in the message of any problem", () => {
    const spec = `@every ${"1s".repeat(400)}x`;
    expectInvalid(() => parseCronSpec(spec), `invalid schedule "${spec.slice(0, 100)}…" (808 characters): unknown unit "sx" at position 800 of "1s1s`);
    expectInvalid(() => parseCronSpec(`@every ${"9".repeat(500)}h`), `interval ${"9".repeat(30)}… (501 characters) is above the maximum`);
    for (const long of [spec, `@every ${"9".repeat(500)}h`, `@every ${"9".repeat(500)}`, `${"1,".repeat(200)}x * * * *`]) {
      expect(() => parseCronSpec(long)).toThrow(InvalidCronError);
      try {
        parseCronSpec(long);
      } catch (error) {
        expect((error as Error).message.length, long).toBeLessThan(300);
      }
    }
  });

  it("rejects a spec that is not a string", () => {
    expectInvalid(() => parseCronSpec(42 as unknown as string), "expected a string, got number");
  });
});
