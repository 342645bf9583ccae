/**
 * `arrower-jobs status`: job counts per queue, the live worker pools, the running jobs worth
 * watching (leased ones, and those reporting progress) and the cron schedules (stale ones
 * marked), as tables or JSON.
 *
 * A transaction-mode job's claim is invisible to other sessions until it commits, so the
 * `running` counts come from the pools' heartbeats, not from the jobs table.
 */
import type { Engine } from "../engine.ts";
import { listPools, listRunning, queueCounts, type PoolInfo } from "../admin/api.ts";
import { latestVersion, queryableOf } from "../postgres/migrations.ts";
import { isStale, listSchedulesOf } from "../cron/schedules.ts";
import { CliError, EXIT, formatFlags, parseFlags, type Command, type FlagSpecs } from "./args.ts";
import { resolveTarget } from "./load-config.ts";
import { TARGET_FLAGS } from "./migrate.ts";

const FLAGS = {
  ...TARGET_FLAGS,
  json: { type: "boolean", description: "Print JSON instead of tables." },
} satisfies FlagSpecs;

/** One queue's counts. */
export interface QueueStatus {
  name: string;
  /** Live jobs: due + scheduled + waiting (running ones included, they are still live). */
  queued: number;
  /** Live jobs whose run_at has passed. */
  due: number;
  /** Live jobs whose run_at is in the future (retries waiting for their backoff included). */
  scheduled: number;
  /** Live jobs waiting for the jobs they depend on (`dependsOn`) to succeed. */
  waiting: number;
  /** Jobs running now, from the heartbeats of the queue's live pools. */
  running: number;
  /** Jobs kept as failed after their last attempt. */
  failed: number;
  /** Live jobs that failed at least once and will run again. */
  retrying: number;
  /** Live jobs of a type that no live pool of the queue has a handler for. */
  noHandler: number;
  paused: boolean;
  /** Live pools (seen in the last minute). */
  pools: number;
}

/** One worker pool, from its heartbeat row ({@link PoolInfo}), its times as ISO strings. */
export type PoolStatus = Omit<PoolInfo, "startedAt" | "lastSeenAt"> & { startedAt: string | null; lastSeenAt: string };

/** One cron schedule, its times as ISO strings. */
export interface ScheduleStatus {
  id: string;
  name: string | null;
  spec: string;
  timezone: string;
  type: string;
  queue: string;
  nextRunAt: string;
  lastRunAt: string | null;
  /** When code last declared it. */
  declaredAt: string;
  /** Declared before every live pool started: no code that runs now declares it (`isStale`). */
  stale: boolean;
}

/**
 * A running job worth watching: a lease-mode job (with its lease), or one that reported
 * progress. Times as ISO strings.
 */
export interface RunningStatus {
  id: string;
  queue: string;
  type: string;
  /** The attempt running now, from 1. */
  attempt: number;
  maxAttempts: number;
  /** The pool holding its lease, since when, and when it expires unless renewed; null for a job running in its transaction. */
  lease: { owner: string; startedAt: string; expiresAt: string } | null;
  /** The latest value it reported with `ctx.progress()`; null when none. */
  progress: { value: unknown; updatedAt: string } | null;
}

/** What `status --json` prints. */
export interface StatusReport {
  schema: string;
  version: number;
  queues: QueueStatus[];
  pools: PoolStatus[];
  /** Running jobs that are leased or reported progress, oldest first. */
  running: RunningStatus[];
  schedules: ScheduleStatus[];
}

/** Running jobs the table shows; `--json` has them all. */
const RUNNING_SHOWN = 20;

/** The `status` command. */
export const statusCommand: Command = {
  name: "status",
  summary: "Job counts per queue and the live worker pools",
  help: () => `Usage: arrower-jobs status [--config path | --database-url url [--schema name]] [--json]

Prints per queue: queued (due + scheduled + waiting), due, scheduled, waiting (for the jobs
they depend on), running, failed, retrying, no handler (no live pool runs that job type),
paused, pools; then the live worker pools; then the running jobs that hold a lease (lease
mode: its pool and expiry) or reported progress; then the cron schedules, soonest first, those
no running code declares any more marked stale.

Flags:
${formatFlags(FLAGS)}`,
  run,
};

async function run(argv: readonly string[]): Promise<number> {
  const flags = parseFlags("status", argv, FLAGS);
  if (flags.help) {
    console.log(statusCommand.help());
    return EXIT.ok;
  }
  const target = await resolveTarget(flags);
  let report: StatusReport;
  try {
    report = await readStatus(target.engine, target.queues);
  } finally {
    await target.close();
  }
  if (flags.json) console.log(JSON.stringify(report, null, 2));
  else console.log(formatReport(report));
  return EXIT.ok;
}

async function readStatus(engine: Engine, configured: string[]): Promise<StatusReport> {
  const schema = engine.options.schema;
  const client = await engine.connect();
  try {
    const version = await engine.schemaVersion(client);
    const latest = latestVersion();
    if (version === 0) {
      throw new CliError(`schema "${schema}" has no arrower-jobs tables: run \`arrower-jobs migrate\``, EXIT.failure);
    }
    if (version < latest) {
      console.error(`arrower-jobs: schema "${schema}" is at version ${version}, this version expects ${latest}: run \`arrower-jobs migrate\``);
    }
    const counts = await queueCounts(engine, client);
    const pools = await listPools(engine, client);
    const running = (await listRunning(engine, client)).filter((job) => job.lease || job.progress);
    const schedules = await listSchedulesOf(engine, queryableOf(client));
    const queues = new Map<string, QueueStatus>();
    for (const { queue, ...rest } of counts) queues.set(queue, { name: queue, ...rest });
    // Queues of the config that nothing has touched yet still get a row: an empty queue is news too.
    for (const name of configured) {
      if (!queues.has(name)) {
        queues.set(name, { name, queued: 0, due: 0, scheduled: 0, waiting: 0, running: 0, failed: 0, retrying: 0, noHandler: 0, paused: false, pools: 0 });
      }
    }
    return {
      schema,
      version,
      queues: [...queues.values()].sort((a, b) => a.name.localeCompare(b.name)),
      pools: pools.map((pool) => ({ ...pool, startedAt: pool.startedAt?.toISOString() ?? null, lastSeenAt: pool.lastSeenAt.toISOString() })),
      running: running.map((job) => ({
        ...job,
        lease: job.lease && { owner: job.lease.owner, startedAt: job.lease.startedAt.toISOString(), expiresAt: job.lease.expiresAt.toISOString() },
        progress: job.progress && { value: job.progress.value, updatedAt: job.progress.updatedAt.toISOString() },
      })),
      schedules: schedules.map((s) => ({
        id: s.id,
        name: s.name,
        spec: s.spec,
        timezone: s.timezone,
        type: s.type,
        queue: s.queue,
        nextRunAt: s.nextRunAt.toISOString(),
        lastRunAt: s.lastRunAt?.toISOString() ?? null,
        declaredAt: s.declaredAt.toISOString(),
        stale: isStale(s.declaredAt, pools),
      })),
    };
  } finally {
    await client.end();
  }
}

/** The report as two tables. */
export function formatReport(report: StatusReport, now: Date = new Date()): string {
  const lines: string[] = [];
  lines.push(`Queues (schema "${report.schema}", version ${report.version})`);
  if (report.queues.length === 0) {
    lines.push("  no queues yet: enqueue a job or start a worker");
  } else {
    lines.push(
      ...table(
        ["QUEUE", "QUEUED", "DUE", "SCHEDULED", "WAITING", "RUNNING", "FAILED", "RETRYING", "NO HANDLER", "PAUSED", "POOLS"],
        report.queues.map((q) => [q.name, q.queued, q.due, q.scheduled, q.waiting, q.running, q.failed, q.retrying, q.noHandler, q.paused ? "yes" : "no", q.pools]),
      ),
    );
  }
  lines.push("");
  const live = report.pools.filter((p) => p.alive);
  lines.push("Live pools");
  if (live.length === 0) {
    lines.push("  none: start one with `arrower-jobs worker`");
  } else {
    lines.push(
      ...table(
        ["NAME", "QUEUE", "SIZE", "RUNNING", "LAST SEEN", "JOB TYPES"],
        live.map((p) => [p.name, p.queue, p.size, p.running, ago(new Date(p.lastSeenAt), now), p.jobTypes.join(", ")]),
      ),
    );
  }
  const stale = report.pools.length - live.length;
  if (stale > 0) {
    lines.push(`  (${stale} more pool${stale === 1 ? "" : "s"} not seen for over a minute: stopped without cleaning up, or unreachable)`);
  }
  const running = report.running;
  if (running.length > 0) {
    lines.push("");
    lines.push("Running jobs (leased, or reporting progress)");
    lines.push(
      ...table(
        ["JOB", "QUEUE", "TYPE", "ATTEMPT", "HELD BY", "LEASE EXPIRES", "PROGRESS"],
        running.slice(0, RUNNING_SHOWN).map((j) => [
          j.id,
          j.queue,
          j.type,
          `${j.attempt}/${j.maxAttempts}`,
          j.lease?.owner ?? "(transaction)",
          j.lease ? until(new Date(j.lease.expiresAt), now) : "-",
          j.progress ? `${clip(JSON.stringify(j.progress.value), 60)} (${ago(new Date(j.progress.updatedAt), now)})` : "-",
        ]),
      ),
    );
    if (running.length > RUNNING_SHOWN) lines.push(`  (${running.length - RUNNING_SHOWN} more: --json lists them all)`);
  }
  const schedules = report.schedules;
  if (schedules.length > 0) {
    lines.push("");
    lines.push("Schedules");
    lines.push(
      ...table(
        ["SCHEDULE", "SPEC", "ZONE", "JOB", "QUEUE", "NEXT RUN", "LAST RUN", "DECLARED"],
        schedules.map((s) => [
          `${s.name ?? `#${s.id}`}${s.stale ? " (stale)" : ""}`,
          s.spec,
          s.timezone,
          s.type,
          s.queue,
          s.nextRunAt,
          s.lastRunAt ?? "never",
          ago(new Date(s.declaredAt), now),
        ]),
      ),
    );
    const staleSchedules = schedules.filter((s) => s.stale).length;
    if (staleSchedules > 0) {
      lines.push(
        `  (${staleSchedules} stale: last declared before every live pool started, so no code that runs now declares ${staleSchedules === 1 ? "it" : "them"}; remove with prisma.$jobs.unschedule(idOrName))`,
      );
    }
  }
  return lines.join("\n");
}

/** Left-aligned text, right-aligned numbers, two spaces between columns. */
function table(header: string[], rows: Array<Array<string | number>>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i]).length)));
  const numeric = header.map((_, i) => rows.every((row) => typeof row[i] === "number"));
  const line = (cells: Array<string | number>) =>
    "  " +
    cells
      .map((cell, i) => (numeric[i] ? String(cell).padStart(widths[i]!) : String(cell).padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** "in 25s": a time to come (a lease's expiry). */
function until(then: Date, now: Date): string {
  const seconds = Math.max(0, Math.round((then.getTime() - now.getTime()) / 1000));
  if (seconds < 60) return `in ${seconds}s`;
  if (seconds < 3600) return `in ${Math.round(seconds / 60)}m`;
  return `in ${Math.round(seconds / 3600)}h`;
}

/** At most `max` characters of `text`, cut with an ellipsis. */
function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function ago(then: Date, now: Date): string {
  const seconds = Math.max(0, Math.round((now.getTime() - then.getTime()) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m ago`;
  return `${Math.round(seconds / 3600)}h ago`;
}
