/**
 * JSON for the page script: counts for the auto-refresh, a job's state and reported progress
 * for the job page, and the states of a workflow's jobs for the workflow page.
 */
import type { Hono } from "hono";
import { parseJobId } from "../../api.ts";
import type { UiDeps, UiEnv } from "../context.ts";
import { readJobState, readOverview, readWorkflowStates, workflowVersion, type QueueOverview } from "../data.ts";

/** What `/api/stats` answers: the overview's counts per queue, with its number of live pools. */
export interface StatsResponse {
  at: string;
  queues: Array<Omit<QueueOverview, "pools" | "succeededSeries" | "failedSeries"> & { pools: number }>;
}

export function registerApi(app: Hono<UiEnv>, deps: UiDeps): void {
  const { engine } = deps;

  app.get("/api/stats", async (c) => {
    const overview = await readOverview(engine);
    const body: StatsResponse = {
      at: new Date().toISOString(),
      queues: overview.queues.map(({ pools, succeededSeries: _s, failedSeries: _f, ...counts }) => ({ ...counts, pools: pools.length })),
    };
    return c.json(body);
  });

  app.get("/api/jobs/:id", async (c) => {
    const id = c.req.param("id");
    let parsed: string | null;
    try {
      parsed = parseJobId(id);
    } catch {
      return c.json({ error: `job ${id} not found: job ids are numbers` }, 404);
    }
    const state = parsed === null ? null : await readJobState(engine, parsed);
    if (!state) return c.json({ error: `job ${id} not found` }, 404);
    return c.json({ id, ...state });
  });

  // By the workflow's id (its first job's), as the workflow page's script asks.
  app.get("/api/workflows/:id", async (c) => {
    const id = c.req.param("id");
    let parsed: string | null;
    try {
      parsed = parseJobId(id);
    } catch {
      return c.json({ error: `workflow ${id} not found: workflow ids are job ids, numbers` }, 404);
    }
    const jobs = parsed === null ? [] : await readWorkflowStates(engine, parsed);
    if (jobs.length === 0) return c.json({ error: `workflow ${id} not found` }, 404);
    return c.json({ id, version: workflowVersion(jobs), jobs });
  });
}
