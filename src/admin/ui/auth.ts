/**
 * The optional access token. When the UI has one, every request must carry it: as
 * `Authorization: Bearer <token>` (scripts, reverse proxies), or as the session cookie the login
 * form sets after checking it. The cookie holds `HMAC(secret, token)`, never the token itself,
 * and is HttpOnly and SameSite=Strict (and Secure over https).
 */
import { createHash, createHmac } from "node:crypto";
import { InvalidOptionsError } from "../../errors.ts";
import { safeEqual } from "./csrf.ts";

/** Cookie of a signed-in browser. */
export const SESSION_COOKIE = "arrower_jobs_session";

/** Shortest token accepted: a guessable token on an open port is no protection. */
export const MIN_TOKEN_LENGTH = 16;

/** Checks a token option; returns it, or undefined when none is set. */
export function checkToken(token: unknown, where: string): string | undefined {
  if (token === undefined || token === null || token === "") return undefined;
  if (typeof token !== "string") throw new InvalidOptionsError("token", `${where}: token must be a string`);
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new InvalidOptionsError(
      "token",
      `${where}: the token must be at least ${MIN_TOKEN_LENGTH} characters without spaces (got ${token.length}); ` +
        "generate one with `openssl rand -hex 32`",
    );
  }
  return token;
}

/** The session cookie's value for `token`. */
export function sessionValue(secret: Buffer, token: string): string {
  return createHmac("sha256", secret).update(`session:${token}`).digest("base64url");
}

/** Whether an `Authorization` header carries `token` as a bearer token. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match !== null && digestEqual(match[1]!, token);
}

/** Whether a session cookie was issued for `token` under `secret`. */
export function sessionMatches(cookie: string | undefined, secret: Buffer, token: string): boolean {
  return cookie !== undefined && safeEqual(cookie, sessionValue(secret, token));
}

/** Whether a submitted token equals the configured one (constant time, any length). */
export function digestEqual(given: string, token: string): boolean {
  const hash = (s: string) => createHash("sha256").update(s).digest("base64url");
  return safeEqual(hash(given), hash(token));
}
