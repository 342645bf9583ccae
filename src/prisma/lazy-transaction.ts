/**
 * A handler's `tx` that opens its Prisma transaction on first use.
 *
 * Many handlers never touch the database (send a mail, call an API), and a Prisma interactive
 * transaction costs ~50–70 µs of CPU and a savepoint per job even when unused: for short jobs
 * that is a large share of a worker's time. So the handler gets a stand-in that records what it
 * does with `tx` (`tx.user.create(args)`, `` tx.$executeRaw`...` ``, `tx.$jobs.enqueue(job)`,
 * fluent calls) and, when that is awaited, opens the real transaction (once) and replays it
 * there. Nothing a handler can observe changes: the statements run in the job's transaction,
 * in the order they are awaited, and the transaction ends with the handler.
 *
 * Synchronous members are read from the client itself: a model's `fields` (field references
 * are the same for the client and its transactions).
 */

/** Opens the real transaction: calls `body` with it; settles when the transaction has ended. */
export type OpenTransaction = (body: (tx: object) => Promise<void>) => Promise<unknown>;

/** How a handler ended, for the transaction it opened (if it did). */
type Ending = { ok: true } | { ok: false; error: unknown };

/**
 * Runs `fn` with a `tx` that opens the real transaction through `open` on first use, and
 * ends it (commit or rollback, as `fn` settles) before returning. `client` provides members
 * that are read synchronously (see the module comment).
 */
export async function withLazyTransaction<T>(open: OpenTransaction, client: object, fn: (tx: object) => Promise<T>): Promise<T> {
  let real: Promise<object> | undefined;
  let ended: Promise<unknown> | undefined;
  let end!: (ending: Ending) => void;
  const start = (): Promise<object> =>
    (real ??= new Promise<object>((resolve, reject) => {
      const handlerDone = new Promise<void>((done, fail) => {
        end = (ending) => (ending.ok ? done() : fail(ending.error));
      });
      // Nobody waits for it when the transaction failed to open (the body never ran).
      handlerDone.catch(() => undefined);
      ended = open(async (tx) => {
        resolve(tx);
        await handlerDone;
      });
      // Opening failed before the body ran: the handler's statement fails with the reason.
      ended.catch(reject);
    }));

  let result: T;
  try {
    result = await fn(standIn(start, client, []));
  } catch (error) {
    if (real) {
      end({ ok: false, error });
      await ended!.catch(() => undefined);
    }
    throw error;
  }
  if (real) {
    end({ ok: true });
    await ended;
  }
  return result;
}

type Step = { get: string } | { call: unknown[] };

/** Property names of a promise: reading them from a recorded call runs it. */
const PROMISE_METHODS = new Set(["then", "catch", "finally"]);

/** A recorded path from `tx` (gets and calls), replayed on the real transaction when awaited. */
function standIn(start: () => Promise<object>, client: object, steps: readonly Step[]): object {
  let run: Promise<unknown> | undefined;
  const execute = () => (run ??= start().then((tx) => replay(tx, steps)));
  const endsWithCall = steps.length > 0 && "call" in steps[steps.length - 1]!;
  // A function target, so that any recorded member can be called.
  return new Proxy(function recorded() {}, {
    get(_target, property) {
      if (typeof property === "symbol") return undefined;
      if (PROMISE_METHODS.has(property)) {
        if (!endsWithCall) return undefined; // `tx` and `tx.user` are not promises
        const promise = execute();
        return (promise[property as "then"] as (...a: unknown[]) => unknown).bind(promise);
      }
      if (property === "fields" && steps.length === 1 && "get" in steps[0]!) {
        return (client as Record<string, Record<string, unknown> | undefined>)[steps[0].get]?.fields;
      }
      return standIn(start, client, [...steps, { get: property }]);
    },
    apply(_target, _this, args: unknown[]) {
      return standIn(start, client, [...steps, { call: args }]);
    },
  });
}

function replay(tx: object, steps: readonly Step[]): unknown {
  let owner: unknown = undefined;
  let value: unknown = tx;
  for (const step of steps) {
    if ("get" in step) {
      owner = value;
      value = (value as Record<string, unknown>)[step.get];
    } else {
      value = (value as (...a: unknown[]) => unknown).apply(owner, step.call);
      owner = undefined;
    }
  }
  return value;
}
