// Job results on the in-memory testing queue: drained through the registered handler.
import type { Handler, JobType } from "../../src/index.ts";
import { createTestingJobs } from "../../src/testing.ts";
import { resultsConformance } from "./results.suite.ts";

resultsConformance("memory", async () => {
  const jobs = createTestingJobs();
  return {
    async run<P, R>(type: JobType<P, R>, handler: Handler<P, unknown, R>, payload: P, options: { maxAttempts?: number } = {}) {
      await jobs.register(type, handler, { replace: true });
      const id = await jobs.enqueue(type(payload), options);
      await jobs.drain();
      const job = [...jobs.succeeded(), ...jobs.failed()].find((j) => j.id === id)!;
      return { id, state: job.state, lastError: job.lastError };
    },
    enqueue: (type, payload) => jobs.enqueue(type(payload), { queue: "conf-results-idle" }),
    getResult: (type, id) => jobs.getResult(type, id),
    close: () => jobs.shutdown(),
  };
});
