/**
 * `arrower-jobs/admin`: the admin dashboard. Server-rendered HTML (Hono) that shows queues, jobs,
 * failures, schedules and worker pools, and retries, cancels, deletes, requeues, pauses and
 * prunes, each action a POST behind a CSRF token.
 *
 * @example Mount it in your own server, behind your own auth:
 * ```ts
 * import { createAdminApp } from "arrower-jobs/admin";
 * const admin = createAdminApp(prisma, { basePath: "/admin/jobs" });
 * // Hono:    app.all("/admin/jobs/*", (c) => admin(c.req.raw));
 * // Node:    any adapter from (Request) => Response, e.g. @hono/node-server's createAdaptorServer
 * ```
 *
 * @example Or on a port of its own (what `npx arrower-jobs ui` does):
 * ```ts
 * import { serveAdmin } from "arrower-jobs/admin";
 * const server = await serveAdmin(prisma, { port: 4100 }); // 127.0.0.1 unless host + token
 * ```
 */
import type { JobsClient } from "../../client.ts";
import { engineOf } from "../../client.ts";
import type { Engine } from "../../engine.ts";
import { IntegrationError } from "../../errors.ts";
import { createAdminHandler, type AdminAppOptions, type FetchHandler } from "./app.ts";
import { serveEngine, type AdminServer, type ServeAdminOptions } from "./server.ts";

export type { AdminAppOptions, FetchHandler } from "./app.ts";
export type { AdminServer, ServeAdminOptions } from "./server.ts";

/**
 * What the dashboard reads from: a Prisma client extended with `jobs()`, or its `$jobs`.
 * (`any`: a client's `$jobs` is typed by its own transaction client, and every one will do.)
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AdminSource = { $jobs: JobsClient<any> } | JobsClient<any>;

/**
 * The dashboard as a standard fetch handler, `(request: Request) => Response | Promise<Response>`.
 * Mount it under a path of your app's server (pass that path as `basePath`) and put your own
 * auth in front of it, or set `token`.
 *
 * Reads and actions use the installation's small admin pool (2 connections, opened on first use).
 *
 * @param source `prisma` (extended with `jobs()`) or `prisma.$jobs`
 * @param options `basePath` (default `""`), `token` (default none), `secret` (default random per
 *   process), `allowedHosts` (default: any `Host`), `sessionLifetime` (default 12 h)
 * @throws InvalidOptionsError on bad options; IntegrationError when `source` is neither
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { createAdminApp } from "arrower-jobs/admin";
 *
 * const admin = createAdminApp(prisma, { basePath: "/admin/jobs" });
 * const app = new Hono();
 * app.use("/admin/*", myAuth);
 * app.all("/admin/jobs/*", (c) => admin(c.req.raw));
 * ```
 */
export function createAdminApp(source: AdminSource, options?: AdminAppOptions): FetchHandler {
  return createAdminHandler(engineFrom(source, "createAdminApp"), options);
}

/**
 * Serves the dashboard on a port of its own and resolves once it listens. Binds 127.0.0.1 by
 * default; any other host requires `token` and is refused without one.
 *
 * @param source `prisma` (extended with `jobs()`) or `prisma.$jobs`
 * @param options `port` (default 4100; 0 = any free port), `host` (default `"127.0.0.1"`),
 *   `token`, `basePath`, `secret`, `allowedHosts` (names besides its own address and
 *   localhost; other `Host`s get 421), `sessionLifetime`
 * @throws InvalidOptionsError (a non-loopback host without a token, a port in use, …)
 *
 * @example
 * ```ts
 * const server = await serveAdmin(prisma, { host: "0.0.0.0", port: 4100, token: process.env.ARROWER_JOBS_UI_TOKEN });
 * process.on("SIGTERM", () => server.close());
 * ```
 */
export function serveAdmin(source: AdminSource, options?: ServeAdminOptions): Promise<AdminServer> {
  return serveEngine(engineFrom(source, "serveAdmin"), options);
}

/** The engine behind a client or `$jobs`, checked by shape (a config may bring its own copy of the library). */
function engineFrom(source: unknown, what: string): Engine {
  const candidate = source !== null && (typeof source === "object" || typeof source === "function")
    ? ((source as { $jobs?: unknown }).$jobs ?? source)
    : undefined;
  const engine = candidate === undefined ? undefined : (engineOf(candidate as JobsClient<unknown>) as Engine | undefined);
  if (!engine || typeof engine.pool !== "function" || typeof engine.queries !== "object") {
    throw new IntegrationError(`${what} needs a Prisma client extended with jobs() (or its $jobs), e.g. ${what}(prisma)`);
  }
  return engine;
}
