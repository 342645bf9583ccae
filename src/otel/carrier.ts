/**
 * The trace context stored with a job (`jobs.trace_context`, jsonb): a string map written by
 * the app's propagators, W3C `traceparent`, `tracestate` and `baggage` with the Node SDK's
 * defaults.
 *
 * The row outlives the process that wrote it and is read by workers configured separately (the
 * CLI worker, another deploy), so a `traceparent` is always stored, and read back, even when the
 * app registered no propagator or a different one: a tracer provider set with
 * `trace.setGlobalTracerProvider()` alone registers none, and the job's link would be lost.
 */
import {
  createTraceState,
  isSpanContextValid,
  isValidSpanId,
  isValidTraceId,
  propagation,
  trace,
  ROOT_CONTEXT,
  type Context,
  type SpanContext,
} from "@opentelemetry/api";

/** What is stored with a job. */
export type Carrier = Record<string, string>;

/** The carrier for `ctx` (whose span is the job's creation context). */
export function injectCarrier(ctx: Context, spanContext: SpanContext): Carrier {
  const carrier: Carrier = {};
  propagation.inject(ctx, carrier);
  if (carrier.traceparent === undefined) {
    carrier.traceparent = formatTraceparent(spanContext);
    const state = spanContext.traceState?.serialize();
    if (state) carrier.tracestate = state;
  }
  return carrier;
}

/** What a stored carrier gives back: the creation context to link to, and its baggage. */
export interface Extracted {
  /** The span context that created the job, when the carrier names a valid one. */
  creation: SpanContext | undefined;
  /** A context with the carrier's baggage and no span: the parent of a new root span. */
  baggage: Context;
}

const NOTHING: Extracted = { creation: undefined, baggage: ROOT_CONTEXT };

/** Reads a stored carrier (any JSON: rows can be edited by hand). */
export function extractCarrier(stored: unknown): Extracted {
  if (typeof stored !== "object" || stored === null || Array.isArray(stored)) return NOTHING;
  const carrier: Carrier = {};
  for (const [key, value] of Object.entries(stored)) if (typeof value === "string") carrier[key] = value;
  const ctx = propagation.extract(ROOT_CONTEXT, carrier);
  let creation = trace.getSpanContext(ctx);
  if (!creation || !isSpanContextValid(creation)) creation = parseTraceparent(carrier.traceparent, carrier.tracestate);
  return { creation, baggage: trace.deleteSpan(ctx) };
}

/** W3C Trace Context `traceparent`, version 00. */
export function formatTraceparent(spanContext: SpanContext): string {
  return `00-${spanContext.traceId}-${spanContext.spanId}-${(spanContext.traceFlags & 0xff).toString(16).padStart(2, "0")}`;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-|$)/;

/** Parses a `traceparent` (future versions too, per the spec's forward-compatibility rule). */
export function parseTraceparent(traceparent: string | undefined, tracestate: string | undefined): SpanContext | undefined {
  const match = traceparent === undefined ? null : TRACEPARENT.exec(traceparent.trim());
  if (!match) return undefined;
  const [, version, traceId, spanId, flags, rest] = match as unknown as [string, string, string, string, string, string];
  if (version === "ff" || (version === "00" && rest !== "")) return undefined;
  if (!isValidTraceId(traceId) || !isValidSpanId(spanId)) return undefined;
  return {
    traceId,
    spanId,
    traceFlags: parseInt(flags, 16),
    isRemote: true,
    ...(tracestate ? { traceState: createTraceState(tracestate) } : {}),
  };
}
