/**
 * Helpers for a pipelining `pg` connection (`pipeline: true`): queries sent back to back,
 * without waiting for each answer.
 */
import type pg from "pg";

/**
 * Sends the queries `send` issues in one write. Each write wakes the server process, and on a
 * virtual machine that wake-up costs more than a small query.
 */
export function corked<T>(connection: pg.ClientBase, send: () => T): T {
  const stream = (connection as pg.Client).connection?.stream as { cork?(): void; uncork?(): void } | undefined;
  stream?.cork?.();
  try {
    return send();
  } finally {
    stream?.uncork?.();
  }
}

/**
 * Waits for pipelined queries, all of them (none may be left to reject unobserved), and
 * resolves with the last one's result or rejects with the first failure: a later query's error
 * is usually the consequence of an earlier one's.
 */
export async function settleInOrder<R>(queries: [...Promise<unknown>[], Promise<R>]): Promise<R> {
  const results = await Promise.allSettled(queries);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
  return (results[results.length - 1] as PromiseFulfilledResult<R>).value;
}
