/**
 * Small pieces the pages share: the layout, links under the base path, POST forms with their
 * CSRF token, state badges, times, the throughput sparkline and the pager.
 */
import { html, unsafeRaw, type HtmlValue, type SafeHtml } from "../html.ts";
import { CSRF_FIELD } from "../csrf.ts";

/** A message shown once after an action (Post/Redirect/Get). */
export interface Flash {
  /** `running`: the action was refused because a worker runs the job now. */
  kind: "ok" | "error" | "running";
  text: string;
}

/** What every view needs besides its data. */
export interface ViewContext {
  /** Mount path without a trailing slash: "" or e.g. "/admin/jobs". */
  base: string;
  /** The CSRF token every form carries. */
  csrf: string;
  flash: Flash | null;
  /** Whether a token protects the UI (then a "sign out" button is shown). */
  signedIn: boolean;
  now: Date;
}

/** A URL under the base path: `link(ctx, "/queues/" + enc(name), { state })`; query values are encoded. */
export function link(ctx: { base: string }, path: string, query?: Record<string, string | null | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) if (value !== null && value !== undefined && value !== "") params.set(key, value);
  const search = params.toString();
  return `${ctx.base}${path}${search ? `?${search}` : ""}`;
}

/** One path segment, percent-encoded. */
export const enc = encodeURIComponent;

type Section = "overview" | "failed" | "schedules" | "workers" | "none";

/** The page around `body`. */
export function layout(ctx: ViewContext, title: string, section: Section, body: HtmlValue): SafeHtml {
  const nav = (target: Section, path: string, label: string) =>
    html`<a href="${link(ctx, path)}"${target === section ? html` class="active" aria-current="page"` : ""}>${label}</a>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<link rel="icon" href="data:,">
<title>${title} · arrower-jobs</title>
<link rel="stylesheet" href="${link(ctx, "/assets/app.css")}">
<script src="${link(ctx, "/assets/app.js")}" defer></script>
</head>
<body data-base="${ctx.base}">
<header>
  <a class="brand" href="${link(ctx, "/")}">arrower-jobs</a>
  <nav>
    ${nav("overview", "/", "Overview")}
    ${nav("failed", "/failed", "Failed")}
    ${nav("schedules", "/schedules", "Schedules")}
    ${nav("workers", "/workers", "Workers")}
  </nav>
  <span class="refresh" id="refresh-status" aria-live="polite"></span>
  ${ctx.signedIn ? postForm(ctx, "/logout", "Sign out") : ""}
</header>
<main>
${ctx.flash ? html`<div class="flash ${ctx.flash.kind}" role="status">${ctx.flash.kind === "running" ? html`<strong>Running:</strong> ` : ""}${ctx.flash.text}</div>` : ""}
${body}
</main>
</body>
</html>`;
}

/** A one-button POST form with the CSRF token and optional hidden fields. */
export function postForm(
  ctx: ViewContext,
  path: string,
  label: string,
  options: { fields?: Record<string, string>; confirm?: string; className?: string; title?: string } = {},
): SafeHtml {
  const fields = Object.entries(options.fields ?? {}).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`);
  return html`<form method="post" action="${link(ctx, path)}"${options.confirm ? html` data-confirm="${options.confirm}"` : ""}><input type="hidden" name="${CSRF_FIELD}" value="${ctx.csrf}">${fields}<button type="submit"${options.className ? html` class="${options.className}"` : ""}${options.title ? html` title="${options.title}"` : ""}>${label}</button></form>`;
}

/** A job state (or "paused", "stale", …) as a coloured badge. */
export function badge(text: string, kind: string = text): SafeHtml {
  return html`<span class="badge ${kind}">${text}</span>`;
}

/**
 * A timestamp: UTC, with "… ago"/"in …" relative to now, in a <time> element. A time that is no
 * date (PostgreSQL's 'infinity' arrives as the number Infinity) shows as a dash.
 */
export function time(date: Date | null | undefined, now: Date): SafeHtml {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) return html`<span class="muted">—</span>`;
  const iso = date.toISOString();
  return html`<time datetime="${iso}" title="${iso}">${iso.slice(0, 19).replace("T", " ")}Z <span class="muted small">(${relative(date, now)})</span></time>`;
}

/** "3 min ago", "in 2 h". */
export function relative(date: Date, now: Date): string {
  const ms = date.getTime() - now.getTime();
  const abs = Math.abs(ms);
  const text =
    abs < 1_000 ? "now"
    : abs < 60_000 ? `${Math.round(abs / 1_000)} s`
    : abs < 3_600_000 ? `${Math.round(abs / 60_000)} min`
    : abs < 172_800_000 ? `${Math.round(abs / 3_600_000)} h`
    : `${Math.round(abs / 86_400_000)} d`;
  if (text === "now") return text;
  return ms < 0 ? `${text} ago` : `in ${text}`;
}

/** A duration in ms as "850 ms", "12.3 s", "4 min". */
export function duration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/** A numeric cell that the auto-refresh keeps current. */
export function statCell(queue: string, stat: string, value: number, href?: string): SafeHtml {
  const inner = html`<span data-queue="${queue}" data-stat="${stat}" class="num${value === 0 ? " zero" : ""}">${value}</span>`;
  return html`<td class="num${value === 0 ? " zero" : ""}">${href ? html`<a href="${href}">${inner}</a>` : inner}</td>`;
}

/**
 * The last hour's throughput as an inline SVG: succeeded jobs per 5-minute bucket as a line
 * over a filled area, failed ones as red ticks along the bottom. Built from numbers only.
 */
export function sparkline(succeeded: number[], failed: number[], label: string): SafeHtml {
  const width = 120;
  const height = 28;
  const n = succeeded.length;
  const max = Math.max(1, ...succeeded.map((v, i) => v + (failed[i] ?? 0)));
  const x = (i: number) => (n <= 1 ? 0 : (i * width) / (n - 1));
  const y = (v: number) => height - 2 - (v / max) * (height - 4);
  const points = succeeded.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  const area = `0,${height} ${points} ${width},${height}`;
  const ticks = failed
    .map((v, i) => (v > 0 ? `<rect class="bad" x="${Math.max(0, x(i) - 1.5).toFixed(1)}" y="${height - 4}" width="3" height="4"/>` : ""))
    .join("");
  return html`<svg class="spark" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${label}"><title>${label}</title>${unsafeRaw(
    `<polygon class="area" points="${area}"/><polyline class="ok" points="${points}"/>${ticks}`,
  )}</svg>`;
}

/** "Older →" (and "Newest" when not on the first page) for keyset pagination. */
export function pager(ctx: ViewContext, path: string, query: Record<string, string | null | undefined>, cursor: string | null, next: string | null): SafeHtml {
  if (!cursor && !next) return html``;
  return html`<div class="pager">
    ${cursor ? html`<a href="${link(ctx, path, { ...query, cursor: null })}">← Newest</a>` : ""}
    ${next ? html`<a href="${link(ctx, path, { ...query, cursor: next })}" rel="next">Older →</a>` : html`<span class="muted">end of list</span>`}
  </div>`;
}

/** The first line of a text (an error's message before its stack). */
export function firstLine(text: string | null | undefined, max = 160): string {
  if (!text) return "";
  const line = text.split("\n", 1)[0]!;
  return line.length > max ? `${line.slice(0, max)}…` : line;
}
