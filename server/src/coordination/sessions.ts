import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { ephemeralPathOf, ephemeralRange, sessionKey } from './keys';
import type { Overlay } from './overlay';
import { pack, unpack } from './packer';
import type { SessionCommand } from './commands';
import { deleteNode, ApplyPoint } from './namespace';

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
}

/** When a session expires, unless renewed first. */
export function deadlineOf(r: SessionRecord): number {
  return (r.extendedAt ?? r.renewedAt) + r.timeoutMs;
}

export function encodeSession(r: SessionRecord): Buffer {
  return pack([r.timeoutMs, r.renewedAt, r.extendedAt]);
}

export function decodeSession(bytes: Uint8Array): SessionRecord {
  const [timeoutMs, renewedAt, extendedAt] = unpack<[number, number, number | null]>(bytes);
  return { timeoutMs, renewedAt, extendedAt };
}

export async function readSession(o: Overlay, id: string): Promise<SessionRecord | null> {
  const bytes = await o.get(sessionKey(id));
  return bytes ? decodeSession(bytes) : null;
}

/** The bound session of an ephemeral create must exist. */
export async function requireSession(o: Overlay, id: string | undefined): Promise<string> {
  if (id === undefined || !(await readSession(o, id))) {
    throw new HikariError(ErrorCode.SESSION_EXPIRED, {}, { message: id === undefined ? 'ephemeral nodes need a session: open one first' : `session ${id} has expired` });
  }
  return id;
}

/** Deletes a session and, in the same entry, every ephemeral node it owns. */
async function endSession(o: Overlay, id: string, at: ApplyPoint): Promise<void> {
  const range = ephemeralRange(id);
  for (const [key] of await o.scan(range.gte, range.lt)) {
    await deleteNode(o, ephemeralPathOf(id, key), at);
  }
  o.del(sessionKey(id));
  at.sessions.set(id, null);
}

/** Applies a session command; returns its result (what the waiting request gets). */
export async function applySession(o: Overlay, cmd: SessionCommand, at: ApplyPoint): Promise<unknown> {
  switch (cmd.op) {
    case 'open': {
      if (await readSession(o, cmd.id)) throw HikariError.invalidArgument('sessionId', 'a session with this id exists');
      const r: SessionRecord = { timeoutMs: cmd.ttl, renewedAt: cmd.t, extendedAt: null };
      o.put(sessionKey(cmd.id), encodeSession(r));
      at.sessions.set(cmd.id, r);
      return { sessionId: cmd.id, timeoutMs: cmd.ttl };
    }
    case 'renew': {
      const renewed: string[] = [];
      for (const id of cmd.ids) {
        const r = await readSession(o, id);
        if (!r) continue;
        r.renewedAt = cmd.t;
        r.extendedAt = null;
        o.put(sessionKey(id), encodeSession(r));
        at.sessions.set(id, r);
        renewed.push(id);
      }
      return { renewed };
    }
    case 'extend': {
      for (const id of cmd.ids) {
        const r = await readSession(o, id);
        if (!r || r.extendedAt !== null) continue;
        r.extendedAt = cmd.t;
        o.put(sessionKey(id), encodeSession(r));
        at.sessions.set(id, r);
      }
      return {};
    }
    case 'expire': {
      const expired: string[] = [];
      for (const id of cmd.ids) {
        const r = await readSession(o, id);
        if (!r || deadlineOf(r) > cmd.t) continue; // renewed meanwhile: it lives on
        await endSession(o, id, at);
        expired.push(id);
      }
      return { expired };
    }
    case 'close': {
      if (!(await readSession(o, cmd.id))) throw new HikariError(ErrorCode.SESSION_EXPIRED, {}, { message: `session ${cmd.id} has expired` });
      await endSession(o, cmd.id, at);
      return {};
    }
  }
}
