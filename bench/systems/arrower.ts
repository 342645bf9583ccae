/**
 * arrower-jobs as users get it: the compiled package (../../dist, built by `npm run bench`),
 * with the test app's generated Prisma client.
 *
 * - enqueue: `prisma.$jobs.enqueue(job)` / `enqueue(jobs[])` (one statement per batch)
 * - workers: `prisma.$jobs.queue("default", { poolSize: 10 })`, a no-op handler
 * - batched: the same plus ARROWER_BENCH_BATCH_OPTIONS (default `{"batchSize":50}`); a queue
 *   that rejects the option means the library has no batched mode yet ("n/a").
 * - batched-lean: batched, and `retention: { succeeded: 0 }` (succeeded jobs are deleted, not
 *   moved to history: what graphile-worker always does).
 * - long job: one lease-mode job (`defineJob(name, { mode: "lease" })`, default leaseTimeout) in
 *   the same queue, run by a pool of 1 of its own (`poolName: "bench-long"`) beside the 10
 *   workers: its claim commits at once and its handler holds no transaction.
 */
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "../../test/generated/prisma/client.ts";
import { jobs, defineJob, InvalidOptionsError, type Logger, type QueueOptions } from "../../dist/index.js";
import { Unsupported, type Harness, type HarnessContext, type SystemModule, type Variant } from "./types.ts";

const Noop = defineJob<{ i: number }>("bench-noop");
const Long = defineJob<{ ms: number }>("bench-long", { mode: "lease" });
const QUEUE = "default";
const POOL_SIZE = 10;

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** Warnings and errors only, to stderr: the worker's own log lines would cost time. */
const logger: Logger = {
  debug() {},
  info() {},
  warn: (message, fields) => console.error(`arrower-jobs: ${message}`, fields ?? ""),
  error: (message, fields) => console.error(`arrower-jobs: ${message}`, fields ?? ""),
};

function client(url: string) {
  // Enqueue uses the Prisma client's pool (awaited calls use one connection at a time).
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: url, max: 5 }) }).$extends(jobs({ logger }));
}

function batchOptions(): Record<string, unknown> {
  const raw = process.env.ARROWER_BENCH_BATCH_OPTIONS;
  return raw ? (JSON.parse(raw) as Record<string, unknown>) : { batchSize: 50 };
}

function leanOptions(variant: Variant): QueueOptions {
  return variant === "batched-lean" ? { retention: { succeeded: 0 } } : {};
}

export const arrower: SystemModule = {
  async migrate(url) {
    const prisma = client(url);
    try {
      await prisma.$jobs.migrate();
    } finally {
      await prisma.$disconnect();
    }
  },

  version() {
    const { version } = JSON.parse(readFileSync(`${repoRoot}/package.json`, "utf8")) as { version: string };
    try {
      const sha = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: repoRoot, encoding: "utf8" }).trim();
      const dirty = execFileSync("git", ["status", "--porcelain", "--", "src", "migrations"], { cwd: repoRoot, encoding: "utf8" }).trim();
      return `${version} (${sha}${dirty ? "+local changes" : ""})`;
    } catch {
      return version;
    }
  },

  async open(ctx: HarnessContext): Promise<Harness> {
    const prisma = client(ctx.url);
    const probe = new pg.Client({ connectionString: ctx.url });
    await probe.connect();
    let queue: ReturnType<typeof prisma.$jobs.queue> | undefined;
    let longQueue: ReturnType<typeof prisma.$jobs.queue> | undefined;
    let releaseLong = () => {};
    const longReleased = new Promise<void>((resolve) => (releaseLong = resolve));

    return {
      async enqueue(i) {
        await prisma.$jobs.enqueue(Noop({ i }));
      },
      async enqueueBatch(from, count) {
        await prisma.$jobs.enqueue(Array.from({ length: count }, (_, k) => Noop({ i: from + k })));
      },
      async startWorkers(variant: Variant, onJob) {
        const options: QueueOptions = { poolSize: POOL_SIZE, autoStartDelay: 0 };
        try {
          queue = prisma.$jobs.queue(QUEUE, variant === "default" ? options : ({ ...options, ...batchOptions(), ...leanOptions(variant) } as QueueOptions));
        } catch (error) {
          if (variant !== "default" && error instanceof InvalidOptionsError) {
            throw new Unsupported(`no batched mode yet (queue options ${JSON.stringify(batchOptions())} rejected: ${error.message})`);
          }
          throw error;
        }
        await queue.register(Noop, async (job) => {
          onJob(job.i);
        });
        await queue.start();
      },
      async startLongJob(ms, onEnd) {
        longQueue = prisma.$jobs.queue(QUEUE, { poolSize: 1, poolName: "bench-long", autoStartDelay: 60_000 });
        let started!: () => void;
        const running = new Promise<void>((resolve) => (started = resolve));
        await longQueue.register(Long, async (job) => {
          started();
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([longReleased, new Promise<void>((resolve) => (timer = setTimeout(resolve, job.ms)))]);
          clearTimeout(timer);
          onEnd();
        });
        await prisma.$jobs.enqueue(Long({ ms }), { queue: QUEUE });
        await longQueue.start();
        await running;
      },
      async pending() {
        const { rows } = await probe.query<{ n: number }>("SELECT count(*)::int AS n FROM arrower.jobs WHERE queue = $1 AND type = $2", [QUEUE, Noop.name]);
        return rows[0]!.n;
      },
      describe(variant) {
        return variant !== "default"
          ? `queue poolSize ${POOL_SIZE} + ${JSON.stringify({ ...batchOptions(), ...leanOptions(variant) })}`
          : `queue poolSize ${POOL_SIZE} (one job per transaction)`;
      },
      async close() {
        releaseLong();
        await longQueue?.shutdown({ deadline: 5_000 });
        await queue?.shutdown({ deadline: 5_000 });
        await probe.end().catch(() => undefined);
        await prisma.$disconnect();
      },
    };
  },
};
