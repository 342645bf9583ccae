/**
 * Payload serialisation. Payloads travel through superjson, so Date, Map, Set, BigInt,
 * undefined, RegExp, URL, Error and typed arrays survive. superjson never throws: it drops
 * functions and symbols and flattens class instances it does not know. A job that silently
 * loses part of its payload is worse than an error at the call site, so we check first.
 */
import superjson from "superjson";
import { InvalidPayloadError } from "./errors.ts";

/** Default cap on a payload's serialised size: 1 MiB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

/** A payload as stored: superjson's JSON part (readable in SQL and the UI) and its type meta. */
export interface StoredPayload {
  /** `JSON.stringify` of superjson's `json` part: the `payload` jsonb column. */
  json: string;
  /** `JSON.stringify` of superjson's `meta`, or null when plain JSON round-trips as is. */
  meta: string | null;
}

const KNOWN_PROTOTYPES: ReadonlySet<object | null> = new Set<object | null>([
  null,
  Object.prototype,
  Array.prototype,
  Date.prototype,
  Map.prototype,
  Set.prototype,
  RegExp.prototype,
  URL.prototype,
  Error.prototype,
]);

/**
 * Serialises a payload, or throws {@link InvalidPayloadError} saying where the problem is.
 * @param jobType name used in error messages
 */
export function serializePayload(payload: unknown, jobType: string, maxBytes = DEFAULT_MAX_PAYLOAD_BYTES): StoredPayload {
  const walk: Walk = { path: new Set(), seen: new Set(), plain: true };
  check(payload, jobType, "", walk);
  // Plain JSON is what superjson would give with no meta: skip its walk (most of an enqueue's
  // CPU in Node for a batch of small payloads).
  const { json, meta } = walk.plain ? { json: payload, meta: undefined } : superjson.serialize(payload);
  const text = JSON.stringify(json) ?? "null";
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > maxBytes) {
    throw new InvalidPayloadError(jobType, "", `it is ${bytes} bytes serialised, over the limit of ${maxBytes} (store large data in your own table and pass its id)`);
  }
  return { json: text, meta: meta === undefined ? null : JSON.stringify(meta) };
}

/** The inverse of {@link serializePayload} for values read back from the database. */
export function deserializePayload<P>(json: unknown, meta: unknown): P {
  // In place: every caller passes a value freshly parsed from the database (superjson would
  // otherwise copy it first).
  return superjson.deserialize<P>({ json: json as never, meta: (meta ?? undefined) as never }, { inPlace: true });
}

/** Round-trips a payload the way the database would: what a handler will receive. */
export function roundTripPayload<P>(payload: P, jobType: string, maxBytes?: number): P {
  const stored = serializePayload(payload, jobType, maxBytes);
  return deserializePayload<P>(JSON.parse(stored.json), stored.meta === null ? null : JSON.parse(stored.meta));
}

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** State of {@link check}'s walk through a payload. */
interface Walk {
  /** Objects on the path from the root to the current value (a cycle comes back to one). */
  path: Set<object>;
  /** Every object met so far (one met twice is a shared reference, which superjson keeps). */
  seen: Set<object>;
  /** Whether the payload is plain JSON: JSON.stringify stores it exactly as superjson would. */
  plain: boolean;
}

function check(value: unknown, jobType: string, path: string, walk: Walk): void {
  switch (typeof value) {
    case "function":
      throw new InvalidPayloadError(jobType, path, "a function cannot be stored");
    case "symbol":
      throw new InvalidPayloadError(jobType, path, "a symbol cannot be stored");
    case "string":
      // jsonb rejects \u0000, and the failed INSERT would abort the caller's whole transaction.
      if (value.includes("\u0000")) throw new InvalidPayloadError(jobType, path, "a string containing \\u0000 cannot be stored in PostgreSQL jsonb");
      // Same for half a surrogate pair (a string cut in the middle of an emoji, say): jsonb
      // rejects the escape JSON.stringify writes for it (found by test/faults/bad-input.test.ts).
      if (LONE_SURROGATE.test(value)) throw new InvalidPayloadError(jobType, path, "a string with a lone UTF-16 surrogate (half of a character such as an emoji) cannot be stored in PostgreSQL jsonb");
      return;
    case "number":
      if (!Number.isFinite(value) || Object.is(value, -0)) walk.plain = false;
      return;
    case "boolean":
      return;
    case "object":
      break;
    default: // undefined, bigint
      walk.plain = false;
      return;
  }
  if (value === null) return;
  if (walk.path.has(value)) throw new InvalidPayloadError(jobType, path, "a circular reference cannot be stored");
  if (walk.seen.has(value)) walk.plain = false;
  walk.seen.add(value);
  if (ArrayBuffer.isView(value)) {
    walk.plain = false;
    return;
  }
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto !== Object.prototype && proto !== Array.prototype && proto !== null) walk.plain = false;
  // Fake timers (vitest, sinon) replace the global Date with a subclass: still a Date.
  const currentDate = proto !== null && proto === globalThis.Date.prototype;
  if (!KNOWN_PROTOTYPES.has(proto) && !currentDate && !(value instanceof Error) && !isRegisteredClass(value)) {
    const name = (value as { constructor?: { name?: string } }).constructor?.name ?? "unknown";
    throw new InvalidPayloadError(
      jobType,
      path,
      `an instance of class ${name} would lose its class (use plain objects, or register the class with superjson.registerClass)`,
    );
  }
  walk.path.add(value);
  if (value instanceof Map) {
    for (const [k, v] of value) {
      check(k, jobType, `${path}<key ${String(k)}>`, walk);
      check(v, jobType, `${path}.get(${JSON.stringify(String(k))})`, walk);
    }
  } else if (value instanceof Set) {
    let i = 0;
    for (const v of value) check(v, jobType, `${path}<set item ${i++}>`, walk);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => check(v, jobType, `${path}[${i}]`, walk));
  } else if (!(value instanceof Date) && !(value instanceof RegExp) && !(value instanceof URL) && !(value instanceof Error)) {
    for (const key of Object.getOwnPropertySymbols(value)) {
      throw new InvalidPayloadError(jobType, `${path}[${String(key)}]`, "a symbol key cannot be stored");
    }
    for (const [key, v] of Object.entries(value)) {
      if (key.includes("\u0000")) throw new InvalidPayloadError(jobType, path, "a key containing \\u0000 cannot be stored in PostgreSQL jsonb");
      if (LONE_SURROGATE.test(key)) throw new InvalidPayloadError(jobType, path, "a key with a lone UTF-16 surrogate cannot be stored in PostgreSQL jsonb");
      check(v, jobType, path ? `${path}.${key}` : key, walk);
    }
  }
  walk.path.delete(value);
}

function isRegisteredClass(value: object): boolean {
  // Classes registered with superjson.registerClass or registerCustom round-trip; superjson
  // keeps both registries on its default instance.
  const instance = (superjson as unknown as { defaultInstance?: SuperJsonInternals }).defaultInstance;
  const ctor = (value as { constructor?: unknown }).constructor;
  return (
    (ctor !== undefined && instance?.classRegistry?.getIdentifier(ctor) !== undefined) ||
    instance?.customTransformerRegistry?.findApplicable(value) !== undefined
  );
}

interface SuperJsonInternals {
  classRegistry?: { getIdentifier(ctor: unknown): string | undefined };
  customTransformerRegistry?: { findApplicable(value: unknown): unknown };
}
