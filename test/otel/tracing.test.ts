// Spans with the SDK's in-memory exporter. The global providers are registered for this file
// only (each test file runs in its own process) and removed after it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { context, propagation, trace, SpanKind, SpanStatusCode, type Attributes } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from "@opentelemetry/core";
import { AlwaysOffSampler, BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { defineJob, InvalidOptionsError, jobs, type Queue } from "../../src/index.ts";
import { engineOf } from "../../src/client.ts";
import { acquireScheduler, releaseScheduler } from "../../src/cron/scheduler.ts";
import { createTestApp, extendedClient, waitFor, type TestApp } from "../helpers/app.ts";

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();
const tracer = trace.getTracer("test-app");

const Charge = defineJob<{ order: number }>("otel-charge");
const Receipt = defineJob<{ order: number }>("otel-receipt");
const Doomed = defineJob<{ why: string }>("otel-doomed");

function spans(name: string, messageId?: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((s) => s.name === name && (messageId === undefined || s.attributes["messaging.message.id"] === messageId));
}

function only<T>(list: T[]): T {
  expect(list).toHaveLength(1);
  return list[0]!;
}

describe("traces", () => {
  let app: TestApp;
  const queues: Queue[] = [];

  beforeAll(async () => {
    context.setGlobalContextManager(contextManager.enable());
    propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
    trace.setGlobalTracerProvider(provider);
    app = await createTestApp();
  });

  afterAll(async () => {
    await Promise.all(queues.map((q) => q.shutdown()));
    await app?.close();
    trace.disable();
    propagation.disable();
    context.disable();
    await provider.shutdown();
  });

  it("an enqueue in a request span: the send span is its child, each attempt's process span is a root linked to it, history keeps every attempt's trace id", async () => {
    const queue = app.prisma.$jobs.queue("otel-trace", { poolSize: 1, pollInterval: 100, backoff: { baseDelay: 20, maxDelay: 20 } });
    queues.push(queue);
    const inHandler: Array<{ attempt: number; traceId: string | undefined; tenant: string | undefined }> = [];
    await queue.register(Charge, async (job, { attempt, tx }) => {
      inHandler.push({
        attempt,
        traceId: trace.getActiveSpan()?.spanContext().traceId,
        tenant: propagation.getActiveBaggage()?.getEntry("tenant")?.value,
      });
      tracer.startSpan(`charge card (attempt ${attempt})`).end();
      if (attempt === 1) throw new Error("card declined");
      await tx.$jobs.enqueue(Receipt({ order: job.order }), { queue: "otel-receipts" });
    });
    await queue.start();

    const request = tracer.startSpan("POST /orders", { kind: SpanKind.SERVER });
    const requestContext = propagation.setBaggage(trace.setSpan(context.active(), request), propagation.createBaggage({ tenant: { value: "acme" } }));
    const id = await context.with(requestContext, () => queue.enqueue(Charge({ order: 7 }), { priority: 3 }));
    request.end();
    const requestTrace = request.spanContext().traceId;

    await waitFor(() => spans("process otel-trace", id).length === 2, 20_000, "both attempts' spans");

    const send = only(spans("send otel-trace", id));
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(send.spanContext().traceId).toBe(requestTrace);
    expect(send.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(send.attributes).toEqual({
      "messaging.system": "arrower-jobs",
      "messaging.operation.type": "send",
      "messaging.operation.name": "send",
      "messaging.destination.name": "otel-trace",
      "arrower_jobs.job.type": "otel-charge",
      "messaging.message.id": id,
    } satisfies Attributes);

    // The stored creation context: the send span, with the request's baggage.
    const [stored] = await app.rows<{ trace_context: Record<string, string> }>(`SELECT trace_context FROM arrower.job_history WHERE id = $1`, [id]);
    expect(stored!.trace_context.traceparent).toBe(`00-${requestTrace}-${send.spanContext().spanId}-01`);
    expect(stored!.trace_context.baggage).toBe("tenant=acme");

    const [first, second] = spans("process otel-trace", id).sort((a, b) => Number(a.attributes["arrower_jobs.job.attempt"]) - Number(b.attributes["arrower_jobs.job.attempt"]));
    for (const [attempt, span] of [first!, second!].entries()) {
      expect(span.kind).toBe(SpanKind.CONSUMER);
      expect(span.parentSpanContext).toBeUndefined(); // a root of its own trace…
      expect(span.spanContext().traceId).not.toBe(requestTrace);
      expect(span.links.map((l) => [l.context.traceId, l.context.spanId])).toEqual([[requestTrace, send.spanContext().spanId]]); // …linked to the enqueue
      expect(span.attributes).toMatchObject({
        "messaging.system": "arrower-jobs",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": "otel-trace",
        "messaging.message.id": id,
        "arrower_jobs.job.type": "otel-charge",
        "arrower_jobs.job.attempt": attempt + 1,
        "arrower_jobs.job.max_attempts": 25,
        "arrower_jobs.job.priority": 3,
      });
      expect(span.attributes["messaging.client.id"]).toEqual(expect.any(String));
      expect(span.attributes["arrower_jobs.job.wait_ms"]).toBeGreaterThanOrEqual(0);
      // The handler ran inside the attempt's span, with the request's baggage.
      expect(inHandler[attempt]).toEqual({ attempt: attempt + 1, traceId: span.spanContext().traceId, tenant: "acme" });
      const child = only(spans(`charge card (attempt ${attempt + 1})`));
      expect(child.parentSpanContext?.spanId).toBe(span.spanContext().spanId);
    }

    // Attempt 1 failed: exception recorded, status ERROR.
    expect(first!.attributes["arrower_jobs.attempt.outcome"]).toBe("retried");
    expect(first!.status).toEqual({ code: SpanStatusCode.ERROR, message: "card declined" });
    expect(first!.attributes["error.type"]).toBe("Error");
    const exception = only(first!.events.filter((e) => e.name === "exception"));
    expect(exception.attributes).toMatchObject({ "exception.type": "Error", "exception.message": "card declined" });
    expect(second!.attributes["arrower_jobs.attempt.outcome"]).toBe("succeeded");
    expect(second!.status.code).toBe(SpanStatusCode.UNSET);
    expect(second!.events).toEqual([]);

    // History keeps each attempt's trace id.
    const [history] = await app.rows<{ trace_id: string }>(`SELECT trace_id FROM arrower.job_history WHERE id = $1`, [id]);
    expect(history!.trace_id).toBe(second!.spanContext().traceId);
    const attempts = await app.rows<{ attempt: number; trace_id: string }>(`SELECT attempt, trace_id FROM arrower.attempts WHERE job_id = $1`, [id]);
    expect(attempts).toEqual([{ attempt: 1, trace_id: first!.spanContext().traceId }]);

    // The follow-up job enqueued by the handler: its send span is a child of the attempt's span.
    const followUp = only(spans("send otel-receipts"));
    expect(followUp.parentSpanContext?.spanId).toBe(second!.spanContext().spanId);
    const [receipt] = await app.rows<{ trace_context: Record<string, string> }>(`SELECT trace_context FROM arrower.jobs WHERE queue = 'otel-receipts'`);
    expect(receipt!.trace_context.traceparent).toBe(`00-${second!.spanContext().traceId}-${followUp.spanContext().spanId}-01`);
  });

  it("a final failure records the exception on the attempt's span (also for non-Error throws)", async () => {
    const queue = app.prisma.$jobs.queue("otel-doomed", { poolSize: 1, pollInterval: 100 });
    queues.push(queue);
    await queue.register(Doomed, async (job) => {
      if (job.why === "string") throw "out of coffee";
      throw new TypeError("cannot read the ledger");
    });
    await queue.start();
    const [viaError, viaString] = await queue.enqueue([Doomed({ why: "error" }), Doomed({ why: "string" })], { maxAttempts: 1 });
    await waitFor(() => spans("process otel-doomed").length === 2, 20_000, "both attempts' spans");

    const error = only(spans("process otel-doomed", viaError));
    expect(error.attributes).toMatchObject({ "arrower_jobs.attempt.outcome": "failed", "error.type": "TypeError", "arrower_jobs.job.max_attempts": 1 });
    expect(error.status).toEqual({ code: SpanStatusCode.ERROR, message: "cannot read the ledger" });
    expect(error.events.find((e) => e.name === "exception")?.attributes).toMatchObject({ "exception.type": "TypeError", "exception.message": "cannot read the ledger" });
    expect(error.events.find((e) => e.name === "exception")?.attributes?.["exception.stacktrace"]).toContain("TypeError: cannot read the ledger");

    const string = only(spans("process otel-doomed", viaString));
    expect(string.attributes).toMatchObject({ "arrower_jobs.attempt.outcome": "failed", "error.type": "_OTHER" });
    expect(string.status).toEqual({ code: SpanStatusCode.ERROR, message: "out of coffee" });
    expect(string.events.find((e) => e.name === "exception")?.attributes).toMatchObject({ "exception.message": "out of coffee" });

    const rows = await app.rows<{ id: string; trace_id: string }>(`SELECT id::text, trace_id FROM arrower.job_history WHERE id = ANY($1::bigint[]) ORDER BY job_history.id`, [[viaError, viaString]]);
    expect(rows).toEqual([
      { id: viaError, trace_id: error.spanContext().traceId },
      { id: viaString, trace_id: string.spanContext().traceId },
    ]);
  });

  it("a batch is one send span with its size; every job of it stores that span's context", async () => {
    const outer = tracer.startSpan("import");
    const ids = await context.with(trace.setSpan(context.active(), outer), () =>
      app.prisma.$transaction((tx) => tx.$jobs.enqueue([Receipt({ order: 1 }), Receipt({ order: 2 }), Receipt({ order: 3 })], { queue: "otel-batch" })),
    );
    outer.end();
    const send = only(spans("send otel-batch"));
    expect(send.attributes["messaging.batch.message_count"]).toBe(3);
    expect(send.attributes["messaging.message.id"]).toBeUndefined();
    expect(send.parentSpanContext?.spanId).toBe(outer.spanContext().spanId);
    const rows = await app.rows<{ trace_context: Record<string, string> }>(`SELECT trace_context FROM arrower.jobs WHERE id = ANY($1::bigint[])`, [ids]);
    expect(rows.map((r) => r.trace_context.traceparent)).toEqual(Array(3).fill(`00-${send.spanContext().traceId}-${send.spanContext().spanId}-01`));

    // Jobs for several queues in one call: no destination in the name.
    const mixed = await engineOf(app.prisma.$jobs).otel.enqueueSpan(
      [
        { queue: "a", type: "x" },
        { queue: "b", type: "x" },
      ],
      undefined,
      async (carrier) => [String(carrier?.traceparent ?? "none")],
    );
    const unnamed = only(spans("send"));
    expect(unnamed.attributes["messaging.destination.name"]).toBeUndefined();
    expect(unnamed.attributes["arrower_jobs.job.type"]).toBe("x");
    expect(mixed).toEqual([`00-${unnamed.spanContext().traceId}-${unnamed.spanContext().spanId}-01`]);
  });

  it("a failed enqueue records the error on its send span", async () => {
    const bad = extendedClient(app.url, { schema: "not_migrated" });
    try {
      await expect(bad.$jobs.enqueue(Receipt({ order: 1 }), { queue: "otel-unmigrated" })).rejects.toThrow();
    } finally {
      await bad.$disconnect();
    }
    const send = only(spans("send otel-unmigrated"));
    expect(send.status.code).toBe(SpanStatusCode.ERROR);
    expect(send.attributes["error.type"]).toBe("MigrationsPendingError");
  });

  it("a cron tick is a root span even inside another span, and its job's trace starts there", async () => {
    const engine = engineOf(app.prisma.$jobs);
    const outer = tracer.startSpan("unrelated");
    const id = await context.with(trace.setSpan(context.active(), outer), () =>
      engine.otel.cronTick({ scheduleId: "42", queue: "otel-cron", type: "otel-receipt" }, () => app.prisma.$jobs.enqueue(Receipt({ order: 9 }), { queue: "otel-cron" })),
    );
    outer.end();
    const tick = only(spans("cron tick"));
    expect(tick.parentSpanContext).toBeUndefined();
    expect(tick.spanContext().traceId).not.toBe(outer.spanContext().traceId);
    expect(tick.attributes).toMatchObject({ "arrower_jobs.schedule.id": "42", "messaging.destination.name": "otel-cron", "arrower_jobs.job.type": "otel-receipt" });
    const send = only(spans("send otel-cron"));
    expect(send.parentSpanContext?.spanId).toBe(tick.spanContext().spanId);
    const [row] = await app.rows<{ trace_context: Record<string, string> }>(`SELECT trace_context FROM arrower.jobs WHERE id = $1`, [id]);
    expect(row!.trace_context.traceparent).toBe(`00-${tick.spanContext().traceId}-${send.spanContext().spanId}-01`);
  });

  it("the scheduler opens one root `cron tick` span per job it enqueues; the job's trace starts there", async () => {
    const engine = engineOf(app.prisma.$jobs);
    const id = await app.prisma.$jobs.schedule("@every 1s", Receipt({ order: 11 }), { name: "otel-every-second", queue: "otel-cron-real" });
    // Started inside an app span: ticks must not join that trace.
    const outer = tracer.startSpan("app start");
    await context.with(trace.setSpan(context.active(), outer), () => acquireScheduler(engine));
    outer.end();
    try {
      await waitFor(async () => (await app.count("jobs", "schedule_id = $1", [id])) >= 2, 10_000, "two ticks");
    } finally {
      await releaseScheduler(engine);
      await app.prisma.$jobs.unschedule(id);
    }
    const jobs = await app.rows<{ id: string; tick_at: Date; trace_context: Record<string, string> }>(
      `SELECT id::text, tick_at, trace_context FROM arrower.jobs WHERE schedule_id = $1 ORDER BY tick_at`,
      [id],
    );
    const ticks = spans("cron tick").filter((s) => s.attributes["arrower_jobs.schedule.id"] === id);
    expect(ticks).toHaveLength(jobs.length);
    for (const job of jobs) {
      const send = only(spans("send otel-cron-real", job.id));
      const tick = only(ticks.filter((s) => s.spanContext().spanId === send.parentSpanContext?.spanId));
      expect(tick.kind).toBe(SpanKind.INTERNAL);
      expect(tick.parentSpanContext).toBeUndefined();
      expect(tick.spanContext().traceId).not.toBe(outer.spanContext().traceId);
      expect(tick.attributes).toEqual({
        "messaging.system": "arrower-jobs",
        "messaging.destination.name": "otel-cron-real",
        "arrower_jobs.job.type": "otel-receipt",
        "arrower_jobs.schedule.id": id,
      });
      expect(tick.status.code).toBe(SpanStatusCode.UNSET);
      expect(job.trace_context.traceparent).toBe(`00-${tick.spanContext().traceId}-${send.spanContext().spanId}-01`);
    }
    await app.rows(`DELETE FROM arrower.jobs WHERE queue = 'otel-cron-real'`);
  });

  it("a creation context brought by the caller is stored as is; the send span links to it", async () => {
    const engine = engineOf(app.prisma.$jobs);
    const given = { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", custom: "kept" };
    const stored = await engine.otel.enqueueSpan([{ queue: "otel-given", type: "t" }], given, async (carrier) => [JSON.stringify(carrier)]);
    expect(JSON.parse(stored[0]!)).toEqual(given);
    const send = only(spans("send otel-given"));
    expect(send.kind).toBe(SpanKind.CLIENT);
    expect(send.links.map((l) => [l.context.traceId, l.context.spanId])).toEqual([["0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"]]);
  });

  it("jobs({ tracerProvider }) is used instead of the global provider; an unsampled enqueue stores no context", async () => {
    const ownExporter = new InMemorySpanExporter();
    const own = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(ownExporter)] });
    const off = new BasicTracerProvider({ sampler: new AlwaysOffSampler() });
    const withOwn = extendedClient(app.url, { tracerProvider: own });
    const withOff = extendedClient(app.url, { tracerProvider: off });
    try {
      const before = exporter.getFinishedSpans().length;
      const a = await withOwn.$jobs.enqueue(Receipt({ order: 1 }), { queue: "otel-own" });
      const b = await withOff.$jobs.enqueue(Receipt({ order: 2 }), { queue: "otel-off" });
      expect(exporter.getFinishedSpans()).toHaveLength(before); // nothing went to the global provider
      expect(ownExporter.getFinishedSpans().map((s) => s.name)).toEqual(["send otel-own"]);
      const rows = await app.rows<{ id: string; traced: boolean }>(`SELECT id::text, trace_context IS NOT NULL AS traced FROM arrower.jobs WHERE id = ANY($1::bigint[]) ORDER BY jobs.id`, [[a, b]]);
      expect(rows).toEqual([
        { id: a, traced: true },
        { id: b, traced: false },
      ]);
    } finally {
      await withOwn.$disconnect();
      await withOff.$disconnect();
      await own.shutdown();
    }
  });

  it("provider options are validated when jobs() is called", () => {
    expect(() => jobs({ tracerProvider: {} as never })).toThrow(InvalidOptionsError);
    expect(() => jobs({ meterProvider: 1 as never })).toThrow(/meterProvider must be an OpenTelemetry MeterProvider/);
  });
});
