// Workflows on the in-memory testing queue: each run is enqueued and drained on one testing
// queue; jobs only enqueued (and the app's transactions outside a run) go to another, never
// drained, as the PostgreSQL target enqueues them into a queue no pool runs.
import type { Enqueuer } from "../../src/index.ts";
import type { LeaseHandler } from "../../src/handler.ts";
import type { LeaseJobType } from "../../src/job.ts";
import { createTestingJobs, type TestingJobs } from "../../src/testing.ts";
import { workflowConformance, type Ended } from "./workflow.suite.ts";

/** The fake transaction client: the app's writes are jobs, through `tx.$jobs`. */
interface FakeTx {
  $jobs: Enqueuer;
}

workflowConformance("memory", async () => {
  const runs = createTestingJobs<FakeTx>({ tx: (queue) => ({ $jobs: queue }) });
  const idle = createTestingJobs<FakeTx>({ tx: (queue) => ({ $jobs: queue }) });
  let running = false;
  const show = (queue: TestingJobs<FakeTx>, id: string) => {
    const job = queue.getJob(id);
    return job && { state: job.state, dependsOn: job.dependsOn, workflowId: job.workflowId };
  };
  return {
    async run(handlers, jobs) {
      for (const { type, handler } of handlers) {
        // Both overloads end in one implementation; the cast only picks one of them.
        await runs.register(type as LeaseJobType<never, unknown>, handler as LeaseHandler<never, FakeTx, unknown>, { replace: true });
      }
      const ids = await runs.enqueue(jobs);
      running = true;
      try {
        await runs.drain();
      } finally {
        running = false;
      }
      const ended = ids.map((id): Ended => {
        const job = runs.getJob(id)!;
        return { id, type: job.type, state: job.state, attempts: job.attempts, lastError: job.lastError };
      });
      return { ids, ended };
    },
    enqueue: async (jobs, options) => [await idle.enqueue(Array.isArray(jobs) ? jobs : [jobs], options)].flat(),
    schedule: (job) => idle.schedule("@every 1h", job),
    show: async (id) => show(idle, id),
    count: async () => idle.all().length + idle.succeeded().length + idle.failed().length + idle.cancelled().length,
    transaction: (fn) => (running ? runs : idle).transaction((tx) => fn(tx.$jobs, tx)),
    getResult: (type, id) => runs.getResult(type, id),
    close: async () => {
      await runs.shutdown();
      await idle.shutdown();
    },
  };
});
