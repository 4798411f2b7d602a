/**
 * MemoryClient: a client of a MemoryCluster (memory-cluster.ts), with HikariClient's API
 * (HikariClientApi: the same namespace calls, fenced writes, locks, elections, discovery, events),
 * for tests that need the cluster's behaviour without a cluster. Code written against
 * HikariClientApi runs on it unchanged; so does everything the SDK builds on a client: its lock
 * driver is a real ClusterLockDriver, its elections real Elections, its discovery the SDK's
 * Discovery, each over this client's calls instead of a connection.
 *
 * ```ts
 * const client = await new MemoryCluster().connect();
 * await client.create('/app', 'v1');
 * await client.withLock('jobs', async (grant) => client.set('/app', 'v2', { fence: grant }));
 * ```
 *
 * Its session opens at `connect` (unless `session: false`) and lives until `close()` or until the
 * cluster expires it (`cluster.expireSession(client.session!.id)`, or `client.expireSession()`):
 * then, as HikariClient does, its grants are lost and its pending acquires fail (SESSION_EXPIRED),
 * `expired` is emitted, a new session opens at once, and `connected` follows with its id.
 * `endpoint` is 'memory'; `suspended` and `reconnected` never happen (no connection to lose).
 *
 * Calls honour `signal` (CANCELLED) and, for waits, `timeoutMs` (TIMEOUT); arguments are checked by
 * the protocol's validators, as a node checks them.
 */
import { setMaxListeners } from 'node:events';
import { ErrorCode, HikariError, OpArgs, OpName, OpResult, validateRequest } from '@hikarikeeper/protocol';
import { closedError, WatchOptions } from '../client';
import { HikariClientApi, NodeInfo } from '../client-api';
import { CallOptions, cancelled } from '../dispatcher';
import { Discovery } from '../discovery/discovery';
import { ClusterLockDriver, LockDriverHooks } from '../locks/cluster-driver';
import { HikariClientOptions, resolveOptions, ResolvedOptions } from '../options';
import type { SessionInfo } from '../session-keeper';
import type { Watch } from '../watch';
import { WATCHES_MAX } from '../watch-registry';
import type { MemoryCluster, SessionOwner } from './memory-cluster';

/** What a MemoryClient takes: HikariClient's options that mean something without a network. */
export type MemoryClientOptions = Pick<HikariClientOptions, 'clientId' | 'timeoutMs' | 'session'>;

/** The endpoint a MemoryClient reports. */
export const MEMORY_ENDPOINT = 'memory';

export class MemoryClient extends HikariClientApi implements SessionOwner {
  readonly locks: ClusterLockDriver;
  private readonly lockHooks: LockDriverHooks;
  private readonly options: ResolvedOptions;
  private current: SessionInfo | null;
  /** Sessions ended so far: a call made on an earlier one gets no session when it is applied. */
  private epoch = 0;
  /** Aborts when the client closes: every call under way ends (its listeners come and go with the calls). */
  private readonly stop = listenedByMany(new AbortController());
  /** This client's watches that may still be open (closed ones are dropped as new ones come). */
  private readonly openWatches = new Set<Watch>();
  private closing: Promise<void> | null = null;
  private discoveryFacade: Discovery | null = null;

  /**
   * Use `MemoryClient.connect` (or `cluster.connect`); the constructor is for subclasses (test
   * helpers) that need the client at once. Throws INVALID_ARGUMENT for bad options (HikariClient's rules).
   */
  protected constructor(
    readonly cluster: MemoryCluster,
    options: MemoryClientOptions = {},
  ) {
    super();
    if (typeof options !== 'object' || options === null) throw HikariError.invalidArgument('options', 'must be an object');
    // HikariClient's checks and defaults; the endpoint is a placeholder nobody connects to.
    this.options = resolveOptions({ clientId: options.clientId, timeoutMs: options.timeoutMs, session: options.session, endpoints: ['127.0.0.1:1'] });
    this.current = this.options.session === null ? null : cluster.openSession(this.options.session.timeoutMs, this);
    const { driver, hooks } = ClusterLockDriver.open({
      call: (op, args, callOptions) => this.call(op, args, callOptions),
      sessions: this.options.session !== null,
      sessionId: () => this.current?.id ?? '',
      timeoutMs: this.options.timeoutMs,
    });
    this.locks = driver;
    this.lockHooks = hooks;
  }

  /**
   * A client of `cluster`, its session open (unless `session: false`), once `connected` is said.
   * Rejects with INVALID_ARGUMENT for bad options (HikariClient's rules).
   */
  static async connect(cluster: MemoryCluster, options: MemoryClientOptions = {}): Promise<MemoryClient> {
    await new Promise((resolve) => setImmediate(resolve));
    const client = new MemoryClient(cluster, options);
    client.announce();
    return client;
  }

  get clientId(): string {
    return this.options.clientId;
  }

  get endpoint(): string | null {
    return this.closing === null ? MEMORY_ENDPOINT : null;
  }

  get node(): NodeInfo | null {
    return this.closing === null ? { endpoint: MEMORY_ENDPOINT, nodeId: 1, clusterId: this.cluster.clusterId, leader: MEMORY_ENDPOINT } : null;
  }

  get session(): SessionInfo | null {
    return this.current === null ? null : { ...this.current };
  }

  get discovery(): Discovery {
    if (this.discoveryFacade === null) {
      this.discoveryFacade = new Discovery(this);
      if (this.closing !== null) this.discoveryFacade.close();
    }
    return this.discoveryFacade;
  }

  watch(path: string, options: WatchOptions = {}): Watch {
    const { kind = 'data', fromIndex, signal } = options;
    if (this.closing !== null) throw closedError();
    validateRequest('watch', { path, kind, fromIndex });
    if (signal?.aborted === true) throw new HikariError(ErrorCode.CANCELLED, { op: 'watch', reason: 'aborted' }, { cause: signal.reason });
    for (const open of this.openWatches) if (open.closed) this.openWatches.delete(open);
    if (this.openWatches.size >= WATCHES_MAX) throw HikariError.tooLarge('watches', this.openWatches.size + 1, WATCHES_MAX);
    const watch = this.cluster.watch(path, kind, fromIndex, signal);
    this.openWatches.add(watch);
    return watch;
  }

  /** Expires this client's session (see MemoryCluster.expireSession). Throws INVALID_ARGUMENT without a live session. */
  expireSession(): void {
    if (this.current === null || this.closing !== null) throw HikariError.invalidArgument('session', 'this client has no live session to expire');
    this.cluster.expireSession(this.current.id);
  }

  /**
   * Closes the client: its session ends (its ephemeral nodes and locks go at once), pending calls
   * fail with CANCELLED, watches end. Idempotent.
   */
  close(): Promise<void> {
    if (this.closing === null) {
      this.discoveryFacade?.close();
      const session = this.current;
      if (session !== null) this.lockHooks.sessionEnded(session.id, 'closed');
      this.stop.abort(closedError());
      for (const watch of this.openWatches) watch.close();
      this.openWatches.clear();
      if (session !== null) {
        this.current = { ...session, state: 'closed' };
        this.cluster.endOwnSession(session.id);
      }
      this.events.removeAllListeners();
      this.closing = Promise.resolve();
    }
    return this.closing;
  }

  /** Internal (memory-cluster.ts): the cluster expired this client's session. */
  sessionExpired(sessionId: string): void {
    if (this.current?.id !== sessionId || this.closing !== null) return;
    this.lockHooks.sessionEnded(sessionId, 'expired'); // before anything is sent on the next session
    this.epoch++; // calls pending now fail where the session matters; calls made from here go on the next one
    this.current = { ...this.current, state: 'expired' };
    this.events.emit('expired', { sessionId });
    if (this.closing !== null) return; // closed by a listener
    this.current = this.cluster.openSession(this.current.timeoutMs, this);
    this.announce();
  }

  /** `connected`, with the session now. */
  private announce(): void {
    this.events.emit('connected', { ...this.node!, sessionId: this.current?.id ?? null });
  }

  protected async call<O extends OpName>(op: O, args: OpArgs<O>, options: CallOptions): Promise<OpResult<O>> {
    if (this.closing !== null) throw closedError();
    const request = validateRequest(op, args);
    const { signal, timeoutMs = this.options.timeoutMs } = options;
    if (signal?.aborted === true) throw cancelled(op, signal.reason);
    // One signal ends the call: the caller's abort (CANCELLED), its deadline (TIMEOUT), the client's close (CANCELLED).
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new HikariError(ErrorCode.TIMEOUT, { op, timeoutMs }, { message: `${op}: no answer within ${timeoutMs} ms` })),
      timeoutMs,
    );
    const onAbort = (): void => controller.abort(cancelled(op, signal!.reason));
    const onClose = (): void => controller.abort(this.stop.signal.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    this.stop.signal.addEventListener('abort', onClose, { once: true });
    try {
      const epoch = this.epoch;
      const session = (): string | undefined => (epoch === this.epoch && this.current?.state === 'connected' ? this.current.id : undefined);
      const answer = this.cluster.execute(request, session, controller.signal) as Promise<OpResult<O>>;
      return await new Promise<OpResult<O>>((resolve, reject) => {
        controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
        answer.then(resolve, reject);
      });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      this.stop.signal.removeEventListener('abort', onClose);
    }
  }
}

/** `controller`, whose signal may have any number of listeners (one per call under way). */
function listenedByMany(controller: AbortController): AbortController {
  setMaxListeners(0, controller.signal);
  return controller;
}
