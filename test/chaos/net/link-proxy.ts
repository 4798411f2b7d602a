/**
 * A frame-aware TCP proxy in front of one node's peer port or client port. Every node knows the
 * others (and clients know the nodes) only by their proxies' addresses, so every byte between two
 * endpoints passes through the harness, which needs no root for it.
 *
 * A connection says who it is in its first frame: a peer's hello names its node (`from`) and the
 * connection's kind ('raft' messages or one 'snapshot' transfer); a client's hello request carries
 * its client id, which the harness makes `<name>:<nonce>`. The destination is the node that
 * occupies the proxy's slot now (a slot keeps its addresses when a membership change replaces its
 * node). From then on each frame, in each direction, goes through the FaultNet's rule for its
 * directed link (see fault-net.ts for what each rule does).
 */
import * as net from 'node:net';
import { decodeEnvelope, encodeFrame, FrameDecoder, HikariError } from '@hikarikeeper/protocol';
import { decodeHello } from '@hikarikeeper/server/dist/transport/control-frames';
import { clientName, FaultNet, nodeName } from './fault-net';

/** Largest frame forwarded (peer snapshot frames are the largest: a few MiB). */
const FRAME_BYTES_MAX = 64 * 1024 * 1024;
/** Bytes held in one direction (blackholed or delayed) before the connection is reset. */
const HELD_BYTES_MAX = 16 * 1024 * 1024;
/** Past this many bytes buffered towards a destination, reading from the source pauses. */
const WRITE_BUFFER_BYTES_MAX = 4 * 1024 * 1024;
/** A connection that has not said who it is within this time is closed. */
const IDENTIFY_TIMEOUT_MS = 10_000;

export type ProxyKind = 'peer' | 'client';

export interface ProxyTarget {
  readonly id: number;
  /** The address the node listens on. */
  readonly address: string;
}

export interface ProxyStats {
  connections: number;
  framesForwarded: number;
  framesDropped: number;
  resets: number;
}

export class LinkProxy {
  readonly stats: ProxyStats = { connections: 0, framesForwarded: 0, framesDropped: 0, resets: 0 };
  private server: net.Server | null = null;
  private readonly conns = new Set<ProxiedConnection>();
  private readonly unsubscribe: () => void;
  private port = 0;

  constructor(
    readonly kind: ProxyKind,
    private readonly faults: FaultNet,
    /** The node in this proxy's slot now, or null while there is none. */
    private readonly target: () => ProxyTarget | null,
  ) {
    this.unsubscribe = faults.onChange(() => {
      for (const c of this.conns) c.reconsider();
    });
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async listen(): Promise<void> {
    const server = net.createServer((socket) => this.accept(socket));
    server.maxConnections = 1000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const a = server.address();
    this.port = typeof a === 'object' && a !== null ? a.port : 0;
    this.server = server;
  }

  /** Resets every connection to the node of this slot (a crash of the node, seen from the network). */
  resetAll(): void {
    for (const c of this.conns) c.destroy();
  }

  async close(): Promise<void> {
    this.unsubscribe();
    for (const c of this.conns) c.destroy();
    const s = this.server;
    this.server = null;
    if (s !== null) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private accept(down: net.Socket): void {
    down.setNoDelay(true);
    const conn = new ProxiedConnection(this, this.faults, down);
    this.conns.add(conn);
    this.stats.connections++;
    down.on('close', () => this.conns.delete(conn));
  }

  /** Who a connection is, from its first frame: [source endpoint, connection kind]. */
  identify(first: Buffer): { src: string; kind: 'raft' | 'snapshot' | 'client' } {
    if (this.kind === 'peer') {
      const hello = decodeHello(first);
      return { src: nodeName(hello.from), kind: hello.kind };
    }
    const envelope = decodeEnvelope(first) as { op?: unknown; a?: { clientId?: unknown } };
    const id = envelope.op === 'hello' ? envelope.a?.clientId : undefined;
    if (typeof id !== 'string') throw HikariError.badFrame('the first client frame is not a hello with a clientId');
    const colon = id.indexOf(':');
    return { src: clientName(colon > 0 ? id.slice(0, colon) : id), kind: 'client' };
  }

  currentTarget(): ProxyTarget | null {
    return this.target();
  }
}

/** One proxied connection: the accepted socket (down), the socket to the node (up), a pipe each way. */
class ProxiedConnection {
  private up: net.Socket | null = null;
  private readonly decoderDown = new FrameDecoder({ frameBytesMax: FRAME_BYTES_MAX });
  private forward: Pipe | null = null;
  private backward: Pipe | null = null;
  private identified = false;
  private destroyed = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly proxy: LinkProxy,
    private readonly faults: FaultNet,
    private readonly down: net.Socket,
  ) {
    this.timer = setTimeout(() => this.destroy(), IDENTIFY_TIMEOUT_MS);
    down.on('data', (chunk: Buffer) => this.fromDown(chunk));
    down.on('error', () => this.destroy());
    down.on('close', () => this.destroy());
  }

  /** The rules changed: reset if cut, deliver what a lifted blackhole held. */
  reconsider(): void {
    this.forward?.pump();
    this.backward?.pump();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    clearTimeout(this.timer);
    this.forward?.stop();
    this.backward?.stop();
    this.down.destroy();
    this.up?.destroy();
  }

  private fromDown(chunk: Buffer): void {
    let bodies: Buffer[];
    try {
      bodies = this.decoderDown.push(chunk);
    } catch {
      return this.destroy();
    }
    for (const body of bodies) {
      if (this.destroyed) return;
      if (!this.identified) this.start(body);
      else this.forward!.push(body);
    }
  }

  /** The first frame: find out who this is and where it goes, then connect onward. */
  private start(first: Buffer): void {
    this.identified = true;
    clearTimeout(this.timer);
    const target = this.proxy.currentTarget();
    let who: { src: string; kind: 'raft' | 'snapshot' | 'client' };
    try {
      who = this.proxy.identify(first);
    } catch {
      return this.destroy();
    }
    if (target === null) return this.destroy();
    const dst = nodeName(target.id);
    if (this.faults.rule(who.src, dst).cut) return this.destroy();
    const [host, port] = target.address.split(':');
    const up = net.connect({ host: host!, port: Number(port) });
    up.setNoDelay(true);
    this.up = up;
    const lossy = who.kind === 'raft';
    this.forward = new Pipe(this.proxy, this.faults, who.src, dst, up, lossy, this.down, () => this.destroy());
    this.backward = new Pipe(this.proxy, this.faults, dst, who.src, this.down, lossy, up, () => this.destroy());
    const decoderUp = new FrameDecoder({ frameBytesMax: FRAME_BYTES_MAX });
    up.on('data', (chunk: Buffer) => {
      let bodies: Buffer[];
      try {
        bodies = decoderUp.push(chunk);
      } catch {
        return this.destroy();
      }
      for (const body of bodies) if (!this.destroyed) this.backward!.push(body);
    });
    up.on('error', () => this.destroy());
    up.on('close', () => this.destroy());
    // The hello itself goes through the rules like any frame (a blackholed link stalls handshakes
    // too), but it is never silently lost: a dropped hello resets the connection.
    this.forward.push(first, false);
  }
}

/** One direction of a connection: frames wait here for their delay or for a blackhole to lift. */
class Pipe {
  private readonly queue: { frame: Buffer; dueAt: number }[] = [];
  private heldBytes = 0;
  private lastDueAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private sourcePaused = false;

  constructor(
    private readonly proxy: LinkProxy,
    private readonly faults: FaultNet,
    private readonly src: string,
    private readonly dst: string,
    private readonly to: net.Socket,
    /** Frames are independent (Raft messages): a drop discards one; otherwise a drop resets. */
    private readonly lossy: boolean,
    private readonly from: net.Socket,
    private readonly reset: () => void,
  ) {
    to.on('drain', () => {
      if (this.sourcePaused) {
        this.sourcePaused = false;
        this.from.resume();
      }
      this.pump();
    });
  }

  push(body: Buffer, lossy = this.lossy): void {
    if (this.stopped) return;
    const rule = this.faults.rule(this.src, this.dst);
    if (rule.cut) return this.fail();
    if (this.faults.chance(rule.dropRate)) {
      this.proxy.stats.framesDropped++;
      if (lossy) return;
      return this.fail();
    }
    const now = performance.now();
    const dueAt = Math.max(now + this.faults.delayFor(rule), this.lastDueAt);
    this.lastDueAt = dueAt;
    const frame = encodeFrame(body, FRAME_BYTES_MAX);
    this.queue.push({ frame, dueAt });
    this.heldBytes += frame.length;
    if (this.heldBytes > HELD_BYTES_MAX) return this.fail();
    this.pump();
  }

  /** Delivers what is due, unless the link is cut (reset) or blackholed (hold). */
  pump(): void {
    if (this.stopped) return;
    const rule = this.faults.rule(this.src, this.dst);
    if (rule.cut) return this.fail();
    if (rule.blackhole) return;
    const now = performance.now();
    while (this.queue.length > 0 && this.queue[0]!.dueAt <= now) {
      const { frame } = this.queue.shift()!;
      this.heldBytes -= frame.length;
      this.proxy.stats.framesForwarded++;
      if (!this.to.write(frame) && !this.sourcePaused && this.to.writableLength > WRITE_BUFFER_BYTES_MAX) {
        this.sourcePaused = true;
        this.from.pause();
      }
    }
    if (this.queue.length > 0 && this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.pump();
      }, Math.max(1, this.queue[0]!.dueAt - now));
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.queue.length = 0;
  }

  private fail(): void {
    this.proxy.stats.resets++;
    this.reset();
  }
}
