/**
 * `serveAdmin`: the admin UI on a port of its own (what `npx arrower-jobs ui` runs).
 *
 * It binds 127.0.0.1 by default. Binding any other address makes the dashboard reachable from
 * other machines, so it then requires a token and refuses to start without one.
 */
import type { AddressInfo } from "node:net";
import { isIPv4 } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import type { Server } from "node:http";
import type { Engine } from "../../engine.ts";
import { InvalidOptionsError } from "../../errors.ts";
import { integerOption, objectOrEmpty, rejectUnknownKeys } from "../../config.ts";
import { checkToken } from "./auth.ts";
import { createAdminHandler, type AdminAppOptions } from "./app.ts";

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
   * loopback one (`127.x.x.x`, `::1`, `localhost`) requires `token`.
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
  rejectUnknownKeys(o, ["port", "host", "token", "basePath", "secret"], what);
  const port = o.port === undefined ? DEFAULT_PORT : integerOption(o.port, "port", 0, 65_535, what);
  const host = o.host === undefined ? "127.0.0.1" : o.host;
  if (typeof host !== "string" || host.trim() === "") throw new InvalidOptionsError("host", `${what}: host must be an address like "127.0.0.1"`);
  const token = checkToken(o.token, what);
  if (!isLoopback(host) && token === undefined) {
    throw new InvalidOptionsError(
      "token",
      `refusing to serve the dashboard on ${host} without a token: that address is reachable from other machines. ` +
        "Set a token (--token or ARROWER_JOBS_UI_TOKEN for the CLI, { token } for serveAdmin), or bind 127.0.0.1",
    );
  }
  const { port: _p, host: _h, ...app } = o;
  return { port, host, app: app as AdminAppOptions };
}

/** Serves the UI of `engine`; resolves once it listens. */
export async function serveEngine(engine: Engine, options?: ServeAdminOptions): Promise<AdminServer> {
  const { port, host, app } = resolveServeOptions(options);
  const handler = createAdminHandler(engine, app);
  const server = createAdaptorServer({ fetch: (request: Request) => handler(request) }) as Server;
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(
        error.code === "EADDRINUSE"
          ? new InvalidOptionsError("port", `port ${port} on ${host} is in use: pick another with --port (or { port })`)
          : error.code === "EADDRNOTAVAIL"
            ? new InvalidOptionsError("host", `cannot bind ${host}: this machine has no such address`)
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
