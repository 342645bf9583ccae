/**
 * `arrower-jobs prune`: deletes history older than the retention, once (workers do it on their
 * own every minute).
 */
import { prune } from "../admin/api.ts";
import { CliError, EXIT, formatFlags, parseFlags, type Command, type FlagSpecs } from "./args.ts";
import { resolveTarget } from "./load-config.ts";
import { TARGET_FLAGS } from "./migrate.ts";

const DAY = 86_400_000;

const FLAGS = {
  ...TARGET_FLAGS,
  "succeeded-days": { type: "string", value: "days", description: "Prune succeeded and cancelled jobs finished more than this many days ago. Default: the queue's retention, else 7." },
  "failed-days": { type: "string", value: "days", description: "Prune failed jobs finished more than this many days ago. Default: the queue's retention, else 30." },
  queue: { type: "string", value: "name", description: "Only this queue." },
} satisfies FlagSpecs;

/** The `prune` command. */
export const pruneCommand: Command = {
  name: "prune",
  summary: "Delete old history now (succeeded after 7 days, failed after 30)",
  help: () => `Usage: arrower-jobs prune [--config path | --database-url url [--schema name]] [--succeeded-days N] [--failed-days N] [--queue name]

Deletes finished jobs older than the retention, in batches of 1,000 (each its own short
statement, so running workers are not blocked). Worker processes do this once a minute. Without
--succeeded-days or --failed-days, each queue keeps the retention its pools declared.

Flags:
${formatFlags(FLAGS)}`,
  run,
};

function days(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new CliError(`--${flag} takes a number of days (0 or more), got "${String(value)}"`);
  return Math.round(n * DAY);
}

async function run(argv: readonly string[]): Promise<number> {
  const flags = parseFlags("prune", argv, FLAGS);
  if (flags.help) {
    console.log(pruneCommand.help());
    return EXIT.ok;
  }
  const succeeded = days(flags["succeeded-days"], "succeeded-days");
  const failed = days(flags["failed-days"], "failed-days");
  const target = await resolveTarget(flags);
  try {
    const queue = flags.queue as string | undefined;
    const result = await prune(target.engine, {
      ...(succeeded === undefined ? {} : { succeeded }),
      ...(failed === undefined ? {} : { failed }),
      ...(queue === undefined ? {} : { queue }),
    });
    console.log(`pruned ${result.succeeded} succeeded, ${result.cancelled} cancelled and ${result.failed} failed jobs`);
    return EXIT.ok;
  } finally {
    await target.close();
  }
}
