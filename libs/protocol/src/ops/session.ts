/**
 * Sessions: a client's liveness in the cluster. A session is opened on the leader, kept alive by
 * `session.keepalive` (about every timeout/3), and ends by `session.close` or by expiry, which the
 * leader decides through the log when no keepalive arrived within the timeout. Everything the
 * session owns (ephemeral nodes, later locks and registrations) is deleted in the same log entry.
 *
 * `session.open`, `session.keepalive` and `session.close` are decided by the leader (a follower answers
 * NOT_LEADER with the leader's address); `session.resume` works on any node.
 *
 * A connection is bound to at most one session: `session.open` binds a new one, `session.resume`
 * binds an existing one after a reconnect (on any node). When the bound session expires the node
 * pushes an event `{ k: 'session', d: { sessionId, state: 'expired' } }` on the connection.
 *
 * Detached sessions (etcd's leases): `session.open` with `attach: false` opens a session without
 * binding it, so one connection may keep many sessions (a gateway, a process pool, a benchmark): it
 * renews them by id with `session.keepalive { sessionIds }` (up to SESSION_IDS_PER_KEEPALIVE_MAX at
 * once; the answer lists those already expired) and ends one with `session.close { sessionId }`.
 * The id is the credential. No expiry event is pushed for a detached session.
 */
import { ArgReader } from '../args';
import { ID_CHARS_MAX, SESSION_IDS_PER_KEEPALIVE_MAX, SESSION_TIMEOUT_MS_MAX, SESSION_TIMEOUT_MS_MIN } from '../limits';

const SESSION_ID = new RegExp(`^[A-Za-z0-9]{1,${ID_CHARS_MAX}}$`);

export interface SessionOpenArgs {
  /** Requested timeout; the server clamps it into its configured range. */
  timeoutMs?: number;
  /** false: open a detached session (not bound to this connection). Default true. */
  attach?: boolean;
}
export interface SessionOpenResult {
  /** Unguessable: it is the session's credential. */
  sessionId: string;
  timeoutMs: number;
}

export interface SessionResumeArgs {
  sessionId: string;
}
export interface SessionResumeResult {
  sessionId: string;
  timeoutMs: number;
}

/** No `sessionIds`: renews the bound session. With them: renews those (detached) sessions. */
export interface SessionKeepaliveArgs {
  sessionIds?: string[];
}
/**
 * `timeoutMs`: the session's timeout (the shortest of them, for `sessionIds`); the next keepalive is
 * due well before it runs out. `expired`: those of `sessionIds` that no longer exist.
 */
export interface SessionKeepaliveResult {
  timeoutMs: number;
  expired?: string[];
}

/** No `sessionId`: closes the bound session. With it: closes that (detached) session. */
export interface SessionCloseArgs {
  sessionId?: string;
}
export type SessionCloseResult = Record<string, never>;

/** The payload of a `session` event. */
export interface SessionEvent {
  sessionId: string;
  state: 'expired';
}

export function validateSessionOpen(args: unknown): SessionOpenArgs {
  const r = ArgReader.of(args, ['timeoutMs', 'attach']);
  const out: SessionOpenArgs = { timeoutMs: r.optional('timeoutMs', (k) => r.integer(k, SESSION_TIMEOUT_MS_MIN, SESSION_TIMEOUT_MS_MAX)) };
  const attach = r.optional('attach', r.boolean);
  if (attach !== undefined) out.attach = attach;
  return out;
}

const SESSION_ID_WHAT = `1 to ${ID_CHARS_MAX} letters and digits`;

export function validateSessionKeepalive(args: unknown): SessionKeepaliveArgs {
  const r = ArgReader.of(args, ['sessionIds']);
  if (r.optional('sessionIds', (k) => k) === undefined) return {};
  const ids = r.array('sessionIds', SESSION_IDS_PER_KEEPALIVE_MAX).map((id, i) => {
    if (typeof id !== 'string' || !SESSION_ID.test(id)) throw r.invalid(`sessionIds[${i}]`, `must be ${SESSION_ID_WHAT}`);
    return id;
  });
  return { sessionIds: ids };
}

export function validateSessionClose(args: unknown): SessionCloseArgs {
  const r = ArgReader.of(args, ['sessionId']);
  const id = r.optional('sessionId', (k) => r.token(k, SESSION_ID, SESSION_ID_WHAT));
  return id === undefined ? {} : { sessionId: id };
}

export function validateSessionResume(args: unknown): SessionResumeArgs {
  const r = ArgReader.of(args, ['sessionId']);
  return { sessionId: r.token('sessionId', SESSION_ID, `1 to ${ID_CHARS_MAX} letters and digits`) };
}
