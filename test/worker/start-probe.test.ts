/**
 * A pool's start checks that a handler's Prisma transaction lands on the job's connection (the
 * probe). The first handler transaction of a client is slow: Prisma prepares it. With a short
 * `idle_in_transaction_session_timeout` on the database, the server ended the probe's session
 * meanwhile and the start failed (the fault suite's session-limits scenario, 1 in a few runs
 * on a loaded machine).
 */
import { describe, expect, it } from "vitest";
import { defineJob } from "../../src/index.ts";
import { createAppClient } from "../helpers/db.ts";
import { jobs } from "../../src/index.ts";
import { useTestApp, waitFor } from "../helpers/app.ts";

const Ping = defineJob<{ n: number }>("ping");

describe("a pool's start-up probe", () => {
  const { app } = useTestApp();

  it("starts when the server ends the probe's session for idling (slow first handler transaction, short idle_in_transaction_session_timeout)", async () => {
    const [{ database }] = (await app.rows<{ database: string }>("SELECT current_database() AS database")) as [{ database: string }];
    await app.rows(`ALTER DATABASE "${database}" SET idle_in_transaction_session_timeout = '300ms'`);
    // The probe's first query through the handler's transaction is held up past the limit, as
    // a cold Prisma client on a loaded machine did.
    let delayed = 0;
    const slow = createAppClient(app.url)
      .$extends(jobs())
      .$extends({
        query: {
          async $queryRawUnsafe({ args, query }) {
            if (delayed++ === 0) await new Promise((resolve) => setTimeout(resolve, 800));
            return query(args);
          },
        },
      });
    const queue = slow.$jobs.queue("probe", { poolSize: 1, pollInterval: 100, autoStartDelay: 0 });
    try {
      await queue.register(Ping, async () => undefined);
      await queue.start();
      const id = await slow.$jobs.enqueue(Ping({ n: 1 }), { queue: "probe" });
      await waitFor(async () => (await app.count("job_history", "id = $1 AND state = 'succeeded'", [id])) === 1, 10_000, "the job to run");
      expect(delayed).toBeGreaterThanOrEqual(2);
    } finally {
      await queue.shutdown();
      await slow.$disconnect();
      await app.rows(`ALTER DATABASE "${database}" RESET idle_in_transaction_session_timeout`);
    }
  });
});
