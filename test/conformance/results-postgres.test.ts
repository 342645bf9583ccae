// Job results on the PostgreSQL queue: a worker pool per job run, results read with getResult.
import type { Handler, JobEvent, JobType } from "../../src/index.ts";
import { createTestApp } from "../helpers/app.ts";
import { resultsConformance } from "./results.suite.ts";

resultsConformance("postgres", async () => {
  const app = await createTestApp();
  let queues = 0;
  return {
    async run<P, R>(type: JobType<P, R>, handler: Handler<P, unknown, R>, payload: P, options: { maxAttempts?: number } = {}) {
      // Started by start() below, after the listener is attached: never on its own before.
      const queue = app.prisma.$jobs.queue(`conf-results-${++queues}`, { poolSize: 1, pollInterval: 100, autoStartDelay: 60_000 });
      try {
        await queue.register(type, handler);
        const id = await queue.enqueue(type(payload), { queue: queue.name, ...options });
        const done = new Promise<JobEvent>((resolve) => {
          const listener = (event: JobEvent) => event.jobId === id && resolve(event);
          queue.on("succeeded", listener).on("failed", listener);
        });
        await queue.start();
        await done;
        const job = await app.prisma.$jobs.getJob(id);
        return { id, state: job!.state, lastError: job!.lastError };
      } finally {
        await queue.shutdown();
      }
    },
    enqueue: (type, payload) => app.prisma.$jobs.enqueue(type(payload), { queue: "conf-results-idle" }),
    getResult: (type, id) => app.prisma.$jobs.getResult(type, id),
    close: () => app.close(),
  };
});
