/**
 * CSRF protection for the UI's POST actions: a signed double-submit cookie.
 *
 * Each browser gets a random seed in an HttpOnly, SameSite=Strict cookie; every form carries
 * `HMAC(secret, seed)` in a hidden field. A POST passes only when the field matches the cookie
 * it came with. Another site cannot read the cookie nor compute the HMAC without the secret,
 * so it cannot forge the field; SameSite=Strict keeps the cookie off cross-site requests on top
 * of that (but not off other ports of the same host, which count as the same site: the token
 * is what protects a dashboard on 127.0.0.1:4100 from a page on 127.0.0.1:3000).
 *
 * The secret is per process unless `createAdminApp({ secret })` sets one (needed when several
 * processes serve the UI behind one load balancer).
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** Cookie holding the seed. */
export const CSRF_COOKIE = "arrower_jobs_csrf";
/** Form field (or `x-csrf-token` header) holding the token. */
export const CSRF_FIELD = "_csrf";
/** Header alternative to the form field, for scripts that post with fetch. */
export const CSRF_HEADER = "x-csrf-token";

/** A fresh random seed for the cookie. */
export function newCsrfSeed(): string {
  return randomBytes(24).toString("base64url");
}

/** The token forms carry for `seed`. */
export function csrfToken(secret: Buffer, seed: string): string {
  return createHmac("sha256", secret).update(`csrf:${seed}`).digest("base64url");
}

/** Whether `token` is the token of `seed` (constant time). */
export function verifyCsrf(secret: Buffer, seed: string | undefined, token: string | undefined): boolean {
  if (!seed || !token || !/^[A-Za-z0-9_-]{16,128}$/.test(seed)) return false;
  return safeEqual(csrfToken(secret, seed), token);
}

/** Compares two strings in time independent of where they differ. */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  // timingSafeEqual needs equal lengths; compare against itself to spend the same time.
  if (x.length !== y.length) {
    timingSafeEqual(x, x);
    return false;
  }
  return timingSafeEqual(x, y);
}
