import type { ConnectionState, SessionBindings } from '../api/dispatcher';
import type { SessionEvent } from '@hikarikeeper/protocol';

/**
 * Which connections of this node are bound to which session, so that when a session expires (as
 * applied here) its connections are told at once with a `session` event, and unbound.
 */
export class SessionBindingTable implements SessionBindings {
  private readonly bySession = new Map<string, Set<ConnectionState>>();

  bind(conn: ConnectionState, sessionId: string): void {
    this.unbind(conn);
    conn.sessionId = sessionId;
    const set = this.bySession.get(sessionId) ?? new Set<ConnectionState>();
    set.add(conn);
    this.bySession.set(sessionId, set);
  }

  unbind(conn: ConnectionState): void {
    if (conn.sessionId === null) return;
    const set = this.bySession.get(conn.sessionId);
    set?.delete(conn);
    if (set && set.size === 0) this.bySession.delete(conn.sessionId);
    conn.sessionId = null;
  }

  /** The session ended (expired or closed): tell and unbind its connections. */
  expired(sessionId: string): void {
    const set = this.bySession.get(sessionId);
    if (!set) return;
    this.bySession.delete(sessionId);
    const event: SessionEvent = { sessionId, state: 'expired' };
    for (const conn of set) {
      conn.sessionId = null;
      conn.sink.pushEvent('session', event);
    }
  }

  get size(): number {
    return this.bySession.size;
  }
}
