/**
 * The `lock.wait` requests this node is holding: each waits for one queued ticket to be granted
 * (answered with the token) or dropped (cancelled, or its session ended: LOCK_NOT_HELD). Tickets move
 * through the log, so every node learns their fate when it applies the entry: a client may wait on
 * any node, and after a reconnect simply waits again elsewhere.
 *
 * Race-free by construction: a wait is registered first, then the applied state is read; a grant
 * applied before the read is seen by the read, one applied after it by the registration.
 */
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import type { LockRecord, TicketEvent } from '../coordination/lock-rules';

/** Who waits: a connection (any object: waits are dropped by identity when it goes). */
export type TicketWaitOwner = object;

interface Wait {
  readonly owner: TicketWaitOwner;
  readonly session: string;
  resolve(token: number): void;
  reject(error: HikariError): void;
}

function gone(name: string, ticket: number): HikariError {
  return new HikariError(ErrorCode.LOCK_NOT_HELD, { name, ticket }, { message: `ticket ${ticket} of lock ${name} is no longer queued: it was cancelled, or its session ended` });
}

export class TicketWaits {
  /** name → ticket → waits (normally one; a client retrying after a reconnect may briefly have two). */
  private readonly waits = new Map<string, Map<number, Set<Wait>>>();
  /**
   * Fates announced early (applied, not yet readable in the state): a wait that arrives in between
   * finds its ticket's fate here, since reading the state would still show it queued.
   */
  private recent = new Map<string, number | null>();

  constructor(private readonly readLock: (name: string) => Promise<LockRecord | null>) {}

  get size(): number {
    let n = 0;
    for (const byTicket of this.waits.values()) for (const set of byTicket.values()) n += set.size;
    return n;
  }

  /** Resolves with the token once `ticket` (of `session`) is granted; rejects if it leaves the queue without one. */
  wait(owner: TicketWaitOwner, session: string, name: string, ticket: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const w: Wait = { owner, session, resolve, reject };
      // A client re-sends its wait now and then (and after reconnecting): the newer wait of the
      // same connection replaces the older one, whose answer nobody reads any more.
      for (const old of [...(this.waits.get(name)?.get(ticket) ?? [])]) {
        if (old.owner === owner) this.end(name, ticket, old, new HikariError(ErrorCode.TIMEOUT, { reason: 'replaced by a newer lock.wait for the same ticket' }));
      }
      const byTicket = this.waits.get(name) ?? new Map<number, Set<Wait>>();
      this.waits.set(name, byTicket);
      const set = byTicket.get(ticket) ?? new Set<Wait>();
      byTicket.set(ticket, set);
      set.add(w);
      this.check(name, ticket, w).catch((e: unknown) => this.end(name, ticket, w, e instanceof HikariError ? e : new HikariError(ErrorCode.INTERNAL, { reason: String(e) })));
    });
  }

  /** Tickets granted or dropped by entries just applied, before their batch is written (answers go out at once). */
  onTicketsApplied(events: readonly TicketEvent[]): void {
    for (const ev of events) this.recent.set(`${ev.name}\u0000${ev.ticket}`, ev.token);
    this.onTickets(events);
  }

  /** The batch of the early events is written: the state shows them now. */
  onBatchWritten(): void {
    if (this.recent.size > 0) this.recent = new Map();
  }

  /** Tickets granted or dropped by an applied batch. */
  onTickets(events: readonly TicketEvent[]): void {
    for (const ev of events) {
      const set = this.waits.get(ev.name)?.get(ev.ticket);
      if (!set) continue;
      for (const w of [...set]) this.end(ev.name, ev.ticket, w, ev.token ?? gone(ev.name, ev.ticket));
    }
  }

  /** A snapshot replaced the state (events in between are unknown): look at every waited ticket again. */
  async recheckAll(): Promise<void> {
    const all: Array<[string, number, Wait]> = [];
    for (const [name, byTicket] of this.waits) for (const [ticket, set] of byTicket) for (const w of set) all.push([name, ticket, w]);
    await Promise.all(all.map(([name, ticket, w]) => this.check(name, ticket, w)));
  }

  /** A connection ended: its waits end with it (the tickets stay queued: the session may resume elsewhere). */
  dropOwner(owner: TicketWaitOwner): void {
    for (const [name, byTicket] of this.waits) {
      for (const [ticket, set] of byTicket) {
        for (const w of [...set]) {
          if (w.owner === owner) this.end(name, ticket, w, new HikariError(ErrorCode.CONNECTION_LOSS, { reason: 'the connection closed' }));
        }
      }
    }
  }

  private async check(name: string, ticket: number, w: Wait): Promise<void> {
    const early = this.recent.get(`${name}\u0000${ticket}`);
    if (early !== undefined) {
      this.end(name, ticket, w, early ?? gone(name, ticket));
      return;
    }
    const record = await this.readLock(name);
    const holder = record?.holders.find((h) => h.ticket === ticket);
    if (holder) {
      if (holder.session !== w.session) this.end(name, ticket, w, gone(name, ticket));
      else this.end(name, ticket, w, holder.token);
      return;
    }
    const waiter = record?.waiters.find((x) => x.ticket === ticket);
    if (!waiter || waiter.session !== w.session) this.end(name, ticket, w, gone(name, ticket));
    // Still queued: the registration will hear of its grant.
  }

  private end(name: string, ticket: number, w: Wait, result: number | HikariError): void {
    const byTicket = this.waits.get(name);
    const set = byTicket?.get(ticket);
    if (!set?.delete(w)) return; // already answered
    if (set.size === 0) byTicket!.delete(ticket);
    if (byTicket!.size === 0) this.waits.delete(name);
    if (typeof result === 'number') w.resolve(result);
    else w.reject(result);
  }
}
