/**
 * The actions (POST, each behind the CSRF check of app.ts). Each answers with a redirect to the
 * page it came from and a flash message saying what it did (Post/Redirect/Get), or, when the
 * request asks for JSON, with `{ ok, kind, message }`. An action on a job that a worker is
 * running is refused at once (the admin API locks with NOWAIT) and says so: "Running" — but a
 * running lease-mode job can be cancelled (its worker is told to stop it).
 */
import type { Context, Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import * as admin from "../../api.ts";
import { validateJobName, validateQueueName } from "../../../config.ts";
import { InvalidJobError, InvalidOptionsError, JobNotFoundError } from "../../../errors.ts";
import { cookieOptions, type UiDeps, type UiEnv } from "../context.ts";
import { digestEqual, SESSION_COOKIE } from "../auth.ts";
import { readJobState } from "../data.ts";
import { errorCode, errorText } from "../errors.ts";
import { FLASH_COOKIE, writeFlash } from "../flash.ts";
import type { Flash } from "../views/components.ts";
import { loginPage } from "../views/pages.ts";

const DAY = 86_400_000;

/**
 * A path inside the UI to go back to after an action or sign-in (relative to the base path),
 * or `fallback`. Only plain paths pass: no scheme, no `//host`, no backslash, no control
 * characters, so it can never send the browser elsewhere.
 */
export function safeNext(value: unknown, fallback: string): string {
  return typeof value === "string" && /^\/(?![/\\])[^\\\s\x00-\x1f]{0,1000}$/.test(value) ? value : fallback;
}

export function registerActions(app: Hono<UiEnv>, deps: UiDeps): void {
  const { engine } = deps;

  app.post("/jobs/:id/retry", (c) =>
    act(c, deps, `/jobs/${encodeURIComponent(c.req.param("id"))}`, async () => {
      const id = jobId(c.req.param("id"));
      const before = await readJobState(engine, id);
      // Made due, it would run before the jobs it depends on: the page offers no "Run now".
      if (before?.state === "waiting") {
        throw new InvalidJobError(`job ${id} waits for the jobs it depends on (dependsOn) and runs once they have all succeeded; it cannot be run before them: cancel or delete it instead`);
      }
      await admin.retry(engine, id);
      return before && (before.state === "available" || before.state === "scheduled")
        ? `Job ${id} is due now: a worker will run it shortly.`
        : `Job ${id} (${before?.state ?? "finished"}) is queued again as a fresh job, attempts from zero.`;
    }),
  );

  app.post("/jobs/:id/cancel", (c) =>
    act(c, deps, `/jobs/${encodeURIComponent(c.req.param("id"))}`, async () => {
      const id = jobId(c.req.param("id"));
      // Only a lease-mode job can be cancelled while it runs (cancel refuses one in its transaction).
      const before = await readJobState(engine, id);
      await admin.cancel(engine, id);
      return before?.state === "running"
        ? `Job ${id} cancelled while it ran: its worker was told to stop it, and it stays in history as cancelled.`
        : `Job ${id} cancelled: it will not run, and stays in history as cancelled.`;
    }),
  );

  app.post("/jobs/:id/delete", async (c) => {
    const id = c.req.param("id");
    // Back to the job's queue: its page is gone.
    const job = await admin.getJob(engine, id).catch(() => null);
    const after = job ? `/queues/${encodeURIComponent(job.queue)}` : "/";
    return act(c, deps, `/jobs/${encodeURIComponent(id)}`, async () => {
      await admin.deleteJob(engine, jobId(id));
      return `Job ${id} deleted, with its attempts.`;
    }, after);
  });

  for (const paused of [true, false]) {
    app.post(`/queues/:queue/${paused ? "pause" : "resume"}`, (c) =>
      act(c, deps, `/queues/${encodeURIComponent(c.req.param("queue"))}`, async () => {
        const queue = c.req.param("queue");
        validateQueueName(queue);
        await admin.setPaused(engine, queue, paused);
        return paused
          ? `Queue ${queue} paused: no worker claims its jobs until you resume it; running jobs finish.`
          : `Queue ${queue} resumed: its workers were woken.`;
      }),
    );
  }

  app.post("/failed/requeue", (c) =>
    act(c, deps, "/failed", async () => {
      const body = await c.req.parseBody();
      const queue = field(body.queue);
      const type = field(body.type);
      if (queue !== undefined) validateQueueName(queue);
      if (type !== undefined) validateJobName(type);
      const { requeued: n, skipped } = await admin.requeueFailed(engine, { ...(queue ? { queue } : {}), ...(type ? { type } : {}) });
      const what = `${type ? `"${type}" ` : ""}job${n === 1 ? "" : "s"}${queue ? ` of queue ${queue}` : ""}`;
      const left = skipped.dedupKeyLive + skipped.dedupKeyRequeued;
      const reasons = [
        skipped.dedupKeyLive > 0 ? `a live job holds the dedup key of ${skipped.dedupKeyLive}` : "",
        skipped.dedupKeyRequeued > 0 ? `a newer failed job with the same dedup key was requeued instead of ${skipped.dedupKeyRequeued}` : "",
      ].filter(Boolean);
      return `Requeued ${n} failed ${what}: they run again as fresh jobs.` +
        (left > 0 ? ` ${left} stay${left === 1 ? "s" : ""} failed (one live job per dedup key): ${reasons.join("; ")}.` : "");
    }),
  );

  app.post("/prune", (c) =>
    act(c, deps, "/", async () => {
      const body = await c.req.parseBody();
      const raw = field(body.days);
      const days = raw !== undefined && /^\d{1,5}$/.test(raw) ? Number(raw) : Number.NaN;
      if (!(days >= 0 && days <= 36_500)) throw new InvalidOptionsError("days", `days must be a whole number from 0 to 36500, got ${JSON.stringify(raw ?? "")}`);
      const result = await admin.prune(engine, { succeeded: days * DAY, failed: days * DAY });
      const total = result.succeeded + result.failed + result.cancelled;
      return `Pruned ${total} job${total === 1 ? "" : "s"} that finished more than ${days} day${days === 1 ? "" : "s"} ago ` +
        `(${result.succeeded} succeeded, ${result.failed} failed, ${result.cancelled} cancelled).`;
    }),
  );

  app.post("/login", async (c) => {
    if (!deps.token || !deps.sessions) return c.redirect(`${deps.base}/`, 303);
    const body = await c.req.parseBody();
    const next = safeNext(field(body.next), "/");
    const given = field(body.token) ?? "";
    if (!digestEqual(given, deps.token)) {
      return c.html(loginPage(c.get("view"), next, true).toString(), 401);
    }
    const maxAge = Math.floor(deps.sessions.lifetime / 1000);
    setCookie(c, SESSION_COOKIE, deps.sessions.issue(), cookieOptions(c, deps.base, maxAge));
    return c.redirect(`${deps.base}${next}`, 303);
  });

  app.post("/logout", (c) => {
    // Revoked on the server too: a copy of the cookie (another tab's, a stolen one) stops working.
    deps.sessions?.revoke(getCookie(c, SESSION_COOKIE));
    deleteCookie(c, SESSION_COOKIE, cookieOptions(c, deps.base));
    return c.redirect(`${deps.base}/login`, 303);
  });
}

function field(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
}

/**
 * A job id from the path (see admin.parseJobId). One that is not a number, or is beyond bigint,
 * names no job: 404, as for the job's page.
 */
function jobId(id: string): string {
  let parsed: string | null = null;
  try {
    parsed = admin.parseJobId(id);
  } catch {
    // not a job id: no job has it
  }
  if (parsed === null) throw new JobNotFoundError(id);
  return parsed;
}

/**
 * Runs an action and answers: a redirect with a flash message (to the form's `back` field when
 * it is a path of the UI, else `from` for failures and `after ?? from` for success), or JSON
 * when asked. Expected refusals (running, not found, bad input) become messages; anything else
 * goes to the error page.
 */
async function act(c: Context<UiEnv>, deps: UiDeps, from: string, run: () => Promise<string>, after?: string): Promise<Response> {
  const body = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
  const back = safeNext(field((body as Record<string, unknown>).back), "");
  let flash: Flash;
  let status: 200 | 400 | 404 | 409 = 200;
  try {
    flash = { kind: "ok", text: await run() };
  } catch (error) {
    const code = errorCode(error);
    if (code === "JOB_RUNNING") [flash, status] = [{ kind: "running", text: errorText(error) }, 409];
    else if (code === "JOB_NOT_FOUND") [flash, status] = [{ kind: "error", text: errorText(error) }, 404];
    else if (code === "DUPLICATE_JOB") [flash, status] = [{ kind: "error", text: errorText(error) }, 409];
    else if (code === "INVALID_OPTIONS" || code === "INVALID_NAME" || code === "INVALID_JOB") [flash, status] = [{ kind: "error", text: errorText(error) }, 400];
    else throw error;
  }
  if ((c.req.header("accept") ?? "").includes("application/json")) {
    return c.json({ ok: flash.kind === "ok", kind: flash.kind, message: flash.text }, status);
  }
  setCookie(c, FLASH_COOKIE, writeFlash(deps.secret, flash), cookieOptions(c, deps.base, 60));
  const target = back || (flash.kind === "ok" ? (after ?? from) : from);
  return c.redirect(`${deps.base}${target}`, 303);
}
