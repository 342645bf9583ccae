/**
 * The process's control connection, shared by all its pools of one installation:
 * - LISTEN for the NOTIFY sent at enqueue, and wake the pool of that queue;
 * - write what must survive a job transaction's rollback: crash records, failures of attempts
 *   whose connection was cut, heartbeats (`synchronous_commit = off`);
 * - reconnect with backoff when the connection drops, and then wake every pool, since
 *   notifications sent meanwhile are lost.
 */
import type pg from "pg";
import type { Engine } from "../engine.ts";

type Listener = () => void;

/** One per installation and process; pools `acquire` it while they run. */
export class ControlConnection {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private users = 0;
  private closed = true;
  private readonly listeners = new Map<string, Set<Listener>>();
  private reconnectDelay = 100;
  private reconnectTimer: NodeJS.Timeout | undefined;

  constructor(private readonly engine: Engine) {}

  /** Starts using the connection; the first user opens it. */
  async acquire(): Promise<void> {
    this.users++;
    this.closed = false;
    try {
      await this.connection();
    } catch (error) {
      this.users--;
      if (this.users === 0) this.closed = true;
      throw error;
    }
  }

  /** Stops using it; the last user closes it. */
  async release(): Promise<void> {
    this.users = Math.max(0, this.users - 1);
    if (this.users > 0) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  /** Calls `listener` when a job is enqueued into `queue` (and after a reconnect). */
  subscribe(queue: string, listener: Listener): () => void {
    let set = this.listeners.get(queue);
    if (!set) this.listeners.set(queue, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Runs a statement on the control connection (autocommit). */
  async query<R extends object>(sql: string, values: readonly unknown[]): Promise<R[]> {
    const client = await this.connection();
    const result = await client.query(sql, values as unknown[]);
    return result.rows as R[];
  }

  private connection(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async open(): Promise<pg.Client> {
    // Pipelined: heartbeats, crash records and detached failures of all pools share this
    // connection and are sent as they come (pg 9 will refuse a query issued while another runs otherwise).
    const client = await this.engine.connect({ pipeline: true });
    client.on("error", (error) => this.engine.logger.warn("control connection error", { error }));
    client.on("end", () => this.onEnd(client));
    client.on("notification", (message) => {
      const set = message.payload === undefined ? undefined : this.listeners.get(message.payload);
      set?.forEach((listener) => listener());
    });
    await client.query("SET synchronous_commit = off");
    await client.query(`LISTEN "${this.engine.queries.channel}"`);
    if (this.closed) {
      await client.end().catch(() => undefined);
      throw new Error("control connection closed while opening");
    }
    this.client = client;
    this.reconnectDelay = 100;
    return client;
  }

  private onEnd(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    if (this.closed) return;
    this.engine.logger.warn("control connection lost, reconnecting");
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, 10_000);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closed) return;
      this.connection().then(
        // Notifications sent while we were away are gone: let every pool look for work.
        () => this.listeners.forEach((set) => set.forEach((listener) => listener())),
        (error: unknown) => {
          this.engine.logger.warn("control connection reconnect failed", { error, retryInMs: this.reconnectDelay });
          this.scheduleReconnect();
        },
      );
    }, delay);
    this.reconnectTimer.unref();
  }
}

const controls = new WeakMap<Engine, ControlConnection>();

/** The control connection of an installation in this process. */
export function controlFor(engine: Engine): ControlConnection {
  let control = controls.get(engine);
  if (!control) controls.set(engine, (control = new ControlConnection(engine)));
  return control;
}
