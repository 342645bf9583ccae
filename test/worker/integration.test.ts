/**
 * A pool proves at start that handlers' `tx` lands in the job's transaction: `jobs()` must see
 * the client's driver adapter connect. Applied after the client's first query it cannot.
 */
import { describe, expect, it } from "vitest";
import { defineJob, IntegrationError, jobs } from "../../src/index.ts";
import { createAppClient } from "../helpers/db.ts";
import { useTestApp } from "../helpers/app.ts";

const Noop = defineJob<{ n: number }>("noop");

describe("handlers' transactions on the job's connection", () => {
  const { app } = useTestApp();

  it("jobs() applied after the client's first query: start() fails with IntegrationError saying what to do, and nothing runs", async () => {
    const early = createAppClient(app.url);
    await early.$queryRawUnsafe("SELECT 1"); // the adapter connects here, before jobs() can hook it
    const late = early.$extends(jobs());
    const queue = late.$jobs.queue("late", { poolSize: 1, autoStartDelay: 60_000 });
    let ran = 0;
    await queue.register(Noop, async () => {
      ran++;
    });
    await late.$jobs.enqueue(Noop({ n: 1 }), { queue: "late" });
    const started = queue.start();
    await expect(started).rejects.toThrow(IntegrationError);
    await expect(started).rejects.toThrow(/apply jobs\(\) right after `new PrismaClient/);
    expect(ran).toBe(0);
    expect(await app.count("jobs", "queue = 'late'")).toBe(1);
    await queue.shutdown();
    await late.$disconnect();
  });
});
