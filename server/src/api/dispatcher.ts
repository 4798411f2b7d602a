import { randomUUID } from 'node:crypto';
import {
  ErrorCode, errorFromWire, FRAME_BYTES_MAX, HelloResult, HikariError, IN_FLIGHT_REQUESTS_MAX, MultiOp, PROTOCOL_VERSION,
  RequestLimits, ValidatedRequest,
} from '@hikarikeeper/protocol';
import type { RaftRuntime } from '../runtime/raft-runtime';
import type { CoordinationStateMachine } from '../coordination/state-machine';
import type { Command } from '../coordination/commands';
import type { Clock } from '../runtime/clock';
import type { SessionManager } from '../sessions/session-manager';
import { CLIENT_RETENTION_MS_DEFAULT } from '../sessions/client-expiry';
import type { WatchHub, WatchSink } from '../watch/watch-hub';
import type { TicketWaits } from '../locks/ticket-waits';
import type { AccessGuard } from '../auth/guard';
import type { Principal } from '../auth/permission-table';
import { DetachedSessionQuota } from './session-quota';
import { FAILPOINTS, failpoints } from '../failpoints';

function sessionExpired(id: string): HikariError {
  return new HikariError(ErrorCode.SESSION_EXPIRED, {}, { message: `session ${id} has expired` });
}

/** What one client connection knows about itself. */
export interface ConnectionState {
  clientId: string | null;
  /** The session bound to this connection (open or resume), if any. */
  sessionId: string | null;
  /** Where watch events go, and how the connection is ended. */
  readonly sink: WatchSink;
  /** Who the connection authenticated as at `hello` (authentication on), else null. */
  principal: Principal | null;
  /** The subject (CN) of the client certificate TLS verified, or null. */
  readonly certSubject: string | null;
  /** The client's address, for logs. */
  readonly remote: string | undefined;
}

/** Tracks which connections are bound to which session, to tell them when it expires. */
export interface SessionBindings {
  bind(conn: ConnectionState, sessionId: string): void;
  unbind(conn: ConnectionState): void;
}

/**
 * Turns validated requests into runtime calls: writes are proposed through Raft (leader only: a
 * follower answers NOT_LEADER with the leader's client address), reads wait for a linearizable read
 * point unless `stale`. Every failure is a HikariError with a stable code.
 */
export class Dispatcher {
  private readonly detached: DetachedSessionQuota;

  constructor(
    private readonly runtime: RaftRuntime,
    private readonly sm: CoordinationStateMachine,
    private readonly clock: Clock,
    readonly clusterId: string,
    readonly limits: RequestLimits,
    private readonly sessions: SessionManager,
    private readonly watches: WatchHub,
    private readonly bindings: SessionBindings,
    private readonly tickets: TicketWaits,
    /** Authentication and access control; null when authentication is off. */
    private readonly guard: AccessGuard | null = null,
    /** The cluster's client retention (`--client-retention-ms`), told to clients in `hello`. */
    private readonly writeRetentionMs: number = CLIENT_RETENTION_MS_DEFAULT,
  ) {
    this.detached = new DetachedSessionQuota((id) => this.sessions.exists(id));
  }

  /** A connection ended: its watches go; its session lives on until it expires or is resumed. */
  disconnected(conn: ConnectionState): void {
    this.watches.dropSink(conn.sink);
    this.tickets.dropOwner(conn);
    this.bindings.unbind(conn);
  }

  async handle(conn: ConnectionState, req: ValidatedRequest): Promise<unknown> {
    if (req.op !== 'hello' && conn.clientId === null) {
      throw new HikariError(ErrorCode.INVALID_ARGUMENT, { field: 'op', reason: 'the first request on a connection must be hello' });
    }
    if (this.guard !== null && req.op !== 'hello') this.guard.authorize(conn.principal, req, conn.remote);
    switch (req.op) {
      case 'hello':
        return this.hello(conn, req.args);
      case 'ping':
        return {};
      case 'create':
      case 'set':
      case 'delete': {
        const { seq, ...fields } = req.args;
        return this.write(conn, { k: 'ns', op: { op: req.op, ...fields } as MultiOp, s: seq, c: conn.clientId ?? undefined, t: this.clock.now(), sid: conn.sessionId ?? undefined });
      }
      case 'multi':
        return this.write(conn, { k: 'multi', ops: req.args.ops, s: req.args.seq, c: conn.clientId ?? undefined, t: this.clock.now(), sid: conn.sessionId ?? undefined });
      case 'session.open': {
        if (!this.runtime.isLeader()) throw HikariError.notLeader(this.runtime.leaderClientAddress());
        if (req.args.attach === false) this.detached.check(conn);
        const opened = await this.sessions.open(req.args.timeoutMs, conn.principal?.name);
        if (req.args.attach !== false) this.bindings.bind(conn, opened.sessionId);
        else this.detached.opened(conn, opened.sessionId);
        return opened;
      }
      case 'session.resume': {
        // Resuming needs no write: the session exists in this node's applied state, or it has
        // expired (a node that is behind may not know it yet: make sure it is caught up first).
        await this.runtime.readBarrier();
        const record = this.sessions.table.get(req.args.sessionId);
        if (!record) throw sessionExpired(req.args.sessionId);
        this.guard?.requireSessionOwner(conn.principal, record.owner, req.op, conn.remote);
        this.bindings.bind(conn, req.args.sessionId);
        return { sessionId: req.args.sessionId, timeoutMs: record.timeoutMs };
      }
      case 'session.keepalive':
        if (req.args.sessionIds !== undefined) {
          for (const id of req.args.sessionIds) this.guard?.requireSessionOwner(conn.principal, this.sessions.table.get(id)?.owner, req.op, conn.remote);
          return this.keepaliveMany(req.args.sessionIds);
        }
        return this.sessions.keepalive(this.boundSession(conn));
      case 'session.close': {
        const id = req.args.sessionId ?? this.boundSession(conn);
        if (!this.runtime.isLeader()) throw HikariError.notLeader(this.runtime.leaderClientAddress());
        if (!this.sessions.exists(id)) throw sessionExpired(id);
        this.guard?.requireSessionOwner(conn.principal, this.sessions.table.get(id)?.owner, req.op, conn.remote);
        await this.sessions.close(id);
        if (conn.sessionId === id) this.bindings.unbind(conn);
        return {};
      }
      case 'watch':
        // A watch without `fromIndex` starts at a linearizable point, as a read does: every change
        // completed before the call is already behind it (a node that lags would otherwise start
        // the watch before a change the caller knows of, and report it). With `fromIndex` the client
        // says where it is; the history covers the rest.
        if (req.args.fromIndex === undefined) await this.runtime.readBarrier();
        return this.watches.register(conn.sink, req.args.path, req.args.kind, req.args.fromIndex);
      case 'unwatch':
        this.watches.unregister(conn.sink, req.args.watchId);
        return {};
      case 'get':
        await this.readPoint(req.args.stale);
        return this.sm.get(req.args.path);
      case 'exists':
        await this.readPoint(req.args.stale);
        return this.sm.exists(req.args.path);
      case 'children':
        await this.readPoint(req.args.stale);
        return this.sm.children(req.args.path, req.args.after, req.args.limit, req.args.data === true);
      case 'sync':
        return { index: await this.runtime.readBarrier() };
      case 'lock.acquire': {
        const { seq, name, mode, ...rest } = req.args;
        return this.write(conn, { k: 'lock', op: 'acquire', name, mode: mode ?? 'exclusive', ...definedOnly(rest), s: seq, c: conn.clientId ?? undefined, t: this.clock.now(), sid: conn.sessionId ?? undefined });
      }
      case 'lock.release':
        return this.write(conn, { k: 'lock', op: 'release', name: req.args.name, token: req.args.token, s: req.args.seq, c: conn.clientId ?? undefined, t: this.clock.now(), sid: conn.sessionId ?? undefined });
      case 'lock.cancel':
        return this.write(conn, { k: 'lock', op: 'cancel', name: req.args.name, ticket: req.args.ticket, s: req.args.seq, c: conn.clientId ?? undefined, t: this.clock.now(), sid: conn.sessionId ?? undefined });
      case 'lock.wait': {
        const session = this.boundSession(conn);
        // The ticket is the acquire's log index: once this node has applied it, its state knows the
        // ticket (queued, granted, or gone), and every later fate reaches it in log order.
        await this.runtime.appliedAtLeast(req.args.ticket);
        return { token: await this.tickets.wait(conn, session, req.args.name, req.args.ticket) };
      }
      case 'lock.info': {
        await this.readPoint(req.args.stale);
        const index = this.runtime.applied;
        const record = await this.sm.lock(req.args.name);
        return {
          name: req.args.name,
          permits: record?.permits ?? 1,
          holders: (record?.holders ?? []).map((h) => ({ ...h })),
          waiters: (record?.waiters ?? []).map((w) => ({ ...w })),
          index,
        };
      }
    }
  }

  private async hello(conn: ConnectionState, args: { clusterId?: string; clientId?: string; token?: string }): Promise<HelloResult> {
    if (args.clusterId !== undefined && args.clusterId !== this.clusterId) {
      throw new HikariError(ErrorCode.CLUSTER_MISMATCH, { expected: args.clusterId, actual: this.clusterId });
    }
    // Authenticated before anything is set: a refused hello leaves the connection as it was.
    if (this.guard !== null) conn.principal = await this.guard.authenticate(args.token, conn.certSubject, conn.remote, () => this.runtime.readBarrier());
    const clientId = args.clientId ?? randomUUID();
    // Writes are deduplicated by (client id, seq). With authentication on, the client id counts within
    // its principal: another principal naming the same id (ids may be chosen, hence guessed) gets
    // slots of its own, and can neither read this client's outcomes nor pre-empt its next seqs.
    // (U+0001 occurs in neither a client id nor a principal name.)
    conn.clientId = conn.principal === null ? clientId : `${conn.principal.name}\u0001${clientId}`;
    return {
      protocol: PROTOCOL_VERSION,
      clusterId: this.clusterId,
      nodeId: this.runtime.id,
      clientId,
      sessionId: '',
      sessionTimeoutMs: 0,
      leader: this.runtime.leaderClientAddress(),
      limits: { frameBytesMax: FRAME_BYTES_MAX, dataBytesMax: this.limits.dataBytesMax, inFlightRequestsMax: IN_FLIGHT_REQUESTS_MAX, writeRetentionMs: this.writeRetentionMs },
      principal: conn.principal?.name,
    };
  }

  /** Renews detached sessions by id; those that no longer exist are listed as expired. */
  private async keepaliveMany(ids: readonly string[]): Promise<{ timeoutMs: number; expired: string[] }> {
    if (!this.runtime.isLeader()) throw HikariError.notLeader(this.runtime.leaderClientAddress());
    const outcomes = await Promise.allSettled(ids.map((id) => this.sessions.keepalive(id)));
    const expired: string[] = [];
    let timeoutMs = Number.MAX_SAFE_INTEGER;
    for (let i = 0; i < ids.length; i++) {
      const o = outcomes[i];
      if (o.status === 'fulfilled') timeoutMs = Math.min(timeoutMs, o.value.timeoutMs);
      else if (HikariError.is(o.reason, ErrorCode.SESSION_EXPIRED)) expired.push(ids[i]);
      else throw o.reason; // NOT_LEADER, SHUTTING_DOWN...: the whole call is retried
    }
    return { timeoutMs: timeoutMs === Number.MAX_SAFE_INTEGER ? this.sessions.clampTimeout(undefined) : timeoutMs, expired };
  }

  private boundSession(conn: ConnectionState): string {
    if (conn.sessionId === null) throw new HikariError(ErrorCode.SESSION_EXPIRED, {}, { message: 'no session on this connection: open or resume one first' });
    return conn.sessionId;
  }

  /**
   * Proposes `cmd` and answers with its outcome. On a connection that holds watches of what the
   * write changes (lock watches for a lock command, namespace watches for the others), the answer
   * waits until the write is in effect on this node, and so until its watch events have gone out on
   * the same connection: as in ZooKeeper, a client sees the events of its own write before the answer
   * (and before anything it does after it). Other connections are answered at apply, without that wait.
   */
  private async write(conn: ConnectionState, cmd: Command): Promise<unknown> {
    if (cmd.k === 'lock') {
      if (cmd.sid === undefined) throw new HikariError(ErrorCode.SESSION_EXPIRED, {}, { message: 'locks need a session: open one first' });
    }
    if (cmd.k !== 'session' && cmd.k !== 'auth' && cmd.k !== 'clients') {
      if (cmd.s === undefined) delete cmd.s;
      if (cmd.sid === undefined) delete cmd.sid;
      if (cmd.c === undefined) delete cmd.c;
    }
    const watched = this.watches.watching(conn.sink, cmd.k === 'lock' ? 'locks' : 'namespace');
    const outcome = watched ? await this.runtime.proposeInEffect(cmd) : await this.runtime.propose(cmd);
    if (!outcome.ok) throw errorFromWire(outcome.error);
    return outcome.value;
  }

  private async readPoint(stale: boolean | undefined): Promise<void> {
    if (stale === true || (failpoints.enabled && failpoints.hit(FAILPOINTS.readSkipReadIndex))) return this.runtime.stateBarrier();
    await this.runtime.readBarrier();
  }
}

/** The fields of `o` that are not undefined (commands are replicated: no undefined in them). */
function definedOnly<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
