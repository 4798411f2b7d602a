import { HikariError, SESSIONS_PER_CONNECTION_MAX } from '@hikarikeeper/protocol';

/**
 * Detached sessions (`session.open` with `attach: false`) that each connection keeps open, bounded
 * by SESSIONS_PER_CONNECTION_MAX: a connection that opens sessions without end gets TOO_LARGE
 * instead of filling every replica's session table. Sessions that ended (closed, expired) stop
 * counting; they are pruned only when a connection reaches the bound, so the usual cost is a Set add.
 */
export class DetachedSessionQuota {
  private readonly byConnection = new WeakMap<object, Set<string>>();

  constructor(
    private readonly alive: (sessionId: string) => boolean,
    private readonly max: number = SESSIONS_PER_CONNECTION_MAX,
  ) {}

  /** Throws TOO_LARGE when `conn` already keeps `max` detached sessions alive. */
  check(conn: object): void {
    const ids = this.byConnection.get(conn);
    if (ids === undefined || ids.size < this.max) return;
    for (const id of ids) if (!this.alive(id)) ids.delete(id);
    if (ids.size >= this.max) throw HikariError.tooLarge('detached sessions on this connection', ids.size + 1, this.max);
  }

  /** `conn` opened detached session `sessionId`. */
  opened(conn: object, sessionId: string): void {
    let ids = this.byConnection.get(conn);
    if (ids === undefined) this.byConnection.set(conn, (ids = new Set()));
    ids.add(sessionId);
  }
}
