/**
 * `npm run bench -- scale`: arrower-jobs at scale (targets of issue 8).
 *
 * - claim throughput with 10,000 queued (baseline) and with 1,000,000 queued and 5,000,000 rows
 *   in history, over the first 10,000 jobs; target: scale ≥ 0.8 × baseline. The baseline runs
 *   before and after the scale run and counts as their mean: on a shared machine one 3-second
 *   window against another drifted by ±10 % with the machine's load;
 * - worker memory (heap used after a forced GC, and RSS) after 1,000, 100,000 and 1,000,000
 *   processed jobs; target: the 1,000,000 figure within 10 % of the 100,000 one.
 * With --quick every size is divided by 100 (a smoke test of the code path, minutes not hours). Results: bench/results/scale-latest{,-quick}.{json,md}.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import type { Databases, Server } from "./lib/server.ts";
import type { ScaleResult, ScaleTask } from "./scale.ts";

interface Context {
  args: { quick: boolean; memory: boolean };
  server: Server;
  dbs: Databases;
  machine: { loadStart: number[]; loadEnd?: number[] };
  runChild: <T>(step: unknown, timeoutMs: number, nodeArgs?: string[], script?: string) => Promise<{ result?: T; error?: string; stderr: string }>;
  benchDir: string;
}

const fmt = (v: number | undefined) => (v === undefined ? "—" : Math.round(v).toLocaleString("en-US"));

export async function runScale(ctx: Context): Promise<void> {
  const div = ctx.args.quick ? 100 : 1;
  const baselineQueued = 10_000 / (ctx.args.quick ? 10 : 1);
  const sample = baselineQueued;
  const queued = 1_000_000 / div;
  const history = 5_000_000 / div;
  // --no-memory: the claim figures only (minutes instead of an hour on 2 cores).
  const memoryAt = ctx.args.memory ? [100_000 / div, 1_000_000 / div] : [];

  const template = await ctx.dbs.createTemplate("arrower");
  const migrated = await ctx.runChild<{ version: string; error?: string }>({ op: "migrate", system: "arrower", url: template.url }, 120_000);
  const migrateError = migrated.error ?? migrated.result?.error;
  if (migrateError) throw new Error(`arrower-jobs migration failed: ${migrateError}\n${migrated.stderr}`);

  const runOne = async (label: string, task: Omit<ScaleTask, "url">): Promise<ScaleResult> => {
    console.log(`\n${label}: ${fmt(task.queued)} queued, ${fmt(task.history)} in history`);
    const db = await ctx.dbs.createCopy("arrower", template.name);
    try {
      const outcome = await ctx.runChild<ScaleResult>({ ...task, url: db.url }, 90 * 60_000, ["--expose-gc"], "scale.ts");
      const result = outcome.result ?? { queued: task.queued, history: task.history, memory: [], error: outcome.error };
      if (result.error) console.log(`  ERROR: ${result.error.split("\n")[0]}\n${outcome.stderr.slice(-1500)}`);
      else console.log(`  claim ${fmt(result.claimJobsPerSecond)} jobs/s; memory ${result.memory.map((m) => `${fmt(m.jobs)}: heap ${m.heapUsedMiB} MiB, RSS ${m.rssMiB} MiB`).join("; ")}`);
      return result;
    } finally {
      await ctx.dbs.drop(db.name);
    }
  };

  const baseline = await runOne("baseline", { queued: baselineQueued, history: 0, sample, memoryAt: [] });
  const scale = await runOne("scale", { queued, history, sample, memoryAt });
  const baselineAfter = await runOne("baseline again", { queued: baselineQueued, history: 0, sample, memoryAt: [] });
  ctx.machine.loadEnd = os.loadavg().map((v) => Math.round(v * 100) / 100);

  const baselines = [baseline.claimJobsPerSecond, baselineAfter.claimJobsPerSecond].filter((v): v is number => v !== undefined);
  const baselineClaim = baselines.length ? baselines.reduce((a, b) => a + b, 0) / baselines.length : undefined;
  const claimRatio = baselineClaim && scale.claimJobsPerSecond ? scale.claimJobsPerSecond / baselineClaim : undefined;
  const m100 = scale.memory.find((m) => m.jobs === memoryAt[0]);
  const m1m = scale.memory.find((m) => m.jobs === memoryAt[1]);
  const growth = (a?: number, b?: number) => (a && b ? `${(((b - a) / a) * 100).toFixed(1)} %` : "—");
  const rows = [
    `| claim throughput, ${fmt(baselineQueued)} queued (jobs/s, first ${fmt(sample)} jobs; mean of a run before and one after the scale run) | ${fmt(baselineClaim)} | ${fmt(baseline.claimJobsPerSecond)} before, ${fmt(baselineAfter.claimJobsPerSecond)} after |`,
    `| claim throughput, ${fmt(queued)} queued + ${fmt(history)} in history (jobs/s) | ${fmt(scale.claimJobsPerSecond)} | ratio ${claimRatio?.toFixed(2) ?? "—"} (target ≥ 0.80) |`,
    `| enqueue ${fmt(queued)} in batches of 10,000 (jobs/s) | ${fmt(scale.enqueueJobsPerSecond)} | |`,
    ...scale.memory.map((m) => `| worker memory after ${fmt(m.jobs)} jobs: heap after GC / RSS (MiB) | ${m.heapUsedMiB} / ${m.rssMiB} | |`),
    ...(scale.manualVacuums !== undefined ? [`| VACUUMs of the jobs table by the run itself (the server runs with autovacuum off) | ${fmt(scale.manualVacuums)} | every 10 s |`] : []),
    `| memory growth ${fmt(memoryAt[0])} → ${fmt(memoryAt[1])} jobs: heap / RSS | ${growth(m100?.heapUsedMiB, m1m?.heapUsedMiB)} / ${growth(m100?.rssMiB, m1m?.rssMiB)} | target within 10 % |`,
  ];
  const table = ["| scale scenario (arrower-jobs, pool of 10) | figure | |", "| --- | --- | --- |", ...rows].join("\n");
  console.log(`\n${table}`);
  console.log(`\nload average ${ctx.machine.loadStart.join(" / ")} at start, ${ctx.machine.loadEnd.join(" / ")} at end`);

  const dir = join(ctx.benchDir, "results");
  mkdirSync(dir, { recursive: true });
  const base = ctx.args.quick ? "scale-latest-quick" : "scale-latest";
  writeFileSync(join(dir, `${base}.json`), `${JSON.stringify({ mode: "scale", quick: ctx.args.quick, machine: ctx.machine, baseline, baselineAfter, scale, claimRatio }, null, 2)}\n`);
  const errors = [baseline, scale, baselineAfter].filter((r) => r.error).map((r) => `- error: ${r.error!.split("\n")[0]}`);
  writeFileSync(
    join(dir, `${base}.md`),
    [`# arrower-jobs at scale${ctx.args.quick ? " (--quick: sizes ÷ 100)" : ""}`, "", `Command: \`npm run bench -- scale${ctx.args.quick ? " --quick" : ""}${ctx.args.memory ? "" : " --no-memory"}\``, "", table, "", ...errors, "", "Machine:", "", "```json", JSON.stringify(ctx.machine, null, 2), "```", ""].join("\n"),
  );
  console.log(`\nwritten: bench/results/${base}.json, bench/results/${base}.md`);
}
