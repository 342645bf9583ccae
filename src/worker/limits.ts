/**
 * A pool's share of the cluster-wide limits (`concurrency`, `rateLimit`) of its queue and of its
 * job types (src/limits.ts): which claimed jobs may start, and what to leave out of the next
 * claims meanwhile.
 *
 * - Concurrency: a job starts holding one of N advisory locks of its limit (queries.limitSlot):
 *   its transaction's in transaction mode, so its commit or rollback — or its worker's death —
 *   frees it; its worker connection's in lease mode, freed when the job ends or the connection
 *   dies. A claimed job that finds every slot held goes back untouched with the claim's commit.
 * - Rate: a job starts holding a token of its limit's current window (queries.rateTake), taken
 *   in a statement of its own. One refused goes back, and its limit is left out of claims until
 *   the window ends: the pool's timer wakes it then (no polling while it waits).
 *
 * A limit found full is left out of this pool's claims (its job types, or the whole queue)
 * until the pool is woken: by the NOTIFY a finishing limited job sends, an enqueue, or its timer.
 */
import type pg from "pg";
import type { Engine } from "../engine.ts";
import type { ControlConnection } from "./control.ts";
import type { ResolvedLimits } from "../limits.ts";

interface Limit {
  /** The advisory-lock and rate-limit key: schema, scope and name. */
  key: string;
  limits: ResolvedLimits;
  /** The job types it covers (undefined: the whole queue). */
  type?: string;
}

export class Limiter {
  private readonly queueLimit: Limit | undefined;
  private readonly typeLimits = new Map<string, Limit>();
  /** Limits found full: until the next wake (concurrency) or a time, ms since the epoch (rate). */
  private readonly full = new Map<Limit, number>();
  private claimable: string[] | undefined;
  /** Groups whose limit (groupConcurrency) was found full, until the next wake. */
  private readonly fullGroups = new Set<string>();
  private groupList: string[] = [];

  constructor(
    private readonly engine: Engine,
    private readonly control: ControlConnection,
    private readonly queue: string,
    queueLimits: ResolvedLimits | undefined,
    /** The queue's groupConcurrency: at most this many jobs of one group at once. */
    readonly groupConcurrency: number | undefined,
  ) {
    const schema = engine.options.schema;
    if (queueLimits) this.queueLimit = { key: `${schema}:queue:${queue}`, limits: queueLimits };
  }

  /** The groups to leave out of claims now (their limit was found full). */
  excludedGroups(): string[] {
    return this.groupList;
  }

  /** The limits of job type `type` (from defineJob), set at register. */
  setType(type: string, limits: ResolvedLimits | undefined): void {
    if (limits) this.typeLimits.set(type, { key: `${this.engine.options.schema}:type:${type}`, limits, type });
    else this.typeLimits.delete(type);
    this.claimable = undefined;
  }

  /** Whether this pool has any limit to keep (else it never looks here). */
  get active(): boolean {
    return this.queueLimit !== undefined || this.typeLimits.size > 0 || this.groupConcurrency !== undefined;
  }

  /** The job types to claim now: `all` less those whose limit is full; none while the queue's is. */
  claimTypes(all: string[]): string[] {
    if (this.full.size === 0) return all;
    const now = Date.now();
    for (const [limit, until] of this.full) if (until <= now) this.full.delete(limit);
    if (this.queueLimit && this.full.has(this.queueLimit)) return [];
    this.claimable ??= all.filter((type) => {
      const limit = this.typeLimits.get(type);
      return !limit || !this.full.has(limit);
    });
    return this.claimable;
  }

  /** The pool was woken (a slot may be free): claim every type again, but rate limits still wait. */
  woken(): void {
    for (const [limit, until] of this.full) if (until === Infinity) this.full.delete(limit);
    this.claimable = undefined;
    if (this.fullGroups.size > 0) {
      this.fullGroups.clear();
      this.groupList = [];
    }
  }

  /** Ms until the first full rate limit's window ends (undefined: none waits). */
  nextOpenIn(): number | undefined {
    let first: number | undefined;
    for (const until of this.full.values()) if (until !== Infinity && (first === undefined || until < first)) first = until;
    return first === undefined ? undefined : Math.max(0, first - Date.now());
  }

  /** Whether a job of `type` (in `group`) is limited (the queue's limit counts). */
  limits(type: string, group: string | null | undefined): boolean {
    return this.queueLimit !== undefined || this.typeLimits.has(type) || (this.groupConcurrency !== undefined && group != null);
  }

  /**
   * Admits a claimed job of `type`: takes a slot of each concurrency limit on `client` (in its
   * transaction, or on its session for a lease-mode job) and a token of each rate limit. False
   * when one is full: the job goes back, and that limit is left out of claims for now. A slot
   * taken before a later limit refused stays held until the transaction ends (never more jobs
   * than the limit, at worst fewer for that long).
   */
  async admit(client: pg.ClientBase, type: string, group: string | null | undefined, session: boolean): Promise<boolean> {
    const q = this.engine.queries;
    if (this.groupConcurrency !== undefined && group != null) {
      const key = `${this.engine.options.schema}:group:${this.queue}:${group}`;
      const { rows } = await client.query<{ slot: number }>(session ? q.limitSlotSession : q.limitSlot, [key, this.groupConcurrency]);
      if (rows[0]!.slot < 0) {
        this.fullGroups.add(group);
        this.groupList = [...this.fullGroups];
        return false;
      }
    }
    for (const limit of [this.queueLimit, this.typeLimits.get(type)]) {
      if (!limit) continue;
      if (limit.limits.concurrency !== undefined) {
        const { rows } = await client.query<{ slot: number }>(session ? q.limitSlotSession : q.limitSlot, [limit.key, limit.limits.concurrency]);
        if (rows[0]!.slot < 0) {
          this.markFull(limit, Infinity);
          return false;
        }
      }
      const rate = limit.limits.rateLimit;
      if (rate) {
        const [token] = await this.control.query<{ granted: boolean; retry_ms: number }>(q.rateTake, [limit.key, rate.max, rate.per]);
        if (!token!.granted) {
          this.markFull(limit, Date.now() + token!.retry_ms);
          return false;
        }
      }
    }
    return true;
  }

  /** Whether a job of `type` (in `group`) holds a concurrency slot (its end must wake the others). */
  holdsSlot(type: string, group: string | null | undefined): boolean {
    return (
      this.queueLimit?.limits.concurrency !== undefined ||
      this.typeLimits.get(type)?.limits.concurrency !== undefined ||
      (this.groupConcurrency !== undefined && group != null)
    );
  }

  private markFull(limit: Limit, until: number): void {
    this.full.set(limit, until);
    this.claimable = undefined;
    this.engine.logger.debug?.("limit full", { queue: this.queue, limit: limit.key, until: until === Infinity ? "a slot frees" : new Date(until).toISOString() });
  }
}
