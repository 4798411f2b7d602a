import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { ephemeralPathOf, ephemeralRange, sessionKey } from './keys';
import type { Overlay } from './overlay';
import { pack, unpack } from './packer';
import type { SessionCommand } from './commands';
import { deleteNode, ApplyPoint } from './namespace';
import { dropSessionLocks } from './locks';

/** A session as replicated. Times are the leader's clock (ms since the epoch) when it decided. */
export interface SessionRecord {
  timeoutMs: number;
  /** The last renewal committed through the log. */
  renewedAt: number;
  /**
   * Set once by a new leader to give the session a fresh deadline; cleared by the next renewal. A
   * session already extended since its last renewal is not extended again — so a dead client's
   * session expires even if leaders keep changing (etcd issue 9888).
   */
  extendedAt: number | null;
  /** The principal that opened it, when authentication was on (`token:<id>`, `cert:<subject>`, `admin`). */
  owner?: string;
}

/** When a session expires, unless renewed first. */
export function deadlineOf(r: SessionRecord): number {
  return (r.extendedAt ?? r.renewedAt) + r.timeoutMs;
}

// The rules of the session commands, pure (shared with the deterministic simulator).

export function openedSession(timeoutMs: number, t: number, owner?: string): SessionRecord {
  return owner === undefined ? { timeoutMs, renewedAt: t, extendedAt: null } : { timeoutMs, renewedAt: t, extendedAt: null, owner };
}

/** A committed keepalive: a full timeout from `t`, and the right to one extension again. */
export function renewedSession(r: SessionRecord, t: number): SessionRecord {
  return { ...r, renewedAt: t, extendedAt: null };
}

/** A new leader's fresh deadline — null when the session was already extended since its renewal. */
export function extendedSession(r: SessionRecord, t: number): SessionRecord | null {
  return r.extendedAt === null ? { ...r, extendedAt: t } : null;
}

/** An expiry decided at `t` applies only if the deadline has passed by then. */
export function isExpiredAt(r: SessionRecord, t: number): boolean {
  return deadlineOf(r) <= t;
}

export function encodeSession(r: SessionRecord): Buffer {
  return pack(r.owner === undefined ? [r.timeoutMs, r.renewedAt, r.extendedAt] : [r.timeoutMs, r.renewedAt, r.extendedAt, r.owner]);
}

export function decodeSession(bytes: Uint8Array): SessionRecord {
  const [timeoutMs, renewedAt, extendedAt, owner] = unpack<[number, number, number | null, string?]>(bytes);
  return typeof owner === 'string' ? { timeoutMs, renewedAt, extendedAt, owner } : { timeoutMs, renewedAt, extendedAt };
}

export async function readSession(o: Overlay, id: string): Promise<SessionRecord | null> {
  const bytes = await o.get(sessionKey(id));
  return bytes ? decodeSession(bytes) : null;
}

/** The bound session of an ephemeral create (or a lock request) must exist. */
export async function requireSession(o: Overlay, id: string | undefined, what = 'ephemeral nodes'): Promise<string> {
  if (id === undefined || !(await readSession(o, id))) {
    throw new HikariError(ErrorCode.SESSION_EXPIRED, {}, { message: id === undefined ? `${what} need a session: open one first` : `session ${id} has expired` });
  }
  return id;
}

/** Deletes sessions and, in the same entry, every ephemeral node they own and every lock grant and ticket they have. */
async function endSessions(o: Overlay, ids: readonly string[], at: ApplyPoint): Promise<void> {
  await dropSessionLocks(o, ids, at);
  // Every session's ephemeral nodes are found first, all scans at once (an expiry ends up to 200
  // sessions: one scan after another would hold the apply, and the node's heartbeats, for long).
  // Equivalent to scanning each in turn: ending one session never writes another one's range.
  const owned = await Promise.all(ids.map((id) => o.scan(ephemeralRange(id).gte, ephemeralRange(id).lt)));
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    for (const [key] of owned[i]) {
      await deleteNode(o, ephemeralPathOf(id, key), at);
    }
    o.del(sessionKey(id));
    at.sessions.set(id, null);
  }
}

/** Applies a session command; returns its result (what the waiting request gets). */
export async function applySession(o: Overlay, cmd: SessionCommand, at: ApplyPoint): Promise<unknown> {
  switch (cmd.op) {
    case 'open': {
      if (await readSession(o, cmd.id)) throw HikariError.invalidArgument('sessionId', 'a session with this id exists');
      const r = openedSession(cmd.ttl, cmd.t, cmd.o);
      o.put(sessionKey(cmd.id), encodeSession(r));
      at.sessions.set(cmd.id, r);
      return { sessionId: cmd.id, timeoutMs: cmd.ttl };
    }
    case 'renew': {
      const renewed: string[] = [];
      for (const id of cmd.ids) {
        const current = await readSession(o, id);
        if (!current) continue;
        const r = renewedSession(current, cmd.t);
        o.put(sessionKey(id), encodeSession(r));
        at.sessions.set(id, r);
        renewed.push(id);
      }
      return { renewed };
    }
    case 'extend': {
      for (const id of cmd.ids) {
        const current = await readSession(o, id);
        const r = current && extendedSession(current, cmd.t);
        if (!r) continue;
        o.put(sessionKey(id), encodeSession(r));
        at.sessions.set(id, r);
      }
      return {};
    }
    case 'expire': {
      const expired: string[] = [];
      for (const id of cmd.ids) {
        const r = await readSession(o, id);
        if (!r || !isExpiredAt(r, cmd.t) || expired.includes(id)) continue; // renewed meanwhile: it lives on
        expired.push(id);
      }
      await endSessions(o, expired, at);
      return { expired };
    }
    case 'close': {
      if (!(await readSession(o, cmd.id))) throw new HikariError(ErrorCode.SESSION_EXPIRED, {}, { message: `session ${cmd.id} has expired` });
      await endSessions(o, [cmd.id], at);
      return {};
    }
  }
}
