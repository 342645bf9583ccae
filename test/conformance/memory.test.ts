// The shared enqueue contract, on the in-memory testing queue.
import { createTestingJobs } from "../../src/testing.ts";
import { enqueueConformance } from "./enqueue.suite.ts";

enqueueConformance("memory", async () => {
  const jobs = createTestingJobs();
  return {
    jobs,
    queued: async () => jobs.all().map(({ type, queue, payload, priority, dedupKey }) => ({ type, queue, payload, priority, dedupKey })),
    close: async () => jobs.shutdown(),
  };
});
