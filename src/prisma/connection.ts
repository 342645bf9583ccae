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
 */
import { AsyncLocalStorage } from "node:async_hooks";
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

/** The part of `@prisma/adapter-pg`'s factory (`PrismaPg`) we rely on. */
interface PrismaPgFactoryLike {
  adapterName?: string;
  connect(): Promise<{ underlyingDriver?: () => unknown }>;
  externalPool?: unknown;
  config?: unknown;
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

const POOL = Symbol.for("arrower-jobs.adapter-pool");

/** The name of the Prisma client's driver adapter (`"@prisma/adapter-pg"`, …), if it has one. */
export function adapterNameOf(client: unknown): string | undefined {
  const name = (client as { _engineConfig?: { adapter?: PrismaPgFactoryLike } })._engineConfig?.adapter?.adapterName;
  return typeof name === "string" ? name : undefined;
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

/**
 * Hooks the Prisma client's driver adapter factory. Must happen before the client's first
 * query (when Prisma connects the adapter); `jobs()` is applied at construction, so it does.
 * Returns undefined when the client does not use `@prisma/adapter-pg`.
 */
export function hookAdapter(client: unknown): AdapterHook | undefined {
  const factory = (client as { _engineConfig?: { adapter?: PrismaPgFactoryLike } })._engineConfig?.adapter;
  if (!factory || typeof factory.connect !== "function" || factory.adapterName !== "@prisma/adapter-pg") return undefined;
  let patched = false;
  const patch = (pool: unknown) => {
    if (pool && typeof (pool as pg.Pool).connect === "function") {
      patchPool(pool as pg.Pool);
      (factory as { [POOL]?: pg.Pool })[POOL] = pool as pg.Pool;
      patched = true;
    }
  };
  if (factory.externalPool) patch(factory.externalPool);
  if (!(factory as { [PATCHED]?: boolean })[PATCHED]) {
    const connect = factory.connect;
    factory.connect = async function (this: PrismaPgFactoryLike) {
      const adapter = await connect.call(this);
      patch(adapter.underlyingDriver?.());
      return adapter;
    };
    (factory as { [PATCHED]?: boolean })[PATCHED] = true;
  }
  const external = factory.externalPool as pg.Pool | undefined | null;
  const poolConfig = (external ? external.options : factory.config) as pg.PoolConfig | string | undefined;
  return {
    poolConfig: typeof poolConfig === "string" ? { connectionString: poolConfig } : poolConfig,
    patched: () => patched,
    pool: () => (factory as { [POOL]?: pg.Pool })[POOL],
  };
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
