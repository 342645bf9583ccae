/**
 * Flash messages: an action answers with a redirect (Post/Redirect/Get) and a short-lived cookie
 * holding what it did; the next page shows it once. The cookie is signed, so nobody can make
 * the dashboard show a message it did not write.
 */
import { createHmac } from "node:crypto";
import { safeEqual } from "./csrf.ts";
import type { Flash } from "./views/components.ts";

/** Cookie of the message for the next page. */
export const FLASH_COOKIE = "arrower_jobs_flash";

/** The cookie's value for `flash`. */
export function writeFlash(secret: Buffer, flash: Flash): string {
  const body = Buffer.from(JSON.stringify({ k: flash.kind, t: flash.text.slice(0, 1_000) })).toString("base64url");
  return `${body}.${sign(secret, body)}`;
}

/** The message in a cookie value, or null when it is missing, malformed or not ours. */
export function readFlash(secret: Buffer, value: string | undefined): Flash | null {
  if (!value) return null;
  const dot = value.indexOf(".");
  if (dot < 0) return null;
  const body = value.slice(0, dot);
  if (!safeEqual(sign(secret, body), value.slice(dot + 1))) return null;
  try {
    const parsed = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as { k?: unknown; t?: unknown };
    if ((parsed.k === "ok" || parsed.k === "error" || parsed.k === "running") && typeof parsed.t === "string") {
      return { kind: parsed.k, text: parsed.t };
    }
  } catch {
    // not ours
  }
  return null;
}

function sign(secret: Buffer, body: string): string {
  return createHmac("sha256", secret).update(`flash:${body}`).digest("base64url");
}
