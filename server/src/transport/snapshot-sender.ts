/**
 * Sends one snapshot over its own short-lived connection (kind 'snapshot'), whatever the ids: the
 * bytes of a large snapshot must not queue in front of the heartbeats and votes of the message
 * connection, or followers would time out and start elections while it streams.
 *
 *   dial + hello → header { snap, message } → chunks { snap, offset, data, last: false } ... →
 *   { snap, offset: total, data: <empty>, last: true } → wait for { snap, ok } → close
 *
 * The source is pulled only while the socket accepts data (a full socket buffer waits for 'drain';
 * the receiver pauses its socket while its consumer is behind, so TCP flow control reaches here).
 * An answer may come early (the receiver settled before the end): writing stops and it decides.
 */
import type { Message, NodeId } from '@hikarikeeper/raft';
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { decodeSnapshotAck, encodeSnapshotChunk, encodeSnapshotHeader, SnapshotAck } from './control-frames';
import { FramedSocket } from './framed-socket';
import { asHikariError, dial } from './handshake';
import { PEER_PROTOCOL_VERSION, snapshotFrameBytesMax, TcpTransportLimits } from './limits';
import type { PeerAddress, TransportLogger } from './transport';
import type { PeerTls } from './peer-tls';

export interface SnapshotSendContext {
  readonly self: NodeId;
  readonly cluster: string;
  readonly limits: TcpTransportLimits;
  readonly logger: TransportLogger;
  /** The snapshot connection is a peer connection: the same mutual TLS. */
  readonly tls: PeerTls | null;
  track(framed: FramedSocket): void;
}

const EMPTY = new Uint8Array(0);

/** Streams the snapshot; resolves true iff the receiver answered ok. Never rejects. */
export async function sendSnapshotStream(
  ctx: SnapshotSendContext,
  peer: PeerAddress,
  snap: number,
  message: Message,
  chunks: AsyncIterable<Uint8Array>,
): Promise<boolean> {
  const { limits } = ctx;
  const { framed, opened } = dial({
    host: peer.host,
    port: peer.port,
    hello: { cluster: ctx.cluster, from: ctx.self, to: peer.id, version: PEER_PROTOCOL_VERSION, kind: 'snapshot' },
    frameBytesMax: snapshotFrameBytesMax(limits),
    timeoutMs: limits.handshakeTimeoutMs,
    keepAliveDelayMs: limits.keepAliveDelayMs,
    tls: ctx.tls,
  });
  ctx.track(framed);
  let resolveEnd: (end: End) => void = () => {};
  const ended = new Promise<End>((resolve) => (resolveEnd = resolve));
  framed.onClose((error) => resolveEnd({ end: asHikariError(error) }));
  try {
    await opened;
    framed.setFrameHandler((body) => {
      const ack = decodeSnapshotAck(body);
      if (ack.snap !== snap) throw HikariError.badFrame(`answer for snapshot ${ack.snap}, expected ${snap}`);
      resolveEnd({ end: ack });
    });
    const timeout = { reason: 'snapshot stream idle' };
    framed.socket.setTimeout(limits.snapshotIdleTimeoutMs, () =>
      framed.close(new HikariError(ErrorCode.TIMEOUT, { reason: timeout.reason })),
    );
    let outcome = await writeStream(framed, snap, message, chunks, limits.snapshotChunkBytesMax, ended);
    if (outcome === null) {
      timeout.reason = 'snapshot install';
      framed.socket.setTimeout(limits.snapshotInstallTimeoutMs);
      outcome = (await ended).end;
    }
    if (outcome instanceof HikariError) throw outcome;
    if (!outcome.ok) throw outcome.error ?? new HikariError(ErrorCode.INTERNAL, { reason: 'snapshot refused' });
    return true;
  } catch (error) {
    ctx.logger.warn({ peer: peer.id, snap, err: error }, 'snapshot transfer failed');
    return false;
  } finally {
    framed.close();
  }
}

/** What ended a transfer: the receiver's answer, or the connection's end (as an error). */
interface End {
  readonly end: SnapshotAck | HikariError;
}

/**
 * Writes header and chunks. Returns null once the last chunk is written, or what ended the stream
 * early (an answer, or the connection's end). Throws what the source throws.
 */
async function writeStream(
  framed: FramedSocket,
  snap: number,
  message: Message,
  chunks: AsyncIterable<Uint8Array>,
  chunkBytesMax: number,
  ended: Promise<End>,
): Promise<SnapshotAck | HikariError | null> {
  framed.write(encodeSnapshotHeader({ snap, message }));
  const iterator = chunks[Symbol.asyncIterator]();
  let offset = 0;
  let done = false;
  try {
    for (;;) {
      const next = iterator.next();
      next.catch(() => {}); // if `ended` wins the race, a late failure of the source is nobody's
      const result = await Promise.race([next, ended]);
      if ('end' in result) return result.end;
      if (result.done === true) break;
      const piece = result.value;
      for (let at = 0; at < piece.length; at += chunkBytesMax) {
        const data = piece.subarray(at, Math.min(at + chunkBytesMax, piece.length));
        if (!framed.write(encodeSnapshotChunk({ snap, offset, data, last: false }))) {
          const waited = await Promise.race([drained(framed), ended]);
          if (waited !== undefined) return waited.end;
        }
        offset += data.length;
      }
    }
    done = true;
  } finally {
    if (!done) void Promise.resolve(iterator.return?.()).catch(() => {});
  }
  framed.write(encodeSnapshotChunk({ snap, offset, data: EMPTY, last: true }));
  return null;
}

function drained(framed: FramedSocket): Promise<undefined> {
  return new Promise((resolve) => {
    framed.onDrain = () => {
      framed.onDrain = () => {};
      resolve(undefined);
    };
  });
}
