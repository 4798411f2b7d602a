import type { Command, Outcome } from '../coordination/commands';
import { FORGET_CLIENTS_MAX } from '../coordination/clients';
import type { ClientSlots } from '../coordination/clients';
import type { Clock } from '../runtime/clock';
import type { Logger } from '../logger';

/** Default client retention: a client's write outcomes are kept this long after its last write (24 h). */
export const CLIENT_RETENTION_MS_DEFAULT = 24 * 60 * 60 * 1000;
/** Shortest retention accepted: far above any retry the SDK makes within a call's default timeout. */
export const CLIENT_RETENTION_MS_MIN = 1_000;
/** Longest retention accepted (30 days). */
export const CLIENT_RETENTION_MS_MAX = 30 * 24 * 60 * 60 * 1000;
/** Dedup slots read per sweep (one page of the scan; a full pass takes as many sweeps as it needs). */
export const SWEEP_KEYS_MAX = 10_000;
/** Slots deleted by one `forget` entry at most (a client has up to 256): keeps each apply short. */
export const FORGET_SLOTS_MAX = 4_096;

/** What ClientExpiry needs of the node. */
export interface ClientExpiryHost {
  isLeader(): boolean;
  /** Whether session `id` is alive as applied here (clients with a slot written in one are kept). */
  hasSession(id: string): boolean;
  propose(cmd: Command): Promise<Outcome>;
  scanClients(after: string | null, keysMax: number): Promise<{ clients: ClientSlots[]; next: string | null }>;
}

/**
 * Forgets idle clients (see coordination/clients.ts): on the leader, every sweep interval, reads one
 * page of the clients with dedup slots (from where the last sweep stopped, wrapping at the end) and
 * proposes `forget` for those whose newest slot is older than the retention and none of whose slots
 * was written in a session still alive. The apply checks the same conditions again on every replica, so a client that wrote meanwhile is kept, and a sweep by a
 * deposed leader changes nothing it should not. Followers never sweep.
 */
export class ClientExpiry {
  private timer: { cancel(): void } | null = null;
  private cursor: string | null = null;
  private sweeping = false;
  /** Clients forgotten by this node's sweeps since it started. */
  forgotten = 0;

  constructor(
    private readonly host: ClientExpiryHost,
    private readonly clock: Clock,
    private readonly log: Logger,
    readonly retentionMs: number = CLIENT_RETENTION_MS_DEFAULT,
  ) {}

  /** A sweep every quarter of the retention, at most every 10 minutes and at least every 250 ms. */
  get intervalMs(): number {
    return Math.min(10 * 60_000, Math.max(250, Math.floor(this.retentionMs / 4)));
  }

  start(): void {
    this.timer ??= this.clock.every(this.intervalMs, () => void this.sweep());
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  /** One sweep (a no-op on a follower, or while the previous sweep runs); returns how many clients it forgot. */
  async sweep(): Promise<number> {
    if (this.sweeping || !this.host.isLeader()) return 0;
    this.sweeping = true;
    try {
      const now = this.clock.now();
      const before = now - this.retentionMs;
      const page = await this.host.scanClients(this.cursor, SWEEP_KEYS_MAX);
      this.cursor = page.next;
      let forgotten = 0;
      const idle = page.clients.filter((c) => c.newest < before && !c.sessions.some((sid) => this.host.hasSession(sid)));
      for (const ids of chunks(idle)) {
        const outcome = await this.host.propose({ k: 'clients', op: 'forget', ids, before, t: now });
        if (!outcome.ok) throw new Error(`forget was refused: ${outcome.error.code} ${outcome.error.message ?? ''}`);
        forgotten += (outcome.value as { forgotten: string[] }).forgotten.length;
      }
      this.forgotten += forgotten;
      if (forgotten > 0) this.log.info({ clients: forgotten, retentionMs: this.retentionMs }, 'forgot idle clients\' write outcomes');
      return forgotten;
    } catch (e) {
      // Not leader any more, a timeout, a stopping node: the next sweep (here or on the next leader) tries again.
      this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'client expiry sweep failed');
      return 0;
    } finally {
      this.sweeping = false;
    }
  }
}

/** Client ids in groups of at most FORGET_CLIENTS_MAX ids and FORGET_SLOTS_MAX slots. */
function chunks(clients: readonly ClientSlots[]): string[][] {
  const out: string[][] = [];
  let ids: string[] = [];
  let slots = 0;
  for (const c of clients) {
    if (ids.length > 0 && (ids.length >= FORGET_CLIENTS_MAX || slots + c.slots > FORGET_SLOTS_MAX)) {
      out.push(ids);
      ids = [];
      slots = 0;
    }
    ids.push(c.id);
    slots += c.slots;
  }
  if (ids.length > 0) out.push(ids);
  return out;
}
