#!/usr/bin/env node
/**
 * `arrower-jobs`, the package's bin: dispatches to one module per command.
 *
 * Every mistake a user can fix (a flag, the config, a pending migration, an unreachable
 * database) ends as one line on stderr and an exit code; only an unexpected error prints a
 * stack trace, since that one is ours to fix.
 */
import { readFileSync } from "node:fs";
import { closest } from "../config.ts";
import { CliError, errorMessage, EXIT, type Command } from "./args.ts";
import { migrateCommand } from "./migrate.ts";
import { statusCommand } from "./status.ts";
import { pruneCommand } from "./prune.ts";
import { uiCommand } from "./ui.ts";
import { workerCommand } from "./worker.ts";
import { devCommand } from "./dev.ts";

const COMMANDS: readonly Command[] = [workerCommand, migrateCommand, statusCommand, pruneCommand, uiCommand, devCommand];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `arrower-jobs ${version()}: background jobs for Prisma and PostgreSQL

Usage: arrower-jobs <command> [flags]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n")}

  help [command]   Show this help, or a command's
  --version        Print the version

The config file (arrower-jobs.config.ts, .mts, .js or .mjs in the working directory, or
--config path) default-exports the Prisma client and the queues:

  export default defineConfig({
    prisma, // new PrismaClient({ adapter }).$extends(jobs())
    queues: [{ name: "default", poolSize: 10, handlers: [handle(SendWelcome, sendWelcome)] }],
  });

Exit codes: 0 done, 1 failed (cannot start, migrations pending, database unreachable),
2 bad usage or config.`;
}

function version(): string {
  // src/cli/ and dist/cli/ are both two levels below the package root.
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/** Runs the CLI with `argv` (the arguments after the program name); resolves to the exit code. */
async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    console.error(usage());
    return EXIT.usage;
  }
  if (first === "help" || first === "--help" || first === "-h") {
    const command = rest[0] === undefined ? undefined : findCommand(rest[0]);
    console.log(command ? command.help() : usage());
    return EXIT.ok;
  }
  if (first === "--version" || first === "-v" || first === "version") {
    console.log(version());
    return EXIT.ok;
  }
  if (first.startsWith("-")) {
    const suggestion = first.startsWith("--") ? closest(first.slice(2), ["help", "version"]) : undefined;
    throw new CliError(
      `unknown flag ${first}${suggestion ? `, did you mean --${suggestion}?` : ": flags go after the command, e.g. `arrower-jobs worker --config path`"}`,
    );
  }
  return findCommand(first).run(rest);
}

function findCommand(name: string): Command {
  const command = COMMANDS.find((c) => c.name === name);
  if (command) return command;
  const names = COMMANDS.map((c) => c.name);
  const suggestion = closest(name, names);
  throw new CliError(`unknown command "${name}"${suggestion ? `, did you mean "${suggestion}"?` : `: the commands are ${names.join(", ")}`}`);
}

/** The exit code for an error, after printing it. */
function report(error: unknown): number {
  if (error instanceof CliError) {
    console.error(`arrower-jobs: ${error.message}`);
    return error.exitCode;
  }
  if (isExpected(error)) {
    const network = /^E[A-Z]+$/.test(String((error as { code?: unknown }).code ?? (error as AggregateError).errors?.[0]?.code));
    console.error(`arrower-jobs: ${network ? "cannot reach the database: " : ""}${errorMessage(error)}`);
    return EXIT.failure;
  }
  console.error("arrower-jobs: unexpected error (please report it):", error);
  return EXIT.failure;
}

/**
 * Errors that describe the user's situation, not a bug: arrower-jobs' own (matched by shape:
 * the config may bring its own copy of the library), PostgreSQL's, and the network's.
 */
function isExpected(error: unknown): boolean {
  if (error instanceof AggregateError) return error.errors.length > 0 && error.errors.every(isExpected);
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== "string") return false;
  return (
    /^[A-Z][A-Z_]+$/.test(code) || // ArrowerJobsError codes, Node's system errors (ECONNREFUSED…)
    /^[0-9A-Z]{5}$/.test(code) || // SQLSTATE: 28P01 bad password, 3D000 no such database…
    "severity" in error
  );
}

// An entry point only (the bin, or `tsx src/cli/main.ts`): importing it runs the CLI.
main(process.argv.slice(2)).then(
  (code) => exit(code),
  (error: unknown) => exit(report(error)),
);

/** Exits once stdout has flushed (pipes are asynchronous on some platforms). */
function exit(code: number): void {
  process.stdout.write("", () => process.exit(code));
}
