/**
 * Finds, loads and checks `arrower-jobs.config.ts` (or .mts/.js/.mjs).
 *
 * TypeScript configs load through jiti, so Node 20 needs no build step and no loader flag. Every
 * mistake is reported as one line naming the file, before anything connects to the database.
 *
 * The config may bring its own copy of arrower-jobs' modules (jiti transpiles and caches what
 * it imports), so nothing here relies on `instanceof` or module identity: shapes are checked.
 */
import { existsSync, statSync } from "node:fs";
import { isAbsolute, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { createJiti } from "jiti";
import { closest } from "../config.ts";
import { engineOf, type JobsClient } from "../client.ts";
import { Engine, resolveJobsOptions } from "../engine.ts";
import type { ArrowerJobsConfig, HandlerEntry, QueueConfig } from "../config-file.ts";
import { resolveQueueOptions, type QueueOptions } from "../worker/options.ts";
import { CliError } from "./args.ts";

/** Looked for in the working directory, in this order, when `--config` is not given. */
export const CONFIG_FILES = ["arrower-jobs.config.ts", "arrower-jobs.config.mts", "arrower-jobs.config.js", "arrower-jobs.config.mjs"] as const;

/** The keys of {@link ArrowerJobsConfig}; a key added there fails to compile until it is listed here. */
const CONFIG_KEYS = ["prisma", "queues"] as const satisfies ReadonlyArray<keyof ArrowerJobsConfig>;
const configKeysComplete: [Exclude<keyof ArrowerJobsConfig, (typeof CONFIG_KEYS)[number]>] extends [never] ? true : never = true;
void configKeysComplete;

/** A checked queue of the config: its name, handlers and the options for `$jobs.queue()`. */
export interface LoadedQueue {
  name: string;
  handlers: HandlerEntry<unknown>[];
  options: QueueOptions;
}

/** A loaded, checked config. */
export interface LoadedConfig {
  /** Absolute path of the file. */
  path: string;
  /** The path as the user should read it (relative to the working directory when inside it). */
  display: string;
  /** The default export. */
  config: ArrowerJobsConfig<unknown>;
  /** Its queues, checked. */
  queues: LoadedQueue[];
}

/**
 * Finds the config file: `explicit` (relative to `cwd`) when given, else the first of
 * {@link CONFIG_FILES} in `cwd`.
 * @throws CliError (exit 2) when there is none
 */
export function findConfigFile(explicit: string | undefined, cwd: string, alternative?: string): string {
  if (explicit !== undefined) {
    const path = resolve(cwd, explicit);
    if (!existsSync(path)) throw new CliError(`config file ${explicit} not found (resolved to ${path})`);
    if (!statSync(path).isFile()) throw new CliError(`config file ${explicit} is not a file`);
    return path;
  }
  for (const name of CONFIG_FILES) {
    const path = resolve(cwd, name);
    if (existsSync(path)) return path;
  }
  throw new CliError(
    `no config file: looked for ${CONFIG_FILES.join(", ")} in ${cwd}; pass --config <path>${alternative ? ` ${alternative}` : ""}`,
  );
}

/**
 * Loads and checks the config.
 * @param explicit the `--config` flag
 * @param alternative what else the command accepts, for the "no config file" message
 * @throws CliError (exit 2) naming the file and the problem
 */
export async function loadConfig(explicit: string | undefined, cwd: string = process.cwd(), alternative?: string): Promise<LoadedConfig> {
  const path = findConfigFile(explicit, cwd, alternative);
  const display = displayPath(path, cwd);
  const fail = (problem: string): never => {
    throw new CliError(`${display}: ${problem}`);
  };

  let module: unknown;
  try {
    // jiti's file cache (on by default) keeps the transpiled output, so a large generated Prisma
    // client is compiled once, not at every start.
    const jiti = createJiti(pathToFileURL(cwd + "/").href);
    module = await jiti.import(path);
  } catch (error) {
    fail(`cannot load it: ${describeLoadError(error, path, display)}`);
  }
  const hasDefault = typeof module === "object" && module !== null && "default" in module && (module as { default: unknown }).default !== undefined;
  if (!hasDefault) {
    const named = typeof module === "object" && module !== null ? Object.keys(module).filter((k) => k !== "__esModule") : [];
    fail(
      `no default export${named.length > 0 ? ` (it exports ${named.join(", ")})` : ""}: ` +
        "end it with `export default defineConfig({ prisma, queues: [...] })`",
    );
  }
  const exported = (module as { default: unknown }).default;
  if (exported === null || typeof exported !== "object" || Array.isArray(exported)) {
    fail(`the default export must be defineConfig({ prisma, queues }), got ${describe(exported)}`);
  }
  const config = exported as Record<string, unknown>;
  for (const key of Object.keys(config)) {
    if ((CONFIG_KEYS as readonly string[]).includes(key)) continue;
    const suggestion = closest(key, CONFIG_KEYS);
    fail(`unknown key "${key}"${suggestion ? `, did you mean "${suggestion}"?` : `: the config has ${CONFIG_KEYS.join(", ")}`}`);
  }
  const prisma = config.prisma as { $jobs?: { queue?: unknown; migrate?: unknown } } | undefined;
  if (prisma === undefined || prisma === null) {
    fail("`prisma` is missing: pass the Prisma client extended with jobs(), e.g. `prisma: new PrismaClient({ adapter }).$extends(jobs())`");
  }
  if (typeof prisma !== "object" && typeof prisma !== "function") fail(`\`prisma\` must be a Prisma client, got ${describe(prisma)}`);
  const jobs = prisma!.$jobs;
  if (!jobs || typeof jobs.queue !== "function" || typeof jobs.migrate !== "function") {
    fail("`prisma` has no `$jobs`: extend the client with jobs(), e.g. `new PrismaClient({ adapter }).$extends(jobs())`");
  }
  // Every command connects: an unset DATABASE_URL is a config problem, said before connecting.
  try {
    engineOf(jobs as unknown as JobsClient<unknown>).connectionConfig();
  } catch (error) {
    if ((error as { option?: unknown }).option === "connectionString") fail((error as Error).message);
  }

  const queues = checkQueues(config.queues, fail);
  return { path, display, config: config as unknown as ArrowerJobsConfig<unknown>, queues };
}

function checkQueues(input: unknown, fail: (problem: string) => never): LoadedQueue[] {
  if (input === undefined) return [];
  if (!Array.isArray(input)) fail(`\`queues\` must be an array of { name, handlers, ...options }, got ${describe(input)}`);
  const seen = new Set<string>();
  return (input as unknown[]).map((value, index) => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      fail(`queues[${index}] must be an object { name, handlers, ...options }, got ${describe(value)}`);
    }
    const { name, handlers, ...options } = value as QueueConfig<unknown> & Record<string, unknown>;
    if (typeof name !== "string" || name === "") fail(`queues[${index}] needs a \`name\` (a non-empty string)`);
    const where = `queue "${name}"`;
    if (seen.has(name)) fail(`${where} is defined twice: merge its handlers into one entry`);
    seen.add(name);
    // Misspelt `handlers` would otherwise be reported as "no handlers" or as an unknown option
    // whose suggestions do not include it.
    for (const key of Object.keys(options)) {
      if (closest(key, ["handlers", "name"]) && key !== "handlers") fail(`${where}: unknown key "${key}", did you mean "${closest(key, ["handlers", "name"])}"?`);
    }
    try {
      resolveQueueOptions(name, options);
    } catch (error) {
      fail(error instanceof Error ? error.message : String(error));
    }
    if (handlers === undefined || (Array.isArray(handlers) && handlers.length === 0)) {
      fail(`${where} has no handlers: add entries like \`handlers: [handle(SendWelcome, sendWelcome)]\``);
    }
    if (!Array.isArray(handlers)) fail(`${where}: \`handlers\` must be an array of handle(JobType, handler), got ${describe(handlers)}`);
    const types = new Set<string>();
    for (const [i, entry] of (handlers as unknown[]).entries()) {
      const e = (typeof entry === "object" && entry !== null ? entry : {}) as { type?: unknown; handler?: unknown };
      // A job type from defineJob() is a function with `name` and `defaults` (see isJobType).
      const type = e.type as ((...args: never[]) => unknown) & { defaults?: unknown };
      if (typeof type !== "function" || typeof type.defaults !== "object") {
        fail(`${where}: handlers[${i}] must be handle(JobType, handler) with a job type from defineJob(), got ${describe(entry)}`);
      }
      if (typeof e.handler !== "function") fail(`${where}: the handler of "${type.name}" must be a function, got ${describe(e.handler)}`);
      if (types.has(type.name)) fail(`${where}: job type "${type.name}" has two handlers`);
      types.add(type.name);
    }
    return { name, handlers: handlers as HandlerEntry<unknown>[], options: options as QueueOptions };
  });
}

/**
 * One line for a load error (a syntax error, a missing module, a throw in the file), with the
 * place in the config file when the error has one: the user's fix starts there.
 */
function describeLoadError(error: unknown, path: string, display: string): string {
  if (!(error instanceof Error)) return String(error);
  const lines = error.message.split("\n").map((line) => line.trim());
  let text = lines[0]!.replace(/^Error: /, "");
  if (error.name && error.name !== "Error" && !text.startsWith(error.name)) text = `${error.name}: ${text}`;
  // jiti puts a syntax error's position on the message's next line; a throw has it in the stack.
  const position =
    lines.slice(1).find((line) => /:\d+:\d+$/.test(line)) ??
    error.stack?.split("\n").find((line) => line.includes(path))?.match(/(\d+:\d+)\)?$/)?.[1];
  if (!position) return text;
  const at = position.startsWith(path) ? display + position.slice(path.length) : /^\d+:\d+$/.test(position) ? `${display}:${position}` : position;
  return `${text} (at ${at})`;
}

function displayPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value)}`;
  if (typeof value === "function") return "a function";
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}

/** What `migrate` and `status` work on: the database and schema of a config, or of `--database-url`. */
export interface Target {
  engine: Engine;
  /** Queue names the config defines (none with `--database-url`). */
  queues: string[];
  /** Where the settings came from, for messages. */
  source: string;
  /** Releases the config's Prisma client, if any. */
  close(): Promise<void>;
}

/** The flags that choose a {@link Target}. */
export interface TargetFlags {
  config?: string | undefined;
  "database-url"?: string | undefined;
  schema?: string | undefined;
}

/**
 * The engine to use: built from `--database-url` (and `--schema`) with `pg` only, so migrate and
 * status work in a deploy step that has no Prisma client; else the config's.
 * @throws CliError (exit 2) on conflicting flags or a bad config
 */
export async function resolveTarget(flags: TargetFlags, cwd: string = process.cwd()): Promise<Target> {
  const url = flags["database-url"];
  if (url !== undefined) {
    if (flags.config !== undefined) throw new CliError("use either --config or --database-url, not both");
    let options;
    try {
      options = resolveJobsOptions({ connectionString: url, ...(flags.schema === undefined ? {} : { schema: flags.schema }) });
    } catch (error) {
      const flag = (error as { option?: string }).option === "schema" ? "--schema" : "--database-url";
      throw new CliError(`${flag}: ${(error as Error).message}`);
    }
    return { engine: new Engine(options, undefined), queues: [], source: "--database-url", close: async () => undefined };
  }
  if (flags.schema !== undefined) {
    throw new CliError("--schema goes with --database-url; with a config file the schema is the one passed to jobs({ schema })");
  }
  const loaded = await loadConfig(flags.config, cwd, "or --database-url <url>");
  const prisma = loaded.config.prisma as { $jobs: JobsClient<unknown>; $disconnect?: () => Promise<void> };
  return {
    engine: engineOf(prisma.$jobs),
    queues: loaded.queues.map((q) => q.name),
    source: loaded.display,
    close: async () => {
      await prisma.$disconnect?.().catch(() => undefined);
    },
  };
}
