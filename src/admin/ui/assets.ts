/**
 * The UI's stylesheet and script, served as files from `/assets/…` (the Content-Security-Policy
 * allows scripts and styles from the UI's own origin only: no inline script, no inline style).
 * Kept here as strings so the package needs no build step and no file copying for them.
 *
 * The script is progressive enhancement only; every page and action works without it:
 * - counts marked `data-stat` refresh every 5 s from `/api/stats` (paused while the tab is hidden);
 * - a job page of a job that is still live reloads when the job's state changes, and shows the
 *   progress a running job reports as it comes;
 * - a workflow page with live jobs reloads when one of its jobs changes state (every 2 s);
 * - forms marked `data-confirm` ask before they submit.
 */

export const APP_CSS = `
:root { --fg:#1d2330; --muted:#667085; --line:#e4e7ec; --bg:#f6f7f9; --card:#fff; --accent:#3355dd;
  --ok:#12805c; --bad:#c4320a; --warn:#b54708; --run:#7a5af8; --idle:#98a2b3; }
* { box-sizing: border-box; }
[hidden] { display:none !important; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--fg); background:var(--bg); }
a { color:var(--accent); text-decoration:none; } a:hover { text-decoration:underline; }
header { display:flex; align-items:center; gap:24px; padding:10px 24px; background:#111827; color:#fff; }
header .brand { color:#fff; font-weight:700; letter-spacing:.2px; }
header nav { display:flex; gap:16px; flex:1; }
header nav a { color:#cbd5e1; } header nav a.active { color:#fff; font-weight:600; }
header .refresh { color:#94a3b8; font-size:12px; }
header form { margin:0; }
header button { background:transparent; color:#cbd5e1; border:1px solid #475569; }
main { padding:20px 24px 48px; max-width:1400px; margin:0 auto; }
h1 { font-size:20px; margin:4px 0 16px; display:flex; align-items:center; gap:10px; flex-wrap:wrap; }
h1 .mono { font-size:inherit; } h1 button { font-weight:400; }
h2 { font-size:15px; margin:28px 0 10px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:0; overflow-x:auto; }
.card.pad { padding:14px 16px; }
table { border-collapse:collapse; width:100%; }
th, td { text-align:left; padding:8px 12px; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-size:12px; font-weight:600; color:var(--muted); text-transform:uppercase; letter-spacing:.4px; background:#fafbfc; white-space:nowrap; }
tr:last-child td { border-bottom:none; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
td.zero { color:var(--idle); }
.muted { color:var(--muted); }
.small { font-size:12px; }
.mono, pre, code { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:12.5px; }
pre { background:#0f172a; color:#e2e8f0; padding:12px 14px; border-radius:6px; overflow:auto; max-height:480px; margin:0; white-space:pre-wrap; word-break:break-word; }
.badge { display:inline-block; padding:1px 8px; border-radius:999px; font-size:12px; font-weight:600; background:#eef2f6; color:#344054; white-space:nowrap; }
.badge.available { background:#e0eaff; color:#3538cd; }
.badge.scheduled { background:#f2f4f7; color:#475467; }
.badge.waiting { background:#e0f2fe; color:#026aa2; }
.badge.running { background:#ebe9fe; color:#5925dc; }
.badge.running::before { content:""; display:inline-block; width:7px; height:7px; border-radius:50%; background:var(--run); margin-right:6px; vertical-align:1px; }
.badge.succeeded { background:#d1fadf; color:#05603a; }
.badge.failed { background:#fee4e2; color:#b42318; }
.badge.cancelled { background:#f2f4f7; color:#667085; }
.badge.paused { background:#fef0c7; color:#93370d; }
.badge.stale { background:#fef0c7; color:#93370d; }
.badge.dead { background:#f2f4f7; color:#98a2b3; }
.flash { padding:10px 14px; border-radius:6px; margin-bottom:16px; border:1px solid; }
.flash.ok { background:#ecfdf3; border-color:#abefc6; color:#05603a; }
.flash.error { background:#fef3f2; border-color:#fecdca; color:#b42318; }
.flash.running { background:#f4f3ff; border-color:#d9d6fe; color:#5925dc; font-weight:600; }
.actions { display:flex; gap:8px; flex-wrap:wrap; align-items:center; }
.actions form, td form { display:inline; margin:0; }
button, .button { font:inherit; font-size:13px; padding:4px 12px; border-radius:6px; border:1px solid #d0d5dd; background:#fff; color:var(--fg); cursor:pointer; }
button:hover { background:#f9fafb; }
button.primary { background:var(--accent); color:#fff; border-color:var(--accent); }
button.danger { color:var(--bad); border-color:#fda29b; }
input, select { font:inherit; font-size:13px; padding:4px 8px; border:1px solid #d0d5dd; border-radius:6px; background:#fff; }
input[type=number] { width:80px; }
form.filters { display:flex; gap:8px; align-items:center; margin:0 0 12px; flex-wrap:wrap; }
.tabs { display:flex; gap:4px; margin:0 0 12px; flex-wrap:wrap; }
.tabs a { padding:4px 12px; border-radius:6px; color:var(--fg); }
.tabs a.active { background:#111827; color:#fff; }
.pager { display:flex; gap:16px; padding:10px 12px; }
dl.facts { display:grid; grid-template-columns:max-content 1fr; gap:6px 20px; margin:0; }
dl.facts dt { color:var(--muted); }
dl.facts dd { margin:0; word-break:break-all; }
.grid2 { display:grid; grid-template-columns:minmax(300px, 1fr) minmax(300px, 1.4fr); gap:16px; }
@media (max-width: 900px) { .grid2 { grid-template-columns:1fr; } }
details summary { cursor:pointer; }
.error-text { color:#b42318; }
svg.spark { display:block; }
svg.spark .ok { fill:none; stroke:var(--ok); stroke-width:1.5; }
svg.spark .area { fill:#d1fadf; stroke:none; }
svg.spark .bad { fill:var(--bad); }
.login { max-width:380px; margin:80px auto; }
.login input { width:100%; margin:8px 0 12px; }
.pools span { display:inline-block; margin-right:6px; }
`;

export const APP_JS = `"use strict";
(function () {
  var body = document.body;
  var base = body.getAttribute("data-base") || "";

  // Forms marked data-confirm ask first.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute ? form.getAttribute("data-confirm") : null;
    if (question && !window.confirm(question)) event.preventDefault();
  });

  var status = document.getElementById("refresh-status");
  function say(text) { if (status) status.textContent = text; }
  function getJson(path) {
    return fetch(base + path, { credentials: "same-origin", headers: { accept: "application/json" } }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    });
  }

  // Counts: elements with data-queue and data-stat take the numbers of /api/stats.
  var cells = document.querySelectorAll("[data-stat]");
  if (cells.length > 0) {
    var refresh = function () {
      if (document.hidden) return later();
      getJson("/api/stats").then(function (data) {
        var byQueue = {};
        data.queues.forEach(function (q) { byQueue[q.queue] = q; });
        for (var i = 0; i < cells.length; i++) {
          var cell = cells[i];
          var q = byQueue[cell.getAttribute("data-queue")];
          var key = cell.getAttribute("data-stat");
          if (!q || !(key in q)) continue;
          var value = q[key];
          if (typeof value === "boolean") { cell.hidden = !value; continue; }
          var text = String(value);
          if (cell.textContent !== text) cell.textContent = text;
          if (cell.classList.contains("num")) cell.classList.toggle("zero", value === 0);
        }
        say("updated " + new Date().toLocaleTimeString());
      }).catch(function (error) { say("refresh failed (" + error.message + ")"); }).then(later);
    };
    var later = function () { setTimeout(refresh, 5000); };
    later();
  }

  // A live job's page reloads when the job's state changes (e.g. after "Retry"). New progress
  // of a running job replaces the shown one in place (as text: never parsed as markup).
  var watch = document.querySelector("[data-watch-job]");
  if (watch) {
    var id = watch.getAttribute("data-watch-job");
    var seen = watch.getAttribute("data-state");
    var seenProgress = watch.getAttribute("data-progress-at") || "";
    var progressBox = document.querySelector("[data-progress]");
    var progressTime = document.querySelector("[data-progress-time]");
    var poll = function () {
      if (document.hidden) return setTimeout(poll, 1000);
      getJson("/api/jobs/" + encodeURIComponent(id)).then(function (job) {
        if (!job || job.state !== seen) { window.location.reload(); return; }
        var at = job.progress ? job.progress.updatedAt : "";
        if (at !== seenProgress) {
          // First progress (no box to fill yet) or none any more: the page shows it afresh.
          if (!job.progress || !progressBox) { window.location.reload(); return; }
          progressBox.textContent = JSON.stringify(job.progress.value, null, 2);
          if (progressTime) progressTime.textContent = at.slice(0, 19).replace("T", " ") + "Z";
          seenProgress = at;
        }
        setTimeout(poll, 1000);
      }).catch(function () { setTimeout(poll, 5000); });
    };
    setTimeout(poll, 1000);
  }

  // A workflow's page reloads when one of its jobs changes state (or attempts).
  var workflow = document.querySelector("[data-watch-workflow]");
  if (workflow) {
    var workflowId = workflow.getAttribute("data-watch-workflow");
    var version = workflow.getAttribute("data-version");
    var pollWorkflow = function () {
      if (document.hidden) return setTimeout(pollWorkflow, 2000);
      getJson("/api/workflows/" + encodeURIComponent(workflowId)).then(function (data) {
        if (!data || data.version !== version) { window.location.reload(); return; }
        setTimeout(pollWorkflow, 2000);
      }).catch(function () { setTimeout(pollWorkflow, 5000); });
    };
    setTimeout(pollWorkflow, 2000);
  }
})();
`;
