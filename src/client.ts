/**
 * `prisma.$jobs` and `tx.$jobs`: the API an application uses. One `JobsClient` per client or
 * transaction client, all sharing their installation's {@link Engine}.
 */
import type { EnqueueOptions } from "./config.ts";
import type { Job } from "./job.ts";
import type { Queryable } from "./backend.ts";
import type { Engine } from "./engine.ts";
import { insertJobs, prepareJobs } from "./enqueue.ts";
import { latestVersion, type MigrateResult } from "./postgres/migrations.ts";
import type { Queue } from "./queue.ts";
import { resolveQueueOptions, type QueueOptions } from "./worker/options.ts";
import { WorkerPool } from "./worker/pool.ts";
import type { HandlerTransactions } from "./worker/executor.ts";
import { IntegrationError } from "./errors.ts";

/**
 * Enqueues jobs. `prisma.$jobs`, `tx.$jobs`, a `Queue` and the testing queue all satisfy it:
 * let application code depend on this, not on Prisma.
 *
 * @example
 * ```ts
 * async function signUp(jobs: Enqueuer, userId: number) {
 *   await jobs.enqueue(SendWelcome({ userId, at: new Date() }));
 * }
 * ```
 */
export interface Enqueuer {
  /**
   * Enqueues one job and returns its id. On `tx.$jobs` the job exists only if `tx` commits.
   * @throws InvalidJobError, InvalidPayloadError, InvalidOptionsError, MigrationsPendingError
   */
  enqueue<P>(job: Job<P>, options?: EnqueueOptions): Promise<string>;
  /** Enqueues a batch (of one type or mixed) with one statement; returns the ids in order. */
  enqueue(jobs: readonly Job[], options?: EnqueueOptions): Promise<string[]>;
}

/**
 * The `$jobs` member of an extended Prisma client or transaction client.
 * @typeParam TX the transaction client handlers receive
 */
export class JobsClient<TX = unknown> implements Enqueuer {
  /** @internal */
  constructor(
    private readonly engine: Engine,
    private readonly db: Queryable,
    private readonly transactions: HandlerTransactions | undefined,
  ) {}

  enqueue<P>(job: Job<P>, options?: EnqueueOptions): Promise<string>;
  enqueue(jobs: readonly Job[], options?: EnqueueOptions): Promise<string[]>;
  async enqueue(input: Job | readonly Job[], options?: EnqueueOptions): Promise<string | string[]> {
    const prepared = prepareJobs(input, options, this.engine.options.maxPayloadBytes);
    const ids = await insertJobs(this.engine, this.db, prepared);
    return Array.isArray(input) ? ids : ids[0]!;
  }

  /**
   * A queue and its worker pool. Each call makes a pool of its own; queues are independent.
   *
   * @example
   * ```ts
   * const queue = prisma.$jobs.queue("default", { poolSize: 10, strategy: "priority" });
   * await queue.register(SendWelcome, async (job, { tx }) => { ... });
   * ```
   * @throws InvalidNameError, InvalidOptionsError
   */
  queue(name: string, options?: QueueOptions): Queue<TX> {
    const resolved = resolveQueueOptions(name, options);
    if (!this.transactions) {
      throw new IntegrationError("this client cannot run workers: it has no Prisma transaction support");
    }
    return new WorkerPool<TX>(this.engine, name, resolved, this, this.transactions);
  }

  /**
   * Creates or updates the library's tables in its schema. Idempotent and safe to run from
   * several processes at once. `npx arrower-jobs migrate` does the same.
   */
  migrate(): Promise<MigrateResult> {
    return this.engine.migrate();
  }

  /**
   * The schema version in the database and the one this version of arrower-jobs needs, read on
   * a connection of its own without changing anything. `npx arrower-jobs migrate --check` uses
   * it; a deploy script or health check can too.
   *
   * @example
   * ```ts
   * const { version, latest } = await prisma.$jobs.schemaStatus();
   * if (version < latest) console.warn(`arrower-jobs: ${latest - version} migration(s) pending`);
   * ```
   */
  schemaStatus(): Promise<SchemaStatus> {
    return schemaStatusOf(this.engine);
  }
}

/** What {@link JobsClient.schemaStatus} reports. */
export interface SchemaStatus {
  /** The version recorded in the database; 0 when the library's tables do not exist. */
  version: number;
  /** The version this version of arrower-jobs needs (`version < latest`: migrations pending). */
  latest: number;
}

/**
 * @internal The schema status through an engine: the CLI also needs it where it has no
 * `JobsClient` (`--database-url`).
 */
export async function schemaStatusOf(engine: Engine): Promise<SchemaStatus> {
  const client = await engine.connect();
  try {
    return { version: await engine.schemaVersion(client), latest: latestVersion() };
  } finally {
    await client.end();
  }
}

/**
 * @internal The engine behind a `prisma.$jobs`, for the CLI (status reads with the engine's own
 * connections). Not exported from the package root.
 *
 * Reads the field by name rather than through a WeakMap or `instanceof`: a config file loaded
 * by the CLI's TypeScript loader may bring its own copy of this module.
 */
export function engineOf(client: JobsClient<unknown>): Engine {
  return client["engine"];
}
