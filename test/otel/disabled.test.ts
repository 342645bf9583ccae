// No OpenTelemetry SDK registered (this file's process never registers one until the last
// test): jobs are enqueued and run as usual, nothing is traced or stored, nothing is built.
import { describe, expect, it } from "vitest";
import { context, metrics, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { defineJob } from "../../src/index.ts";
import { engineOf } from "../../src/client.ts";
import { useTestApp, waitFor } from "../helpers/app.ts";

const Work = defineJob<{ n: number }>("otel-off-work");

describe("without an OpenTelemetry SDK", () => {
  const { app, queues } = useTestApp();

  it("jobs are enqueued and run; no trace context or trace id is stored", async () => {
    const queue = app.prisma.$jobs.queue("otel-off", { poolSize: 1, pollInterval: 100, backoff: { baseDelay: 10, maxDelay: 10 } });
    queues.push(queue);
    await queue.register(Work, async (_job, { attempt }) => {
      if (attempt === 1) throw new Error("once");
    });
    await queue.start();
    const id = await app.prisma.$transaction((tx) => tx.$jobs.enqueue(Work({ n: 1 }), { queue: "otel-off" }));
    await waitFor(async () => (await app.count("job_history", "id = $1", [id])) === 1);
    expect(await app.rows(`SELECT state, trace_context, trace_id FROM arrower.job_history WHERE id = $1`, [id])).toEqual([
      { state: "succeeded", trace_context: null, trace_id: null },
    ]);
    expect(await app.rows(`SELECT attempt, trace_id FROM arrower.attempts WHERE job_id = $1`, [id])).toEqual([{ attempt: 1, trace_id: null }]);
  });

  it("nothing is built: attempts share one inert handle, enqueue gets no carrier", async () => {
    const otel = engineOf(app.prisma.$jobs).otel;
    const info = { id: "1", type: "t", queue: "q", attempt: 1, maxAttempts: 1, priority: 0, runAtMs: Date.now(), startedAtMs: Date.now(), traceContext: null, pool: "p" };
    const a = otel.startAttempt(info);
    const b = otel.startAttempt({ ...info, id: "2", traceContext: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" } });
    expect(a).toBe(b);
    expect(a.traceId).toBeNull();
    let given: unknown = "not called";
    await otel.enqueueSpan([{ queue: "q", type: "t" }], undefined, async (carrier) => ((given = carrier), ["1"]));
    expect(given).toBeNull();
    expect(metrics.getMeterProvider().getMeter("x")).toBe(metrics.getMeterProvider().getMeter("y")); // still the API's no-op
  });

  it("an SDK registered after jobs() is picked up at the next job, and dropped when it is disabled", async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(provider);
    let traced: string;
    let names: string[];
    try {
      traced = await app.prisma.$jobs.enqueue(Work({ n: 2 }), { queue: "otel-late" });
      names = exporter.getFinishedSpans().map((s) => s.name);
    } finally {
      trace.disable();
      propagation.disable();
      context.disable();
      await provider.shutdown();
    }
    const untraced = await app.prisma.$jobs.enqueue(Work({ n: 3 }), { queue: "otel-late" });
    expect(names).toEqual(["send otel-late"]);
    const rows = await app.rows<{ id: string; traced: boolean }>(`SELECT id::text, trace_context IS NOT NULL AS traced FROM arrower.jobs WHERE queue = 'otel-late' ORDER BY jobs.id`);
    expect(rows).toEqual([
      { id: traced, traced: true },
      { id: untraced, traced: false },
    ]);
  });
});
