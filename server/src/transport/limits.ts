/**
 * Every bound of the peer transport, named here with the reason for its value. The relationships
 * between them are asserted when the module loads (a broken pair is a bug that should fail at
 * start-up, not under load). `TcpTransportLimits` lets a test or an operator shrink them;
 * `checkLimits` re-asserts the pairs for any override.
 */
import { DEFAULTS, SNAPSHOT_CHUNK_BYTES_DEFAULT } from '@hikarikeeper/raft';

const KiB = 1024;
const MiB = 1024 * KiB;

/** The version spoken in the handshake; bumped on any incompatible change of the peer wire format. */
export const PEER_PROTOCOL_VERSION = 1;

/** Bytes a batch frame body spends before its messages: a msgpack array32 header at most. */
export const BATCH_HEADER_BYTES_MAX = 5;

/**
 * Room around the entry data of one message: fields, entry headers, context. A message holding the
 * largest single entry must fit a frame with this much to spare.
 */
export const MESSAGE_OVERHEAD_BYTES_MAX = 64 * KiB;

/**
 * Largest peer frame body. It bounds what a peer can make this node buffer before decoding, and it
 * must carry one App message holding the largest entry the core accepts (maxEntryBytes, 4 MiB by
 * default); 8 MiB leaves room for more. A batch that would exceed it is split over several frames.
 */
export const PEER_FRAME_BYTES_MAX = 8 * MiB;

/**
 * Most messages queued for one peer and not yet handed to its socket: twice the core's pipelining
 * window (maxInflightMsgs) plus room for heartbeats and responses, so that a briefly slow socket
 * does not drop replication traffic. Beyond it the peer is not keeping up, and dropping is the answer.
 */
export const SEND_QUEUE_MESSAGES_MAX = 2 * DEFAULTS.maxInflightMsgs + 512;

/** Most encoded bytes queued for one peer: the core's byte window (maxInflightBytes) twice over. */
export const SEND_QUEUE_BYTES_MAX = 2 * DEFAULTS.maxInflightBytes;

/** A handshake (frame and answer, connection set-up included) must complete within this. */
export const HANDSHAKE_TIMEOUT_MS = 5_000;

/** Largest handshake frame: a cluster id and a few numbers. Bounds what an unauthenticated socket may buffer. */
export const HANDSHAKE_BYTES_MAX = 1 * KiB;

/** First reconnection delay. Short: a restarted peer should be back within a heartbeat or two. */
export const RECONNECT_DELAY_MS_MIN = 50;

/** Longest reconnection delay: a dead peer costs one connection attempt per this period, no more. */
export const RECONNECT_DELAY_MS_MAX = 2_000;

/** TCP keep-alive delay: finds a peer whose machine vanished without closing its sockets. */
export const KEEP_ALIVE_DELAY_MS = 5_000;

/** Largest snapshot chunk on the wire, and the largest chunk handed to `onSnapshot`: the core's chunk size. */
export const SNAPSHOT_CHUNK_BYTES_MAX = SNAPSHOT_CHUNK_BYTES_DEFAULT;

/**
 * Chunk bytes a snapshot receiver buffers for a slow consumer before pausing its socket. One socket
 * read (about 64 KiB) may land past it, so the memory of a stream is bounded near this value.
 */
export const SNAPSHOT_BUFFERED_BYTES_MAX = 4 * SNAPSHOT_CHUNK_BYTES_MAX;

/** A snapshot stream in which no byte moves for this long is aborted (a stalled or a dead peer). */
export const SNAPSHOT_IDLE_TIMEOUT_MS = 30_000;

/** How long a sender waits after the last chunk for the receiver to install the snapshot and answer. */
export const SNAPSHOT_INSTALL_TIMEOUT_MS = 10 * 60_000;

/** Inbound snapshot streams at once: only a leader sends them, one per follower, so two is already generous. */
export const INBOUND_SNAPSHOTS_MAX = 2;

/**
 * Inbound sockets at once (the listener refuses more): a few message connections from peers, a
 * couple of snapshot streams and handshakes in progress. A flood beyond is closed at accept.
 */
export const INBOUND_CONNECTIONS_MAX = 64;

/** The bounds a `TcpTransport` uses; each defaults to the constant of the same name above. */
export interface TcpTransportLimits {
  frameBytesMax: number;
  sendQueueMessagesMax: number;
  sendQueueBytesMax: number;
  handshakeTimeoutMs: number;
  handshakeBytesMax: number;
  reconnectDelayMsMin: number;
  reconnectDelayMsMax: number;
  keepAliveDelayMs: number;
  snapshotChunkBytesMax: number;
  snapshotBufferedBytesMax: number;
  snapshotIdleTimeoutMs: number;
  snapshotInstallTimeoutMs: number;
  inboundSnapshotsMax: number;
  inboundConnectionsMax: number;
}

export const DEFAULT_LIMITS: Readonly<TcpTransportLimits> = Object.freeze({
  frameBytesMax: PEER_FRAME_BYTES_MAX,
  sendQueueMessagesMax: SEND_QUEUE_MESSAGES_MAX,
  sendQueueBytesMax: SEND_QUEUE_BYTES_MAX,
  handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
  handshakeBytesMax: HANDSHAKE_BYTES_MAX,
  reconnectDelayMsMin: RECONNECT_DELAY_MS_MIN,
  reconnectDelayMsMax: RECONNECT_DELAY_MS_MAX,
  keepAliveDelayMs: KEEP_ALIVE_DELAY_MS,
  snapshotChunkBytesMax: SNAPSHOT_CHUNK_BYTES_MAX,
  snapshotBufferedBytesMax: SNAPSHOT_BUFFERED_BYTES_MAX,
  snapshotIdleTimeoutMs: SNAPSHOT_IDLE_TIMEOUT_MS,
  snapshotInstallTimeoutMs: SNAPSHOT_INSTALL_TIMEOUT_MS,
  inboundSnapshotsMax: INBOUND_SNAPSHOTS_MAX,
  inboundConnectionsMax: INBOUND_CONNECTIONS_MAX,
});

/** The frame limit of a snapshot connection: one chunk and its envelope, or the Snap message. */
export function snapshotFrameBytesMax(limits: TcpTransportLimits): number {
  return limits.snapshotChunkBytesMax + MESSAGE_OVERHEAD_BYTES_MAX;
}

/** Largest encoded message that fits a batch frame on its own. */
export function messageBytesMax(limits: TcpTransportLimits): number {
  return limits.frameBytesMax - BATCH_HEADER_BYTES_MAX;
}

/** Returns `limits` after checking the relationships between them; throws on a broken one. */
export function checkLimits(limits: TcpTransportLimits): TcpTransportLimits {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new Error(`transport limit ${name} must be a positive integer`);
  }
  const assert = (condition: boolean, message: string): void => {
    if (!condition) throw new Error(`transport limits: ${message}`);
  };
  assert(limits.frameBytesMax <= 0xffff_ffff, 'frameBytesMax must fit the 4-byte frame header');
  assert(limits.handshakeBytesMax < limits.frameBytesMax, 'a handshake must fit a frame');
  // Otherwise a message that fits a frame could never be queued.
  assert(limits.sendQueueBytesMax >= limits.frameBytesMax, 'the send queue must hold one maximal frame');
  assert(limits.reconnectDelayMsMin <= limits.reconnectDelayMsMax, 'reconnect delays: min must be <= max');
  assert(limits.snapshotBufferedBytesMax >= limits.snapshotChunkBytesMax, 'a receiver must buffer one chunk');
  assert(limits.inboundConnectionsMax > limits.inboundSnapshotsMax, 'snapshot streams must leave room for message connections');
  return limits;
}

function assertDefault(condition: boolean, message: string): void {
  if (!condition) throw new Error(`transport limits: ${message}`);
}

checkLimits(DEFAULT_LIMITS);
// The defaults must carry what the Raft core produces with its own defaults.
assertDefault(
  PEER_FRAME_BYTES_MAX >= DEFAULTS.maxEntryBytes + MESSAGE_OVERHEAD_BYTES_MAX + BATCH_HEADER_BYTES_MAX,
  'a frame must hold the largest entry the core accepts',
);
assertDefault(
  PEER_FRAME_BYTES_MAX >= DEFAULTS.maxMsgBytes + MESSAGE_OVERHEAD_BYTES_MAX + BATCH_HEADER_BYTES_MAX,
  'a frame must hold the largest AppendEntries the core sends',
);
assertDefault(SEND_QUEUE_MESSAGES_MAX >= DEFAULTS.maxInflightMsgs, 'the send queue must hold the pipelining window');
assertDefault(SEND_QUEUE_BYTES_MAX >= DEFAULTS.maxInflightBytes, 'the send queue must hold the byte window');
assertDefault(SNAPSHOT_CHUNK_BYTES_MAX <= PEER_FRAME_BYTES_MAX, 'a snapshot chunk must fit a frame');
