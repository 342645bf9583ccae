/**
 * Payload serialisation. Payloads travel through superjson, so Date, Map, Set, BigInt,
 * undefined, RegExp, URL, Error and typed arrays survive. superjson never throws: it drops
 * functions and symbols and flattens class instances it does not know. A job that silently
 * loses part of its payload is worse than an error at the call site, so we check first.
 */
import superjson from "superjson";
import { ArrowerJobsError, InvalidJobError, InvalidPayloadError, InvalidResultError } from "./errors.ts";
import { LONE_SURROGATE } from "./config.ts";

/** Default cap on a payload's serialised size: 1 MiB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

/**
 * Highest `maxPayloadBytes` (32 MiB): one payload must fit one enqueue statement
 * (STATEMENT_TEXT_BUDGET in src/enqueue.ts). Above it a payload of small numbers could exceed
 * PostgreSQL's 256 MiB jsonb limit in the INSERT and abort the caller's transaction.
 */
export const MAX_PAYLOAD_BYTES_LIMIT = 32 * 1024 * 1024;

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
 * Deepest nesting of objects, arrays, Maps and Sets a payload may have. superjson and
 * JSON.stringify recurse: ~5,000 levels overflowed the stack with a RangeError (issue 16); at
 * 1,000 they use under half of Node's default stack, also in the worker that decodes it.
 */
export const MAX_PAYLOAD_DEPTH = 1000;

/** The typed arrays superjson decodes (by constructor name: a subclass or a Buffer fails). */
const TYPED_ARRAY_PROTOTYPES: ReadonlySet<object> = new Set<object>(
  [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array].map(
    (ctor) => ctor.prototype as object,
  ),
);

/** Keys superjson refuses in any payload it walks, as a prototype-pollution risk. */
const RESERVED_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

/**
 * Serialises a payload, or throws {@link InvalidPayloadError} saying where the problem is.
 * @param jobType name used in error messages
 */
export function serializePayload(payload: unknown, jobType: string, maxBytes = DEFAULT_MAX_PAYLOAD_BYTES): StoredPayload {
  const walk: Walk = { path: new Set(), seen: new Set(), plain: true, reservedKey: undefined };
  let json: unknown;
  let meta: unknown;
  let text: string;
  try {
    check(payload, jobType, "", walk, 0);
    // superjson throws on these keys (an untyped Error, issue 16), but only when it walks the
    // payload: plain JSON, which it would not change, keeps them.
    if (!walk.plain && walk.reservedKey !== undefined) {
      const key = walk.reservedKey.slice(walk.reservedKey.lastIndexOf(".") + 1);
      throw new InvalidPayloadError(
        jobType,
        walk.reservedKey,
        `a key named "${key}" cannot be stored in a payload that holds a Date, Map, Set, BigInt, undefined or other value superjson encodes (superjson refuses it as a prototype-pollution risk): rename the key`,
      );
    }
    // Plain JSON is what superjson would give with no meta: skip its walk (most of an enqueue's
    // CPU in Node for a batch of small payloads).
    ({ json, meta } = walk.plain ? { json: payload, meta: undefined } : superjson.serialize(payload));
    text = JSON.stringify(json) ?? "null";
  } catch (error) {
    if (error instanceof InvalidPayloadError) throw error;
    // Whatever else superjson or JSON.stringify throw (a stack overflow called from deep in the
    // caller's own stack, a string over V8's length limit) is still bad input, typed.
    const problem =
      error instanceof RangeError
        ? `it is too deep or too large to serialise (${error.message})`
        : `superjson cannot serialise it (${error instanceof Error ? error.message : String(error)})`;
    throw new InvalidPayloadError(jobType, "", problem, { cause: error });
  }
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > maxBytes) {
    throw new InvalidPayloadError(jobType, "", `it is ${bytes} bytes serialised, over the limit of ${maxBytes} (store large data in your own table and pass its id)`);
  }
  return { json: text, meta: meta === undefined ? null : JSON.stringify(meta) };
}

/**
 * Serialises a handler's return value for the job's `result` columns, with the checks and the
 * size cap of payloads, or throws {@link InvalidResultError}. `undefined`: nothing to store.
 * @param jobType name used in error messages
 */
export function serializeResult(value: unknown, jobType: string, maxBytes = DEFAULT_MAX_PAYLOAD_BYTES): StoredPayload | undefined {
  if (value === undefined) return undefined;
  let stored: StoredPayload;
  try {
    stored = serializePayload(value, jobType, Infinity);
  } catch (error) {
    const { path, problem } = error as InvalidPayloadError;
    throw new InvalidResultError(jobType, path, problem, { cause: (error as Error).cause });
  }
  const bytes = Buffer.byteLength(stored.json, "utf8");
  if (bytes > maxBytes) {
    throw new InvalidResultError(jobType, "", `it is ${bytes} bytes serialised, over the limit of ${maxBytes} (maxPayloadBytes; store large data in your own table and return its id)`);
  }
  return stored;
}

/**
 * `getResult`'s answer for job `id`, stored as type `actual`, asked for as job type `expected`:
 * shared by the PostgreSQL queue and the testing queue, so both answer alike.
 * @throws InvalidJobError when the types differ; ArrowerJobsError (INVALID_RESULT) when the
 *   stored result does not decode
 */
export function resultOf<R>(actual: string, expected: string, id: string, decode: () => unknown): R | undefined {
  if (actual !== expected) {
    throw new InvalidJobError(`getResult: job ${id} is of type "${actual}", not "${expected}": pass the job type it was enqueued with`);
  }
  try {
    return decode() as R | undefined;
  } catch (error) {
    throw new ArrowerJobsError("INVALID_RESULT", `getResult: the stored result of job ${id} cannot be decoded: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
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


/** State of {@link check}'s walk through a payload. */
interface Walk {
  /** Objects on the path from the root to the current value (a cycle comes back to one). */
  path: Set<object>;
  /** Every object met so far (one met twice is a shared reference, which superjson keeps). */
  seen: Set<object>;
  /** Whether the payload is plain JSON: JSON.stringify stores it exactly as superjson would. */
  plain: boolean;
  /** The path of the first key superjson refuses (`constructor`…), if any. */
  reservedKey: string | undefined;
}

function check(value: unknown, jobType: string, path: string, walk: Walk, depth: number): void {
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
  if (depth > MAX_PAYLOAD_DEPTH) {
    const shown = path.length > 40 ? `${path.slice(0, 40)}…` : path;
    throw new InvalidPayloadError(jobType, shown, `it is nested more than ${MAX_PAYLOAD_DEPTH} levels deep (objects, arrays, Maps and Sets inside each other)`);
  }
  if (walk.seen.has(value)) walk.plain = false;
  walk.seen.add(value);
  const proto = Object.getPrototypeOf(value) as object | null;
  if (ArrayBuffer.isView(value)) {
    walk.plain = false;
    checkView(value, proto, jobType, path);
    return;
  }
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
  const inner = depth + 1;
  if (value instanceof Map) {
    refuseOwnProperty(value, "a Map", "only its entries are stored", jobType, path);
    for (const [k, v] of value) {
      check(k, jobType, `${path}<key ${String(k)}>`, walk, inner);
      check(v, jobType, `${path}.get(${JSON.stringify(String(k))})`, walk, inner);
    }
  } else if (value instanceof Set) {
    refuseOwnProperty(value, "a Set", "only its items are stored", jobType, path);
    let i = 0;
    for (const v of value) check(v, jobType, `${path}<set item ${i++}>`, walk, inner);
  } else if (Array.isArray(value)) {
    // JSON (and superjson) keep an array's items only: a hole comes back as null, a named
    // property not at all.
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) {
        throw new InvalidPayloadError(jobType, path, `an array with a hole at index ${i} would come back with null there: fill the hole (with undefined or null)`);
      }
      check(value[i], jobType, `${path}[${i}]`, walk, inner);
    }
    if (Object.keys(value).length !== value.length) {
      const extra = Object.keys(value).find((key) => !/^(0|[1-9][0-9]*)$/.test(key)) ?? "";
      throw new InvalidPayloadError(jobType, path, `an array would lose its property ${JSON.stringify(extra)} (arrays keep only their items): use an object`);
    }
  } else if (value instanceof Date || (proto !== null && proto === globalThis.Date.prototype)) {
    if (Number.isNaN(Date.prototype.getTime.call(value))) throw new InvalidPayloadError(jobType, path, "an invalid Date would come back as null");
    refuseOwnProperty(value, "a Date", "only its time is stored", jobType, path);
  } else if (value instanceof RegExp || value instanceof URL || value instanceof Error) {
    const what = value instanceof RegExp ? "a RegExp" : value instanceof URL ? "a URL" : "an Error";
    refuseOwnProperty(value, what, value instanceof Error ? "only its name and message are stored" : "only its text is stored", jobType, path);
  } else {
    for (const key of Object.getOwnPropertySymbols(value)) {
      throw new InvalidPayloadError(jobType, `${path}[${String(key)}]`, "a symbol key cannot be stored");
    }
    for (const [key, v] of Object.entries(value)) {
      if (key.includes("\u0000")) throw new InvalidPayloadError(jobType, path, "a key containing \\u0000 cannot be stored in PostgreSQL jsonb");
      if (LONE_SURROGATE.test(key)) throw new InvalidPayloadError(jobType, path, "a key with a lone UTF-16 surrogate cannot be stored in PostgreSQL jsonb");
      const at = path ? `${path}.${key}` : key;
      if (walk.reservedKey === undefined && RESERVED_KEYS.has(key)) walk.reservedKey = at;
      check(v, jobType, at, walk, inner);
    }
  }
  walk.path.delete(value);
}

/**
 * A typed array superjson decodes, or an error: it decodes by constructor name, so a Buffer or
 * another subclass failed at the job's first attempt ("unknown typed array"), and a DataView came
 * back as `{}`.
 */
function checkView(value: ArrayBufferView, proto: object | null, jobType: string, path: string): void {
  if (value instanceof DataView) {
    throw new InvalidPayloadError(jobType, path, "a DataView would come back as {}: pass new Uint8Array(view.buffer, view.byteOffset, view.byteLength)");
  }
  if (Buffer.isBuffer(value)) {
    throw new InvalidPayloadError(jobType, path, 'a Buffer would not come back (superjson cannot decode it): pass new Uint8Array(buffer), or buffer.toString("base64")');
  }
  if (proto === null || !TYPED_ARRAY_PROTOTYPES.has(proto)) {
    const name = (value as { constructor?: { name?: string } }).constructor?.name ?? "typed array";
    throw new InvalidPayloadError(jobType, path, `a ${name} would not come back (superjson knows only the standard typed arrays): pass a plain typed array such as a Uint8Array`);
  }
}

/** Refuses an enumerable own property superjson would drop (`Object.assign(new Map(), { label })`). */
function refuseOwnProperty(value: object, what: string, kept: string, jobType: string, path: string): void {
  for (const key in value) {
    if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
    throw new InvalidPayloadError(jobType, path, `${what} would lose its property ${JSON.stringify(key)} (${kept}): use an object`);
  }
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
