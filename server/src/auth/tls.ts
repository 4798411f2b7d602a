/**
 * TLS material of a node (PEM files named in the configuration) and the TLS options of each of its
 * listeners:
 *
 * - client port: the node's certificate; a client certificate is asked for but not required (a
 *   token may authenticate instead); one that the client CA verifies gives the connection an
 *   identity (its subject's CN), one that it does not is ignored;
 * - peer port and peer dials (message and snapshot connections): mutual TLS, both sides verified
 *   against the cluster CA: a node without a certificate signed by it cannot connect;
 * - admin HTTP (when served over TLS): as the client port.
 *
 * Rotation: `HikariNode.reloadTls` (SIGHUP) reads the same files again and gives every listener the
 * new material for its next handshakes (`replaceListenerContext`), and peer dials use it from then on;
 * connections already open keep theirs.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Server, Socket } from 'node:net';
import { createSecureContext, SecureContextOptions, Server as TlsServer, TLSSocket, TlsOptions } from 'node:tls';
import { HikariError } from '@hikarikeeper/protocol';
import type { PeerTls } from '../transport/peer-tls';

export interface TlsFiles {
  /** The node's certificate (PEM), presented on every port and on peer dials. */
  readonly cert: string;
  /** Its private key (PEM). */
  readonly key: string;
  /** The cluster CA (PEM): peers must present a certificate it signed. */
  readonly ca: string;
  /** The CA that signs client certificates (PEM); default: the cluster CA. */
  readonly clientCa?: string;
  /** Certificate revocation lists (PEM, one per CA in use, concatenated): certificates they list are refused on every port. */
  readonly crl?: string;
  /** Not a file: the name a peer node's certificate must carry, `{id}` standing for its node id (see transport/peer-tls.ts). */
  readonly peerName?: string;
}

/** The loaded PEM material. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
  readonly clientCa: Buffer;
  readonly crl: Buffer | null;
  readonly peerName: string | null;
}

/** Reads the files; throws INVALID_ARGUMENT naming the setting whose file cannot be read or is not PEM. */
export function loadTlsMaterial(files: TlsFiles): TlsMaterial {
  const read = (field: string, path: string, kind = ''): Buffer => {
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      throw HikariError.invalidArgument(field, `cannot read ${path}: ${(e as Error).message}`);
    }
    if (!bytes.includes(`-----BEGIN ${kind}`)) throw HikariError.invalidArgument(field, `${path} is not a PEM file${kind === '' ? '' : ` of ${kind.trim()}`}`);
    return bytes;
  };
  const ca = read('tlsCa', files.ca);
  const m: TlsMaterial = {
    cert: read('tlsCert', files.cert),
    key: read('tlsKey', files.key),
    ca,
    clientCa: files.clientCa === undefined ? ca : read('tlsClientCa', files.clientCa),
    crl: files.crl === undefined ? null : read('tlsCrl', files.crl, 'X509 CRL'),
    peerName: files.peerName ?? null,
  };
  // What a listener would refuse (a key that is not the certificate's, a CRL that does not parse) is refused here, coded.
  try {
    createSecureContext({ cert: m.cert, key: m.key, ca: m.ca });
  } catch (e) {
    throw HikariError.invalidArgument('tlsKey', `${files.cert} and ${files.key}, with the CA ${files.ca}: not usable for TLS (${(e as Error).message})`);
  }
  if (m.crl !== null) {
    try {
      createSecureContext({ ca: m.ca, crl: m.crl });
    } catch (e) {
      throw HikariError.invalidArgument('tlsCrl', `${files.crl}: not a usable revocation list (${(e as Error).message})`);
    }
  }
  return m;
}

/** What a log line says of a certificate: its subject, its end of validity, its SHA-256 fingerprint. */
export function describeCertificate(pem: Buffer): { subject: string; validTo: string; fingerprint256: string } {
  const x = new X509Certificate(pem);
  return { subject: x.subject.replace(/\n/g, ', '), validTo: x.validTo, fingerprint256: x.fingerprint256 };
}

/** Options of a listener for clients (client port, admin HTTP): the client certificate is optional. */
export function clientListenerOptions(m: TlsMaterial, handshakeTimeoutMs: number): TlsOptions {
  return { ...clientListenerContext(m), requestCert: true, rejectUnauthorized: false, handshakeTimeout: handshakeTimeoutMs, minVersion: 'TLSv1.2' };
}

/** The certificate, key and CA of a client listener (what a rotation replaces). */
export function clientListenerContext(m: TlsMaterial): SecureContextOptions {
  return { cert: m.cert, key: m.key, ca: m.clientCa, ...(m.crl === null ? {} : { crl: m.crl }) };
}

/** Gives a TLS listener (HTTPS included) `context` for its next handshakes; a plain or closed listener is left alone. */
export function replaceListenerContext(server: Server | null, context: SecureContextOptions): void {
  if (server instanceof TlsServer) server.setSecureContext(context);
}

/** The TLS material of peer links (listener and dialer alike): mutual, against the cluster CA. */
export function peerTlsOf(m: TlsMaterial): PeerTls {
  return { cert: m.cert, key: m.key, ca: m.ca, crl: m.crl, peerName: m.peerName };
}

/**
 * The subject (CN) of the certificate the client presented, if TLS verified it against the client
 * CA; null for a plain socket, no certificate, or one that did not verify.
 */
export function certSubjectOf(socket: Socket): string | null {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return null;
  const cn = socket.getPeerCertificate()?.subject?.CN;
  return typeof cn === 'string' && cn.length > 0 ? cn : null;
}
