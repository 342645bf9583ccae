/**
 * The pages. Each takes its data and the {@link ViewContext} and returns the whole document;
 * everything from the database goes through the escaping `html` tag.
 */
import type { AttemptInfo, JobDetails, JobInfo, WorkflowInfo } from "../../api.ts";
import { workflowVersion, type FailedGroup, type Overview, type PoolInfo, type QueueOverview, type RunningJobInfo, type ScheduleView } from "../data.ts";
import { html, type SafeHtml } from "../html.ts";
import { CSRF_FIELD } from "../csrf.ts";
import {
  badge, duration, enc, firstLine, layout, link, pager, postForm, relative, sparkline, statCell, time, type ViewContext,
} from "./components.ts";

/**
 * States a job list can show. Running jobs have a table of their own on the queue page (a job
 * running in its transaction also shows as available: its claim is not visible until it commits).
 * Waiting jobs wait for the jobs they depend on (`dependsOn`).
 */
export const LIST_STATES = ["available", "scheduled", "waiting", "succeeded", "failed", "cancelled"] as const;
export type ListState = (typeof LIST_STATES)[number];

// --- overview ----------------------------------------------------------------------------------

export function overviewPage(ctx: ViewContext, data: Overview): SafeHtml {
  const rows = data.queues.map((q) => overviewRow(ctx, q));
  const live = data.pools.filter((p) => p.alive);
  return layout(
    ctx,
    "Overview",
    "overview",
    html`<h1>Queues</h1>
<div class="card">
<table class="queues">
  <thead><tr>
    <th>Queue</th><th class="num">Due</th><th class="num">Scheduled</th><th class="num" title="Waiting for the jobs they depend on">Waiting</th><th class="num">Running</th>
    <th class="num">Retrying</th><th class="num">Failed</th><th class="num">Succeeded 1 h</th>
    <th>Throughput 1 h</th><th>Live pools</th><th class="num" title="Live jobs no live pool has a handler for">No handler</th><th></th>
  </tr></thead>
  <tbody>
  ${rows.length > 0 ? rows : html`<tr><td colspan="12" class="muted">No queues yet: enqueue a job or start a worker.</td></tr>`}
  </tbody>
</table>
</div>

<div class="grid2">
<div>
<h2>Live pools <span class="muted small">(${live.length})</span></h2>
<div class="card pad small">
${live.length === 0
  ? html`<span class="muted">No live worker pools: start one with <code>npx arrower-jobs worker</code>.</span>`
  : html`<a href="${link(ctx, "/workers")}">${live.length} pool${live.length === 1 ? "" : "s"}</a> running
      ${live.reduce((n, p) => n + p.running, 0)} of ${live.reduce((n, p) => n + p.size, 0)} slots.`}
</div>
</div>
<div>
<h2>Prune history</h2>
<div class="card pad">
<form method="post" action="${link(ctx, "/prune")}" class="filters" data-confirm="Delete finished jobs older than this from history?">
  <input type="hidden" name="${CSRF_FIELD}" value="${ctx.csrf}">
  <label>Delete succeeded, failed and cancelled jobs that finished more than
    <input type="number" name="days" min="0" max="36500" value="30" required> days ago</label>
  <button type="submit" class="danger">Prune</button>
</form>
<div class="muted small">Workers also prune on their own (each queue by its retention; by default succeeded after 7 days, failed after 30).</div>
</div>
</div>
</div>`,
  );
}

function overviewRow(ctx: ViewContext, q: QueueOverview): SafeHtml {
  const queuePath = `/queues/${enc(q.queue)}`;
  const label = `${q.queue}: ${q.succeededLastHour} succeeded, ${q.failedLastHour} failed in the last hour`;
  return html`<tr>
    <td><a href="${link(ctx, queuePath)}"><strong>${q.queue}</strong></a>
      <span data-queue="${q.queue}" data-stat="paused" class="badge paused"${q.paused ? "" : html` hidden`}>paused</span></td>
    ${statCell(q.queue, "due", q.due, link(ctx, queuePath, { state: "available" }))}
    ${statCell(q.queue, "scheduled", q.scheduled, link(ctx, queuePath, { state: "scheduled" }))}
    ${statCell(q.queue, "waiting", q.waiting, link(ctx, queuePath, { state: "waiting" }))}
    ${statCell(q.queue, "running", q.running)}
    ${statCell(q.queue, "retrying", q.retrying)}
    ${statCell(q.queue, "failed", q.failed, link(ctx, "/failed", { queue: q.queue }))}
    ${statCell(q.queue, "succeededLastHour", q.succeededLastHour, link(ctx, queuePath, { state: "succeeded" }))}
    <td>${sparkline(q.succeededSeries, q.failedSeries, label)}</td>
    <td class="pools small">${q.pools.length === 0 ? html`<span class="muted">none</span>` : q.pools.map((p) => html`<span title="${p.host ?? ""} pid ${p.pid ?? "?"}">${p.name} <span class="muted">${p.running}/${p.size}</span></span>`)}</td>
    ${statCell(q.queue, "noHandler", q.noHandler)}
    <td class="actions">${pauseButton(ctx, q.queue, q.paused, "/")}</td>
  </tr>`;
}

/** Pause or Resume; `back`: the page to return to (default: the queue's page). */
function pauseButton(ctx: ViewContext, queue: string, paused: boolean, back?: string): SafeHtml {
  const fields: Record<string, string> = back ? { back } : {};
  return paused
    ? postForm(ctx, `/queues/${enc(queue)}/resume`, "Resume", { className: "primary", title: `Resume queue ${queue}`, fields })
    : postForm(ctx, `/queues/${enc(queue)}/pause`, "Pause", { title: `Pause queue ${queue}: workers stop claiming its jobs`, fields });
}

// --- queue -------------------------------------------------------------------------------------

export interface QueuePageData {
  queue: string;
  stats: QueueOverview | null;
  /** False when its pools run with `retention: { succeeded: 0 }`. */
  keepsSucceeded: boolean;
  state: ListState;
  type: string | null;
  types: string[];
  jobs: JobInfo[];
  cursor: string | null;
  next: string | null;
  /** The queue's jobs running now, oldest first. */
  running: RunningJobInfo[];
}

export function queuePage(ctx: ViewContext, d: QueuePageData): SafeHtml {
  const path = `/queues/${enc(d.queue)}`;
  const s = d.stats;
  const inTransaction = d.running.filter((j) => !j.lease).length;
  const tab = (state: ListState) =>
    html`<a href="${link(ctx, path, { state, type: d.type })}"${state === d.state ? html` class="active"` : ""}>${state}</a>`;
  return layout(
    ctx,
    `Queue ${d.queue}`,
    "none",
    html`<h1>Queue ${d.queue}
  <span data-queue="${d.queue}" data-stat="paused" class="badge paused"${s?.paused ? "" : html` hidden`}>paused</span>
  <span class="actions">${pauseButton(ctx, d.queue, s?.paused ?? false)}</span></h1>
${s
  ? html`<div class="card"><table><thead><tr><th class="num">Due</th><th class="num">Scheduled</th><th class="num" title="Waiting for the jobs they depend on">Waiting</th><th class="num">Running</th><th class="num">Retrying</th><th class="num">Failed</th><th class="num">Succeeded 1 h</th><th class="num">No handler</th><th>Throughput 1 h</th><th>Live pools</th></tr></thead>
<tbody><tr>${statCell(d.queue, "due", s.due)}${statCell(d.queue, "scheduled", s.scheduled)}${statCell(d.queue, "waiting", s.waiting)}${statCell(d.queue, "running", s.running)}${statCell(d.queue, "retrying", s.retrying)}${statCell(d.queue, "failed", s.failed)}${statCell(d.queue, "succeededLastHour", s.succeededLastHour)}${statCell(d.queue, "noHandler", s.noHandler)}
<td>${sparkline(s.succeededSeries, s.failedSeries, `${d.queue}: throughput in the last hour`)}</td>
<td class="pools small">${s.pools.length === 0 ? html`<span class="muted">none</span>` : s.pools.map((p) => html`<span>${p.name} <span class="muted">${p.running}/${p.size}</span></span>`)}</td></tr></tbody></table></div>`
  : html`<p class="muted">Nothing is known about this queue yet.</p>`}
${d.keepsSucceeded
  ? ""
  : html`<p class="muted" data-note="succeeded-not-kept">This queue keeps no succeeded jobs: its pools run with <code>retention: { succeeded: 0 }</code>, which deletes a job when it succeeds, so its succeeded counts and list stay empty. The <code>succeeded</code> events and the OpenTelemetry job counter still count them.</p>`}

${d.running.length > 0
  ? html`<h2>Running now <span class="muted small">(${d.running.length})</span></h2>
<div class="card">${runningTable(ctx, d.running)}</div>`
  : ""}
<h2>Jobs</h2>
<nav class="tabs">${LIST_STATES.map(tab)}</nav>
<form method="get" action="${link(ctx, path)}" class="filters">
  <input type="hidden" name="state" value="${d.state}">
  <label>Type <input name="type" list="types" value="${d.type ?? ""}" placeholder="any type" size="28"></label>
  <datalist id="types">${d.types.map((t) => html`<option value="${t}"></option>`)}</datalist>
  <button type="submit">Filter</button>
  ${d.type ? html`<a href="${link(ctx, path, { state: d.state })}">clear</a>` : ""}
  ${d.state === "failed"
    ? postForm(ctx, "/failed/requeue", d.type ? `Requeue all failed ${d.type} jobs` : "Requeue all failed jobs of this queue", {
        fields: d.type ? { queue: d.queue, type: d.type } : { queue: d.queue },
        confirm: `Requeue every failed ${d.type ? `"${d.type}" job` : "job"} of queue ${d.queue}?`,
      })
    : ""}
</form>
${d.state === "waiting"
  ? html`<p class="small muted">Waiting jobs depend on other jobs of their workflow (<code>dependsOn</code>): each becomes due once all of them have succeeded. Its page links to its workflow.</p>`
  : ""}
${d.state === "available" && inTransaction > 0
  ? html`<p class="small muted">${inTransaction} job${inTransaction === 1 ? "" : "s"} running in ${inTransaction === 1 ? "its transaction is" : "their transactions are"} listed as available too while ${inTransaction === 1 ? "it runs" : "they run"}: a claim is not visible until it commits.</p>`
  : ""}
<div class="card">${jobTable(ctx, d.jobs, d.state)}
${pager(ctx, path, { state: d.state, type: d.type }, d.cursor, d.next)}</div>`,
  );
}

/** A list of jobs of one state. */
export function jobTable(ctx: ViewContext, jobs: JobInfo[], state: ListState, options: { showQueue?: boolean; retryButtons?: boolean } = {}): SafeHtml {
  const finished = state === "succeeded" || state === "failed" || state === "cancelled";
  if (jobs.length === 0) return html`<p class="pad muted">&nbsp;&nbsp;No ${state} jobs${state === "available" ? " (due now)" : ""}.</p>`;
  return html`<table class="jobs">
<thead><tr><th>ID</th>${options.showQueue ? html`<th>Queue</th>` : ""}<th>Type</th><th>State</th><th class="num">Attempts</th><th>${finished ? "Finished" : "Run at"}</th><th>Last error</th>${options.retryButtons ? html`<th></th>` : ""}</tr></thead>
<tbody>${jobs.map(
    (j) => html`<tr>
  <td class="mono"><a href="${link(ctx, `/jobs/${enc(j.id)}`)}">${j.id}</a></td>
  ${options.showQueue ? html`<td><a href="${link(ctx, `/queues/${enc(j.queue)}`)}">${j.queue}</a></td>` : ""}
  <td>${j.type}</td>
  <td>${badge(j.state)}</td>
  <td class="num">${j.attempts}/${j.maxAttempts}</td>
  <td class="small">${runAtCell(ctx, j, finished)}</td>
  <td class="small error-text">${firstLine(j.lastError, 120)}</td>
  ${options.retryButtons ? html`<td>${postForm(ctx, `/jobs/${enc(j.id)}/retry`, "Retry")}</td>` : ""}
</tr>`,
  )}</tbody></table>`;
}

/** When a job runs (or ran): a waiting job runs once its parents have succeeded (its run_at is 'infinity'). */
function runAtCell(ctx: ViewContext, job: JobInfo, finished: boolean): SafeHtml {
  if (finished) return time(job.finishedAt, ctx.now);
  if (job.state === "waiting") return html`<span class="muted">after the jobs it depends on</span>`;
  return time(job.runAt, ctx.now);
}

/**
 * The jobs running now: a lease-mode job with its lease's holder and expiry, one running in its
 * transaction without (which pool runs it cannot be seen until it commits); both with the
 * progress they reported.
 */
export function runningTable(ctx: ViewContext, jobs: RunningJobInfo[]): SafeHtml {
  return html`<table class="running">
<thead><tr><th>ID</th><th>Type</th><th class="num">Attempt</th><th>Held by</th><th>Started</th><th>Lease expires</th><th>Progress</th></tr></thead>
<tbody>${jobs.map(
    (j) => html`<tr data-running-job="${j.id}">
  <td class="mono"><a href="${link(ctx, `/jobs/${enc(j.id)}`)}">${j.id}</a></td>
  <td>${j.type}</td>
  <td class="num">${j.attempt}/${j.maxAttempts}</td>
  <td class="small">${j.lease ? html`<span title="lease">${j.lease.owner}</span>` : html`<span class="muted">its transaction</span>`}</td>
  <td class="small">${time(j.lease?.startedAt, ctx.now)}</td>
  <td class="small">${time(j.lease?.expiresAt, ctx.now)}</td>
  <td class="small">${j.progress
    ? html`<span class="mono">${firstLine(prettyJson(j.progress.value, 0), 80)}</span> <span class="muted">(${relative(j.progress.updatedAt, ctx.now)})</span>`
    : html`<span class="muted">—</span>`}</td>
</tr>`,
  )}</tbody></table>`;
}

// --- job ---------------------------------------------------------------------------------------

interface AttemptRow {
  run: number;
  attempt: number;
  outcome: string;
  error: string | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  pool: string | null;
  traceId: string | null;
}

/** Earlier attempts from `attempts`, plus a finished job's last attempt, kept on its row. */
function attemptsOf(job: JobDetails): AttemptRow[] {
  const rows: AttemptRow[] = job.attemptHistory.map((a: AttemptInfo) => ({ ...a }));
  const last = (job.state === "succeeded" || job.state === "failed") && job.attempts > 0 && !rows.some((a) => a.run === job.run && a.attempt === job.attempts);
  if (last) {
    rows.push({
      run: job.run,
      attempt: job.attempts,
      outcome: job.state,
      error: job.state === "failed" ? job.lastError : null,
      startedAt: job.startedAt,
      finishedAt: job.finishedAt,
      pool: job.pool,
      traceId: job.traceId,
    });
  }
  return rows.sort((a, b) => a.run - b.run || a.attempt - b.attempt);
}

/**
 * A job's page; `workflow`: the workflow it belongs to (`job.workflowId`), whose jobs it depends
 * on and that depend on it are listed with their states.
 */
export function jobPage(ctx: ViewContext, job: JobDetails, workflow: WorkflowInfo | null = null): SafeHtml {
  const waiting = job.state === "waiting";
  const live = job.state === "available" || job.state === "scheduled" || waiting || job.state === "running";
  const attempts = attemptsOf(job);
  const traceId = job.traceId ?? [...attempts].reverse().find((a) => a.traceId)?.traceId ?? null;
  const actions: SafeHtml[] = [];
  // A leased job's row shows its running attempt; a transaction's claim is not visible yet.
  const runningAttempt = job.lease ? job.attempts : job.attempts + 1;
  if (job.state === "running" && job.lease) {
    actions.push(
      postForm(ctx, `/jobs/${enc(job.id)}/cancel`, "Cancel", {
        title: "Stop it: its handler's signal aborts, and it moves to history as cancelled",
        confirm: `Cancel job ${job.id} while it runs? Its handler is told to stop.`,
      }),
    );
    actions.push(html`<span class="muted small">A worker is running this job under a lease: it can be cancelled (its handler is told to stop), not retried or deleted until it finishes.</span>`);
  } else if (job.state === "running") {
    actions.push(html`<span class="muted small">A worker is running this job: it cannot be retried, cancelled or deleted until it finishes.</span>`);
  } else {
    // A waiting job cannot be made due: it runs once the jobs it depends on have succeeded.
    if (!waiting) {
      actions.push(
        postForm(ctx, `/jobs/${enc(job.id)}/retry`, live ? "Run now" : "Retry", {
          className: "primary",
          title: live ? "Make it due now" : "Run it again as a fresh job (attempts from zero)",
        }),
      );
    }
    if (live) actions.push(postForm(ctx, `/jobs/${enc(job.id)}/cancel`, "Cancel", { title: "Move it to history as cancelled" }));
    actions.push(postForm(ctx, `/jobs/${enc(job.id)}/delete`, "Delete", { className: "danger", confirm: `Delete job ${job.id} and its attempts for good?` }));
    if (waiting) actions.push(html`<span class="muted small">It waits for the jobs it depends on: it becomes due once they have all succeeded.</span>`);
  }
  return layout(
    ctx,
    `Job ${job.id}`,
    "none",
    html`<h1 ${live ? html`data-watch-job="${job.id}" data-state="${job.state}" data-progress-at="${job.progress?.updatedAt.toISOString() ?? ""}"` : ""}>Job <span class="mono">${job.id}</span> · ${job.type} ${badge(job.state)}</h1>
<div class="actions">${actions}</div>
<div class="grid2">
<div>
<h2>Details</h2>
<div class="card pad"><dl class="facts">
  <dt>Queue</dt><dd><a href="${link(ctx, `/queues/${enc(job.queue)}`)}">${job.queue}</a></dd>
  <dt>Type</dt><dd>${job.type}</dd>
  <dt>State</dt><dd>${badge(job.state)}</dd>
  <dt>Attempts</dt><dd>${job.attempts} of ${job.maxAttempts}</dd>
  <dt>Priority</dt><dd>${job.priority}</dd>
  <dt>Timeout</dt><dd>${duration(job.timeoutMs)}</dd>
  <dt>Created</dt><dd>${time(job.createdAt, ctx.now)}</dd>
  <dt>Run at</dt><dd>${waiting ? html`<span class="muted">once the jobs it depends on have succeeded</span>` : time(job.runAt, ctx.now)}</dd>
  ${job.workflowId ? html`<dt>Workflow</dt><dd><a href="${link(ctx, `/workflows/${enc(job.workflowId)}`)}" data-workflow-link>workflow ${job.workflowId}</a></dd>` : ""}
  ${job.startedAt ? html`<dt>Last started</dt><dd>${time(job.startedAt, ctx.now)}</dd>` : ""}
  ${job.finishedAt ? html`<dt>Finished</dt><dd>${time(job.finishedAt, ctx.now)}</dd>` : ""}
  ${job.pool ? html`<dt>Pool</dt><dd>${job.pool}</dd>` : ""}
  ${job.lease ? html`<dt>Lease</dt><dd data-lease>held by ${job.lease.owner}, expires ${time(job.lease.expiresAt, ctx.now)}</dd>` : ""}
  <dt>Trace id</dt><dd class="mono">${traceId ?? html`<span class="muted">—</span>`}</dd>
  ${job.dedupKey ? html`<dt>Dedup key</dt><dd class="mono">${job.dedupKey}</dd>` : ""}
  ${job.scheduleId ? html`<dt>Schedule</dt><dd><a href="${link(ctx, "/schedules")}">#${job.scheduleId}</a>${job.tickAt ? html`, tick ${time(job.tickAt, ctx.now)}` : ""}</dd>` : ""}
</dl></div>
</div>
<div>
<h2>Payload</h2>
<pre class="payload">${prettyJson(job.payload)}</pre>
${job.progress ? html`<h2>Progress</h2>
<pre class="payload progress" data-progress>${prettyJson(job.progress.value)}</pre>
<p class="muted small">Reported <span data-progress-time>${time(job.progress.updatedAt, ctx.now)}</span></p>` : ""}
${job.result !== undefined ? html`<h2>Result</h2>
<pre class="payload result">${prettyJson(job.result)}</pre>` : ""}
</div>
</div>
${job.lastError && (live || job.state === "cancelled") ? html`<h2>Last error</h2><pre>${job.lastError}</pre>` : ""}
${workflow ? relatedJobs(ctx, job, workflow) : ""}
<h2>Attempts</h2>
${attempts.length === 0
  ? html`<p class="muted">${job.state === "running" ? "The first attempt is running now." : "No attempt yet."}</p>`
  : html`<div class="card"><table class="attempts">
<thead><tr><th class="num">#</th><th>Outcome</th><th>Started</th><th>Finished</th><th>Took</th><th>Pool</th><th>Trace id</th><th>Error</th></tr></thead>
<tbody>${attempts.map(
      (a) => html`<tr>
  <td class="num" ${job.run > 1 ? html`title="run ${a.run}, attempt ${a.attempt}"` : ""}>${job.run > 1 ? `${a.run}.${a.attempt}` : a.attempt}</td>
  <td>${badge(a.outcome, a.outcome === "succeeded" ? "succeeded" : a.outcome === "cancelled" ? "cancelled" : "failed")}</td>
  <td class="small">${time(a.startedAt, ctx.now)}</td>
  <td class="small">${time(a.finishedAt, ctx.now)}</td>
  <td class="small">${a.startedAt && a.finishedAt ? duration(a.finishedAt.getTime() - a.startedAt.getTime()) : ""}</td>
  <td class="small">${a.pool ?? ""}</td>
  <td class="small mono">${a.traceId ?? ""}</td>
  <td>${a.error ? html`<details><summary class="error-text">${firstLine(a.error)}</summary><pre>${a.error}</pre></details>` : ""}</td>
</tr>`,
    )}</tbody></table></div>`}
${job.state === "running" ? html`<p class="flash running">Running now: attempt ${runningAttempt} of ${job.maxAttempts}.</p>` : ""}`,
  );
}

/**
 * On a job's page: the jobs of its workflow it depends on and those that depend on it, with
 * their states. A parent pruned from history shows as its id alone.
 */
function relatedJobs(ctx: ViewContext, job: JobDetails, workflow: WorkflowInfo): SafeHtml {
  const byId = new Map(workflow.jobs.map((j) => [j.id, j]));
  const parents = byId.get(job.id)?.dependsOn ?? [];
  const dependants = workflow.jobs.filter((j) => j.dependsOn.includes(job.id));
  const row = (relation: string, id: string) => {
    const other = byId.get(id);
    return html`<tr data-related="${relation}" data-job="${id}">
  <td class="small muted">${relation}</td>
  <td class="mono"><a href="${link(ctx, `/jobs/${enc(id)}`)}">${id}</a></td>
  <td>${other ? other.type : html`<span class="muted">pruned from history</span>`}</td>
  <td>${other ? badge(other.state) : ""}</td>
  <td class="num">${other ? `${other.attempts}/${other.maxAttempts}` : ""}</td>
</tr>`;
  };
  const rows = [...parents.map((id) => row("depends on", id)), ...dependants.map((j) => row("needed by", j.id))];
  return html`<h2>Workflow <a class="small" href="${link(ctx, `/workflows/${enc(workflow.id)}`)}">${workflow.id} (${workflow.jobs.length} job${workflow.jobs.length === 1 ? "" : "s"})</a></h2>
${rows.length === 0
  ? html`<p class="muted">It depends on no job of its workflow, and none depends on it.</p>`
  : html`<div class="card"><table class="related">
<thead><tr><th></th><th>ID</th><th>Type</th><th>State</th><th class="num">Attempts</th></tr></thead>
<tbody>${rows}</tbody></table></div>`}`;
}

// --- workflow ----------------------------------------------------------------------------------

/**
 * A workflow (jobs enqueued together with `dependsOn`): every job in enqueue order with its
 * step (1 for jobs that depend on none, else one more than the latest step it depends on), type,
 * state, attempts, the jobs it depends on and the start of its payload. While any job is live the page reloads when a
 * state changes (see `/api/workflows/:id`).
 */
export function workflowPage(ctx: ViewContext, workflow: WorkflowInfo): SafeHtml {
  const jobs = workflow.jobs;
  const steps = stepsOf(jobs);
  const queues = [...new Set(jobs.map((j) => j.queue))];
  const showQueue = queues.length > 1;
  const live = jobs.some((j) => j.state === "available" || j.state === "scheduled" || j.state === "waiting" || j.state === "running");
  const counts = new Map<string, number>();
  for (const j of jobs) counts.set(j.state, (counts.get(j.state) ?? 0) + 1);
  const finished = (j: JobInfo) => j.state === "succeeded" || j.state === "failed" || j.state === "cancelled";
  return layout(
    ctx,
    `Workflow ${workflow.id}`,
    "none",
    html`<h1 ${live ? html`data-watch-workflow="${workflow.id}" data-version="${workflowVersion(jobs)}"` : ""}>Workflow <span class="mono">${workflow.id}</span>
  <span class="muted small">${jobs.length} job${jobs.length === 1 ? "" : "s"}${queues.length === 1 ? html` in queue <a href="${link(ctx, `/queues/${enc(queues[0]!)}`)}">${queues[0]}</a>` : ""}</span></h1>
<p class="actions" data-state-counts>${[...counts].map(([state, n]) => html`<span>${badge(state)} ${n}</span>`)}</p>
${jobs.length === 0
  ? html`<p class="muted">Its jobs have been pruned from history.</p>`
  : html`<div class="card"><table class="workflow">
<thead><tr><th>ID</th><th class="num" title="1: depends on no job; else one more than the latest step it depends on">Step</th>${showQueue ? html`<th>Queue</th>` : ""}<th>Type</th><th>State</th><th class="num">Attempts</th><th>Depends on</th><th>Payload</th><th>Run at / finished</th><th>Last error</th></tr></thead>
<tbody>${jobs.map(
      (j) => html`<tr data-job="${j.id}">
  <td class="mono"><a href="${link(ctx, `/jobs/${enc(j.id)}`)}">${j.id}</a></td>
  <td class="num">${steps.get(j.id)}</td>
  ${showQueue ? html`<td><a href="${link(ctx, `/queues/${enc(j.queue)}`)}">${j.queue}</a></td>` : ""}
  <td>${j.type}</td>
  <td>${badge(j.state)}</td>
  <td class="num">${j.attempts}/${j.maxAttempts}</td>
  <td class="mono small">${j.dependsOn.length === 0
    ? html`<span class="muted">—</span>`
    : j.dependsOn.map((id, i) => html`${i > 0 ? ", " : ""}<a href="${link(ctx, `/jobs/${enc(id)}`)}">${id}</a>`)}</td>
  <td class="small mono">${firstLine(prettyJson(j.payload, 0), 80)}</td>
  <td class="small">${runAtCell(ctx, j, finished(j))}</td>
  <td class="small error-text">${firstLine(j.lastError, 120)}</td>
</tr>`,
    )}</tbody></table></div>`}`,
  );
}

/** Each job's step: 1 when it depends on no job (of those still there), else 1 + its parents' latest. */
function stepsOf(jobs: WorkflowInfo["jobs"]): Map<string, number> {
  const byId = new Map(jobs.map((j) => [j.id, j]));
  const steps = new Map<string, number>();
  const stepOf = (id: string, seen: Set<string>): number => {
    const known = steps.get(id);
    if (known !== undefined) return known;
    const job = byId.get(id);
    // A parent pruned from history, or a loop (none can be enqueued): counts as no parent.
    if (!job || seen.has(id)) return 0;
    seen.add(id);
    const step = 1 + Math.max(0, ...job.dependsOn.map((parent) => stepOf(parent, seen)));
    seen.delete(id);
    steps.set(id, step);
    return step;
  };
  for (const job of jobs) stepOf(job.id, new Set());
  return steps;
}

/**
 * A payload as indented JSON, with what superjson restored shown readably: Date as its ISO
 * string, BigInt as `123n`, Map as an object (or entry list), Set as a list.
 */
export function prettyJson(value: unknown, indent = 2): string {
  const text = JSON.stringify(
    value,
    function (this: Record<string, unknown>, key: string, v: unknown) {
      const original = this[key];
      if (typeof v === "bigint") return `${v}n`;
      if (original instanceof Map) {
        const keys = [...original.keys()];
        return keys.every((k) => typeof k === "string" || typeof k === "number") ? Object.fromEntries(original) : [...original.entries()];
      }
      if (original instanceof Set) return [...original];
      if (original instanceof RegExp) return String(original);
      if (original instanceof Error) return { name: original.name, message: original.message };
      if (v === undefined && key !== "") return "(undefined)";
      return v;
    },
    indent,
  );
  return text ?? String(value);
}

// --- failed ------------------------------------------------------------------------------------

export interface FailedPageData {
  queue: string | null;
  type: string | null;
  groups: FailedGroup[];
  jobs: JobInfo[];
  cursor: string | null;
  next: string | null;
}

export function failedPage(ctx: ViewContext, d: FailedPageData): SafeHtml {
  const total = d.groups.reduce((n, g) => n + g.count, 0);
  return layout(
    ctx,
    "Failed jobs",
    "failed",
    html`<h1>Failed jobs${d.queue ? html` in <a href="${link(ctx, `/queues/${enc(d.queue)}`)}">${d.queue}</a>` : ""}${d.type ? html` of type ${d.type}` : ""}</h1>
<h2>By type <span class="muted small">(${total})</span></h2>
<div class="card">
${d.groups.length === 0
  ? html`<p class="muted">&nbsp;&nbsp;No failed jobs.</p>`
  : html`<table><thead><tr><th>Queue</th><th>Type</th><th class="num">Failed</th><th>Last failure</th><th></th></tr></thead><tbody>
${d.groups.map(
      (g) => html`<tr>
  <td><a href="${link(ctx, `/queues/${enc(g.queue)}`)}">${g.queue}</a></td>
  <td><a href="${link(ctx, "/failed", { queue: g.queue, type: g.type })}">${g.type}</a></td>
  <td class="num">${g.count}</td>
  <td class="small">${time(g.lastFailedAt, ctx.now)}</td>
  <td>${postForm(ctx, "/failed/requeue", "Requeue all", {
        fields: { queue: g.queue, type: g.type },
        confirm: `Requeue all ${g.count} failed "${g.type}" jobs of queue ${g.queue}?`,
      })}</td>
</tr>`,
    )}</tbody></table>`}
</div>
<h2>Jobs ${d.queue || d.type ? html`<a class="small" href="${link(ctx, "/failed")}">(all)</a>` : ""}</h2>
<div class="card">${jobTable(ctx, d.jobs, "failed", { showQueue: true, retryButtons: true })}
${pager(ctx, "/failed", { queue: d.queue, type: d.type }, d.cursor, d.next)}</div>`,
  );
}

// --- schedules ---------------------------------------------------------------------------------

export function schedulesPage(ctx: ViewContext, schedules: ScheduleView[], livePools: number): SafeHtml {
  const stale = schedules.filter((s) => s.stale).length;
  return layout(
    ctx,
    "Schedules",
    "schedules",
    html`<h1>Schedules <span class="muted small">(${schedules.length})</span></h1>
${stale > 0 ? html`<div class="flash error">${stale} stale schedule${stale === 1 ? "" : "s"}: last declared before every live pool started, so no code that runs now declares ${stale === 1 ? "it" : "them"}. Remove with <code>prisma.$jobs.unschedule(idOrName)</code>.</div>` : ""}
${livePools === 0 && schedules.length > 0 ? html`<p class="muted small">No live worker pools: staleness cannot be told, and no schedule fires until a worker runs.</p>` : ""}
<div class="card">
${schedules.length === 0
  ? html`<p class="muted">&nbsp;&nbsp;No schedules. Declare one with <code>prisma.$jobs.schedule("0 4 * * *", Cleanup({ … }))</code>.</p>`
  : html`<table><thead><tr><th>Schedule</th><th>Spec</th><th>Job</th><th>Queue</th><th>Next run</th><th>Last run</th><th>Declared</th><th>Payload</th></tr></thead><tbody>
${schedules.map(
      (s) => html`<tr>
  <td>${s.name ?? html`<span class="muted">#${s.id}</span>`}${s.stale ? html` ${badge("stale")}` : ""}</td>
  <td class="mono">${s.spec}${s.timezone !== "UTC" ? html` <span class="muted">${s.timezone}</span>` : ""}</td>
  <td>${s.type}</td>
  <td><a href="${link(ctx, `/queues/${enc(s.queue)}`)}">${s.queue}</a></td>
  <td class="small">${time(s.nextRunAt, ctx.now)}</td>
  <td class="small">${time(s.lastRunAt, ctx.now)}</td>
  <td class="small">${time(s.declaredAt, ctx.now)}</td>
  <td class="small mono">${firstLine(prettyJson(s.payload, 0), 80)}</td>
</tr>`,
    )}</tbody></table>`}
</div>`,
  );
}

// --- workers -----------------------------------------------------------------------------------

export function workersPage(ctx: ViewContext, pools: PoolInfo[]): SafeHtml {
  const live = pools.filter((p) => p.alive);
  const dead = pools.length - live.length;
  return layout(
    ctx,
    "Workers",
    "workers",
    html`<h1>Worker pools <span class="muted small">(${live.length} live)</span></h1>
<div class="card">
${pools.length === 0
  ? html`<p class="muted">&nbsp;&nbsp;No worker pools have reported yet.</p>`
  : html`<table><thead><tr><th>Pool</th><th>Queue</th><th>Job types</th><th class="num">Running</th><th class="num">Size</th><th>Host</th><th class="num">PID</th><th>Started</th><th>Last seen</th></tr></thead><tbody>
${pools.map(
      (p) => html`<tr>
  <td>${p.name} ${p.alive ? "" : badge("not seen", "dead")}</td>
  <td><a href="${link(ctx, `/queues/${enc(p.queue)}`)}">${p.queue}</a></td>
  <td class="small">${p.jobTypes.join(", ")}</td>
  <td class="num">${p.running}</td>
  <td class="num">${p.size}</td>
  <td class="small">${p.host ?? ""}</td>
  <td class="num small">${p.pid ?? ""}</td>
  <td class="small">${time(p.startedAt, ctx.now)}</td>
  <td class="small">${relative(p.lastSeenAt, ctx.now)}</td>
</tr>`,
    )}</tbody></table>`}
</div>
${dead > 0 ? html`<p class="muted small">${dead} pool${dead === 1 ? "" : "s"} not seen for over a minute: stopped without cleaning up, or unreachable.</p>` : ""}`,
  );
}

// --- login and errors --------------------------------------------------------------------------

export function loginPage(ctx: ViewContext, next: string, failed: boolean): SafeHtml {
  return layout(
    { ...ctx, signedIn: false },
    "Sign in",
    "none",
    html`<div class="login card pad">
<h1>Sign in</h1>
${failed ? html`<div class="flash error">That token is not right.</div>` : ""}
<form method="post" action="${link(ctx, "/login")}">
  <input type="hidden" name="${CSRF_FIELD}" value="${ctx.csrf}">
  <input type="hidden" name="next" value="${next}">
  <label>Access token<input type="password" name="token" autocomplete="current-password" required autofocus></label>
  <button type="submit" class="primary">Sign in</button>
</form>
<p class="muted small">The token is the one the dashboard was started with (<code>--token</code> or <code>ARROWER_JOBS_UI_TOKEN</code>).</p>
</div>`,
  );
}

export function errorPage(ctx: ViewContext, status: number, title: string, message: string): SafeHtml {
  return layout(
    ctx,
    title,
    "none",
    html`<h1>${title} <span class="muted small">(${status})</span></h1>
<div class="flash error">${message}</div>
<p><a href="${link(ctx, "/")}">Back to the overview</a></p>`,
  );
}
