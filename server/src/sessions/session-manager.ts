import { randomBytes } from 'node:crypto';
import { ErrorCode, errorFromWire, HikariError } from '@hikarikeeper/protocol';
import type { RaftRuntime } from '../runtime/raft-runtime';
import type { Clock } from '../runtime/clock';
import type { SessionCommand } from '../coordination/commands';
import { deadlineOf, SessionRecord } from '../coordination/sessions';
import type { Logger } from '../logger';

export interface SessionLimits {
  timeoutMsMin: number;
  timeoutMsMax: number;
  timeoutMsDefault: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { timeoutMsMin: 1000, timeoutMsMax: 600_000, timeoutMsDefault: 10_000 };

/** How often the leader looks for expired sessions and flushes keepalives (ms). */
const CHECK_INTERVAL_MS = 50;
/**
 * The search for sessions past their deadline walks the whole table: not at every check (with
 * 100,000 sessions that would be most of a core), every this often — expiry comes at most this much
 * later than the deadline.
 */
const EXPIRY_SCAN_INTERVAL_MS = 250;
/**
 * Most session ids in one renew/extend/expire entry. Small enough that applying one entry (a read and
 * a write per session, more for an expiry) never holds a node's loop — and its heartbeats — for long:
 * with 10,000 a burst of renewals on a loaded 2-core machine delayed heartbeats past the election
 * timeout.
 */
const IDS_PER_COMMAND_MAX = 1_000;

interface KeepaliveWaiter {
  resolve(r: { timeoutMs: number }): void;
  reject(e: Error): void;
}

/**
 * Sessions on this node. Every node keeps the applied sessions in memory (rebuilt from RocksDB at
 * start); the leader decides, and proposes through the log:
 * - renewals: keepalives arriving within one check interval share one `renew` entry;
 * - one fresh deadline per session when it becomes leader (`extend`), but only for sessions not
 *   extended since their last renewal, so a dead client expires even if leaders keep changing;
 * - expiries, for sessions whose deadline passed on its clock — only after its `extend` applied.
 * Followers never expire anything on their own.
 */
export class SessionManager {
  readonly table = new Map<string, SessionRecord>();
  private pendingKeepalives = new Map<string, KeepaliveWaiter[]>();
  private readonly expiring = new Set<string>();
  private extendedInTerm = 0;
  private expiryEnabled = false;
  private timer: { cancel(): void } | null = null;
  private lastExpiryScan = 0;
  private readonly expiredListeners = new Set<(id: string) => void>();

  constructor(
    private readonly runtime: RaftRuntime,
    private readonly clock: Clock,
    private readonly log: Logger,
    readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS,
  ) {}

  load(sessions: Map<string, SessionRecord>): void {
    for (const [id, r] of sessions) this.table.set(id, r);
  }

  start(): void {
    this.timer = this.clock.every(CHECK_INTERVAL_MS, () => this.check());
  }

  stop(): void {
    this.timer?.cancel();
    const err = new HikariError(ErrorCode.SHUTTING_DOWN, {});
    for (const ws of this.pendingKeepalives.values()) for (const w of ws) w.reject(err);
    this.pendingKeepalives.clear();
  }

  onExpired(fn: (id: string) => void): () => void {
    this.expiredListeners.add(fn);
    return () => this.expiredListeners.delete(fn);
  }

  /** The sessions written by an applied (durable) batch. */
  onBatch(sessions: ReadonlyMap<string, SessionRecord | null>): void {
    for (const [id, r] of sessions) {
      if (r) {
        this.table.set(id, r);
        continue;
      }
      this.table.delete(id);
      this.expiring.delete(id);
      const waiting = this.pendingKeepalives.get(id);
      if (waiting) {
        this.pendingKeepalives.delete(id);
        for (const w of waiting) w.reject(expired(id));
      }
      for (const fn of this.expiredListeners) fn(id);
    }
  }

  /** A snapshot replaced the state: the table is rebuilt from it. */
  reset(sessions: Map<string, SessionRecord>): void {
    const before = new Set(this.table.keys());
    this.table.clear();
    for (const [id, r] of sessions) this.table.set(id, r);
    for (const id of before) if (!this.table.has(id)) for (const fn of this.expiredListeners) fn(id);
  }

  exists(id: string): boolean {
    return this.table.has(id);
  }

  clampTimeout(requested: number | undefined): number {
    const t = requested ?? this.limits.timeoutMsDefault;
    return Math.min(this.limits.timeoutMsMax, Math.max(this.limits.timeoutMsMin, t));
  }

  /** Opens a session; `owner` (authentication on) is the principal that may use it by id. */
  async open(timeoutMs: number | undefined, owner?: string): Promise<{ sessionId: string; timeoutMs: number }> {
    const id = randomBytes(16).toString('hex');
    const cmd: SessionCommand = { k: 'session', op: 'open', id, ttl: this.clampTimeout(timeoutMs), t: this.clock.now() };
    if (owner !== undefined) cmd.o = owner;
    // In effect here before the answer: a keepalive sent right behind it finds the session in the table.
    return (await this.propose(cmd, true)) as { sessionId: string; timeoutMs: number };
  }

  async close(id: string): Promise<void> {
    await this.propose({ k: 'session', op: 'close', id, t: this.clock.now() }, true); // (see open)
  }

  /** Renews `id`; resolves once the renewal is committed. Leader only. */
  keepalive(id: string): Promise<{ timeoutMs: number }> {
    if (!this.runtime.isLeader()) return Promise.reject(HikariError.notLeader(this.runtime.leaderClientAddress()));
    if (!this.table.has(id)) return Promise.reject(expired(id));
    return new Promise((resolve, reject) => {
      const list = this.pendingKeepalives.get(id);
      if (list) list.push({ resolve, reject });
      else this.pendingKeepalives.set(id, [{ resolve, reject }]);
    });
  }

  /** `inEffect`: resolve once this node's session table shows the change (RaftRuntime.proposeInEffect). */
  private async propose(cmd: SessionCommand, inEffect = false): Promise<unknown> {
    const outcome = await (inEffect ? this.runtime.proposeInEffect(cmd) : this.runtime.propose(cmd));
    if (!outcome.ok) throw errorFromWire(outcome.error);
    return outcome.value;
  }

  private check(): void {
    if (!this.runtime.isLeader()) {
      this.expiryEnabled = false;
      this.extendedInTerm = 0;
      if (this.pendingKeepalives.size > 0) {
        const err = HikariError.notLeader(this.runtime.leaderClientAddress());
        for (const ws of this.pendingKeepalives.values()) for (const w of ws) w.reject(err);
        this.pendingKeepalives.clear();
      }
      return;
    }
    const now = this.clock.now();
    const term = this.runtime.term();
    if (this.extendedInTerm !== term) {
      this.extendedInTerm = term;
      this.expiryEnabled = false;
      void this.extendAll(now, term);
    }
    if (this.pendingKeepalives.size > 0) this.flushKeepalives(now);
    if (this.expiryEnabled && now - this.lastExpiryScan >= EXPIRY_SCAN_INTERVAL_MS) {
      this.lastExpiryScan = now;
      this.expireDue(now);
    }
  }

  /** A new leader gives sessions not extended since their last renewal a fresh deadline, once. */
  private async extendAll(now: number, term: number): Promise<void> {
    const ids = [...this.table].filter(([, r]) => r.extendedAt === null).map(([id]) => id);
    try {
      for (let at = 0; at < ids.length; at += IDS_PER_COMMAND_MAX) {
        await this.propose({ k: 'session', op: 'extend', ids: ids.slice(at, at + IDS_PER_COMMAND_MAX), t: now });
      }
      // An empty extend still proves that this leader's earlier entries are applied here.
      if (ids.length === 0) await this.propose({ k: 'session', op: 'extend', ids: [], t: now });
      if (this.runtime.term() === term && this.runtime.isLeader()) {
        this.expiryEnabled = true;
        this.log.info({ sessions: this.table.size, extended: ids.length, term }, 'sessions extended by the new leader');
      }
    } catch (e) {
      this.extendedInTerm = 0; // retry at the next check (still leader) or hand over
      this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not extend sessions');
    }
  }

  private flushKeepalives(now: number): void {
    const batch = this.pendingKeepalives;
    this.pendingKeepalives = new Map();
    const ids = [...batch.keys()];
    for (let at = 0; at < ids.length; at += IDS_PER_COMMAND_MAX) {
      const part = ids.slice(at, at + IDS_PER_COMMAND_MAX);
      this.propose({ k: 'session', op: 'renew', ids: part, t: now }).then(
        (value) => {
          const renewed = new Set((value as { renewed: string[] }).renewed);
          for (const id of part) {
            const timeoutMs = this.table.get(id)?.timeoutMs ?? 0;
            for (const w of batch.get(id) ?? []) renewed.has(id) ? w.resolve({ timeoutMs }) : w.reject(expired(id));
          }
        },
        (e: unknown) => {
          for (const id of part) for (const w of batch.get(id) ?? []) w.reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    }
  }

  private expireDue(now: number): void {
    const due: string[] = [];
    for (const [id, r] of this.table) {
      if (deadlineOf(r) <= now && !this.expiring.has(id) && !this.pendingKeepalives.has(id)) due.push(id);
      if (due.length >= IDS_PER_COMMAND_MAX) break;
    }
    if (due.length === 0) return;
    for (const id of due) this.expiring.add(id);
    this.log.info({ sessions: due.length }, 'expiring sessions');
    this.propose({ k: 'session', op: 'expire', ids: due, t: now }).then(
      () => {
        for (const id of due) this.expiring.delete(id);
      },
      () => {
        for (const id of due) this.expiring.delete(id); // retried at a later check
      },
    );
  }
}

function expired(id: string): HikariError {
  return new HikariError(ErrorCode.SESSION_EXPIRED, {}, { message: `session ${id} has expired` });
}
