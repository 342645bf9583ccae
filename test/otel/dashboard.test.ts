// The Grafana dashboard of examples/observability queries only names the Prometheus exporter
// really produces from our metrics. The list of exported names is not written by hand: every
// instrument is exercised through the real Instrumentation, collected by the real
// PrometheusExporter (the example's) and serialised in the Prometheus text format.
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { Instrumentation } from "../../src/otel/instrumentation.ts";
import { METRICS } from "../../src/otel/names.ts";

const DASHBOARD = new URL("../../examples/observability/grafana-dashboard.json", import.meta.url);

interface Exposition {
  /** Sample names (`arrower_jobs_run_duration_bucket`, …) by metric family. */
  families: Map<string, string[]>;
  /** Every label name on our samples. */
  labels: Set<string>;
}

/** What the exporter serves for our metrics after every instrument recorded once. */
async function exposition(): Promise<Exposition> {
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const meterProvider = new MeterProvider({ readers: [exporter] });
  try {
    const otel = new Instrumentation({ meterProvider });
    await otel.enqueueSpan([{ queue: "default", type: "send-welcome" }], undefined, async () => ["1"]);
    for (const kind of ["succeeded", "retrying", "failed", "crashed", "snoozed"]) otel.recordEvent({ kind, queue: "default", type: "send-welcome" });
    const now = new Date();
    otel.startAttempt({ id: "1", type: "send-welcome", queue: "default", attempt: 1, maxAttempts: 3, priority: 0, runAtMs: now.getTime(), startedAtMs: now.getTime(), traceContext: null, pool: "p" }).end("succeeded");
    const stop = otel.watchPool({ queue: "default", jobTypes: ["send-welcome"], queueDepth: async () => [{ queue: "default", available: 1, scheduled: 2, running: 3 }] });
    const { resourceMetrics, errors } = await exporter.collect();
    stop();
    expect(errors).toEqual([]);
    const text = new PrometheusSerializer().serialize(resourceMetrics);
    const families = new Map<string, string[]>();
    const labels = new Set<string>();
    for (const line of text.split("\n")) {
      const type = /^# TYPE (arrower_jobs_\w+) (\w+)$/.exec(line);
      if (type) families.set(type[1]!, type[2] === "histogram" ? ["_bucket", "_sum", "_count"].map((s) => type[1] + s) : [type[1]!]);
      const sample = /^(arrower_jobs_\w+)\{([^}]*)\}/.exec(line);
      if (sample) for (const [, name] of sample[2]!.matchAll(/(\w+)="/g)) labels.add(name!);
    }
    return { families, labels };
  } finally {
    await meterProvider.shutdown();
  }
}

/** Every PromQL expression of the dashboard: panel targets and template variable queries. */
function queries(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) for (const item of node) queries(item, found);
  else if (node && typeof node === "object") {
    for (const [key, value] of Object.entries(node)) {
      if ((key === "expr" || key === "query" || key === "definition") && typeof value === "string") found.push(value);
      else queries(value, found);
    }
  }
  return found;
}

describe("examples/observability/grafana-dashboard.json", () => {
  let exported: Exposition;
  let dashboard: { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
  let expressions: string[];

  beforeAll(async () => {
    exported = await exposition();
    dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8"));
    expressions = queries(dashboard);
  });

  it("the exporter produces one family per metric we define", () => {
    expect(exported.families.size).toBe(Object.keys(METRICS).length);
    expect(exported.families.get("arrower_jobs_enqueued_total")).toEqual(["arrower_jobs_enqueued_total"]);
    expect(exported.families.get("arrower_jobs_run_duration")).toEqual(["arrower_jobs_run_duration_bucket", "arrower_jobs_run_duration_sum", "arrower_jobs_run_duration_count"]);
  });

  it("every metric name the dashboard queries is exported", () => {
    const exportedNames = new Set([...exported.families.values()].flat());
    // Metric names: identifiers outside label positions (grouping clauses, matchers, label_values' label).
    const selectors = expressions.map((e) => e.replace(/\b(?:by|without)\s*\([^)]*\)/g, " ").replace(/\{[^}]*\}/g, " ").replace(/,\s*\w+\s*\)/g, ")"));
    const queried = new Set(selectors.flatMap((e) => [...e.matchAll(/\barrower_jobs_\w+/g)].map((m) => m[0])));
    expect(queried.size).toBeGreaterThan(0);
    expect([...queried].filter((name) => !exportedNames.has(name))).toEqual([]);
  });

  it("every label the dashboard groups or filters by is exported", () => {
    const known = new Set([...exported.labels, "le", "job", "instance"]);
    const used = new Set<string>();
    for (const e of expressions) {
      for (const [, list] of e.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) for (const l of list!.split(",")) if (l.trim()) used.add(l.trim());
      for (const [, matchers] of e.matchAll(/\{([^}]*)\}/g)) for (const [, name] of matchers!.matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)) used.add(name!);
      for (const [, label] of e.matchAll(/label_values\(\s*\w+\s*,\s*(\w+)\s*\)/g)) used.add(label!);
    }
    expect([...used].filter((l) => !known.has(l))).toEqual([]);
  });

  it("every exported family is on the dashboard, with the panels the issue asks for", () => {
    const all = expressions.join("\n");
    for (const family of exported.families.keys()) expect(all, family).toContain(family);
    const titles = dashboard.panels.map((p) => p.title.toLowerCase());
    for (const word of ["throughput", "failures", "run duration", "queue depth", "wait time"]) expect(titles.some((t) => t.includes(word)), word).toBe(true);
    for (const q of ["0.5", "0.95", "0.99"]) expect(all).toContain(`histogram_quantile(${q}, sum by (le`);
  });
});
