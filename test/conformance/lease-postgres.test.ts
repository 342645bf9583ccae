// Lease mode and progress on the PostgreSQL queue: a worker pool per job run; the app's
// transaction is `prisma.$transaction`, whose writes are SideEffect rows; progress is read from
// the progress table on an independent connection.
import type { Handler, JobEvent, JobType } from "../../src/index.ts";
import type { LeaseHandler } from "../../src/handler.ts";
import type { LeaseJobType } from "../../src/job.ts";
import { createTestApp, type TestClient } from "../helpers/app.ts";
import { leaseConformance } from "./lease.suite.ts";

type AppTx = Parameters<Parameters<TestClient["$transaction"]>[0]>[0];

leaseConformance("postgres", async () => {
  const app = await createTestApp();
  let queues = 0;
  const run = async <P, R>(type: JobType<P, R>, handler: unknown, payload: P) => {
    // Started by start() below, after the listener is attached: never on its own before.
    const queue = app.prisma.$jobs.queue(`conf-lease-${++queues}`, { poolSize: 1, pollInterval: 100, autoStartDelay: 60_000 });
    try {
      // Both overloads end in one implementation; the cast only picks one of them.
      await queue.register(type as LeaseJobType<P, R>, handler as LeaseHandler<P, never, R>);
      const id = await queue.enqueue(type(payload), { queue: queue.name });
      const done = new Promise<JobEvent>((resolve) => {
        const listener = (event: JobEvent) => event.jobId === id && resolve(event);
        queue.on("succeeded", listener).on("failed", listener);
      });
      await queue.start();
      await done;
      const job = await app.prisma.$jobs.getJob(id);
      return { id, state: job!.state, attempts: job!.attempts, lastError: job!.lastError };
    } finally {
      await queue.shutdown();
    }
  };
  return {
    runLease: <P, R>(type: LeaseJobType<P, R>, handler: LeaseHandler<P, unknown, R>, payload: P) => run(type, handler, payload),
    runTransaction: <P, R>(type: JobType<P, R>, handler: Handler<P, unknown, R>, payload: P) => run(type, handler, payload),
    transaction: (fn) => app.prisma.$transaction((tx) => fn(tx)),
    async write(tx, note) {
      await (tx as AppTx).sideEffect.create({ data: { id: note, note } });
    },
    written: async (note) => (await app.prisma.sideEffect.findUnique({ where: { id: note } })) !== null,
    progressOf: async (id) => (await app.rows<{ value: unknown }>("SELECT value FROM arrower.progress WHERE job_id = $1", [id]))[0]?.value,
    getResult: (type, id) => app.prisma.$jobs.getResult(type, id),
    close: () => app.close(),
  };
});
