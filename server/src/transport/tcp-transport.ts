/**
 * The peer transport over TCP.
 *
 * - One message connection per pair of nodes, used in both directions: the lower id dials, the
 *   higher id accepts (no races between two connections for one pair; the dialer owns reconnection,
 *   with exponential backoff and jitter). See peer-link.ts.
 * - Handshake first: the acceptor refuses another cluster (CLUSTER_MISMATCH), a hello not addressed
 *   to it, an unknown peer, a dial in the wrong direction. See handshake.ts.
 * - Messages are encoded at `send` (exact sizes for the queue bounds) and leave as batch frames at
 *   the end of the event-loop turn (setImmediate), as few frames as the frame limit allows.
 * - Snapshots travel on a dedicated short-lived connection each, so that megabytes of snapshot never
 *   sit in front of heartbeats in a socket buffer. See snapshot-sender.ts / snapshot-receiver.ts.
 * - With `tls`, every connection (message and snapshot) is mutual TLS against the cluster CA, under
 *   the same handshake. See peer-tls.ts.
 */
import * as net from 'node:net';
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { Message, MessageType, NodeId } from '@hikarikeeper/raft';
import type { RandomFn } from './backoff';
import { decodeHello, encodeHelloAnswer, Hello } from './control-frames';
import { FramedSocket } from './framed-socket';
import { checkHello, configureSocket } from './handshake';
import { checkLimits, DEFAULT_LIMITS, messageBytesMax, snapshotFrameBytesMax, TcpTransportLimits } from './limits';
import { decodeBatch, encodeMessage } from './peer-codec';
import { LinkContext, PeerLink } from './peer-link';
import { SnapshotReceiver } from './snapshot-receiver';
import { sendSnapshotStream } from './snapshot-sender';
import { newCounters, TcpTransportStats, TransportCounters } from './stats';
import { PeerAddress, silentLogger, Transport, TransportHandler, TransportLogger } from './transport';
import * as tls from 'node:tls';
import { checkPeerName, createPeerServer, PeerTls, peerSecureContext } from './peer-tls';
import { ThrottledLog } from '../logger';

export interface TcpTransportOptions {
  /** This node's id. */
  readonly id: NodeId;
  /** The cluster's id: peers of another cluster are refused. At most 64 characters. */
  readonly clusterId: string;
  /** Where to listen for peers; port 0 picks a free port (see `address()`). */
  readonly host: string;
  readonly port: number;
  /** Default: silent. */
  readonly logger?: TransportLogger;
  /** Jitter of reconnection delays, in [0, 1). Default Math.random. */
  readonly random?: RandomFn;
  /** Overrides of DEFAULT_LIMITS (tests shrink them). */
  readonly limits?: Partial<TcpTransportLimits>;
  /** Mutual TLS for every peer connection; plain TCP when absent. */
  readonly tls?: PeerTls;
}

type State = 'new' | 'starting' | 'started' | 'stopped';

export class TcpTransport implements Transport {
  onUnreachable?: (id: NodeId) => void;
  onDisconnected?: (id: NodeId) => void;

  private readonly limits: TcpTransportLimits;
  private readonly logger: TransportLogger;
  private readonly tlsRefusals: ThrottledLog;
  private readonly counters: TransportCounters = newCounters();
  private readonly linkContext: LinkContext;
  private state: State = 'new';
  private server: net.Server | null = null;
  private handler: TransportHandler | null = null;
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly sockets = new Set<FramedSocket>();
  private readonly receivers = new Map<NodeId, SnapshotReceiver>();
  private readonly dirty = new Set<PeerLink>();
  private readonly unreachable = new Set<NodeId>();
  private immediate: NodeJS.Immediate | null = null;
  private snapshotSequence = 0;
  private stopping: Promise<void> | null = null;

  constructor(private readonly options: TcpTransportOptions) {
    if (!Number.isSafeInteger(options.id) || options.id < 1) throw HikariError.invalidArgument('id', 'must be a positive integer');
    if (options.clusterId.length === 0 || options.clusterId.length > 64) {
      throw HikariError.invalidArgument('clusterId', 'must be 1 to 64 characters');
    }
    this.limits = checkLimits({ ...DEFAULT_LIMITS, ...options.limits });
    this.logger = options.logger ?? silentLogger;
    this.tlsRefusals = new ThrottledLog(this.logger);
    this.linkContext = {
      self: options.id,
      cluster: options.clusterId,
      limits: this.limits,
      logger: this.logger,
      random: options.random ?? Math.random,
      counters: this.counters,
      tls: options.tls ?? null,
      deliver: (from, body) => this.deliver(from, body),
      unreachable: (id) => this.markUnreachable(id),
      disconnected: (id) => {
        if (this.state !== 'started') return;
        try {
          this.onDisconnected?.(id);
        } catch (error) {
          this.logger.error({ peer: id, err: error }, 'onDisconnected threw');
        }
      },
      scheduleFlush: (link) => {
        this.dirty.add(link);
        this.scheduleTurnEnd();
      },
      track: (framed) => this.track(framed),
    };
  }

  get id(): NodeId {
    return this.options.id;
  }

  /** The bound listening address (after `start`): with port 0, the port the OS picked. */
  address(): { host: string; port: number } {
    const bound = this.server?.address();
    if (bound === null || bound === undefined || typeof bound === 'string') throw new Error('TcpTransport is not listening');
    return { host: bound.address, port: bound.port };
  }

  async start(handler: TransportHandler): Promise<void> {
    if (this.state !== 'new') throw new Error(`TcpTransport.start() called when ${this.state}`);
    this.state = 'starting';
    this.handler = handler;
    const server = createPeerServer(this.linkContext.tls, this.limits.handshakeTimeoutMs, (socket) => this.accept(socket), (error, remote) => {
      this.counters.tlsHandshakesRefused++;
      this.tlsRefusals.warn({ remote, err: error.message }, 'peer refused in the TLS handshake');
    });
    server.maxConnections = this.limits.inboundConnectionsMax;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.options.host, port: this.options.port }, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((error: unknown) => {
      this.state = 'stopped';
      this.server = null;
      throw error;
    });
    server.on('error', (error) => this.logger.error({ err: error }, 'peer listener error'));
    if ((this.state as State) === 'stopped') return; // stop() was called while binding
    this.state = 'started';
    this.logger.info({ id: this.id, ...this.address() }, 'peer transport listening');
    for (const link of this.links.values()) link.start();
  }

  /**
   * Replaces this node's peer TLS material (certificate rotation): the listener's next handshakes and
   * the next dials (message and snapshot connections) use `peerTls`; connections already open keep
   * theirs. Throws INVALID_ARGUMENT when the transport runs without TLS or the material is unusable
   * (a key that does not match its certificate, say), and then changes nothing.
   */
  reloadTls(peerTls: PeerTls): void {
    if (this.linkContext.tls === null) throw HikariError.invalidArgument('tls', 'this transport runs without TLS: TLS is turned on at start, not by a reload');
    const context = peerSecureContext(peerTls);
    try {
      tls.createSecureContext(context); // the checks setSecureContext would make, before anything changes
    } catch (error) {
      throw HikariError.invalidArgument('tls', `the new peer TLS material is unusable: ${(error as Error).message}`);
    }
    if (this.server instanceof tls.Server) this.server.setSecureContext(context);
    this.linkContext.tls = peerTls;
  }

  send(messages: readonly Message[]): void {
    for (const m of messages) {
      let queued = false;
      try {
        queued = this.sendOne(m);
      } catch (error) {
        this.logger.error({ peer: m.to, type: m.type, err: error }, 'message cannot be sent; dropped');
      }
      if (!queued) this.drop(m.to);
    }
  }

  async sendSnapshot(message: Message, chunks: AsyncIterable<Uint8Array>): Promise<boolean> {
    const link = this.links.get(message.to);
    if (this.state !== 'started' || link === undefined || message.type !== MessageType.Snap || message.snapshot === null) {
      this.logger.warn({ peer: message.to, state: this.state }, 'snapshot not sent: no such peer, not a Snap message or not started');
      this.counters.snapshotsSendFailed++;
      return false;
    }
    const snap = ++this.snapshotSequence;
    const ok = await sendSnapshotStream(this.linkContext, link.address, snap, message, chunks);
    if (ok) this.counters.snapshotsSent++;
    else this.counters.snapshotsSendFailed++;
    return ok;
  }

  setPeers(peers: readonly PeerAddress[]): void {
    if (this.state === 'stopped') return;
    const next = new Map<NodeId, PeerAddress>();
    for (const p of peers) {
      if (!Number.isSafeInteger(p.id) || p.id < 1) throw HikariError.invalidArgument('peers.id', `${p.id} is not a node id`);
      if (!Number.isInteger(p.port) || p.port < 1 || p.port > 0xffff) throw HikariError.invalidArgument('peers.port', `${p.port} is not a port`);
      if (p.id !== this.id) next.set(p.id, { id: p.id, host: p.host, port: p.port });
    }
    for (const [id, link] of this.links) {
      if (next.has(id)) continue;
      link.close();
      this.links.delete(id);
      this.dirty.delete(link);
      this.receivers.get(id)?.abort(new HikariError(ErrorCode.CANCELLED, { reason: 'the peer was removed' }));
    }
    for (const address of next.values()) {
      const link = this.links.get(address.id);
      if (link !== undefined) {
        link.setAddress(address);
        continue;
      }
      const created = new PeerLink(this.linkContext, address);
      this.links.set(address.id, created);
      if (this.state === 'started') created.start();
    }
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  stats(): TcpTransportStats {
    return { ...this.counters, peers: [...this.links.values()].map((l) => l.stats()) };
  }

  private async shutdown(): Promise<void> {
    this.state = 'stopped';
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.immediate = null;
    this.dirty.clear();
    this.unreachable.clear();
    const shuttingDown = new HikariError(ErrorCode.SHUTTING_DOWN, {});
    for (const link of this.links.values()) link.close();
    for (const receiver of this.receivers.values()) receiver.abort(shuttingDown);
    const closed = [...this.sockets].map((framed) => new Promise<void>((resolve) => framed.onClose(() => resolve())));
    for (const framed of this.sockets) framed.close(shuttingDown);
    const server = this.server;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
    await Promise.all(closed);
    this.handler = null;
    this.logger.info({ id: this.id }, 'peer transport stopped');
  }

  /** Queues `m`; false when it must be dropped. Throws for a message that can never be sent. */
  private sendOne(m: Message): boolean {
    if (m.from !== this.id || m.to === this.id) throw HikariError.invalidArgument('message', `from ${m.from} to ${m.to} on node ${this.id}`);
    if (this.state !== 'started') return false;
    const link = this.links.get(m.to);
    if (link === undefined || !link.connected) return false;
    const part = encodeMessage(m);
    if (part.length > messageBytesMax(this.limits)) {
      throw HikariError.tooLarge('peer message', part.length, messageBytesMax(this.limits));
    }
    return link.enqueue(part);
  }

  private drop(to: NodeId): void {
    this.counters.messagesDropped++;
    if (to !== this.id) this.markUnreachable(to);
  }

  private markUnreachable(id: NodeId): void {
    if (this.state === 'stopped') return;
    this.unreachable.add(id);
    this.scheduleTurnEnd();
  }

  private scheduleTurnEnd(): void {
    if (this.immediate === null && this.state !== 'stopped') this.immediate = setImmediate(() => this.turnEnd());
  }

  /** End of the event-loop turn: flush what was queued, then report what was dropped. */
  private turnEnd(): void {
    this.immediate = null;
    for (const link of this.dirty) link.flush();
    this.dirty.clear();
    const ids = [...this.unreachable];
    this.unreachable.clear();
    for (const id of ids) {
      try {
        this.onUnreachable?.(id);
      } catch (error) {
        this.logger.error({ peer: id, err: error }, 'onUnreachable threw');
      }
    }
  }

  private deliver(from: NodeId, body: Buffer): void {
    const messages = decodeBatch(body);
    for (const m of messages) {
      if (m.from !== from || m.to !== this.id) {
        throw HikariError.badFrame(`a message from ${m.from} to ${m.to} on the connection from ${from} to ${this.id}`);
      }
    }
    this.counters.framesReceived++;
    this.counters.messagesReceived += messages.length;
    if (this.handler === null) return;
    try {
      this.handler.onMessages(messages);
    } catch (error) {
      this.logger.error({ peer: from, err: error }, 'onMessages threw');
    }
  }

  private track(framed: FramedSocket): void {
    this.sockets.add(framed);
    framed.onClose(() => this.sockets.delete(framed));
  }

  /** An inbound socket: reads its hello (within the handshake timeout), then hands it to its owner. */
  private accept(socket: net.Socket): void {
    if (this.state !== 'started') {
      socket.destroy();
      return;
    }
    configureSocket(socket, this.limits.keepAliveDelayMs);
    const framed = new FramedSocket(socket, this.limits.handshakeBytesMax);
    this.track(framed);
    const timer = setTimeout(
      () => framed.close(new HikariError(ErrorCode.TIMEOUT, { reason: 'no hello from the peer' })),
      this.limits.handshakeTimeoutMs,
    );
    timer.unref();
    let hello: Hello | null = null;
    framed.onClose((error) => {
      clearTimeout(timer);
      if (hello === null && error !== null) this.logger.warn({ remote: socket.remoteAddress, err: error }, 'inbound peer handshake failed');
    });
    framed.setFrameHandler((body) => {
      clearTimeout(timer);
      framed.setFrameHandler(null);
      hello = decodeHello(body);
      this.answerHello(framed, hello);
    });
  }

  private answerHello(framed: FramedSocket, hello: Hello): void {
    const refusal =
      checkHello(hello, { id: this.id, cluster: this.options.clusterId, isKnownPeer: (id) => this.links.has(id) }) ??
      checkPeerName(this.linkContext.tls, framed.socket, hello.from) ??
      (hello.kind === 'snapshot' && !this.receivers.has(hello.from) && this.receivers.size >= this.limits.inboundSnapshotsMax
        ? new HikariError(ErrorCode.UNAVAILABLE, { reason: 'too many snapshot streams' })
        : null);
    if (refusal !== null) {
      this.logger.warn({ peer: hello.from, cluster: hello.cluster, kind: hello.kind, code: refusal.code, reason: refusal.message }, 'peer refused');
      framed.writeAndEnd(encodeHelloAnswer({ ok: false, error: refusal }));
      return;
    }
    framed.setFrameBytesMax(hello.kind === 'raft' ? this.limits.frameBytesMax : snapshotFrameBytesMax(this.limits));
    framed.write(encodeHelloAnswer({ ok: true }));
    if (hello.kind === 'raft') {
      this.links.get(hello.from)!.adopt(framed);
      return;
    }
    this.receivers.get(hello.from)?.abort(new HikariError(ErrorCode.CANCELLED, { reason: 'superseded by a newer snapshot' }));
    const receiver = new SnapshotReceiver(
      { self: this.id, limits: this.limits, logger: this.logger, counters: this.counters, handler: this.handler! },
      hello.from,
      framed,
      (done) => {
        if (this.receivers.get(done.from) === done) this.receivers.delete(done.from);
      },
    );
    this.receivers.set(hello.from, receiver);
  }
}
