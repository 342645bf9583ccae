/**
 * Schedule specs: crontab lines (5 fields, or 6 with seconds first), the `@yearly` … `@hourly`
 * macros and `@every <duration>`, parsed once and validated strictly so that a typo fails where
 * `schedule()` is called instead of silently firing at the wrong times.
 *
 * cron-parser does the calendar arithmetic on wall-clock time, read as if it were UTC; the
 * mapping to real instants across daylight saving shifts is done here, because cron-parser's
 * own, in the zone, skips or invents ticks around 30-minute shifts (Australia/Lord_Howe).
 * The grammar is checked here first because
 * cron-parser accepts too much: a spec with fewer than five fields (the missing ones become
 * `*`), a step wider than its field (`*` + `/61` fires once an hour) and `H`, whose random
 * pick would differ between processes that must all agree on the tick times.
 */
import { CronExpressionParser, type CronExpression } from "cron-parser";
import { InvalidCronError } from "../errors.ts";

/** A parsed, validated schedule spec. */
export interface CronSpec {
  /** The spec as given, trimmed: what identifies the schedule along with its time zone. */
  readonly spec: string;
  /** The IANA time zone the fields are read in, as given; `"UTC"` when none was. */
  readonly timezone: string;
  /**
   * The first tick strictly after `after`. A pure function of the spec, the zone and `after`,
   * so every process computes the same ticks. Throws a `RangeError` when `after` is an invalid
   * date or no tick can be represented as a `Date`.
   */
  next(after: Date): Date;
}

/**
 * The shortest `@every` interval, in milliseconds (1 s). Each tick is a row written by the
 * scheduler, so sub-second schedules would be a write storm rather than a schedule.
 */
export const MIN_EVERY_MS = 1000;

/**
 * The longest `@every` interval, in milliseconds: 87600h, ten years of 365 days. Far beyond any
 * use (`@yearly` and a day-of-month spec cover the long calendar periods), and short enough that
 * every tick from now on is a date JavaScript and PostgreSQL can store.
 */
export const MAX_EVERY_MS = 87_600 * 3_600_000;

/**
 * The longest spec, in characters. A 6-field spec that lists every value of every field is
 * about 530 characters; anything longer is not a schedule someone wrote.
 */
export const MAX_SPEC_LENGTH = 1000;

const MAX_EVERY_TEXT = `${MAX_EVERY_MS / 3_600_000}h (ten years)`;

/** Macro → 5-field crontab. Mapped here so `@midnight` works and the set is ours to define. */
const MACROS: Readonly<Record<string, string>> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

const KNOWN_MACROS = `${Object.keys(MACROS).join(", ")} or @every <duration>`;

const FIELD_COUNT_HINT = "expected 5 fields (minute hour day month weekday) or 6 with seconds first";

interface Field {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  /** Three-letter names, for months and weekdays. */
  readonly names?: Readonly<Record<string, number>>;
  /** Which of `?`, `L` and `#` the field accepts (as cron-parser reads them). */
  readonly question?: boolean;
  readonly lastDay?: boolean;
  readonly weekdaySpecials?: boolean;
}

const MONTH_NAMES = { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 };
const WEEKDAY_NAMES = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };

const SECOND: Field = { name: "second", min: 0, max: 59 };
const FIVE_FIELDS: readonly Field[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day-of-month", min: 1, max: 31, question: true, lastDay: true },
  { name: "month", min: 1, max: 12, names: MONTH_NAMES },
  // 7 is Sunday too, as in most crons.
  { name: "weekday", min: 0, max: 7, names: WEEKDAY_NAMES, question: true, weekdaySpecials: true },
];
const SIX_FIELDS: readonly Field[] = [SECOND, ...FIVE_FIELDS];

/**
 * Where the parse-time trial run starts. Any fixed instant does: it only has to show that the
 * spec fires at all and that cron-parser can compute in the zone.
 */
const TRIAL_FROM = new Date(Date.UTC(2000, 0, 1));

const UNIT_MS: Readonly<Record<string, bigint>> = { ms: 1n, s: 1_000n, m: 60_000n, h: 3_600_000n };

/**
 * Parses and validates a schedule spec. Throws {@link InvalidCronError} (code `INVALID_CRON`)
 * that quotes the spec and says what is wrong.
 *
 * Accepted:
 * - crontab with 5 fields (`minute hour day-of-month month weekday`) or 6 with seconds first;
 *   `*`, `?`, lists, ranges, steps, `JAN`–`DEC`, `SUN`–`SAT`, `L` (last day of the month),
 *   `5L` (last Friday) and `1#2` (second Monday). When both day-of-month and weekday are
 *   restricted a day matching either fires, as in Vixie cron. `H` is rejected: its random pick
 *   would differ between processes.
 * - `@yearly`/`@annually`, `@monthly`, `@weekly` (Sunday), `@daily`/`@midnight`, `@hourly`:
 *   midnight and the hour are read in `timezone`.
 * - `@every <duration>` with a Go-style duration (see {@link parseDuration}), at least
 *   {@link MIN_EVERY_MS} (1s) and at most {@link MAX_EVERY_MS} (87600h). Ticks are aligned to the Unix epoch, not to when the schedule was
 *   created: they fall on the multiples of the interval since 1970-01-01T00:00:00Z, so every
 *   process and every restart computes the same tick times. `timezone` is validated but does
 *   not move them.
 *
 * Time zones and daylight saving (pinned by the tests, for 1-hour and 30-minute shifts): the
 * ticks are one fixed set of real instants, and `next` returns the first one after `after`,
 * whatever instant it is asked from. A spec whose hour field is `*` (it fires in every hour)
 * follows real time; one that names its hours fires each named wall-clock time once a day, as
 * Vixie cron does:
 * - When clocks go forward, a skipped wall-clock time fires nothing for an every-hour spec
 *   (`0 * * * *` in Europe/Berlin on 2026-03-29: 01:00 CET, then 03:00 CEST) and fires once,
 *   shifted by the gap, for one with named hours (`30 2 * * *` fires at 03:30 CEST; in
 *   Australia/Lord_Howe, whose clocks move by 30 minutes, `0 2 * * *` fires at 02:30 +11 on
 *   2026-10-04). A shifted time that meets a real tick is one tick.
 * - When clocks go back, a repeated wall-clock time fires in both passes for an every-hour spec
 *   (`*\/30 * * * *` in Australia/Lord_Howe on 2026-04-05 fires at 01:30 +11 and again at
 *   01:30 +10:30) and once, at its first occurrence, for one with named hours (`30 2 * * *` in
 *   Europe/Berlin fires at 02:30 CEST, not again at 02:30 CET).
 * - No tick is ever a wall-clock time that does not exist, and none repeats.
 *
 * @param spec The schedule, e.g. `"0 4 * * *"`, `"@daily"`, `"@every 90s"`.
 * @param options.timezone IANA zone the fields are read in. Default `"UTC"`.
 *
 * @example
 * ```ts
 * const daily = parseCronSpec("0 9 * * *", { timezone: "America/New_York" });
 * daily.next(new Date("2026-01-10T00:00:00Z")); // 2026-01-10T14:00:00.000Z
 * parseCronSpec("@every 90s").next(new Date(100_000)); // 1970-01-01T00:03:00.000Z
 * parseCronSpec("61 * * * *"); // InvalidCronError: invalid schedule "61 * * * *": minute 61 is out of range 0-59
 * ```
 */
export function parseCronSpec(spec: string, options: { timezone?: string } = {}): CronSpec {
  if (typeof spec !== "string") {
    throw new InvalidCronError(String(spec), `expected a string, got ${describeType(spec)}`);
  }
  const trimmed = spec.trim();
  if (trimmed === "") {
    throw new InvalidCronError(spec, `the spec is empty: ${FIELD_COUNT_HINT}, a macro like @daily, or @every <duration>`);
  }
  if (trimmed.length > MAX_SPEC_LENGTH) {
    throw new InvalidCronError(trimmed, `the spec is ${trimmed.length} characters long, the limit is ${MAX_SPEC_LENGTH}`);
  }
  const timezone = validateTimezone(options.timezone ?? "UTC", trimmed);
  const [head = "", ...rest] = trimmed.split(/\s+/);

  if (head === "@every") return everySpec(trimmed, timezone, rest);
  if (head.startsWith("@")) return cronSpec(trimmed, timezone, expandMacro(trimmed, head, rest));
  return cronSpec(trimmed, timezone, validateFields(trimmed, [head, ...rest]));
}

/**
 * Parses a Go-style duration: "90s", "1h30m", "500ms", "2h", "1m30s", "1.5h". Returns ms.
 * Throws InvalidCronError (with the whole spec) on bad input.
 *
 * Units are `ms`, `s`, `m` and `h` (lower-case, as in Go); components add up and may have a
 * fraction, as long as the total is a whole number of milliseconds. There is no day unit
 * because a day is not always 24 hours; `ns`/`us` are finer than anything a schedule can use.
 * A total above {@link MAX_EVERY_MS} is refused. Zero is returned as 0: the caller decides on a
 * minimum.
 *
 * @param text The duration alone, e.g. `"1h30m"`.
 * @param spec The whole spec it came from, quoted in the error.
 *
 * @example
 * ```ts
 * parseDuration("1h30m", "@every 1h30m"); // 5_400_000
 * parseDuration("2d", "@every 2d"); // InvalidCronError: … unit "d" is not supported: use h (1d = 24h)
 * ```
 */
export function parseDuration(text: string, spec: string): number {
  const example = "expected a duration like 90s, 1h30m or 500ms";
  const quoted = quote(text);
  if (text === "") throw new InvalidCronError(spec, `${example}, got nothing`);
  if (/^[-+]/.test(text)) {
    throw new InvalidCronError(spec, `duration ${quoted} has a sign: the interval must be a positive duration like 90s`);
  }

  // Exact decimal arithmetic: 0.1h in floating point is 360000.00000000006 ms.
  let numerator = 0n;
  let denominator = 1n;
  const component = /(\d+(?:\.\d*)?|\.\d+)([^\d.]*)/y;
  while (component.lastIndex < text.length) {
    const at = component.lastIndex;
    const match = component.exec(text);
    if (match === null) throw new InvalidCronError(spec, `cannot read ${quoted} as a duration: ${example}`);
    const number = match[1] ?? "";
    const unit = match[2] ?? "";
    const unitMs = UNIT_MS[unit];
    if (unitMs === undefined) throw new InvalidCronError(spec, unitProblem(quoted, number, unit, at));

    const [whole = "", fraction = ""] = number.split(".");
    const scale = 10n ** BigInt(fraction.length);
    const value = BigInt(whole === "" ? "0" : whole) * scale + BigInt(fraction === "" ? "0" : fraction);
    // numerator/denominator + value*unitMs/scale, with denominators that are powers of ten.
    if (scale > denominator) {
      numerator *= scale / denominator;
      denominator = scale;
    }
    numerator += (value * unitMs * denominator) / scale;
  }

  if (numerator % denominator !== 0n) {
    throw new InvalidCronError(spec, `duration ${quoted} is not a whole number of milliseconds`);
  }
  const ms = numerator / denominator;
  if (ms > BigInt(MAX_EVERY_MS)) throw new InvalidCronError(spec, `interval ${quote(text, "")} is above the maximum of ${MAX_EVERY_TEXT}`);
  return Number(ms);
}

function unitProblem(quoted: string, number: string, unit: string, at: number): string {
  const units = "use ms, s, m or h";
  if (unit === "") return `missing unit after ${quote(number)} in ${quoted}: ${units}`;
  if (unit === "d") return `unit "d" in ${quoted} is not supported: use h (1d = 24h)`;
  if (unit === "w") return `unit "w" in ${quoted} is not supported: use h (1w = 168h)`;
  if (unit === "ns" || unit === "us" || unit === "µs") return `unit "${unit}" in ${quoted} is finer than a schedule can use: ${units}`;
  if (UNIT_MS[unit.toLowerCase()] !== undefined) return `unit "${unit}" in ${quoted} must be lower-case: "${unit.toLowerCase()}"`;
  const shown = unit.length > 10 ? `${unit.slice(0, 10)}…` : unit;
  return `unknown unit "${shown}" at position ${at + number.length + 1} of ${quoted}: ${units}`;
}

function everySpec(trimmed: string, timezone: string, args: readonly string[]): CronSpec {
  const [text] = args;
  if (text === undefined) throw new InvalidCronError(trimmed, `@every needs a duration, e.g. "@every 90s" or "@every 1h30m"`);
  if (args.length > 1) {
    throw new InvalidCronError(trimmed, `@every takes one duration without spaces, e.g. "@every 1h30m", got ${args.length} words`);
  }
  const interval = parseDuration(text, trimmed);
  if (interval < MIN_EVERY_MS) {
    throw new InvalidCronError(trimmed, `interval ${quote(text, "")} is below the minimum of ${MIN_EVERY_MS / 1000}s`);
  }
  // parseDuration already refused anything above MAX_EVERY_MS.
  return Object.freeze({
    spec: trimmed,
    timezone,
    next(after: Date): Date {
      const from = timeOf(after);
      // Math.floor, not truncation, so instants before 1970 align the same way.
      return checkedDate(Math.floor(from / interval) * interval + interval, trimmed, after);
    },
  });
}

function expandMacro(trimmed: string, head: string, args: readonly string[]): string {
  const expression = MACROS[head];
  if (expression === undefined) {
    if (head.startsWith("@every")) {
      throw new InvalidCronError(trimmed, `put a space after @every: "@every ${head.slice("@every".length)}"`);
    }
    const lower = head.toLowerCase();
    if (MACROS[lower] !== undefined || lower === "@every") {
      throw new InvalidCronError(trimmed, `unknown macro "${head}", did you mean "${lower}"? (macros are lower-case)`);
    }
    throw new InvalidCronError(trimmed, `unknown macro "${head}": use one of ${KNOWN_MACROS}`);
  }
  if (args.length > 0) throw new InvalidCronError(trimmed, `${head} takes nothing after it, got "${args.join(" ")}"`);
  return expression;
}

/** Checks every field against the grammar and returns the fields joined by single spaces. */
function validateFields(trimmed: string, parts: readonly string[]): string {
  if (parts.length !== 5 && parts.length !== 6) {
    const extra = parts.length === 7 ? " (a year field is not supported)" : "";
    throw new InvalidCronError(trimmed, `${FIELD_COUNT_HINT}, got ${parts.length}${extra}`);
  }
  const fields = parts.length === 6 ? SIX_FIELDS : FIVE_FIELDS;
  parts.forEach((part, index) => validateField(trimmed, part, fields[index] as Field));
  return parts.join(" ");
}

function validateField(trimmed: string, text: string, field: Field): void {
  const fail = (problem: string): never => {
    throw new InvalidCronError(trimmed, problem);
  };
  for (const item of text.split(",")) {
    if (item === "") fail(`empty list item in ${field.name} field "${text}"`);
    if (/^H(?![a-z])/i.test(item)) {
      fail(`H (hashed) values are not supported in the ${field.name} field: every process must compute the same ticks, so pick a fixed value`);
    }
    const [base = "", step, ...more] = item.split("/");
    if (more.length > 0) fail(`more than one "/" in ${field.name} field item "${item}"`);
    if (step !== undefined) {
      if (!/^\d+$/.test(step)) fail(`${field.name} step "${step}" in "${item}" is not a whole number`);
      const n = Number(step);
      if (n < 1 || n > field.max) fail(`${field.name} step ${n} in "${item}" is out of range 1-${field.max}`);
    }

    if (base === "*" || (base === "?" && field.question)) continue;
    if (base === "?") fail(`"?" is only allowed in the day-of-month and weekday fields, not in ${field.name}`);

    if (field.lastDay && base.toUpperCase() === "L") {
      if (step !== undefined) fail(`"L" in the ${field.name} field cannot take a step ("${item}")`);
      continue;
    }
    if (field.weekdaySpecials) {
      const last = /^(.+)L$/i.exec(base);
      const nth = /^(.+)#(.*)$/.exec(base);
      if (base.toUpperCase() === "L") fail(`weekday "L" needs a day before it, e.g. 5L for the last Friday of the month`);
      if (last !== null || nth !== null) {
        if (step !== undefined) fail(`weekday "${base}" cannot take a step ("${item}")`);
        readValue(fail, field, (last ?? nth)?.[1] ?? "");
        if (nth !== null) {
          const k = nth[2] ?? "";
          if (!/^[1-5]$/.test(k)) fail(`weekday "${base}": the number after # must be 1-5 (the nth such day of the month), got "${k}"`);
        }
        continue;
      }
    }

    const range = /^([^-]*)-(.*)$/.exec(base);
    if (range === null) {
      readValue(fail, field, base);
      continue;
    }
    const from = readValue(fail, field, range[1] ?? "");
    const to = readValue(fail, field, range[2] ?? "");
    if (from > to) {
      if (field.weekdaySpecials && from === 7) fail(`weekday range ${base} runs backwards: write Sunday as 0 at the start of a range, e.g. 0-${to}`);
      // Sunday is both 0 and 7, so a weekday wrap-around ends at 6 (Saturday).
      const last = field.weekdaySpecials ? 6 : field.max;
      fail(`${field.name} range ${base} runs backwards: write a wrap-around as two ranges, e.g. ${from}-${last},${field.min}-${to}`);
    }
  }
}

function readValue(fail: (problem: string) => never, field: Field, text: string): number {
  if (/^\d+$/.test(text)) {
    const value = Number(text);
    if (value < field.min || value > field.max) fail(`${field.name} ${value} is out of range ${field.min}-${field.max}`);
    return value;
  }
  const named = field.names?.[text.toLowerCase()];
  if (named !== undefined) return named;
  const names = field.names === undefined ? "" : ` or a name like ${field.name === "month" ? "JAN" : "MON"}`;
  const shown = text === "" ? "nothing" : `"${text}"`;
  return fail(`${field.name} field has ${shown} where a number ${field.min}-${field.max}${names} was expected`);
}

function cronSpec(trimmed: string, timezone: string, expression: string): CronSpec {
  // The fields are matched against wall-clock time written as if it were UTC ("naive" time),
  // where cron-parser's arithmetic has no daylight saving to stumble over; mapping wall-clock
  // time to real instants, gaps and repeats included, is done here (see `naiveTicks`).
  const naive = (from: number): CronExpression => CronExpressionParser.parse(expression, { currentDate: new Date(from), tz: "UTC" });
  // Our grammar check passed; what cron-parser still rejects are day/month combinations that
  // never occur ("0 0 30 2 *").
  let trial: CronExpression;
  try {
    trial = naive(TRIAL_FROM.getTime());
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const problem = /explicit day of month/i.test(message)
      ? "it never fires: none of its months has that day of the month"
      : message;
    throw new InvalidCronError(trimmed, problem);
  }
  // Vixie cron's rule: a spec that fires in every hour follows real time, one that names its
  // hours fires each named wall-clock time once a day.
  const everyHour = trial.fields.hour.values.length === 24;
  const offsets = zoneOffsets(timezone);

  const spec: CronSpec = Object.freeze({
    spec: trimmed,
    timezone,
    next(after: Date): Date {
      const from = timeOf(after);
      let tick: number | undefined;
      try {
        tick = nextTick(naive, offsets, everyHour, from);
      } catch {
        tick = undefined;
      }
      if (tick === undefined) throw new RangeError(`no tick of schedule "${trimmed}" (${timezone}) found after ${after.toISOString()}`);
      return checkedDate(tick, trimmed, after);
    },
  });

  try {
    spec.next(TRIAL_FROM);
  } catch {
    throw new InvalidCronError(trimmed, "it never fires: no date matches all of its fields");
  }
  return spec;
}

/**
 * Offsets further apart than this are not looked for around an instant: no zone has had two
 * transitions within it, and every UTC offset in use lies within ±14 h.
 */
const OFFSET_REACH_MS = 15 * 3_600_000;

/**
 * The first tick strictly after `from`, out of the set of ticks the spec defines in the zone:
 * - a wall-clock time that exists once is its instant;
 * - one repeated when clocks go back is both its instants for a spec that fires in every hour
 *   (`*\/30 * * * *` fires at each 01:30 of Lord Howe's repeated half hour), else only its
 *   first (`30 1 * * *` fires once that day);
 * - one skipped when clocks go forward is nothing for a spec that fires in every hour (the
 *   next real matching time comes soon enough), else the instant the old offset would give,
 *   which is the time shifted by the gap (`30 2 * * *` in Europe/Berlin: 03:30 CEST).
 * As a set, every instant is produced once even where a shifted time meets a real one.
 */
function nextTick(naive: (from: number) => CronExpression, offsets: (instant: number) => number, everyHour: boolean, from: number): number | undefined {
  // Wall-clock candidates map to instants `wall - offset`: the offsets around `from` bound
  // where the first candidate can be and, once a tick is found, where later ones cannot be.
  let low = Math.min(offsets(from - OFFSET_REACH_MS), offsets(from), offsets(from + OFFSET_REACH_MS));
  let high = Math.max(offsets(from - OFFSET_REACH_MS), offsets(from), offsets(from + OFFSET_REACH_MS));
  const candidates = naive(from + low - 1000);
  let best: number | undefined;
  for (;;) {
    const wall = candidates.next().getTime();
    if (best !== undefined && wall - high > best) return best;
    for (const instant of instantsOf(wall, offsets, everyHour)) {
      if (instant > from && (best === undefined || instant < best)) {
        best = instant;
        high = Math.max(high, offsets(best - OFFSET_REACH_MS), offsets(best + OFFSET_REACH_MS));
        low = Math.min(low, offsets(best));
      }
    }
  }
}

/** The instants a wall-clock time (written as UTC) fires at, earliest first: see `nextTick`. */
function instantsOf(wall: number, offsets: (instant: number) => number, everyHour: boolean): number[] {
  const around = new Set([offsets(wall - OFFSET_REACH_MS), offsets(wall), offsets(wall + OFFSET_REACH_MS)]);
  const real = [...around]
    .map((offset) => wall - offset)
    .filter((instant) => offsets(instant) === wall - instant)
    .sort((a, b) => a - b);
  if (real.length > 0) return everyHour ? real : real.slice(0, 1);
  if (everyHour) return [];
  // Skipped: clocks went forward, so the offset before the gap is the smaller one.
  return [wall - Math.min(...around)];
}

/**
 * The zone's UTC offset at an instant, ms (local minus UTC), from Intl's time zone data (the
 * same data that names the zone valid). Cached per instant: a schedule asks about the same
 * few instants over and over.
 */
function zoneOffsets(timezone: string): (instant: number) => number {
  const format = new Intl.DateTimeFormat("en-US", {
    timeZone: timezone,
    hourCycle: "h23",
    era: "short",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
    second: "numeric",
  });
  const cache = new Map<number, number>();
  return (instant: number): number => {
    const second = Math.floor(instant / 1000) * 1000;
    let offset = cache.get(second);
    if (offset === undefined) {
      const parts: Record<string, string> = {};
      for (const part of format.formatToParts(new Date(second))) parts[part.type] = part.value;
      const year = Number(parts.year);
      const local = new Date(0);
      local.setUTCFullYear(parts.era === "BC" ? 1 - year : year, Number(parts.month) - 1, Number(parts.day));
      local.setUTCHours(Number(parts.hour) % 24, Number(parts.minute), Number(parts.second), 0);
      offset = local.getTime() - second;
      if (cache.size >= 1024) cache.clear();
      cache.set(second, offset);
    }
    return offset;
  };
}

function validateTimezone(timezone: string, trimmed: string): string {
  const unknown = `unknown time zone "${timezone}": use an IANA name like "Europe/Berlin" or "UTC"`;
  if (typeof timezone !== "string") throw new InvalidCronError(trimmed, `time zone must be a string, got ${describeType(timezone)}`);
  try {
    new Intl.DateTimeFormat(undefined, { timeZone: timezone });
  } catch {
    throw new InvalidCronError(trimmed, unknown);
  }
  // Intl and cron-parser's Luxon do not agree on every name (newer engines accept offsets
  // like "+01:00"), so make sure the zone is one the calculation can use.
  try {
    CronExpressionParser.parse("0 0 * * *", { currentDate: TRIAL_FROM, tz: timezone }).next();
  } catch {
    throw new InvalidCronError(trimmed, unknown);
  }
  return timezone;
}

function timeOf(after: Date): number {
  const time = after instanceof Date ? after.getTime() : Number.NaN;
  if (Number.isNaN(time)) throw new RangeError(`next() needs a valid Date, got ${String(after)}`);
  return time;
}

function checkedDate(time: number, trimmed: string, after: Date): Date {
  const date = new Date(time);
  if (Number.isNaN(date.getTime())) {
    throw new RangeError(`the tick of schedule "${trimmed}" after ${after.toISOString()} is beyond the range of Date`);
  }
  return date;
}

/** `text` in double quotes (or `mark`), its start only when it is long: messages stay readable. */
function quote(text: string, mark = '"'): string {
  return text.length > 40 ? `${mark}${text.slice(0, 30)}…${mark} (${text.length} characters)` : `${mark}${text}${mark}`;
}

function describeType(value: unknown): string {
  return value === null ? "null" : typeof value;
}
