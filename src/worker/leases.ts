/**
 * The leases a pool holds (lease-mode jobs, see migrations/000006.sql), kept alive by one
 * statement per renewal interval for all of them, on the control connection.
 *
 * A lease is lost when the renewal no longer finds it held (the job was cancelled or deleted,
 * or it expired and another worker took it over) or when it could not be renewed before it
 * expires (the database is unreachable; another worker may take the job over any moment): the
 * job's signal aborts with a LeaseLostError. A cancel also arrives at once by NOTIFY
 * (`cancel <id>` on the installation's channel; queue names cannot contain a space).
 */
import type { Engine } from "../engine.ts";
import type { ControlConnection } from "./control.ts";
import type { RunningJob } from "./running-job.ts";
import { LeaseLostError } from "../errors.ts";

/** A lease held by this pool. */
export interface Lease {
  readonly id: string;
  readonly attempt: number;
  /** Its leaseTimeout. */
  readonly ms: number;
  /** Local time (ms) until which the lease is known to hold: renewals sent before then were confirmed. */
  confirmedUntil: number;
  /** `ctx.complete(tx)` ran: the job's row may be gone by our own hand, which is not a loss. */
  completing: boolean;
}

interface Held extends Lease {
  readonly job: RunningJob;
  readonly unsubscribe: () => void;
}

/** The NOTIFY payload that cancels a leased job in the process that holds it. */
export function cancelMessage(id: string): string {
  return `cancel ${id}`;
}

export class LeaseKeeper {
  private readonly held = new Map<string, Held>();
  private timer: NodeJS.Timeout | undefined;
  /** When the armed renewal fires (local ms). */
  private timerAt = Infinity;
  private renewing = false;
  /** A renewal was asked for (a cancel's NOTIFY) while one was in flight: another follows it. */
  private again = false;

  constructor(
    private readonly engine: Engine,
    private readonly control: ControlConnection,
    /** The holder written on the job's row: the pool's name. */
    readonly owner: string,
    private readonly queue: string,
  ) {}

  /** Starts keeping the lease the claim of `job` took at local time `takenAt`. */
  hold(job: RunningJob, attempt: number, ms: number, takenAt: number): Lease {
    const lost = (reason: "cancelled" | "taken over" | "expired") => job.abort(new LeaseLostError(job.id, attempt, reason));
    const lease: Held = {
      id: job.id,
      attempt,
      ms,
      job,
      confirmedUntil: takenAt + ms,
      completing: false,
      // A cancel's NOTIFY asks for a renewal now, which tells for sure (the control connection
      // also calls every listener after a reconnect, when notifications may have been missed).
      unsubscribe: this.control.subscribe(cancelMessage(job.id), () => {
        if (this.held.get(job.id) === lease) this.arm(0);
      }),
    };
    this.held.set(job.id, lease);
    this.arm();
    return lease;
  }

  /** Stops keeping a lease (its job ended; its outcome is written next, fenced). */
  release(lease: Lease): void {
    const held = this.held.get(lease.id);
    if (held !== lease) return;
    held.unsubscribe();
    this.held.delete(lease.id);
    if (this.held.size === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Infinity;
    }
  }

  /** Stops renewing (the pool stopped; its jobs have ended). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    for (const lease of this.held.values()) lease.unsubscribe();
    this.held.clear();
  }

  /**
   * Arms the next renewal: in `delay` ms, by default a third of the shortest lease held. An
   * earlier one already armed stands: a pool that starts jobs all the time must still renew.
   */
  private arm(delay?: number): void {
    if (this.held.size === 0) return;
    const interval = delay ?? Math.max(50, Math.floor(Math.min(...[...this.held.values()].map((l) => l.ms)) / 3));
    const at = Date.now() + interval;
    if (this.timer && this.timerAt <= at) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => void this.renew(), interval);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = Date.now();
    // A lease not confirmed in time may be another worker's by now: stop its job (its fenced
    // outcome will tell). Checked here too, not only after a renewal: one may hang while the
    // database is unreachable.
    for (const lease of this.held.values()) {
      if (now >= lease.confirmedUntil && !lease.completing) lease.job.abort(new LeaseLostError(lease.id, lease.attempt, "expired"));
    }
    // The next tick is armed before this renewal is awaited, so that a renewal that hangs does
    // not stop the expiry check above.
    this.arm();
    if (this.renewing) this.again = true;
    else if (this.held.size > 0) {
      this.renewing = true;
      const leases = [...this.held.values()];
      const sentAt = Date.now();
      try {
        const rows = await this.control.query<{ id: string; held: boolean; live: boolean }>(this.engine.queries.leaseRenew, [
          leases.map((l) => l.id),
          leases.map((l) => l.attempt),
          leases.map((l) => l.ms),
          this.owner,
        ]);
        const byId = new Map(rows.map((row) => [row.id, row]));
        for (const lease of leases) {
          if (this.held.get(lease.id) !== lease) continue; // ended meanwhile
          const row = byId.get(lease.id);
          if (row?.held) {
            lease.confirmedUntil = sentAt + lease.ms;
            // Held after complete(tx): that transaction rolled back, the job is ours to finish.
            lease.completing = false;
          } else if (!lease.completing) lease.job.abort(new LeaseLostError(lease.id, lease.attempt, row?.live ? "taken over" : "cancelled"));
        }
      } catch (error) {
        this.engine.logger.warn("lease renewal failed", { queue: this.queue, leases: leases.length, error });
      } finally {
        this.renewing = false;
        if (this.again) {
          this.again = false;
          this.arm(0);
        }
      }
    }
  }
}
