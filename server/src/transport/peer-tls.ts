/**
 * Mutual TLS for peer connections (message and snapshot connections alike): the listener asks every
 * dialer for a certificate and refuses one the cluster CA did not sign; the dialer checks the
 * listener's certificate against the same CA (and its host name or IP address, as HTTPS does). A
 * node without a certificate of the cluster CA can therefore neither dial nor be dialed.
 *
 * Without TLS material the same two functions give plain TCP, so callers do not branch.
 *
 * Node identity (`peerName`): the CA check alone lets any certificate the cluster CA signed act as
 * any node. With a `peerName` such as `hikari-node-{id}` (etcd's `--peer-cert-allowed-cn`, per
 * node), a peer's certificate must also carry that name, `{id}` being the node id it claims (the
 * acceptor checks the dialer against its hello) or is dialed as (the dialer checks the acceptor),
 * as its subject CN or a DNS subject alternative name (`checkPeerName`).
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import type { NodeId } from '@hikarikeeper/raft';

export interface PeerTls {
  /** This node's certificate and key (PEM): presented both when dialing and when accepting. */
  readonly cert: Buffer;
  readonly key: Buffer;
  /** The cluster CA (PEM): the only issuer whose peer certificates are accepted. */
  readonly ca: Buffer;
  /** Revocation lists (PEM): a peer certificate they list is refused, dialing and accepting; null: none. */
  readonly crl?: Buffer | null;
  /** The name a peer's certificate must carry, `{id}` standing for the peer's node id; null: any certificate of the CA. */
  readonly peerName?: string | null;
}

/**
 * Refusal (PERMISSION_DENIED) unless the certificate `socket`'s other end presented names node `id`
 * as `peerTls.peerName` says; null when it does, or when there is nothing to check (no TLS, no name).
 */
export function checkPeerName(peerTls: PeerTls | null, socket: net.Socket, id: NodeId): HikariError | null {
  const pattern = peerTls?.peerName ?? null;
  if (pattern === null || !(socket instanceof tls.TLSSocket)) return null;
  const expected = pattern.replaceAll('{id}', String(id));
  const names = certificateNames(socket.getPeerCertificate());
  if (names.includes(expected)) return null;
  const reason = `the certificate of node ${id} does not name ${expected}`;
  return new HikariError(ErrorCode.PERMISSION_DENIED, { reason, names: names.slice(0, 8) }, { message: `permission denied: ${reason}` });
}

/** The names a certificate carries: its subject CN and its DNS subject alternative names. */
export function certificateNames(cert: tls.PeerCertificate | undefined): string[] {
  if (cert === undefined) return [];
  const cn = cert.subject?.CN as string | string[] | undefined;
  const names = cn === undefined ? [] : Array.isArray(cn) ? [...cn] : [cn];
  for (const entry of (cert.subjectaltname ?? '').split(', ')) if (entry.startsWith('DNS:')) names.push(entry.slice(4));
  return names;
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
  const server = tls.createServer({ ...peerSecureContext(peerTls), requestCert: true, rejectUnauthorized: true, handshakeTimeout: handshakeTimeoutMs, minVersion: 'TLSv1.2' }, onSocket);
  server.on('tlsClientError', (error, socket) => onTlsError(error, socket.remoteAddress));
  return server;
}

/** The certificate, key, CA and revocation lists of peer connections, listener and dials alike (what a rotation replaces). */
export function peerSecureContext(peerTls: PeerTls): tls.SecureContextOptions {
  return { cert: peerTls.cert, key: peerTls.key, ca: peerTls.ca, ...(peerTls.crl == null ? {} : { crl: peerTls.crl }) };
}

/** Dials a peer; `ready` is the event after which the peer handshake may be written. */
export function connectPeer(peerTls: PeerTls | null, host: string, port: number): { socket: net.Socket; ready: 'connect' | 'secureConnect' } {
  if (peerTls === null) return { socket: net.connect({ host, port }), ready: 'connect' };
  const servername = net.isIP(host) === 0 ? host : undefined;
  const socket = tls.connect({ host, port, servername, ...peerSecureContext(peerTls), minVersion: 'TLSv1.2' });
  return { socket, ready: 'secureConnect' };
}
