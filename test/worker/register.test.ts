/**
 * One handler per job type and queue: a second `register` of a different handler for the same
 * type is almost surely a mistake (two modules both handling "send-welcome"), so it is refused
 * unless the caller says `{ replace: true }`. Registering the same handler again, or more types,
 * works as before.
 */
import { describe, expect, it } from "vitest";
import { defineJob, InvalidJobError, InvalidOptionsError, type HandlerFor } from "../../src/index.ts";
import { useTestApp, waitFor } from "../helpers/app.ts";

const SendWelcome = defineJob<{ userId: number }>("send-welcome");
const Cleanup = defineJob<{ days: number }>("cleanup");

describe("register, once per job type", () => {
  const { app, queues } = useTestApp();

  function queue(name: string) {
    const q = app.prisma.$jobs.queue(name, { poolSize: 1, pollInterval: 200 });
    queues.push(q);
    return q;
  }

  it("a second, different handler for a job type is refused with a typed error, and the first one keeps handling its jobs", async () => {
    const mail = queue("mail");
    await mail.register(SendWelcome, async (job, { tx, jobId }) => void (await tx.sideEffect.create({ data: { id: `${jobId}`, note: "first" } })));
    const second = mail.register(SendWelcome, async (job, { tx, jobId }) => void (await tx.sideEffect.create({ data: { id: `${jobId}`, note: "second" } })));
    await expect(second).rejects.toThrow(InvalidJobError);
    await expect(second).rejects.toThrow(
      'queue "mail" already has a handler for job type "send-welcome": registering another would replace it. ' +
        "Register each job type once per queue, or pass { replace: true } to replace the handler on purpose",
    );

    const id = await mail.enqueue(SendWelcome({ userId: 1 }));
    await waitFor(async () => (await app.count("job_history", "id = $1", [id])) === 1);
    expect(await app.rows(`SELECT note FROM "SideEffect" WHERE id = $1`, [id])).toEqual([{ note: "first" }]);
  });

  it("{ replace: true } replaces the handler of a running pool", async () => {
    const mail = queue("mail-replace");
    await mail.register(SendWelcome, async (job, { tx, jobId }) => void (await tx.sideEffect.create({ data: { id: `${jobId}`, note: "old" } })));
    await mail.start();
    await mail.register(SendWelcome, async (job, { tx, jobId }) => void (await tx.sideEffect.create({ data: { id: `${jobId}`, note: "new" } })), { replace: true });

    const id = await mail.enqueue(SendWelcome({ userId: 2 }));
    await waitFor(async () => (await app.count("job_history", "id = $1", [id])) === 1);
    expect(await app.rows(`SELECT note FROM "SideEffect" WHERE id = $1`, [id])).toEqual([{ note: "new" }]);
  });

  it("the same handler again, and more job types on a running pool, are fine", async () => {
    const q = queue("both");
    const handler: HandlerFor<typeof SendWelcome> = async (_job, { tx, jobId }) => void (await tx.sideEffect.create({ data: { id: jobId } }));
    await q.register(SendWelcome, handler);
    await q.register(SendWelcome, handler); // e.g. a module evaluated twice
    await q.start();
    await q.register(Cleanup, async () => undefined); // restarts the pool with both types
    const [welcome, cleanup] = await q.enqueue([SendWelcome({ userId: 3 }), Cleanup({ days: 1 })]);
    await waitFor(async () => (await app.count("job_history", "id = ANY($1::bigint[])", [[welcome, cleanup]])) === 2);
  });

  it("misspelt register options are refused", async () => {
    const q = queue("options");
    await expect(q.register(SendWelcome, async () => undefined, { replce: true } as never)).rejects.toThrow(
      new InvalidOptionsError("replce", 'unknown option "replce" for register options, did you mean "replace"?'),
    );
  });
});
