/**
 * The state one `jobs()` installation shares between its `$jobs` objects (the client's and
 * every transaction's), its queues and the CLI: options, the statements for its schema, how to
 * open connections of its own, and the schema-version check.
 */
import pg from "pg";
import { InvalidOptionsError, IntegrationError } from "./errors.ts";
import { integerOption, objectOrEmpty, rejectUnknownKeys } from "./config.ts";
import { DEFAULT_MAX_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES_LIMIT } from "./payload.ts";
import { Queries, quoteSchema } from "./postgres/queries.ts";
import { assertVersion, migrate, queryableOf, readVersion, type MigrateResult } from "./postgres/migrations.ts";
import type { Queryable } from "./backend.ts";
import { defaultLogger, type Logger } from "./logger.ts";
import type { MeterProvider, TracerProvider } from "@opentelemetry/api";
import { Instrumentation } from "./otel/instrumentation.ts";

/**
 * Options of `jobs()`.
 *
 * @example
 * ```ts
 * const prisma = new PrismaClient({ adapter }).$extends(jobs({ schema: "jobs" }));
 * ```
 */
export interface JobsOptions {
  /** PostgreSQL schema of the library's tables. Default `"arrower"`. */
  schema?: string;
  /**
   * Database for the connections arrower-jobs opens itself (workers, LISTEN, migrate, status).
   * Default: the settings of the client's `@prisma/adapter-pg`. Enqueueing never opens one.
   */
  connectionString?: string;
  /**
   * Largest serialised payload in bytes, and handler result (`defineJob<P, R>`). Default 1 MiB,
   * at most 32 MiB (one payload must fit one statement).
   */
  maxPayloadBytes?: number;
  /** Where the worker's own lines go. Default: the console (silent under test runners). */
  logger?: Logger;
  /**
   * OpenTelemetry tracer provider for the enqueue, attempt and cron spans. Default: the global
   * one (`trace.setGlobalTracerProvider`, which the Node SDK's `start()` sets); with none
   * registered nothing is traced, at no cost.
   */
  tracerProvider?: TracerProvider;
  /**
   * OpenTelemetry meter provider for the job counters, histograms and queue-depth gauge.
   * Default: the global one (`metrics.setGlobalMeterProvider`, which the Node SDK sets).
   */
  meterProvider?: MeterProvider;
  /**
   * Whether an enqueue outside a transaction, which runs on the Prisma adapter's own `pg.Pool`,
   * uses named prepared statements: parsed and planned once per connection, about half the
   * time per call of unnamed ones. Default `true`. Behind PgBouncer in transaction mode (before
   * 1.21, or without `max_prepared_statements`) a named statement fails on a server connection
   * another client prepared it on (42P05) or never did (26000): arrower-jobs then retries it
   * unnamed (nothing ran) and uses unnamed statements from then on, with one warning. `false`
   * starts with them.
   */
  preparedStatements?: boolean;
}

const OPTION_KEYS = ["schema", "connectionString", "maxPayloadBytes", "logger", "tracerProvider", "meterProvider", "preparedStatements"] as const;

/** Validated `jobs()` options with their defaults. */
export interface ResolvedJobsOptions {
  schema: string;
  connectionString: string | undefined;
  maxPayloadBytes: number;
  logger: Logger;
  tracerProvider: TracerProvider | undefined;
  meterProvider: MeterProvider | undefined;
  preparedStatements: boolean;
}

/** Validates `jobs()` options. */
export function resolveJobsOptions(input: unknown): ResolvedJobsOptions {
  const what = "jobs() options";
  const options = objectOrEmpty(input, what);
  rejectUnknownKeys(options, OPTION_KEYS, what);
  const connectionString = options.connectionString;
  if (connectionString !== undefined && (typeof connectionString !== "string" || connectionString === "")) {
    throw new InvalidOptionsError("connectionString", `${what}: connectionString must be a non-empty string`);
  }
  const logger = options.logger;
  if (logger !== undefined && (typeof logger !== "object" || logger === null || typeof (logger as Logger).error !== "function")) {
    throw new InvalidOptionsError("logger", `${what}: logger must have debug, info, warn and error methods (console works)`);
  }
  for (const [key, method] of [["tracerProvider", "getTracer"], ["meterProvider", "getMeter"]] as const) {
    const provider = options[key] as Record<string, unknown> | null | undefined;
    if (provider !== undefined && (typeof provider !== "object" || provider === null || typeof provider[method] !== "function")) {
      throw new InvalidOptionsError(key, `${what}: ${key} must be an OpenTelemetry ${key === "tracerProvider" ? "TracerProvider" : "MeterProvider"} (with a ${method} method), got ${provider === null ? "null" : typeof provider}`);
    }
  }
  const schema = (options.schema as string | undefined) ?? "arrower";
  quoteSchema(schema);
  const preparedStatements = options.preparedStatements ?? true;
  if (typeof preparedStatements !== "boolean") {
    throw new InvalidOptionsError("preparedStatements", `${what}: preparedStatements must be true or false, got ${typeof preparedStatements}`);
  }
  return {
    schema,
    connectionString: connectionString as string | undefined,
    maxPayloadBytes:
      options.maxPayloadBytes === undefined
        ? DEFAULT_MAX_PAYLOAD_BYTES
        : integerOption(options.maxPayloadBytes, "maxPayloadBytes", 1, MAX_PAYLOAD_BYTES_LIMIT, what, "32 MiB"),
    logger: (logger as Logger | undefined) ?? defaultLogger(),
    tracerProvider: options.tracerProvider as TracerProvider | undefined,
    meterProvider: options.meterProvider as MeterProvider | undefined,
    preparedStatements,
  };
}

/** Shared state of one installation. */
export class Engine {
  readonly queries: Queries;
  readonly options: ResolvedJobsOptions;
  /** Spans and metrics (src/otel/). */
  readonly otel: Instrumentation;
  private schemaReady: Promise<void> | undefined;
  private smallPool: pg.Pool | undefined;

  /**
   * @param poolConfig the driver adapter's connection settings, when known
   */
  constructor(options: ResolvedJobsOptions, private readonly poolConfig: pg.PoolConfig | undefined) {
    this.options = options;
    this.queries = new Queries(options.schema);
    this.otel = new Instrumentation({ tracerProvider: options.tracerProvider, meterProvider: options.meterProvider });
  }

  get logger(): Logger {
    return this.options.logger;
  }

  /** Settings for a connection of our own: TCP keepalive, so a dead host's locks go in seconds. */
  connectionConfig(): pg.ClientConfig {
    const base: pg.ClientConfig | undefined = this.options.connectionString
      ? { connectionString: this.options.connectionString }
      : this.poolConfig;
    if (!base) {
      throw new IntegrationError(
        "arrower-jobs needs a database connection of its own here (workers, migrate): pass jobs({ connectionString }) or use @prisma/adapter-pg",
      );
    }
    // `new PrismaPg({ connectionString: process.env.DATABASE_URL })` with the variable unset: pg
    // would fall back to its defaults and fail with "no PostgreSQL user name specified in
    // startup packet", which names neither the variable nor the setting.
    const given = base as pg.PoolConfig;
    const libpqEnv = ["PGHOST", "PGUSER", "PGDATABASE"].some((name) => process.env[name]);
    if ("connectionString" in given && !given.connectionString && !given.host && !libpqEnv) {
      throw new InvalidOptionsError(
        "connectionString",
        "no database to connect to: the Prisma client's adapter has no connection string (new PrismaPg({ connectionString: undefined })). " +
          "Is DATABASE_URL set in this environment? Set it (e.g. DATABASE_URL=postgresql://user:password@localhost:5432/app), " +
          "or give new PrismaPg({ connectionString }) or jobs({ connectionString }) one",
      );
    }
    const { max: _max, idleTimeoutMillis: _idle, ...client } = base as pg.PoolConfig;
    return { ...client, keepAlive: true, keepAliveInitialDelayMillis: 10_000, application_name: "arrower-jobs" };
  }

  /**
   * Opens a dedicated connection. `pipeline` sends queries without waiting for the previous
   * answer (workers: a job's statements that do not depend on each other share a round trip).
   */
  async connect(options: { pipeline?: boolean } = {}): Promise<pg.Client> {
    const client = new pg.Client({ ...this.connectionConfig(), pipeline: options.pipeline === true });
    await client.connect();
    return client;
  }

  /**
   * A small pool for admin calls and maintenance, opened on first use (so enqueue-only processes
   * never open it); idle connections close and never keep the process alive.
   */
  pool(): pg.Pool {
    if (!this.smallPool) {
      this.smallPool = new pg.Pool({ ...this.connectionConfig(), max: 2, idleTimeoutMillis: 5_000, allowExitOnIdle: true });
      this.smallPool.on("error", (error) => this.logger.warn("admin connection error", { error }));
    }
    return this.smallPool;
  }

  /** Runs `fn` in a transaction on the small pool. */
  async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool().connect();
    // pg-pool takes its 'error' listener off a client while it is checked out. A session the
    // server ends meanwhile (idle_in_transaction_session_timeout while the pruner holds its
    // lock, pg_terminate_backend) then emitted an unhandled 'error' and crashed the process
    // (found by test/faults/session-limits.test.ts). With a listener, the next query fails.
    const onError = (error: Error) => this.logger.warn("admin connection error", { error });
    client.on("error", onError);
    try {
      await client.query("BEGIN");
      const result = await fn(client);
      await client.query("COMMIT");
      return result;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.removeListener("error", onError);
      client.release();
    }
  }

  /** Closes the connections this installation opened outside its pools (called by `$disconnect`). */
  async close(): Promise<void> {
    const pool = this.smallPool;
    this.smallPool = undefined;
    await pool?.end();
  }

  /** Applies pending migrations (see src/postgres/migrations.ts). */
  async migrate(): Promise<MigrateResult> {
    const client = await this.connect();
    try {
      const result = await migrate(client, this.queries);
      this.schemaReady = Promise.resolve();
      return result;
    } finally {
      await client.end();
    }
  }

  /**
   * Checks, once per installation, that the tables exist and are recent enough. Runs on the
   * caller's queryable (possibly its transaction): the query cannot fail, so a missing schema
   * never aborts the caller's transaction, and the typed error comes before any write.
   */
  async ensureSchema(db: Queryable): Promise<void> {
    this.schemaReady ??= readVersion(db, this.queries).then((version) => assertVersion(version, this.options.schema, false));
    try {
      await this.schemaReady;
    } catch (error) {
      this.schemaReady = undefined; // check again next time: the schema may be migrated meanwhile
      throw error;
    }
  }

  /** The recorded schema version, on a connection of our own. */
  async schemaVersion(client: pg.ClientBase): Promise<number> {
    return readVersion(queryableOf(client), this.queries);
  }
}
