/**
 * `arrower-jobs migrate`: creates or updates the library's tables; `--check` only reports.
 */
import { schemaStatusOf } from "../client.ts";
import { EXIT, formatFlags, parseFlags, type Command, type FlagSpecs } from "./args.ts";
import { resolveTarget } from "./load-config.ts";

/** Flags that choose the database, shared with `status`. */
export const TARGET_FLAGS = {
  config: { type: "string", short: "c", value: "path", description: "Config file. Default: arrower-jobs.config.ts (or .mts, .js, .mjs) in this directory." },
  "database-url": { type: "string", value: "url", description: "Use this database instead of a config file (needs no Prisma client)." },
  schema: { type: "string", value: "name", description: "With --database-url: the library's PostgreSQL schema. Default: arrower." },
} satisfies FlagSpecs;

const FLAGS = {
  ...TARGET_FLAGS,
  check: { type: "boolean", description: "Change nothing: exit 1 while migrations are pending, 0 when up to date." },
} satisfies FlagSpecs;

/** The `migrate` command. */
export const migrateCommand: Command = {
  name: "migrate",
  summary: "Create or update the library's tables (--check: only report)",
  help: () => `Usage: arrower-jobs migrate [--config path | --database-url url [--schema name]] [--check]

Applies the migrations this version of arrower-jobs ships that the database does not have yet,
in one transaction. Idempotent, and safe to run from several processes at once. Run it before
starting workers of a new version (workers refuse a schema that is behind).

Flags:
${formatFlags(FLAGS)}`,
  run,
};

async function run(argv: readonly string[]): Promise<number> {
  const flags = parseFlags("migrate", argv, FLAGS);
  if (flags.help) {
    console.log(migrateCommand.help());
    return EXIT.ok;
  }
  const target = await resolveTarget(flags);
  try {
    const schema = target.engine.options.schema;
    if (flags.check) {
      const { version, latest } = await schemaStatusOf(target.engine);
      if (version === latest) {
        console.log(`schema "${schema}" is up to date (version ${version})`);
        return EXIT.ok;
      }
      if (version < latest) {
        const pending = latest - version;
        console.error(
          `arrower-jobs: ${pending} migration${pending === 1 ? "" : "s"} pending: schema "${schema}" is at version ${version}` +
            `${version === 0 ? " (no arrower-jobs tables yet)" : ""}, this version of arrower-jobs expects ${latest}; run \`arrower-jobs migrate\``,
        );
      } else {
        console.error(
          `arrower-jobs: schema "${schema}" is at version ${version}, newer than the ${latest} this version of arrower-jobs expects: upgrade arrower-jobs`,
        );
      }
      return EXIT.failure;
    }
    const { applied, version } = await target.engine.migrate();
    if (applied.length === 0) {
      console.log(`schema "${schema}" is up to date (version ${version}), nothing to apply`);
    } else {
      for (const v of applied) console.log(`applied migration ${String(v).padStart(6, "0")}.sql`);
      console.log(`schema "${schema}" is now at version ${version}`);
    }
    return EXIT.ok;
  } finally {
    await target.close();
  }
}
