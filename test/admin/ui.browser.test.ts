/**
 * The admin UI in a real browser: Debian's headless Chromium driven by playwright-core, against
 * `serveAdmin` on a free loopback port, a real database and real worker pools.
 *
 * Needs /usr/bin/chromium (`apt-get install -y chromium`; .ci/run installs it). Without it the
 * suite fails when CI is set, so a CI machine that lost it cannot pass silently, and is skipped
 * with a message otherwise.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Dialog, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { defineJob, dependsOn, UnrecoverableError, type ProgressValue, type Queue } from "../../src/index.ts";
import { serveAdmin, type AdminServer } from "../../src/admin/ui/index.ts";
import { createTestApp, waitFor, type TestApp } from "../helpers/app.ts";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
const inCI = !!process.env.CI;
if (!haveChromium && !inCI) {
  console.warn(`[ui.browser.test] SKIPPED: ${CHROMIUM} not found. Install it with \`apt-get install -y chromium\` to run the browser tests (with CI set they fail instead).`);
}

const Charge = defineJob<{ order: string }>("charge");
const Note = defineJob<{ text: string }>("note");
const Transcode = defineJob<{ video: string }>("transcode", { mode: "lease", leaseTimeout: 60_000 });
const Render = defineJob<{ page: number }>("render");
const Bind = defineJob<{ pages: number }>("bind");
const TOKEN = "browser-token-0123456789abcdef";

(haveChromium || inCI ? describe : describe.skip)("admin UI in headless Chromium", () => {
  let app: TestApp;
  let server: AdminServer;
  let context: BrowserContext;
  let profile: string;
  let page: Page;
  /** Dialogs (alert, confirm) the pages opened. */
  let dialogs: string[];
  /** Script errors and console errors (CSP violations among them); failed loads (a 401, a 403) are expected. */
  let consoleErrors: string[];
  const queues: Queue[] = [];
  const servers: Array<{ close(): unknown }> = [];

  beforeAll(async () => {
    if (!haveChromium) {
      throw new Error(`${CHROMIUM} is missing: the browser tests need Debian's chromium (apt-get install -y chromium; .ci/run installs it)`);
    }
    app = await createTestApp();
    server = await serveAdmin(app.prisma, { port: 0 });
    profile = await mkdtemp(join(tmpdir(), "arrower-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        // DNS as a rebinding attacker sets it up: their names point at this machine.
        "--host-resolver-rules=MAP rebind.test 127.0.0.1, MAP jobs.test 127.0.0.1",
      ],
      viewport: { width: 1280, height: 900 },
    });
  });

  beforeEach(async () => {
    await context.clearCookies();
    page = await context.newPage();
    dialogs = [];
    consoleErrors = [];
    page.on("dialog", (dialog: Dialog) => {
      dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      void dialog.dismiss();
    });
    page.on("console", (message) => {
      if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) consoleErrors.push(message.text());
    });
    page.on("pageerror", (error) => consoleErrors.push(String(error)));
  });

  afterEach(async () => {
    await page?.close();
    await Promise.all(queues.splice(0).map((q) => q.shutdown()));
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  afterAll(async () => {
    await context?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    await server?.close();
    await app?.close();
  });

  const url = (path: string) => new URL(path.replace(/^\//, ""), server.url).href;

  it("overview → failed job → Retry: the job runs again and the page shows it succeeded", async () => {
    const queue = app.prisma.$jobs.queue("payments", { poolSize: 1, pollInterval: 100 });
    queues.push(queue);
    let gatewayDown = true;
    await queue.register(Charge, async ({ order }) => {
      if (gatewayDown) throw new UnrecoverableError(`card declined for order ${order}`);
    });
    await queue.start();
    const id = await queue.enqueue(Charge({ order: "A-1001" }));
    await waitFor(async () => (await app.prisma.$jobs.getJob(id))?.state === "failed", 10_000, "the job to fail");

    await page.goto(server.url);
    const row = page.locator("tr", { has: page.locator("a", { hasText: /^payments$/ }) });
    await expect.poll(() => row.locator('[data-stat="failed"]').textContent()).toBe("1");
    await row.locator('a:has([data-stat="failed"])').click();
    await page.waitForURL(/\/failed\?queue=payments$/);
    await page.locator(`a[href$="/jobs/${id}"]`).first().click();
    await page.waitForURL(new RegExp(`/jobs/${id}$`));
    expect(await page.locator("h1 .badge").textContent()).toBe("failed");
    expect(await page.locator("table.attempts").textContent()).toContain(`card declined for order A-1001`);

    gatewayDown = false;
    await Promise.all([
      page.waitForResponse((r) => r.request().method() === "GET" && r.url() === url(`/jobs/${id}`)),
      page.getByRole("button", { name: "Retry" }).click(),
    ]);
    expect(await page.locator(".flash").first().textContent()).toContain(`Job ${id} (failed) is queued again`);
    // The page follows the job (it polls /api/jobs/:id and reloads on a change of state).
    await page.locator("h1 .badge.succeeded").waitFor({ timeout: 15_000 });
    expect(await page.locator("dl.facts").textContent()).toContain("1 of 25");
    expect(dialogs).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });

  it("Pause in the UI: the worker stops claiming the queue; Resume: it runs the job", async () => {
    const queue = app.prisma.$jobs.queue("mailer", { poolSize: 2, pollInterval: 200 });
    queues.push(queue);
    const ran: string[] = [];
    await queue.register(Note, async (_job, { jobId }) => {
      ran.push(jobId);
    });
    await queue.start();
    await waitFor(async () => (await app.count("pools", "queue = 'mailer'")) === 1);

    await page.goto(server.url);
    const row = () => page.locator("tr", { has: page.locator("a", { hasText: /^mailer$/ }) });
    await row().getByRole("button", { name: "Pause" }).click();
    await expect.poll(() => page.locator(".flash").textContent()).toContain("Queue mailer paused");
    expect(page.url()).toBe(server.url); // back on the overview
    expect(await row().locator(".badge.paused").isVisible()).toBe(true);
    expect((await app.rows(`SELECT paused FROM arrower.queues WHERE name = 'mailer'`))[0]).toEqual({ paused: true });

    const id = await app.prisma.$jobs.enqueue(Note({ text: "hello" }), { queue: "mailer" });
    await new Promise((r) => setTimeout(r, 1_000));
    expect(ran).toEqual([]);
    // The counts refresh by themselves: the queued job shows up as due.
    await page.locator('[data-queue="mailer"][data-stat="due"]').first().filter({ hasText: /^1$/ }).waitFor({ timeout: 10_000 });
    expect(ran).toEqual([]);

    await page.getByRole("button", { name: "Resume" }).first().click();
    await expect.poll(() => page.locator(".flash").textContent()).toContain("Queue mailer resumed");
    await waitFor(() => ran.length === 1, 10_000, "the worker to run the job after resume");
    expect(ran).toEqual([id]);
    expect(consoleErrors).toEqual([]);
  });

  it("a running lease-mode job: its page follows the progress it reports, and Cancel (confirmed) stops it", async () => {
    const queue = app.prisma.$jobs.queue("videos", { poolSize: 1, pollInterval: 100, autoStartDelay: 60_000, poolName: "encoder-7" });
    queues.push(queue);
    let step!: (value: ProgressValue) => Promise<void>;
    const reported = { first: false };
    let reason: unknown;
    await queue.register(Transcode, async (_, { progress, signal }) => {
      step = progress;
      await progress({ percent: 10, stage: "<b>probe</b>" });
      reported.first = true;
      await new Promise((resolve) => signal.addEventListener("abort", resolve));
      reason = signal.reason;
    });
    const id = await queue.enqueue(Transcode({ video: "intro.mp4" }));
    await queue.start();
    await waitFor(() => reported.first, 10_000, "the first progress");

    await page.goto(url(`/jobs/${id}`));
    expect(await page.locator("h1 .badge").textContent()).toBe("running");
    expect(await page.locator("[data-lease]").textContent()).toMatch(/^held by encoder-7, expires \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \(in \d+ s\)$/);
    expect(JSON.parse((await page.locator("pre.progress").textContent())!)).toEqual({ stage: "<b>probe</b>", percent: 10 });
    // New progress shows in place, as text, without a reload.
    await page.evaluate(() => ((globalThis as { __sameDocument?: boolean }).__sameDocument = true));
    await step({ percent: 55, stage: "<img src=x onerror=alert(1)>" });
    await expect.poll(() => page.locator("pre.progress").textContent(), { timeout: 10_000 }).toContain('"percent": 55');
    expect(JSON.parse((await page.locator("pre.progress").textContent())!)).toEqual({ stage: "<img src=x onerror=alert(1)>", percent: 55 });
    expect(await page.evaluate(() => (globalThis as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
    expect(await page.locator("img").count()).toBe(0);

    // Cancel asks first; this time the answer is yes.
    page.removeAllListeners("dialog");
    page.on("dialog", (dialog: Dialog) => {
      dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      void dialog.accept();
    });
    await page.getByRole("button", { name: "Cancel" }).click();
    await expect.poll(() => page.locator(".flash").first().textContent()).toContain(`Job ${id} cancelled while it ran: its worker was told to stop it`);
    expect(await page.locator("h1 .badge").textContent()).toBe("cancelled");
    expect(dialogs).toEqual([`confirm: Cancel job ${id} while it runs? Its handler is told to stop.`]);
    await waitFor(() => reason !== undefined, 5_000, "the handler's signal to abort");
    expect(reason).toMatchObject({ code: "LEASE_LOST", reason: "cancelled" });
    expect(consoleErrors).toEqual([]);
  });

  it("a workflow's page follows its jobs: a parent succeeding releases its dependant, and the page shows it", async () => {
    // Nothing here runs Bind: released, it stays available.
    const queue = app.prisma.$jobs.queue("books", { poolSize: 1, pollInterval: 100, autoStartDelay: 60_000 });
    queues.push(queue);
    const started = { yes: false };
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    await queue.register(Render, async () => {
      started.yes = true;
      await released;
    });
    const render = Render({ page: 1 });
    const [renderId, bindId] = (await app.prisma.$jobs.enqueue([render, dependsOn(Bind({ pages: 1 }), [render])], { queue: "books" })) as [string, string];
    await queue.start();
    await waitFor(() => started.yes, 10_000, "the parent to start");

    await page.goto(url(`/workflows/${renderId}`));
    const badge = (id: string) => page.locator(`tr[data-job="${id}"] .badge`).textContent();
    expect(await badge(renderId)).toBe("running");
    expect(await badge(bindId)).toBe("waiting");
    release();
    await expect.poll(() => badge(bindId), { timeout: 10_000 }).toBe("available");
    expect(await badge(renderId)).toBe("succeeded");
    // From the workflow to the dependant's page, and back through its workflow link.
    await page.locator(`tr[data-job="${bindId}"] a[href$="/jobs/${bindId}"]`).first().click();
    await page.waitForURL(new RegExp(`/jobs/${bindId}$`));
    expect(await page.locator(`tr[data-related="depends on"][data-job="${renderId}"] .badge`).textContent()).toBe("succeeded");
    await page.locator("[data-workflow-link]").click();
    await page.waitForURL(new RegExp(`/workflows/${renderId}$`));
    expect(consoleErrors).toEqual([]);
  });

  it("a <script> in a payload or an error message is shown as text and never runs", async () => {
    const queue = app.prisma.$jobs.queue("hostile", { poolSize: 1, pollInterval: 100 });
    queues.push(queue);
    await queue.register(Note, async ({ text }) => {
      throw new UnrecoverableError(text);
    });
    await queue.start();
    const evil = `<script>window.__xss = 1; alert("xss")</script><img src=x onerror="window.__xss = 2; alert('img')">`;
    const id = await queue.enqueue(Note({ text: evil }));
    await waitFor(async () => (await app.prisma.$jobs.getJob(id))?.state === "failed", 10_000, "the job to fail");

    for (const path of [`/jobs/${id}`, "/failed", "/queues/hostile?state=failed", "/"]) {
      await page.goto(url(path));
      await page.waitForLoadState("load");
      expect(await page.evaluate(() => (globalThis as { __xss?: number }).__xss), path).toBeUndefined();
    }
    await page.goto(url(`/jobs/${id}`));
    expect(await page.locator("pre.payload").textContent()).toContain(`"text": ${JSON.stringify(evil)}`);
    await page.locator("table.attempts summary").click();
    expect(await page.locator("table.attempts pre").textContent()).toContain(`UnrecoverableError: ${evil}`);
    expect(await page.locator("img").count()).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect(await page.evaluate(() => (globalThis as { __xss?: number }).__xss)).toBeUndefined();
    expect(dialogs).toEqual([]);
  });

  it("a POST without the CSRF token is refused, from a script on the page and from another site's form", async () => {
    await page.goto(server.url);
    const status = await page.evaluate(async (action) => {
      const response = await fetch(action, { method: "POST", body: new URLSearchParams({ x: "1" }), credentials: "same-origin" });
      return response.status;
    }, url("/queues/victim/pause"));
    expect(status).toBe(403);

    // Another origin on this machine (another port is the same "site" for SameSite cookies:
    // the token is what stops it). Its page auto-submits a form to the dashboard.
    const evil: Server = createServer((_req, res) => {
      res.setHeader("content-type", "text/html");
      res.end(`<form id="f" method="post" action="${url("/queues/victim/pause")}"><input name="_csrf" value="guess"></form>
<script>document.getElementById("f").submit()</script>`);
    });
    await new Promise<void>((resolve) => evil.listen(0, "127.0.0.1", resolve));
    servers.push({
      close: () =>
        new Promise((resolve) => {
          evil.close(resolve);
          evil.closeAllConnections(); // the browser keeps its connection open
        }),
    });
    const response = await Promise.all([
      page.waitForResponse((r) => r.url() === url("/queues/victim/pause")),
      page.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`),
    ]).then(([r]) => r);
    expect(response.status()).toBe(403);
    await page.waitForURL(url("/queues/victim/pause"));
    expect(await page.locator("h1").textContent()).toContain("Refused");
    expect(await app.count("queues", "name = 'victim'")).toBe(0);
  });

  it("DNS rebinding: a page whose name resolves to 127.0.0.1 gets 421 and can neither read nor act; a listed name works", async () => {
    const rebound = `http://rebind.test:${new URL(server.url).port}`;
    const response = await page.goto(`${rebound}/`);
    expect(response!.status()).toBe(421);
    expect(await page.locator("body").textContent()).toContain("allowedHosts");
    // The attacker's script, same-origin with what the browser takes for its own server.
    const [stats, pause] = await page.evaluate(async () => {
      const read = await fetch("/api/stats");
      const act = await fetch("/queues/rebound/pause", { method: "POST", body: new URLSearchParams({ _csrf: "x" }) });
      return [{ status: read.status, text: await read.text() }, act.status] as const;
    });
    expect(stats.status).toBe(421);
    expect(stats.text).not.toContain("queues");
    expect(pause).toBe(421);
    expect(await app.count("queues", "name = 'rebound'")).toBe(0);

    const named = await serveAdmin(app.prisma, { port: 0, allowedHosts: ["jobs.test"] });
    servers.push(named);
    await app.prisma.$jobs.enqueue(Note({ text: "x" }), { queue: "named" });
    await page.goto(`http://jobs.test:${named.port}/`);
    const row = page.locator("tr", { has: page.locator("a", { hasText: /^named$/ }) });
    await row.getByRole("button", { name: "Pause" }).click();
    await expect.poll(() => page.locator(".flash").textContent()).toContain("Queue named paused");
    expect(await app.rows(`SELECT paused FROM arrower.queues WHERE name = 'named'`)).toEqual([{ paused: true }]);
    // Over plain http a named host is not a "trustworthy" origin: Chromium notes that it ignores COOP there.
    expect(consoleErrors.filter((e) => !e.includes("Cross-Origin-Opener-Policy header has been ignored"))).toEqual([]);
  });

  it("with a token: the browser signs in once through the form; a non-loopback bind without one refuses to start", async () => {
    await expect(serveAdmin(app.prisma, { host: "0.0.0.0", port: 0 })).rejects.toThrow(/refusing to serve the dashboard on 0\.0\.0\.0 without a token/);
    const guarded = await serveAdmin(app.prisma, { port: 0, token: TOKEN });
    servers.push(guarded);
    await page.goto(new URL("workers", guarded.url).href);
    await page.waitForURL(/\/login\?next=%2Fworkers$/);
    await page.getByLabel("Access token").fill("wrong-token-wrong-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    expect(await page.locator(".flash").textContent()).toContain("That token is not right.");
    await page.getByLabel("Access token").fill(TOKEN);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(new URL("workers", guarded.url).href);
    expect(await page.locator("h1").textContent()).toContain("Worker pools");
    const cookies = await context.cookies(guarded.url);
    expect(cookies.find((c) => c.name === "arrower_jobs_session")).toMatchObject({ httpOnly: true, sameSite: "Strict" });
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/login$/);
    expect(consoleErrors).toEqual([]);
  });
});
