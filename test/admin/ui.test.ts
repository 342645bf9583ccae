/**
 * The admin UI at the handler level: `createAdminApp(...)` called with `Request`s, as a server
 * that mounts it would. A small cookie jar plays the browser. Real PostgreSQL, a real worker
 * pool where a job has to fail or run.
 */
import { spawn } from "node:child_process";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { beforeAll, describe, expect, it, onTestFinished, vi } from "vitest";
import { defineJob, dependsOn, InvalidOptionsError, UnrecoverableError, type Queue } from "../../src/index.ts";
import { createAdminApp, serveAdmin, type FetchHandler } from "../../src/admin/ui/index.ts";
import { resolveServeOptions } from "../../src/admin/ui/server.ts";
import { escapeHtml, html } from "../../src/admin/ui/html.ts";
import { useTestApp, waitFor } from "../helpers/app.ts";
import { engineOf, type JobsClient } from "../../src/client.ts";

const Task = defineJob<{ n: number }>("task");
const Note = defineJob<{ text: string; tags?: Set<string>; at?: Date }>("note");
const Other = defineJob<{ n: number }>("other");
const Upload = defineJob<{ file: string }>("upload", { mode: "lease", leaseTimeout: 60_000 });
const Fetch = defineJob<{ url: string }>("wf-fetch");
const Audit = defineJob<{ url: string }>("wf-audit");
const Resize = defineJob<{ width: number }>("wf-resize");
const Publish = defineJob<{ to: string }>("wf-publish");

/** A gate a handler waits at until the test opens it. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

const TOKEN = "s3cret-token-for-tests-0123456789";
const ORIGIN = "http://127.0.0.1:4100";

/** A browser in miniature: keeps cookies, reads the CSRF token off pages. */
class Client {
  readonly cookies = new Map<string, string>();
  constructor(
    readonly handler: FetchHandler,
    readonly base = "",
  ) {}

  async request(path: string, init: Omit<RequestInit, "headers"> & { headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: "text/html", ...init.headers };
    if (this.cookies.size > 0) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    const response = await this.handler(new Request(ORIGIN + this.base + path, { ...init, headers, redirect: "manual" }));
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const [name, ...value] = pair!.split("=");
      if (/max-age=0/i.test(line) || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name!);
      else this.cookies.set(name!, value.join("="));
    }
    return response;
  }

  get(path: string, headers: Record<string, string> = {}) {
    return this.request(path, { headers });
  }

  async page(path: string): Promise<string> {
    const response = await this.get(path);
    expect(response.status, `GET ${path}`).toBe(200);
    return response.text();
  }

  /** The CSRF token of the forms on `path`. */
  async csrf(path = "/"): Promise<string> {
    const text = await this.page(path);
    const token = /name="_csrf" value="([^"]+)"/.exec(text)?.[1];
    expect(token).toBeTruthy();
    return token!;
  }

  post(path: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
    return this.request(path, {
      method: "POST",
      body: new URLSearchParams(fields),
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    });
  }

  /** Posts like the page's form does (with the token), then follows the redirect. */
  async submit(path: string, fields: Record<string, string> = {}, from = "/"): Promise<{ response: Response; page: string; location: string }> {
    const response = await this.post(path, { _csrf: await this.csrf(from), ...fields });
    expect(response.status, `POST ${path}`).toBe(303);
    const location = response.headers.get("location")!;
    const next = await this.get(location.slice(this.base.length));
    return { response, page: await next.text(), location };
  }
}

/** One HTTP/1.1 request to 127.0.0.1:`port` with the headers as given (Host included), as a browser would send it. */
function raw(port: number, method: string, path: string, headers: Record<string, string>, body?: string) {
  return new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, method, path, headers, setHost: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Text of the flash message on a page. */
function flashOf(page: string): string | undefined {
  return /<div class="flash (\w+)" role="status">([\s\S]*?)<\/div>/.exec(page)?.slice(1).join(": ");
}

describe("admin UI (handler)", () => {
  const { app, queues } = useTestApp();
  let ui: FetchHandler;
  beforeAll(() => {
    ui = createAdminApp(app.prisma);
  });

  /** A pool whose handler fails while `failing.on`. */
  async function failingPool(name: string, failing: { on: boolean }) {
    const queue = app.prisma.$jobs.queue(name, { poolSize: 1, pollInterval: 100 });
    queues.push(queue);
    await queue.register(Note, async (job) => {
      if (failing.on) throw new UnrecoverableError(`could not deliver <b>${job.text}</b><script>alert("err")</script>`);
    });
    await queue.start();
    return queue;
  }

  it("the html helper escapes everything interpolated, and nested templates once", () => {
    const evil = `<script>alert('x')</script>"&`;
    expect(html`<p title="${evil}">${evil}</p>`.toString()).toBe(
      `<p title="&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;">&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;</p>`,
    );
    expect(html`<ul>${["<a>", html`<li>${"<b>"}</li>`]}</ul>`.toString()).toBe("<ul>&lt;a&gt;<li>&lt;b&gt;</li></ul>");
    expect(html`${null}${undefined}${false}${0}`.toString()).toBe("0");
    expect(escapeHtml(`'"<>&`)).toBe("&#39;&quot;&lt;&gt;&amp;");
  });

  it("every page renders; a payload and an error containing <script> show as text, never as markup", async () => {
    const failing = { on: true };
    await failingPool("escaping", failing);
    const evil = `<script>window.__xss = 1</script><img src=x onerror="alert(1)">`;
    const id = await app.prisma.$jobs.enqueue(Note({ text: evil, tags: new Set(["a&b"]), at: new Date("2030-01-02T03:04:05Z") }), {
      queue: "escaping",
      dedupKey: `"><svg onload=alert(1)>`,
    });
    await waitFor(async () => (await app.prisma.$jobs.getJob(id))?.state === "failed", 10_000, "the job to fail");

    const client = new Client(ui);
    const job = await client.page(`/jobs/${id}`);
    expect(job).not.toContain("<script>window.__xss");
    expect(job).not.toContain("<img src=x");
    expect(job).not.toContain("<svg onload");
    expect(job).not.toContain('<script>alert("err")');
    expect(job).toContain(escapeHtml(JSON.stringify(evil).slice(1, -1)));
    expect(job).toContain("&lt;b&gt;" + escapeHtml(evil)); // the error, with its stack, as text
    expect(job).toContain("UnrecoverableError");
    expect(job).toContain("2030-01-02T03:04:05.000Z"); // a Date payload field, readable
    expect(job).toContain("a&amp;b"); // a Set, as a list
    // The only <script> on any page is our own file.
    for (const path of ["/", "/queues/escaping?state=failed", `/jobs/${id}`, "/failed", "/failed?queue=escaping&type=note", "/schedules", "/workers"]) {
      const page = await client.page(path);
      expect(page.match(/<script/g), path).toEqual(["<script"]);
      expect(page).toContain(`<script src="/assets/app.js" defer></script>`);
      expect(page).not.toMatch(/<img\b|<svg onload/);
    }
  });

  it("a succeeded job's page shows its result, escaped like payloads; a job without one shows no Result section", async () => {
    const Render = defineJob<{ n: number }, { html: string; at: Date; counts: Map<string, number> } | undefined>("render");
    const queue = app.prisma.$jobs.queue("results-ui", { poolSize: 1, pollInterval: 100, autoStartDelay: 0 });
    queues.push(queue);
    const evil = `<script>window.__xss = 1</script><img src=x onerror="alert(1)">`;
    await queue.register(Render, async (job) => (job.n === 0 ? undefined : { html: evil, at: new Date("2031-02-03T04:05:06Z"), counts: new Map([["a<b", 2]]) }));
    const [withResult, without] = await app.prisma.$jobs.enqueue([Render({ n: 1 }), Render({ n: 0 })], { queue: "results-ui" });
    await queue.start();
    await waitFor(async () => (await app.count("job_history", "queue = 'results-ui'")) === 2, 10_000, "both jobs to finish");

    const client = new Client(ui);
    const page = await client.page(`/jobs/${withResult}`);
    expect(page).toContain("<h2>Result</h2>");
    expect(page).not.toContain("<script>window.__xss");
    expect(page).not.toContain("<img src=x");
    expect(page).toContain(escapeHtml(JSON.stringify(evil).slice(1, -1)));
    expect(page).toContain("2031-02-03T04:05:06.000Z"); // a Date, readable
    expect(page).toContain(escapeHtml(`"a<b": 2`)); // a Map, as an object
    expect(page.match(/<script/g)).toEqual(["<script"]);
    expect(await client.page(`/jobs/${without}`)).not.toContain("<h2>Result</h2>");
  });

  it("security headers on pages, errors, JSON and refusals; the script and stylesheet are files", async () => {
    const client = new Client(ui);
    const responses = [
      await client.get("/"),
      await client.get("/nope"),
      await client.get("/api/stats", { accept: "application/json" }),
      await client.post("/queues/x/pause", {}),
      await client.get("/assets/app.js"),
    ];
    expect(responses.map((r) => r.status)).toEqual([200, 404, 200, 403, 200]);
    for (const r of responses) {
      const csp = r.headers.get("content-security-policy")!;
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain("unsafe-inline");
      expect(r.headers.get("x-frame-options")).toBe("DENY");
      // Nothing to other origins; the UI's own forms send their real Origin (see the Origin check).
      expect(r.headers.get("referrer-policy")).toBe("same-origin");
      expect(r.headers.get("x-content-type-options")).toBe("nosniff");
    }
    expect(responses[4]!.headers.get("content-type")).toMatch(/^text\/javascript/);
    expect(await responses[4]!.text()).toContain("/api/stats");
  });

  it("a POST without the CSRF token, with a wrong one, with another browser's, or from another site is refused and changes nothing", async () => {
    const a = new Client(ui);
    const b = new Client(ui);
    const tokenA = await a.csrf();
    await b.csrf();
    const attempts = [
      await a.post("/queues/csrf/pause", {}),
      await a.post("/queues/csrf/pause", { _csrf: "x".repeat(43) }),
      await b.post("/queues/csrf/pause", { _csrf: tokenA }), // b's cookie, a's token
      await a.post("/queues/csrf/pause", { _csrf: tokenA }, { "sec-fetch-site": "cross-site" }),
      await new Client(ui).post("/queues/csrf/pause", { _csrf: tokenA }), // no cookie at all
    ];
    for (const response of attempts) {
      expect(response.status).toBe(403);
      expect(await response.text()).toContain("CSRF token is missing or does not match");
    }
    expect(await app.count("queues", "name = 'csrf'")).toBe(0);

    const huge = await a.post("/queues/csrf/pause", { _csrf: tokenA, filler: "x".repeat(100_000) });
    expect(huge.status).toBe(413);

    const ok = await a.post("/queues/csrf/pause", { _csrf: tokenA });
    expect(ok.status).toBe(303);
    expect(await app.rows(`SELECT paused FROM arrower.queues WHERE name = 'csrf'`)).toEqual([{ paused: true }]);
    // The cookie the token is bound to: HttpOnly, SameSite=Strict.
    const fresh = await new Client(ui).get("/");
    expect(fresh.headers.getSetCookie().find((c) => c.startsWith("arrower_jobs_csrf="))).toMatch(/HttpOnly.*SameSite=Strict|SameSite=Strict.*HttpOnly/);
  });

  it("actions confirm what they did: pause, resume, retry, cancel, delete, requeue all of a type, prune", async () => {
    const client = new Client(ui);
    let r = await client.submit("/queues/actions/pause");
    expect(flashOf(r.page)).toBe("ok: Queue actions paused: no worker claims its jobs until you resume it; running jobs finish.");
    expect(r.location).toBe("/queues/actions");
    expect(r.page).toMatch(/data-stat="paused" class="badge paused">paused/); // shown, not hidden
    // The message is shown once.
    expect(flashOf(await client.page("/queues/actions"))).toBeUndefined();
    r = await client.submit("/queues/actions/resume", { back: "/" });
    expect(r.location).toBe("/");
    expect(flashOf(r.page)).toContain("Queue actions resumed");

    const later = new Date(Date.now() + 3_600_000);
    const [a, b] = await app.prisma.$jobs.enqueue([Task({ n: 1 }), Task({ n: 2 })], { queue: "actions", runAt: later });
    r = await client.submit(`/jobs/${a}/retry`);
    expect(flashOf(r.page)).toBe(`ok: Job ${a} is due now: a worker will run it shortly.`);
    expect((await app.prisma.$jobs.getJob(a!))!.state).toBe("available");
    r = await client.submit(`/jobs/${a}/cancel`);
    expect(flashOf(r.page)).toContain(`Job ${a} cancelled`);
    expect(r.page).toContain(`<span class="badge cancelled">cancelled</span>`);
    r = await client.submit(`/jobs/${a}/retry`);
    expect(flashOf(r.page)).toBe(`ok: Job ${a} (cancelled) is queued again as a fresh job, attempts from zero.`);
    r = await client.submit(`/jobs/${b}/delete`);
    expect(r.location).toBe("/queues/actions");
    expect(flashOf(r.page)).toBe(`ok: Job ${b} deleted, with its attempts.`);
    expect(await app.prisma.$jobs.getJob(b!)).toBeNull();
    r = await client.submit(`/jobs/${b}/delete`);
    expect(flashOf(r.page)).toBe(`error: job ${b} not found`);

    // The pool runs the background pruner too (first round at a random moment in its first
    // minute), which would delete the 40-day-old job below before /prune does, and change its
    // count. Hold the pruner's lock, as another process's round would: the pool's rounds skip.
    const lockHolder = new pg.Client({ connectionString: app.url });
    await lockHolder.connect();
    onTestFinished(() => lockHolder.end());
    await lockHolder.query("BEGIN");
    expect((await lockHolder.query(engineOf(app.prisma.$jobs as unknown as JobsClient<unknown>).queries.pruneLock)).rows).toEqual([{ locked: true }]);
    const failing = { on: true };
    await failingPool("requeue", failing);
    const ids = await app.prisma.$jobs.enqueue([Note({ text: "1" }), Note({ text: "2" })], { queue: "requeue" });
    await waitFor(async () => (await app.count("job_history", "id = ANY($1::bigint[]) AND state = 'failed'", [ids])) === 2);
    const failedPage = await client.page("/failed?queue=requeue");
    expect(failedPage).toMatch(/<td><a href="\/failed\?queue=requeue&amp;type=note">note<\/a><\/td>\s*<td class="num">2<\/td>/);
    failing.on = false;
    r = await client.submit("/failed/requeue", { queue: "requeue", type: "note" }, "/failed");
    expect(flashOf(r.page)).toBe(`ok: Requeued 2 failed &quot;note&quot; jobs of queue requeue: they run again as fresh jobs.`);
    await waitFor(async () => (await app.count("job_history", "id = ANY($1::bigint[]) AND state = 'succeeded'", [ids])) === 2);

    await app.observer.query(`UPDATE arrower.job_history SET finished_at = now() - interval '40 days' WHERE id = $1`, [ids[0]]);
    r = await client.submit("/prune", { days: "30" });
    expect(flashOf(r.page)).toBe("ok: Pruned 1 job that finished more than 30 days ago (1 succeeded, 0 failed, 0 cancelled).");
    expect(await app.prisma.$jobs.getJob(ids[0]!)).toBeNull();
    expect(await app.prisma.$jobs.getJob(ids[1]!)).not.toBeNull();
    r = await client.submit("/prune", { days: "-1" });
    expect(flashOf(r.page)).toMatch(/^error: days must be a whole number/);
  });

  it("requeue all and retry say which failed jobs stay failed because a live job holds their dedup key", async () => {
    const failing = { on: true };
    const queue = await failingPool("dedup-ui", failing);
    const fail = async (text: string) => {
      const id = await queue.enqueue(Note({ text }), { dedupKey: "digest-42" });
      await waitFor(async () => (await app.count("job_history", "id = $1 AND state = 'failed'", [id])) === 1);
      return id;
    };
    const older = await fail("first");
    const newer = await fail("second");
    await queue.shutdown();
    const client = new Client(ui);
    const r = await client.submit("/failed/requeue", { queue: "dedup-ui" }, "/failed");
    expect(flashOf(r.page)).toBe(
      "ok: Requeued 1 failed job of queue dedup-ui: they run again as fresh jobs. 1 stays failed (one live job per dedup key): " +
        "a newer failed job with the same dedup key was requeued instead of 1.",
    );
    const retry = await client.post(`/jobs/${older}/retry`, { _csrf: await client.csrf() }, { accept: "application/json" });
    expect(retry.status).toBe(409);
    expect(await retry.json()).toEqual({
      ok: false,
      kind: "error",
      message: `job ${older} cannot run again now: job ${newer} in queue "dedup-ui" holds its dedup key "digest-42" (a dedup key names one live job per queue); retry it once job ${newer} has finished, or cancel that one first`,
    });
    expect((await app.prisma.$jobs.getJob(older))!.state).toBe("failed");
  });

  it("an action on a running job is refused at once and says 'running'", async () => {
    const queue = app.prisma.$jobs.queue("busy", { poolSize: 1, pollInterval: 100 });
    queues.push(queue);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    await queue.register(Task, () => held);
    await queue.start();
    const id = await queue.enqueue(Task({ n: 1 }));
    await waitFor(async () => (await app.running()).includes(id));

    const client = new Client(ui);
    const page = await client.page(`/jobs/${id}`);
    expect(page).toContain(`<span class="badge running">running</span>`);
    expect(page).not.toContain(`/jobs/${id}/cancel`); // no buttons that cannot work
    const t0 = Date.now();
    const r = await client.post(`/jobs/${id}/cancel`, { _csrf: await client.csrf() });
    expect(Date.now() - t0).toBeLessThan(1_000);
    const shown = await client.page(r.headers.get("location")!);
    expect(flashOf(shown)).toBe(`running: <strong>Running:</strong> job ${id} is running: cannot cancel it now, try again when it has finished`);
    const json = await client.post(`/jobs/${id}/delete`, { _csrf: await client.csrf() }, { accept: "application/json" });
    expect(json.status).toBe(409);
    expect(await json.json()).toEqual({ ok: false, kind: "running", message: `job ${id} is running: cannot delete it now, try again when it has finished` });
    release();
    await waitFor(async () => (await app.prisma.$jobs.getJob(id))?.state === "succeeded");
  });

  it("a running lease-mode job shows as running with its lease and progress (escaped), is listed under Running now, and Cancel stops it", async () => {
    const queue = app.prisma.$jobs.queue("uploads", { poolSize: 1, pollInterval: 100, autoStartDelay: 60_000, poolName: "uploader-1" });
    queues.push(queue);
    const reported = gate();
    let reason: unknown;
    const evil = `<script>window.__xss = 1</script><img src=x onerror="alert(1)">`;
    await queue.register(Upload, async (_, { progress, signal }) => {
      // Keys in the order jsonb keeps them (shorter first).
      await progress({ of: 10, note: evil, sent: 3 });
      reported.open();
      await new Promise((resolve) => signal.addEventListener("abort", resolve));
      reason = signal.reason;
    });
    const id = await queue.enqueue(Upload({ file: "a.bin" }));
    const waiting = await queue.enqueue(Upload({ file: "b.bin" }), { runAt: new Date(Date.now() + 3_600_000) });
    await queue.start();
    await reported.opened;
    const job = (await app.prisma.$jobs.getJob(id))!;

    const client = new Client(ui);
    const page = await client.page(`/jobs/${id}`);
    expect(page).toContain(`<h1 data-watch-job="${id}" data-state="running" data-progress-at="${job.progress!.updatedAt.toISOString()}">`);
    expect(page).toContain(`<span class="badge running">running</span>`);
    expect(page).toContain(`<dd data-lease>held by uploader-1, expires <time datetime="${job.lease!.expiresAt.toISOString()}"`);
    expect(page).toContain("<h2>Progress</h2>");
    expect(page).toContain(`<pre class="payload progress" data-progress>{\n  &quot;of&quot;: 10,\n  &quot;note&quot;: &quot;${escapeHtml(JSON.stringify(evil).slice(1, -1))}&quot;,\n  &quot;sent&quot;: 3\n}</pre>`);
    expect(page).not.toContain("<script>window.__xss");
    expect(page).not.toContain("<img src=x");
    expect(page).toContain("Running now: attempt 1 of 25.");
    // A lease-mode job can be cancelled while it runs, not retried or deleted.
    expect(page).toContain(`action="/jobs/${id}/cancel"`);
    expect(page).not.toContain(`action="/jobs/${id}/retry"`);
    expect(page).not.toContain(`action="/jobs/${id}/delete"`);

    // The page's live refresh sees it running, with its progress.
    const state = await (await client.get(`/api/jobs/${id}`, { accept: "application/json" })).json();
    expect(state).toEqual({ id, state: "running", attempts: 1, progress: { value: { of: 10, note: evil, sent: 3 }, updatedAt: job.progress!.updatedAt.toISOString() } });

    // The queue page lists it under Running now, and in neither job list (its run_at is the lease's expiry).
    for (const tab of ["available", "scheduled"]) {
      const queuePage = await client.page(`/queues/uploads?state=${tab}`);
      const [running, lists] = queuePage.split("<h2>Jobs</h2>");
      expect(running).toContain("<h2>Running now <span class=\"muted small\">(1)</span></h2>");
      expect(running).toContain(`<tr data-running-job="${id}">`);
      expect(running).toContain(`<td class="num">1/25</td>`);
      expect(running).toContain(`<span title="lease">uploader-1</span>`);
      expect(running).toContain(escapeHtml(`{"of":10,"note":"<script>window.__xss = 1</script><img src=x`));
      expect(queuePage).not.toContain("<script>window.__xss");
      expect(lists).not.toContain(`/jobs/${id}"`);
      expect(lists).not.toContain("running in its transaction");
      if (tab === "scheduled") expect(lists).toContain(`/jobs/${waiting}"`);
    }

    const cancelled = await client.submit(`/jobs/${id}/cancel`, {}, `/jobs/${id}`);
    expect(cancelled.location).toBe(`/jobs/${id}`);
    expect(flashOf(cancelled.page)).toBe(`ok: Job ${id} cancelled while it ran: its worker was told to stop it, and it stays in history as cancelled.`);
    expect(cancelled.page).toContain(`<span class="badge cancelled">cancelled</span>`);
    expect(cancelled.page).not.toContain("<h2>Progress</h2>"); // removed with the job
    await waitFor(async () => reason !== undefined, 5_000, "the handler's signal to abort");
    expect(reason).toMatchObject({ code: "LEASE_LOST", reason: "cancelled" });
    expect((await client.page("/queues/uploads")).includes("Running now")).toBe(false);
  });

  it("a transaction-mode job's progress shows while it runs; it is listed under Running now (and still as available), and cannot be cancelled", async () => {
    const queue = app.prisma.$jobs.queue("busy-progress", { poolSize: 1, pollInterval: 100, autoStartDelay: 60_000 });
    queues.push(queue);
    const reported = gate();
    const release = gate();
    await queue.register(Task, async (_, { progress }) => {
      await progress("halfway <b>there</b>");
      reported.open();
      await release.opened;
    });
    const id = await queue.enqueue(Task({ n: 1 }));
    await queue.start();
    await reported.opened;

    const client = new Client(ui);
    const page = await client.page(`/jobs/${id}`);
    expect(page).toContain(`<span class="badge running">running</span>`);
    expect(page).toContain(`<pre class="payload progress" data-progress>&quot;halfway &lt;b&gt;there&lt;/b&gt;&quot;</pre>`);
    expect(page).not.toContain("data-lease");
    expect(page).toContain("Running now: attempt 1 of 25.");
    expect(page).not.toContain(`/jobs/${id}/cancel`);
    expect(await (await client.get(`/api/jobs/${id}`, { accept: "application/json" })).json()).toMatchObject({ state: "running", attempts: 0, progress: { value: "halfway <b>there</b>" } });

    const queuePage = await client.page("/queues/busy-progress");
    const [running, lists] = queuePage.split("<h2>Jobs</h2>");
    expect(running).toContain(`<tr data-running-job="${id}">`);
    expect(running).toContain(`<span class="muted">its transaction</span>`);
    expect(running).toContain(escapeHtml(`"halfway <b>there</b>"`));
    // Its claim is not visible until it commits: the available list still shows it, and says why.
    expect(lists).toContain(`/jobs/${id}"`);
    expect(lists).toContain("1 job running in its transaction is listed as available too while it runs: a claim is not visible until it commits.");
    release.open();
    await waitFor(async () => (await app.prisma.$jobs.getJob(id))?.state === "succeeded", 10_000, "the job to succeed");
  });

  it("job lists page with a keyset cursor, newest first, filtered by state and type", async () => {
    const ids = await app.prisma.$jobs.enqueue(Array.from({ length: 120 }, (_, n) => (n % 4 === 0 ? Other({ n }) : Task({ n }))), { queue: "paging" });
    const client = new Client(ui);
    const seen: string[] = [];
    let path: string | null = "/queues/paging?state=available";
    const pages: number[] = [];
    while (path) {
      const text = await client.page(path);
      const rows = [...text.matchAll(/<td class="mono"><a href="\/jobs\/(\d+)">/g)].map((m) => m[1]!);
      pages.push(rows.length);
      seen.push(...rows);
      const next = /<a href="([^"]+)" rel="next">/.exec(text)?.[1];
      path = next ? next.replaceAll("&amp;", "&") : null;
      if (path) expect(path).toMatch(/^\/queues\/paging\?state=available&cursor=\d+$/);
    }
    expect(pages).toEqual([50, 50, 20]);
    expect(seen).toEqual([...ids].reverse());

    const typed = await client.page("/queues/paging?state=available&type=other");
    const rows = [...typed.matchAll(/<td class="mono"><a href="\/jobs\/(\d+)">/g)].map((m) => m[1]);
    expect(rows).toEqual(ids.filter((_, n) => n % 4 === 0).reverse());
    expect(typed).toContain(`<option value="other">`); // the type filter's suggestions
    expect(await client.page("/queues/paging?state=scheduled")).toContain("No scheduled jobs");
  });

  it("a queue that keeps no succeeded jobs says so on its page, instead of an unexplained empty list", async () => {
    const lean = app.prisma.$jobs.queue("lean", { poolSize: 1, autoStartDelay: 0, retention: { succeeded: 0 } });
    queues.push(lean);
    await lean.register(Task, async () => undefined);
    await lean.start();
    const id = await lean.enqueue(Task({ n: 1 }));
    await waitFor(async () => (await app.count("jobs", "id = $1", [id])) === 0, 10_000, "the job to run");
    const client = new Client(ui);
    const page = await client.page("/queues/lean?state=succeeded");
    expect(page).toContain(`data-note="succeeded-not-kept"`);
    expect(page).toContain("retention: { succeeded: 0 }");
    expect(await client.page("/queues/escaping?state=succeeded")).not.toContain("succeeded-not-kept");
  });

  it("a workflow's page lists its jobs in enqueue order with step, state, attempts and what each depends on; a job's page links to it with its parents and dependants", async () => {
    // Fetch runs; nothing here runs Audit, so Resize (which needs both) keeps waiting, and Publish after it.
    const queue = app.prisma.$jobs.queue("wf-ui", { poolSize: 1, pollInterval: 100, autoStartDelay: 60_000 });
    queues.push(queue);
    await queue.register(Fetch, async () => {});
    const fetch = Fetch({ url: "https://example.com/a.png" });
    const audit = Audit({ url: "https://example.com/a.png" });
    const resize = dependsOn(Resize({ width: 100 }), [fetch, audit]);
    const publish = dependsOn(Publish({ to: "cdn" }), [resize]);
    const [fetchId, auditId, resizeId, publishId] = (await app.prisma.$jobs.enqueue([fetch, audit, resize, publish], { queue: "wf-ui" })) as [string, string, string, string];
    const succeeded = new Promise<void>((resolve) => queue.on("succeeded", (event) => event.jobId === fetchId && resolve()));
    await queue.start();
    await succeeded;

    const client = new Client(ui);
    const page = await client.page(`/workflows/${fetchId}`);
    expect(page).toContain(`<title>Workflow ${fetchId} · arrower-jobs</title>`);
    expect(page).toContain(`4 jobs in queue <a href="/queues/wf-ui">wf-ui</a>`);
    const rows = [...page.matchAll(/<tr data-job="(\d+)">([\s\S]*?)<\/tr>/g)].map(([, id, row]) => ({
      id,
      cells: [...row!.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((m) => m[1]!.replace(/<[^>]+>/g, "").replace(/\s+/g, " ").replaceAll("&quot;", '"').trim()),
      row: row!,
    }));
    // In enqueue order: id, step, type, state, attempts, depends on, payload (then times and errors).
    expect(rows.map((r) => [r.id, ...r.cells.slice(0, 7)])).toEqual([
      [fetchId, fetchId, "1", "wf-fetch", "succeeded", "1/25", "—", `{"url":"https://example.com/a.png"}`],
      [auditId, auditId, "1", "wf-audit", "available", "0/25", "—", `{"url":"https://example.com/a.png"}`],
      [resizeId, resizeId, "2", "wf-resize", "waiting", "0/25", `${fetchId}, ${auditId}`, `{"width":100}`],
      [publishId, publishId, "3", "wf-publish", "waiting", "0/25", resizeId, `{"to":"cdn"}`],
    ]);
    expect(rows[2]!.row).toContain(`<a href="/jobs/${fetchId}">${fetchId}</a>, <a href="/jobs/${auditId}">${auditId}</a>`);
    expect(rows[2]!.row).toContain("after the jobs it depends on");
    // Live jobs remain: the page's script watches it, by the version /api/workflows answers.
    const version = /data-watch-workflow="(\d+)" data-version="([^"]+)"/.exec(page);
    expect(version?.[1]).toBe(fetchId);
    const api = await (await client.get(`/api/workflows/${fetchId}`, { accept: "application/json" })).json();
    expect(api).toEqual({
      id: fetchId,
      version: version![2],
      jobs: [
        { id: fetchId, state: "succeeded", attempts: 1 },
        { id: auditId, state: "available", attempts: 0 },
        { id: resizeId, state: "waiting", attempts: 0 },
        { id: publishId, state: "waiting", attempts: 0 },
      ],
    });
    // By the id of any of its jobs, the same workflow.
    expect(await client.page(`/workflows/${publishId}`)).toContain(`data-watch-workflow="${fetchId}"`);

    // The waiting job's page: its workflow, what it depends on and what needs it, with their states.
    const job = await client.page(`/jobs/${resizeId}`);
    expect(job).toContain(`<span class="badge waiting">waiting</span>`);
    expect(job).toContain(`<dt>Workflow</dt><dd><a href="/workflows/${fetchId}" data-workflow-link>workflow ${fetchId}</a></dd>`);
    expect(job).toContain("once the jobs it depends on have succeeded");
    const related = [...job.matchAll(/<tr data-related="([^"]+)" data-job="(\d+)">([\s\S]*?)<\/tr>/g)].map(([, relation, id, row]) => [
      relation,
      id,
      /<td>(wf-[a-z]+)<\/td>/.exec(row!)?.[1],
      /class="badge (\w+)"/.exec(row!)?.[1],
    ]);
    expect(related).toEqual([
      ["depends on", fetchId, "wf-fetch", "succeeded"],
      ["depends on", auditId, "wf-audit", "available"],
      ["needed by", publishId, "wf-publish", "waiting"],
    ]);
    // It cannot be made due before its parents; it can be cancelled or deleted. Its page watches it.
    expect(job).not.toContain(`action="/jobs/${resizeId}/retry"`);
    expect(job).toContain(`action="/jobs/${resizeId}/cancel"`);
    expect(job).toContain(`data-watch-job="${resizeId}" data-state="waiting"`);
    expect(await (await client.get(`/api/jobs/${resizeId}`, { accept: "application/json" })).json()).toEqual({ id: resizeId, state: "waiting", attempts: 0, progress: null });
    const refused = await client.post(`/jobs/${resizeId}/retry`, { _csrf: await client.csrf() }, { accept: "application/json" });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual({
      ok: false,
      kind: "error",
      message: `job ${resizeId} waits for the jobs it depends on (dependsOn) and runs once they have all succeeded; it cannot be run before them: cancel or delete it instead`,
    });
    expect((await app.prisma.$jobs.getJob(resizeId))!.state).toBe("waiting");

    // A parent's page lists what needs it; a job in no workflow shows none of this.
    expect(await client.page(`/jobs/${fetchId}`)).toContain(`<tr data-related="needed by" data-job="${resizeId}">`);
    const loneId = await app.prisma.$jobs.enqueue(Task({ n: 1 }), { queue: "wf-ui" });
    expect(await client.page(`/jobs/${loneId}`)).not.toContain("Workflow");

    // The waiting tab lists them; the counts show them where scheduled ones are shown.
    const waitingTab = await client.page("/queues/wf-ui?state=waiting");
    expect(waitingTab).toContain(`<a href="/queues/wf-ui?state=waiting" class="active">waiting</a>`);
    const listed = [...waitingTab.split("<h2>Jobs</h2>")[1]!.matchAll(/<a href="\/jobs\/(\d+)">/g)].map((m) => m[1]);
    expect(listed).toEqual([publishId, resizeId]);
    expect(waitingTab).toContain(`<span data-queue="wf-ui" data-stat="waiting" class="num">2</span>`);
    expect(await client.page("/")).toContain(`<a href="/queues/wf-ui?state=waiting"><span data-queue="wf-ui" data-stat="waiting" class="num">2</span></a>`);
    const stats = (await (await client.get("/api/stats", { accept: "application/json" })).json()) as { queues: Array<{ queue: string }> };
    expect(stats.queues.find((q) => q.queue === "wf-ui")).toMatchObject({ due: 2, scheduled: 0, waiting: 2 });

    // Cancelling a parent cancels its dependants (onParentFailure "cancel"): the page says why, and stops watching.
    await app.prisma.$jobs.cancel(auditId);
    const done = await client.page(`/workflows/${fetchId}`);
    expect(done).not.toContain("data-watch-workflow");
    expect([...done.matchAll(/<tr data-job="\d+">[\s\S]*?class="badge (\w+)"/g)].map((m) => m[1])).toEqual(["succeeded", "cancelled", "cancelled", "cancelled"]);
    expect(await client.page(`/jobs/${publishId}`)).toContain(
      `<h2>Last error</h2><pre>cancelled: a job it depends on failed or was cancelled (dependsOn, onParentFailure &quot;cancel&quot;)</pre>`,
    );
  });

  it("the workflow page shows hostile payloads, types and errors as text; an unknown workflow is a 404", async () => {
    const evil = `<script>window.__xss = 1</script><img src=x onerror="alert(1)">`;
    const first = Note({ text: evil });
    const ids = await app.prisma.$jobs.enqueue([first, dependsOn(Note({ text: `"'&${evil}` }), [first])], { queue: "wf-evil" });
    // A row another writer left: type and error are not checked by the database.
    await app.rows(`UPDATE arrower.jobs SET type = $2, last_error = $3 WHERE id = $1`, [ids[1], `<b onmouseover=alert(2)>x</b>`, `<script>alert(3)</script>`]);

    const client = new Client(ui);
    for (const path of [`/workflows/${ids[0]}`, `/jobs/${ids[0]}`, `/jobs/${ids[1]}`]) {
      const page = await client.page(path);
      expect(page, path).not.toContain("<script>window.__xss");
      expect(page, path).not.toContain("<img src=x");
      expect(page, path).not.toContain("<b onmouseover");
      expect(page, path).not.toContain("<script>alert(3)");
      expect(page, path).toContain(escapeHtml(`<b onmouseover=alert(2)>x</b>`));
    }
    const page = await client.page(`/workflows/${ids[0]}`);
    expect(page).toContain(escapeHtml(`{"text":"<script>window.__xss = 1</script><img src=x onerror=\\"alert(1)\\">"}`));
    expect(page).toContain(escapeHtml(`<script>alert(3)</script>`));

    const lone = await app.prisma.$jobs.enqueue(Note({ text: "alone" }), { queue: "wf-evil" });
    const cases: Array<[string, RegExp]> = [
      ["/workflows/999999999", /There is no workflow 999999999: no job of that id belongs to one/],
      [`/workflows/${lone}`, new RegExp(`There is no workflow ${lone}: no job of that id belongs to one`)],
      ["/workflows/abc", /There is no workflow abc: workflow ids are job ids, numbers/],
      ["/workflows/99999999999999999999", /There is no workflow 99999999999999999999/],
      ["/workflows/%3Cscript%3E", /There is no workflow &lt;script&gt;/],
    ];
    for (const [path, message] of cases) {
      const response = await client.get(path);
      expect(response.status, path).toBe(404);
      expect(await response.text(), path).toMatch(message);
    }
    for (const id of ["999999999", "abc", String(lone)]) {
      const response = await client.get(`/api/workflows/${id}`, { accept: "application/json" });
      expect(response.status, id).toBe(404);
    }
  });

  it("bad parameters are a 400 page naming the problem; unknown jobs a 404", async () => {
    const client = new Client(ui);
    const cases: Array<[string, number, RegExp]> = [
      ["/queues/paging?state=bogus", 400, /state must be one of available, scheduled, waiting, succeeded, failed, cancelled/],
      ["/queues/paging?cursor=abc", 400, /cursor must be a job id/],
      ["/queues/bad%20name", 400, /queue name &quot;bad name&quot; may only contain/],
      ["/queues/paging?type=%3Cscript%3E", 400, /job type name &quot;&lt;script&gt;&quot;/],
      ["/jobs/abc", 404, /job ids are numbers/],
      ["/jobs/999999999", 404, /Job 999999999 does not exist/],
      // Beyond bigint: no job can have such an id (it was a 500 from PostgreSQL's 22003).
      ["/jobs/9999999999999999999", 404, /Job 9999999999999999999 does not exist/],
      ["/queues/paging?cursor=-1", 400, /cursor must be a job id/],
    ];
    for (const [path, status, message] of cases) {
      const response = await client.get(path);
      expect(response.status, path).toBe(status);
      expect(await response.text(), path).toMatch(message);
    }
    const api = await client.get("/api/jobs/999999999", { accept: "application/json" });
    expect(api.status).toBe(404);
    expect((await client.get("/api/jobs/99999999999999999999", { accept: "application/json" })).status).toBe(404);
    expect((await client.get("/api/jobs/1.5", { accept: "application/json" })).status).toBe(404);
    // A cursor above every id is the first page.
    expect((await client.get("/queues/paging?cursor=99999999999999999999")).status).toBe(200);
    for (const action of ["retry", "cancel", "delete"]) {
      const response = await client.post(`/jobs/9999999999999999999/${action}`, { _csrf: await client.csrf() }, { accept: "application/json" });
      expect(response.status, action).toBe(404);
      expect(await response.json()).toEqual({ ok: false, kind: "error", message: "job 9999999999999999999 not found" });
    }
  });

  it("the JSON endpoints feed the auto-refresh: counts per queue, a job's state", async () => {
    const id = await app.prisma.$jobs.enqueue(Task({ n: 1 }), { queue: "json" });
    const client = new Client(ui);
    const stats = (await (await client.get("/api/stats", { accept: "application/json" })).json()) as { queues: Array<{ queue: string }> };
    expect(stats.queues.find((q) => q.queue === "json")).toEqual({
      queue: "json", due: 1, scheduled: 0, waiting: 0, running: 0, retrying: 0, failed: 0, succeededLastHour: 0, failedLastHour: 0, noHandler: 1, pools: 0, paused: false,
    });
    const job = await (await client.get(`/api/jobs/${id}`, { accept: "application/json" })).json();
    expect(job).toEqual({ id, state: "available", attempts: 0, progress: null });
    // The overview's cells carry the names the script looks for.
    expect(await client.page("/")).toContain(`data-queue="json" data-stat="due"`);
  });

  it("with a token: Bearer or the sign-in form's HttpOnly cookie; nothing else gets in", async () => {
    const guarded = createAdminApp(app.prisma.$jobs, { token: TOKEN });
    const anonymous = new Client(guarded);
    const redirect = await anonymous.get("/queues/x?state=failed");
    expect(redirect.status).toBe(303);
    expect(redirect.headers.get("location")).toBe("/login?next=%2Fqueues%2Fx%3Fstate%3Dfailed");
    const api = await anonymous.get("/api/stats", { accept: "application/json" });
    expect(api.status).toBe(401);
    expect(api.headers.get("www-authenticate")).toContain("Bearer");
    expect((await anonymous.post("/queues/x/pause", {})).status).toBe(401);
    expect((await anonymous.get("/", { authorization: `Bearer ${TOKEN}x` })).status).toBe(303);
    expect((await anonymous.get("/", { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    expect((await anonymous.get("/assets/app.css")).status).toBe(200); // the sign-in page needs it

    // Sign in: a wrong token is refused, the right one sets the session cookie.
    const login = await anonymous.page("/login?next=%2Fworkers");
    const csrf = /name="_csrf" value="([^"]+)"/.exec(login)![1]!;
    const wrong = await anonymous.post("/login", { _csrf: csrf, token: "not-the-token-at-all", next: "/workers" });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain("That token is not right.");
    expect((await anonymous.post("/login", { token: TOKEN, next: "/workers" })).status).toBe(403); // CSRF on sign-in too
    const right = await anonymous.post("/login", { _csrf: csrf, token: TOKEN, next: "/workers" });
    expect(right.status).toBe(303);
    expect(right.headers.get("location")).toBe("/workers");
    const cookie = right.headers.getSetCookie().find((c) => c.startsWith("arrower_jobs_session="))!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toContain(TOKEN);
    expect(await anonymous.page("/workers")).toContain("Sign out");

    // Not an open redirect.
    const sneaky = await anonymous.post("/login", { _csrf: csrf, token: TOKEN, next: "//evil.example/x" });
    expect(sneaky.headers.get("location")).toBe("/");

    // Another instance (another secret) does not take this cookie; signing out drops it.
    const other = new Client(createAdminApp(app.prisma, { token: TOKEN }));
    other.cookies.set("arrower_jobs_session", anonymous.cookies.get("arrower_jobs_session")!);
    expect((await other.get("/")).status).toBe(303);
    const out = await anonymous.post("/logout", { _csrf: csrf });
    expect(out.status).toBe(303);
    expect((await anonymous.get("/")).status).toBe(303);
  });

  it("mounted under a base path: links, forms, redirects and cookies carry it; stripped paths work too", async () => {
    const mounted = createAdminApp(app.prisma, { basePath: "/admin/jobs/" });
    await app.prisma.$jobs.enqueue(Task({ n: 1 }), { queue: "mounted" });
    const client = new Client(mounted, "/admin/jobs");
    const page = await client.page("/");
    expect(page).toContain(`href="/admin/jobs/queues/mounted"`);
    expect(page).toContain(`<script src="/admin/jobs/assets/app.js" defer></script>`);
    expect(page).toContain(`action="/admin/jobs/queues/mounted/pause"`);
    expect(page).toContain(`data-base="/admin/jobs"`);
    const r = await client.submit("/queues/mounted/pause");
    expect(r.location).toBe("/admin/jobs/queues/mounted");
    expect(r.response.headers.getSetCookie().every((c) => c.includes("Path=/admin/jobs"))).toBe(true);
    // A router that strips the mount path before calling the handler.
    const stripped = await mounted(new Request(`${ORIGIN}/queues/mounted`));
    expect(stripped.status).toBe(200);
    expect(await stripped.text()).toContain(`href="/admin/jobs/queues/mounted?state=scheduled"`);
    expect(() => createAdminApp(app.prisma, { basePath: "admin" })).toThrow(/basePath must be a path like "\/admin\/jobs"/);
    expect(() => createAdminApp(app.prisma, { token: "short" })).toThrow(/at least 16 characters/);
    expect(() => createAdminApp({} as never)).toThrow(/needs a Prisma client extended with jobs\(\)/);
  });

  it("schedules show spec, next and last run, when code declared them, and stale ones", async () => {
    const ScheduledTask = defineJob<{ n: number }>("scheduled-task");
    await app.prisma.$jobs.schedule("0 4 * * *", ScheduledTask({ n: 1 }), { name: "nightly", queue: "cron" });
    await app.prisma.$jobs.schedule("@every 90s", ScheduledTask({ n: 2 }), { name: "old-one", queue: "cron" });
    await app.observer.query(`UPDATE arrower.schedules SET declared_at = now() - interval '2 days' WHERE name = 'old-one'`);
    const queue = app.prisma.$jobs.queue("cron-pool", { poolSize: 1, pollInterval: 1_000 });
    queues.push(queue);
    await queue.register(Task, async () => undefined);
    await queue.start();
    await waitFor(async () => (await app.count("pools", "queue = 'cron-pool'")) === 1);
    const page = await new Client(ui).page("/schedules");
    expect(page).toMatch(/<td>nightly<\/td>\s*<td class="mono">0 4 \* \* \*<\/td>/);
    expect(page).toMatch(/<td>old-one <span class="badge stale">stale<\/span><\/td>\s*<td class="mono">@every 90s<\/td>/);
    expect(page).toContain("1 stale schedule");
    const workers = await new Client(ui).page("/workers");
    expect(workers).toMatch(/<td><a href="\/queues\/cron-pool">cron-pool<\/a><\/td>\s*<td class="small">task<\/td>/);
  });

  it("job ids that are not a bigint are a 404 for pages, the JSON API and actions, and change nothing", async () => {
    const [kept] = await app.prisma.$jobs.enqueue([Task({ n: 1 })], { queue: "bigids" });
    const client = new Client(ui);
    for (const id of ["9223372036854775808", "99999999999999999999", "abc", "-1"]) {
      const page = await client.get(`/jobs/${id}`);
      expect(page.status, `/jobs/${id}`).toBe(404);
      expect(await page.text()).toContain("Not found");
      const api = await client.get(`/api/jobs/${id}`, { accept: "application/json" });
      expect(api.status, `/api/jobs/${id}`).toBe(404);
      for (const action of ["retry", "cancel", "delete"]) {
        const json = await client.post(`/jobs/${id}/${action}`, { _csrf: await client.csrf() }, { accept: "application/json" });
        expect(json.status, `POST /jobs/${id}/${action}`).toBe(404);
        expect(await json.json()).toEqual({ ok: false, kind: "error", message: `job ${id} not found` });
        // The form: back to the job's address, which says it is not there.
        const form = await client.post(`/jobs/${id}/${action}`, { _csrf: await client.csrf() });
        expect(form.status).toBe(303);
        const shown = await client.get(form.headers.get("location")!);
        expect(shown.status).toBe(404);
        expect(flashOf(await shown.text())).toBe(`error: job ${id} not found`);
      }
    }
    // A cursor beyond bigint is above every job id: the first page (as listJobs).
    expect((await client.get("/queues/bigids?cursor=9223372036854775808")).status).toBe(200);
    expect((await client.get("/failed?cursor=99999999999999999999")).status).toBe(200);
    expect((await app.prisma.$jobs.getJob(kept!))!.state).toBe("available");
  });

  it("DNS rebinding: a Host the dashboard is not served under gets 421 and changes nothing; Origin is checked on every POST", async () => {
    const server = await serveAdmin(app.prisma, { port: 0 });
    onTestFinished(() => server.close());
    const port = server.port;
    // A browser whose page on http://evil.example:<port> rebinds that name to 127.0.0.1.
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`, `localhost:8080` /* an ssh tunnel */]) {
      expect((await raw(port, "GET", "/", { host })).status, host).toBe(200);
    }
    for (const host of [`evil.example:${port}`, "evil.example", `127.0.0.1.evil.example:${port}`, `localhost.:${port}`, `[::2]:${port}`]) {
      const response = await raw(port, "GET", "/api/stats", { host });
      expect(response.status, host).toBe(421);
      expect(response.body, host).toContain("allowedHosts");
      expect(response.body).not.toContain("queues");
    }
    // An action through the rebound name, with a valid CSRF cookie and token: refused before anything runs.
    const page = await raw(port, "GET", "/", { host: `127.0.0.1:${port}` });
    const seed = /arrower_jobs_csrf=([^;]+)/.exec(page.headers["set-cookie"]!.join(";"))![1]!;
    const token = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
    const pause = (headers: Record<string, string>) =>
      raw(port, "POST", "/queues/rebound/pause", {
        "content-type": "application/x-www-form-urlencoded",
        cookie: `arrower_jobs_csrf=${seed}`,
        ...headers,
      }, `_csrf=${encodeURIComponent(token)}`);
    expect((await pause({ host: `evil.example:${port}`, origin: `http://evil.example:${port}` })).status).toBe(421);
    // Through an allowed Host, a POST from another origin (or another port of this one) is refused by its Origin or Referer.
    for (const headers of [
      { origin: `http://evil.example:${port}` } as Record<string, string>,
      { origin: "http://127.0.0.1:3000" },
      { origin: "null" },
      { referer: `http://evil.example:${port}/` },
      { "sec-fetch-site": "same-site" },
    ]) {
      const response = await pause({ host: `127.0.0.1:${port}`, ...headers });
      expect(response.status, JSON.stringify(headers)).toBe(403);
      expect(response.body).toContain("allowedHosts");
    }
    expect(await app.count("queues", "name = 'rebound'")).toBe(0);
    // The dashboard's own pages post with their own origin.
    expect((await pause({ host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}`, "sec-fetch-site": "same-origin" })).status).toBe(303);
    expect((await pause({ host: `localhost:${port}`, referer: `http://localhost:${port}/queues/rebound` })).status).toBe(303);
    expect((await pause({ host: `127.0.0.1:${port}` })).status).toBe(303); // curl: no Origin, still the CSRF token
    expect(await app.rows(`SELECT paused FROM arrower.queues WHERE name = 'rebound'`)).toEqual([{ paused: true }]);

    // Names the user serves it under (a reverse proxy, a DNS name) are allowed explicitly.
    const named = await serveAdmin(app.prisma, { port: 0, allowedHosts: ["jobs.internal"] });
    onTestFinished(() => named.close());
    expect((await raw(named.port, "GET", "/", { host: "jobs.internal" })).status).toBe(200);
    expect((await raw(named.port, "GET", "/", { host: "other.internal" })).status).toBe(421);
    // createAdminApp checks Host when given allowedHosts (its server decides otherwise), and Origin always.
    const mounted = createAdminApp(app.prisma, { allowedHosts: ["jobs.example.com"] });
    expect((await mounted(new Request("http://jobs.example.com/"))).status).toBe(200);
    expect((await mounted(new Request("http://evil.example/"))).status).toBe(421);
    const open = new Client(ui);
    const csrf = await open.csrf();
    expect((await open.post("/queues/rebound/resume", { _csrf: csrf }, { origin: "http://evil.example" })).status).toBe(403);
    expect(await app.rows(`SELECT paused FROM arrower.queues WHERE name = 'rebound'`)).toEqual([{ paused: true }]);
    expect((await open.post("/queues/rebound/resume", { _csrf: csrf }, { origin: ORIGIN })).status).toBe(303);
    expect(() => createAdminApp(app.prisma, { allowedHosts: ["bad host/"] })).toThrow(InvalidOptionsError);
  });

  it("IPv6: serveAdmin binds [::1] and ::1; a host that does not resolve is an InvalidOptionsError about the host", async () => {
    expect(resolveServeOptions({ host: "[::1]" }).host).toBe("::1");
    expect(resolveServeOptions({ host: "::1" }).host).toBe("::1");
    for (const host of ["[::1]", "::1"]) {
      const server = await serveAdmin(app.prisma, { host, port: 0 });
      try {
        expect(server.url).toBe(`http://[::1]:${server.port}/`);
        expect(server.host).toBe("::1");
        const response = await fetch(server.url);
        expect(response.status).toBe(200);
        expect(await response.text()).toContain("<h1>Queues</h1>");
      } finally {
        await server.close();
      }
    }
    expect(() => resolveServeOptions({ host: "[::1" })).toThrow(/host must be an address like "127\.0\.0\.1"/);
    const bad = serveAdmin(app.prisma, { host: "no-such-host.invalid", port: 0, token: TOKEN });
    await expect(bad).rejects.toBeInstanceOf(InvalidOptionsError);
    await expect(bad).rejects.toMatchObject({ option: "host", message: expect.stringMatching(/cannot bind no-such-host\.invalid: the name does not resolve/) });
  });

  it("with a token: the session cookie expires on the server after sessionLifetime, and signing out revokes it", async () => {
    const guarded = createAdminApp(app.prisma.$jobs, { token: TOKEN, sessionLifetime: 3_600_000 });
    const signIn = async () => {
      const client = new Client(guarded);
      const csrf = /name="_csrf" value="([^"]+)"/.exec(await client.page("/login"))![1]!;
      const response = await client.post("/login", { _csrf: csrf, token: TOKEN, next: "/workers" });
      expect(response.status).toBe(303);
      expect(response.headers.getSetCookie().find((c) => c.startsWith("arrower_jobs_session="))).toMatch(/Max-Age=3600\b/);
      return { client, csrf };
    };
    const copy = (from: Client) => {
      const other = new Client(guarded);
      for (const [k, v] of from.cookies) other.cookies.set(k, v);
      return other;
    };

    // Expiry: one second past the lifetime the same cookie no longer gets in, whatever the browser keeps.
    const { client: early } = await signIn();
    const kept = copy(early);
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(Date.now() + 3_599_000);
      expect((await kept.get("/workers")).status).toBe(200);
      vi.setSystemTime(Date.now() + 2_000);
      expect((await kept.get("/workers")).status).toBe(303);
      expect((await kept.get("/api/stats", { accept: "application/json" })).status).toBe(401);
    } finally {
      vi.useRealTimers();
    }

    // Sign-out: a copy of the cookie taken before it (a stolen one) stops working; other sessions stay.
    const { client: alice, csrf } = await signIn();
    const { client: bob } = await signIn();
    const stolen = copy(alice);
    expect((await stolen.get("/workers")).status).toBe(200);
    expect((await alice.post("/logout", { _csrf: csrf })).status).toBe(303);
    expect((await stolen.get("/workers")).status).toBe(303);
    expect((await stolen.post("/queues/revoked/pause", { _csrf: csrf })).status).toBe(401);
    expect(await app.count("queues", "name = 'revoked'")).toBe(0);
    expect((await bob.get("/workers")).status).toBe(200);

    expect(() => createAdminApp(app.prisma, { token: TOKEN, sessionLifetime: 10 })).toThrow(/sessionLifetime must be/);
  });

  it("serveAdmin binds 127.0.0.1 by default and refuses any other host without a token", async () => {
    await expect(serveAdmin(app.prisma, { host: "0.0.0.0", port: 0 })).rejects.toThrow(
      /refusing to serve the dashboard on 0\.0\.0\.0 without a token/,
    );
    await expect(serveAdmin(app.prisma, { host: "0.0.0.0", port: 0 })).rejects.toBeInstanceOf(InvalidOptionsError);
    for (const host of ["::", "192.168.1.10", "example.com"]) {
      expect(() => resolveServeOptions({ host, port: 0 }), host).toThrow(/without a token/);
      expect(resolveServeOptions({ host, port: 0, token: TOKEN }).host).toBe(host);
    }
    for (const host of ["127.0.0.1", "localhost", "::1", "127.0.0.2"]) expect(resolveServeOptions({ host }).host).toBe(host);
    expect(resolveServeOptions({})).toMatchObject({ host: "127.0.0.1", port: 4100 });

    const server = await serveAdmin(app.prisma, { port: 0 });
    try {
      expect(server.host).toBe("127.0.0.1");
      const response = await fetch(server.url);
      expect(response.status).toBe(200);
      expect(await response.text()).toContain("<h1>Queues</h1>");
    } finally {
      await server.close();
    }
  });

  it("the CLI refuses a non-loopback bind without a token before loading anything", async () => {
    const repo = fileURLToPath(new URL("../..", import.meta.url));
    const run = (args: string[], env: Record<string, string | undefined> = {}) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const childEnv = { ...process.env, ...env };
        for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
        const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), join(repo, "src/cli/main.ts"), "ui", ...args], {
          cwd: repo,
          env: childEnv,
          stdio: ["ignore", "pipe", "pipe"],
        });
        let stderr = "";
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
        child.on("close", (code) => resolve({ code, stderr }));
      });
    const refused = await run(["--host", "0.0.0.0", "--config", "does-not-exist.ts"], { ARROWER_JOBS_UI_TOKEN: undefined });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("refusing to serve the dashboard on 0.0.0.0 without a token");
    expect(refused.stderr).toContain("ARROWER_JOBS_UI_TOKEN");
    const weak = await run(["--host", "0.0.0.0"], { ARROWER_JOBS_UI_TOKEN: "short" });
    expect(weak.code).toBe(2);
    expect(weak.stderr).toContain("the token must be at least 16 characters");
  });
  it("the CLI serves on --host [::1] (and ::1), and a host that does not resolve is an error about the host, not the database", async () => {
    const repo = fileURLToPath(new URL("../..", import.meta.url));
    const start = (host: string) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(
          process.execPath,
          [
            "--import", import.meta.resolve("tsx"), join(repo, "src/cli/main.ts"), "ui",
            "--database-url", app.url, "--port", "0", "--host", host, "--allowed-hosts", "jobs.internal",
          ],
          { cwd: repo, env: { ...process.env, ARROWER_JOBS_UI_TOKEN: TOKEN }, stdio: ["ignore", "pipe", "pipe"] },
        );
        let stdout = "";
        let stderr = "";
        let fetched = false;
        child.stdout.on("data", (chunk: Buffer) => {
          stdout += chunk.toString();
          const url = /dashboard at (\S+)/.exec(stdout)?.[1];
          if (url && !fetched) {
            fetched = true;
            void fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } }).then(
              (r) => ((stdout += ` [GET ${r.status}]`), child.kill("SIGTERM")),
              (e: unknown) => ((stdout += ` [GET failed: ${String(e)}]`), child.kill("SIGTERM")),
            );
          }
        });
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
        child.on("close", (code) => resolve({ code, stdout, stderr }));
      });
    for (const host of ["[::1]", "::1"]) {
      const served = await start(host);
      expect(served.stderr, host).toBe("");
      expect(served.stdout, host).toMatch(/dashboard at http:\/\/\[::1\]:\d+\/ .*\[GET 200\]/s);
      expect(served.code, host).toBe(0);
    }
    const wrong = await start("no-such-host.invalid");
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("cannot bind no-such-host.invalid: the name does not resolve");
    expect(wrong.stderr).not.toContain("database");
  });
});
