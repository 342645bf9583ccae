/**
 * What the UI's app (./app.ts) hands its routes (./routes/): their dependencies, the per-request
 * state its middleware sets, and the options of every cookie the UI sets.
 */
import type { Context } from "hono";
import type { Engine } from "../../engine.ts";
import type { Sessions } from "./auth.ts";
import type { ViewContext } from "./views/components.ts";

/** Everything the routes need. */
export interface UiDeps {
  engine: Engine;
  base: string;
  secret: Buffer;
  token: string | undefined;
  /** The signed-in sessions, when there is a token. */
  sessions: Sessions | undefined;
}

/** Per-request state the middleware hands to the routes. */
export type UiEnv = { Variables: { view: ViewContext } };

/** Cookies of the UI: HttpOnly, SameSite=Strict, scoped to the mount path; Secure over https. */
export function cookieOptions(c: Context, base: string, maxAge?: number) {
  const secure = new URL(c.req.url).protocol === "https:" || c.req.header("x-forwarded-proto") === "https";
  return {
    path: base === "" ? "/" : base,
    httpOnly: true,
    sameSite: "Strict" as const,
    secure,
    ...(maxAge === undefined ? {} : { maxAge }),
  };
}
