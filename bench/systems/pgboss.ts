/**
 * pg-boss 12.
 *
 * - enqueue: `send` / `insert`
 * - workers: `work()` with `localConcurrency: 10` (10 workers), `batchSize: 10`,
 *   `burstWhenBatchFull: true` (fetch again at once while batches come back full) and the
 *   shortest polling interval (0.5 s); the queue has `notify: true` and the instance
 *   `useListenNotify: true`, so an idle worker wakes on NOTIFY.
 *   pg-boss has no mode that fetches one job at a time without sleeping: with `batchSize: 1` a
 *   worker sleeps the polling interval (≥ 0.5 s) after every fetch. The same settings are used
 *   for every scenario; "batched" is reported as not applicable.
 * - long job: a queue of its own (`bench-long`) worked by `work()` with `localConcurrency: 1`,
 *   `batchSize: 1` beside the 10: pg-boss commits the fetch (state `active`), so a running job
 *   holds no transaction.
 */
import pg from "pg";
import { PgBoss } from "pg-boss";
import { packageVersion } from "../lib/versions.ts";
import { Unsupported, type Harness, type HarnessContext, type SystemModule } from "./types.ts";

const QUEUE = "bench-noop";
const LONG_QUEUE = "bench-long";
const WORK = { localConcurrency: 10, batchSize: 10, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 } as const;
const POOL_MAX = 12;

function boss(url: string): PgBoss {
  const instance = new PgBoss({ connectionString: url, max: POOL_MAX, useListenNotify: true });
  instance.on("error", (error) => console.error("pg-boss error:", error));
  return instance;
}

export const pgboss: SystemModule = {
  async migrate(url) {
    const instance = boss(url);
    await instance.start();
    await instance.createQueue(QUEUE, { notify: true });
    await instance.stop({ graceful: true, close: true });
  },

  version() {
    return packageVersion("pg-boss");
  },

  async open(ctx: HarnessContext): Promise<Harness> {
    const instance = boss(ctx.url);
    await instance.start();
    const probe = new pg.Client({ connectionString: ctx.url });
    await probe.connect();
    let releaseLong = () => {};
    const longReleased = new Promise<void>((resolve) => (releaseLong = resolve));
    return {
      async enqueue(i) {
        await instance.send(QUEUE, { i });
      },
      async enqueueBatch(from, count) {
        await instance.insert(QUEUE, Array.from({ length: count }, (_, k) => ({ data: { i: from + k } })));
      },
      async startWorkers(variant, onJob) {
        if (variant !== "default") throw new Unsupported("same settings as the 10-worker row (it always fetches in batches)");
        await instance.work<{ i: number }>(QUEUE, WORK, async (jobs) => {
          for (const job of jobs) onJob(job.data.i);
        });
      },
      async startLongJob(ms, onEnd) {
        let started!: () => void;
        const running = new Promise<void>((resolve) => (started = resolve));
        await instance.createQueue(LONG_QUEUE, { notify: true });
        await instance.work<{ ms: number }>(LONG_QUEUE, { localConcurrency: 1, batchSize: 1, pollingIntervalSeconds: 0.5 }, async ([job]) => {
          started();
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([longReleased, new Promise<void>((resolve) => (timer = setTimeout(resolve, job!.data.ms)))]);
          clearTimeout(timer);
          onEnd();
        });
        await instance.send(LONG_QUEUE, { ms });
        await running;
      },
      async pending() {
        const { rows } = await probe.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state IN ('created', 'retry', 'active')",
          [QUEUE],
        );
        return rows[0]!.n;
      },
      describe() {
        return `work() ${JSON.stringify(WORK)}, pool max ${POOL_MAX}, useListenNotify + queue notify`;
      },
      async close() {
        releaseLong();
        await instance.stop({ graceful: true, close: true, timeout: 10_000 });
        await probe.end().catch(() => undefined);
      },
    };
  },
};
