/**
 * Keeps one live connection: connects to an endpoint, reconnects to another when it breaks, and
 * leaves a node for another (the leader a NOT_LEADER named) when the dispatcher asks.
 *
 * Where and when (the backoff is per endpoint, see EndpointPool):
 * - An endpoint fails when an attempt to it does not complete a handshake, or when its connection
 *   closes. A connection that had given a definitive answer (or lived longer than the largest
 *   backoff step) was healthy: its endpoint restarts at one short step. Otherwise the endpoint's
 *   step doubles (50 ms → 2 s by default, with jitter).
 * - The next attempt goes to the next endpoint in rotation that is not cooling down, at once; when
 *   all are cooling down, to the one ready first, when it is.
 * - A switch to a leader named by a NOT_LEADER goes at once when the name is news (not named since
 *   the last definitive answer): after an election, that is how the client learns the new leader,
 *   and waiting would only add latency. A name heard again (nodes still naming the dead leader, two
 *   nodes naming each other with stale hints) is tried only once its own backoff allows; until then
 *   the rotation is used.
 */
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { HelloArgs, HelloResult, HikariError } from '@hikarikeeper/protocol';
import { Connection, ConnectionHooks } from './connection';
import { Endpoint, EndpointPool, Random } from './endpoints';
import { ServerEvent } from './events';
import { BackoffOptions } from './options';

/** Leader names remembered to tell news from repeats (a cluster has 3 to 7 nodes); cleared beyond. */
const HINTS_KEPT_MAX = 64;

export interface ConnectorOptions {
  readonly endpoints: readonly Endpoint[];
  readonly backoff: BackoffOptions;
  readonly connectTimeoutMs: number;
  /** node:tls options of every connection, or null for plain TCP. */
  readonly tls?: TlsConnectionOptions | null;
  /** The hello arguments for the next attempt (the cluster id may be pinned after the first). */
  readonly hello: () => HelloArgs & { clientId: string };
  readonly random?: Random;
  readonly now?: () => number;
}

export interface ConnectorHooks {
  connected(connection: Connection, hello: HelloResult): void;
  /** The current connection closed; `error` says why. Its requests in flight are answered CONNECTION_LOSS right after. */
  disconnected(connection: Connection, error: HikariError, reconnecting: boolean): void;
  /** A connection attempt to `endpoint` failed before its handshake completed. */
  attemptFailed(endpoint: Endpoint, error: HikariError): void;
  /** An event pushed on the current connection. */
  event(event: ServerEvent, connection: Connection): void;
}

export class Connector {
  /** The connection past its handshake, if any (it may have closed since: see `current`). */
  private connection: Connection | null = null;
  /** The connection being made, if any. At most one of the two is non-null. */
  private attempt: Connection | null = null;
  private attemptTimer: NodeJS.Timeout | null = null;
  /** The current connection gave a definitive answer. */
  private productive = false;
  private connectedAt = 0;
  /** Where the next attempt goes instead of the rotation, and whether that name is news. */
  private preferred: { endpoint: Endpoint; news: boolean } | null = null;
  /** Leaders named since the last definitive answer. */
  private readonly hints = new Set<string>();
  private closed = false;
  /** Every connection whose socket is not closed yet, so that `close` can wait for all of them. */
  private readonly sockets = new Set<Connection>();
  private readonly pool: EndpointPool;
  private readonly now: () => number;
  /** Why the last attempt or connection failed; cleared by a successful handshake. */
  lastError: HikariError | null = null;

  private readonly connectionHooks: ConnectionHooks = {
    ready: (connection, hello) => this.onReady(connection, hello),
    event: (connection, event) => {
      if (connection === this.connection) this.hooks.event(event, connection);
    },
    closed: (connection, error) => this.onClosed(connection, error),
  };

  constructor(
    private readonly options: ConnectorOptions,
    private readonly hooks: ConnectorHooks,
  ) {
    this.now = options.now ?? Date.now;
    this.pool = new EndpointPool(options.endpoints, options.backoff, options.random ?? Math.random);
  }

  /** The open connection to send on, or null while (re)connecting. */
  get current(): Connection | null {
    return this.connection !== null && this.connection.isOpen ? this.connection : null;
  }

  /** Starts the first attempt, at once. */
  start(): void {
    this.scheduleAttempt();
  }

  /** `connection` gave a definitive answer (a result or a non-retryable error): it is healthy. */
  markProductive(connection: Connection): void {
    if (connection !== this.connection || this.productive) return;
    this.productive = true;
    this.pool.succeeded(connection.endpoint.address);
    this.hints.clear();
  }

  /**
   * Leaves `from` for `leader`, or for the next endpoint when null. Does nothing unless `from` is
   * still the current connection: of many calls told NOT_LEADER by the same node, the first moves
   * the client and the others simply follow.
   */
  switchAway(from: Connection, leader: Endpoint | null, reason: HikariError): void {
    if (this.closed || from !== this.connection || !from.isOpen) return;
    if (leader !== null) {
      const news = !this.hints.has(leader.address);
      if (this.hints.size >= HINTS_KEPT_MAX) this.hints.clear();
      this.hints.add(leader.address);
      this.preferred = { endpoint: leader, news };
    }
    from.close(reason);
  }

  /** Closes everything with `reason` and stops reconnecting; resolves once every socket is closed. */
  async close(reason: HikariError): Promise<void> {
    this.closed = true;
    if (this.attemptTimer !== null) clearTimeout(this.attemptTimer);
    this.attemptTimer = null;
    const sockets = [...this.sockets];
    this.attempt?.close(reason);
    this.connection?.close(reason);
    await Promise.all(sockets.map((connection) => connection.socketClosed));
  }

  private scheduleAttempt(): void {
    if (this.closed || this.attempt !== null || this.attemptTimer !== null || this.current !== null) return;
    const { endpoint, delayMs } = this.nextTarget();
    this.attemptTimer = setTimeout(() => {
      this.attemptTimer = null;
      this.connectTo(endpoint);
    }, delayMs);
  }

  private nextTarget(): { endpoint: Endpoint; delayMs: number } {
    const nowMs = this.now();
    const preferred = this.preferred;
    this.preferred = null;
    if (preferred !== null && (preferred.news || !this.pool.isCoolingDown(preferred.endpoint.address, nowMs))) {
      return { endpoint: preferred.endpoint, delayMs: 0 };
    }
    return this.pool.next(nowMs);
  }

  private connectTo(endpoint: Endpoint): void {
    if (this.closed) return;
    const connection = new Connection(
      endpoint,
      { hello: this.options.hello(), connectTimeoutMs: this.options.connectTimeoutMs, tls: this.options.tls ?? null },
      this.connectionHooks,
    );
    this.attempt = connection;
    this.sockets.add(connection);
    void connection.socketClosed.then(() => this.sockets.delete(connection));
  }

  private onReady(connection: Connection, hello: HelloResult): void {
    if (connection !== this.attempt) return connection.close(HikariError.badFrame('unexpected handshake'));
    this.attempt = null;
    this.connection = connection;
    this.productive = false;
    this.connectedAt = this.now();
    this.lastError = null;
    this.hooks.connected(connection, hello);
  }

  private onClosed(connection: Connection, error: HikariError): void {
    const nowMs = this.now();
    if (connection === this.attempt) {
      this.attempt = null;
      this.pool.failed(connection.endpoint.address, nowMs);
      this.lastError = error;
      this.hooks.attemptFailed(connection.endpoint, error);
    } else if (connection === this.connection) {
      this.connection = null;
      const healthy = this.productive || nowMs - this.connectedAt >= this.options.backoff.maxMs;
      this.pool.failed(connection.endpoint.address, nowMs, healthy);
      this.lastError = error;
      this.hooks.disconnected(connection, error, !this.closed);
    } else {
      return;
    }
    this.scheduleAttempt();
  }
}
