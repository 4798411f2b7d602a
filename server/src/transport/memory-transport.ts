/**
 * The in-memory twin of TcpTransport (hashicorp/raft's InmemTransport): the same contract, no
 * sockets. A MemoryNetwork holds the transports of a cluster and which links are cut.
 *
 * - Messages are delivered asynchronously (a later event-loop turn), in send order, as one
 *   `onMessages` batch per sender and recipient per turn; each message object is handed over as-is.
 * - A message to a peer that is unknown, cut off, not started or stopped is dropped and the sender
 *   reports it unreachable (asynchronously), exactly as the TCP transport does. A link cut while
 *   messages are in flight drops them at delivery time (and reports the recipient unreachable).
 * - Snapshots are streamed through: the receiver pulls from the sender's source (re-cut into chunks
 *   of at most SNAPSHOT_CHUNK_BYTES_MAX), and a cut link or a stopped side breaks the stream.
 */
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { Message, MessageType, NodeId } from '@hikarikeeper/raft';
import { SNAPSHOT_CHUNK_BYTES_MAX } from './limits';
import type { PeerAddress, SnapshotStream, Transport, TransportHandler } from './transport';

interface InFlight {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly message: Message;
}

export class MemoryNetwork {
  private readonly transports = new Map<NodeId, MemoryTransport>();
  /** Cut links, as "a:b" with a < b (links are symmetric). */
  private readonly cut = new Set<string>();
  private inFlight: InFlight[] = [];
  private immediate: NodeJS.Immediate | null = null;

  /** The transport of node `id`: a new one if there is none yet or the previous one was stopped (a restart). */
  transport(id: NodeId): MemoryTransport {
    const existing = this.transports.get(id);
    if (existing !== undefined && !existing.isStopped) return existing;
    const created = new MemoryTransport(this, id);
    this.transports.set(id, created);
    return created;
  }

  /** Restores the link between `a` and `b` (both directions). */
  connect(a: NodeId, b: NodeId): void {
    this.cut.delete(linkKey(a, b));
  }

  /** Cuts the link between `a` and `b` (both directions); messages in flight on it are lost. */
  disconnect(a: NodeId, b: NodeId): void {
    this.cut.add(linkKey(a, b));
  }

  /** Cuts every link of `id`. */
  isolate(id: NodeId): void {
    for (const other of this.transports.keys()) if (other !== id) this.disconnect(id, other);
  }

  /** Restores every link. */
  heal(): void {
    this.cut.clear();
  }

  isConnected(a: NodeId, b: NodeId): boolean {
    return !this.cut.has(linkKey(a, b));
  }

  /** The started recipient `to`, if `from` can reach it now. */
  reachable(from: NodeId, to: NodeId): MemoryTransport | null {
    const target = this.transports.get(to);
    if (target === undefined || !target.isStarted || !this.isConnected(from, to)) return null;
    return target;
  }

  /** @internal Called by MemoryTransport.send. */
  enqueue(from: NodeId, message: Message): void {
    this.inFlight.push({ from, to: message.to, message });
    this.immediate ??= setImmediate(() => this.deliver());
  }

  private deliver(): void {
    this.immediate = null;
    const batches = new Map<string, { from: NodeId; to: NodeId; messages: Message[] }>();
    for (const f of this.inFlight) {
      const key = `${f.from}>${f.to}`;
      const batch = batches.get(key) ?? { from: f.from, to: f.to, messages: [] };
      batch.messages.push(f.message);
      batches.set(key, batch);
    }
    this.inFlight = [];
    for (const { from, to, messages } of batches.values()) {
      const target = this.reachable(from, to);
      if (target === null) this.transports.get(from)?.reportUnreachable(to);
      else target.receive(messages);
    }
  }
}

export class MemoryTransport implements Transport {
  onUnreachable?: (id: NodeId) => void;

  private handler: TransportHandler | null = null;
  private state: 'new' | 'started' | 'stopped' = 'new';
  private peers = new Set<NodeId>();
  private readonly unreachable = new Set<NodeId>();
  private immediate: NodeJS.Immediate | null = null;

  constructor(
    private readonly network: MemoryNetwork,
    readonly id: NodeId,
  ) {}

  get isStarted(): boolean {
    return this.state === 'started';
  }

  get isStopped(): boolean {
    return this.state === 'stopped';
  }

  start(handler: TransportHandler): Promise<void> {
    if (this.state !== 'new') return Promise.reject(new Error(`MemoryTransport.start() called when ${this.state}`));
    this.handler = handler;
    this.state = 'started';
    return Promise.resolve();
  }

  send(messages: readonly Message[]): void {
    for (const m of messages) {
      if (this.state !== 'started' || !this.peers.has(m.to) || this.network.reachable(this.id, m.to) === null) {
        this.reportUnreachable(m.to);
      } else {
        this.network.enqueue(this.id, m);
      }
    }
  }

  async sendSnapshot(message: Message, chunks: AsyncIterable<Uint8Array>): Promise<boolean> {
    const to = message.to;
    if (this.state !== 'started' || !this.peers.has(to) || message.type !== MessageType.Snap || message.snapshot === null) {
      return false;
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
    const target = this.network.reachable(this.id, to);
    if (target === null || this.state !== 'started') return false;
    const stripped: Message = { ...message, snapshot: { metadata: message.snapshot.metadata, data: new Uint8Array(0) } };
    const relay = new SnapshotRelay(chunks, () => this.state === 'started' && this.network.reachable(this.id, to) !== null);
    try {
      await target.receiveSnapshot(this.id, { message: stripped, chunks: relay.chunks() });
    } catch {
      return false;
    }
    return !relay.failed && this.state === 'started' && this.network.reachable(this.id, to) !== null;
  }

  setPeers(peers: readonly PeerAddress[]): void {
    this.peers = new Set(peers.map((p) => p.id).filter((id) => id !== this.id));
  }

  stop(): Promise<void> {
    this.state = 'stopped';
    this.handler = null;
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.immediate = null;
    this.unreachable.clear();
    return Promise.resolve();
  }

  /** @internal A batch from the network. */
  receive(messages: Message[]): void {
    try {
      this.handler?.onMessages(messages);
    } catch {
      // As the TCP transport: a throwing handler never breaks delivery (there it is logged).
    }
  }

  /** @internal A snapshot from a peer. */
  receiveSnapshot(from: NodeId, stream: SnapshotStream): Promise<void> {
    if (this.handler === null) return Promise.reject(new HikariError(ErrorCode.SHUTTING_DOWN, {}));
    return this.handler.onSnapshot(from, stream);
  }

  /** @internal Reports `id` unreachable at the end of this turn (deduplicated). */
  reportUnreachable(id: NodeId): void {
    if (this.state === 'stopped') return;
    this.unreachable.add(id);
    this.immediate ??= setImmediate(() => {
      this.immediate = null;
      const ids = [...this.unreachable];
      this.unreachable.clear();
      for (const unreachable of ids) this.onUnreachable?.(unreachable);
    });
  }
}

/** Pulls the sender's chunks for the receiver, re-cut to the chunk limit, failing once the link breaks. */
class SnapshotRelay {
  failed = false;

  constructor(
    private readonly source: AsyncIterable<Uint8Array>,
    private readonly linkUp: () => boolean,
  ) {}

  async *chunks(): AsyncGenerator<Uint8Array> {
    const broken = (): HikariError => new HikariError(ErrorCode.CONNECTION_LOSS, { reason: 'the link to the sender broke' });
    try {
      for await (const piece of this.source) {
        for (let at = 0; at < piece.length; at += SNAPSHOT_CHUNK_BYTES_MAX) {
          if (!this.linkUp()) throw broken();
          yield piece.subarray(at, Math.min(at + SNAPSHOT_CHUNK_BYTES_MAX, piece.length));
        }
      }
      if (!this.linkUp()) throw broken();
    } catch (error) {
      this.failed = true;
      throw HikariError.is(error) ? error : new HikariError(ErrorCode.CONNECTION_LOSS, { reason: 'the sender failed' }, { cause: error });
    }
  }
}

function linkKey(a: NodeId, b: NodeId): string {
  return a < b ? `${a}:${b}` : `${b}:${a}`;
}
