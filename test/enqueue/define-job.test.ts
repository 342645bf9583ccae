/**
 * A job type's name is its identity in the database. Two `defineJob` calls with one name are
 * the same job type as far as workers and history are concerned: with the same defaults that is
 * harmless (a module evaluated twice: tests, hot reload) and stays silent; with other defaults
 * it is almost surely two job types that collided, and a process warning says so, once per name.
 */
import { afterEach, describe, expect, it } from "vitest";
import { defineJob } from "../../src/index.ts";

const warnings: Error[] = [];
const collect = (warning: Error) => void warnings.push(warning);
process.on("warning", collect);
afterEach(() => void (warnings.length = 0));

/** process.emitWarning emits on the next tick. */
const nextTick = () => new Promise((resolve) => setImmediate(resolve));

describe("defineJob with a name already defined", () => {
  it("with the same defaults: silent (a module loaded twice)", async () => {
    defineJob<{ userId: number }>("dup-same", { maxAttempts: 5 });
    defineJob<{ userId: number }>("dup-same", { maxAttempts: 5 });
    await nextTick();
    expect(warnings).toEqual([]);
  });

  it("with other defaults: one process warning naming the job type and both defaults", async () => {
    defineJob<{ userId: number }>("dup-other", { maxAttempts: 5 });
    defineJob<{ orderId: number }>("dup-other", { queue: "billing" });
    defineJob<{ orderId: number }>("dup-other", { queue: "billing", priority: 1 });
    await nextTick();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      name: "ArrowerJobsWarning",
      code: "ARROWER_JOBS_DUPLICATE_JOB_TYPE",
      message:
        'defineJob("dup-other") was called again with other defaults ({"maxAttempts":5} before, {"queue":"billing"} now). ' +
        "Job types are identified by name: jobs of both go to one handler per queue and their defaults depend on which one the enqueueing code imported. " +
        "Give each job type its own name, or define it once and import it (after a hot reload that changed the defaults, ignore this)",
    });
  });
});
