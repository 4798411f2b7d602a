/**
 * HikariClientApi: what a HikariKeeper client offers, whatever carries its calls. HikariClient sends
 * them to a cluster over TCP; MemoryClient (memory/memory-client.ts) applies them to an in-process
 * MemoryCluster, for tests. Code typed against HikariClientApi (the NestJS module, an application's
 * services) runs on either.
 *
 * The namespace calls, fenced writes, locks and elections are written once, here, over `call` (one
 * operation of the protocol, with its wire arguments) and the lock driver; each client provides
 * `call`, `watch`, its session, its events and its discovery.
 */
import {
  ChildrenResult,
  CreateResult,
  ExistsResult,
  FenceOp,
  HikariError,
  LockInfoResult,
  lockNameProblem,
  MultiOp,
  MultiOpResult,
  MultiResult,
  OpArgs,
  OpName,
  OpResult,
  SetResult,
  SyncResult,
} from '@hikarikeeper/protocol';
import type {
  ChildrenOptions,
  CreateOptions,
  Data,
  Fence,
  ListChildrenOptions,
  MultiOpInput,
  NodeData,
  ReadOptions,
  VersionOptions,
  WatchOptions,
} from './client';
import type { CallOptions } from './dispatcher';
import { ClientEventEmitter, ClientEventName, ClientListener, ConnectedEvent } from './events';
import type { SessionInfo } from './session-keeper';
import type { Watch } from './watch';
import type { ClusterLockDriver, ClusterLockGrant, LockInfoOptions } from './locks/cluster-driver';
import { Election } from './locks/election';
import { DistributedLock, withLock } from './locks/lock';
import type { AcquireOptions } from './locks/types';
import type { Discovery } from './discovery/discovery';

/** The node a client is connected to, as its handshake described it (see ConnectedEvent). */
export type NodeInfo = Omit<ConnectedEvent, 'sessionId'>;

export abstract class HikariClientApi {
  /** The lock driver (see locks/cluster-driver.ts): pass it wherever a `LockDriver` is expected. */
  abstract readonly locks: ClusterLockDriver;

  /** The id that tags this client's writes. */
  abstract get clientId(): string;

  /** Where the client is connected ('host:port'; 'memory' for a MemoryClient), or null while it is not. */
  abstract get endpoint(): string | null;

  /**
   * The node the client is connected to: its address, id, cluster id, and the leader's address as
   * that node knew it when the client connected (null during an election). Null while not connected.
   */
  abstract get node(): NodeInfo | null;

  /** The session now (a snapshot: id, timeout, state); null when sessions are off. */
  abstract get session(): SessionInfo | null;

  /** Service discovery (see discovery/discovery.ts). */
  abstract get discovery(): Discovery;

  /** The client's events; each client emits them as its transport tells it. */
  protected readonly events = new ClientEventEmitter();

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

  /** Watches `path` (see WatchOptions and watch.ts). */
  abstract watch(path: string, options?: WatchOptions): Watch;

  /** Closes the client and ends its session; idempotent. */
  abstract close(): Promise<void>;

  /** One operation with its wire arguments. */
  protected abstract call<O extends OpName>(op: O, args: OpArgs<O>, options: CallOptions): Promise<OpResult<O>>;

  /**
   * Creates a node (persistent by default) and returns its actual path (with the counter, for a
   * sequential mode) and stat. Throws NODE_EXISTS, NO_NODE (no parent), NO_CHILDREN_FOR_EPHEMERALS,
   * INVALID_PATH, INVALID_ARGUMENT, TOO_LARGE (data over the node's limit, checked before sending),
   * FENCE_MISMATCH (with `fence`: the token is no longer a current grant), plus the errors every call
   * may throw (see `sync`).
   */
  async create(path: string, data: Data = '', options: CreateOptions = {}): Promise<CreateResult> {
    const { mode = 'persistent', ttlMs, fence, ...call } = options;
    const args = { path, data: toBytes(data, 'data'), mode, ttlMs };
    if (fence === undefined) return this.call('create', args, call);
    const result = await this.fenced(fence, { op: 'create', ...args }, call);
    if (result.op !== 'create') throw fencedResultError('create', result.op);
    return { path: result.path, stat: result.stat };
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
   * Replaces the node's data, if it is at `version` when given (compare-and-set), and, with `fence`,
   * only while the fence's token is a current grant of its lock. Throws NO_NODE, BAD_VERSION,
   * INVALID_PATH, TOO_LARGE, FENCE_MISMATCH, plus the errors every call may throw (see `sync`).
   */
  async set(path: string, data: Data, options: VersionOptions = {}): Promise<SetResult> {
    const { version, fence, ...call } = options;
    const args = { path, data: toBytes(data, 'data'), version };
    if (fence === undefined) return this.call('set', args, call);
    const result = await this.fenced(fence, { op: 'set', ...args }, call);
    if (result.op !== 'set') throw fencedResultError('set', result.op);
    return { stat: result.stat };
  }

  /**
   * Deletes the node, if it is at `version` when given (and, with `fence`, while the fence's token is
   * current). Throws NO_NODE, BAD_VERSION, NOT_EMPTY, INVALID_PATH (the root cannot be deleted),
   * FENCE_MISMATCH, plus the errors every call may throw (see `sync`).
   * A delete retried after its first attempt applied is answered with that first outcome, not NO_NODE.
   */
  async delete(path: string, options: VersionOptions = {}): Promise<void> {
    const { version, fence, ...call } = options;
    if (fence === undefined) {
      await this.call('delete', { path, version }, call);
      return;
    }
    const result = await this.fenced(fence, { op: 'delete', path, version }, call);
    if (result.op !== 'delete') throw fencedResultError('delete', result.op);
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
    const { after, limit, stale, data, ...call } = options;
    return this.call('children', data === true ? { path, after, limit, stale, data } : { path, after, limit, stale }, call);
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
   * BAD_VERSION, NOT_EMPTY, FENCE_MISMATCH for a `fence` op whose token is not current, ...). Throws INVALID_ARGUMENT / INVALID_PATH / TOO_LARGE (over
   * MULTI_OPS_MAX ops, or data over the limit) before sending, plus the errors every call may throw
   * (see `sync`).
   */
  async multi(ops: readonly MultiOpInput[], options: CallOptions = {}): Promise<MultiResult> {
    if (!Array.isArray(ops)) throw HikariError.invalidArgument('ops', 'must be an array');
    return this.call('multi', { ops: ops.map(toWireOp) }, options);
  }

  /**
   * A lock object for `name` (see locks/lock.ts): `acquire`, `tryAcquire`, `release`, and the current
   * `token`. One object holds at most one grant at a time; several objects (or clients) may share a
   * name. Throws INVALID_ARGUMENT when `name` is not a lock name (1 to 256 bytes, no control character).
   */
  lock(name: string): DistributedLock {
    const problem = typeof name === 'string' ? lockNameProblem(name) : 'is not a string';
    if (problem !== null) throw HikariError.invalidArgument('name', `must be a lock name, but it ${problem}`);
    return new DistributedLock(this.locks, name);
  }

  /**
   * Runs `fn` holding the lock `name` (acquired with `options`), and releases it when `fn` returns or
   * throws. If the release fails after `fn` succeeded (the session expired meanwhile, so someone else
   * may have held the lock), that error is thrown: `fn`'s work may not have been exclusive.
   */
  withLock<T>(name: string, fn: (grant: ClusterLockGrant) => Promise<T> | T, options: AcquireOptions = {}): Promise<T> {
    return withLock(this.locks, name, (grant) => fn(grant as ClusterLockGrant), options);
  }

  /** The lock's holders and waiters (see ClusterLockDriver.info); linearizable unless `stale`. */
  lockInfo(name: string, options: LockInfoOptions = {}): Promise<LockInfoResult> {
    return this.locks.info(name, options);
  }

  /**
   * Leader election `name` (see locks/election.ts): candidates queue for the lock `election:<name>`.
   * Throws INVALID_ARGUMENT when that is not a lock name.
   */
  election(name: string): Election {
    return new Election(
      {
        locks: this.locks,
        watchLock: (lockName, signal) => this.watch(lockName, { kind: 'lock', signal }),
        session: () => this.session,
      },
      name,
    );
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

  /** `op` as a multi after the fence; its own result. Throws INVALID_ARGUMENT for a malformed fence. */
  private async fenced(fence: Fence, op: MultiOp, options: CallOptions): Promise<MultiOpResult> {
    const { results } = await this.call('multi', { ops: [fenceOp(fence), op] }, options);
    if (results.length !== 2) throw HikariError.badFrame(`malformed multi result: ${results.length} results for 2 ops`, { op: 'multi' });
    return results[1]!;
  }
}

function fenceOp(fence: Fence): FenceOp {
  if (typeof fence !== 'object' || fence === null) throw HikariError.invalidArgument('fence', 'must be { lock, token } or a lock grant');
  const lock = 'lock' in fence ? fence.lock : fence.name;
  const problem = typeof lock === 'string' ? lockNameProblem(lock) : 'is not a string';
  if (problem !== null) throw HikariError.invalidArgument('fence.lock', `must be a lock name, but it ${problem}`);
  if (!Number.isSafeInteger(fence.token) || fence.token < 1) {
    throw HikariError.invalidArgument('fence.token', 'must be a fencing token (a positive integer)');
  }
  return { op: 'fence', lock, token: fence.token };
}

function fencedResultError(expected: string, got: string): HikariError {
  return HikariError.badFrame(`malformed multi result: a ${got} result for a ${expected}`, { op: 'multi' });
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
