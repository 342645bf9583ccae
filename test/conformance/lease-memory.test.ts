// Lease mode and progress on the in-memory testing queue: drained through the registered
// handler; the app's transaction is the queue's own (`jobs.transaction`), whose writes are jobs
// enqueued through the fake `tx.$jobs`.
import { defineJob, type Enqueuer, type Handler, type JobType } from "../../src/index.ts";
import type { LeaseHandler } from "../../src/handler.ts";
import type { LeaseJobType } from "../../src/job.ts";
import { createTestingJobs } from "../../src/testing.ts";
import { leaseConformance } from "./lease.suite.ts";

/** The fake transaction client: writes go through `tx.$jobs`, the testing queue itself. */
interface FakeTx {
  $jobs: Enqueuer;
}

/** A note the handlers write: a job enqueued in their transaction (run by a no-op handler). */
const Note = defineJob<{ note: string }>("conf-lease-note");

leaseConformance("memory", async () => {
  const jobs = createTestingJobs<FakeTx>({ tx: (queue) => ({ $jobs: queue }) });
  await jobs.register(Note, () => undefined);
  const run = async <P, R>(type: JobType<P, R>, handler: unknown, payload: P) => {
    // Both overloads end in one implementation; the cast only picks one of them.
    await jobs.register(type as LeaseJobType<P, R>, handler as LeaseHandler<P, FakeTx, R>, { replace: true });
    const id = await jobs.enqueue(type(payload));
    await jobs.drain();
    const job = [...jobs.succeeded(), ...jobs.failed()].find((j) => j.id === id)!;
    return { id, state: job.state, attempts: job.attempts, lastError: job.lastError };
  };
  return {
    runLease: <P, R>(type: LeaseJobType<P, R>, handler: LeaseHandler<P, unknown, R>, payload: P) => run(type, handler, payload),
    runTransaction: <P, R>(type: JobType<P, R>, handler: Handler<P, unknown, R>, payload: P) => run(type, handler, payload),
    transaction: (fn) => jobs.transaction(fn),
    async write(tx, note) {
      await (tx as FakeTx).$jobs.enqueue(Note({ note }));
    },
    written: async (note) => [...jobs.all(), ...jobs.succeeded()].some((job) => job.type === Note.name && (job.payload as { note: string }).note === note),
    progressOf: async (id) => jobs.all().find((job) => job.id === id)?.progress,
    getResult: (type, id) => jobs.getResult(type, id),
    close: () => jobs.shutdown(),
  };
});
