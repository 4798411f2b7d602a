/**
 * Mutual TLS for peer connections (message and snapshot connections alike): the listener asks every
 * dialer for a certificate and refuses one the cluster CA did not sign; the dialer checks the
 * listener's certificate against the same CA (and its host name or IP address, as HTTPS does). A
 * node without a certificate of the cluster CA can therefore neither dial nor be dialed.
 *
 * Without TLS material the same two functions give plain TCP, so callers do not branch.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';

export interface PeerTls {
  /** This node's certificate and key (PEM): presented both when dialing and when accepting. */
  readonly cert: Buffer;
  readonly key: Buffer;
  /** The cluster CA (PEM): the only issuer whose peer certificates are accepted. */
  readonly ca: Buffer;
}

/**
 * A peer listener: `onSocket` receives sockets ready for the peer handshake (after the TLS
 * handshake, with TLS); `onTlsError` hears of each TLS handshake refused (a foreign CA, no
 * certificate, not TLS at all).
 */
export function createPeerServer(
  peerTls: PeerTls | null,
  handshakeTimeoutMs: number,
  onSocket: (socket: net.Socket) => void,
  onTlsError: (error: Error, remote: string | undefined) => void,
): net.Server {
  if (peerTls === null) return net.createServer(onSocket);
  const server = tls.createServer({ ...peerListenerContext(peerTls), requestCert: true, rejectUnauthorized: true, handshakeTimeout: handshakeTimeoutMs, minVersion: 'TLSv1.2' }, onSocket);
  server.on('tlsClientError', (error, socket) => onTlsError(error, socket.remoteAddress));
  return server;
}

/** The secure context of a peer listener (see tls.Server#setSecureContext: new handshakes use a new one). */
export function peerListenerContext(peerTls: PeerTls): tls.SecureContextOptions {
  return { cert: peerTls.cert, key: peerTls.key, ca: peerTls.ca };
}

/** Dials a peer; `ready` is the event after which the peer handshake may be written. */
export function connectPeer(peerTls: PeerTls | null, host: string, port: number): { socket: net.Socket; ready: 'connect' | 'secureConnect' } {
  if (peerTls === null) return { socket: net.connect({ host, port }), ready: 'connect' };
  const servername = net.isIP(host) === 0 ? host : undefined;
  const socket = tls.connect({ host, port, servername, cert: peerTls.cert, key: peerTls.key, ca: peerTls.ca, minVersion: 'TLSv1.2' });
  return { socket, ready: 'secureConnect' };
}
