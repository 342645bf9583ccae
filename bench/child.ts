/**
 * Runs ONE step in a process of its own, so that one system's timers, pools and garbage never
 * weigh on the next, and prints the outcome as one `BENCH_RESULT {json}` line:
 *
 *   node --import tsx bench/child.ts '{"op":"migrate","system":"graphile","url":"postgresql://…"}'
 *   node --import tsx bench/child.ts '{"op":"measure","task":{…}}'      (see scenarios.ts)
 */
import { runTask, type Task } from "./scenarios.ts";
import { loadSystem } from "./systems/index.ts";
import type { SystemId } from "./systems/types.ts";

type Step = { op: "migrate"; system: SystemId; url: string } | { op: "measure"; task: Task };

const step = JSON.parse(process.argv[2] ?? "{}") as Step;
let result: unknown;
if (step.op === "migrate") {
  const system = await loadSystem(step.system);
  try {
    await system.migrate(step.url);
    result = { version: system.version() };
  } catch (error) {
    result = { version: system.version(), error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
  }
} else {
  result = await runTask(step.task);
}
process.stdout.write(`BENCH_RESULT ${JSON.stringify(result)}\n`);
// Some libraries keep timers alive after close(): the step is over, leave.
process.exit(0);
