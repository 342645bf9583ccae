/**
 * BullMQ 6, on Redis (127.0.0.1:6379, or BENCH_REDIS_URL) and on its PostgreSQL backend
 * (`createPostgresBackend`, new in BullMQ 6; schema migrated explicitly with `runMigrations`).
 *
 * - enqueue: `queue.add` / `queue.addBulk`
 * - workers: `new Worker(..., { concurrency: 10 })`; jobs are added with
 *   `removeOnComplete: true` (the docs' retention advice; graphile-worker also deletes
 *   completed jobs, arrower-jobs moves them to history).
 * - batched: not applicable (batches are a BullMQ Pro feature).
 * - long job: a queue of its own (`bench-long`) with a `Worker` of concurrency 1 beside the 10
 *   (PostgreSQL backend; the Redis row is n/a, as for the open-transaction row).
 */
import pg from "pg";
import { Queue, Worker, createPostgresBackend, runMigrations, type ConnectionOptions } from "bullmq";
import { packageVersion } from "../lib/versions.ts";
import { Unsupported, type Harness, type HarnessContext, type SystemModule } from "./types.ts";

const QUEUE = "bench-noop";
const LONG_QUEUE = "bench-long";
const CONCURRENCY = 10;
const JOB_OPTIONS = { removeOnComplete: true, removeOnFail: 1000 } as const;

export function redisUrl(): string {
  return process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
}

function redisConnection(): ConnectionOptions {
  const url = new URL(redisUrl());
  return { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
}

function version(): string {
  return packageVersion("bullmq");
}

type Backend = "redis" | "pg";

/** What we use of a Worker, whichever its backend type parameter. */
interface WorkerLike {
  on(event: "error", listener: (error: unknown) => void): unknown;
  waitUntilReady(): Promise<unknown>;
  close(): Promise<void>;
}

function make(backend: Backend): SystemModule {
  return {
    async migrate(url) {
      if (backend === "redis") return;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await runMigrations(client);
      } finally {
        await client.end();
      }
    },
    version,
    async open(ctx: HarnessContext): Promise<Harness> {
      const pgConnection = { connectionString: ctx.url, max: CONCURRENCY + 2 };
      const queue =
        backend === "pg"
          ? new Queue(QUEUE, { connection: pgConnection, defaultJobOptions: JOB_OPTIONS }, createPostgresBackend)
          : new Queue(QUEUE, { connection: redisConnection(), prefix: ctx.prefix, defaultJobOptions: JOB_OPTIONS });
      queue.on("error", (error) => console.error("bullmq queue error:", error));
      await queue.waitUntilReady();
      let worker: WorkerLike | undefined;
      let longQueue: { close(): Promise<void> } | undefined;
      let longWorker: WorkerLike | undefined;
      let releaseLong = () => {};
      const longReleased = new Promise<void>((resolve) => (releaseLong = resolve));
      return {
        async enqueue(i) {
          await queue.add(QUEUE, { i });
        },
        async enqueueBatch(from, count) {
          await queue.addBulk(Array.from({ length: count }, (_, k) => ({ name: QUEUE, data: { i: from + k } })));
        },
        async startWorkers(variant, onJob) {
          if (variant !== "default") throw new Unsupported("batches are a BullMQ Pro feature");
          const processor = async (job: { data: { i: number } }) => {
            onJob(job.data.i);
          };
          const started: WorkerLike =
            backend === "pg"
              ? new Worker(QUEUE, processor, { connection: pgConnection, concurrency: CONCURRENCY }, createPostgresBackend)
              : new Worker(QUEUE, processor, { connection: redisConnection(), prefix: ctx.prefix, concurrency: CONCURRENCY });
          worker = started;
          started.on("error", (error: unknown) => console.error("bullmq worker error:", error));
          await started.waitUntilReady();
        },
        async startLongJob(ms, onEnd) {
          if (backend !== "pg") throw new Unsupported("Redis: no PostgreSQL transaction");
          let started!: () => void;
          const running = new Promise<void>((resolve) => (started = resolve));
          const q = new Queue(LONG_QUEUE, { connection: { connectionString: ctx.url, max: 2 }, defaultJobOptions: JOB_OPTIONS }, createPostgresBackend);
          longQueue = q;
          q.on("error", (error) => console.error("bullmq long queue error:", error));
          const started_: WorkerLike = new Worker(
            LONG_QUEUE,
            async (job: { data: { ms: number } }) => {
              started();
              let timer: NodeJS.Timeout | undefined;
              await Promise.race([longReleased, new Promise<void>((resolve) => (timer = setTimeout(resolve, job.data.ms)))]);
              clearTimeout(timer);
              onEnd();
            },
            { connection: { connectionString: ctx.url, max: 3 }, concurrency: 1 },
            createPostgresBackend,
          );
          longWorker = started_;
          started_.on("error", (error: unknown) => console.error("bullmq long worker error:", error));
          await started_.waitUntilReady();
          await q.add(LONG_QUEUE, { ms });
          await running;
        },
        async pending() {
          const counts = await queue.getJobCounts("wait", "active", "delayed", "prioritized", "waiting-children");
          return Object.values(counts).reduce((a, b) => a + b, 0);
        },
        describe() {
          return `Worker concurrency ${CONCURRENCY}${backend === "pg" ? `, pg pool max ${CONCURRENCY + 2}` : ""}, removeOnComplete`;
        },
        async close() {
          releaseLong();
          await longWorker?.close();
          await longQueue?.close();
          await worker?.close();
          if (backend === "redis") await queue.obliterate({ force: true }).catch(() => undefined);
          await queue.close();
        },
      };
    },
  };
}

export const bullmqRedis = make("redis");
export const bullmqPg = make("pg");
