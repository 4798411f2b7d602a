/**
 * HikariClient, the public face of the SDK: typed namespace calls over one connection at a time.
 * The calls themselves (create, get, set, ..., fenced writes, locks, elections) are HikariClientApi's
 * (client-api.ts), shared with the in-process MemoryClient; this file carries them to the cluster.
 *
 * Routing and retries, in short (details in retry.ts, connector.ts, dispatcher.ts):
 * - One connection, to a random endpoint first. Reads go to whichever node that is; a write that a
 *   follower answers NOT_LEADER moves the connection to the leader it names (or to the next endpoint)
 *   and is sent again there.
 * - Every write carries a seq, kept across retries: the server applies (client id, seq) once.
 * - Retryable errors (NOT_LEADER, NO_LEADER, UNAVAILABLE, SHUTTING_DOWN, TOO_MANY_REQUESTS, TIMEOUT,
 *   CONNECTION_LOSS) are retried until the call's deadline; then the call fails with TIMEOUT, whose
 *   `cause` is the last of them. Anything else is thrown at once.
 * - When the connection breaks, the client reconnects to another endpoint (backoff 50 ms → 2 s with
 *   jitter) and sends the calls that were in flight again, writes with their seq.
 *
 * Indeterminate outcomes: a write that fails with TIMEOUT or CANCELLED (abort, close) may have been
 * applied or not (`error.indeterminate`); read the node back to know.
 *
 * Sessions (on by default; `session: false` turns them off). `connect` resolves once a session is
 * open on the leader; keepalives go every timeout / 3 on their own, and keep the client on the
 * leader. The session owns the ephemeral nodes created through this client. Its life, as events
 * (see events.ts and session-keeper.ts):
 * - `suspended` when its connection breaks: it may still be alive. The client reconnects (any
 *   node), resumes it there before sending anything else, and says `reconnected` once the leader has
 *   renewed it.
 * - `expired` when the server says it is gone (or the resume is refused). EVERYTHING THE OLD SESSION
 *   OWNED IS GONE: its ephemeral nodes were deleted. Calls creating ephemeral nodes that were still
 *   pending fail with SESSION_EXPIRED. The client opens a new session at once and says `connected`
 *   with its id: re-create what you owned there. `client.session.state` turns 'expired' as soon as
 *   the timeout has passed without renewal by this process's clock (a long pause, a partition): do
 *   not act as the owner then, even before the event.
 * - `close()` ends the session (`session.close`, best effort, at most 2 s): its ephemeral nodes are
 *   deleted at once rather than at its expiry.
 *
 * Watches: `watch()` returns a Watch (see watch.ts), which survives reconnects: it is registered
 * again on the new node from the last index it delivered, with nothing lost or repeated.
 *
 * Locks (see locks/cluster-driver.ts): `locks` (the LockDriver), `lock(name)`, `withLock`, `lockInfo`,
 * and `election(name)` (locks/election.ts). Grants and queued tickets belong to the session: when it
 * expires they are gone (the server released them), acquires under way fail with SESSION_EXPIRED and
 * grants turn `lost`; `close()` releases them at once. Writes can be fenced by a grant (`fence`): they
 * apply only while its token is current, as one `multi` with a `fence` op.
 *
 * Service discovery (see discovery/discovery.ts): `discovery`. Registered instances are ephemeral
 * nodes of the session: after an expiry they are written again on the next session, by themselves.
 */
import {
  CreateMode,
  ErrorCode,
  HelloResult,
  HikariError,
  OpArgs,
  OpName,
  OpResult,
  Stat,
  CheckOp,
  DeleteOp,
  FenceOp,
  validateRequest,
  WatchKind,
} from '@hikarikeeper/protocol';
import { Connection } from './connection';
import { Connector } from './connector';
import { CallOptions, DispatchGate, Dispatcher } from './dispatcher';
import { ConnectedEvent, ServerEvent } from './events';
import { helloArgs } from './handshake';
import { HikariClientOptions, ResolvedOptions, resolveOptions, tokenOption } from './options';
import { SessionInfo, SessionKeeper } from './session-keeper';
import { Watch } from './watch';
import { WatchRegistry } from './watch-registry';
import { ClusterLockDriver, LockDriverHooks } from './locks/cluster-driver';
import { Discovery } from './discovery/discovery';
import { HikariClientApi, NodeInfo } from './client-api';

/** Longest wait for `session.close` in `close()` (also bounded by the client's `timeoutMs`). */
export const SESSION_CLOSE_WAIT_MS_MAX = 2_000;

/** Node data as callers give it: bytes, or a string (stored as UTF-8). */
export type Data = Uint8Array | string;

export interface ReadOptions extends CallOptions {
  /**
   * Let the connected node answer from its own state, without confirming with the leader: faster,
   * available during elections, but possibly behind. Default false: linearizable.
   */
  stale?: boolean;
}

/**
 * The condition of a fenced write: `token` must be a current grant of the lock (FENCE_MISMATCH
 * otherwise). Either `{ lock, token }` or a grant itself (`{ name, token }`).
 */
export type Fence = { readonly lock: string; readonly token: number } | { readonly name: string; readonly token: number };

export interface FenceOptions {
  /**
   * Apply the write only while `fence.token` is a current grant of the lock: sent as a `multi` of a
   * `fence` op and the write, so that a holder that lost its lock (paused past its session, say)
   * cannot write after the next holder. FENCE_MISMATCH otherwise (details.opIndex 0); the write's own
   * errors keep their codes (details.opIndex 1).
   */
  fence?: Fence;
}

export interface CreateOptions extends CallOptions, FenceOptions {
  /** Default 'persistent'. Sequential modes append a 10-digit counter to `path`. */
  mode?: CreateMode;
  /** Persistent modes only: delete the node once it has had no child and no change for this long (ms). */
  ttlMs?: number;
}

export interface VersionOptions extends CallOptions, FenceOptions {
  /** Apply only if the node is at this version (BAD_VERSION otherwise); -1 or absent: any version. */
  version?: number;
}

export interface ChildrenOptions extends ReadOptions {
  /** The last name of the previous page: the page starts after it. */
  after?: string;
  /** Names per page, 1 to CHILDREN_PAGE_MAX; the server's default (1000) when absent. */
  limit?: number;
  /** Also each child's data and stat (`children` in the result), in the same request. */
  data?: boolean;
}

export interface ListChildrenOptions extends ReadOptions {
  /** Start after this name. */
  after?: string;
  /** Names fetched per call. */
  pageSize?: number;
}

export interface WatchOptions {
  /**
   * 'data' (default): the node itself; 'children': its children created or deleted; 'recursive': any
   * node at or under it; 'lock': `path` is a lock name, and an event (`changed`, with the lock name as
   * `path`) comes whenever its holders change (a grant or a release).
   */
  kind?: WatchKind;
  /**
   * Start after this log index (replaying what followed it, as far as the node's history reaches)
   * rather than now: read, then watch from the read's index, and nothing falls in between. When the
   * history no longer reaches back that far, the watch starts with a `resync` item.
   */
  fromIndex?: number;
  /** Aborting closes the watch. */
  signal?: AbortSignal;
}

/** A node's data and stat, as `get` returns them. */
export interface NodeData {
  /** A copy the caller owns. */
  data: Buffer;
  stat: Stat;
}

/** The ops of a `multi`, with data as callers give it. */
export type MultiOpInput =
  | CheckOp
  | { op: 'create'; path: string; data?: Data; mode?: CreateMode; ttlMs?: number }
  | { op: 'set'; path: string; data: Data; version?: number }
  | DeleteOp
  | FenceOp;

export class HikariClient extends HikariClientApi {
  private readonly connector: Connector;
  private readonly dispatcher: Dispatcher;
  /** Null when sessions are off. */
  private readonly keeper: SessionKeeper | null;
  private readonly watches: WatchRegistry;
  private readonly lockHooks: LockDriverHooks;
  /**
   * The cluster lock driver (see locks/cluster-driver.ts): `acquire`, `tryAcquire`, `release`, `info`.
   * Pass it wherever a `LockDriver` is expected.
   */
  readonly locks: ClusterLockDriver;
  /** Each connection's handshake result, for the payloads of `connected` and `reconnected`. */
  private readonly hellos = new WeakMap<Connection, HelloResult>();
  /** Without sessions: a connection was up before (the next one is a `reconnected`). */
  private wasConnected = false;
  private clusterId: string | undefined;
  /** The token of the next handshakes (see setToken). */
  private token: string | undefined;
  private closing: Promise<void> | null = null;
  private discoveryFacade: Discovery | null = null;
  private firstConnection: { resolve(): void; reject(error: HikariError): void } | null = null;

  private constructor(private readonly options: ResolvedOptions) {
    super();
    this.clusterId = options.clusterId;
    this.token = options.token;
    this.connector = new Connector(
      {
        endpoints: options.endpoints,
        backoff: options.backoff,
        connectTimeoutMs: options.connectTimeoutMs,
        tls: options.tls,
        hello: () => helloArgs(options.clientId, this.clusterId, this.token),
      },
      {
        connected: (connection, hello) => this.onConnected(connection, hello),
        disconnected: (connection, error, reconnecting) => {
          this.events.emit('disconnected', { endpoint: connection.endpoint.address, error, reconnecting });
          this.keeper?.disconnected(connection, error);
          this.watches.disconnected(connection);
        },
        attemptFailed: (_endpoint, error) => {
          // At start-up, a refusal that no retry can fix (CLUSTER_MISMATCH, UNSUPPORTED_PROTOCOL,
          // not a HikariKeeper node at all) fails `connect` at once rather than at its deadline.
          if (!error.retryable) this.firstConnection?.reject(error);
        },
        event: (event, connection) => this.onServerEvent(event, connection),
      },
    );
    this.keeper = options.session === null ? null : this.newKeeper(options.session.timeoutMs);
    const keeper = this.keeper;
    const gate: DispatchGate | undefined =
      keeper === null
        ? undefined
        : {
            isOpen: (connection) => keeper.isBound(connection),
            sessionExpired: (connection) => keeper.callSaidExpired(connection),
            sessionId: () => keeper.info?.id ?? null,
          };
    this.dispatcher = new Dispatcher(options, this.connector, gate);
    this.watches = new WatchRegistry(this.dispatcher, options.backoff);
    const { driver, hooks } = ClusterLockDriver.open({
      call: (op, args, callOptions) => this.call(op, args, callOptions),
      sessions: this.keeper !== null,
      sessionId: () => this.keeper?.info?.id ?? '',
      timeoutMs: options.timeoutMs,
    });
    this.locks = driver;
    this.lockHooks = hooks;
  }

  /**
   * A client connected to one of `options.endpoints` (tried in turn from a random one, with backoff).
   * Rejects with INVALID_ARGUMENT for bad options; with the node's error when a node refuses the
   * handshake for good (CLUSTER_MISMATCH, UNSUPPORTED_PROTOCOL; BAD_FRAME or TOO_LARGE when the
   * endpoint does not speak the protocol); with TIMEOUT when no node answered within `timeoutMs`
   * (its `cause` is the last connection error).
   */
  static async connect(options: HikariClientOptions): Promise<HikariClient> {
    const client = new HikariClient(resolveOptions(options));
    try {
      await client.start();
    } catch (error) {
      await client.close();
      throw error;
    }
    return client;
  }

  /** The id that tags this client's writes (given in the options, or a random UUID). */
  get clientId(): string {
    return this.options.clientId;
  }

  /** The endpoint of the open connection ('host:port'), or null while reconnecting or once closed. */
  get endpoint(): string | null {
    return this.connector.current?.endpoint.address ?? null;
  }

  get node(): NodeInfo | null {
    const connection = this.connector.current;
    if (connection === null || connection === undefined || this.closing !== null) return null;
    const hello = this.hellos.get(connection);
    if (hello === undefined) return null;
    const { sessionId: _session, ...node } = this.connectedEvent(connection, null);
    return node;
  }

  /**
   * The session, as this client sees it now (a snapshot): its id, the timeout the server granted,
   * and its state: 'connected' (renewed within its timeout), 'suspended' (its connection is gone, it
   * may still be alive), 'expired' (gone, or its timeout passed without renewal; a new one is being
   * opened), 'closed'. Null when sessions are off.
   */
  get session(): SessionInfo | null {
    return this.keeper?.info ?? null;
  }

  /**
   * Replaces the token sent in the handshake of the next connections (after a reconnect, to another
   * node or the same). Made for rotation: `hikari auth token rotate <id>` gives the same token a new
   * secret, so the client stays the same principal and keeps its session — the connection open now
   * goes on, and the next one authenticates with the new secret. Throws INVALID_ARGUMENT for a value
   * that is not a token.
   */
  setToken(token: string): void {
    this.token = tokenOption(token) ?? this.token;
  }

  /**
   * Service discovery (see discovery/discovery.ts): `register`, `services`, `instances`, `watch`,
   * `cache`, `picker`, `pick`, `reportFailure`. Made on first use.
   */
  get discovery(): Discovery {
    if (this.discoveryFacade === null) {
      this.discoveryFacade = new Discovery(this);
      if (this.closing !== null) this.discoveryFacade.close(); // its calls throw CANCELLED
    }
    return this.discoveryFacade;
  }

  /**
   * Watches `path` for changes (see WatchOptions for the kinds): a Watch, iterable with `for await`,
   * and an emitter of 'event', 'resync' and 'error'. It lasts until `watch.close()`, the signal, or
   * `close()`; across reconnects it resumes where it was, with nothing lost or repeated. Throws
   * INVALID_PATH / INVALID_ARGUMENT for bad arguments, TOO_LARGE beyond WATCHES_MAX watches,
   * CANCELLED once closed or when the signal is already aborted.
   */
  watch(path: string, options: WatchOptions = {}): Watch {
    const { kind = 'data', fromIndex, signal } = options;
    if (this.closing !== null) throw closedError();
    validateRequest('watch', { path, kind, fromIndex });
    if (signal?.aborted === true) {
      throw new HikariError(ErrorCode.CANCELLED, { op: 'watch', reason: 'aborted' }, { cause: signal.reason });
    }
    return this.watches.add(path, kind, fromIndex, signal);
  }

  /**
   * Closes the client: pending calls fail with CANCELLED (not CONNECTION_LOSS, which is retryable
   * and would invite a retry against a closed client; a write already sent may still apply), the
   * socket is closed, reconnecting stops, and the promise resolves once no socket or timer is left.
   * Idempotent: later calls return the same promise. Calls made after `close` fail with CANCELLED.
   */
  close(): Promise<void> {
    if (this.closing === null) {
      this.discoveryFacade?.close(); // first: registrations stop their upkeep before their calls fail
      const reason = closedError();
      this.dispatcher.close(reason);
      const session = this.keeper?.info;
      if (session != null) this.lockHooks.sessionEnded(session.id, 'closed'); // its grants go with it
      this.firstConnection?.reject(reason);
      this.watches.close();
      const waitMs = Math.min(this.options.timeoutMs, SESSION_CLOSE_WAIT_MS_MAX);
      const sessionClosed = this.keeper?.close(waitMs) ?? Promise.resolve();
      this.closing = sessionClosed.then(() => this.connector.close(reason));
    }
    return this.closing;
  }

  protected call<O extends OpName>(op: O, args: OpArgs<O>, options: CallOptions): Promise<OpResult<O>> {
    return this.dispatcher.submit(op, args, options);
  }

  /** Resolves on the first connection; see `connect` for the rejections. */
  private start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const cause = this.connector.lastError ?? undefined;
        const { timeoutMs } = this.options;
        done(new HikariError(ErrorCode.TIMEOUT, { op: 'connect', timeoutMs }, { message: `no node answered within ${timeoutMs} ms`, cause }));
      }, this.options.timeoutMs);
      const done = (error: HikariError | null): void => {
        clearTimeout(timer);
        this.firstConnection = null;
        if (error === null) resolve();
        else reject(error);
      };
      this.firstConnection = { resolve: () => done(null), reject: done };
      this.connector.start();
    });
  }

  private newKeeper(timeoutMs: number): SessionKeeper {
    const { connectTimeoutMs, backoff } = this.options;
    return new SessionKeeper({ timeoutMs, connectTimeoutMs, backoff }, this.connector, {
      bound: (connection) => this.onUsable(connection),
      opened: (connection, sessionId) => {
        this.firstConnection?.resolve();
        this.events.emit('connected', this.connectedEvent(connection, sessionId));
      },
      reconnected: (connection, sessionId) =>
        this.events.emit('reconnected', this.connectedEvent(connection, sessionId)),
      suspended: (sessionId, error) => this.events.emit('suspended', { sessionId, error }),
      expired: (sessionId) => {
        this.lockHooks.sessionEnded(sessionId, 'expired'); // before anything is sent on the next session
        this.dispatcher.failSessionCalls(
          new HikariError(
            ErrorCode.SESSION_EXPIRED,
            { sessionId },
            { message: `session ${sessionId} expired before the call completed; the ephemeral nodes it created are gone` },
          ),
        );
        this.events.emit('expired', { sessionId });
      },
      failed: (error) => this.firstConnection?.reject(error),
    });
  }

  private onConnected(connection: Connection, hello: HelloResult): void {
    this.clusterId ??= hello.clusterId; // pinned: never fail over into another cluster
    this.hellos.set(connection, hello);
    this.dispatcher.setLimits(hello.limits);
    if (this.keeper !== null) return this.keeper.connected(connection); // calls wait for the session
    if (this.closing !== null) return;
    this.onUsable(connection);
    this.firstConnection?.resolve();
    this.events.emit(this.wasConnected ? 'reconnected' : 'connected', this.connectedEvent(connection, null));
    this.wasConnected = true;
  }

  /** Calls may go on `connection`: the queued ones go, and the watches register there. */
  private onUsable(connection: Connection): void {
    this.dispatcher.pump();
    this.watches.usable(connection);
  }

  private onServerEvent(event: ServerEvent, connection: Connection): void {
    this.events.emit('event', event);
    if (event.kind === 'session') this.keeper?.event(event.data);
    if (event.kind === 'watch') {
      const problem = this.watches.event(connection, event.data);
      if (problem !== null) connection.close(problem);
    }
  }

  private connectedEvent(connection: Connection, sessionId: string | null): ConnectedEvent {
    const hello = this.hellos.get(connection)!;
    return {
      endpoint: connection.endpoint.address,
      nodeId: hello.nodeId,
      clusterId: hello.clusterId,
      leader: hello.leader,
      sessionId,
    };
  }
}

/** CANCELLED for a call made on (or pending when) the client closes. */
export function closedError(): HikariError {
  return new HikariError(ErrorCode.CANCELLED, { reason: 'the client was closed' }, { message: 'the client was closed' });
}
