/**
 * `serveAdmin`: the admin UI on a port of its own (what `npx arrower-jobs ui` runs).
 *
 * It binds 127.0.0.1 by default. Binding any other address makes the dashboard reachable from
 * other machines, so it then requires a token and refuses to start without one. It answers only
 * to the names it listens under (see ./hosts.ts), plus `allowedHosts`.
 */
import type { AddressInfo } from "node:net";
import { lookup } from "node:dns/promises";
import { hostname as machineName, networkInterfaces } from "node:os";
import { isIP, isIPv4 } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import type { Server } from "node:http";
import type { Engine } from "../../engine.ts";
import { InvalidOptionsError } from "../../errors.ts";
import { integerOption, objectOrEmpty, rejectUnknownKeys } from "../../config.ts";
import { checkToken } from "./auth.ts";
import { ADMIN_OPTION_KEYS, createAdminHandler, resolveAdminOptions, type AdminAppOptions } from "./app.ts";
import { normalizeHostName } from "./hosts.ts";

/**
 * Options of `serveAdmin`: where to listen, plus those of `createAdminApp`.
 *
 * @example
 * ```ts
 * const server = await serveAdmin(prisma, { port: 4100 });
 * console.log(`dashboard at ${server.url}`);
 * ```
 */
export interface ServeAdminOptions extends AdminAppOptions {
  /** TCP port; 0 picks a free one. Default 4100. */
  port?: number;
  /**
   * Address to bind. Default `"127.0.0.1"` (this machine only). Any address other than a
   * loopback one (`127.x.x.x`, `::1`, `localhost`) requires `token`. IPv6 addresses may be
   * written with or without brackets (`"[::1]"`, `"::1"`).
   */
  host?: string;
}

/** A running dashboard. */
export interface AdminServer {
  /** Where it listens, e.g. `http://127.0.0.1:4100/` (with the base path). */
  url: string;
  host: string;
  port: number;
  /** Stops listening and closes open connections. Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Default port of the dashboard. */
export const DEFAULT_PORT = 4100;

/** Whether `host` reaches this machine only. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return h === "localhost" || h === "::1" || (isIPv4(h) && h.startsWith("127."));
}

/**
 * Checks the listen options before anything starts.
 * @throws InvalidOptionsError when a non-loopback host has no token (or on a bad port or host)
 */
export function resolveServeOptions(input: unknown): { port: number; host: string; app: AdminAppOptions } {
  const what = "serveAdmin options";
  const o = objectOrEmpty(input, what);
  rejectUnknownKeys(o, ["port", "host", ...ADMIN_OPTION_KEYS], what);
  const port = o.port === undefined ? DEFAULT_PORT : integerOption(o.port, "port", 0, 65_535, what);
  const given = o.host === undefined ? "127.0.0.1" : o.host;
  const host = typeof given === "string" ? bindAddress(given) : undefined;
  if (host === undefined) {
    throw new InvalidOptionsError("host", `${what}: host must be an address like "127.0.0.1", "::1" or "0.0.0.0", or a host name, got ${JSON.stringify(given)}`);
  }
  const token = checkToken(o.token, what);
  if (!isLoopback(host) && token === undefined) {
    throw new InvalidOptionsError(
      "token",
      `refusing to serve the dashboard on ${host} without a token: that address is reachable from other machines. ` +
        "Set a token (--token or ARROWER_JOBS_UI_TOKEN for the CLI, { token } for serveAdmin), or bind 127.0.0.1",
    );
  }
  const { port: _p, host: _h, ...app } = o;
  resolveAdminOptions(app, what); // the rest too, before anything starts
  return { port, host, app: app as AdminAppOptions };
}

/**
 * The address `listen` takes for a `host` option: IPv6 without brackets (`"[::1]"` → `"::1"`),
 * names lowercase; undefined when it is neither an address nor a host name.
 */
function bindAddress(host: string): string | undefined {
  const trimmed = host.trim();
  const bare = /^\[.*\]$/.test(trimmed) ? trimmed.slice(1, -1) : trimmed;
  if (isIP(bare) !== 0) return bare;
  if (trimmed.includes(":")) return undefined;
  return normalizeHostName(trimmed);
}

/**
 * Checks that `host` resolves to an address of this machine's kind, before the CLI loads its
 * config or connects: a typo in `--host` is an error about the host, not about the database.
 * @throws InvalidOptionsError (option "host") when the name does not resolve
 */
export async function checkBindHost(host: string): Promise<void> {
  if (isIP(host) !== 0) return;
  try {
    await lookup(host);
  } catch (error) {
    throw unresolvable(host, error);
  }
}

function unresolvable(host: string, error: unknown): InvalidOptionsError {
  const code = (error as { code?: string }).code ?? "";
  return new InvalidOptionsError(
    "host",
    `cannot bind ${host}: the name does not resolve (${code || String(error)}); give an address of this machine, ` +
      `e.g. 127.0.0.1, ::1 or 0.0.0.0`,
  );
}

/**
 * The host names a server bound to `host` is reached under, besides the loopback names: the
 * address or name itself, and for a wildcard bind (`0.0.0.0`, `::`) this machine's name and
 * the addresses of its interfaces.
 */
function hostNamesOf(host: string): string[] {
  const names = [host];
  if (host === "0.0.0.0" || host === "::") {
    names.push(machineName());
    for (const list of Object.values(networkInterfaces())) for (const entry of list ?? []) names.push(entry.address);
  }
  return names.map((name) => normalizeHostName(name.replace(/%.*$/, ""))).filter((name): name is string => name !== undefined);
}

/** Serves the UI of `engine`; resolves once it listens. */
export async function serveEngine(engine: Engine, options?: ServeAdminOptions): Promise<AdminServer> {
  const { port, host, app } = resolveServeOptions(options);
  const handler = createAdminHandler(engine, app, hostNamesOf(host));
  const server = createAdaptorServer({ fetch: (request: Request) => handler(request) }) as Server;
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(
        error.code === "EADDRINUSE"
          ? new InvalidOptionsError("port", `port ${port} on ${host} is in use: pick another with --port (or { port })`)
          : error.code === "EADDRNOTAVAIL"
            ? new InvalidOptionsError("host", `cannot bind ${host}: this machine has no such address`)
            : error.code === "ENOTFOUND" || error.code === "EAI_AGAIN" || error.code === "EAI_FAIL" || error.code === "EAI_NONAME"
              ? unresolvable(host, error)
              : error,
      );
    };
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const base = (app.basePath ?? "").replace(/\/+$/, "");
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      // Browsers keep connections open; do not wait for them.
      setTimeout(() => server.closeAllConnections(), 1_000).unref();
    }));
  return {
    url: `http://${shown}:${address.port}${base}/`,
    host: address.address,
    port: address.port,
    close,
    [Symbol.asyncDispose]: close,
  };
}
