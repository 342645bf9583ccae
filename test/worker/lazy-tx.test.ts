/**
 * A handler's `tx` opens its transaction on first use: until then it records what the handler
 * does and replays it when awaited (src/prisma/lazy-transaction.ts). What that means for a
 * client extension's synchronous members, as the README says: their result is promise-like on
 * `tx`, and awaiting it gives the value, computed on the job's transaction client.
 */
import { describe, expect, it, afterAll, beforeAll } from "vitest";
import { defineJob, jobs } from "../../src/index.ts";
import { createAppClient, createAppTables, createTestDatabase, type TestDatabase } from "../helpers/db.ts";
import { waitFor } from "../helpers/app.ts";

const Probe = defineJob<{ n: number }>("probe");

describe("a handler's lazy tx and a client extension's synchronous members", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    await createAppTables(db.url);
  });
  afterAll(() => db.drop());

  it("calling one gives a promise-like value, not the value; awaiting it gives the value; `fields` is read at once", async () => {
    const prisma = createAppClient(db.url)
      .$extends(jobs())
      .$extends({ client: { $tenant: () => "acme" } });
    await prisma.$jobs.migrate();
    const seen: unknown[] = [];
    const queue = prisma.$jobs.queue("default", { poolSize: 1, autoStartDelay: 0 });
    try {
      await queue.register(Probe, async (_job, { tx }) => {
        const direct: unknown = (tx as unknown as { $tenant(): unknown }).$tenant();
        seen.push(typeof direct === "string" ? direct : typeof (direct as PromiseLike<unknown>).then);
        seen.push(await (tx as unknown as { $tenant(): unknown }).$tenant());
        seen.push(typeof tx.sideEffect.fields.id);
      });
      await queue.enqueue(Probe({ n: 1 }));
      await waitFor(() => seen.length === 3);
      expect(seen).toEqual(["function", "acme", "object"]);
    } finally {
      await queue.shutdown();
      await prisma.$disconnect();
    }
  });
});
