/**
 * Everything this node keeps about one peer: its address, the message connection of the pair, the
 * bounded send queue in front of it, and (on the dialing side) the reconnection loop.
 *
 * One connection per pair carries both directions: the node with the lower id dials, the other
 * accepts (`adopt`). Messages are queued only while the connection is open; the queue is flushed as
 * batch frames at the end of the event-loop turn (`flush`, called by the transport), and flushing
 * stops while the socket's buffer is full, until 'drain'. When the connection is lost, the queue is
 * discarded and the peer reported unreachable (what was in flight may be lost too).
 */
import type { NodeId } from '@hikarikeeper/raft';
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { Backoff, RandomFn } from './backoff';
import { FramedSocket } from './framed-socket';
import { dial } from './handshake';
import { BATCH_HEADER_BYTES_MAX, PEER_PROTOCOL_VERSION, TcpTransportLimits } from './limits';
import { encodeBatch } from './peer-codec';
import { SendQueue } from './send-queue';
import type { PeerAddress, TransportLogger } from './transport';
import type { TransportCounters } from './stats';
import type { PeerTls } from './peer-tls';

/** What a link needs from its transport. */
export interface LinkContext {
  readonly self: NodeId;
  readonly cluster: string;
  readonly limits: TcpTransportLimits;
  readonly logger: TransportLogger;
  readonly random: RandomFn;
  readonly counters: TransportCounters;
  /** Mutual TLS for every peer connection, or null for plain TCP (replaced by TcpTransport.reloadTls: new dials use the new one). */
  tls: PeerTls | null;
  /** Decodes a batch from `from` and hands it over; throws BAD_FRAME (the connection is then closed). */
  deliver(from: NodeId, body: Buffer): void;
  /** Reports `id` unreachable (asynchronously, deduplicated). */
  unreachable(id: NodeId): void;
  /** Reports that the established connection with `id` was lost (not closed by this node). */
  disconnected(id: NodeId): void;
  /** Asks for `link.flush()` at the end of this event-loop turn. */
  scheduleFlush(link: PeerLink): void;
  /** Tracks a socket until it closes, so that `stop()` can close it and wait. */
  track(framed: FramedSocket): void;
}

export interface PeerStats {
  readonly id: NodeId;
  readonly connected: boolean;
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  /** The socket buffer is full: nothing is flushed until it drains. */
  readonly blocked: boolean;
}

export class PeerLink {
  private conn: FramedSocket | null = null;
  private dialing: FramedSocket | null = null;
  private readonly queue: SendQueue;
  private blocked = false;
  private readonly backoff: Backoff;
  private timer: NodeJS.Timeout | null = null;
  private started = false;
  private closed = false;
  /** Failed connection attempts since the last success: the first one is logged, then only a new reason. */
  private failures = 0;
  private lastFailure = '';
  private openedAtMs = 0;

  constructor(
    private readonly ctx: LinkContext,
    private addr: PeerAddress,
  ) {
    const { limits } = ctx;
    this.queue = new SendQueue(limits.sendQueueMessagesMax, limits.sendQueueBytesMax);
    this.backoff = new Backoff(limits.reconnectDelayMsMin, limits.reconnectDelayMsMax, ctx.random);
  }

  get id(): NodeId {
    return this.addr.id;
  }

  get address(): PeerAddress {
    return this.addr;
  }

  get connected(): boolean {
    return this.conn !== null;
  }

  /** This side dials the message connection (the lower id dials). */
  get dials(): boolean {
    return this.ctx.self < this.addr.id;
  }

  /** Starts connecting (when this side dials); called once the transport listens. */
  start(): void {
    this.started = true;
    if (this.dials && this.conn === null && this.dialing === null && this.timer === null) this.connect();
  }

  /** Queues an encoded message; false if it must be dropped (not connected, or the queue is full). */
  enqueue(part: Buffer): boolean {
    if (this.conn === null || !this.queue.push(part)) return false;
    this.ctx.scheduleFlush(this);
    return true;
  }

  /** Writes queued messages as batch frames until the queue is empty or the socket buffer is full. */
  flush(): void {
    const conn = this.conn;
    if (conn === null) return;
    const partBytesMax = this.ctx.limits.frameBytesMax - BATCH_HEADER_BYTES_MAX;
    while (!this.blocked && this.queue.length > 0) {
      const parts = this.queue.take(partBytesMax);
      try {
        if (!conn.write(encodeBatch(parts))) this.blocked = true;
      } catch (error) {
        this.ctx.logger.error({ peer: this.id, err: error }, 'peer batch could not be written; closing the connection');
        conn.close(error instanceof Error ? error : null);
        return;
      }
      this.ctx.counters.framesSent++;
      this.ctx.counters.messagesSent += parts.length;
    }
  }

  /** The acceptor's side: takes over a connection whose hello was accepted (replacing an older one). */
  adopt(framed: FramedSocket): void {
    this.dropConnection('replaced by a new connection from the peer');
    this.ctx.counters.connectionsAccepted++;
    this.open(framed);
  }

  /** A new address: the dialing side reconnects to it at once. */
  setAddress(addr: PeerAddress): void {
    if (addr.host === this.addr.host && addr.port === this.addr.port) return;
    this.addr = addr;
    if (!this.dials || !this.started || this.closed) return;
    this.cancelTimer();
    this.dialing?.close();
    this.dialing = null;
    this.dropConnection('the peer moved to another address');
    this.backoff.reset();
    this.connect();
  }

  /** The peer is removed or the transport stops: closes everything, discards the queue, stops reconnecting. */
  close(): void {
    this.closed = true;
    this.cancelTimer();
    this.dialing?.close();
    this.dialing = null;
    const conn = this.conn;
    if (conn === null) return;
    this.detach();
    conn.close();
  }

  stats(): PeerStats {
    return {
      id: this.id,
      connected: this.connected,
      queuedMessages: this.queue.length,
      queuedBytes: this.queue.bytes,
      blocked: this.blocked,
    };
  }

  private connect(): void {
    this.timer = null;
    if (this.closed) return;
    const { limits } = this.ctx;
    const { framed, opened } = dial({
      host: this.addr.host,
      port: this.addr.port,
      hello: { cluster: this.ctx.cluster, from: this.ctx.self, to: this.id, version: PEER_PROTOCOL_VERSION, kind: 'raft' },
      frameBytesMax: limits.frameBytesMax,
      timeoutMs: limits.handshakeTimeoutMs,
      keepAliveDelayMs: limits.keepAliveDelayMs,
      tls: this.ctx.tls,
    });
    this.dialing = framed;
    this.ctx.track(framed);
    opened.then(
      () => {
        if (this.dialing !== framed) return framed.close(); // cancelled meanwhile
        this.dialing = null;
        this.ctx.counters.connectionsDialed++;
        this.open(framed);
      },
      (error: HikariError) => {
        if (this.dialing !== framed) return;
        this.dialing = null;
        this.failures++;
        const reason = String(error.details.reason ?? error.message);
        if (this.failures === 1 || reason !== this.lastFailure) {
          this.lastFailure = reason;
          this.ctx.logger.warn(
            { peer: this.id, address: `${this.addr.host}:${this.addr.port}`, code: error.code, reason: error.details.reason ?? error.message },
            'cannot connect to peer; retrying with backoff',
          );
        }
        this.scheduleReconnect();
      },
    );
  }

  private open(framed: FramedSocket): void {
    this.conn = framed;
    this.openedAtMs = Date.now();
    this.blocked = false;
    this.failures = 0;
    this.lastFailure = '';
    this.ctx.counters.connectionsOpen++;
    this.ctx.logger.info({ peer: this.id, dialed: this.dials }, 'peer connected');
    framed.onDrain = () => {
      if (this.conn !== framed) return;
      this.blocked = false;
      this.flush();
    };
    framed.onClose((error) => this.lost(framed, error));
    framed.setFrameHandler((body) => this.ctx.deliver(this.id, body));
  }

  private lost(framed: FramedSocket, error: Error | null): void {
    if (this.conn !== framed) return;
    this.detach();
    // Only a connection that proved stable resets the backoff: a peer that accepts and drops at once
    // must not be redialed at the shortest delay forever.
    if (Date.now() - this.openedAtMs >= this.ctx.limits.reconnectDelayMsMax) this.backoff.reset();
    const malformed = HikariError.is(error, ErrorCode.BAD_FRAME) || HikariError.is(error, ErrorCode.TOO_LARGE);
    const log = malformed ? this.ctx.logger.error : this.ctx.logger.warn;
    log.call(this.ctx.logger, { peer: this.id, err: error }, 'peer connection lost');
    this.ctx.unreachable(this.id);
    this.ctx.disconnected(this.id);
    this.scheduleReconnect();
  }

  /** Closes the open connection, if any, on this side's initiative; the peer is reported unreachable. */
  private dropConnection(reason: string): void {
    const conn = this.conn;
    if (conn === null) return;
    this.detach();
    conn.close(new HikariError(ErrorCode.CONNECTION_LOSS, { reason }));
    this.ctx.unreachable(this.id);
  }

  /** Forgets the open connection: its queue is discarded (counted as dropped). */
  private detach(): void {
    this.conn = null;
    this.blocked = false;
    this.ctx.counters.connectionsOpen--;
    this.ctx.counters.messagesDropped += this.queue.clear();
  }

  private scheduleReconnect(): void {
    if (this.closed || !this.started || !this.dials || this.timer !== null || this.dialing !== null) return;
    this.timer = setTimeout(() => this.connect(), this.backoff.next());
    this.timer.unref();
  }

  private cancelTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
