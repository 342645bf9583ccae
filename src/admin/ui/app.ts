/**
 * The admin UI as a fetch handler: a Hono app with its middleware (security headers, token
 * check, CSRF, flash messages) and the routes of ./routes/. {@link createAdminHandler} works on
 * an {@link Engine}; the public `createAdminApp` (./index.ts) finds the engine of a Prisma
 * client or `$jobs` and calls it.
 */
import { randomBytes } from "node:crypto";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { Engine } from "../../engine.ts";
import { InvalidOptionsError } from "../../errors.ts";
import { integerOption, objectOrEmpty, rejectUnknownKeys } from "../../config.ts";
import { bearerMatches, checkToken, DEFAULT_SESSION_LIFETIME, Sessions, SESSION_COOKIE } from "./auth.ts";
import { checkAllowedHosts, hostPolicy, refuseHost, refuseOrigin, type HostPolicy } from "./hosts.ts";
import { CSRF_COOKIE, CSRF_FIELD, CSRF_HEADER, csrfToken, newCsrfSeed, verifyCsrf } from "./csrf.ts";
import { readFlash, FLASH_COOKIE } from "./flash.ts";
import { errorPage } from "./views/pages.ts";
import type { ViewContext } from "./views/components.ts";
import { registerActions } from "./routes/actions.ts";
import { registerApi } from "./routes/api.ts";
import { registerPages } from "./routes/pages.ts";
import { describeError } from "./errors.ts";
import { cookieOptions, type UiDeps, type UiEnv } from "./context.ts";

/**
 * Options of `createAdminApp`.
 *
 * @example
 * ```ts
 * const admin = createAdminApp(prisma, { basePath: "/admin/jobs", token: process.env.JOBS_UI_TOKEN });
 * ```
 */
export interface AdminAppOptions {
  /**
   * The path the handler is mounted under, e.g. `"/admin/jobs"`: links, redirects and cookies
   * use it. Requests may arrive with it (most routers) or without it (routers that strip the
   * mount path): both work. Default `""` (the root).
   */
  basePath?: string;
  /**
   * When set, every request must carry it: `Authorization: Bearer <token>`, or the HttpOnly
   * session cookie the UI's sign-in form sets. At least 16 characters. Default: none (the UI
   * relies on where it is reachable, or on the app's own auth in front of it).
   */
  token?: string;
  /**
   * Key for the CSRF tokens, flash messages and session cookies (HMAC-SHA256). Default: random
   * per process, which is right for one process; give every process the same secret (32+
   * random bytes) when several serve the UI behind one load balancer.
   */
  secret?: string | Uint8Array;
  /**
   * Host names the UI answers to (DNS rebinding protection), e.g. `["jobs.example.com"]`: a
   * request whose `Host` is not one of them, nor `localhost`, `127.0.0.1` or `[::1]`, gets 421.
   * A POST's `Origin` must be the UI's own origin or one of these names. Default for
   * `createAdminApp`: any `Host` (your server decides which names reach it; `Origin` is still
   * checked); `serveAdmin` always checks, adding the address it listens on.
   */
  allowedHosts?: string[];
  /**
   * How long a sign-in with the token lasts, ms: the server refuses the session cookie after
   * it, and at once after "Sign out". Default 12 hours; from 1 minute to 30 days.
   */
  sessionLifetime?: number;
}

/** A standard fetch handler: mount it in any server that speaks `Request`/`Response`. */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

const BASE_PATH = /^(\/[A-Za-z0-9._~-]+)*$/;

/** Options of `createAdminApp`, checked. */
export interface ResolvedAdminOptions {
  base: string;
  token: string | undefined;
  secret: Buffer;
  allowedHosts: string[] | undefined;
  sessionLifetime: number;
}

/** Keys of {@link AdminAppOptions}. */
export const ADMIN_OPTION_KEYS = ["basePath", "token", "secret", "allowedHosts", "sessionLifetime"] as const;

/** Validates `createAdminApp` options. */
export function resolveAdminOptions(input: unknown, what = "createAdminApp options"): ResolvedAdminOptions {
  const o = objectOrEmpty(input, what);
  rejectUnknownKeys(o, [...ADMIN_OPTION_KEYS], what);
  const rawBase: unknown = o.basePath === undefined ? "" : o.basePath;
  if (typeof rawBase !== "string") throw new InvalidOptionsError("basePath", `${what}: basePath must be a string like "/admin/jobs"`);
  const base = rawBase.replace(/\/+$/, "");
  if (!BASE_PATH.test(base)) {
    throw new InvalidOptionsError(
      "basePath",
      `${what}: basePath must be a path like "/admin/jobs" (segments of letters, digits and . _ ~ -), got ${JSON.stringify(o.basePath)}`,
    );
  }
  const token = checkToken(o.token, what);
  let secret: Buffer;
  if (o.secret === undefined) secret = randomBytes(32);
  else if (typeof o.secret === "string" && o.secret.length >= 16) secret = Buffer.from(o.secret);
  else if (o.secret instanceof Uint8Array && o.secret.length >= 16) secret = Buffer.from(o.secret);
  else throw new InvalidOptionsError("secret", `${what}: secret must be a string or bytes of at least 16 (better 32 random bytes)`);
  const allowedHosts = checkAllowedHosts(o.allowedHosts, what);
  const sessionLifetime = o.sessionLifetime === undefined
    ? DEFAULT_SESSION_LIFETIME
    : integerOption(o.sessionLifetime, "sessionLifetime", 60_000, 30 * 86_400_000, what);
  return { base, token, secret, allowedHosts, sessionLifetime };
}

/** Headers of every response. The CSP allows no inline script or style: ours are files. */
const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-frame-options": "DENY",
  // Not "no-referrer": under it a browser sends `Origin: null` with the UI's own forms, and the
  // Origin check (hosts.ts) needs the real one. "same-origin" still sends nothing elsewhere.
  "referrer-policy": "same-origin",
  "x-content-type-options": "nosniff",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

/**
 * The admin UI of `engine` as a fetch handler. `impliedHosts`: the names `serveAdmin` listens
 * under (the Host check is then always on); null for a handler mounted in the app's server.
 */
export function createAdminHandler(engine: Engine, options?: AdminAppOptions, impliedHosts: readonly string[] | null = null): FetchHandler {
  const { base, token, secret, allowedHosts, sessionLifetime } = resolveAdminOptions(options);
  const sessions = token === undefined ? undefined : new Sessions(secret, token, sessionLifetime);
  const hosts: HostPolicy = hostPolicy(allowedHosts, impliedHosts);
  const deps: UiDeps = { engine, base, secret, token, sessions };
  const app = new Hono<UiEnv>({
    // Accept requests with the mount path (most routers) and without it (routers that strip it).
    getPath: (request) => {
      const path = new URL(request.url).pathname;
      if (base !== "" && (path === base || path.startsWith(`${base}/`))) return path.slice(base.length) || "/";
      return path;
    },
  });

  app.use("*", async (c, next) => {
    await next();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(name, value);
    if (!c.res.headers.has("cache-control")) c.res.headers.set("cache-control", "no-store");
  });

  // DNS rebinding: answer only under our own host names, before anything is read or set.
  app.use("*", async (c, next) => {
    const refused = refuseHost(hosts, c.req.raw);
    return refused === undefined ? next() : c.text(refused, 421);
  });

  // CSRF seed, flash message and the view context.
  app.use("*", async (c, next) => {
    let seed = getCookie(c, CSRF_COOKIE);
    if (!seed || !/^[A-Za-z0-9_-]{16,128}$/.test(seed)) {
      seed = newCsrfSeed();
      setCookie(c, CSRF_COOKIE, seed, cookieOptions(c, base));
    }
    // A flash message is shown by the next page, once.
    let flash = null;
    const isPage = c.req.method === "GET" && !c.req.path.startsWith("/api/") && !c.req.path.startsWith("/assets/");
    const rawFlash = isPage ? getCookie(c, FLASH_COOKIE) : undefined;
    if (rawFlash !== undefined) {
      flash = readFlash(secret, rawFlash);
      deleteCookie(c, FLASH_COOKIE, cookieOptions(c, base));
    }
    c.set("view", { base, csrf: csrfToken(secret, seed), flash, signedIn: false, now: new Date() });
    await next();
  });

  // The token, when there is one. Assets and the sign-in form are open (they reveal nothing).
  app.use("*", async (c, next) => {
    if (!token || c.req.path.startsWith("/assets/") || c.req.path === "/login") return next();
    const viaCookie = sessions!.verify(getCookie(c, SESSION_COOKIE));
    if (viaCookie || bearerMatches(c.req.header("authorization"), token)) {
      c.get("view").signedIn = viaCookie;
      return next();
    }
    if (c.req.method === "GET" && !c.req.path.startsWith("/api/") && (c.req.header("accept") ?? "").includes("text/html")) {
      const target = c.req.path + (new URL(c.req.url).search || "");
      return c.redirect(`${base}/login?next=${encodeURIComponent(target)}`, 303);
    }
    c.header("www-authenticate", 'Bearer realm="arrower-jobs"');
    return c.json({ error: "unauthorized: send Authorization: Bearer <token>, or sign in" }, 401);
  });

  // Forms are small; refuse large bodies before reading them.
  app.use("*", bodyLimit({ maxSize: 64 * 1024, onError: (c) => c.text("request body too large", 413) }));

  // Every POST carries the CSRF token of its cookie.
  app.use("*", async (c, next) => {
    if (c.req.method !== "POST") return next();
    const fromOtherSite = c.req.header("sec-fetch-site") === "cross-site";
    let given = c.req.header(CSRF_HEADER);
    if (given === undefined) {
      const type = c.req.header("content-type") ?? "";
      if (type.startsWith("application/x-www-form-urlencoded") || type.startsWith("multipart/form-data")) {
        const body = await c.req.parseBody();
        const field = body[CSRF_FIELD];
        given = typeof field === "string" ? field : undefined;
      }
    }
    if (fromOtherSite || !verifyCsrf(secret, getCookie(c, CSRF_COOKIE), given)) {
      return c.html(
        errorPage(
          c.get("view"),
          403,
          "Refused",
          "This form was not sent from this dashboard's own page (its CSRF token is missing or does not match), so nothing was changed. " +
            "Reload the page and try again.",
        ).toString(),
        403,
      );
    }
    return next();
  });

  // ...and comes from this dashboard's own origin (a second line behind the CSRF token).
  app.use("*", async (c, next) => {
    if (c.req.method === "GET" || c.req.method === "HEAD" || c.req.method === "OPTIONS") return next();
    const refused = refuseOrigin(hosts, c.req.raw);
    return refused === undefined ? next() : c.text(refused, 403);
  });

  registerApi(app, deps);
  registerPages(app, deps);
  registerActions(app, deps);

  app.notFound((c) => {
    if (c.req.path.startsWith("/api/")) return c.json({ error: "not found" }, 404);
    return c.html(errorPage(c.get("view") ?? fallbackView(base), 404, "Not found", `There is no page at ${c.req.path}.`).toString(), 404);
  });

  app.onError((error, c) => {
    const { status, title, message, log } = describeError(error);
    if (log) engine.logger.error("admin UI request failed", { error, path: c.req.path });
    if (c.req.path.startsWith("/api/")) return c.json({ error: message }, status);
    return c.html(errorPage(c.get("view") ?? fallbackView(base), status, title, message).toString(), status);
  });

  return (request: Request) => app.fetch(request);
}

function fallbackView(base: string): ViewContext {
  return { base, csrf: "", flash: null, signedIn: false, now: new Date() };
}
