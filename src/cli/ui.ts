/**
 * `arrower-jobs ui`: serves the admin dashboard (src/admin/ui/) until SIGINT/SIGTERM.
 *
 * Binds 127.0.0.1 by default. Any other host needs a token (`--token`, or better
 * ARROWER_JOBS_UI_TOKEN, which does not show in the process list); without one it refuses to
 * start, before loading the config or touching the database.
 */
import { checkBindHost, serveEngine, resolveServeOptions, DEFAULT_PORT } from "../admin/ui/server.ts";
import { parseDuration } from "../cron/spec.ts";
import { CliError, EXIT, formatFlags, listFlag, parseFlags, type Command, type FlagSpecs } from "./args.ts";
import { resolveTarget } from "./load-config.ts";
import { TARGET_FLAGS } from "./migrate.ts";

/** Environment variable holding the dashboard's token. */
export const TOKEN_ENV = "ARROWER_JOBS_UI_TOKEN";

const FLAGS = {
  ...TARGET_FLAGS,
  port: { type: "string", short: "p", value: "port", description: `Port to listen on (0: any free one). Default: ${DEFAULT_PORT}.` },
  host: { type: "string", value: "address", description: "Address to bind (IPv6 with or without brackets). Default: 127.0.0.1. Any non-loopback address needs a token." },
  "allowed-hosts": {
    type: "string",
    value: "names",
    description: "Other host names the dashboard is reached under, comma-separated (a DNS name, a reverse proxy). Default: its own address and localhost.",
  },
  "session-lifetime": { type: "string", value: "duration", description: "How long a sign-in with the token lasts, e.g. 8h or 30m. Default: 12h." },
  token: { type: "string", value: "token", description: `Require this token (Bearer header or sign-in form). Default: $${TOKEN_ENV}.` },
  "base-path": { type: "string", value: "path", description: "Serve under this path, e.g. /jobs (behind a reverse proxy). Default: /." },
} satisfies FlagSpecs;

/** The `ui` command. */
export const uiCommand: Command = {
  name: "ui",
  summary: "Serve the admin dashboard (127.0.0.1:4100 by default)",
  help: () => `Usage: arrower-jobs ui [--config path | --database-url url [--schema name]] [--port ${DEFAULT_PORT}] [--host 127.0.0.1] [--token T]

Serves the admin dashboard: queues, jobs, failures, schedules and worker pools, with retry,
cancel, delete, requeue, pause/resume and prune. Stops on SIGINT/SIGTERM.

It binds 127.0.0.1 unless told otherwise. Binding any other address (0.0.0.0, a LAN address)
makes it reachable from other machines and requires a token, given as --token or in
${TOKEN_ENV} (preferred: flags show in the process list); it refuses to start without one.
With a token every request must carry it: "Authorization: Bearer <token>", or the browser
signs in with a form (an HttpOnly cookie the server refuses after --session-lifetime, or
after "Sign out").

It answers only to its own address and localhost, 127.0.0.1, [::1] (any port: an SSH tunnel
works), so a web page cannot reach it through a DNS name that points at this machine (DNS
rebinding). Reached under another name (a DNS name, a reverse proxy that passes it on), list
it in --allowed-hosts.

Flags:
${formatFlags(FLAGS)}`,
  run,
};

async function run(argv: readonly string[]): Promise<number> {
  const flags = parseFlags("ui", argv, FLAGS);
  if (flags.help) {
    console.log(uiCommand.help());
    return EXIT.ok;
  }
  const port = flags.port === undefined ? DEFAULT_PORT : portFlag(flags.port);
  const token = flags.token ?? (process.env[TOKEN_ENV] || undefined);
  const options = {
    port,
    ...(flags.host === undefined ? {} : { host: flags.host }),
    ...(token === undefined ? {} : { token }),
    ...(flags["base-path"] === undefined ? {} : { basePath: flags["base-path"] }),
    ...(flags["allowed-hosts"] === undefined ? {} : { allowedHosts: listFlag(flags["allowed-hosts"]) }),
    ...(flags["session-lifetime"] === undefined ? {} : { sessionLifetime: durationFlag(flags["session-lifetime"]) }),
  };
  // Refuse a bad bind before loading the config (which may take seconds) or connecting.
  try {
    resolveServeOptions(options);
  } catch (error) {
    if ((error as { option?: string }).option === "token" && token === undefined) {
      throw new CliError(
        `refusing to serve the dashboard on ${flags.host} without a token: that address is reachable from other machines. ` +
          `Set ${TOKEN_ENV} (or --token), or bind 127.0.0.1`,
      );
    }
    const message = (error as Error).message.replace(/^(serveAdmin|createAdminApp) options: /, "");
    throw new CliError((error as { option?: string }).option === "token" ? `${TOKEN_ENV} / --token: ${message}` : message);
  }
  // A host name that does not resolve is a mistake in --host, not a database problem.
  await checkBindHost(resolveServeOptions(options).host).catch((error: unknown) => {
    throw new CliError((error as Error).message);
  });

  let stop!: (signal: NodeJS.Signals) => void;
  const stopped = new Promise<NodeJS.Signals>((resolve) => (stop = resolve));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);

  const target = await resolveTarget(flags);
  let server;
  try {
    server = await serveEngine(target.engine, options);
  } catch (error) {
    await target.close();
    const code = (error as { code?: string }).code;
    if (code === "INVALID_OPTIONS") throw new CliError((error as Error).message, EXIT.failure);
    throw error;
  }
  console.log(`arrower-jobs: dashboard at ${server.url} (${target.source}${token ? ", token required" : ""}); stop it with Ctrl-C`);
  const signal = await stopped;
  console.log(`arrower-jobs: ${signal}: stopping the dashboard`);
  await server.close();
  await target.engine.close().catch(() => undefined);
  await target.close();
  return EXIT.ok;
}

function durationFlag(value: string): number {
  let ms: number;
  try {
    ms = parseDuration(value.trim(), value);
  } catch {
    throw new CliError(`--session-lifetime must be a duration like 12h, 8h or 30m, got ${JSON.stringify(value)}`);
  }
  if (ms < 60_000 || ms > 30 * 86_400_000) throw new CliError(`--session-lifetime must be from 1m to 720h, got ${JSON.stringify(value)}`);
  return ms;
}

function portFlag(value: string): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n > 65_535) throw new CliError(`--port must be a whole number from 0 to 65535, got ${JSON.stringify(value)}`);
  return n;
}
