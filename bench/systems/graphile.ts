/**
 * graphile-worker 0.18.
 *
 * - enqueue: `addJob` / `addJobs` of `makeWorkerUtils`
 * - workers: `run()` with `concurrentJobs: 10`, `maxPoolSize: 11`
 * - batched (and batched-lean: it keeps no completed job anyway): its documented fastest settings (worker.graphile.org/docs/performance):
 *   `localQueue: { size: 500 }`, `completeJobBatchDelay: 0`, `failJobBatchDelay: 0`
 *
 * - long job: a task of its own run by a second `run()` of 1 worker (`concurrentJobs: 1`) beside
 *   the 10: graphile-worker commits the fetch that locks a job, so a running job holds no
 *   transaction.
 *
 * NO_LOG_SUCCESS=1 (set by the child) stops its per-job "Completed task" log line, and the
 * logger drops info/debug, as a production setup would.
 */
import pg from "pg";
import { Logger, makeWorkerUtils, run, runMigrations, type Runner, type WorkerUtils } from "graphile-worker";
import { packageVersion } from "../lib/versions.ts";
import type { Harness, HarnessContext, SystemModule, Variant } from "./types.ts";

const CONCURRENCY = 10;
const TASK = "noop";
const LONG_TASK = "long";

const logger = new Logger(() => (level, message) => {
  if (level === "error" || level === "warning") console.error(`graphile-worker ${level}: ${message}`);
});

function preset(variant: Variant) {
  const base = { concurrentJobs: CONCURRENCY, maxPoolSize: CONCURRENCY + 1 };
  // It deletes a job when it completes: the batched-lean row is the same as the batched one.
  return variant !== "default" ? { ...base, localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } : base;
}

export const graphile: SystemModule = {
  async migrate(url) {
    await runMigrations({ connectionString: url, logger });
  },

  version() {
    return packageVersion("graphile-worker");
  },

  async open(ctx: HarnessContext): Promise<Harness> {
    const utils: WorkerUtils = await makeWorkerUtils({ connectionString: ctx.url, logger });
    const probe = new pg.Client({ connectionString: ctx.url });
    await probe.connect();
    let runner: Runner | undefined;
    let longRunner: Runner | undefined;
    let releaseLong = () => {};
    const longReleased = new Promise<void>((resolve) => (releaseLong = resolve));
    return {
      async enqueue(i) {
        await utils.addJob(TASK, { i });
      },
      async enqueueBatch(from, count) {
        await utils.addJobs(Array.from({ length: count }, (_, k) => ({ identifier: TASK, payload: { i: from + k } })));
      },
      async startWorkers(variant, onJob) {
        runner = await run({
          connectionString: ctx.url,
          logger,
          noHandleSignals: true,
          taskList: {
            [TASK]: async (payload) => {
              onJob((payload as { i: number }).i);
            },
          },
          preset: { worker: preset(variant) },
        });
      },
      async startLongJob(ms, onEnd) {
        let started!: () => void;
        const running = new Promise<void>((resolve) => (started = resolve));
        longRunner = await run({
          connectionString: ctx.url,
          logger,
          noHandleSignals: true,
          taskList: {
            [LONG_TASK]: async (payload) => {
              started();
              let timer: NodeJS.Timeout | undefined;
              await Promise.race([longReleased, new Promise<void>((resolve) => (timer = setTimeout(resolve, (payload as { ms: number }).ms)))]);
              clearTimeout(timer);
              onEnd();
            },
          },
          preset: { worker: { concurrentJobs: 1, maxPoolSize: 2 } },
        });
        await utils.addJob(LONG_TASK, { ms });
        await running;
      },
      async pending() {
        const { rows } = await probe.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM graphile_worker._private_jobs j
           JOIN graphile_worker._private_tasks t ON t.id = j.task_id WHERE t.identifier = $1`,
          [TASK],
        );
        return rows[0]!.n;
      },
      describe(variant) {
        return `run() ${JSON.stringify(preset(variant))}`;
      },
      async close() {
        releaseLong();
        await longRunner?.stop();
        await runner?.stop();
        await utils.release();
        await probe.end().catch(() => undefined);
      },
    };
  },
};
