import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { defineJob } from "../../src/index.ts";
import { createTestApp, waitFor, type TestApp } from "../helpers/app.ts";
import { startProcess, stopProcess, type WorkerProcess } from "../helpers/processes.ts";

const Effect = defineJob<{ n: number }>("effect");
const Slow = defineJob<{ ms: number }>("slow");
const Suicide = defineJob<{ n: number }>("suicide");
const fixture = fileURLToPath(new URL("./fixtures/worker-process.ts", import.meta.url));

type Worker = WorkerProcess;

function startWorker(url: string, poolSize: number, batchSize = 1): Promise<Worker> {
  return startProcess(fixture, [url, String(poolSize), String(batchSize)]);
}

const stop = stopProcess;

describe("several worker processes", () => {
  let app: TestApp;
  const workers: Worker[] = [];
  beforeAll(async () => {
    app = await createTestApp();
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map(stop));
  });
  afterAll(() => app.close());

  it("4 processes, 5,000 jobs writing a row keyed by job id: every job done exactly once, all succeeded", async () => {
    workers.push(...(await Promise.all([1, 2, 3, 4].map(() => startWorker(app.url, 4)))));
    const ids = await app.prisma.$jobs.enqueue(Array.from({ length: 5_000 }, (_, n) => Effect({ n })));
    await waitFor(async () => (await app.count("job_history")) === 5_000, 120_000, "5,000 jobs in history");
    const codes = await Promise.all(workers.splice(0).map(stop));
    expect(codes).toEqual([0, 0, 0, 0]);
    expect(await app.rows(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM "SideEffect"`)).toEqual([{ n: 5_000, d: 5_000 }]);
    expect(await app.rows(`SELECT state, count(*)::int AS n, max(attempts)::int AS attempts FROM arrower.job_history GROUP BY state`)).toEqual([
      { state: "succeeded", n: 5_000, attempts: 1 },
    ]);
    expect(await app.count("attempts")).toBe(0);
    const effects = await app.rows<{ id: string }>(`SELECT id FROM "SideEffect"`);
    expect(new Set(effects.map((e) => e.id))).toEqual(new Set(ids));
  }, 180_000);

  it("batched mode, 2 processes, one SIGKILLed mid-run and restarted: 3,000 jobs, each effect exactly once, all succeeded", async () => {
    await app.rows(`TRUNCATE "SideEffect", arrower.job_history, arrower.attempts`);
    const steady = await startWorker(app.url, 2, 20);
    let victim = await startWorker(app.url, 2, 20);
    workers.push(steady, victim);
    const ids = await app.prisma.$jobs.enqueue(Array.from({ length: 3_000 }, (_, n) => Effect({ n })));
    await waitFor(async () => (await app.count("job_history")) >= 600, 60_000, "600 jobs done");
    victim.child.kill("SIGKILL");
    await victim.exited;
    victim = await startWorker(app.url, 2, 20);
    workers.push(victim);
    await waitFor(async () => (await app.count("job_history")) === 3_000, 120_000, "3,000 jobs in history");
    expect(await app.rows(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM "SideEffect"`)).toEqual([{ n: 3_000, d: 3_000 }]);
    expect(await app.rows(`SELECT state, count(*)::int AS n FROM arrower.job_history GROUP BY state`)).toEqual([{ state: "succeeded", n: 3_000 }]);
    const effects = await app.rows<{ id: string }>(`SELECT id FROM "SideEffect"`);
    expect(new Set(effects.map((e) => e.id))).toEqual(new Set(ids));
    // The killed batch's started jobs ran again; their lost attempts are on record as crashed.
    const crashed = await app.rows<{ outcome: string }>(`SELECT DISTINCT outcome FROM arrower.attempts`);
    expect(crashed.every((a) => a.outcome === "crashed")).toBe(true);
  }, 240_000);

  it("SIGKILL mid-job: another process completes it later, and history shows the crashed attempt", async () => {
    await app.rows(`TRUNCATE "SideEffect", arrower.job_history, arrower.attempts`);
    const victim = await startWorker(app.url, 1);
    workers.push(victim);
    const id = await app.prisma.$jobs.enqueue(Slow({ ms: 1_500 }));
    await waitFor(() => victim.output.includes(`running ${id}`), 20_000, "the job to start");
    victim.child.kill("SIGKILL");
    await victim.exited;
    workers.push(await startWorker(app.url, 1));
    await waitFor(async () => (await app.count("job_history", "id = $1", [id])) === 1, 30_000, "the job to complete elsewhere");
    const [history] = await app.rows<{ state: string; attempts: number }>(`SELECT state, attempts FROM arrower.job_history WHERE id = $1`, [id]);
    expect(history).toEqual({ state: "succeeded", attempts: 2 });
    const attempts = await app.rows<{ attempt: number; outcome: string; error: string }>(`SELECT attempt, outcome, error FROM arrower.attempts WHERE job_id = $1`, [id]);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ attempt: 1, outcome: "crashed" });
    expect(attempts[0]!.error).toMatch(/worker crashed/);
    expect(await app.rows(`SELECT id FROM "SideEffect"`)).toEqual([{ id }]);
  }, 60_000);

  it("a job that kills its worker every time ends failed after maxAttempts", async () => {
    const id = await app.prisma.$jobs.enqueue(Suicide({ n: 1 }), { maxAttempts: 3 });
    for (let i = 0; i < 4 && (await app.count("job_history", "id = $1", [id])) === 0; i++) {
      const worker = await startWorker(app.url, 1);
      workers.push(worker);
      await Promise.race([worker.exited, waitFor(async () => (await app.count("job_history", "id = $1", [id])) === 1, 20_000).catch(() => undefined)]);
    }
    const [history] = await app.rows<{ state: string; attempts: number; last_error: string }>(
      `SELECT state, attempts, last_error FROM arrower.job_history WHERE id = $1`,
      [id],
    );
    expect(history).toMatchObject({ state: "failed", attempts: 3 });
    expect(history!.last_error).toMatch(/worker crashed/);
    expect(await app.rows(`SELECT attempt, outcome FROM arrower.attempts WHERE job_id = $1 ORDER BY attempt`, [id])).toEqual([
      { attempt: 1, outcome: "crashed" },
      { attempt: 2, outcome: "crashed" },
      { attempt: 3, outcome: "crashed" },
    ]);
  }, 120_000);
});
