/**
 * Retention: a maintenance loop that prunes old history in small batches, so history cannot
 * grow without bound. Every worker process runs it; per round, the process that takes a
 * transaction-level advisory lock does the work (no leader election, nothing leaks behind
 * PgBouncer), the others skip that round.
 *
 * A pool's `retention` is stored for its queue when the pool starts (in `queues`), and a round
 * prunes every queue by its stored retention, whichever process runs it: one without that queue's
 * pool (another deployment on the same database) no longer prunes it by the defaults.
 */
import type { Engine } from "../engine.ts";
import { prune, type PruneOptions } from "./retention.ts";

/** How often a process tries to prune. */
const INTERVAL_MS = 60_000;

interface Entry {
  users: number;
  timer: NodeJS.Timeout | undefined;
  running: Promise<void> | undefined;
  /** Retention declared by this process's pools and not stored yet, per queue (retried each round). */
  undeclared: Map<string, PruneOptions | undefined>;
  /** The declarations being stored (never rejects). */
  declaring: Promise<void>;
}

const entries = new WeakMap<Engine, Entry>();

/**
 * Starts pruning for a pool (refcounted per installation) and stores `retention` for its queue;
 * `undefined` stores the defaults (a retention removed from the code no longer applies).
 */
export function acquirePruner(engine: Engine, queue: string, retention: PruneOptions | undefined): void {
  let entry = entries.get(engine);
  if (!entry) entries.set(engine, (entry = { users: 0, timer: undefined, running: undefined, undeclared: new Map(), declaring: Promise.resolve() }));
  entry.users++;
  entry.undeclared.set(queue, retention);
  declare(engine, entry);
  if (!entry.timer) {
    const e = entry;
    // A random first delay spreads processes that started together.
    e.timer = setTimeout(function tick() {
      e.running = runOnce(engine, e).finally(() => {
        e.running = undefined;
      });
      e.timer = setTimeout(tick, INTERVAL_MS);
      e.timer.unref();
    }, Math.round(Math.random() * INTERVAL_MS));
    e.timer.unref();
  }
}

/** Stops pruning for a pool; the last one stops the loop. */
export async function releasePruner(engine: Engine, queue: string): Promise<void> {
  const entry = entries.get(engine);
  if (!entry) return;
  entry.users = Math.max(0, entry.users - 1);
  if (entry.users > 0) return;
  // A declaration the database never took is dropped with the last pool, as it would be with the process.
  entry.undeclared.delete(queue);
  clearTimeout(entry.timer);
  entry.timer = undefined;
  await entry.running;
  await entry.declaring;
}

/** Stores the pending declarations, one after the other; a failed one stays pending. */
function declare(engine: Engine, entry: Entry): Promise<void> {
  entry.declaring = entry.declaring.then(async () => {
    for (const [queue, retention] of [...entry.undeclared]) {
      try {
        const { rows } = await engine.pool().query<{ succeeded: number | null; failed: number | null }>(engine.queries.pruneDeclare, [
          queue,
          retention?.succeeded ?? null,
          retention?.failed ?? null,
        ]);
        if (entry.undeclared.get(queue) === retention) entry.undeclared.delete(queue);
        // A row back: the stored retention changed (two pools of a queue declaring different ones
        // replace each other's at every start: give them the same).
        if (rows[0]) {
          engine.logger.info("queue retention stored", {
            queue,
            succeeded: retention?.succeeded ?? "default",
            failed: retention?.failed ?? "default",
            previousSucceeded: rows[0].succeeded ?? "default",
            previousFailed: rows[0].failed ?? "default",
          });
        }
      } catch (error) {
        engine.logger.warn("could not store the queue's retention; will try again", { queue, error });
      }
    }
  });
  return entry.declaring;
}

async function runOnce(engine: Engine, entry: Entry): Promise<void> {
  try {
    if (entry.undeclared.size > 0) await declare(engine, entry);
    // The lock is held by an open transaction for the whole round, so one process prunes at a
    // time; the batches run as short statements on another connection. (An idle READ COMMITTED
    // transaction holds no snapshot once its last statement's portal is gone, so this does not
    // hold back vacuum: the lock statement has no parameters for that reason, see queries.ts.)
    await engine.transaction(async (client) => {
      const { rows } = await client.query<{ locked: boolean }>(engine.queries.pruneLock);
      if (rows[0]?.locked !== true) return;
      // Each queue by its stored retention, the others by the defaults.
      const r = await prune(engine);
      const total = r.succeeded + r.failed + r.cancelled;
      if (total > 0) engine.logger.info("pruned history", { jobs: total });
    });
  } catch (error) {
    engine.logger.warn("pruning failed; will try again", { error });
  }
}
