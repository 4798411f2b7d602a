/**
 * HikariClient, the public face of the SDK: typed namespace calls over one connection at a time.
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
 */
import {
  ChildrenResult,
  CreateMode,
  CreateResult,
  ErrorCode,
  ExistsResult,
  HelloResult,
  HikariError,
  MultiOp,
  MultiResult,
  OpArgs,
  OpName,
  OpResult,
  SetResult,
  Stat,
  SyncResult,
  CheckOp,
  DeleteOp,
} from '@hikarikeeper/protocol';
import { Connection } from './connection';
import { Connector } from './connector';
import { CallOptions, Dispatcher } from './dispatcher';
import { ClientEventEmitter, ClientEventName, ClientListener } from './events';
import { helloArgs } from './handshake';
import { HikariClientOptions, ResolvedOptions, resolveOptions } from './options';

/** Node data as callers give it: bytes, or a string (stored as UTF-8). */
export type Data = Uint8Array | string;

export interface ReadOptions extends CallOptions {
  /**
   * Let the connected node answer from its own state, without confirming with the leader: faster,
   * available during elections, but possibly behind. Default false: linearizable.
   */
  stale?: boolean;
}

export interface CreateOptions extends CallOptions {
  /** Default 'persistent'. Sequential modes append a 10-digit counter to `path`. */
  mode?: CreateMode;
  /** Persistent modes only: delete the node once it has had no child and no change for this long (ms). */
  ttlMs?: number;
}

export interface VersionOptions extends CallOptions {
  /** Apply only if the node is at this version (BAD_VERSION otherwise); -1 or absent: any version. */
  version?: number;
}

export interface ChildrenOptions extends ReadOptions {
  /** The last name of the previous page: the page starts after it. */
  after?: string;
  /** Names per page, 1 to CHILDREN_PAGE_MAX; the server's default (1000) when absent. */
  limit?: number;
}

export interface ListChildrenOptions extends ReadOptions {
  /** Start after this name. */
  after?: string;
  /** Names fetched per call. */
  pageSize?: number;
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
  | DeleteOp;

export class HikariClient {
  private readonly events = new ClientEventEmitter();
  private readonly connector: Connector;
  private readonly dispatcher: Dispatcher;
  private clusterId: string | undefined;
  private closing: Promise<void> | null = null;
  private firstConnection: { resolve(): void; reject(error: HikariError): void } | null = null;

  private constructor(private readonly options: ResolvedOptions) {
    this.clusterId = options.clusterId;
    this.connector = new Connector(
      {
        endpoints: options.endpoints,
        backoff: options.backoff,
        connectTimeoutMs: options.connectTimeoutMs,
        hello: () => helloArgs(options.clientId, this.clusterId),
      },
      {
        connected: (connection, hello) => this.onConnected(connection, hello),
        disconnected: (connection, error, reconnecting) =>
          this.events.emit('disconnected', { endpoint: connection.endpoint.address, error, reconnecting }),
        attemptFailed: (_endpoint, error) => {
          // At start-up, a refusal that no retry can fix (CLUSTER_MISMATCH, UNSUPPORTED_PROTOCOL,
          // not a HikariKeeper node at all) fails `connect` at once rather than at its deadline.
          if (!error.retryable) this.firstConnection?.reject(error);
        },
        event: (event) => this.events.emit('event', event),
      },
    );
    this.dispatcher = new Dispatcher(options, this.connector);
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

  /** See ClientEvents for the events and their payloads. */
  on<E extends ClientEventName>(event: E, listener: ClientListener<E>): this {
    this.events.on(event, listener);
    return this;
  }

  once<E extends ClientEventName>(event: E, listener: ClientListener<E>): this {
    this.events.once(event, listener);
    return this;
  }

  off<E extends ClientEventName>(event: E, listener: ClientListener<E>): this {
    this.events.off(event, listener);
    return this;
  }

  /**
   * Creates a node (persistent by default) and returns its actual path (with the counter, for a
   * sequential mode) and stat. Throws NODE_EXISTS, NO_NODE (no parent), NO_CHILDREN_FOR_EPHEMERALS,
   * INVALID_PATH, INVALID_ARGUMENT, TOO_LARGE (data over the node's limit, checked before sending),
   * plus the errors every call may throw (see `sync`).
   */
  async create(path: string, data: Data = '', options: CreateOptions = {}): Promise<CreateResult> {
    const { mode = 'persistent', ttlMs, ...call } = options;
    return this.call('create', { path, data: toBytes(data, 'data'), mode, ttlMs }, call);
  }

  /**
   * The node's data and stat; linearizable unless `stale`. Throws NO_NODE, INVALID_PATH, plus the
   * errors every call may throw (see `sync`).
   */
  async get(path: string, options: ReadOptions = {}): Promise<NodeData> {
    const { stale, ...call } = options;
    const result = await this.call('get', { path, stale }, call);
    return { data: Buffer.from(result.data), stat: result.stat };
  }

  /**
   * Replaces the node's data, if it is at `version` when given (compare-and-set). Throws NO_NODE,
   * BAD_VERSION, INVALID_PATH, TOO_LARGE, plus the errors every call may throw (see `sync`).
   */
  async set(path: string, data: Data, options: VersionOptions = {}): Promise<SetResult> {
    const { version, ...call } = options;
    return this.call('set', { path, data: toBytes(data, 'data'), version }, call);
  }

  /**
   * Deletes the node, if it is at `version` when given. Throws NO_NODE, BAD_VERSION, NOT_EMPTY,
   * INVALID_PATH (the root cannot be deleted), plus the errors every call may throw (see `sync`).
   * A delete retried after its first attempt applied is answered with that first outcome, not NO_NODE.
   */
  async delete(path: string, options: VersionOptions = {}): Promise<void> {
    const { version, ...call } = options;
    await this.call('delete', { path, version }, call);
  }

  /**
   * The node's stat, or null when it does not exist. Throws INVALID_PATH, plus the errors every call
   * may throw (see `sync`).
   */
  async exists(path: string, options: ReadOptions = {}): Promise<ExistsResult> {
    const { stale, ...call } = options;
    return this.call('exists', { path, stale }, call);
  }

  /**
   * One page of the node's children, sorted by name (byte order), after `after`; `more` says whether
   * names remain. Throws NO_NODE, INVALID_PATH, INVALID_ARGUMENT (`after` not a name, `limit` out of
   * range), plus the errors every call may throw (see `sync`).
   */
  async children(path: string, options: ChildrenOptions = {}): Promise<ChildrenResult> {
    const { after, limit, stale, ...call } = options;
    return this.call('children', { path, after, limit, stale }, call);
  }

  /**
   * Every child name, fetched page by page with `children` (each page its own call and deadline).
   * Each page is consistent; the listing as a whole is not a snapshot: a child created or deleted
   * while it runs may or may not appear, but no name appears twice and names come in order.
   */
  async *listChildren(path: string, options: ListChildrenOptions = {}): AsyncGenerator<string, void, undefined> {
    const { pageSize, after: start, ...rest } = options;
    let after = start;
    for (;;) {
      const page = await this.children(path, { ...rest, after, limit: pageSize });
      yield* page.names;
      if (!page.more || page.names.length === 0) return;
      after = page.names[page.names.length - 1];
    }
  }

  /**
   * Applies `ops` atomically, in order: all of them or none. Results come one per op. When one
   * fails, nothing is applied and its error is thrown with `details.opIndex` (NO_NODE, NODE_EXISTS,
   * BAD_VERSION, NOT_EMPTY, ...). Throws INVALID_ARGUMENT / INVALID_PATH / TOO_LARGE (over
   * MULTI_OPS_MAX ops, or data over the limit) before sending, plus the errors every call may throw
   * (see `sync`).
   */
  async multi(ops: readonly MultiOpInput[], options: CallOptions = {}): Promise<MultiResult> {
    if (!Array.isArray(ops)) throw HikariError.invalidArgument('ops', 'must be an array');
    return this.call('multi', { ops: ops.map(toWireOp) }, options);
  }

  /**
   * Waits until the connected node has applied everything committed when the sync arrived; stale
   * reads on the same connection then see at least that (a reconnect in between loses this).
   *
   * Errors every call may throw: TIMEOUT at the deadline (`cause`: the last retryable error; a write
   * may or may not have applied), CANCELLED on abort or `close()` (a write already sent may still
   * apply), TOO_MANY_REQUESTS when `pendingRequestsMax` calls already wait, INVALID_ARGUMENT for a
   * bad option; INTERNAL, PERMISSION_DENIED, BAD_FRAME (a malformed result) from the server.
   */
  async sync(options: CallOptions = {}): Promise<SyncResult> {
    return this.call('sync', {}, options);
  }

  /**
   * Closes the client: pending calls fail with CANCELLED (not CONNECTION_LOSS, which is retryable
   * and would invite a retry against a closed client; a write already sent may still apply), the
   * socket is closed, reconnecting stops, and the promise resolves once no socket or timer is left.
   * Idempotent: later calls return the same promise. Calls made after `close` fail with CANCELLED.
   */
  close(): Promise<void> {
    if (this.closing === null) {
      const reason = new HikariError(
        ErrorCode.CANCELLED,
        { reason: 'the client was closed' },
        { message: 'the client was closed' },
      );
      this.dispatcher.close(reason);
      this.firstConnection?.reject(reason);
      this.closing = this.connector.close(reason);
    }
    return this.closing;
  }

  private call<O extends OpName>(op: O, args: OpArgs<O>, options: CallOptions): Promise<OpResult<O>> {
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

  private onConnected(connection: Connection, hello: HelloResult): void {
    this.clusterId ??= hello.clusterId; // pinned: never fail over into another cluster
    this.dispatcher.setLimits(hello.limits);
    this.dispatcher.pump();
    this.firstConnection?.resolve();
    this.events.emit('connected', {
      endpoint: connection.endpoint.address,
      nodeId: hello.nodeId,
      clusterId: hello.clusterId,
      leader: hello.leader,
    });
  }
}

function toBytes(data: Data, field: string): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  // A copy: the same bytes must go out again if the write is retried, whatever the caller does meanwhile.
  if (data instanceof Uint8Array) return Buffer.from(data);
  throw HikariError.invalidArgument(field, 'must be a Uint8Array or a string');
}

function toWireOp(op: MultiOpInput, index: number): MultiOp {
  switch (op?.op) {
    case 'create':
      return {
        op: 'create',
        path: op.path,
        data: toBytes(op.data ?? '', `ops[${index}].data`),
        mode: op.mode ?? 'persistent',
        ttlMs: op.ttlMs,
      };
    case 'set':
      return { op: 'set', path: op.path, data: toBytes(op.data, `ops[${index}].data`), version: op.version };
    default:
      return op; // check, delete, or something the protocol's validator will name
  }
}
