/**
 * A dedup key names one live job per queue. Between an enqueue's insert (which found the key
 * taken) and its look-up of the job holding it, a worker may finish that job: the key is free
 * again, and the enqueue must take it rather than fail.
 */
import pg from "pg";
import { describe, expect, it } from "vitest";
import { defineJob } from "../../src/index.ts";
import { engineOf } from "../../src/client.ts";
import { insertJobs, prepareJobs } from "../../src/enqueue.ts";
import type { Queryable } from "../../src/backend.ts";
import { useTestApp, waitFor } from "../helpers/app.ts";

function wrap(client: pg.Client): Queryable {
  return { query: async <R extends object>(sql: string, values: readonly unknown[]) => (await client.query(sql, values as unknown[])).rows as R[] };
}

const Sync = defineJob<{ account: number }>("sync");

describe("enqueue with a dedup key while a worker finishes the job holding it", () => {
  const { app } = useTestApp();

  async function waitingForLock(): Promise<number> {
    const [row] = await app.rows<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
    return row!.n;
  }

  it("the job that took the key committed during the insert and finished before the look-up: the enqueue inserts anew", async () => {
    const engine = engineOf(app.prisma.$jobs);
    const other = new pg.Client({ connectionString: app.url });
    const client = new pg.Client({ connectionString: app.url });
    await other.connect();
    await client.connect();
    try {
      // Another transaction enqueues the key and is slow to commit: our insert waits for it.
      await other.query("BEGIN");
      const [holder] = await insertJobs(engine, wrap(other), prepareJobs([Sync({ account: 1 })], { dedupKey: "account-1" }, engine.options.maxPayloadBytes));
      let finished = false;
      // Our statement's snapshot predates that commit: it finds the key taken by a job it cannot
      // see. A worker then finishes that job before our next statement.
      const db: Queryable = {
        async query<R extends object>(sql: string, values: readonly unknown[]) {
          const { rows } = await client.query(sql, values as unknown[]);
          if (!finished && /INSERT INTO/.test(sql)) {
            finished = true;
            await app.rows(`DELETE FROM arrower.jobs WHERE id = $1`, [holder]);
          }
          return rows as R[];
        },
      };
      const enqueued = insertJobs(engine, db, prepareJobs([Sync({ account: 1 })], { dedupKey: "account-1" }, engine.options.maxPayloadBytes));
      await waitFor(async () => (await waitingForLock()) > 0, 10_000, "the insert to wait for the other transaction");
      await other.query("COMMIT");
      const [id] = await enqueued;
      expect(id).not.toBe(holder);
      expect(await app.rows(`SELECT id, dedup_key FROM arrower.jobs`)).toEqual([{ id, dedup_key: "account-1" }]);
    } finally {
      await other.end();
      await client.end();
    }
  });

  it("three concurrent enqueues of one key while a worker runs the jobs: none fails", async () => {
    const queue = app.prisma.$jobs.queue("dedup-race", { poolSize: 2, pollInterval: 100, autoStartDelay: 0 });
    await queue.register(Sync, async () => undefined);
    await queue.start();
    try {
      const failures: unknown[] = [];
      for (let round = 0; round < 150; round++) {
        const results = await Promise.allSettled(
          [0, 1, 2].map(() => app.prisma.$transaction((tx) => tx.$jobs.enqueue(Sync({ account: 2 }), { queue: "dedup-race", dedupKey: "account-2" }))),
        );
        failures.push(...results.flatMap((r) => (r.status === "rejected" ? [r.reason] : [])));
      }
      expect(failures).toEqual([]);
    } finally {
      await queue.shutdown();
    }
  }, 60_000);
});
