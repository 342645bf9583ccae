/**
 * The Prisma 7 client extension: `prisma.$extends(jobs())`.
 *
 * Prisma evaluates a client extension's non-function members once, at `$extends` time, so
 * `tx.$jobs` would be the root client's and enqueue outside the transaction. We therefore also
 * override `$transaction`: the callback receives a proxy of Prisma's own `tx` whose `$jobs` is
 * bound to `tx`. We call Prisma's `$transaction` with `this` set to the client it was called
 * on, so extensions applied after `jobs()` are still on `tx`, and `tx.$transaction()` stays a
 * savepoint of the same transaction.
 */
import { Prisma, type PrismaClientExtends } from "@prisma/client/extension";
import type { Types } from "@prisma/client/runtime/client";
import { Engine, resolveJobsOptions, type JobsOptions } from "../engine.ts";
import { JobsClient } from "../client.ts";
import type { Queryable } from "../backend.ts";
import { createHash } from "node:crypto";
import { probePrisma, runOnJobConnection, unsupportedAdapterError, type AdapterHook } from "./connection.ts";
import { withLazyTransaction } from "./lazy-transaction.ts";
import { PROBE } from "../postgres/queries.ts";
import type { HandlerTransactions } from "../worker/executor.ts";
import type { RegisteredTransaction } from "./register.ts";
import { InvalidOptionsError } from "../errors.ts";

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;

interface PrismaLike {
  $extends: AnyFunction;
  $disconnect: AnyFunction;
  $transaction: AnyFunction;
  $queryRawUnsafe(sql: string, ...values: unknown[]): Promise<unknown>;
}

/** What `jobs()` adds, in Prisma's own terms (its `InternalArgs`): the client member `$jobs`. */
type JobsArgs = Types.Extensions.InternalArgs<{}, {}, {}, { $jobs: JobsClient<RegisteredTransaction> }>;

/**
 * What `jobs()` returns: an extension made by Prisma's `defineExtension`, which `$extends`
 * understands. It adds `$jobs` to the client and, through `$transaction`'s typing, to every
 * transaction client. Typed by Prisma's own extension types, so a Prisma version that changes
 * them changes this with them.
 */
export type JobsExtension = (client: unknown) => PrismaClientExtends<JobsArgs>;

/** Adapts a Prisma client or transaction client to the engine's {@link Queryable}. */
export function prismaQueryable(client: PrismaLike): Queryable {
  return {
    query: <R>(sql: string, values: readonly unknown[]) => client.$queryRawUnsafe(sql, ...values) as Promise<R[]>,
  };
}

/**
 * Statements outside any transaction, on the adapter's `pg.Pool` (Prisma's own connections),
 * as named prepared statements: parsed and planned once per connection (an enqueue takes about
 * half the time of an unnamed one).
 *
 * A pooler that hands each transaction another server connection (PgBouncer in transaction
 * mode, before 1.21 or without `max_prepared_statements`) breaks them: the Parse lands where
 * another client prepared the name (42P05) or the Bind where no one did (26000). Either is
 * refused before anything runs (PostgreSQL skips the rest of the message), so the statement is
 * sent again unnamed, and every later one too. Names are the text's hash, so a name found on
 * a server connection is always the same statement.
 */
function directQueryable(hook: AdapterHook | undefined, engine: Engine): () => Queryable | undefined {
  const names = new Map<string, string>();
  let named = engine.options.preparedStatements;
  let queryable: Queryable | undefined;
  return () => {
    if (queryable) return queryable;
    const pool = hook?.pool();
    if (!pool) return undefined; // Prisma has not connected yet: its first query will
    queryable = {
      async query<R>(sql: string, values: readonly unknown[]): Promise<R[]> {
        if (!named) return (await pool.query({ text: sql, values: values as unknown[] })).rows as R[];
        let name = names.get(sql);
        // Named by content: another installation on the same pool must not reuse a name for other text.
        if (!name) names.set(sql, (name = `arrower_${createHash("sha1").update(sql).digest("hex").slice(0, 20)}`));
        try {
          return (await pool.query({ name, text: sql, values: values as unknown[] })).rows as R[];
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          if (code !== "42P05" && code !== "26000") throw error;
          if (named) {
            named = false;
            engine.logger.warn(
              `a named prepared statement failed on the Prisma client's pool (${code}: ${(error as Error).message}): ` +
                "enqueue outside a transaction now uses unnamed statements (PgBouncer in transaction mode? set jobs({ preparedStatements: false }) to start with them)",
            );
          }
          return (await pool.query({ text: sql, values: values as unknown[] })).rows as R[];
        }
      },
    };
    return queryable;
  };
}

/** Timeout of the transaction a batch too large for one statement takes outside `$transaction`. */
const LARGE_BATCH_TIMEOUT_MS = 600_000;

/**
 * The arrower-jobs Prisma extension. Apply it right after constructing the client.
 *
 * @example
 * ```ts
 * const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString }) }).$extends(jobs());
 * await prisma.$transaction(async (tx) => {
 *   const user = await tx.user.create({ data: { email } });
 *   await tx.$jobs.enqueue(SendWelcome({ userId: user.id, at: new Date() }));
 * });
 * ```
 */
export function jobs(options: JobsOptions = {}): JobsExtension {
  const resolved = resolveJobsOptions(options);
  const extension = (input: unknown) => {
    const client = input as PrismaLike;
    // Throws when Prisma's internals are not the ones we know: at jobs(), not in a handler.
    const { adapterName, hook } = probePrisma(client);
    const engine = new Engine(resolved, hook?.poolConfig);
    const baseTransaction = client.$transaction;
    const baseExtends = client.$extends;
    const baseDisconnect = client.$disconnect;
    // The most extended client derived from ours: handlers' transactions start from it, so
    // extensions applied after jobs() are on their `tx` too.
    let outermost: PrismaLike = client;
    const transactions: HandlerTransactions = {
      run: (connection, timeoutMs, savepoint, fn) =>
        withLazyTransaction(
          (body) =>
            runOnJobConnection(connection, savepoint, (check) =>
              outermost.$transaction.call(
                outermost,
                async (tx: object) => {
                  check();
                  await body(tx);
                },
                { timeout: timeoutMs, maxWait: 5_000 },
              ) as Promise<unknown>,
            ),
          outermost,
          fn,
        ),
      // A query through `tx` opens the handler's transaction (it is lazy), and with it the check.
      verify: (connection) =>
        transactions.run(connection, 5_000, { state: "none" }, async (tx) => {
          await (tx as PrismaLike).$queryRawUnsafe(PROBE);
        }),
      assertSupported: () => {
        if (!hook) throw unsupportedAdapterError(adapterName);
      },
      queryIn: <R,>(tx: unknown, sql: string, values: readonly unknown[]) => {
        // A transaction client has no $extends (Prisma denies it there): the root client, which
        // would complete the job on its own, apart from the handler's writes, has.
        if (typeof (tx as PrismaLike | null)?.$queryRawUnsafe !== "function" || typeof (tx as { $extends?: unknown }).$extends === "function") {
          throw new InvalidOptionsError("tx", "complete(tx) expects the transaction client of a Prisma interactive transaction: prisma.$transaction(async (tx) => { …; await ctx.complete(tx); })");
        }
        return (tx as PrismaLike).$queryRawUnsafe(sql, ...values) as Promise<R[]>;
      },
    };
    const bound = new WeakMap<object, object>();
    // A batch over one statement's budget (src/enqueue.ts) on the root client: its statements in
    // one transaction. Prisma's default timeout (5 s) is for short transactions; hundreds of MB take longer.
    const atomically = <T,>(fn: (db: Queryable) => Promise<T>): Promise<T> =>
      baseTransaction.call(client, (tx: PrismaLike) => fn(prismaQueryable(tx)), { maxWait: 10_000, timeout: LARGE_BATCH_TIMEOUT_MS }) as Promise<T>;

    const bindJobs = (tx: object): object => {
      let proxy = bound.get(tx);
      if (!proxy) {
        const txJobs = new JobsClient(engine, prismaQueryable(tx as PrismaLike), transactions);
        proxy = new Proxy(tx, {
          get: (target, property, receiver) => (property === "$jobs" ? txJobs : Reflect.get(target, property, receiver)),
        });
        bound.set(tx, proxy);
      }
      return proxy;
    };

    const extended = client.$extends({
      name: "arrower-jobs",
      client: {
        $jobs: new JobsClient(engine, prismaQueryable(client), transactions, directQueryable(hook, engine), atomically),
        $transaction(this: unknown, arg: unknown, ...rest: unknown[]) {
          if (typeof arg !== "function") return baseTransaction.call(this, arg, ...rest);
          const callback = arg as (tx: object) => unknown;
          return baseTransaction.call(this, (tx: object) => callback(bindJobs(tx)), ...rest);
        },
        // Also closes the small pool admin calls opened (running queues are shut down by their owner).
        async $disconnect(this: unknown) {
          await engine.close();
          return baseDisconnect.call(this);
        },
        $extends(this: unknown, ...args: unknown[]) {
          const next = baseExtends.apply(this, args) as PrismaLike;
          outermost = next;
          return next;
        },
      },
    }) as PrismaLike;
    outermost = extended;
    return extended;
  };
  // The extension also overrides $transaction, $disconnect and $extends (binding tx.$jobs,
  // closing the engine, following later extensions). Inferred from `client.$extends({...})`,
  // those overrides would replace Prisma's typed signatures on the app's client (`tx` untyped,
  // `$extends` returning unknown), so the type names only what it adds: `$jobs`.
  return Prisma.defineExtension(extension as unknown as (client: PrismaClientExtends) => { $extends: { extArgs: JobsArgs } });
}
