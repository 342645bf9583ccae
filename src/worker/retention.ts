/**
 * Retention: what a prune deletes, and the statements that delete it. Every worker process runs
 * it once a minute (./pruner.ts); `prisma.$jobs.prune()` and `npx arrower-jobs prune` run it
 * once (through the admin API, which re-exports it).
 */
import type { Engine } from "../engine.ts";
import { integerOption, objectOrEmpty, rejectUnknownKeys, validateQueueName } from "../config.ts";
import { InvalidOptionsError } from "../errors.ts";

/**
 * Retention of {@link prune}, in milliseconds. An age not given is each queue's own: the
 * `retention` its pools declared (stored in the database when a pool starts), else the default.
 */
export interface PruneOptions {
  /** Prune succeeded (and cancelled) jobs finished longer ago than this. Default: the queue's retention, else 7 days. */
  succeeded?: number;
  /** Prune failed jobs finished longer ago than this. Default: the queue's retention, else 30 days. */
  failed?: number;
  /** Only this queue. */
  queue?: string;
  /** Leave these queues alone. */
  exceptQueues?: string[];
  /** Rows per statement. Default 1,000. */
  batchSize?: number;
}

const DAY = 86_400_000;

/** Resolved retention: `null` ages are each queue's own. */
export interface ResolvedPrune {
  succeeded: number | null;
  failed: number | null;
  queue: string | null;
  exceptQueues: string[];
  batchSize: number;
}

/** Validates prune options. */
export function resolvePruneOptions(input: unknown): ResolvedPrune {
  const what = "prune options";
  const o = objectOrEmpty(input, what);
  rejectUnknownKeys(o, ["succeeded", "failed", "queue", "exceptQueues", "batchSize"], what);
  if (o.queue !== undefined) validateQueueName(o.queue);
  const except = (o.exceptQueues as unknown[] | undefined) ?? [];
  if (!Array.isArray(except)) throw new InvalidOptionsError("exceptQueues", `${what}: exceptQueues must be an array of queue names`);
  except.forEach((name) => validateQueueName(name));
  return {
    succeeded: o.succeeded === undefined ? null : integerOption(o.succeeded, "succeeded", 0, 100 * 365 * DAY, what),
    failed: o.failed === undefined ? null : integerOption(o.failed, "failed", 0, 100 * 365 * DAY, what),
    queue: (o.queue as string | undefined) ?? null,
    exceptQueues: except as string[],
    batchSize: o.batchSize === undefined ? 1_000 : integerOption(o.batchSize, "batchSize", 1, 100_000, what),
  };
}

/** Default retention of a queue whose pools declared none. */
export const DEFAULT_RETENTION = { succeeded: 7 * DAY, failed: 30 * DAY } as const;

/**
 * Deletes history older than the retention, in small batches (each its own short statement, so
 * workers are never blocked). Returns how many jobs were pruned per state. An age not given is
 * each queue's own (see {@link PruneOptions}): what a worker's round does is `prune(engine)`.
 *
 * Safe alongside other prunes (a worker's round, a manual prune elsewhere): each batch skips the
 * rows that another has locked (that one deletes them) and counts only its own. The loop ends at
 * a batch that finds nothing rather than at a short one: one more index probe per state, which
 * also picks up rows whose other deleter rolled back meanwhile.
 */
export async function prune(engine: Engine, options: PruneOptions = {}): Promise<{ succeeded: number; failed: number; cancelled: number }> {
  const o = resolvePruneOptions(options);
  // Queues with a retention of their own, pruned one by one; then all the others at once.
  let own: { queue: string; succeeded: number | null; failed: number | null }[] = [];
  if (o.succeeded === null || o.failed === null) {
    const { rows } = await engine.pool().query<{ queue: string; succeeded: number | null; failed: number | null }>(engine.queries.pruneRetentions);
    own = rows.filter((r) => (o.queue === null || r.queue === o.queue) && !o.exceptQueues.includes(r.queue));
  }
  const runs = own.map((r) => ({
    queue: r.queue as string | null,
    except: [] as string[],
    succeeded: o.succeeded ?? r.succeeded ?? DEFAULT_RETENTION.succeeded,
    failed: o.failed ?? r.failed ?? DEFAULT_RETENTION.failed,
  }));
  if (o.queue === null || own.length === 0) {
    runs.push({ queue: o.queue, except: [...o.exceptQueues, ...own.map((r) => r.queue)], succeeded: o.succeeded ?? DEFAULT_RETENTION.succeeded, failed: o.failed ?? DEFAULT_RETENTION.failed });
  }
  const result = { succeeded: 0, failed: 0, cancelled: 0 };
  for (const run of runs) {
    for (const state of ["succeeded", "cancelled", "failed"] as const) {
      const age = state === "failed" ? run.failed : run.succeeded;
      for (;;) {
        const { rows } = await engine.pool().query<{ n: number }>(engine.queries.prune, [state, age, run.queue, run.except, o.batchSize]);
        const n = rows[0]?.n ?? 0;
        result[state] += n;
        if (n === 0) break;
      }
    }
  }
  // Progress of jobs that ended without deleting it (their worker crashed mid-attempt, or they
  // were deleted): a handful of rows at most, in a table of running jobs.
  if (o.queue === null) await engine.pool().query(engine.queries.pruneProgress);
  return result;
}
