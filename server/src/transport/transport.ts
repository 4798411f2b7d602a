/**
 * The transport port: how the runtime hands Raft messages to other server nodes and receives theirs.
 * Two adapters implement it: `TcpTransport` (the real one) and `MemoryTransport` (its in-memory twin,
 * the reference and the test fixture of the runtime). Raft copes with lost messages, so a transport
 * may drop them; it never reorders or duplicates the messages sent to one peer.
 */
import type { Message, NodeId } from '@hikarikeeper/raft';

export interface PeerAddress {
  readonly id: NodeId;
  /** Where the peer's transport listens for other nodes (not the client port). */
  readonly host: string;
  readonly port: number;
}

/**
 * A snapshot arriving from a peer, as the receiver sees it.
 *
 * - `message` is the Snap message with `snapshot.data` empty (the metadata and membership only).
 * - `chunks` yields the snapshot's bytes in order, each chunk non-empty and at most
 *   SNAPSHOT_CHUNK_BYTES_MAX long, then ends. It is a byte stream: chunk boundaries are the
 *   transport's, not the pieces the sender yielded (a producer of self-contained pieces wraps them
 *   with `framePieces` and the consumer restores them with `unframePieces`, see snapshot-pieces.ts).
 *   It can be iterated once. The transport reads from the network only as fast as the consumer
 *   pulls (back-pressure), so the consumer decides how much of the snapshot is in memory. If the
 *   stream breaks (connection lost, malformed chunk, sender gave up, transport stopped) the
 *   iteration throws a HikariError; chunks received before stay valid.
 * - A chunk may be a view into a larger receive buffer: copy it to keep it past the next pull.
 */
export interface SnapshotStream {
  readonly message: Message;
  readonly chunks: AsyncIterable<Uint8Array>;
}

/** What the transport calls when peers' messages and snapshots arrive. */
export interface TransportHandler {
  /**
   * A batch of messages from one peer, in the order that peer sent them. Called synchronously from
   * the network callbacks; the array and its messages belong to the handler. Messages are only
   * checked for shape (numbers, bytes, arrays) and for `from` = the authenticated peer, `to` = this
   * node: `RawNode.step` does the semantic validation. Entry data may be views into a receive buffer.
   * An exception thrown here is logged and does not affect the connection.
   */
  onMessages(messages: Message[]): void;
  /**
   * A snapshot stream from peer `from`. Resolve once the snapshot is installed (or deliberately
   * accepted, e.g. already obsolete): the sender's `sendSnapshot` then resolves true. Reject on any
   * failure: it resolves false. Settling before the stream ended cancels the rest of the transfer.
   */
  onSnapshot(from: NodeId, stream: SnapshotStream): Promise<void>;
}

/**
 * The port. Contracts shared by both adapters:
 * - Ordering: messages to one peer arrive in `send` order (across calls); nothing is duplicated.
 * - Loss: a message may be dropped at any point; `onUnreachable` is called (asynchronously, at most
 *   once per peer per event-loop turn) when the transport itself knowingly dropped one: peer unknown,
 *   not connected, send queue full, connection lost with messages pending. Messages lost in flight
 *   on a connection that then breaks are covered by the same report at disconnection.
 * - Ownership: `send` does not keep the array; it keeps the messages, which the core never mutates.
 */
export interface Transport {
  /** Starts listening and connecting. Rejects if the listening address cannot be bound. */
  start(handler: TransportHandler): Promise<void>;
  /**
   * Queues messages for their recipients (`to`); returns at once. Never throws, never blocks: a
   * message to an unknown or unconnected peer, or over a queue limit, is dropped and reported via
   * `onUnreachable`. Queued messages leave in batches at the end of the current event-loop turn.
   * Snap messages go through here only if their data is small; large snapshots use `sendSnapshot`.
   */
  send(messages: readonly Message[]): void;
  /**
   * Streams a snapshot to `message.to`: the Snap message carries metadata only (its `snapshot.data`
   * is not sent), `chunks` yields the bytes in order, pieces of any size. Resolves true when the
   * receiver's `onSnapshot` resolved, false on any failure (never rejects); the caller then reports
   * it with `rawNode.reportSnapshot(to, ok)`. `chunks` is pulled only as fast as the network drains,
   * and its iterator is closed (`return()`) when the transfer ends early.
   */
  sendSnapshot(message: Message, chunks: AsyncIterable<Uint8Array>): Promise<boolean>;
  /**
   * Replaces the set of peers (membership changes). This node's own id may be listed: it is ignored.
   * A removed peer's connection is closed and its queue discarded (not reported: it is no longer a
   * member); a peer whose address changed is reconnected. Throws INVALID_ARGUMENT for an id that is
   * not a positive integer or a port outside 1..65535 (a configuration bug, not a network event).
   */
  setPeers(peers: readonly PeerAddress[]): void;
  /** Set by the runtime, which calls `rawNode.reportUnreachable(id)` from it. */
  onUnreachable?: (id: NodeId) => void;
  /**
   * Set by the runtime, which calls `rawNode.reportLeaderLost(id)` from it: the established message
   * connection with `id` was lost (closed or broken by the peer or the network; not closed on this
   * node's initiative). Called synchronously from the socket's close callback.
   */
  onDisconnected?: (id: NodeId) => void;
  /** Closes everything; resolves when every socket is closed. Queued messages are discarded. Idempotent. */
  stop(): Promise<void>;
}

/** A logging port, pino-compatible (`logger.child({ component: 'transport' })` fits). */
export interface TransportLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const silentLogger: TransportLogger = Object.freeze({
  info: () => {},
  warn: () => {},
  error: () => {},
});
