/**
 * Counters of a TcpTransport, for metrics and tests. Cumulative unless said otherwise; a snapshot of
 * them is returned by `TcpTransport.stats()`.
 */
import type { PeerStats } from './peer-link';

export interface TransportCounters {
  /** Message connections open now (handshake done), both directions together. */
  connectionsOpen: number;
  /** Message connections this node dialed successfully / accepted. */
  connectionsDialed: number;
  connectionsAccepted: number;
  framesSent: number;
  framesReceived: number;
  messagesSent: number;
  messagesReceived: number;
  /** Messages this node dropped: peer unknown or not connected, queue full, discarded on connection loss. */
  messagesDropped: number;
  snapshotsSent: number;
  snapshotsSendFailed: number;
  snapshotsReceived: number;
  snapshotsReceiveFailed: number;
  /** Times a snapshot receiver paused its socket because the consumer was behind. */
  snapshotReceivePauses: number;
  /** The most snapshot bytes one receiver buffered for its consumer at any time. */
  snapshotBufferedBytesPeak: number;
  /** Inbound connections refused in the TLS handshake (no certificate of the cluster CA, not TLS). */
  tlsHandshakesRefused: number;
}

export interface TcpTransportStats extends Readonly<TransportCounters> {
  readonly peers: readonly PeerStats[];
}

export function newCounters(): TransportCounters {
  return {
    connectionsOpen: 0,
    connectionsDialed: 0,
    connectionsAccepted: 0,
    framesSent: 0,
    framesReceived: 0,
    messagesSent: 0,
    messagesReceived: 0,
    messagesDropped: 0,
    snapshotsSent: 0,
    snapshotsSendFailed: 0,
    snapshotsReceived: 0,
    snapshotsReceiveFailed: 0,
    snapshotReceivePauses: 0,
    snapshotBufferedBytesPeak: 0,
    tlsHandshakesRefused: 0,
  };
}
