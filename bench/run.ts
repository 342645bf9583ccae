/**
 * Side-by-side benchmark: arrower-jobs against graphile-worker, pg-boss and BullMQ (on its
 * PostgreSQL backend and on Redis), on the same PostgreSQL server in the same run, plus
 * pgbench's figure for the same claim-and-delete work.
 *
 *   npm run bench                      the default run (fixed sizes, 3 runs, under 20 minutes)
 *   npm run bench -- --quick           sizes ÷10–20: a smoke test for CI, figures mean little
 *   npm run bench -- scale             scale mode (see scale.ts): claim throughput with 1,000,000
 *                                      queued and 5,000,000 in history; worker memory
 *   options: --runs N  --systems arrower,graphile,…  --scenarios process,process-lease,…  --no-pgbench
 *                                      (--scenarios takes the rows' keys: enqueue-single, enqueue-batch,
 *                                      process, process-batched, process-batched-lean, process-horizon,
 *                                      process-lease, latency, pgbench)
 *
 * Each measurement runs in a child process of its own (child.ts) on a fresh copy of a database
 * the system migrated once (lib/server.ts). Runs alternate the order of the systems and of the
 * rows (forward, backward, forward, …); a cell is the median of the runs, a ratio the median of
 * the per-run ratios. Results: bench/results/latest.{json,md} (latest-quick.* for --quick).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Databases, redact, resolveServer, type Server } from "./lib/server.ts";
import { median } from "./lib/stats.ts";
import { pgbenchPath, runPgbench, PGBENCH_CLIENTS, PGBENCH_ROWS, type PgbenchResult, type PgbenchVariant } from "./lib/pgbench.ts";
import type { Measurement, ScenarioId, Task } from "./scenarios.ts";
import { PG_SYSTEMS, SYSTEMS, SYSTEM_LABELS, type SystemId, type Variant } from "./systems/types.ts";
import { redisUrl } from "./systems/bullmq.ts";

const benchDir = fileURLToPath(new URL(".", import.meta.url));
const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const OURS: SystemId = "arrower";

/** Which rows of the table a variant's settings apply to (for the report's settings list). */
const VARIANT_ROWS: Record<Variant, string> = {
  default: "10-worker and latency rows",
  batched: "batched row",
  "batched-lean": "batched row, succeeded jobs not kept",
};

// ---------------------------------------------------------------------------
// Arguments

interface Args {
  mode: "default" | "scale";
  quick: boolean;
  runs: number;
  systems: SystemId[];
  scenarios: string[] | undefined;
  pgbench: boolean;
  /** scale mode: also process 1,000,000 jobs for the memory figures (most of its run time). */
  memory: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { mode: "default", quick: false, runs: 3, systems: [...SYSTEMS], scenarios: undefined, pgbench: true, memory: true };
  let runsGiven = false;
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k]!;
    const value = () => {
      const v = a.includes("=") ? a.slice(a.indexOf("=") + 1) : argv[++k];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "scale" || a === "--scale") args.mode = "scale";
    else if (a === "--quick") args.quick = true;
    else if (a.startsWith("--runs")) {
      args.runs = Number(value());
      runsGiven = true;
      if (!Number.isInteger(args.runs) || args.runs < 1) throw new Error("--runs must be a positive integer");
    } else if (a.startsWith("--systems")) {
      const list = value().split(",").map((s) => s.trim()) as SystemId[];
      for (const s of list) if (!SYSTEMS.includes(s)) throw new Error(`unknown system "${s}" (known: ${SYSTEMS.join(", ")})`);
      args.systems = SYSTEMS.filter((s) => list.includes(s));
    } else if (a.startsWith("--scenarios")) args.scenarios = value().split(",").map((s) => s.trim());
    else if (a === "--no-pgbench") args.pgbench = false;
    else if (a === "--no-memory") args.memory = false;
    else if (a === "--help" || a === "-h") {
      console.log("usage: npm run bench [-- [scale] [--quick] [--runs N] [--systems a,b] [--scenarios a,b] [--no-pgbench] [--no-memory]]");
      process.exit(0);
    } else throw new Error(`unknown argument "${a}" (try --help)`);
  }
  if (args.quick && !runsGiven) args.runs = 2;
  return args;
}

// ---------------------------------------------------------------------------
// Scenarios of the default mode

interface ScenarioDef {
  key: string;
  label: string;
  scenario: ScenarioId;
  variant: Variant;
  n: number;
  batch?: number;
  gapMs?: number;
  holdHorizon?: boolean;
  longJobMs?: number;
  /** Systems that have no such mode: not run, the cell says why. */
  notApplicable?: Partial<Record<SystemId, string>>;
}

function scenarios(quick: boolean): ScenarioDef[] {
  const single = quick ? 250 : 5_000;
  const batch = quick ? 5_000 : 50_000;
  const processN = quick ? 2_000 : 20_000;
  const latencyN = quick ? 30 : 300;
  const noBatch = {
    pgboss: "always fetches in batches: see the 10-worker row",
    bullmqpg: "batches are BullMQ Pro only",
    bullmqredis: "batches are BullMQ Pro only",
  };
  return [
    { key: "enqueue-single", label: `enqueue ${fmtInt(single)}, one awaited call each (jobs/s)`, scenario: "enqueue-single", variant: "default", n: single },
    { key: "enqueue-batch", label: `enqueue ${fmtInt(batch)} in batches of 1,000 (jobs/s)`, scenario: "enqueue-batch", variant: "default", n: batch, batch: 1000 },
    { key: "process", label: `process ${fmtInt(processN)} no-op jobs, 10 workers (jobs/s)`, scenario: "process", variant: "default", n: processN },
    { key: "process-batched", label: `process ${fmtInt(processN)}, batched / local-queue mode (jobs/s)`, scenario: "process", variant: "batched", n: processN, notApplicable: noBatch },
    {
      key: "process-batched-lean",
      label: `process ${fmtInt(processN)}, batched, succeeded jobs not kept (jobs/s)`,
      scenario: "process",
      variant: "batched-lean",
      n: processN,
      notApplicable: noBatch,
    },
    {
      key: "process-horizon",
      label: `process ${fmtInt(processN)}, 10 workers, while another transaction stays open (jobs/s)`,
      scenario: "process",
      variant: "default",
      n: processN,
      holdHorizon: true,
      notApplicable: { bullmqredis: "Redis: no PostgreSQL transaction" },
    },
    {
      // The cause of the row above, in lease mode: a long job of ours that holds no transaction.
      key: "process-lease",
      label: `process ${fmtInt(processN)}, 10 workers, beside one 60 s job (ours in lease mode) (jobs/s)`,
      scenario: "process",
      variant: "default",
      n: processN,
      longJobMs: 60_000,
      notApplicable: { bullmqredis: "Redis: no PostgreSQL transaction" },
    },
    { key: "latency", label: `wake-up latency, ${latencyN} jobs 20 ms apart`, scenario: "latency", variant: "default", n: latencyN, gapMs: 20 },
  ];
}

// ---------------------------------------------------------------------------
// Child processes

let currentChild: ChildProcess | undefined;
/** Set on SIGINT/SIGTERM: no new child starts. */
let interrupted = false;

interface ChildOutcome<T> {
  result?: T;
  error?: string;
  stderr: string;
}

function runChild<T>(step: unknown, timeoutMs: number, nodeArgs: string[] = [], script = "child.ts"): Promise<ChildOutcome<T>> {
  if (interrupted) return Promise.reject(new Error("interrupted"));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", join(benchDir, script), JSON.stringify(step)], {
      cwd: benchDir,
      env: { ...process.env, NO_LOG_SUCCESS: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    currentChild = child;
    let stdout = "";
    let stderr = "";
    let resultLine: T | undefined;
    let parseError: string | undefined;
    child.stdout!.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      // Progress lines of long steps (scale mode) go through at once.
      let nl: number;
      while ((nl = stdout.indexOf("\n")) >= 0) {
        const line = stdout.slice(0, nl);
        stdout = stdout.slice(nl + 1);
        if (line.startsWith("BENCH_RESULT ")) {
          try {
            resultLine = JSON.parse(line.slice("BENCH_RESULT ".length)) as T;
          } catch {
            parseError = `unreadable result line: ${line.slice(0, 200)}`;
          }
        } else if (line.startsWith("BENCH_PROGRESS ")) console.log(`    ${line.slice("BENCH_PROGRESS ".length)}`);
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.length > 20_000) stderr = stderr.slice(-20_000);
    });
    const timer = setTimeout(() => {
      parseError = `timed out after ${Math.round(timeoutMs / 1000)} s`;
      if (child.pid) process.kill(child.pid, "SIGKILL");
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      currentChild = undefined;
      if (resultLine !== undefined) resolve({ result: resultLine, stderr });
      else resolve({ error: parseError ?? `child exited with ${code} and no result`, stderr });
    });
  });
}

// ---------------------------------------------------------------------------
// Environment

function ensurePrismaClient(): void {
  const client = join(repoRoot, "test", "generated", "prisma", "client.ts");
  if (existsSync(client)) return;
  console.log("generating the test app's Prisma client (test/generated/prisma) …");
  execFileSync("npx", ["--no", "--", "prisma", "generate"], {
    cwd: repoRoot,
    stdio: ["ignore", "ignore", "inherit"],
    env: {
      ...process.env,
      PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY || process.execPath,
      PRISMA_HIDE_UPDATE_MESSAGE: "1",
      CHECKPOINT_DISABLE: "1",
    },
  });
}

function redisAnswers(): Promise<boolean> {
  const url = new URL(redisUrl());
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port || 6379) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.on("error", () => done(false));
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (data) => done(data.toString().startsWith("+PONG")));
  });
}

export interface Machine {
  date: string;
  host: string;
  nproc: number;
  cpu: string;
  memoryGiB: number;
  node: string;
  postgres: string;
  postgresSource: string;
  postgresSettings: Record<string, string>;
  redis?: string;
  loadStart: number[];
  loadEnd?: number[];
  commit?: string;
}

function machineInfo(server: Server): Machine {
  let commit: string | undefined;
  try {
    const sha = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: repoRoot, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src", "migrations"], { cwd: repoRoot, encoding: "utf8" }).trim();
    commit = `${sha}${dirty ? " + uncommitted changes in src/ or migrations/" : ""}`;
  } catch {
    // not a git checkout
  }
  return {
    date: new Date().toISOString(),
    host: os.hostname(),
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    postgres: server.version,
    postgresSource: `${server.source} (${redact(server.adminUrl)})`,
    postgresSettings: server.settings,
    loadStart: os.loadavg().map((v) => Math.round(v * 100) / 100),
    ...(commit ? { commit } : {}),
  };
}

// ---------------------------------------------------------------------------
// Formatting

function fmtInt(v: number): string {
  return Math.round(v).toLocaleString("en-US");
}

function fmtValue(v: number | undefined, unit: "jobs/s" | "ms" | "tx/s"): string {
  if (v === undefined || !Number.isFinite(v)) return "—";
  return unit === "ms" ? v.toFixed(2) : fmtInt(v);
}

function fmtRatio(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? "—" : `${v.toFixed(2)}×`;
}

function mdTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

// ---------------------------------------------------------------------------
// The default run

interface Row {
  key: string;
  label: string;
  unit: "jobs/s" | "ms";
  lowerIsBetter: boolean;
  cells: Partial<Record<SystemId, { value?: number; runs: number[]; note?: string }>>;
  ratios: Partial<Record<SystemId, number>>;
}

interface Recorded extends Measurement {
  key: string;
  run: number;
  load1: number;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const startedAt = Date.now();
  ensurePrismaClient();
  const log = (line: string) => console.log(line);
  const server = await resolveServer(log);
  const dbs = new Databases(server.adminUrl);
  await dbs.reapOrphans(log);
  // A closed output pipe (`npm run bench | head`) must not end the run before it cleans up.
  for (const stream of [process.stdout, process.stderr]) stream.on("error", () => undefined);

  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      if (currentChild?.pid) {
        try {
          process.kill(currentChild.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      await dbs.dropAll();
      await server.stop();
    })());
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      interrupted = true;
      console.error(`\n${signal}: dropping the benchmark's databases …`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  const machine = machineInfo(server);
  console.log(`arrower-jobs benchmark — ${args.mode}${args.quick ? " --quick" : ""}${args.mode === "default" ? `, ${args.runs} run(s)` : ""}`);
  console.log(`PostgreSQL: ${machine.postgres.split(" on ")[0]} via ${machine.postgresSource}`);
  console.log(`machine: ${machine.nproc} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, load average ${machine.loadStart.join(" ")}`);
  if (machine.loadStart[0]! > machine.nproc * 0.5) {
    console.log(`note: the machine is busy (load ${machine.loadStart[0]} on ${machine.nproc} cores): expect noisy figures`);
  }

  try {
    if (args.mode === "scale") {
      const { runScale } = await import("./scale-run.ts");
      await runScale({ args, server, dbs, machine, runChild, benchDir });
      return;
    }
    await runDefault(args, server, dbs, machine);
  } finally {
    await cleanup();
    console.log(`\ntotal time ${Math.round((Date.now() - startedAt) / 1000)} s`);
  }
}

async function runDefault(args: Args, server: Server, dbs: Databases, machine: Machine): Promise<void> {
  let systems = args.systems;
  const skipped: Partial<Record<SystemId, string>> = {};
  if (systems.includes("bullmqredis") && !(await redisAnswers())) {
    skipped.bullmqredis = `no Redis answers at ${redisUrl()}`;
    systems = systems.filter((s) => s !== "bullmqredis");
    console.log(`bullmq (redis): skipped, ${skipped.bullmqredis}`);
  } else if (systems.includes("bullmqredis")) machine.redis = redisUrl();

  // By key: `process` is the plain 10-worker row only (it used to select every processing row).
  const defs = scenarios(args.quick).filter((d) => !args.scenarios || args.scenarios.includes(d.key));
  if (defs.length === 0) systems = [];

  // One migrated template per PostgreSQL system.
  const versions: Partial<Record<SystemId, string>> = {};
  const templates: Partial<Record<SystemId, string>> = {};
  for (const system of systems) {
    const db = PG_SYSTEMS.includes(system) ? await dbs.createTemplate(system) : undefined;
    const outcome = await runChild<{ version: string; error?: string }>({ op: "migrate", system, url: db?.url ?? "" }, 180_000);
    const error = outcome.error ?? outcome.result?.error;
    if (outcome.result) versions[system] = outcome.result.version;
    if (error) {
      skipped[system] = `migration failed: ${error.split("\n")[0]}`;
      console.log(`${SYSTEM_LABELS[system]}: ${skipped[system]}\n${outcome.stderr.slice(-2000)}`);
      continue;
    }
    if (db) templates[system] = db.name;
    console.log(`${SYSTEM_LABELS[system]} ${versions[system]}: ready`);
  }
  systems = systems.filter((s) => !skipped[s]);
  const recorded: Recorded[] = [];
  const unsupported = new Map<string, string>(); // `${key}/${system}` → reason
  const settings = new Map<string, string>();

  for (let run = 0; run < args.runs; run++) {
    const order = run % 2 === 0 ? systems : [...systems].reverse();
    console.log(`\nrun ${run + 1}/${args.runs}: ${order.map((s) => SYSTEM_LABELS[s]).join(" → ")}`);
    // The rows alternate too: a row's figure ÷ another's (the notes' "÷ plain processing") must
    // not carry the machine's drift between the first and the last row of a run.
    for (const def of run % 2 === 0 ? defs : [...defs].reverse()) {
      for (const system of order) {
        const cellKey = `${def.key}/${system}`;
        if (def.notApplicable?.[system] || unsupported.has(cellKey)) continue;
        const template = templates[system];
        const db = PG_SYSTEMS.includes(system) ? await dbs.createCopy(system, template) : undefined;
        const task: Task = {
          system,
          scenario: def.scenario,
          variant: def.variant,
          url: db?.url ?? "",
          prefix: `bench_${process.pid}_${run}_${def.key}`,
          n: def.n,
          ...(def.batch ? { batch: def.batch } : {}),
          ...(def.gapMs ? { gapMs: def.gapMs } : {}),
          ...(def.holdHorizon ? { holdHorizon: true } : {}),
          ...(def.longJobMs ? { longJobMs: def.longJobMs } : {}),
        };
        const load1 = Math.round(os.loadavg()[0]! * 100) / 100;
        const outcome = await runChild<Measurement>({ op: "measure", task }, 600_000);
        if (db) await dbs.drop(db.name);
        const m: Measurement = outcome.result ?? { system, scenario: def.scenario, variant: def.variant, n: def.n, error: outcome.error };
        recorded.push({ ...m, key: def.key, run, load1 });
        if (m.settings && !m.unsupported && (def.scenario === "process" || def.scenario === "latency")) {
          settings.set(`${SYSTEM_LABELS[system]}, ${VARIANT_ROWS[def.variant]}`, m.settings);
        }
        const label = `  ${def.key.padEnd(16)} ${SYSTEM_LABELS[system].padEnd(16)}`;
        if (m.unsupported) {
          unsupported.set(cellKey, m.unsupported);
          console.log(`${label} n/a: ${m.unsupported}`);
        } else if (m.error) {
          console.log(`${label} ERROR: ${m.error.split("\n")[0]}\n${indent(outcome.stderr.slice(-1500))}${indent(m.error.split("\n").slice(1, 6).join("\n"))}`);
        } else if (def.scenario === "latency") {
          const d = m.details ?? {};
          console.log(`${label} p50 ${d.p50} ms  p95 ${d.p95} ms  p99 ${d.p99} ms   (load ${load1})`);
        } else {
          const xmin = m.details?.oldestSnapshotXids;
          console.log(`${label} ${fmtInt(m.value ?? NaN)} jobs/s   (load ${load1}${xmin === undefined ? "" : `; oldest snapshot at the end: ${fmtInt(Number(xmin))} transactions old`})`);
        }
      }
    }
  }

  // pgbench: the database's own limit.
  const pgbench: Record<PgbenchVariant, PgbenchResult[]> = { one: [], ten: [] };
  let pgbenchNote: string | undefined;
  if (args.pgbench && (!args.scenarios || args.scenarios.includes("pgbench"))) {
    const binary = await pgbenchPath();
    if (!binary) pgbenchNote = "pgbench is not on PATH: skipped";
    else {
      console.log(`\npgbench (${binary}): claim FOR UPDATE SKIP LOCKED + delete, ${PGBENCH_CLIENTS} clients, ${fmtInt(PGBENCH_ROWS)} rows`);
      for (let run = 0; run < args.runs; run++) {
        for (const variant of ["one", "ten"] as const) {
          const db = await dbs.createCopy("pgbench");
          try {
            const r = await runPgbench(binary, db.url, variant);
            pgbench[variant].push(r);
            console.log(`  ${variant === "one" ? "1 row/tx " : "10 rows/tx"} ${fmtInt(r.tps)} tx/s, ${fmtInt(r.rowsPerSecond)} rows/s`);
          } catch (error) {
            pgbenchNote = `pgbench failed: ${(error as Error).message.split("\n")[0]}`;
            console.log(`  ${pgbenchNote}`);
          } finally {
            await dbs.drop(db.name);
          }
        }
      }
    }
  }

  machine.loadEnd = os.loadavg().map((v) => Math.round(v * 100) / 100);
  const rows = buildRows(defs, systems, recorded, unsupported, skipped);
  const report = renderReport(args, machine, systems, rows, pgbench, pgbenchNote, versions, settings, unsupported, skipped, recorded);
  console.log(`\n${report.console}`);

  const dir = join(benchDir, "results");
  mkdirSync(dir, { recursive: true });
  const base = args.quick ? "latest-quick" : "latest";
  const json = {
    command: `npm run bench --${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(" ")}` : ""}`,
    mode: args.mode,
    quick: args.quick,
    runs: args.runs,
    machine,
    versions,
    settings: Object.fromEntries(settings),
    table: rows.map((r) => ({
      key: r.key,
      label: r.label,
      unit: r.unit,
      lowerIsBetter: r.lowerIsBetter,
      values: Object.fromEntries(Object.entries(r.cells).map(([s, c]) => [s, c?.value ?? c?.note ?? null])),
      runs: Object.fromEntries(Object.entries(r.cells).map(([s, c]) => [s, c?.runs ?? []])),
      ratiosOursOver: r.ratios,
    })),
    pgbench: {
      clients: PGBENCH_CLIENTS,
      rows: PGBENCH_ROWS,
      oneRowPerTx: pgbench.one,
      tenRowsPerTx: pgbench.ten,
      ...(pgbenchNote ? { note: pgbenchNote } : {}),
    },
    measurements: recorded,
  };
  writeFileSync(join(dir, `${base}.json`), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(join(dir, `${base}.md`), report.markdown);
  console.log(`\nwritten: bench/results/${base}.json, bench/results/${base}.md`);
}

function indent(text: string): string {
  const t = text.trim();
  return t ? `${t.split("\n").map((l) => `      ${l}`).join("\n")}\n` : "";
}

function buildRows(
  defs: ScenarioDef[],
  systems: SystemId[],
  recorded: Recorded[],
  unsupported: Map<string, string>,
  skipped: Partial<Record<SystemId, string>>,
): Row[] {
  const rows: Row[] = [];
  for (const def of defs) {
    const metrics: Array<{ suffix: string; label: string; pick: (m: Measurement) => number | undefined }> =
      def.scenario === "latency"
        ? (["p50", "p95", "p99"] as const).map((p) => ({
            suffix: `-${p}`,
            label: `${def.label}: ${p} (ms, lower is better)`,
            pick: (m: Measurement) => num(m.details?.[p]),
          }))
        : [{ suffix: "", label: def.label, pick: (m: Measurement) => m.value }];
    for (const metric of metrics) {
      const row: Row = {
        key: def.key + metric.suffix,
        label: metric.label,
        unit: def.scenario === "latency" ? "ms" : "jobs/s",
        lowerIsBetter: def.scenario === "latency",
        cells: {},
        ratios: {},
      };
      for (const system of [...SYSTEMS]) {
        if (skipped[system]) {
          row.cells[system] = { runs: [], note: "skipped" };
          continue;
        }
        if (!systems.includes(system)) continue;
        const na = def.notApplicable?.[system] ?? unsupported.get(`${def.key}/${system}`);
        if (na) {
          row.cells[system] = { runs: [], note: "n/a" };
          continue;
        }
        const ok = recorded.filter((m) => m.key === def.key && m.system === system && !m.error && !m.unsupported);
        const values = ok.map(metric.pick).filter((v): v is number => v !== undefined && Number.isFinite(v));
        const failed = recorded.some((m) => m.key === def.key && m.system === system && m.error);
        row.cells[system] = values.length
          ? { value: median(values), runs: values, ...(failed ? { note: "some runs failed" } : {}) }
          : { runs: [], note: failed ? "error" : "—" };
      }
      // Ratios: median over runs of ours ÷ peer within the same run.
      for (const peer of systems) {
        if (peer === OURS) continue;
        const perRun: number[] = [];
        for (const run of new Set(recorded.map((m) => m.run))) {
          const pick = (s: SystemId) => {
            const m = recorded.find((x) => x.key === def.key && x.system === s && x.run === run && !x.error && !x.unsupported);
            return m ? metric.pick(m) : undefined;
          };
          const ours = pick(OURS);
          const theirs = pick(peer);
          if (ours !== undefined && theirs !== undefined && theirs !== 0) perRun.push(ours / theirs);
        }
        if (perRun.length) row.ratios[peer] = median(perRun);
      }
      rows.push(row);
    }
  }
  return rows;
}

/** A system's figure for scenario `key` ÷ its plain `process` figure of the same run, median over the runs. */
function ratioToPlain(recorded: Recorded[], key: string, system: SystemId): number | undefined {
  const perRun: number[] = [];
  for (const run of new Set(recorded.map((m) => m.run))) {
    const value = (k: string) => recorded.find((m) => m.key === k && m.system === system && m.run === run && !m.error && !m.unsupported)?.value;
    const beside = value(key);
    const plain = value("process");
    if (beside !== undefined && plain !== undefined && plain > 0) perRun.push(beside / plain);
  }
  return perRun.length ? median(perRun) : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === "number" ? v : undefined;
}

function renderReport(
  args: Args,
  machine: Machine,
  systems: SystemId[],
  rows: Row[],
  pgbench: Record<PgbenchVariant, PgbenchResult[]>,
  pgbenchNote: string | undefined,
  versions: Partial<Record<SystemId, string>>,
  settings: Map<string, string>,
  unsupported: Map<string, string>,
  skipped: Partial<Record<SystemId, string>>,
  recorded: Recorded[],
): { console: string; markdown: string } {
  const shown = SYSTEMS.filter((s) => systems.includes(s) || skipped[s]);
  const peers = shown.filter((s) => s !== OURS && systems.includes(s));
  const header = ["scenario", ...shown.map((s) => SYSTEM_LABELS[s]), ...(systems.includes(OURS) ? peers.map((p) => `ours ÷ ${SYSTEM_LABELS[p]}`) : [])];
  const body = rows.map((r) => [
    r.label,
    ...shown.map((s) => {
      const c = r.cells[s];
      if (!c) return "—";
      return c.value !== undefined ? fmtValue(c.value, r.unit) + (c.note ? ` (${c.note})` : "") : (c.note ?? "—");
    }),
    ...(systems.includes(OURS) ? peers.map((p) => fmtRatio(r.ratios[p])) : []),
  ]);
  const table = mdTable(header, body);

  const pgRows: string[][] = [];
  for (const variant of ["one", "ten"] as const) {
    const rs = pgbench[variant];
    if (!rs.length) continue;
    pgRows.push([
      variant === "one" ? "claim 1 row FOR UPDATE SKIP LOCKED + delete, per transaction" : "claim 10 rows FOR UPDATE SKIP LOCKED + delete, per transaction",
      fmtInt(median(rs.map((r) => r.tps))),
      fmtInt(median(rs.map((r) => r.rowsPerSecond))),
    ]);
  }
  const pgTable = pgRows.length
    ? mdTable([`pgbench, ${PGBENCH_CLIENTS} clients, ${fmtInt(PGBENCH_ROWS)}-row table (median of ${args.runs})`, "tx/s", "rows/s"], pgRows)
    : (pgbenchNote ?? "pgbench: not run");

  const processRow = rows.find((r) => r.key === "process");
  const oursProcess = processRow?.cells[OURS]?.value;
  const pgOne = pgbench.one.length ? median(pgbench.one.map((r) => r.rowsPerSecond)) : undefined;
  const pgTen = pgbench.ten.length ? median(pgbench.ten.map((r) => r.rowsPerSecond)) : undefined;

  const notes: string[] = [];
  notes.push(`Cells: median of ${args.runs} run(s), systems and rows in alternating order; ratios: median of the per-run ratios ours ÷ peer (throughput: above 1 is better for us; latency: below 1 is better for us).`);
  notes.push("Processing: from the first handler call until the store holds no pending job; every job is a no-op; the cost of counting crashed attempts is included in arrower-jobs' figures.");
  notes.push("Latency: handler start minus the moment `enqueue` resolved (negative when the worker started the job before the producer saw its enqueue return).");
  if (oursProcess !== undefined && pgOne) notes.push(`arrower-jobs processes at ${((oursProcess / pgOne) * 100).toFixed(0)} % of pgbench's 1-row claim+delete rate${pgTen ? ` (${((oursProcess / pgTen) * 100).toFixed(0)} % of its 10-row rate)` : ""}.`);
  for (const [key, label] of [
    ["process-lease", "beside one long job (ours in lease mode)"],
    ["process-horizon", "while another transaction stays open"],
  ] as const) {
    const ratios = shown
      .map((s) => [s, ratioToPlain(recorded, key, s)] as const)
      .filter((entry): entry is readonly [SystemId, number] => entry[1] !== undefined);
    if (ratios.length === 0) continue;
    const target = key === "process-lease" ? " (target for arrower-jobs: ≥ 0.90×)" : "";
    notes.push(`Processing ${label} ÷ plain processing (10 workers, per-run ratio, median): ${ratios.map(([s, r]) => `${SYSTEM_LABELS[s]} ${fmtRatio(r)}`).join(", ")}${target}.`);
  }
  for (const [key, reason] of unsupported) notes.push(`${key}: n/a — ${reason}`);
  for (const [system, reason] of Object.entries(skipped)) notes.push(`${SYSTEM_LABELS[system as SystemId]}: skipped — ${reason}`);
  const errors = recorded.filter((m) => m.error);
  for (const m of errors) notes.push(`error in run ${m.run + 1}, ${m.key}, ${SYSTEM_LABELS[m.system]}: ${m.error!.split("\n")[0]}`);

  const settingLines = [...settings].map(([key, s]) => `- ${key}: ${s}`).sort();
  const versionLine = Object.entries(versions).map(([s, v]) => `${SYSTEM_LABELS[s as SystemId]} ${v}`).join(", ");
  const loads = recorded.map((m) => m.load1);
  const machineLines = [
    `- date: ${machine.date}`,
    `- machine: ${machine.nproc} cores (${machine.cpu}), ${machine.memoryGiB} GiB memory`,
    `- load average (1/5/15 min): ${machine.loadStart.join(" / ")} at start, ${machine.loadEnd?.join(" / ") ?? "?"} at end; 1-min load during measurements ${loads.length ? `${Math.min(...loads)}–${Math.max(...loads)}` : "?"}`,
    `- Node ${machine.node}; PostgreSQL: ${machine.postgres}`,
    `- PostgreSQL settings: ${Object.entries(machine.postgresSettings).map(([k, v]) => `${k}=${v}`).join(", ")}`,
    `- server: ${machine.postgresSource}${machine.redis ? `; Redis ${machine.redis}` : ""}`,
    `- versions: ${versionLine}`,
    ...(machine.commit ? [`- arrower-jobs commit: ${machine.commit}`] : []),
  ];
  const command = `npm run bench${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;

  const consoleText = [table, "", pgTable, "", ...notes.map((n) => `* ${n}`), "", ...machineLines].join("\n");
  const markdown = [
    `# arrower-jobs benchmark${args.quick ? " (--quick: smoke-test sizes, figures are not comparable)" : ""}`,
    "",
    `Command: \`${command}\` (from the repository root)`,
    "",
    table,
    "",
    pgTable,
    "",
    "## Notes",
    "",
    ...notes.map((n) => `- ${n}`),
    "",
    "## Settings",
    "",
    ...settingLines,
    "",
    "## Machine",
    "",
    ...machineLines,
    "",
  ].join("\n");
  return { console: consoleText, markdown };
}

await main();
