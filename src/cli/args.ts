/**
 * Flag parsing for the CLI: node:util `parseArgs` in strict mode, with its errors turned into
 * one line that names the flag and suggests the closest known one.
 */
import { parseArgs } from "node:util";
import { closest } from "../config.ts";

/** Exit codes: 0 done, 1 failed at runtime (cannot start, migrations pending), 2 bad usage or config. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/**
 * An error the CLI reports as one line, without a stack trace: the user can fix it from the
 * message. `exitCode` 2 (bad usage or config) unless said otherwise.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** One flag of a command. */
export interface FlagSpec {
  type: "string" | "boolean";
  /** Shown in help, e.g. `path` in `--config <path>`. */
  value?: string;
  short?: string;
  description: string;
}

/** The flags of a command, by long name. */
export type FlagSpecs = Record<string, FlagSpec>;

/** Parsed flags: strings for string flags, booleans for boolean ones, absent when not given. */
export type Flags<S extends FlagSpecs> = { [K in keyof S]?: S[K]["type"] extends "string" ? string : boolean } & {
  help?: boolean;
};

const HELP: FlagSpec = { type: "boolean", short: "h", description: "Show this help." };

/**
 * Parses `argv` (the arguments after the command name) against `specs`.
 * @throws CliError (exit 2) on an unknown flag, a missing value or a stray argument
 */
export function parseFlags<S extends FlagSpecs>(command: string, argv: readonly string[], specs: S): Flags<S> {
  const all: FlagSpecs = { ...specs, help: HELP };
  const options = Object.fromEntries(
    Object.entries(all).map(([name, spec]) => [name, spec.short ? { type: spec.type, short: spec.short } : { type: spec.type }]),
  );
  try {
    const { values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false });
    return values as Flags<S>;
  } catch (error) {
    throw new CliError(describeParseError(command, argv, all, error));
  }
}

/**
 * Rewrites parseArgs' message (which explains `--` for positionals) into what the user needs:
 * which flag is wrong, and which one they probably meant.
 */
function describeParseError(command: string, argv: readonly string[], specs: FlagSpecs, error: unknown): string {
  const code = (error as { code?: string }).code;
  const hint = `run \`arrower-jobs ${command} --help\` for its flags`;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const flag = unknownFlag(argv, specs);
    if (flag !== undefined) {
      const known = Object.keys(specs);
      const suggestion = flag.startsWith("--") ? closest(flag.slice(2), known) : undefined;
      return `unknown flag ${flag} for \`arrower-jobs ${command}\`${suggestion ? `, did you mean --${suggestion}?` : `: ${hint}`}`;
    }
  }
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
    const stray = argv.find((arg) => !arg.startsWith("-") && !isFlagValue(argv, arg, specs));
    return `unexpected argument ${JSON.stringify(stray ?? "")} for \`arrower-jobs ${command}\`: ${hint}`;
  }
  const message = error instanceof Error ? error.message : String(error);
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    // A string flag without its value (`--config` last, or followed by another flag), or a
    // boolean flag given one (`--check=yes`). Node's message spans lines and explains dashes.
    const name = /--([\w-]+)/.exec(message)?.[1];
    const spec = name === undefined ? undefined : specs[name];
    if (spec?.type === "string") return `--${name} needs a value, e.g. --${name} <${spec.value ?? "value"}>`;
    if (spec?.type === "boolean") return `--${name} takes no value`;
  }
  return `${message.split("\n", 1)[0]!.replace(/\.$/, "")} (${hint})`;
}

/** The first flag in `argv` that `specs` does not know, as written (`--confg`, `-x`). */
function unknownFlag(argv: readonly string[], specs: FlagSpecs): string | undefined {
  const shorts = new Set(Object.values(specs).flatMap((spec) => (spec.short ? [spec.short] : [])));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") return undefined;
    if (arg.startsWith("--")) {
      const name = arg.slice(2).split("=", 1)[0]!;
      const spec = specs[name];
      if (!spec) return `--${name}`;
      if (spec.type === "string" && !arg.includes("=")) i++; // skip its value
    } else if (arg.startsWith("-") && arg.length > 1) {
      for (const letter of arg.slice(1)) if (!shorts.has(letter)) return `-${letter}`;
      const spec = Object.values(specs).find((s) => s.short === arg.slice(-1));
      if (spec?.type === "string" && arg.length === 2) i++;
    }
  }
  return undefined;
}

function isFlagValue(argv: readonly string[], arg: string, specs: FlagSpecs): boolean {
  const index = argv.indexOf(arg);
  const previous = index > 0 ? argv[index - 1]! : "";
  return previous.startsWith("--") && !previous.includes("=") && specs[previous.slice(2)]?.type === "string";
}

/** Help text for a command's flags, one per line, aligned. */
export function formatFlags(specs: FlagSpecs): string {
  const rows = Object.entries({ ...specs, help: HELP }).map(([name, spec]) => {
    const left = `${spec.short ? `-${spec.short}, ` : "    "}--${name}${spec.value ? ` <${spec.value}>` : ""}`;
    return [left, spec.description] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, description]) => `  ${left.padEnd(width)}  ${description}`).join("\n");
}

/**
 * A positive integer flag value, e.g. `--pool-size 5`.
 * @throws CliError (exit 2) otherwise
 */
export function positiveInteger(value: string, flag: string, max: number): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new CliError(`${flag} must be a whole number from 1 to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** A comma-separated list flag (`--queue a,b`), trimmed, without empty items or repeats. */
export function listFlag(value: string): string[] {
  return [...new Set(value.split(",").map((item) => item.trim()).filter((item) => item !== ""))];
}

/** A CLI command: its help and how to run it. */
export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The full help of `arrower-jobs <name> --help`. */
  help(): string;
  /** Runs with the arguments after the command name; resolves to the exit code. */
  run(argv: readonly string[]): Promise<number>;
}

/**
 * One line for an error: its message, or for an AggregateError (pg connecting to "localhost"
 * tries ::1 and 127.0.0.1) the messages inside, since its own message is empty.
 */
export function errorMessage(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return [...new Set(error.errors.map(errorMessage))].join("; ");
  }
  if (error instanceof Error) return error.message.split("\n", 1)[0] || error.name || "unknown error";
  return String(error);
}
