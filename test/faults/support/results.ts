/**
 * Scenario results: each test records one, the global teardown prints them as one table.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { inject, type TestContext } from "vitest";

export interface ScenarioResult {
  /** Position in the table. */
  order: number;
  scenario: string;
  /** Jobs that had to run (or, for the bad-input scenario, bad calls made). */
  jobs: number;
  /** Jobs that should have run and did not (committed effect missing). */
  lost: number;
  /** Side effects committed more than once. */
  duplicated: number;
  /** The longest time from a fault to the interrupted work being committed again, ms (null: not applicable). */
  maxRecoveryMs: number | null;
  /** What was injected and what else was checked. */
  notes: string;
  /** Whether every check of the scenario passed (set when the test finishes). */
  passed?: boolean;
  /** The test's own duration, ms. */
  durationMs?: number;
}

/**
 * Records `result` for the final table once the test finishes, with whether it passed.
 * Call it as soon as the numbers are measured, before asserting on them.
 */
export function recordResult(context: TestContext, result: ScenarioResult): void {
  const started = Date.now();
  context.onTestFinished(({ task }) => {
    const done: ScenarioResult = { ...result, passed: task.result?.state === "pass", durationMs: task.result?.duration ?? Date.now() - started };
    const file = join(inject("faultResultsDir"), `${String(result.order).padStart(2, "0")}-${slug(result.scenario)}.json`);
    writeFileSync(file, JSON.stringify(done));
  });
}

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
}

function ms(value: number | null): string {
  if (value === null) return "—";
  return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(1)} s`;
}

/** The table, as Markdown (printed at the end of the run and kept in test/faults/results.md). */
export function formatResults(results: ScenarioResult[], totalMs: number): string {
  const rows = [...results].sort((a, b) => a.order - b.order || a.scenario.localeCompare(b.scenario));
  const lines = [
    "# Fault-injection results",
    "",
    `\`npm run test:faults\` — ${new Date().toISOString().slice(0, 10)}, ${rows.length} scenarios, ${ms(totalMs)} in all (Node ${process.version}, ${(process.env.CI ? "CI" : "local")}).`,
    "",
    "| scenario | jobs | lost | duplicated effects | max recovery time | result | notes |",
    "| --- | ---: | ---: | ---: | ---: | --- | --- |",
    ...rows.map(
      (r) =>
        `| ${r.scenario} | ${r.jobs.toLocaleString("en-US")} | ${r.lost} | ${r.duplicated} | ${ms(r.maxRecoveryMs)} | ${r.passed ? "pass" : "FAIL"} | ${r.notes.replaceAll("|", "\\|")} |`,
    ),
    "",
    "Lost: a job that should have run (its enqueue committed) without a committed side effect.",
    "Duplicated: side-effect rows beyond one per job (the effect table has no unique key, so a",
    "second commit would show). Max recovery time: the longest time from a fault to the",
    "interrupted work being committed again (per scenario in its notes).",
    "",
  ];
  return lines.join("\n");
}
