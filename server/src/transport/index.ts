/**
 * The peer transport: the port (transport.ts), its TCP adapter and its in-memory twin.
 *
 * transport.ts (the port) ← tcp-transport.ts (listener, routing, turn-end flush) → peer-link.ts (one
 * peer: connection, queue, reconnection) / snapshot-sender.ts + snapshot-receiver.ts (dedicated
 * snapshot connections), over handshake.ts, framed-socket.ts, peer-codec.ts and control-frames.ts;
 * limits.ts holds every bound. memory-transport.ts is the twin for runtime tests.
 */
export * from './transport';
export { TcpTransport, type TcpTransportOptions } from './tcp-transport';
export { MemoryNetwork, MemoryTransport } from './memory-transport';
export type { TcpTransportStats } from './stats';
export type { PeerStats } from './peer-link';
export * from './limits';
export { decodeBatch, encodeMessage, encodeMessages } from './peer-codec';
export { framePieces, SNAPSHOT_PIECE_BYTES_MAX, unframePieces } from './snapshot-pieces';
