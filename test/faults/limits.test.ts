/**
 * A concurrency limit under worker kills: 3 worker processes run jobs of a type limited to 2 at
 * once; one worker is SIGKILLed while it runs one (holding a slot), 8 times. Expected: the
 * dead worker's slot is free at once (its transaction, which held the advisory lock, ended with
 * its connection), no more than 2 committed runs ever overlap, nothing lost, nothing twice.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestApp } from "../helpers/app.ts";
import { Limited } from "./fixtures/jobs.ts";
import { createFaultApp, dbNow, effectCounts, killWorker, maxRecovery, sleep, startWorker, stopWorker, waitUntil, type WorkerProcess } from "./support/harness.ts";
import { recordResult } from "./support/results.ts";

const JOBS = 400;
const KILLS = 8;

describe("a concurrency limit under worker kills", () => {
  let app: TestApp;
  const workers: WorkerProcess[] = [];
  beforeAll(async () => {
    app = await createFaultApp();
  });
  afterAll(async () => {
    await Promise.all(workers.map(killWorker));
    await app?.close();
  });

  it(`3 processes, ${JOBS} jobs limited to 2 at once, a holder SIGKILLed ${KILLS} times: its slot frees at once, the limit holds`, async (context) => {
    const ids = await app.prisma.$jobs.enqueue(Array.from({ length: JOBS }, () => Limited({ ms: 150 })));
    const start = () => startWorker(app.url, { poolSize: 3, limited: true }).then((worker) => (workers.push(worker), worker));
    const live = await Promise.all([start(), start(), start()]);
    const kills: number[] = [];
    for (let kill = 0; kill < KILLS; kill++) {
      // A victim running a limited job now (it printed its start, and its effect is not in):
      // it holds one of the 2 slots.
      let victim: WorkerProcess | undefined;
      await waitUntil(async () => {
        for (const worker of live) {
          const started = worker.output.filter((line) => line.startsWith("limited-start ")).map((line) => line.split(" ")[1]!);
          const last = started.at(-1);
          if (last === undefined) continue;
          if ((await app.count("job_history", "id = $1", [last])) === 0) {
            victim = worker;
            return true;
          }
        }
        return false;
      }, 30_000, "a worker holding a slot");
      await killWorker(victim!);
      kills.push(await dbNow(app));
      live.splice(live.indexOf(victim!), 1, await start());
      await sleep(100);
    }
    await waitUntil(async () => (await app.count("job_history")) === JOBS, 180_000, "every job to finish");
    const codes = await Promise.all(live.map(stopWorker));

    const effects = await effectCounts(app, ids);
    const runs = await app.rows<{ started_at: Date; at: Date }>(`SELECT started_at, at FROM fault_effect`);
    const events = runs.flatMap((r) => [
      { at: r.started_at.getTime(), delta: 1 },
      { at: r.at.getTime(), delta: -1 },
    ]);
    events.sort((a, b) => a.at - b.at || a.delta - b.delta);
    let running = 0;
    let most = 0;
    for (const event of events) most = Math.max(most, (running += event.delta));
    const crashed = await app.count("attempts", "outcome = 'crashed'");
    recordResult(context, {
      order: 16,
      scenario: "Concurrency limit (2) under worker kills",
      jobs: JOBS,
      lost: effects.lost,
      duplicated: effects.duplicated,
      maxRecoveryMs: await maxRecovery(app, kills),
      notes: `3 processes × poolSize 3, a type with concurrency 2; ${kills.length} SIGKILLs of a process while a slot was held; at most ${most} committed runs at once; ${crashed} crashed attempts recorded; recovery: kill → the next job of the type committed`,
    });
    expect(effects).toEqual({ lost: 0, duplicated: 0, strays: 0 });
    expect(most).toBe(2);
    expect(await app.rows(`SELECT state, count(*)::int AS n FROM arrower.job_history GROUP BY state`)).toEqual([{ state: "succeeded", n: JOBS }]);
    expect(codes).toEqual(codes.map(() => 0));
  }, 400_000);
});
