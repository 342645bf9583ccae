/**
 * Retention: a maintenance loop that prunes old history in small batches, so history cannot
 * grow without bound. Every worker process runs it; per round, the process that takes a
 * transaction-level advisory lock does the work (no leader election, nothing leaks behind
 * PgBouncer), the others skip that round.
 */
import type { Engine } from "../engine.ts";
import { prune, resolvePruneOptions, type PruneOptions, type ResolvedPrune } from "../admin/api.ts";

/** How often a process tries to prune. */
const INTERVAL_MS = 60_000;

interface Entry {
  users: number;
  timer: NodeJS.Timeout | undefined;
  running: Promise<void> | undefined;
  /** Per-queue retention declared by this process's pools. */
  perQueue: Map<string, ResolvedPrune>;
}

const entries = new WeakMap<Engine, Entry>();

/** Starts pruning for a pool (refcounted per installation); `retention` applies to its queue. */
export function acquirePruner(engine: Engine, queue: string, retention: PruneOptions | undefined): void {
  let entry = entries.get(engine);
  if (!entry) entries.set(engine, (entry = { users: 0, timer: undefined, running: undefined, perQueue: new Map() }));
  entry.users++;
  if (retention) entry.perQueue.set(queue, resolvePruneOptions({ ...retention, queue }));
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
  entry.perQueue.delete(queue);
  if (entry.users > 0) return;
  clearTimeout(entry.timer);
  entry.timer = undefined;
  await entry.running;
}

async function runOnce(engine: Engine, entry: Entry): Promise<void> {
  try {
    // The lock is held by an open transaction for the whole round, so one process prunes at a
    // time; the batches run as short statements on another connection. (An idle READ COMMITTED
    // transaction holds no snapshot once its last statement's portal is gone, so this does not
    // hold back vacuum: the lock statement has no parameters for that reason, see queries.ts.)
    await engine.transaction(async (client) => {
      const { rows } = await client.query<{ locked: boolean }>(engine.queries.pruneLock);
      if (rows[0]?.locked !== true) return;
      const special = [...entry.perQueue.values()];
      let total = 0;
      for (const retention of special) {
        const r = await prune(engine, { succeeded: retention.succeeded, failed: retention.failed, queue: retention.queue!, batchSize: retention.batchSize });
        total += r.succeeded + r.failed + r.cancelled;
      }
      const r = await prune(engine, { exceptQueues: special.map((s) => s.queue!) });
      total += r.succeeded + r.failed + r.cancelled;
      if (total > 0) engine.logger.info("pruned history", { jobs: total });
    });
  } catch (error) {
    engine.logger.warn("pruning failed; will try again", { error });
  }
}
