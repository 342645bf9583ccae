/**
 * Spans and metrics over `@opentelemetry/api` only: the app brings the SDK. One
 * {@link Instrumentation} per `jobs()` installation (on its Engine).
 *
 * Providers: `jobs({ tracerProvider, meterProvider })`, else the global ones, looked up again at
 * each use, so an SDK registered after `jobs()` is picked up, and one shut down and replaced
 * too. With no SDK registered nothing is built: no span, no attribute object, no carrier; the
 * enqueue stores no trace context and history no trace id.
 *
 * Traces (names in ./names.ts, conventions: OpenTelemetry messaging spans):
 * - `send <queue>` (PRODUCER) per enqueue call, whatever its batch size, child of the caller's
 *   active span. Its context is injected (the app's propagators: traceparent, tracestate,
 *   baggage) into a carrier stored with each job of the call: the jobs' creation context.
 * - `process <queue>` (CONSUMER) per attempt: a NEW ROOT span with a LINK to the creation
 *   context (see {@link Instrumentation.startAttempt} for why), the stored baggage active
 *   while the handler runs, and the handler's own spans (and `tx.$jobs.enqueue`'s send spans)
 *   as its children. Its trace id is kept in history (`job_history.trace_id`,
 *   `attempts.trace_id`).
 * - `cron tick` (INTERNAL), a root span per schedule tick around the tick's enqueue.
 *
 * Metrics: counters per job event, run and wait histograms, queue depth gauge (./names.ts).
 */
import {
  context,
  createNoopMeter,
  diag,
  metrics,
  trace,
  SpanKind,
  SpanStatusCode,
  type Attributes,
  type Context,
  type Counter,
  type Histogram,
  type Link,
  type MeterProvider,
  type ObservableGauge,
  type ObservableResult,
  type Span,
  type Tracer,
  type TracerProvider,
} from "@opentelemetry/api";
import { extractCarrier, injectCarrier, type Carrier } from "./carrier.ts";
import { ATTR, DEPTH_STATES, DURATION_BUCKETS, MESSAGING_SYSTEM, METRICS, SCOPE, type AttemptOutcome } from "./names.ts";

/** Providers to use instead of the global ones. */
export interface InstrumentationOptions {
  tracerProvider?: TracerProvider | undefined;
  meterProvider?: MeterProvider | undefined;
}

/** A job being enqueued, as the send span and the enqueued counter see it. */
export interface SentJob {
  readonly queue: string;
  readonly type: string;
}

/** An attempt about to run. */
export interface AttemptInfo {
  id: string;
  type: string;
  queue: string;
  attempt: number;
  maxAttempts: number;
  priority: number;
  /** When the job was due, ms since the epoch. */
  runAtMs: number;
  /** When the attempt started, ms since the epoch (the claim's clock, the same as `runAtMs`'s: the database's). */
  startedAtMs: number;
  /** The stored carrier (`jobs.trace_context`). */
  traceContext: unknown;
  /** The pool running it. */
  pool: string;
}

/** One attempt's span and measurements. */
export interface AttemptTrace {
  /** The attempt's trace id, for history; null when it is not traced. */
  readonly traceId: string | null;
  /** Runs `fn` (the handler) with the attempt's span and the job's baggage active. */
  run<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Ends the span and records the run duration. Only the first call counts, so a `finally` can
   * end with `"crashed"` whatever happened before.
   */
  end(outcome: AttemptOutcome, error?: unknown): void;
}

/** A job event, as the counters see it (the worker's `JobEvent` satisfies it). */
export interface CountedEvent {
  /** Kinds without a counter are ignored. */
  readonly kind: string;
  readonly queue: string;
  readonly type: string;
}

/** One queue's live jobs, as the depth query returns them. */
export interface QueueDepthRow {
  queue: string;
  available: number;
  scheduled: number;
  running: number;
}

/** Reads the depth of every queue (one query). */
export type QueueDepthSource = () => Promise<QueueDepthRow[]>;

interface Instruments {
  enqueued: Counter;
  /** Counter per job event kind (`retrying` counts as `arrower_jobs.retried`). */
  events: Map<string, Counter>;
  runDuration: Histogram;
  waitDuration: Histogram;
  queueDepth: ObservableGauge;
}

/** An attempt nobody measures: shared, nothing allocated per job. */
const UNTRACED: AttemptTrace = { traceId: null, run: (fn) => fn(), end() {} };

export class Instrumentation {
  private tracerOf: TracerProvider | undefined;
  private tracerCache: Tracer | undefined;
  private meterOf: MeterProvider | undefined;
  private instrumentsCache: Instruments | undefined;
  /** Attribute objects per queue/type(/…), reused: no allocation per job. */
  private readonly attributeCache = new Map<string, Attributes>();
  private readonly depthSources = new Set<QueueDepthSource>();
  private depthReading: Promise<QueueDepthRow[]> | undefined;

  constructor(private readonly options: InstrumentationOptions = {}) {}

  // --- traces ---------------------------------------------------------------------------------

  /**
   * Runs one enqueue call (`fn` inserts the jobs and returns their ids) in a `send` span, and
   * gives `fn` the carrier to store with each job: `given` when the caller brings its own
   * creation context (the span then links to it), else the send span's context. Without a
   * recording span, `fn` gets `given ?? null` and nothing is built.
   */
  enqueueSpan(jobs: readonly SentJob[], given: Carrier | null | undefined, fn: (carrier: Carrier | null) => Promise<string[]>): Promise<string[]> {
    const tracer = this.tracer();
    if (tracer) return this.tracedEnqueue(tracer, jobs, given, fn);
    const instruments = this.instruments();
    return instruments ? fn(given ?? null).then((ids) => this.countEnqueued(instruments, jobs, ids)) : fn(given ?? null);
  }

  private async tracedEnqueue(tracer: Tracer, jobs: readonly SentJob[], given: Carrier | null | undefined, fn: (carrier: Carrier | null) => Promise<string[]>): Promise<string[]> {
    const queue = common(jobs, "queue");
    const type = common(jobs, "type");
    const attributes: Attributes = {
      [ATTR.messagingSystem]: MESSAGING_SYSTEM,
      [ATTR.operationType]: "send",
      [ATTR.operationName]: "send",
    };
    if (queue !== undefined) attributes[ATTR.destination] = queue;
    if (type !== undefined) attributes[ATTR.jobType] = type;
    if (jobs.length > 1) attributes[ATTR.batchCount] = jobs.length;
    const links = given ? linkTo(extractCarrier(given).creation) : undefined;
    // PRODUCER when this span's context becomes the jobs' creation context (the conventions),
    // CLIENT when the caller brought its own.
    const span = tracer.startSpan(queue === undefined ? "send" : `send ${queue}`, { kind: given ? SpanKind.CLIENT : SpanKind.PRODUCER, attributes, links });
    if (!span.isRecording()) {
      span.end();
      return this.countEnqueued(this.instruments(), jobs, await fn(given ?? null));
    }
    const active = trace.setSpan(context.active(), span);
    const carrier = given ?? injectCarrier(active, span.spanContext());
    try {
      const ids = await context.with(active, () => fn(carrier));
      if (ids.length === 1) span.setAttribute(ATTR.messageId, ids[0]!);
      return this.countEnqueued(this.instruments(), jobs, ids);
    } catch (error) {
      recordError(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  /**
   * Starts an attempt: records its wait time and starts its `process` span.
   *
   * Parenting: the span is a new ROOT with a LINK to the job's creation context (the enqueue's
   * send span), not its child. Attempts run seconds to days after the request that enqueued
   * them, retry with backoff, and fan out (one request can enqueue ten thousand jobs): as
   * children they would keep the request's trace open for days and grow it without bound, and
   * inherit a sampling decision taken for the request. As roots each attempt is one bounded
   * trace, sampled on its own, and trace UIs follow the link back to the request. This is the
   * messaging conventions' default ("links as the default mechanism to correlate producers and
   * consumers"); the stored baggage is still active in the handler.
   */
  startAttempt(info: AttemptInfo): AttemptTrace {
    const instruments = this.instruments();
    const waitMs = Math.max(0, info.startedAtMs - info.runAtMs);
    instruments?.waitDuration.record(waitMs / 1000, this.jobAttributes(info.queue, info.type));
    const tracer = this.tracer();
    if (!tracer) return instruments ? new Attempt(this, info, instruments, undefined, undefined) : UNTRACED;
    const stored = extractCarrier(info.traceContext);
    const span = tracer.startSpan(
      `process ${info.queue}`,
      {
        kind: SpanKind.CONSUMER,
        root: true,
        links: linkTo(stored.creation),
        attributes: {
          [ATTR.messagingSystem]: MESSAGING_SYSTEM,
          [ATTR.operationType]: "process",
          [ATTR.operationName]: "process",
          [ATTR.destination]: info.queue,
          [ATTR.messageId]: info.id,
          [ATTR.clientId]: info.pool,
          [ATTR.jobType]: info.type,
          [ATTR.attempt]: info.attempt,
          [ATTR.maxAttempts]: info.maxAttempts,
          [ATTR.priority]: info.priority,
          [ATTR.waitMs]: waitMs,
        },
      },
      stored.baggage,
    );
    if (!span.isRecording()) {
      span.end();
      return instruments ? new Attempt(this, info, instruments, undefined, undefined) : UNTRACED;
    }
    return new Attempt(this, info, instruments, span, trace.setSpan(stored.baggage, span));
  }

  /**
   * Runs a cron tick (`fn` enqueues the tick's job) in a ROOT span: a scheduled job was caused by
   * no request, and the scheduler loop must not pass on whatever context it was started in. The
   * enqueue's send span is its child, so the job's trace starts at the tick.
   */
  async cronTick<T>(info: { scheduleId: string; queue: string; type: string }, fn: () => Promise<T>): Promise<T> {
    const tracer = this.tracer();
    if (!tracer) return fn();
    const span = tracer.startSpan("cron tick", {
      kind: SpanKind.INTERNAL,
      root: true,
      attributes: {
        [ATTR.messagingSystem]: MESSAGING_SYSTEM,
        [ATTR.scheduleId]: info.scheduleId,
        [ATTR.destination]: info.queue,
        [ATTR.jobType]: info.type,
      },
    });
    if (!span.isRecording()) {
      span.end();
      return fn();
    }
    try {
      return await context.with(trace.setSpan(context.active(), span), fn);
    } catch (error) {
      recordError(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  // --- metrics --------------------------------------------------------------------------------

  /** Counts a job event: succeeded, retrying (→ `retried`), failed, crashed, snoozed. */
  recordEvent(event: CountedEvent): void {
    this.instruments()?.events.get(event.kind)?.add(1, this.jobAttributes(event.queue, event.type));
  }

  /**
   * A pool started: its queue's depth is reported (from `queueDepth`) until the returned function
   * is called (when the pool stops), and the counters of its job types start at 0, so the first
   * failure after a deploy is an increase that `rate()` and `increase()` can see. All pools of
   * an installation share one depth report: one query per collection, however many pools run.
   */
  watchPool(pool: { queue: string; jobTypes: readonly string[]; queueDepth: QueueDepthSource }): () => void {
    const instruments = this.instruments();
    if (instruments) for (const counter of instruments.events.values()) for (const type of pool.jobTypes) counter.add(0, this.jobAttributes(pool.queue, type));
    const source = pool.queueDepth;
    this.depthSources.add(source);
    if (this.depthSources.size === 1) instruments?.queueDepth.addCallback(this.observeDepth);
    return () => {
      if (!this.depthSources.delete(source) || this.depthSources.size > 0) return;
      this.instrumentsCache?.queueDepth.removeCallback(this.observeDepth);
    };
  }

  private readonly observeDepth = async (result: ObservableResult): Promise<void> => {
    const source = this.depthSources.values().next().value;
    if (!source) return;
    let rows: QueueDepthRow[];
    try {
      // Two readers collecting at once share one query.
      rows = await (this.depthReading ??= source().finally(() => (this.depthReading = undefined)));
    } catch (error) {
      diag.warn(`${SCOPE}: cannot read queue depth: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    for (const row of rows) {
      for (const state of DEPTH_STATES) result.observe(Number(row[state]), this.cached(`depth\0${row.queue}\0${state}`, () => ({ [ATTR.destination]: row.queue, [ATTR.state]: state })));
    }
  };

  /** @internal */
  recordRun(info: AttemptInfo, instruments: Instruments, outcome: AttemptOutcome, seconds: number): void {
    if (outcome === "abandoned" || outcome === "crashed") return;
    instruments.runDuration.record(
      seconds,
      this.cached(`run\0${info.queue}\0${info.type}\0${outcome}`, () => ({ [ATTR.destination]: info.queue, [ATTR.jobType]: info.type, [ATTR.outcome]: outcome })),
    );
  }

  private countEnqueued(instruments: Instruments | undefined, jobs: readonly SentJob[], ids: string[]): string[] {
    if (!instruments) return ids;
    let run = 0;
    for (let i = 0; i < jobs.length; i = run) {
      // Batches are usually of one queue and type: count runs of equal jobs in one add().
      const { queue, type } = jobs[i]!;
      run = i + 1;
      while (run < jobs.length && jobs[run]!.queue === queue && jobs[run]!.type === type) run++;
      instruments.enqueued.add(run - i, this.jobAttributes(queue, type));
    }
    return ids;
  }

  private jobAttributes(queue: string, type: string): Attributes {
    return this.cached(`job\0${queue}\0${type}`, () => ({ [ATTR.destination]: queue, [ATTR.jobType]: type }));
  }

  private cached(key: string, make: () => Attributes): Attributes {
    let attributes = this.attributeCache.get(key);
    if (!attributes) this.attributeCache.set(key, (attributes = Object.freeze(make())));
    return attributes;
  }

  // --- providers ------------------------------------------------------------------------------

  /** The tracer, or undefined while no SDK is registered (the API's proxy has no delegate). */
  private tracer(): Tracer | undefined {
    const provider = this.options.tracerProvider ?? trace.getTracerProvider();
    if (provider !== this.tracerOf) {
      this.tracerOf = provider;
      this.tracerCache = undefined;
    }
    if (!this.tracerCache) {
      // The global provider is a proxy: ask for its delegate's tracer, which exists only once an
      // SDK is registered. (Duck-typed: the proxy may come from another copy of the API.)
      const proxy = provider as Partial<{ getDelegateTracer(name: string): Tracer | undefined }>;
      this.tracerCache = typeof proxy.getDelegateTracer === "function" ? proxy.getDelegateTracer(SCOPE) : provider.getTracer(SCOPE);
    }
    return this.tracerCache;
  }

  /** The instruments, or undefined while the meter provider is the API's no-op one. */
  private instruments(): Instruments | undefined {
    const provider = this.options.meterProvider ?? metrics.getMeterProvider();
    if (provider === this.meterOf) return this.instrumentsCache;
    const previous = this.instrumentsCache;
    this.meterOf = provider;
    this.instrumentsCache = createInstruments(provider);
    if (this.depthSources.size > 0) {
      previous?.queueDepth.removeCallback(this.observeDepth);
      this.instrumentsCache?.queueDepth.addCallback(this.observeDepth);
    }
    return this.instrumentsCache;
  }
}

class Attempt implements AttemptTrace {
  readonly traceId: string | null;
  private readonly startedAt = performance.now();
  private ended = false;

  constructor(
    private readonly owner: Instrumentation,
    private readonly info: AttemptInfo,
    private readonly instruments: Instruments | undefined,
    private readonly span: Span | undefined,
    private readonly active: Context | undefined,
  ) {
    this.traceId = span ? span.spanContext().traceId : null;
  }

  run<T>(fn: () => Promise<T>): Promise<T> {
    return this.active ? context.with(this.active, fn) : fn();
  }

  end(outcome: AttemptOutcome, error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    if (this.instruments) this.owner.recordRun(this.info, this.instruments, outcome, (performance.now() - this.startedAt) / 1000);
    const span = this.span;
    if (!span) return;
    span.setAttribute(ATTR.outcome, outcome);
    if (error !== undefined) recordError(span, error);
    else if (outcome === "crashed") span.setStatus({ code: SpanStatusCode.ERROR, message: "the worker lost its connection before recording the outcome" });
    span.end();
  }
}

function createInstruments(provider: MeterProvider): Instruments | undefined {
  const meter = provider.getMeter(SCOPE);
  if (meter === createNoopMeter()) return undefined;
  const counter = (m: (typeof METRICS)[keyof typeof METRICS]) => meter.createCounter(m.name, { unit: m.unit, description: m.description });
  const histogram = (m: (typeof METRICS)[keyof typeof METRICS]) =>
    meter.createHistogram(m.name, { unit: m.unit, description: m.description, advice: { explicitBucketBoundaries: DURATION_BUCKETS } });
  return {
    enqueued: counter(METRICS.enqueued),
    events: new Map([
      ["succeeded", counter(METRICS.succeeded)],
      ["retrying", counter(METRICS.retried)],
      ["failed", counter(METRICS.failed)],
      ["crashed", counter(METRICS.crashed)],
      ["snoozed", counter(METRICS.snoozed)],
    ]),
    runDuration: histogram(METRICS.runDuration),
    waitDuration: histogram(METRICS.waitDuration),
    queueDepth: meter.createObservableGauge(METRICS.queueDepth.name, { unit: METRICS.queueDepth.unit, description: METRICS.queueDepth.description }),
  };
}

/** Records an error on a span: exception event, status ERROR, `error.type`. */
function recordError(span: Span, error: unknown): void {
  if (error instanceof Error) {
    span.recordException(error);
    span.setAttribute(ATTR.errorType, error.constructor?.name || error.name || "Error");
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
  } else {
    const message = typeof error === "string" ? error : safeString(error);
    span.recordException(message);
    span.setAttribute(ATTR.errorType, "_OTHER");
    span.setStatus({ code: SpanStatusCode.ERROR, message });
  }
}

function safeString(value: unknown): string {
  try {
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  } catch {
    return String(value);
  }
}

function linkTo(creation: Link["context"] | undefined): Link[] | undefined {
  return creation ? [{ context: creation }] : undefined;
}

/** The value of `key` shared by every job, if any. */
function common(jobs: readonly SentJob[], key: keyof SentJob): string | undefined {
  const first = jobs[0]?.[key];
  for (const job of jobs) if (job[key] !== first) return undefined;
  return first;
}
