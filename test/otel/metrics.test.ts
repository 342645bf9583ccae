// Metrics with the SDK's MeterProvider and a reader collected on demand. The global meter
// provider is registered for this file only (each test file runs in its own process).
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { metrics } from "@opentelemetry/api";
import { DataPointType, MeterProvider, MetricReader, type MetricData } from "@opentelemetry/sdk-metrics";
import { defineJob, type Queue } from "../../src/index.ts";
import { engineOf } from "../../src/client.ts";
import { createTestApp, waitFor, type TestApp } from "../helpers/app.ts";

/** A reader the test collects from when it wants (cumulative temporality). */
class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

const reader = new TestReader();
const meterProvider = new MeterProvider({ readers: [reader] });

async function collect(): Promise<MetricData[]> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  return resourceMetrics.scopeMetrics.filter((s) => s.scope.name === "arrower-jobs").flatMap((s) => s.metrics);
}

type Filter = Record<string, string>;

function points(data: MetricData[], name: string, filter: Filter) {
  const metric = data.find((m) => m.descriptor.name === name);
  return (metric?.dataPoints ?? []).filter((p) => Object.entries(filter).every(([k, v]) => p.attributes[k] === v));
}

/** Sum of a counter's points (or of a histogram's counts) matching `filter`. */
function total(data: MetricData[], name: string, filter: Filter): number {
  const metric = data.find((m) => m.descriptor.name === name);
  return points(data, name, filter).reduce((sum, p) => sum + (metric!.dataPointType === DataPointType.HISTOGRAM ? (p.value as { count: number }).count : (p.value as number)), 0);
}

const Work = defineJob<{ n: number; failFirst?: boolean; doom?: boolean }>("otel-work");
const Block = defineJob<{ n: number }>("otel-block");
const Unhandled = defineJob<{ n: number }>("otel-unhandled");
const Leased = defineJob<{ n: number }>("otel-leased", { mode: "lease", leaseTimeout: 60_000 });

describe("metrics", () => {
  let app: TestApp;
  const queues: Queue[] = [];

  beforeAll(async () => {
    metrics.setGlobalMeterProvider(meterProvider);
    app = await createTestApp();
  });
  afterEach(async () => {
    await Promise.all(queues.splice(0).map((q) => q.shutdown()));
  });
  afterAll(async () => {
    await app?.close();
    metrics.disable();
    await meterProvider.shutdown();
  });

  it("the queue-depth gauge: one query per collection for all the process's pools, only while a pool runs", async () => {
    const engine = engineOf(app.prisma.$jobs);
    const depthQueries = vi.spyOn(engine.pool(), "query");
    const depthQueryCount = () => depthQueries.mock.calls.filter((call) => call[0] === engine.queries.otelQueueDepth).length;
    const depth = (data: MetricData[], queue: string) =>
      Object.fromEntries(points(data, "arrower_jobs.queue.depth", { "messaging.destination.name": queue }).map((p) => [p.attributes["arrower_jobs.job.state"], p.value]));

    expect(points(await collect(), "arrower_jobs.queue.depth", {})).toEqual([]); // no pool yet: no gauge, no query
    expect(depthQueryCount()).toBe(0);

    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started = 0;
    const blocking = app.prisma.$jobs.queue("otel-depth", { poolSize: 1, pollInterval: 100 });
    const idle = app.prisma.$jobs.queue("otel-depth-idle", { poolSize: 1, pollInterval: 100 });
    queues.push(blocking, idle);
    await blocking.register(Block, async () => {
      started++;
      await released;
    });
    await idle.register(Work, async () => undefined);
    await blocking.start();
    await idle.start();

    await blocking.enqueue(Block({ n: 1 }));
    await blocking.enqueue([Block({ n: 2 }), Block({ n: 3 })], { runAt: new Date(Date.now() + 3_600_000) });
    await blocking.enqueue([Unhandled({ n: 1 }), Unhandled({ n: 2 })]); // due, but no pool runs this type
    await waitFor(() => started === 1, 10_000, "the blocking job to start");

    let data: MetricData[] = [];
    await waitFor(async () => ((data = await collect()), depth(data, "otel-depth").running === 1), 10_000, "the running job in the gauge");
    expect(depth(data, "otel-depth")).toEqual({ available: 2, scheduled: 2, running: 1 });
    expect(depth(data, "otel-depth-idle")).toEqual({ available: 0, scheduled: 0, running: 0 }); // a live pool's queue reports zeros
    const metric = data.find((m) => m.descriptor.name === "arrower_jobs.queue.depth")!;
    expect(metric.descriptor.unit).toBe("{job}");

    const before = depthQueryCount();
    await collect();
    expect(depthQueryCount()).toBe(before + 1); // two pools, one query

    release();
    await blocking.shutdown();
    await idle.shutdown();
    const after = depthQueryCount();
    await collect();
    expect(depthQueryCount()).toBe(after); // no pool: no query
  });

  it("the queue-depth gauge counts a leased job as running, not scheduled (its run_at is the lease's expiry)", async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const queue = app.prisma.$jobs.queue("otel-lease", { poolSize: 1, pollInterval: 100, autoStartDelay: 60_000 });
    queues.push(queue);
    await queue.register(Leased, async () => {
      started();
      await released;
    });
    await queue.enqueue(Leased({ n: 1 }));
    await queue.start();
    await running;
    await queue.enqueue(Leased({ n: 2 }), { runAt: new Date(Date.now() + 3_600_000) });
    const depth = (data: MetricData[]) =>
      Object.fromEntries(points(data, "arrower_jobs.queue.depth", { "messaging.destination.name": "otel-lease" }).map((p) => [p.attributes["arrower_jobs.job.state"], p.value]));
    expect(depth(await collect())).toEqual({ available: 0, scheduled: 1, running: 1 });
    release();
  });

  it("counters and histograms match the jobs run: 10 succeeded, 3 retried, 1 failed", async () => {
    const queue = app.prisma.$jobs.queue("otel-metrics", { poolSize: 2, pollInterval: 100, backoff: { baseDelay: 20, maxDelay: 20 } });
    queues.push(queue);
    const seen = { succeeded: 0, failed: 0 };
    queue.on("succeeded", () => seen.succeeded++).on("failed", () => seen.failed++);
    await queue.register(Work, async (job, { attempt }) => {
      if (job.doom || (job.failFirst && attempt === 1)) throw new Error(`job ${job.n} fails (attempt ${attempt})`);
    });
    await queue.start();
    // Counters start at 0 when the pool starts: the first failure is an increase Prometheus sees.
    const job = { "messaging.destination.name": "otel-metrics", "arrower_jobs.job.type": "otel-work" };
    expect(points(await collect(), "arrower_jobs.failed", job).map((p) => p.value)).toEqual([0]);

    await queue.enqueue(Array.from({ length: 10 }, (_, n) => Work({ n, failFirst: n < 3 })));
    await queue.enqueue(Work({ n: 10, doom: true }), { maxAttempts: 1 });
    await waitFor(() => seen.succeeded === 10 && seen.failed === 1, 20_000, "11 jobs to finish");

    const data = await collect();
    expect(total(data, "arrower_jobs.enqueued", job)).toBe(11);
    expect(total(data, "arrower_jobs.succeeded", job)).toBe(10);
    expect(total(data, "arrower_jobs.retried", job)).toBe(3);
    expect(total(data, "arrower_jobs.failed", job)).toBe(1);
    expect(total(data, "arrower_jobs.crashed", job)).toBe(0);

    expect(total(data, "arrower_jobs.run.duration", job)).toBe(14);
    expect(total(data, "arrower_jobs.run.duration", { ...job, "arrower_jobs.attempt.outcome": "succeeded" })).toBe(10);
    expect(total(data, "arrower_jobs.run.duration", { ...job, "arrower_jobs.attempt.outcome": "retried" })).toBe(3);
    expect(total(data, "arrower_jobs.run.duration", { ...job, "arrower_jobs.attempt.outcome": "failed" })).toBe(1);
    expect(total(data, "arrower_jobs.wait.duration", job)).toBe(14);

    const run = data.find((m) => m.descriptor.name === "arrower_jobs.run.duration")!;
    expect(run.descriptor.unit).toBe("s");
    const [point] = points(data, "arrower_jobs.run.duration", { ...job, "arrower_jobs.attempt.outcome": "succeeded" });
    const histogram = point!.value as { sum: number; buckets: { boundaries: number[] } };
    expect(histogram.buckets.boundaries[0]).toBe(0.005); // seconds, not the SDK's millisecond defaults
    expect(histogram.sum).toBeLessThan(10); // ten quick jobs: seconds, not milliseconds
  });

  it("a crashed attempt is counted by the worker that claims the job next", async () => {
    const [row] = await app.rows<{ id: string }>(`INSERT INTO arrower.jobs (queue, type, payload) VALUES ('otel-crash', 'otel-work', '{"n": 1}') RETURNING id::text`);
    // A worker that dies holding the job leaves its aborted transaction as the row's locker.
    await app.rows("BEGIN");
    await app.rows(`SELECT id FROM arrower.jobs WHERE id = $1 FOR UPDATE`, [row!.id]);
    await app.rows("ROLLBACK");
    const queue = app.prisma.$jobs.queue("otel-crash", { poolSize: 1, pollInterval: 100 });
    queues.push(queue);
    let succeeded = 0;
    queue.on("succeeded", () => succeeded++);
    await queue.register(Work, async () => undefined);
    await queue.start();
    await waitFor(() => succeeded === 1, 10_000, "the job to succeed");
    const data = await collect();
    const job = { "messaging.destination.name": "otel-crash", "arrower_jobs.job.type": "otel-work" };
    expect(total(data, "arrower_jobs.crashed", job)).toBe(1);
    expect(total(data, "arrower_jobs.succeeded", job)).toBe(1);
    expect(total(data, "arrower_jobs.enqueued", job)).toBe(0); // inserted by hand
  });
});
