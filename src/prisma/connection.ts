/**
 * Puts a handler's Prisma transaction on the job's own connection.
 *
 * The worker runs each job in a transaction on a `pg` connection of its own (its bookkeeping
 * statements skip Prisma's per-query cost). The handler must get a real Prisma transaction
 * client whose writes land in that same transaction, so they commit or roll back with the job.
 *
 * How: `@prisma/adapter-pg` starts an interactive transaction by taking a connection from its
 * `pg.Pool` and sending `BEGIN`. We wrap that pool's `connect` so that, inside
 * {@link runOnJobConnection} (an AsyncLocalStorage scope, claimed once), it hands out the job's
 * connection instead. The worker has already opened the job's transaction, so `BEGIN` opens
 * the handler's savepoint, `COMMIT` releases it, `ROLLBACK` rolls back to it (and releases
 * it), and `release()` does nothing: the worker commits, once, after recording the outcome.
 * Any other transaction, even one the handler opens on the root client, takes a pool
 * connection as usual.
 *
 * None of this is Prisma's public API: every access to Prisma's or adapter-pg's internals is in
 * {@link probePrisma}, which `jobs()` calls, so a Prisma whose internals changed fails there
 * with the versions it found, not in a handler.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type pg from "pg";
import { IntegrationError } from "../errors.ts";
import { HANDLER_SAVEPOINT } from "../postgres/queries.ts";
import type { HandlerSavepoint } from "../worker/executor.ts";
import { corked, settleInOrder } from "../postgres/pipeline.ts";


interface Slot {
  client: pg.ClientBase;
  savepoint: HandlerSavepoint;
  taken: boolean;
}

const scope = new AsyncLocalStorage<Slot>();
/**
 * Handlers whose transaction is opening (waiting for Prisma to ask the pool for a connection).
 * On Node 20 an enabled AsyncLocalStorage runs a hook for every promise the process creates
 * (~5 % of a short job's CPU), so the scope is disabled whenever no transaction is opening.
 */
let opening = 0;
const PATCHED = Symbol.for("arrower-jobs.patched-pool");
const POOL = Symbol.for("arrower-jobs.adapter-pool");

/**
 * The Prisma versions whose internals {@link probePrisma} knows, the same range as the package's
 * peer dependencies (a test keeps them equal). CI runs a handler's transaction on the oldest
 * and the newest (.ci/package-smoke.sh).
 */
export const SUPPORTED_PRISMA = ">=7.5.0 <8";

/**
 * The part of `@prisma/adapter-pg`'s factory (`PrismaPg`) we rely on: none of it is public API
 * except `connect`, so {@link probePrisma} checks each member before anything uses it.
 */
interface PrismaPgFactory {
  readonly adapterName: "@prisma/adapter-pg";
  connect(): Promise<unknown>;
  /** The `pg.Pool` the app passed to `new PrismaPg(pool)`, else null. */
  readonly externalPool: pg.Pool | null;
  /** The pool settings (or connection string) the adapter creates its `pg.Pool` from. */
  readonly config: pg.PoolConfig | string | undefined;
  [PATCHED]?: boolean;
  [POOL]?: pg.Pool;
}

/** What we learnt from the client's driver adapter. */
export interface AdapterHook {
  /** Connection settings the adapter uses, for the worker's own connections. */
  readonly poolConfig: pg.PoolConfig | undefined;
  /** True once a pool of the adapter has been patched (the adapter has connected through us). */
  readonly patched: () => boolean;
  /** The adapter's `pg.Pool`, once Prisma has connected it. */
  readonly pool: () => pg.Pool | undefined;
}

/** What `jobs()` needs to know about the Prisma client it extends. */
export interface PrismaProbe {
  /** The name of the client's driver adapter (`"@prisma/adapter-pg"`, …), if it has one. */
  readonly adapterName: string | undefined;
  /** The hooked `@prisma/adapter-pg`, or undefined when the client uses another adapter (workers refuse to start). */
  readonly hook: AdapterHook | undefined;
}

/**
 * Reads the Prisma client's driver adapter and, when it is `@prisma/adapter-pg`, hooks it (see
 * the module comment). This is the one place that touches Prisma's and adapter-pg's private
 * members (`_engineConfig.adapter`, `adapterName`, `externalPool`, `config`, and the adapter's
 * `underlyingDriver()` once it has connected). Called by `jobs()`, before the client's first
 * query (when Prisma connects the adapter).
 *
 * @throws {IntegrationError} when a member is missing or of another type: a Prisma version
 * whose internals changed. The message names the installed versions and the supported range.
 */
export function probePrisma(client: unknown): PrismaProbe {
  const engineConfig = member(client, "_engineConfig");
  if (typeof engineConfig !== "object" || engineConfig === null) throw shapeChanged("the Prisma client has no `_engineConfig` object", engineConfig);
  const factory = member(engineConfig, "adapter");
  // A client without a driver adapter (Accelerate): enqueueing works, workers refuse to start.
  if (factory === undefined) return { adapterName: undefined, hook: undefined };
  const adapterName = member(factory, "adapterName");
  if (typeof adapterName !== "string") throw shapeChanged("the client's driver adapter has no string `adapterName`", adapterName);
  if (adapterName !== "@prisma/adapter-pg") return { adapterName, hook: undefined };
  const pgFactory = factory as PrismaPgFactory;
  if (typeof pgFactory.connect !== "function") throw shapeChanged("`PrismaPg` has no `connect()` method", pgFactory.connect);
  if (!("externalPool" in pgFactory)) throw shapeChanged("`PrismaPg` has no `externalPool` field", undefined);
  const external: unknown = pgFactory.externalPool;
  if (external !== null && !isPool(external)) throw shapeChanged("`PrismaPg.externalPool` is neither null nor a pg.Pool", external);
  const config: unknown = external ? external.options : pgFactory.config;
  if (config !== undefined && typeof config !== "string" && (typeof config !== "object" || config === null)) {
    throw shapeChanged("`PrismaPg.config` is not pg.Pool settings", config);
  }
  return { adapterName, hook: hookAdapter(pgFactory, external, config) };
}

/**
 * Hooks adapter-pg's factory: its pool (the app's, or the one `connect()` creates) hands the
 * job's connection to a handler's transaction (see {@link runOnJobConnection}).
 */
function hookAdapter(factory: PrismaPgFactory, external: pg.Pool | null, config: pg.PoolConfig | string | undefined): AdapterHook {
  let patched = false;
  const patch = (pool: pg.Pool) => {
    patchPool(pool);
    factory[POOL] = pool;
    patched = true;
  };
  if (external) patch(external);
  if (!factory[PATCHED]) {
    const connect = factory.connect;
    factory.connect = async function (this: PrismaPgFactory) {
      const adapter = await connect.call(this);
      // Prisma's first query connects the adapter: a changed adapter fails it, loudly, rather
      // than every job at run time.
      const underlyingDriver = member(adapter, "underlyingDriver");
      if (typeof underlyingDriver !== "function") throw shapeChanged("the adapter `PrismaPg.connect()` returns has no `underlyingDriver()` method", underlyingDriver);
      const pool: unknown = underlyingDriver.call(adapter);
      if (!isPool(pool)) throw shapeChanged("the adapter's `underlyingDriver()` did not return a pg.Pool", pool);
      patch(pool);
      return adapter;
    };
    factory[PATCHED] = true;
  }
  return {
    poolConfig: typeof config === "string" ? { connectionString: config } : config,
    patched: () => patched,
    pool: () => factory[POOL],
  };
}

function member(value: unknown, key: string): unknown {
  return (typeof value === "object" || typeof value === "function") && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

function isPool(value: unknown): value is pg.Pool {
  return typeof member(value, "connect") === "function" && typeof member(value, "options") === "object";
}

/** The error of a Prisma whose internals are not the ones {@link probePrisma} knows. */
function shapeChanged(what: string, found: unknown): IntegrationError {
  const seen = found === null ? "null" : typeof found === "object" ? "an object" : typeof found === "function" ? "a function" : String(found);
  return new IntegrationError(
    `arrower-jobs cannot hook this Prisma client: ${what} (found ${seen}). ` +
      `Installed: @prisma/client ${installedVersion("@prisma/client")}, @prisma/adapter-pg ${installedVersion("@prisma/adapter-pg")}; ` +
      `arrower-jobs supports both ${SUPPORTED_PRISMA}. Install versions in that range (npm install @prisma/client@7 @prisma/adapter-pg@7 prisma@7), ` +
      "or an arrower-jobs release that supports yours",
  );
}

/**
 * The version of an installed package, as the app resolves it (`"not installed"`, `"unknown"`
 * when its package.json cannot be read): for messages only, so never throws.
 */
export function installedVersion(name: string): string {
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve(name);
  } catch {
    return "not installed";
  }
  // Not `require.resolve(name + "/package.json")`: adapter-pg's "exports" does not list it.
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: unknown; version?: unknown };
      if (manifest.name === name) return typeof manifest.version === "string" ? manifest.version : "unknown";
    } catch {
      // no package.json here (or unreadable): look further up
    }
  }
  return "unknown";
}

/**
 * Why workers cannot run on a client whose driver adapter we could not hook: a handler's
 * transaction joins its job's only through `@prisma/adapter-pg`'s pool.
 */
export function unsupportedAdapterError(adapterName: string | undefined): IntegrationError {
  const uses = adapterName ? `the driver adapter "${adapterName}"` : "no driver adapter we know";
  return new IntegrationError(
    `workers need @prisma/adapter-pg: this Prisma client uses ${uses}, on which a handler's transaction cannot join its job's. ` +
      "Build the client that runs workers with `new PrismaClient({ adapter: new PrismaPg(...) })` (enqueueing works with any adapter)",
  );
}

function patchPool(pool: pg.Pool & { [PATCHED]?: boolean }): void {
  if (pool[PATCHED]) return;
  pool[PATCHED] = true;
  const connect = pool.connect;
  pool.connect = function (this: pg.Pool, ...args: unknown[]) {
    const slot = scope.getStore();
    if (slot && !slot.taken && args.length === 0) {
      slot.taken = true;
      leave();
      return Promise.resolve(jobConnection(slot.client, slot.savepoint));
    }
    return (connect as (...a: unknown[]) => unknown).apply(this, args);
  } as pg.Pool["connect"];
}

/**
 * Runs `fn` so that the first Prisma interactive transaction it starts runs on `client` as a
 * savepoint (whether it is open is kept in `savepoint`). Rejects with an
 * {@link IntegrationError} if Prisma took another connection, so a handler never writes
 * outside its job's transaction.
 */
export async function runOnJobConnection<T>(
  client: pg.ClientBase,
  savepoint: HandlerSavepoint,
  fn: (check: () => void) => Promise<T>,
): Promise<T> {
  const slot: Slot = { client, savepoint, taken: false };
  opening += 1;
  try {
    return await scope.run(slot, () =>
      fn(() => {
        if (!slot.taken) {
          throw new IntegrationError(
            "the handler's Prisma transaction did not start on the job's connection: apply jobs() right after `new PrismaClient({ adapter: new PrismaPg(...) })`, before the client's first query",
          );
        }
      }),
    );
  } finally {
    if (!slot.taken) {
      slot.taken = true;
      leave();
    }
  }
}

/** A handler's transaction has its connection (or gave up on it). */
function leave(): void {
  opening -= 1;
  if (opening === 0) scope.disable();
}

const EMPTY = { command: "", rowCount: 0, oid: 0, rows: [], fields: [] };

/**
 * Prisma's transaction control on the job's connection: state changes only (see
 * HandlerSavepoint); the savepoint's statements travel with the next query.
 */
const TRANSACTION_CONTROL: Record<string, (state: HandlerSavepoint["state"]) => HandlerSavepoint["state"]> = {
  BEGIN: () => "pending",
  COMMIT: (state) => (state === "pending" ? "none" : state),
  ROLLBACK: (state) => (state === "open" ? "rollback" : "none"),
};

/** The job's connection as `@prisma/adapter-pg` sees a pooled one. */
function jobConnection(client: pg.ClientBase, savepoint: HandlerSavepoint): pg.PoolClient {
  const wrapper = Object.create(client) as pg.PoolClient;
  const query = client.query as (...a: unknown[]) => Promise<unknown>;
  wrapper.query = ((config: unknown, ...rest: unknown[]) => {
    const text = typeof config === "string" ? config : (config as { text?: string }).text;
    const control = text === undefined ? undefined : TRANSACTION_CONTROL[text];
    if (control) {
      savepoint.state = control(savepoint.state);
      return Promise.resolve(EMPTY);
    }
    if (text?.startsWith("SET TRANSACTION")) {
      return Promise.reject(new IntegrationError("a handler's transaction is part of the job's transaction: it cannot set its own isolation level"));
    }
    if (savepoint.state !== "pending") return query.call(client, config, ...rest);
    savepoint.state = "open";
    return settleInOrder(corked(client, () => [query.call(client, HANDLER_SAVEPOINT.begin), query.call(client, config, ...rest)]));
  }) as pg.PoolClient["query"];
  // Bind the EventEmitter methods to the real client; Prisma adds and removes an error listener.
  wrapper.on = ((event: string, listener: (...a: unknown[]) => void) => (client.on(event as "error", listener), wrapper)) as pg.PoolClient["on"];
  wrapper.removeListener = ((event: string, listener: (...a: unknown[]) => void) => (client.removeListener(event, listener), wrapper)) as pg.PoolClient["removeListener"];
  wrapper.release = () => undefined;
  return wrapper;
}
