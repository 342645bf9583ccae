/**
 * The pages (GET). Query parameters are validated like the admin API's arguments; a bad one is
 * a 400 page naming it.
 */
import type { Hono } from "hono";
import * as admin from "../../api.ts";
import { validateJobName, validateQueueName } from "../../../config.ts";
import { InvalidOptionsError } from "../../../errors.ts";
import type { UiDeps, UiEnv } from "../context.ts";
import { APP_CSS, APP_JS } from "../assets.ts";
import { readFailedGroups, readKeepsSucceeded, readOverview, readQueueTypes, readRunning, readSchedules } from "../data.ts";
import { listPools } from "../../api.ts";
import {
  errorPage, failedPage, jobPage, LIST_STATES, loginPage, overviewPage, queuePage, schedulesPage, workersPage, workflowPage, type ListState,
} from "../views/pages.ts";
import { safeNext } from "./actions.ts";

/** Jobs per page of a list. */
export const PAGE_SIZE = 50;

export function registerPages(app: Hono<UiEnv>, deps: UiDeps): void {
  const { engine } = deps;

  app.get("/assets/app.css", (c) => {
    c.header("content-type", "text/css; charset=utf-8");
    c.header("cache-control", "public, max-age=300");
    return c.body(APP_CSS);
  });
  app.get("/assets/app.js", (c) => {
    c.header("content-type", "text/javascript; charset=utf-8");
    c.header("cache-control", "public, max-age=300");
    return c.body(APP_JS);
  });

  // No icon: answer at once instead of a 404 page for every browser tab.
  app.get("/favicon.ico", (c) => c.body(null, 204));

  app.get("/", async (c) => c.html(overviewPage(c.get("view"), await readOverview(engine)).toString()));

  app.get("/queues/:queue", async (c) => {
    const queue = c.req.param("queue");
    validateQueueName(queue);
    const state = listState(c.req.query("state"));
    const type = optionalType(c.req.query("type"));
    const cursor = optionalCursor(c.req.query("cursor"));
    const [page, overview, types, keepsSucceeded, running] = await Promise.all([
      admin.listJobs(engine, { queue, state, ...(type ? { type } : {}), limit: PAGE_SIZE }, cursor),
      readOverview(engine),
      readQueueTypes(engine, queue),
      readKeepsSucceeded(engine, queue),
      readRunning(engine, queue),
    ]);
    const stats = overview.queues.find((q) => q.queue === queue) ?? null;
    return c.html(queuePage(c.get("view"), { queue, stats, keepsSucceeded, state, type, types, jobs: page.jobs, cursor, next: page.next, running }).toString());
  });

  app.get("/jobs/:id", async (c) => {
    const id = c.req.param("id");
    const view = c.get("view");
    let parsed: string | null;
    try {
      parsed = admin.parseJobId(id);
    } catch {
      return c.html(errorPage(view, 404, "Not found", `There is no job ${id}: job ids are numbers.`).toString(), 404);
    }
    const job = parsed === null ? null : await admin.getJob(engine, parsed);
    if (!job) return c.html(errorPage(view, 404, "Not found", `Job ${id} does not exist (any more).`).toString(), 404);
    // Its parents and dependants, with their states (null when it was pruned meanwhile).
    const workflow = job.workflowId === null ? null : await admin.getWorkflow(engine, job.workflowId);
    return c.html(jobPage(view, job, workflow).toString());
  });

  // A workflow by its id (its first job's) or the id of any of its jobs.
  app.get("/workflows/:id", async (c) => {
    const id = c.req.param("id");
    const view = c.get("view");
    let parsed: string | null;
    try {
      parsed = admin.parseJobId(id);
    } catch {
      return c.html(errorPage(view, 404, "Not found", `There is no workflow ${id}: workflow ids are job ids, numbers.`).toString(), 404);
    }
    const workflow = parsed === null ? null : await admin.getWorkflow(engine, parsed);
    if (!workflow) {
      return c.html(errorPage(view, 404, "Not found", `There is no workflow ${id}: no job of that id belongs to one (any more).`).toString(), 404);
    }
    return c.html(workflowPage(view, workflow).toString());
  });

  app.get("/failed", async (c) => {
    const queue = c.req.query("queue") || null;
    if (queue !== null) validateQueueName(queue);
    const type = optionalType(c.req.query("type"));
    const cursor = optionalCursor(c.req.query("cursor"));
    const [groups, page] = await Promise.all([
      readFailedGroups(engine, queue),
      admin.listJobs(engine, { state: "failed", ...(queue ? { queue } : {}), ...(type ? { type } : {}), limit: PAGE_SIZE }, cursor),
    ]);
    return c.html(failedPage(c.get("view"), { queue, type, groups, jobs: page.jobs, cursor, next: page.next }).toString());
  });

  app.get("/schedules", async (c) => {
    const { schedules, livePools } = await readSchedules(engine);
    return c.html(schedulesPage(c.get("view"), schedules, livePools).toString());
  });

  app.get("/workers", async (c) => c.html(workersPage(c.get("view"), await listPools(engine)).toString()));

  app.get("/login", (c) => {
    if (!deps.token) return c.redirect(`${deps.base}/`, 303);
    return c.html(loginPage(c.get("view"), safeNext(c.req.query("next"), "/"), false).toString());
  });
}

function listState(value: string | undefined): ListState {
  if (value === undefined || value === "") return "available";
  if ((LIST_STATES as readonly string[]).includes(value)) return value as ListState;
  throw new InvalidOptionsError("state", `state must be one of ${LIST_STATES.join(", ")}, got ${JSON.stringify(value)}`);
}

function optionalType(value: string | undefined): string | null {
  const type = value?.trim();
  if (!type) return null;
  validateJobName(type);
  return type;
}

function optionalCursor(value: string | undefined): string | null {
  if (!value) return null;
  // Beyond bigint: above every job id, so the first page.
  return admin.parseJobId(value, "cursor");
}
