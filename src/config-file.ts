/**
 * The worker configuration file, `arrower-jobs.config.ts` (or .js/.mjs), read by
 * `npx arrower-jobs worker | migrate | status`.
 *
 * @example
 * ```ts
 * // arrower-jobs.config.ts
 * import { defineConfig, handle } from "arrower-jobs";
 * import { prisma } from "./src/db.ts";
 * import { SendWelcome, sendWelcome } from "./src/jobs.ts";
 *
 * export default defineConfig({
 *   prisma,
 *   queues: [{ name: "default", poolSize: 5, handlers: [handle(SendWelcome, sendWelcome)] }],
 * });
 * ```
 */
import type { JobsClient } from "./client.ts";
import type { JobType } from "./job.ts";
import type { Handler } from "./handler.ts";
import type { QueueOptions } from "./worker/options.ts";
import type { RegisteredTransaction } from "./prisma/register.ts";

/** A job type and its handler, made by {@link handle}. */
export interface HandlerEntry<TX = RegisteredTransaction> {
  readonly type: JobType<never, unknown>;
  readonly handler: Handler<never, TX, unknown>;
}

/** Pairs a job type with its handler, keeping the payload and result types. */
export function handle<P, TX = RegisteredTransaction, R = void>(type: JobType<P, R>, handler: Handler<P, TX, NoInfer<R>>): HandlerEntry<TX> {
  return { type: type as unknown as JobType<never, unknown>, handler: handler as Handler<never, TX, unknown> };
}

/** One queue the worker runs. */
export interface QueueConfig<TX = RegisteredTransaction> extends QueueOptions {
  /** Queue name. */
  name: string;
  /** The job types this pool runs. */
  handlers: HandlerEntry<TX>[];
}

/** The contents of `arrower-jobs.config.ts`. */
export interface ArrowerJobsConfig<TX = RegisteredTransaction> {
  /** The Prisma client extended with `jobs()`. */
  prisma: { $jobs: JobsClient<TX> };
  /** The queues `npx arrower-jobs worker` runs (select some with `--queue`). */
  queues?: QueueConfig<TX>[];
}

/** Declares the worker configuration (an identity function, for types). */
export function defineConfig<TX = RegisteredTransaction>(config: ArrowerJobsConfig<TX>): ArrowerJobsConfig<TX> {
  return config;
}
