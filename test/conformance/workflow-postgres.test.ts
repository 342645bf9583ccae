// Workflows on the PostgreSQL queue: a worker pool (one slot, so jobs run one at a time) per
// run, started once its listeners are attached; jobs only enqueued go to a queue no pool runs.
// The app's transaction is `prisma.$transaction`; jobs are shown by the admin API.
import type { JobEvent } from "../../src/index.ts";
import type { LeaseHandler } from "../../src/handler.ts";
import type { LeaseJobType } from "../../src/job.ts";
import { createTestApp } from "../helpers/app.ts";
import { workflowConformance, type Ended } from "./workflow.suite.ts";

const IDLE = "conf-wf-idle";

workflowConformance("postgres", async () => {
  const app = await createTestApp();
  let queues = 0;
  const finished = async (ids: string[]) => (await app.count("job_history", "id = ANY($1)", [ids])) === ids.length;
  return {
    async run(handlers, jobs) {
      // Started by start() below, after the listeners are attached: never on its own before.
      const queue = app.prisma.$jobs.queue(`conf-wf-${++queues}`, { poolSize: 1, pollInterval: 100, autoStartDelay: 60_000 });
      try {
        for (const { type, handler } of handlers) {
          // Both overloads end in one implementation; the cast only picks one of them.
          await queue.register(type as LeaseJobType<never, unknown>, handler as LeaseHandler<never, never, unknown>);
        }
        const ids = await queue.enqueue(jobs, { queue: queue.name });
        // Each job that ends with an event ends in a commit that also settles its dependants:
        // after the last one, every job of the run is in history.
        const done = new Promise<void>((resolve, reject) => {
          const listener = (event: JobEvent) => {
            if (ids.includes(event.jobId)) finished(ids).then((all) => all && resolve(), reject);
          };
          queue.on("succeeded", listener).on("failed", listener);
        });
        await queue.start();
        await done;
        const rows = await app.rows<Omit<Ended, "lastError"> & { last_error: string | null }>(
          // By the bigint: ORDER BY id would sort the text column (10 before 9).
          "SELECT h.id::text AS id, type, state, attempts, last_error FROM arrower.job_history h WHERE h.id = ANY($1) ORDER BY h.id",
          [ids],
        );
        return { ids, ended: rows.map(({ last_error, ...row }) => ({ ...row, lastError: last_error })) };
      } finally {
        await queue.shutdown();
      }
    },
    enqueue: async (jobs, options) => [await app.prisma.$jobs.enqueue(Array.isArray(jobs) ? jobs : [jobs], { queue: IDLE, ...options })].flat(),
    schedule: (job) => app.prisma.$jobs.schedule("@every 1h", job),
    async show(id) {
      const job = await app.prisma.$jobs.getJob(id);
      if (!job) return undefined;
      const workflow = await app.prisma.$jobs.getWorkflow(id);
      const dependsOn = workflow?.jobs.find((j) => j.id === id)?.dependsOn ?? [];
      return { state: job.state, dependsOn, workflowId: job.workflowId };
    },
    count: async () => (await app.count("jobs", "queue = $1", [IDLE])) + (await app.count("job_history", "queue = $1", [IDLE])),
    transaction: (fn) => app.prisma.$transaction((tx) => fn(tx.$jobs, tx)),
    getResult: (type, id) => app.prisma.$jobs.getResult(type, id),
    close: () => app.close(),
  };
});
