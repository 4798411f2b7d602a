import { ConfState } from '@hikarikeeper/raft';
import { extendedSession, isExpiredAt, openedSession, renewedSession, SessionRecord } from '@hikarikeeper/server';

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

export type KvResult = { readonly ok: boolean; readonly renewed?: readonly string[]; readonly expired?: readonly string[]; readonly t?: number };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(cmd: KvCommand | SessionCmd): Uint8Array {
  return encoder.encode(JSON.stringify(cmd));
}

export function decodeCommand(data: Uint8Array): KvCommand | SessionCmd {
  return JSON.parse(decoder.decode(data)) as KvCommand | SessionCmd;
}

/**
 * The deterministic state machine replicated by the simulator: string keys to string values, plus a
 * bounded deduplication table (one entry per client: the latest sequence number and its result), so
 * that a write retried after a lost response is applied once. Its state, the applied index and the
 * membership are "durable": they survive a simulated crash, as the server's RocksDB state does.
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
  ) {
    this.confState = confState;
  }

  /** Sessions, with the server's own rules (open, renew, extend once, expire at the deadline). */
  sessions = new Map<string, SessionRecord>();
  /** Ids of expired sessions (a handful per run in the simulator). */
  endedSessions = new Set<string>();

  applySession(cmd: SessionCmd): KvResult {
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
          if (!r || (!this.unsafeExpireWithoutRecheck && !isExpiredAt(r, cmd.t))) continue;
          this.sessions.delete(id);
          this.endedSessions.add(id);
          expired.push(id);
        }
        return { ok: true, expired, t: cmd.t };
      }
    }
  }

  apply(cmd: KvCommand): KvResult {
    const last = this.lastByClient.get(cmd.client);
    if (last && cmd.seq <= last.seq) {
      // A retry of a command already applied: answer as the first time, change nothing.
      return cmd.seq === last.seq ? last.result : { ok: false };
    }
    let result: KvResult;
    if (cmd.op === 'write') {
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

  serialize(): Uint8Array {
    return encoder.encode(JSON.stringify({
      kv: [...this.kv].sort(),
      last: [...this.lastByClient].sort((a, b) => a[0] - b[0]),
      sessions: [...this.sessions].sort(),
      ended: [...this.endedSessions].sort(),
      applied: this.applied,
      conf: this.confState,
    }));
  }

  restore(data: Uint8Array): void {
    const o = JSON.parse(decoder.decode(data)) as {
      kv: [string, string][]; last: [number, { seq: number; result: KvResult }][]; applied: number; conf: ConfState;
      sessions: [string, SessionRecord][];
      ended: string[];
    };
    this.kv = new Map(o.kv);
    this.lastByClient = new Map(o.last);
    this.sessions = new Map(o.sessions);
    this.endedSessions = new Set(o.ended);
    this.applied = o.applied;
    this.confState = o.conf;
  }

  /** A digest of the replicated state, for comparing replicas. */
  digest(): string {
    return JSON.stringify([[...this.kv].sort(), [...this.lastByClient].sort((a, b) => a[0] - b[0]), [...this.sessions].sort(), [...this.endedSessions].sort()]);
  }
}
