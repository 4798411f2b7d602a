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
 */
import { ArgReader } from '../args';
import { ID_CHARS_MAX, SESSION_TIMEOUT_MS_MAX, SESSION_TIMEOUT_MS_MIN } from '../limits';

const SESSION_ID = new RegExp(`^[A-Za-z0-9]{1,${ID_CHARS_MAX}}$`);

export interface SessionOpenArgs {
  /** Requested timeout; the server clamps it into its configured range. */
  timeoutMs?: number;
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

export type SessionKeepaliveArgs = Record<string, never>;
/** `timeoutMs`: the session's timeout; the next keepalive is due well before it runs out. */
export interface SessionKeepaliveResult {
  timeoutMs: number;
}

export type SessionCloseArgs = Record<string, never>;
export type SessionCloseResult = Record<string, never>;

/** The payload of a `session` event. */
export interface SessionEvent {
  sessionId: string;
  state: 'expired';
}

export function validateSessionOpen(args: unknown): SessionOpenArgs {
  const r = ArgReader.of(args, ['timeoutMs']);
  return { timeoutMs: r.optional('timeoutMs', (k) => r.integer(k, SESSION_TIMEOUT_MS_MIN, SESSION_TIMEOUT_MS_MAX)) };
}

export function validateSessionResume(args: unknown): SessionResumeArgs {
  const r = ArgReader.of(args, ['sessionId']);
  return { sessionId: r.token('sessionId', SESSION_ID, `1 to ${ID_CHARS_MAX} letters and digits`) };
}

export function validateNoArgs(args: unknown): Record<string, never> {
  ArgReader.of(args, []);
  return {};
}
