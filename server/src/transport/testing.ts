/**
 * Test fixtures for the transport (plain Node, no test framework): TCP nodes with recording
 * handlers, a hand-driven raw peer speaking the wire format, and polling helpers.
 */
import * as net from 'node:net';
import { encodeFrame, FrameDecoder } from '@hikarikeeper/protocol';
import { Message, message, MessageType, NodeId } from '@hikarikeeper/raft';
import { decodeHelloAnswer, encodeHello, encodeHelloAnswer, Hello, HelloAnswer } from './control-frames';
import { TcpTransportLimits } from './limits';
import { TcpTransport } from './tcp-transport';
import type { SnapshotStream, TransportLogger } from './transport';
import type { PeerTls } from './peer-tls';

export const CLUSTER = 'test-cluster';

/** A logger that keeps what it is told, for assertions on warnings and errors. */
export class RecordingLogger implements TransportLogger {
  readonly lines: Array<{ level: 'info' | 'warn' | 'error'; obj: Record<string, unknown>; msg: string }> = [];
  info(obj: object, msg: string): void {
    this.lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg });
  }
  warn(obj: object, msg: string): void {
    this.lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg });
  }
  error(obj: object, msg: string): void {
    this.lines.push({ level: 'error', obj: obj as Record<string, unknown>, msg });
  }
  has(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}): boolean {
    return this.lines.some((l) => l.level === level && l.msg === msg && Object.entries(fields).every(([k, v]) => l.obj[k] === v));
  }
}

export type SnapshotHandler = (from: NodeId, stream: SnapshotStream) => Promise<void>;

/** A started TcpTransport on 127.0.0.1 with an ephemeral port, recording what it receives. */
export class TestNode {
  readonly received: Message[] = [];
  readonly batches: number[] = [];
  readonly unreachable: NodeId[] = [];
  readonly disconnected: NodeId[] = [];
  readonly logger = new RecordingLogger();
  onSnapshot: SnapshotHandler = () => Promise.reject(new Error('no snapshot expected'));
  readonly transport: TcpTransport;

  constructor(
    readonly id: NodeId,
    options: { cluster?: string; port?: number; limits?: Partial<TcpTransportLimits>; tls?: PeerTls } = {},
  ) {
    this.transport = new TcpTransport({
      id,
      clusterId: options.cluster ?? CLUSTER,
      host: '127.0.0.1',
      port: options.port ?? 0,
      logger: this.logger,
      random: () => 0.5,
      limits: options.limits,
      ...(options.tls === undefined ? {} : { tls: options.tls }),
    });
    this.transport.onUnreachable = (peer) => this.unreachable.push(peer);
    this.transport.onDisconnected = (peer) => this.disconnected.push(peer);
  }

  static async start(id: NodeId, options: ConstructorParameters<typeof TestNode>[1] = {}): Promise<TestNode> {
    const node = new TestNode(id, options);
    await node.transport.start({
      onMessages: (ms) => {
        node.batches.push(ms.length);
        node.received.push(...ms);
      },
      onSnapshot: (from, stream) => node.onSnapshot(from, stream),
    });
    return node;
  }

  get port(): number {
    return this.transport.address().port;
  }

  connectedTo(peer: NodeId): boolean {
    return this.transport.stats().peers.some((p) => p.id === peer && p.connected);
  }
}

/** Tells every node about every other (with their bound ports). */
export function meshPeers(nodes: readonly TestNode[], extra: ReadonlyArray<{ id: NodeId; port: number }> = []): void {
  const peers = [...nodes.map((n) => ({ id: n.id, port: n.port })), ...extra].map((p) => ({ ...p, host: '127.0.0.1' }));
  for (const n of nodes) n.transport.setPeers(peers);
}

export function heartbeat(from: NodeId, to: NodeId, commit = 0): Message {
  return message({ type: MessageType.Heartbeat, from, to, term: 1, commit });
}

export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A port nothing listens on (bound, then released). */
export { freePort } from '../tools/free-port';

/** A hand-driven dialer speaking the wire format, for protocol tests. */
export class RawPeer {
  private readonly decoder = new FrameDecoder({ frameBytesMax: 64 * 1024 * 1024 });
  private readonly frames: Buffer[] = [];
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.frames.push(...this.decoder.push(chunk)));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
  }

  static async connect(port: number): Promise<RawPeer> {
    const socket = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawPeer(socket);
  }

  /** Sends `hello` and returns the acceptor's answer. */
  async hello(hello: Partial<Hello> & Pick<Hello, 'from' | 'to'>): Promise<HelloAnswer> {
    this.sendBody(encodeHello({ cluster: CLUSTER, version: 1, kind: 'raft', ...hello }));
    return decodeHelloAnswer(await this.nextFrame());
  }

  sendBody(body: Uint8Array): void {
    this.socket.write(encodeFrame(body, 64 * 1024 * 1024));
  }

  async nextFrame(timeoutMs = 5_000): Promise<Buffer> {
    await waitFor(() => this.frames.length > 0, 'a frame', timeoutMs);
    return this.frames.shift()!;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A fake acceptor: answers every hello with ok, then never reads again (a stuck peer). */
export class StuckAcceptor {
  readonly sockets: net.Socket[] = [];
  private constructor(readonly server: net.Server) {}

  static async start(): Promise<StuckAcceptor> {
    let acceptor: StuckAcceptor | null = null;
    const server = net.createServer((socket) => {
      acceptor!.sockets.push(socket);
      socket.on('error', () => {});
      const decoder = new FrameDecoder({ frameBytesMax: 1024 });
      socket.once('data', (chunk: Buffer) => {
        decoder.push(chunk);
        socket.pause();
        socket.write(encodeFrame(encodeHelloAnswer({ ok: true })));
      });
    });
    acceptor = new StuckAcceptor(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return acceptor;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
