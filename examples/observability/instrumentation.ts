/**
 * The OpenTelemetry Node SDK, as an app sets it up: traces exported over OTLP/HTTP, metrics
 * served for Prometheus to scrape. arrower-jobs needs nothing more: it uses the global tracer
 * and meter providers this registers (pass `jobs({ tracerProvider, meterProvider })` to use
 * others).
 *
 * app.ts imports this module first. With auto-instrumentations (pg, http, …), which must patch
 * modules before they load, start it with `node --import` instead.
 *
 * Environment:
 * - OTEL_EXPORTER_OTLP_ENDPOINT: where traces go (default http://localhost:4318, a Collector,
 *   Jaeger or Tempo);
 * - PROMETHEUS_PORT: where /metrics is served (default 9464, OpenTelemetry's registered port);
 * - OTEL_SERVICE_NAME: the service name (default "arrower-jobs-example").
 */
import { NodeSDK } from "@opentelemetry/sdk-node";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";

const port = Number(process.env.PROMETHEUS_PORT ?? 9464);

/** Serves the metrics in the Prometheus text format on http://localhost:PORT/metrics. */
export const prometheus = new PrometheusExporter({ port }, (error) => {
  if (error) console.error(`cannot serve metrics on port ${port}: ${error.message}`);
  else console.log(`metrics: http://localhost:${port}/metrics`);
});

export const telemetry = new NodeSDK({
  serviceName: process.env.OTEL_SERVICE_NAME ?? "arrower-jobs-example",
  traceExporter: new OTLPTraceExporter(),
  metricReaders: [prometheus],
  // The SDK's defaults otherwise: W3C trace context and baggage propagators, an
  // AsyncLocalStorage context manager (so a job's handler runs inside its attempt's span).
});
telemetry.start();
