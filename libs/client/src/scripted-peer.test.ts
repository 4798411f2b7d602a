/**
 * A scripted protocol peer, for connection-level tests of the SDK: a TCP server on 127.0.0.1 (port 0)
 * that speaks HikariKeeper's framing and envelopes, answers `hello`, records every request, and
 * answers the others only when and how the test says (in any order, with any error, with garbage).
 *
 * It has none of the server's semantics (no namespace, no Raft, no deduplication): it is not a
 * stand-in for the server, and a test passing against it says nothing about the server's behaviour.
 *
 * Named *.test.ts so that the build leaves it out of dist; the smoke tests at the bottom register
 * only when Jest runs this file itself, not when another test file imports it.
 */
import { createServer, Server, Socket } from 'node:net';
import {
  encodeEnvelope,
  Envelope,
  ErrorDetails,
  FrameDecoder,
  HelloResult,
  decodeEnvelope,
  MessageType,
  PROTOCOL_VERSION,
  Stat,
  WireError,
  DATA_BYTES_MAX_DEFAULT,
  FRAME_BYTES_MAX,
  IN_FLIGHT_REQUESTS_MAX,
} from '@hikarikeeper/protocol';

import { HikariClient } from './client';
import type { HikariClientOptions } from './options';
export interface PeerOptions {
  nodeId?: number;
  clusterId?: string;
  /** The leader named in the hello result. */
  leader?: string | null;
  limits?: Partial<HelloResult['limits']>;
  /** Fields to replace in the hello result (to script a misbehaving node). */
  helloOverrides?: Partial<HelloResult>;
  /** Answer every hello with this error instead of a result. */
  helloError?: WireError;
  /** Called for every request but hello, after it is recorded. Default: nothing (the test answers). */
  onRequest?: (request: PeerRequest) => void;
  /**
   * 'auto' (default): session ops are answered at once, as a healthy leader would (open: a new id,
   * with the timeout asked for or `sessionTimeoutMs`; resume: the id given; keepalive; close), and
   * recorded in `sessionRequests`, not `requests`. 'manual': they are ordinary requests.
   */
  sessions?: 'auto' | 'manual';
  /** The timeout that auto-answered sessions are granted (default: what the client asked for). */
  sessionTimeoutMs?: number;
}

/** One request received by the peer. */
export class PeerRequest {
  private answeredFlag = false;

  constructor(
    readonly connection: PeerConnection,
    readonly id: number,
    readonly op: string,
    readonly args: Record<string, unknown>,
  ) {}

  get answered(): boolean {
    return this.answeredFlag;
  }

  respond(result: unknown): void {
    this.answeredFlag = true;
    this.connection.send({ t: MessageType.RESPONSE, id: this.id, r: result });
  }

  fail(code: string, details?: ErrorDetails, message = `scripted ${code}`): void {
    this.answeredFlag = true;
    this.connection.send({ t: MessageType.ERROR, id: this.id, e: { code, message, details } });
  }
}

/** The server side of one client connection. */
export class PeerConnection {
  private readonly decoder = new FrameDecoder();

  constructor(
    private readonly peer: ScriptedPeer,
    readonly socket: Socket,
  ) {
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const body of this.decoder.push(chunk)) this.receive(decodeEnvelope(body));
      } catch (error) {
        // The SDK broke the protocol: keep it for the test to assert on, never throw in a socket callback.
        peer.protocolErrors.push(error);
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
  }

  send(envelope: Envelope): void {
    if (!this.socket.destroyed) this.socket.write(encodeEnvelope(envelope));
  }

  sendRaw(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  pushEvent(kind: string, data: unknown): void {
    this.send({ t: MessageType.EVENT, k: kind, d: data });
  }

  destroy(): void {
    this.socket.destroy();
  }

  private receive(envelope: Envelope): void {
    if (envelope.t !== MessageType.REQUEST) throw new Error(`the client sent envelope type ${envelope.t}`);
    const request = new PeerRequest(this, envelope.id, envelope.op, envelope.a);
    this.peer.record(request);
  }
}

export class ScriptedPeer {
  readonly requests: PeerRequest[] = [];
  readonly hellos: PeerRequest[] = [];
  /** Every request but hello, in arrival order (auto-answered session requests included). */
  readonly all: PeerRequest[] = [];
  /** Session requests answered automatically (see PeerOptions.sessions). */
  readonly sessionRequests: PeerRequest[] = [];
  /** Sessions opened by auto-answered `session.open`. */
  sessionsOpened = 0;
  readonly connections = new Set<PeerConnection>();
  /** What the SDK sent that broke the protocol (tests expect none). */
  readonly protocolErrors: unknown[] = [];
  /** Connections accepted since start, closed ones included. */
  accepted = 0;
  private waiters: Array<() => void> = [];

  private constructor(
    private readonly server: Server,
    readonly address: string,
    readonly options: PeerOptions,
  ) {}

  static async start(options: PeerOptions = {}): Promise<ScriptedPeer> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const peer = new ScriptedPeer(server, `127.0.0.1:${port}`, options);
    server.on('connection', (socket) => peer.accept(socket));
    return peer;
  }

  /** Requests (hello excluded) of `op`, or all of them. */
  received(op?: string): PeerRequest[] {
    return op === undefined ? this.requests : this.requests.filter((request) => request.op === op);
  }

  /** Requests not answered yet. */
  unanswered(op?: string): PeerRequest[] {
    return this.received(op).filter((request) => !request.answered);
  }

  /** Resolves with the requests of `op` once at least `count` have arrived. */
  async waitForRequests(count: number, op?: string, timeoutMs = 5000): Promise<PeerRequest[]> {
    await this.waitUntil(() => this.received(op).length >= count, timeoutMs, `${count} ${op ?? ''} requests`);
    return this.received(op);
  }

  /** Resolves once `predicate` holds, checked after every request and connection change. */
  waitUntil(predicate: () => boolean, timeoutMs = 5000, what = 'a condition'): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== check);
        reject(new Error(`ScriptedPeer ${this.address}: timed out waiting for ${what}`));
      }, timeoutMs);
      const check = (): void => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((waiter) => waiter !== check);
        resolve();
      };
      this.waiters.push(check);
    });
  }

  destroyConnections(): void {
    for (const connection of this.connections) connection.destroy();
  }

  async close(): Promise<void> {
    this.destroyConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Called by a PeerConnection. */
  record(request: PeerRequest): void {
    if (request.op === 'hello') {
      this.hellos.push(request);
      this.answerHello(request);
    } else if (request.op.startsWith('session.') && this.options.sessions !== 'manual') {
      this.all.push(request);
      this.sessionRequests.push(request);
      this.answerSession(request);
    } else {
      this.all.push(request);
      this.requests.push(request);
      this.options.onRequest?.(request);
    }
    this.notify();
  }

  private accept(socket: Socket): void {
    const connection = new PeerConnection(this, socket);
    this.connections.add(connection);
    this.accepted++;
    socket.on('close', () => {
      this.connections.delete(connection);
      this.notify();
    });
    this.notify();
  }

  private answerHello(request: PeerRequest): void {
    if (this.options.helloError !== undefined) {
      const { code, details, message } = this.options.helloError;
      return request.fail(code, details, message);
    }
    const result: HelloResult = {
      protocol: PROTOCOL_VERSION,
      clusterId: this.options.clusterId ?? 'test',
      nodeId: this.options.nodeId ?? 1,
      clientId: String(request.args.clientId),
      sessionId: `session-${this.hellos.length}`,
      sessionTimeoutMs: 10_000,
      leader: this.options.leader ?? null,
      limits: {
        frameBytesMax: FRAME_BYTES_MAX,
        dataBytesMax: DATA_BYTES_MAX_DEFAULT,
        inFlightRequestsMax: IN_FLIGHT_REQUESTS_MAX,
        ...this.options.limits,
      },
      ...this.options.helloOverrides,
    };
    request.respond(result);
  }

  private answerSession(request: PeerRequest): void {
    const timeoutMs = this.options.sessionTimeoutMs ?? (request.args.timeoutMs as number | undefined) ?? 10_000;
    switch (request.op) {
      case 'session.open':
        return request.respond({ sessionId: `s${++this.sessionsOpened}`, timeoutMs });
      case 'session.resume':
        return request.respond({ sessionId: request.args.sessionId, timeoutMs });
      case 'session.keepalive':
        return request.respond({ timeoutMs });
      default:
        return request.respond({});
    }
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** A plausible stat, for results. */
/**
 * The usual setup of a test file: peers and clients started through it are closed after each test,
 * and each peer must have seen no protocol error. Call at the top level of a test file.
 */
export function usePeerFixture(): {
  startPeer(options?: PeerOptions): Promise<ScriptedPeer>;
  connect(endpoints: ScriptedPeer[], options?: Partial<HikariClientOptions>): Promise<HikariClient>;
  /** A peer the test closed itself: not closed (nor checked) again after the test. */
  forgetPeer(peer: ScriptedPeer): void;
} {
  const peers: ScriptedPeer[] = [];
  const clients: HikariClient[] = [];
  afterEach(async () => {
    jest.restoreAllMocks();
    await Promise.all(clients.splice(0).map((client) => client.close()));
    for (const peer of peers.splice(0)) {
      await peer.close();
      expect(peer.protocolErrors).toEqual([]);
    }
  });
  return {
    async startPeer(options = {}) {
      const peer = await ScriptedPeer.start(options);
      peers.push(peer);
      return peer;
    },
    async connect(endpoints, options = {}) {
      const client = await HikariClient.connect({
        endpoints: endpoints.map((peer) => peer.address),
        timeoutMs: 3000,
        backoffInitialMs: 10,
        backoffMaxMs: 100,
        ...options,
      });
      clients.push(client);
      return client;
    },
    forgetPeer(peer) {
      const at = peers.indexOf(peer);
      if (at >= 0) peers.splice(at, 1);
    },
  };
}

export function stat(overrides: Partial<Stat> = {}): Stat {
  return {
    version: 0,
    cversion: 0,
    createdIndex: 1,
    modifiedIndex: 1,
    childrenCount: 0,
    dataLength: 0,
    ephemeralOwner: null,
    createdAt: 1_700_000_000_000,
    modifiedAt: 1_700_000_000_000,
    ...overrides,
  };
}

/** Polls `predicate` every few ms until it holds; rejects after `timeoutMs`. */
export async function eventually(predicate: () => boolean, timeoutMs = 5000, what = 'a condition', state?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${state ? `; state: ${state()}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

if (expect.getState().testPath?.endsWith('scripted-peer.test.ts') === true) {
  describe('ScriptedPeer (the test helper itself)', () => {
    test('answers hello with the client id it was sent, records other requests, answers when told', async () => {
      const peer = await ScriptedPeer.start({ nodeId: 7, onRequest: (request) => request.respond({ echo: request.args }) });
      const [host, port] = peer.address.split(':');
      const socket = new Socket();
      await new Promise<void>((resolve) => socket.connect(Number(port), host!, resolve));
      const decoder = new FrameDecoder();
      const answers: Envelope[] = [];
      socket.on('data', (chunk: Buffer) => answers.push(...decoder.push(chunk).map((body) => decodeEnvelope(body))));
      socket.write(encodeEnvelope({ t: 1, id: 1, op: 'hello', a: { protocol: 1, clientId: 'c-1' } }));
      socket.write(encodeEnvelope({ t: 1, id: 2, op: 'get', a: { path: '/a' } }));
      await peer.waitForRequests(1, 'get');
      await eventually(() => answers.length === 2);
      expect(answers[0]).toMatchObject({ t: 2, id: 1, r: { clientId: 'c-1', nodeId: 7 } });
      expect(answers[1]).toEqual({ t: 2, id: 2, r: { echo: { path: '/a' } } });
      socket.destroy();
      await peer.close();
    });
  });
}
