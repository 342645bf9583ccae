/**
 * JSON for the page script: counts for the auto-refresh, and a job's state for the job page.
 */
import type { Hono } from "hono";
import type { UiDeps, UiEnv } from "../app.ts";
import { readJobState, readOverview } from "../data.ts";

/** What `/api/stats` answers. */
export interface StatsResponse {
  at: string;
  queues: Array<{
    queue: string;
    due: number;
    scheduled: number;
    running: number;
    retrying: number;
    failed: number;
    succeededLastHour: number;
    failedLastHour: number;
    noHandler: number;
    pools: number;
    paused: boolean;
  }>;
}

export function registerApi(app: Hono<UiEnv>, deps: UiDeps): void {
  const { engine } = deps;

  app.get("/api/stats", async (c) => {
    const overview = await readOverview(engine);
    const body: StatsResponse = {
      at: new Date().toISOString(),
      queues: overview.queues.map((q) => ({
        queue: q.queue,
        due: q.due,
        scheduled: q.scheduled,
        running: q.running,
        retrying: q.retrying,
        failed: q.failed,
        succeededLastHour: q.succeededLastHour,
        failedLastHour: q.failedLastHour,
        noHandler: q.noHandler,
        pools: q.pools.length,
        paused: q.paused,
      })),
    };
    return c.json(body);
  });

  app.get("/api/jobs/:id", async (c) => {
    const id = c.req.param("id");
    if (!/^\d{1,19}$/.test(id)) return c.json({ error: "job ids are numbers" }, 400);
    const state = await readJobState(engine, id);
    if (!state) return c.json({ error: `job ${id} not found` }, 404);
    return c.json({ id, ...state });
  });
}
