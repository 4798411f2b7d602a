/**
 * One TCP connection to one node: framing, the `hello` handshake, request ids, the map of requests
 * in flight, and server-pushed events. It knows nothing of retries or of other nodes; the connector
 * decides where to connect and the dispatcher what to send.
 *
 * Contract:
 * - Hooks are called synchronously, in this order: `ready` once the handshake succeeds; `event` for
 *   each pushed event; `closed` exactly once, after which every request still in flight is answered
 *   CONNECTION_LOSS (its `cause` the reason), in the order the requests were written.
 * - Every request written is answered exactly once: by the node, or by the close.
 * - Anything the node does wrong (an undecodable frame, an answer to an id not in flight, a request
 *   envelope, a malformed hello result) closes the connection with that error; nothing throws into
 *   the socket's callbacks.
 * - A request id stays in flight until its answer arrives, even when the caller stopped waiting
 *   (timeout, abort): a late answer is then expected, not a protocol violation, and the slot still
 *   counts against the node's in-flight limit, as it does on the node.
 */
import { connect, isIP, Socket } from 'node:net';
import { connect as connectTls, ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import {
  decodeEnvelope,
  encodeBody,
  encodeFrame,
  Envelope,
  ErrorCode,
  errorFromWire,
  FrameDecoder,
  HelloArgs,
  HelloResult,
  HikariError,
  MessageType,
} from '@hikarikeeper/protocol';
import { Endpoint } from './endpoints';
import { ServerEvent } from './events';
import { checkHelloResult } from './handshake';

/** The answer to one request: an error, or null and the result. Called exactly once. */
export type Reply = (error: HikariError | null, result: unknown) => void;

export interface ConnectionHooks {
  ready(connection: Connection, hello: HelloResult): void;
  event(connection: Connection, event: ServerEvent): void;
  /** `error` says why: CONNECTION_LOSS, BAD_FRAME, a hello refusal, or the reason given to `close`. */
  closed(connection: Connection, error: HikariError): void;
}

export interface ConnectionOptions {
  readonly hello: HelloArgs & { clientId: string };
  /** Time allowed for TCP connect plus the handshake. */
  readonly connectTimeoutMs: number;
  /** node:tls options: the connection is TLS (its handshake within connectTimeoutMs too); null: plain TCP. */
  readonly tls?: TlsConnectionOptions | null;
}

/** An encoded request, ready to `write` on the connection that encoded it. */
export interface EncodedRequest {
  readonly id: number;
  readonly frame: Buffer;
}

interface InFlight {
  readonly reply: Reply;
  readonly bytes: number;
}

type State = 'handshaking' | 'ready' | 'closed';

/** Seconds of silence before TCP keepalive probes a connection, so that a vanished node is noticed. */
const KEEPALIVE_DELAY_MS = 10_000;

export class Connection {
  /** Set from the hello result; 0 while handshaking. */
  nodeId = 0;
  private state: State = 'handshaking';
  private readonly socket: Socket;
  private readonly decoder = new FrameDecoder();
  private readonly inFlight = new Map<number, InFlight>();
  private inFlightBytesTotal = 0;
  private corked = false;
  /** Starts at 1: id 0 is left for errors about the connection itself (see `dispatch`). */
  private nextId = 1;
  /** The node's frame limit once known; until then the protocol's. */
  private frameBytesMax: number | undefined;
  private handshakeTimer: NodeJS.Timeout | null;
  private resolveClosed!: () => void;
  /** Resolves once the socket is fully closed (after `closed` was called). */
  readonly socketClosed: Promise<void> = new Promise((resolve) => (this.resolveClosed = resolve));

  constructor(
    readonly endpoint: Endpoint,
    options: ConnectionOptions,
    private readonly hooks: ConnectionHooks,
  ) {
    const { host, port } = this.endpoint;
    const tls = options.tls ?? null;
    // A TLS socket holds what is written before its handshake completes (the hello below).
    this.socket = tls === null ? connect({ host, port }) : connectTls({ servername: isIP(host) === 0 ? host : undefined, ...tls, host, port });
    this.socket.setNoDelay(true);
    this.socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    this.socket.on('data', (chunk: Buffer) => this.receive(chunk));
    this.socket.on('error', (error) => this.close(this.loss(error.message, error)));
    this.socket.on('close', () => {
      this.close(this.loss('closed by the peer'));
      this.resolveClosed();
    });
    this.handshakeTimer = setTimeout(
      () => this.close(this.loss(`no handshake within ${options.connectTimeoutMs} ms`)),
      options.connectTimeoutMs,
    );
    // Written now, sent once TCP connects; nothing else is written before the answer.
    const hello = this.encode('hello', options.hello);
    this.send(hello, (error, result) => this.onHello(error, result, options.hello.clientId));
  }

  /** Handshake done and not closed: requests may be written. */
  get isOpen(): boolean {
    return this.state === 'ready';
  }

  /** Not narrowed by TypeScript, unlike `state`: hooks called in between may close the connection. */
  private get closed(): boolean {
    return this.state === 'closed';
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  get inFlightBytes(): number {
    return this.inFlightBytesTotal;
  }

  /**
   * The frame for request `op` with the next id. Throws TOO_LARGE over the node's frame limit,
   * INVALID_ARGUMENT for a value msgpack cannot carry. Ids are never reused on a connection.
   */
  encode(op: string, args: object): EncodedRequest {
    const id = this.nextId++;
    const body = encodeBody({ t: MessageType.REQUEST, id, op, a: args });
    return { id, frame: encodeFrame(body, this.frameBytesMax) };
  }

  /** Writes a request encoded by this connection; `reply` gets its answer. Only while `isOpen`. */
  write(request: EncodedRequest, reply: Reply): void {
    if (this.state !== 'ready') throw new Error('Connection.write: the connection is not open');
    this.send(request, reply);
  }

  /** Closes the socket; idempotent. Calls `closed` with `error`, then fails what was in flight. */
  close(error: HikariError): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.handshakeTimer !== null) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    this.socket.destroy();
    this.hooks.closed(this, error);
    const answer = error.code === ErrorCode.CONNECTION_LOSS ? error : this.loss(error.message, error);
    const orphans = [...this.inFlight.values()];
    this.inFlight.clear();
    this.inFlightBytesTotal = 0;
    for (const request of orphans) request.reply(answer, undefined);
  }

  private send(request: EncodedRequest, reply: Reply): void {
    this.inFlight.set(request.id, { reply, bytes: request.frame.length });
    this.inFlightBytesTotal += request.frame.length;
    // Frames written in the same tick leave in one syscall (and, with no-delay, one packet where they fit).
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(request.frame);
  }

  private onHello(error: HikariError | null, result: unknown, clientId: string): void {
    if (this.state === 'closed') return;
    if (error !== null) return this.close(error);
    let hello: HelloResult;
    try {
      hello = checkHelloResult(result, clientId);
    } catch (problem) {
      return this.close(problem as HikariError);
    }
    if (this.handshakeTimer !== null) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    this.state = 'ready';
    this.nodeId = hello.nodeId;
    this.frameBytesMax = hello.limits.frameBytesMax;
    this.hooks.ready(this, hello);
  }

  private receive(chunk: Buffer): void {
    if (this.state === 'closed') return;
    let bodies: Buffer[];
    try {
      bodies = this.decoder.push(chunk);
    } catch (error) {
      return this.close(asHikariError(error));
    }
    for (const body of bodies) {
      // A hook or a reply may have closed the connection (a listener calling client.close()).
      if (this.closed) return;
      let envelope: Envelope;
      try {
        envelope = decodeEnvelope(body);
      } catch (error) {
        return this.close(asHikariError(error));
      }
      this.dispatch(envelope);
    }
  }

  private dispatch(envelope: Envelope): void {
    switch (envelope.t) {
      case MessageType.EVENT:
        return this.hooks.event(this, { kind: envelope.k, data: envelope.d });
      case MessageType.REQUEST:
        return this.close(HikariError.badFrame('the server sent a request envelope', { id: envelope.id }));
      case MessageType.RESPONSE:
      case MessageType.ERROR: {
        const request = this.inFlight.get(envelope.id);
        if (request === undefined) {
          // Id 0 is never used for a request here: a node reports a connection-level failure on it
          // (BAD_FRAME about what this side sent) just before closing. Keep its error as the reason.
          if (envelope.t === MessageType.ERROR && envelope.id === 0) return this.close(errorFromWire(envelope.e));
          return this.close(HikariError.badFrame(`answer to request id ${envelope.id}, which is not in flight`));
        }
        this.inFlight.delete(envelope.id);
        this.inFlightBytesTotal -= request.bytes;
        if (envelope.t === MessageType.RESPONSE) request.reply(null, envelope.r);
        else request.reply(errorFromWire(envelope.e), undefined);
      }
    }
  }

  private loss(reason: string, cause?: unknown): HikariError {
    const { address } = this.endpoint;
    return new HikariError(
      ErrorCode.CONNECTION_LOSS,
      { endpoint: address, reason },
      { message: `connection to ${address} lost: ${reason}`, cause },
    );
  }
}

function asHikariError(error: unknown): HikariError {
  return HikariError.is(error) ? error : new HikariError(ErrorCode.INTERNAL, {}, { cause: error });
}
