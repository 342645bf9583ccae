/**
 * The seam between the queue logic and the database. The engine (enqueue, workers, cron)
 * speaks only this; Prisma appears only in src/prisma/, which adapts a Prisma client or
 * transaction client onto it. A second adapter (Prisma 8, plain `pg`) needs nothing else.
 */

/** Runs one parameterised statement and returns its rows. */
export interface Queryable {
  /**
   * @param sql a statement from src/postgres/queries.ts, with `$1…$n` placeholders
   * @param values bound parameters; never interpolated into `sql`
   */
  query<R extends object = Record<string, unknown>>(sql: string, values: readonly unknown[]): Promise<R[]>;
}
