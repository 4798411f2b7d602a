/**
 * MemoryCluster: an in-process stand-in for a HikariKeeper cluster, for tests. It keeps a namespace
 * (memory-namespace.ts), lock queues (memory-locks.ts), sessions and watches (memory-watches.ts) in
 * memory, and serves the protocol's operations on them with the server's rules; MemoryClients
 * (memory-client.ts) are its clients, each with a session of its own, and everything the SDK builds
 * on a client (the ClusterLockDriver, elections, discovery) runs unchanged on them.
 *
 * ```ts
 * const cluster = new MemoryCluster();
 * const a = await cluster.connect();
 * const b = await cluster.connect();
 * await a.discovery.register({ service: 'api', host: '10.0.0.5', port: 8080 });
 * await b.discovery.instances('api');              // [the instance]
 * const grant = await a.locks.acquire('jobs');
 * cluster.expireSession(a.session!.id);            // as if `a` had stalled past its timeout
 * grant.lost;                                      // true; `a` has a new session, its registration is written again
 * ```
 *
 * What it models: every operation's validation (the protocol's own validators: the same
 * INVALID_ARGUMENT, INVALID_PATH and TOO_LARGE as a node), the namespace (versions, sequential and
 * ephemeral nodes, multi all or nothing, fenced writes), lock queues (FIFO, shared, semaphores,
 * reentrancy, fencing tokens), watches (every kind, resumable), and sessions: an ephemeral node or
 * a lock belongs to the session that made it, and goes when it closes or expires. Calls are
 * answered on a later tick, as a network would; linearizable and `stale` reads are the same here.
 *
 * What it does not: time. A session never expires on its own (a MemoryClient is never silent) —
 * call `expireSession` to make it; there is no network to lose, no leader to change, no limit of a
 * node's (pending requests, connections) beyond those of the protocol's arguments. The lock and
 * discovery contract suites (src/testing) run against it and against a real cluster, so that it
 * cannot drift from what the cluster does.
 */
import {
  ErrorCode,
  HikariError,
  Stat,
  validatePath,
  ValidatedRequest,
  WatchKind,
} from '@hikarikeeper/protocol';
import type { SessionInfo } from '../session-keeper';
import type { Watch } from '../watch';
import { MemoryClient, MemoryClientOptions } from './memory-client';
import { MemoryLocks } from './memory-locks';
import { ApplyAt, MemoryChange, MemoryNamespace } from './memory-namespace';
import { MemoryWatches } from './memory-watches';

export const MEMORY_CLUSTER_ID_DEFAULT = 'memory';
/** The session timeout a MemoryClient reports when it asks for none. */
export const MEMORY_SESSION_TIMEOUT_MS_DEFAULT = 10_000;

export interface MemoryClusterOptions {
  /** What clients see as the cluster id. Default 'memory'. */
  clusterId?: string;
}

/** The cluster's side of a session's owner (a MemoryClient): told when its session expires. */
export interface SessionOwner {
  sessionExpired(sessionId: string): void;
}

interface SessionRecord {
  readonly id: string;
  readonly timeoutMs: number;
  readonly owner: SessionOwner | null;
}

export class MemoryCluster {
  readonly clusterId: string;
  readonly namespace = new MemoryNamespace();
  readonly locks = new MemoryLocks();
  readonly watches = new MemoryWatches();
  private lastIndex = 0;
  private sessionNumber = 0;
  private readonly sessions = new Map<string, SessionRecord>();

  constructor(options: MemoryClusterOptions = {}) {
    const { clusterId = MEMORY_CLUSTER_ID_DEFAULT } = options;
    if (typeof clusterId !== 'string' || clusterId.length === 0) throw HikariError.invalidArgument('clusterId', 'must be a non-empty string');
    this.clusterId = clusterId;
  }

  /** A client of this cluster, with a session of its own unless `session: false`. */
  connect(options: MemoryClientOptions = {}): Promise<MemoryClient> {
    return MemoryClient.connect(this, options);
  }

  /** The index of the last write (what a log index is on a node). */
  get index(): number {
    return this.lastIndex;
  }

  /** The live sessions' ids, oldest first. */
  get sessionIds(): string[] {
    return [...this.sessions.keys()];
  }

  /**
   * Ends session `sessionId` as the leader does when it expires: in one index, its ephemeral nodes
   * are deleted and its locks released (and its queued tickets dropped); then its client hears
   * `expired`, and opens a new session (`connected`). Throws INVALID_ARGUMENT if there is no such
   * live session. (A session closed by someone else than its client is, for that client, an expiry.)
   */
  expireSession(sessionId: string): void {
    this.endSessions([this.requireSession(sessionId)], true);
  }

  // ---------------------------------------------------------------- for MemoryClient

  /** Internal (memory-client.ts): opens a session owned by `owner`. */
  openSession(timeoutMs: number, owner: SessionOwner | null): SessionInfo {
    const id = `session-${++this.sessionNumber}`;
    this.sessions.set(id, { id, timeoutMs, owner });
    return { id, timeoutMs, state: 'connected' };
  }

  /** Internal (memory-client.ts): the client closes its session; it is not told. */
  endOwnSession(sessionId: string): void {
    const record = this.sessions.get(sessionId);
    if (record !== undefined) this.endSessions([record], false);
  }

  /**
   * Internal (memory-client.ts): applies a validated request on a later tick, as a node answers, for
   * the session `session()` names then (undefined: none, or the one the call was made on has ended).
   * `stop` ends a `lock.wait`.
   */
  async execute(request: ValidatedRequest, session: () => string | undefined, stop: AbortSignal): Promise<unknown> {
    await new Promise((resolve) => setImmediate(resolve));
    return this.apply(request, session(), stop);
  }

  /** Internal (memory-client.ts): a watch (arguments validated). */
  watch(path: string, kind: WatchKind, fromIndex: number | undefined, signal: AbortSignal | undefined): Watch {
    return this.watches.open(path, kind, this.lastIndex, fromIndex, signal);
  }

  // ---------------------------------------------------------------- direct writes (tests)

  /**
   * Writes as a client would, outside any client: creates `path` owned by session `owner` (null:
   * persistent), as another process's node would appear. The rules of `create` apply.
   */
  createNode(path: string, data: Uint8Array | string, owner: string | null = null): Stat {
    validatePath(path);
    return this.write((at) => this.namespace.put(path, Buffer.from(data), owner, at));
  }

  /** Replaces `path`'s data, outside any client. */
  setNode(path: string, data: Uint8Array | string): void {
    validatePath(path);
    this.write((at) => this.namespace.apply({ op: 'set', path, data: Buffer.from(data) }, at));
  }

  /** Deletes `path`, outside any client. */
  deleteNode(path: string): void {
    validatePath(path);
    this.write((at) => this.namespace.apply({ op: 'delete', path }, at));
  }

  // ---------------------------------------------------------------- internals

  private async apply(request: ValidatedRequest, session: string | undefined, stop: AbortSignal): Promise<unknown> {
    const live = session !== undefined && this.sessions.has(session) ? session : undefined;
    switch (request.op) {
      case 'get': {
        const node = this.namespace.node(request.args.path);
        if (node === undefined) throw HikariError.noNode(request.args.path);
        return { data: Buffer.from(node.data), stat: { ...node.stat } };
      }
      case 'exists': {
        const node = this.namespace.node(request.args.path);
        return node === undefined ? null : { stat: { ...node.stat } };
      }
      case 'children':
        return this.namespace.children(request.args);
      case 'sync':
        return { index: this.lastIndex };
      case 'create':
      case 'set':
      case 'delete': {
        const op = { ...request.args, op: request.op } as Parameters<MemoryNamespace['apply']>[0];
        const { op: _tag, ...result } = this.write((at) => this.namespace.apply(op, at), live);
        return result;
      }
      case 'multi':
        return { results: this.write((at) => this.namespace.multi(request.args.ops, at), live) };
      case 'lock.acquire': {
        const owner = this.lockSession(live);
        return this.write((at) => this.locks.acquire(request.args, owner, at.index, at.changes));
      }
      case 'lock.release': {
        const owner = this.lockSession(live);
        return this.write((at) => this.locks.release(request.args.name, request.args.token, owner, at.index, at.changes));
      }
      case 'lock.cancel': {
        const owner = this.lockSession(live);
        return this.write((at) => this.locks.cancel(request.args.name, request.args.ticket, owner, at.index, at.changes));
      }
      case 'lock.wait':
        return { token: await this.locks.wait(request.args.name, request.args.ticket, session ?? '', stop) };
      case 'lock.info':
        return this.locks.info(request.args.name, this.lastIndex);
      default:
        throw HikariError.invalidArgument('op', `${request.op} is not an operation a client of the memory cluster sends`);
    }
  }

  /**
   * Applies a write at the next index, then tells the watches what it changed. `live` is the
   * request's session if it is alive: a request made on a session that has ended since gets
   * SESSION_EXPIRED where the session matters (ephemeral nodes), as on the server.
   */
  private write<T>(apply: (at: ApplyAt) => T, live?: string): T {
    const changes: MemoryChange[] = [];
    const at: ApplyAt = {
      index: ++this.lastIndex,
      time: Date.now(),
      session: live,
      changes,
      checkFence: (lock, token) => {
        if (!this.locks.holdsToken(lock, token)) {
          throw new HikariError(ErrorCode.FENCE_MISMATCH, { name: lock, token }, { message: `token ${token} is not a current grant of lock ${lock}` });
        }
      },
    };
    const result = apply(at);
    this.watches.notify(changes);
    return result;
  }

  /** Locks need a live session: SESSION_EXPIRED otherwise, as on the server. */
  private lockSession(live: string | undefined): string {
    if (live === undefined) throw new HikariError(ErrorCode.SESSION_EXPIRED, {}, { message: 'locks need a session: open one first' });
    return live;
  }

  private requireSession(sessionId: string): SessionRecord {
    const record = typeof sessionId === 'string' ? this.sessions.get(sessionId) : undefined;
    if (record === undefined) throw HikariError.invalidArgument('sessionId', `${String(sessionId)} is not a live session of this memory cluster`);
    return record;
  }

  /** Ends sessions in one index (their nodes and locks go), then tells their owners that they expired, if `expired`. */
  private endSessions(records: readonly SessionRecord[], expired: boolean): void {
    const ids = new Set(records.map((record) => record.id));
    for (const id of ids) this.sessions.delete(id);
    this.write((at) => {
      this.locks.dropSessions(ids, at.index, at.changes);
      this.namespace.dropOwners(ids, at);
    });
    if (expired) for (const record of records) record.owner?.sessionExpired(record.id);
  }
}
