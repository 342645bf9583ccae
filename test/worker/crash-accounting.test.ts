/**
 * How a claim tells a crashed attempt: the job row's last locker is a transaction that aborted
 * (a worker that died holding it). Every other ending leaves no such trace. Worker processes
 * that really die are in test/worker/processes.test.ts and test/faults/worker-kills.test.ts;
 * here the previous holder is a transaction of the test's own, so each rule is shown alone.
 */
import { describe, expect, it } from "vitest";
import pg from "pg";
import { defineJob } from "../../src/index.ts";
import { useTestApp, waitFor } from "../helpers/app.ts";
import { Queries } from "../../src/postgres/queries.ts";

const Work = defineJob<{ n: number }>("work");

describe("crash accounting", () => {
  const { app, queues } = useTestApp();

  /** Locks the job as a worker's claim does, then ends that transaction with `end`. */
  async function holdAndEnd(id: string, end: "COMMIT" | "ROLLBACK" | "terminate"): Promise<void> {
    const holder = new pg.Client({ connectionString: app.url });
    holder.on("error", () => undefined);
    await holder.connect();
    await holder.query("BEGIN");
    await holder.query(`SELECT id FROM arrower.jobs WHERE id = $1 FOR UPDATE`, [id]);
    if (end === "terminate") {
      const { rows } = await holder.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      await app.rows(`SELECT pg_terminate_backend($1::int, 5000)`, [rows[0]!.pid]);
      await holder.end().catch(() => undefined);
      return;
    }
    await holder.query(end);
    await holder.end();
  }

  /** Runs the queue's jobs and returns each job's attempts as history shows them. */
  async function run(queueName: string, ids: string[]): Promise<Array<{ attempts: number; outcomes: string[] }>> {
    const queue = app.prisma.$jobs.queue(queueName, { poolSize: 1, pollInterval: 100, autoStartDelay: 0 });
    queues.push(queue);
    await queue.register(Work, async () => undefined);
    await queue.start();
    await waitFor(async () => (await app.count("job_history", "id = ANY($1) AND state = 'succeeded'", [ids])) === ids.length, 10_000, "the jobs to succeed");
    return Promise.all(
      ids.map(async (id) => {
        const [h] = await app.rows<{ attempts: number }>(`SELECT attempts FROM arrower.job_history WHERE id = $1`, [id]);
        const outcomes = await app.rows<{ outcome: string }>(`SELECT outcome FROM arrower.attempts WHERE job_id = $1 ORDER BY attempt`, [id]);
        return { attempts: h!.attempts, outcomes: outcomes.map((o) => o.outcome) };
      }),
    );
  }

  it("a holder that died (its session ended, or its transaction aborted) counts one crashed attempt", async () => {
    const [killed, aborted] = await app.prisma.$jobs.enqueue([Work({ n: 1 }), Work({ n: 2 })], { queue: "crashed" });
    await holdAndEnd(killed!, "terminate");
    await holdAndEnd(aborted!, "ROLLBACK");
    expect(await run("crashed", [killed!, aborted!])).toEqual([
      { attempts: 2, outcomes: ["crashed"] },
      { attempts: 2, outcomes: ["crashed"] },
    ]);
    const [record] = await app.rows<{ error: string }>(`SELECT error FROM arrower.attempts WHERE job_id = $1`, [killed]);
    expect(record!.error).toBe("worker crashed while running attempt 1 (process killed, connection lost or server restarted)");
  });

  it("a holder that committed (a shutdown gives its jobs back so) counts nothing", async () => {
    const [id] = await app.prisma.$jobs.enqueue([Work({ n: 3 })], { queue: "given-back" });
    await holdAndEnd(id!, "COMMIT");
    expect(await run("given-back", [id!])).toEqual([{ attempts: 1, outcomes: [] }]);
  });

  it("repeated crashes count on from the last recorded one, and a running job shows as running meanwhile", async () => {
    const [id] = await app.prisma.$jobs.enqueue([Work({ n: 4 })], { queue: "again", maxAttempts: 5 });
    // Attempt 1 failed normally (recorded with the job); attempt 2 crashed, and the worker that
    // found it recorded that crash, then died running attempt 3.
    await app.rows(`UPDATE arrower.jobs SET attempts = 1 WHERE id = $1`, [id]);
    await app.rows(`INSERT INTO arrower.attempts (job_id, attempt, outcome, error) VALUES ($1, 1, 'failed', 'boom')`, [id]);
    await app.rows(`INSERT INTO arrower.attempts (job_id, attempt, outcome, error) VALUES ($1, 2, 'crashed', 'worker crashed')`, [id]);
    const holder = new pg.Client({ connectionString: app.url });
    await holder.connect();
    await holder.query("BEGIN");
    await holder.query(`SELECT id FROM arrower.jobs WHERE id = $1 FOR UPDATE`, [id]);
    expect(await app.running()).toEqual([id]);
    expect((await app.prisma.$jobs.getJob(id!))!.state).toBe("running");
    await holder.query("ROLLBACK");
    await holder.end();
    expect(await app.running()).toEqual([]);
    expect(await run("again", [id!])).toEqual([{ attempts: 4, outcomes: ["failed", "crashed", "crashed"] }]);
  });

  it("a lock taken by a transaction newer than the reader's is read right, and a read takes no transaction id", async () => {
    const [id] = await app.prisma.$jobs.enqueue([Work({ n: 5 })], { queue: "newer" });
    const runningJobs = new Queries("arrower").runningJobs;
    const reader = new pg.Client({ connectionString: app.url });
    const holder = new pg.Client({ connectionString: app.url });
    await Promise.all([reader.connect(), holder.connect()]);
    try {
      // The reader has its transaction id first, as a claim has once it locked its first row.
      await reader.query("BEGIN");
      await reader.query("SELECT pg_current_xact_id()");
      await holder.query("BEGIN");
      await holder.query(`SELECT id FROM arrower.jobs WHERE id = $1 FOR UPDATE`, [id]);
      expect((await reader.query(runningJobs)).rows).toMatchObject([{ id }]);
      await reader.query("COMMIT");
      // A read of its own (the admin's, the metrics') gets no transaction id: nothing to commit.
      await reader.query("BEGIN");
      expect((await reader.query(runningJobs)).rows).toMatchObject([{ id }]);
      expect((await reader.query("SELECT pg_current_xact_id_if_assigned() AS xid")).rows).toEqual([{ xid: null }]);
      await reader.query("COMMIT");
    } finally {
      await Promise.all([reader.end(), holder.end()]);
    }
  });
});
