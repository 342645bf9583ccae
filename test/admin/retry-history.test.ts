/**
 * A finished job that is retried (retry, requeueFailed) runs again under its id with its
 * attempts from zero. History shows both runs: each attempt once, numbered within its run, and
 * the new run's attempts (a crash too) numbered from 1 again.
 */
import { describe, expect, it } from "vitest";
import { defineJob } from "../../src/index.ts";
import { abandonAsCrashed, useTestApp, waitFor } from "../helpers/app.ts";

const Charge = defineJob<{ failures: number }>("charge");

describe("a finished job retried from history", () => {
  const { app } = useTestApp();

  /** Runs the queue until `id` is in history; fails every attempt while `fail()` says so. */
  async function runUntilFinished(queueName: string, id: string, fail: (attempt: number) => boolean): Promise<void> {
    const queue = app.prisma.$jobs.queue(queueName, { poolSize: 1, pollInterval: 100, autoStartDelay: 0, backoff: { baseDelay: 1, maxDelay: 1 } });
    await queue.register(Charge, async (_job, { attempt }) => {
      if (fail(attempt)) throw new Error(`card declined (attempt ${attempt})`);
    });
    await queue.start();
    try {
      await waitFor(async () => (await app.count("job_history", "id = $1", [id])) === 1, 15_000, "the job to finish");
    } finally {
      await queue.shutdown();
    }
  }

  async function history(id: string) {
    const job = await app.prisma.$jobs.getJob(id);
    return {
      state: job!.state,
      attempts: job!.attempts,
      runs: job!.attemptHistory.map((a) => `${a.run}.${a.attempt} ${a.outcome}${a.error ? `: ${a.error.split("\n")[0]}` : ""}`),
    };
  }

  it("retry(): the second run's failed attempts are recorded beside the first run's, the first run's last failure included", async () => {
    const id = await app.prisma.$jobs.enqueue(Charge({ failures: 2 }), { queue: "retry-runs", maxAttempts: 2 });
    await runUntilFinished("retry-runs", id, () => true);
    expect(await history(id)).toEqual({ state: "failed", attempts: 2, runs: ["1.1 failed: Error: card declined (attempt 1)"] });

    await app.prisma.$jobs.retry(id);
    await runUntilFinished("retry-runs", id, (attempt) => attempt === 1);
    expect(await history(id)).toEqual({
      state: "succeeded",
      attempts: 2,
      runs: [
        "1.1 failed: Error: card declined (attempt 1)",
        "1.2 failed: Error: card declined (attempt 2)",
        "2.1 failed: Error: card declined (attempt 1)",
      ],
    });
  });

  it("requeueFailed(): a crash in the new run is its attempt 1, not the old run's next", async () => {
    const id = await app.prisma.$jobs.enqueue(Charge({ failures: 3 }), { queue: "requeue-runs", maxAttempts: 3 });
    await runUntilFinished("requeue-runs", id, () => true);
    expect((await app.prisma.$jobs.requeueFailed({ queue: "requeue-runs" })).requeued).toBe(1);

    // A worker dies holding the job: its transaction aborts, the next claim counts the crash.
    await abandonAsCrashed(app, id);
    await runUntilFinished("requeue-runs", id, () => false);
    expect(await history(id)).toEqual({
      state: "succeeded",
      attempts: 2,
      runs: [
        "1.1 failed: Error: card declined (attempt 1)",
        "1.2 failed: Error: card declined (attempt 2)",
        "1.3 failed: Error: card declined (attempt 3)",
        "2.1 crashed: worker crashed while running attempt 1 (process killed, connection lost or server restarted)",
      ],
    });
  });
});
