/**
 * The frames of a peer connection other than message batches, as msgpack maps:
 *
 *   hello   (dialer → acceptor, first frame)  { cluster, from, to, version, kind: 'raft' | 'snapshot' }
 *   answer  (acceptor → dialer)               { ok: true } | { ok: false, error: { code, message, details? } }
 *   snapshot connection, after the answer:
 *     header (sender → receiver, once)        { snap, message }        message = positional, data empty
 *     chunk  (sender → receiver)              { snap, offset, data, last }
 *     ack    (receiver → sender, once)        { snap, ok, error? }
 *
 * Decoders are strict on shapes and throw HikariError(BAD_FRAME); they never throw anything else.
 */
import { decodeBody, encodeBody, errorFromWire, errorToWire, HikariError, ID_CHARS_MAX } from '@hikarikeeper/protocol';
import type { Message } from '@hikarikeeper/raft';
import { messageFromWire, messageToWire } from './peer-codec';
import { boolean, bytes, record, uint } from './wire-shapes';

export type ConnectionKind = 'raft' | 'snapshot';

export interface Hello {
  /** The cluster the dialer belongs to; an acceptor of another cluster refuses with CLUSTER_MISMATCH. */
  readonly cluster: string;
  readonly from: number;
  readonly to: number;
  readonly version: number;
  /** 'raft': the long-lived message connection of the pair; 'snapshot': one snapshot transfer. */
  readonly kind: ConnectionKind;
}

export type HelloAnswer = { readonly ok: true } | { readonly ok: false; readonly error: HikariError };

export interface SnapshotHeader {
  readonly snap: number;
  readonly message: Message;
}

export interface SnapshotChunkFrame {
  readonly snap: number;
  /** Byte offset of `data` in the snapshot. */
  readonly offset: number;
  readonly data: Uint8Array;
  /** The last chunk (its data may be empty). */
  readonly last: boolean;
}

export interface SnapshotAck {
  readonly snap: number;
  readonly ok: boolean;
  /** Why the receiver failed, when `ok` is false. */
  readonly error: HikariError | null;
}

export function encodeHello(hello: Hello): Buffer {
  return encodeBody({ ...hello });
}

export function decodeHello(body: Uint8Array): Hello {
  const v = record(decodeBody(body), 'hello');
  const cluster = v.cluster;
  if (typeof cluster !== 'string' || cluster.length === 0 || cluster.length > ID_CHARS_MAX) {
    throw HikariError.badFrame(`hello.cluster must be a string of 1 to ${ID_CHARS_MAX} characters`);
  }
  const kind = v.kind;
  if (kind !== 'raft' && kind !== 'snapshot') throw HikariError.badFrame("hello.kind must be 'raft' or 'snapshot'");
  return { cluster, from: uint(v.from, 'hello.from'), to: uint(v.to, 'hello.to'), version: uint(v.version, 'hello.version'), kind };
}

export function encodeHelloAnswer(answer: HelloAnswer): Buffer {
  return encodeBody(answer.ok ? { ok: true } : { ok: false, error: errorToWire(answer.error) });
}

export function decodeHelloAnswer(body: Uint8Array): HelloAnswer {
  const v = record(decodeBody(body), 'answer');
  if (v.ok === true) return { ok: true };
  if (v.ok === false) return { ok: false, error: errorFromWire(v.error) };
  throw HikariError.badFrame('answer.ok is not a boolean');
}

export function encodeSnapshotHeader(header: SnapshotHeader): Buffer {
  return encodeBody({ snap: header.snap, message: messageToWire(header.message, true) });
}

export function encodeSnapshotChunk(chunk: SnapshotChunkFrame): Buffer {
  return encodeBody({ snap: chunk.snap, offset: chunk.offset, data: chunk.data, last: chunk.last });
}

/** A frame from a snapshot sender: the header (it has `message`) or a chunk. */
export function decodeSnapshotFrame(body: Uint8Array): SnapshotHeader | SnapshotChunkFrame {
  const v = record(decodeBody(body), 'snapshot frame');
  const snap = uint(v.snap, 'snap');
  if (v.message !== undefined) return { snap, message: messageFromWire(v.message, 'header.message') };
  return { snap, offset: uint(v.offset, 'chunk.offset'), data: bytes(v.data, 'chunk.data'), last: boolean(v.last, 'chunk.last') };
}

export function encodeSnapshotAck(ack: SnapshotAck): Buffer {
  const error = ack.error === null ? undefined : errorToWire(ack.error);
  return encodeBody({ snap: ack.snap, ok: ack.ok, error });
}

export function decodeSnapshotAck(body: Uint8Array): SnapshotAck {
  const v = record(decodeBody(body), 'ack');
  const ok = boolean(v.ok, 'ack.ok');
  return { snap: uint(v.snap, 'ack.snap'), ok, error: ok ? null : errorFromWire(v.error) };
}
