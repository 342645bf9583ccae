/**
 * The optional access token. When the UI has one, every request must carry it: as
 * `Authorization: Bearer <token>` (scripts, reverse proxies), or as the session cookie the login
 * form sets after checking it. The cookie is HttpOnly and SameSite=Strict (and Secure over
 * https) and holds a signed session, never the token: a random id, when it was issued and when
 * it expires, and `HMAC(secret, token + those)`. The server refuses it once it has expired
 * (whatever the browser keeps) and once it was signed out (see {@link Sessions}).
 */
import { createHash, createHmac, randomBytes } from "node:crypto";
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

/** Default lifetime of a sign-in: 12 hours, a working day. */
export const DEFAULT_SESSION_LIFETIME = 12 * 3_600_000;

/** Sign-outs remembered at most; past it every earlier session is revoked at once. */
const MAX_REVOKED = 10_000;

const SESSION_VALUE = /^([A-Za-z0-9_-]{16})\.(\d{1,15})\.(\d{1,15})\.([A-Za-z0-9_-]{43})$/;

/**
 * The signed-in browsers of one UI handler: issues session cookie values, checks them, and
 * revokes them on sign-out.
 *
 * A value is `id.issuedAt.expiresAt.mac` (times in epoch ms). It passes while it is signed with
 * this secret for this token, has not expired, is no older than the lifetime (so a shorter
 * lifetime applies to cookies issued before), and was not signed out. Sign-out puts the id in a
 * revocation list kept until the cookie would have expired anyway, in this process's memory: a
 * copy of the cookie (another tab's, a stolen one) stops working here at once. Other processes
 * that share the secret accept it until it expires; a restart without a fixed secret, or a new
 * token, signs everyone out.
 */
export class Sessions {
  readonly #revoked = new Map<string, number>();
  /** Sessions issued before this instant are revoked (set when the list overflows). */
  #revokedBefore = 0;

  constructor(
    readonly secret: Buffer,
    readonly token: string,
    /** How long a sign-in lasts, ms. */
    readonly lifetime: number,
  ) {}

  /** A new session's cookie value. */
  issue(now = Date.now()): string {
    const id = randomBytes(12).toString("base64url");
    const body = `${id}.${now}.${now + this.lifetime}`;
    return `${body}.${this.#sign(body)}`;
  }

  /** Whether `value` is a live session of this token. */
  verify(value: string | undefined, now = Date.now()): boolean {
    return this.#parse(value, now) !== undefined;
  }

  /** Signs out the session of `value` (when it is live): it never passes again. */
  revoke(value: string | undefined, now = Date.now()): void {
    const session = this.#parse(value, now);
    if (session === undefined) return;
    for (const [id, expiresAt] of this.#revoked) if (expiresAt <= now) this.#revoked.delete(id);
    if (this.#revoked.size >= MAX_REVOKED) {
      // Bounded memory: rather than forget a sign-out, revoke every session issued so far.
      this.#revoked.clear();
      this.#revokedBefore = now + 1;
      return;
    }
    this.#revoked.set(session.id, session.expiresAt);
  }

  #parse(value: string | undefined, now: number): { id: string; expiresAt: number } | undefined {
    const match = value === undefined ? null : SESSION_VALUE.exec(value);
    if (match === null) return undefined;
    const [, id, issued, expires, mac] = match as unknown as [string, string, string, string, string];
    if (!safeEqual(this.#sign(`${id}.${issued}.${expires}`), mac)) return undefined;
    const issuedAt = Number(issued);
    const expiresAt = Math.min(Number(expires), issuedAt + this.lifetime);
    if (now >= expiresAt || issuedAt < this.#revokedBefore || this.#revoked.has(id)) return undefined;
    return { id, expiresAt };
  }

  #sign(body: string): string {
    return createHmac("sha256", this.secret).update(`session:${this.token}:${body}`).digest("base64url");
  }
}

/** Whether an `Authorization` header carries `token` as a bearer token. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match !== null && digestEqual(match[1]!, token);
}

/** Whether a submitted token equals the configured one (constant time, any length). */
export function digestEqual(given: string, token: string): boolean {
  const hash = (s: string) => createHash("sha256").update(s).digest("base64url");
  return safeEqual(hash(given), hash(token));
}
