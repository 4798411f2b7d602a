/**
 * Connection set-up between two nodes. The dialer connects, sends `hello` and waits for the answer;
 * the acceptor checks the hello (`checkHello`) and answers accept or refuse. Nothing else is sent by
 * the dialer before the answer, so the acceptor can size its frame limit for the connection kind.
 */
import * as net from 'node:net';
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import type { NodeId } from '@hikarikeeper/raft';
import { decodeHelloAnswer, encodeHello, Hello } from './control-frames';
import { FramedSocket } from './framed-socket';
import { PEER_PROTOCOL_VERSION } from './limits';
import { checkPeerName, connectPeer, PeerTls } from './peer-tls';

export interface DialOptions {
  readonly host: string;
  readonly port: number;
  readonly hello: Hello;
  /** The frame limit of the connection once open (the answer is far below it). */
  readonly frameBytesMax: number;
  /** Connection and handshake together must complete within this. */
  readonly timeoutMs: number;
  readonly keepAliveDelayMs: number;
  /** Mutual TLS (see peer-tls.ts), or null for plain TCP. */
  readonly tls: PeerTls | null;
}

export interface Dial {
  /** The connection being set up: `close()` it to cancel. */
  readonly framed: FramedSocket;
  /**
   * Resolves once the acceptor accepted; the socket is then paused with no frame handler (frames
   * that followed the answer are held for the next owner). Rejects with a HikariError after closing
   * the socket: the acceptor's refusal (its code), TIMEOUT, CONNECTION_LOSS or BAD_FRAME.
   */
  readonly opened: Promise<void>;
}

export function dial(options: DialOptions): Dial {
  const { socket, ready } = connectPeer(options.tls, options.host, options.port);
  configureSocket(socket, options.keepAliveDelayMs);
  const framed = new FramedSocket(socket, options.frameBytesMax);
  const opened = new Promise<void>((resolve, reject) => {
    let settled = false;
    const settle = (error: HikariError | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error === null) return resolve();
      framed.close(error);
      reject(error);
    };
    const timer = setTimeout(() => settle(new HikariError(ErrorCode.TIMEOUT, { reason: 'handshake' })), options.timeoutMs);
    timer.unref();
    socket.once(ready, () => {
      const refusal = checkPeerName(options.tls, socket, options.hello.to);
      if (refusal !== null) return settle(refusal);
      try {
        framed.write(encodeHello(options.hello));
      } catch (error) {
        settle(asHikariError(error));
      }
    });
    framed.setFrameHandler((body) => {
      framed.setFrameHandler(null);
      const answer = decodeHelloAnswer(body);
      settle(answer.ok ? null : answer.error);
    });
    framed.onClose((error) => settle(asHikariError(error)));
  });
  return { framed, opened };
}

/** Options every peer socket gets: no Nagle delay (heartbeats are latency-bound), keep-alive probes. */
export function configureSocket(socket: net.Socket, keepAliveDelayMs: number): void {
  socket.setNoDelay(true);
  socket.setKeepAlive(true, keepAliveDelayMs);
}

export interface AcceptorIdentity {
  readonly id: NodeId;
  readonly cluster: string;
  isKnownPeer(id: NodeId): boolean;
}

/** Why the acceptor refuses `hello`, or null to accept it. */
export function checkHello(hello: Hello, self: AcceptorIdentity): HikariError | null {
  if (hello.version !== PEER_PROTOCOL_VERSION) {
    return new HikariError(ErrorCode.UNSUPPORTED_PROTOCOL, { requested: hello.version, supported: PEER_PROTOCOL_VERSION });
  }
  if (hello.cluster !== self.cluster) return new HikariError(ErrorCode.CLUSTER_MISMATCH, { clusterId: self.cluster });
  if (hello.to !== self.id) return HikariError.invalidArgument('to', `this is node ${self.id}`);
  if (hello.from === self.id) return HikariError.invalidArgument('from', 'a node does not connect to itself');
  if (!self.isKnownPeer(hello.from)) {
    // Retryable: the node may become a peer once this node applies the membership change.
    return new HikariError(ErrorCode.UNAVAILABLE, { reason: `node ${hello.from} is not a known peer` });
  }
  if (hello.kind === 'raft' && hello.from > self.id) {
    return HikariError.invalidArgument('from', 'the node with the lower id dials the message connection');
  }
  return null;
}

/** A HikariError for any close reason: socket errors become CONNECTION_LOSS with the system's message. */
export function asHikariError(error: unknown): HikariError {
  if (HikariError.is(error)) return error;
  const reason = error instanceof Error ? error.message : error === null ? 'closed by the peer' : String(error);
  return new HikariError(ErrorCode.CONNECTION_LOSS, { reason }, { cause: error });
}
