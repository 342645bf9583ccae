/**
 * How an application tells arrower-jobs its Prisma client's type, and the transaction client
 * type handlers receive as `tx`. Types only: the app-facing modules (queue.ts, config-file.ts)
 * take `tx`'s type from here without depending on the extension's runtime.
 */

/**
 * Register your extended client's type to type handlers' `tx` (Prisma's `$extends` gives an
 * extension no way to learn the client's type, so handlers would otherwise get `unknown`):
 *
 * @example
 * ```ts
 * export const prisma = new PrismaClient({ adapter }).$extends(jobs());
 * declare module "arrower-jobs" {
 *   interface Register { client: typeof prisma }
 * }
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface Register {}

/** Client members a Prisma transaction client does not have. */
type TransactionDenyList = "$connect" | "$disconnect" | "$on" | "$use" | "$extends" | "$transaction";

/** The transaction client of a client type `C` (what handlers receive as `tx`). */
export type TransactionClient<C> = Omit<C, TransactionDenyList> & {
  /** Nested: a savepoint of the same transaction. */
  $transaction<R>(fn: (tx: TransactionClient<C>) => Promise<R>): Promise<R>;
};

/**
 * What handlers' `tx` is while no client type is registered: a type with nothing on it, so that
 * using `tx` fails to compile with a message that names the fix ("Property 'user' does not
 * exist on type 'RegisterYourPrismaClient_SeeReadmeInstall'"), and hovering `tx` shows the
 * declaration to add. Nothing real is assignable to it (its one member is `never`).
 */
export interface RegisterYourPrismaClient_SeeReadmeInstall {
  /** Add this next to your client: `declare module "arrower-jobs" { interface Register { client: typeof prisma } }`. */
  readonly 'tx is untyped: add declare module "arrower-jobs" { interface Register { client: typeof prisma } }': never;
}

/**
 * Handlers' `tx` type: the registered client's transaction client, else
 * {@link RegisterYourPrismaClient_SeeReadmeInstall} (see {@link Register}).
 */
export type RegisteredTransaction = Register extends { client: infer C } ? TransactionClient<C> : RegisterYourPrismaClient_SeeReadmeInstall;
