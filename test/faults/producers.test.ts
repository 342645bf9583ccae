/**
 * Producers under load: 8 concurrent producers enqueue jobs inside their own transactions,
 * together with an application row; a third of the transactions roll back after enqueueing.
 * 2 worker processes run the jobs meanwhile. Expected: exactly the committed jobs run, once each;
 * no job of a rolled-back transaction is ever seen, and every committed job has its app row.
 */
import { PrismaPg } from "@prisma/adapter-pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobs } from "../../src/index.ts";
import { PrismaClient } from "../generated/prisma/client.ts";
import type { TestApp } from "../helpers/app.ts";
import { Fx } from "./fixtures/jobs.ts";
import { between, createFaultApp, effectCounts, startWorker, stopWorker, waitUntil, type WorkerProcess } from "./support/harness.ts";
import { recordResult } from "./support/results.ts";

const PRODUCERS = 8;
const ROUNDS = 60;

class Rollback extends Error {}

describe("producers under load", () => {
  let app: TestApp;
  let producer: ReturnType<typeof client>;
  let workers: WorkerProcess[] = [];
  const client = (url: string) => new PrismaClient({ adapter: new PrismaPg({ connectionString: url, max: PRODUCERS }) }).$extends(jobs());
  beforeAll(async () => {
    app = await createFaultApp();
    await app.rows(`CREATE TABLE fault_order (producer int NOT NULL, round int NOT NULL, job_ids bigint[] NOT NULL, PRIMARY KEY (producer, round))`);
    producer = client(app.url);
    workers = await Promise.all([1, 2].map(() => startWorker(app.url, { poolSize: 3 })));
  });
  afterAll(async () => {
    await Promise.all(workers.map(stopWorker));
    await producer?.$disconnect();
    await app?.close();
  });

  it(`${PRODUCERS} producers × ${ROUNDS} transactions, a third rolled back, while workers run: exactly the committed jobs run`, async (context) => {
    const committed: string[] = [];
    const rolledBack: string[] = [];
    let failures = 0;
    await Promise.all(
      Array.from({ length: PRODUCERS }, async (_, p) => {
        for (let round = 0; round < ROUNDS; round++) {
          const rollback = (round + p) % 3 === 0;
          let ids: string[] = [];
          try {
            await producer.$transaction(async (tx) => {
              // One job or a batch, sometimes before and sometimes after the app's own write.
              const n = between(1, 5);
              const enqueue = () => (n === 1 ? tx.$jobs.enqueue(Fx({})).then((id) => [id]) : tx.$jobs.enqueue(Array.from({ length: n }, () => Fx({}))));
              if (round % 2 === 0) ids = await enqueue();
              await tx.$executeRaw`INSERT INTO fault_order (producer, round, job_ids) VALUES (${p}, ${round}, ${ids.map(BigInt)})`;
              if (round % 2 === 1) {
                ids = await enqueue();
                await tx.$executeRaw`UPDATE fault_order SET job_ids = ${ids.map(BigInt)} WHERE producer = ${p} AND round = ${round}`;
              }
              if (rollback) throw new Rollback();
            });
            committed.push(...ids);
          } catch (error) {
            if (!(error instanceof Rollback)) {
              failures++;
              throw error;
            }
            rolledBack.push(...ids);
          }
        }
      }),
    );
    await waitUntil(async () => (await app.count("job_history")) >= committed.length, 180_000, `${committed.length} committed jobs to run`);

    const effects = await effectCounts(app, committed);
    const [seen] = await app.rows<{ effects: number; live: number; history: number }>(
      `SELECT (SELECT count(*) FROM fault_effect WHERE job_id = ANY($1::bigint[]))::int AS effects,
              (SELECT count(*) FROM arrower.jobs WHERE id = ANY($1::bigint[]))::int AS live,
              (SELECT count(*) FROM arrower.job_history WHERE id = ANY($1::bigint[]))::int AS history`,
      [rolledBack],
    );
    const [orders] = await app.rows<{ rows: number; ids: number }>(`SELECT count(*)::int AS rows, coalesce(sum(cardinality(job_ids)), 0)::int AS ids FROM fault_order`);
    const [{ wait }] = (await app.rows<{ wait: number }>(
      `SELECT coalesce(max(extract(epoch FROM started_at - created_at) * 1000), 0)::float8 AS wait FROM arrower.job_history`,
    )) as [{ wait: number }];
    recordResult(context, {
      order: 7,
      scenario: `Producers under load (${PRODUCERS} concurrent, a third rolled back)`,
      jobs: committed.length,
      lost: effects.lost,
      duplicated: effects.duplicated,
      maxRecoveryMs: null,
      notes: `${PRODUCERS * ROUNDS} transactions (1–5 jobs each, before or after the app's own row), ${rolledBack.length} jobs enqueued in rolled-back ones: none ever visible or run; every committed job has its app row; longest wait from enqueue to start ${Math.round(wait)} ms with 2 worker processes`,
    });

    expect(failures).toBe(0);
    expect(effects).toEqual({ lost: 0, duplicated: 0, strays: 0 });
    expect(seen).toEqual({ effects: 0, live: 0, history: 0 });
    expect(orders).toEqual({ rows: PRODUCERS * ROUNDS - Math.round((PRODUCERS * ROUNDS) / 3), ids: committed.length });
    expect(await app.count("job_history")).toBe(committed.length);
    expect(await app.count("jobs")).toBe(0);
    expect(rolledBack.length).toBeGreaterThan(0);
  });
});
