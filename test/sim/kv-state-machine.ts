import { ConfState } from '@hikarikeeper/raft';
import {
  AcquireRequest, extendedSession, isExpiredAt, LockChange, LockRecord, lockAcquire, lockCancel, lockDropSessions, lockRelease,
  openedSession, renewedSession, SessionRecord, TicketEvent,
} from '@hikarikeeper/server';

export type LockMode = AcquireRequest['mode'];

/** A client command of the simulated replicated register. `client`/`seq` deduplicate retries. */
export type KvCommand =
  | { readonly op: 'write'; readonly key: string; readonly value: string; readonly client: number; readonly seq: number }
  | { readonly op: 'cas'; readonly key: string; readonly expected: string | null; readonly value: string; readonly client: number; readonly seq: number };

/** Session commands, proposed by the leader with its clock `t` (see server/src/coordination/sessions.ts). */
export type SessionCmd =
  | { readonly op: 'session-open'; readonly id: string; readonly ttl: number; readonly t: number }
  | { readonly op: 'session-renew'; readonly ids: readonly string[]; readonly t: number }
  | { readonly op: 'session-extend'; readonly ids: readonly string[]; readonly t: number }
  | { readonly op: 'session-expire'; readonly ids: readonly string[]; readonly t: number };

/**
 * Lock commands of a session (see server/src/coordination/locks.ts), deduplicated by `client`/`seq`
 * as the register's commands are. The ticket of an acquire is the log index applying it.
 */
export type LockCmd =
  | {
    readonly op: 'lock-acquire'; readonly name: string; readonly mode: LockMode; readonly permits?: number; readonly wait: boolean;
    readonly reentrant?: boolean; readonly session: string; readonly client: number; readonly seq: number;
  }
  | { readonly op: 'lock-release'; readonly name: string; readonly token: number; readonly session: string; readonly client: number; readonly seq: number }
  | { readonly op: 'lock-cancel'; readonly name: string; readonly ticket: number; readonly session: string; readonly client: number; readonly seq: number };

export type KvResult = {
  readonly ok: boolean;
  readonly renewed?: readonly string[];
  readonly expired?: readonly string[];
  readonly t?: number;
  /** A refused lock command: the server's error code (SESSION_EXPIRED, LOCK_NOT_HELD, FENCE_MISMATCH...). */
  readonly code?: string;
  /** An acquire: granted with `token`, or queued with `ticket` (neither: a `wait: false` refusal). */
  readonly granted?: boolean;
  readonly token?: number;
  readonly ticket?: number;
  /** A release: reentrant acquires still held (0: released). */
  readonly count?: number;
  /** A cancel: what the ticket was. */
  readonly was?: 'waiting' | 'held' | 'gone';
};

/**
 * Test-only bugs of the lock commands, each breaking one rule the lock checks (lock-checks.ts) must
 * notice. They bend what the state machine hands the server's rules, never the rules themselves.
 */
export interface LockBugs {
  /** An exclusive acquire does not see the current holders: granted even when held. */
  skipHolderCheck?: boolean;
  /** A session's expiry leaves its grants and queued tickets in place. */
  keepExpiredWaiters?: boolean;
  /** An acquire does not see the queue: granted at once when the mode fits, ahead of earlier waiters. */
  bargeIn?: boolean;
  /** Tokens counted per lock record instead of one replicated counter: they restart when a lock goes idle. */
  tokenPerLock?: boolean;
  /** (The node, not the state machine) a lock wait on a queued ticket is answered at once with the next token. */
  earlyWaitAnswer?: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(cmd: KvCommand | SessionCmd | LockCmd): Uint8Array {
  return encoder.encode(JSON.stringify(cmd));
}

/**
 * Commands already decoded, by their bytes: the simulated network hands entries over by reference,
 * so every replica applies the same objects (three times in four, a decode is a repeat).
 */
const decoded = new WeakMap<Uint8Array, KvCommand | SessionCmd | LockCmd>();

export function decodeCommand(data: Uint8Array): KvCommand | SessionCmd | LockCmd {
  let cmd = decoded.get(data);
  if (!cmd) {
    cmd = JSON.parse(decoder.decode(data)) as KvCommand | SessionCmd | LockCmd;
    decoded.set(data, cmd);
  }
  return cmd;
}

/** The error code of a refusal thrown by the server's rules (a HikariError); anything else is a bug. */
function refusalCode(e: unknown): string {
  const code = e instanceof Error && e.name === 'HikariError' ? (e as { code?: unknown }).code : undefined;
  if (typeof code === 'string') return code;
  throw e;
}

const byName = <T>(a: [string, T], b: [string, T]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

/**
 * The deterministic state machine replicated by the simulator: string keys to string values, plus a
 * bounded deduplication table (one entry per client: the latest sequence number and its result), so
 * that a write retried after a lost response is applied once. Sessions and lock queues follow the
 * server's own pure rules. Its state, the applied index and the membership are "durable": they
 * survive a simulated crash, as the server's RocksDB state does.
 */
export class KvStateMachine {
  kv = new Map<string, string>();
  private lastByClient = new Map<number, { seq: number; result: KvResult }>();
  applied = 0;
  confState: ConfState;

  constructor(
    confState: ConfState,
    /** Test-only bug: apply an expiry without re-checking the deadline (a renewal that raced is lost). */
    private readonly unsafeExpireWithoutRecheck = false,
    /** Test-only bugs of the lock commands. */
    private readonly lockBugs: LockBugs = {},
  ) {
    this.confState = confState;
  }

  /** Lock records by name (absent when idle), as the server keeps them (one record per name). */
  locks = new Map<string, LockRecord>();
  /** The replicated fencing counter: every grant takes the next value. */
  fence = 0;
  /** Tickets granted or dropped by the latest applied command (what the node's lock waits hear of). */
  private ticketEvents: TicketEvent[] = [];

  /** Sessions, with the server's own rules (open, renew, extend once, expire at the deadline). */
  sessions = new Map<string, SessionRecord>();
  /** Ids of expired sessions (a handful per run in the simulator). */
  endedSessions = new Set<string>();

  /** Applies a session command at log index `index` (the ending of a session changes its locks there). */
  applySession(cmd: SessionCmd, index: number): KvResult {
    switch (cmd.op) {
      case 'session-open': {
        // A retried open (its first answer was lost) finds the session: it answers with the
        // session's real renewal time, and renews nothing.
        const existing = this.sessions.get(cmd.id);
        if (existing) return { ok: true, t: existing.renewedAt };
        // An id that expired stays dead (the server draws a fresh random id per open instead): a late
        // retry of an open must not bring a session back under the same name.
        if (this.endedSessions.has(cmd.id)) return { ok: false };
        this.sessions.set(cmd.id, openedSession(cmd.ttl, cmd.t));
        return { ok: true, t: cmd.t };
      }
      case 'session-renew': {
        const renewed: string[] = [];
        for (const id of cmd.ids) {
          const r = this.sessions.get(id);
          if (!r) continue;
          this.sessions.set(id, renewedSession(r, cmd.t));
          renewed.push(id);
        }
        return { ok: true, renewed, t: cmd.t };
      }
      case 'session-extend':
        for (const id of cmd.ids) {
          const r = this.sessions.get(id);
          const next = r && extendedSession(r, cmd.t);
          if (next) this.sessions.set(id, next);
        }
        return { ok: true };
      case 'session-expire': {
        const expired: string[] = [];
        for (const id of cmd.ids) {
          const r = this.sessions.get(id);
          if (!r || expired.includes(id) || (!this.unsafeExpireWithoutRecheck && !isExpiredAt(r, cmd.t))) continue;
          expired.push(id);
        }
        // As the server's endSessions: the grants and tickets of every session this entry ends go
        // together, before any queue moves, in the same entry.
        if (!this.lockBugs.keepExpiredWaiters) this.dropSessionLocks(new Set(expired), index);
        for (const id of expired) {
          this.sessions.delete(id);
          this.endedSessions.add(id);
        }
        return { ok: true, expired, t: cmd.t };
      }
    }
  }

  /** Applies a register or lock command at log index `index`. */
  apply(cmd: KvCommand | LockCmd, index: number): KvResult {
    const last = this.lastByClient.get(cmd.client);
    if (last && cmd.seq <= last.seq) {
      // A retry of a command already applied: answer as the first time, change nothing.
      return cmd.seq === last.seq ? last.result : { ok: false };
    }
    let result: KvResult;
    if (cmd.op === 'lock-acquire' || cmd.op === 'lock-release' || cmd.op === 'lock-cancel') {
      result = this.applyLock(cmd, index);
    } else if (cmd.op === 'write') {
      this.kv.set(cmd.key, cmd.value);
      result = { ok: true };
    } else {
      const current = this.kv.get(cmd.key) ?? null;
      result = { ok: current === cmd.expected };
      if (result.ok) this.kv.set(cmd.key, cmd.value);
    }
    this.lastByClient.set(cmd.client, { seq: cmd.seq, result });
    return result;
  }

  // ------------------------------------------------------------------ locks

  get hasTicketEvents(): boolean {
    return this.ticketEvents.length > 0;
  }

  /** Takes the ticket events of the latest applied command. */
  takeTicketEvents(): TicketEvent[] {
    const events = this.ticketEvents;
    this.ticketEvents = [];
    return events;
  }

  /** The token source of a command on lock `name`: the replicated counter (or the per-lock bug). */
  private tokensFor(name: string): () => number {
    if (!this.lockBugs.tokenPerLock) return () => ++this.fence;
    // The bug: a counter kept with the lock record, so it starts over once the record is deleted.
    let last = Math.max(0, ...(this.locks.get(name)?.holders ?? []).map((h) => h.token));
    return () => ++last;
  }

  /** Writes the outcome of a rule, as the server's commit(): the record (deleted when idle), the events. */
  private commitLock(name: string, change: LockChange): void {
    if (change.record) this.locks.set(name, change.record);
    else this.locks.delete(name);
    for (const h of change.granted) this.ticketEvents.push({ name, ticket: h.ticket, token: h.token });
    for (const w of change.dropped) this.ticketEvents.push({ name, ticket: w.ticket, token: null });
  }

  /** A lock command of a live session, applied with the server's rules (server/src/coordination/locks.ts). */
  private applyLock(cmd: LockCmd, index: number): KvResult {
    if (!this.sessions.has(cmd.session)) return { ok: false, code: 'SESSION_EXPIRED' };
    const current = this.locks.get(cmd.name) ?? null;
    const nextToken = this.tokensFor(cmd.name);
    try {
      switch (cmd.op) {
        case 'lock-acquire': {
          const req: AcquireRequest = {
            ticket: index, session: cmd.session, mode: cmd.mode, permits: cmd.permits, reentrant: cmd.reentrant === true, wait: cmd.wait, value: null, index,
          };
          // The bugs hide part of the record from the rule, then put it back.
          const hideHolders = this.lockBugs.skipHolderCheck === true && cmd.mode === 'exclusive' && current !== null;
          const hideWaiters = this.lockBugs.bargeIn === true && current !== null;
          const seen = current && { ...current, holders: hideHolders ? [] : current.holders, waiters: hideWaiters ? [] : current.waiters };
          const { change, outcome } = lockAcquire(seen, cmd.name, req, nextToken);
          if (!outcome.granted && outcome.ticket === undefined) return { ok: true, granted: false }; // wait: false, refused
          if (change.record && current && hideHolders) change.record.holders.unshift(...current.holders.map((h) => ({ ...h })));
          if (change.record && current && hideWaiters) change.record.waiters.unshift(...current.waiters);
          this.commitLock(cmd.name, change);
          return outcome.granted ? { ok: true, granted: true, token: outcome.token, ticket: outcome.ticket } : { ok: true, granted: false, ticket: outcome.ticket };
        }
        case 'lock-release': {
          const { change, count } = lockRelease(current, cmd.name, cmd.session, cmd.token, index, nextToken);
          this.commitLock(cmd.name, change);
          return { ok: true, count };
        }
        case 'lock-cancel': {
          const { change, was } = lockCancel(current, cmd.session, cmd.ticket, index, nextToken);
          if (was !== 'gone') this.commitLock(cmd.name, change);
          return { ok: true, was };
        }
      }
    } catch (e) {
      return { ok: false, code: refusalCode(e) };
    }
  }

  /**
   * Sessions ended together: every lock one of them holds or waits for goes through the server's
   * dropSessions. Names in sorted order (as the server), so every replica hands out the same
   * tokens whatever order its map was filled in.
   */
  private dropSessionLocks(sessions: ReadonlySet<string>, index: number): void {
    if (sessions.size === 0) return;
    for (const [name, record] of [...this.locks].sort(byName)) {
      if (!record.holders.some((h) => sessions.has(h.session)) && !record.waiters.some((w) => sessions.has(w.session))) continue;
      this.commitLock(name, lockDropSessions(record, sessions, index, this.tokensFor(name)));
    }
  }

  serialize(): Uint8Array {
    return encoder.encode(JSON.stringify({
      kv: [...this.kv].sort(),
      last: [...this.lastByClient].sort((a, b) => a[0] - b[0]),
      sessions: [...this.sessions].sort(),
      ended: [...this.endedSessions].sort(),
      locks: [...this.locks].sort(byName),
      fence: this.fence,
      applied: this.applied,
      conf: this.confState,
    }));
  }

  restore(data: Uint8Array): void {
    const o = JSON.parse(decoder.decode(data)) as {
      kv: [string, string][]; last: [number, { seq: number; result: KvResult }][]; applied: number; conf: ConfState;
      sessions: [string, SessionRecord][];
      ended: string[];
      locks: [string, LockRecord][];
      fence: number;
    };
    this.kv = new Map(o.kv);
    this.lastByClient = new Map(o.last);
    this.sessions = new Map(o.sessions);
    this.endedSessions = new Set(o.ended);
    this.locks = new Map(o.locks);
    this.fence = o.fence;
    this.ticketEvents = [];
    this.applied = o.applied;
    this.confState = o.conf;
  }

  /** A digest of the replicated state, for comparing replicas. */
  digest(): string {
    return JSON.stringify([
      [...this.kv].sort(), [...this.lastByClient].sort((a, b) => a[0] - b[0]), [...this.sessions].sort(), [...this.endedSessions].sort(),
      [...this.locks].sort(byName), this.fence,
    ]);
  }
}
