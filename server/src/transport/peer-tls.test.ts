import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { ErrorCode } from '@hikarikeeper/protocol';
import { CertFiles, DevCerts, makeCert, makeCrl, makeDevCerts } from '../tools/dev-certs';
import { PeerTls, peerSecureContext } from './peer-tls';
import { heartbeat, meshPeers, sleep, TestNode, waitFor } from './testing';

describe('TcpTransport over mutual TLS: certificate rotation (reloadTls)', () => {
  let dir: string;
  let certs: DevCerts;
  let rotated: CertFiles;
  const nodes: TestNode[] = [];
  const material = (files: CertFiles): PeerTls => ({ cert: readFileSync(files.cert), key: readFileSync(files.key), ca: readFileSync(certs.ca.cert) });
  const fingerprint = (files: CertFiles) => new X509Certificate(readFileSync(files.cert)).fingerprint256;

  /** The fingerprint of the certificate the listener on `port` presents to a peer of the cluster CA. */
  const presented = (port: number) => new Promise<string>((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(certs.ca.cert), cert: readFileSync(certs.client.cert), key: readFileSync(certs.client.key) });
    socket.once('secureConnect', () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.once('error', reject);
  });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hk-peer-tls-'));
    certs = makeDevCerts(dir);
    rotated = makeCert(dir, 'rotated', certs.ca, 'hikari-node', ['127.0.0.1']);
  });

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.transport.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('the listener and the next dials present the new certificate; a bad key, or a transport without TLS, is refused and changes nothing', async () => {
    // Peer 2 is a bare TLS listener that records the certificate each dial of node 1 presents.
    const dialedWith: string[] = [];
    const accepted: tls.TLSSocket[] = [];
    const peer = tls.createServer({ ...peerSecureContext(material(certs.node)), requestCert: true, rejectUnauthorized: true }, (socket) => {
      dialedWith.push(socket.getPeerCertificate().fingerprint256);
      accepted.push(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
    try {
      const n1 = await TestNode.start(1, { tls: material(certs.node) });
      nodes.push(n1);
      n1.transport.setPeers([{ id: 2, host: '127.0.0.1', port: (peer.address() as { port: number }).port }]);
      n1.transport.send([heartbeat(1, 2)]);
      await waitFor(() => dialedWith.length > 0, 'a first dial');
      expect(dialedWith[0]).toBe(fingerprint(certs.node));
      expect(await presented(n1.port)).toBe(fingerprint(certs.node));

      n1.transport.reloadTls(material(rotated));
      expect(await presented(n1.port)).toBe(fingerprint(rotated));
      const before = dialedWith.length;
      for (const socket of accepted) socket.destroy(); // the link dials again
      await waitFor(() => dialedWith.slice(before).includes(fingerprint(rotated)), 'a dial with the new certificate', 10_000);
      const after = dialedWith.slice(dialedWith.indexOf(fingerprint(rotated), before));
      expect(after.every((f) => f === fingerprint(rotated))).toBe(true);

      expect(() => n1.transport.reloadTls({ ...material(rotated), key: readFileSync(certs.client.key) })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
      expect(await presented(n1.port)).toBe(fingerprint(rotated));

      const plain = await TestNode.start(3);
      nodes.push(plain);
      expect(() => plain.transport.reloadTls(material(rotated))).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    } finally {
      for (const socket of accepted) socket.destroy();
      await new Promise<void>((resolve) => peer.close(() => resolve()));
    }
  });

  test('with a peer name, a certificate of the CA that does not name the node it claims to be is refused, as acceptor and as dialer', async () => {
    const mine = (id: number) => makeCert(dir, `node-${id}`, certs.ca, `hikari-node-${id}`, ['127.0.0.1']);
    const [c1, c2, c4] = [mine(1), mine(2), mine(4)];
    const named = (files: CertFiles): PeerTls => ({ ...material(files), peerName: 'hikari-node-{id}' });
    const [n1, n2, impostor, n4] = [
      await TestNode.start(1, { tls: named(c1) }),
      await TestNode.start(2, { tls: named(c2) }),
      await TestNode.start(3, { tls: named(c1) }), // node 3 with node 1's certificate
      await TestNode.start(4, { tls: named(c4) }),
    ];
    nodes.push(n1!, n2!, impostor!, n4!);
    meshPeers([n1!, n2!, impostor!, n4!]);
    const genuine = [n1!, n2!, n4!];
    await waitFor(() => genuine.every((n) => genuine.every((p) => p === n || n.connectedTo(p.id))), 'the genuine nodes connected');
    for (const n of genuine) n.transport.send([heartbeat(n.id, genuine.find((p) => p !== n)!.id)]);
    await sleep(500);
    // Nodes 1 and 2 dial node 3 and refuse the certificate it answers with; node 3 dials node 4, which refuses it.
    expect(genuine.some((n) => n.connectedTo(3))).toBe(false);
    expect(impostor!.connectedTo(1) || impostor!.connectedTo(2) || impostor!.connectedTo(4)).toBe(false);
    const said = (n: TestNode) => JSON.stringify(n.logger.lines, (_k, v: unknown) => (v instanceof Error ? v.message : v));
    expect(said(n1!)).toContain('does not name hikari-node-3');
    expect(said(n4!)).toContain('does not name hikari-node-3');
  });

  test('with a revocation list, a node whose certificate it lists is refused whichever end dials; the others connect', async () => {
    const [c5, c6, revoked] = [makeCert(dir, 'crl-5', certs.ca, 'n5', ['127.0.0.1']), makeCert(dir, 'crl-6', certs.ca, 'n6', ['127.0.0.1']), makeCert(dir, 'crl-7', certs.ca, 'n7', ['127.0.0.1'])];
    const crl = readFileSync(makeCrl(dir, 'crl', certs.ca, [revoked]));
    const [n5, n6, n7, n8] = [
      await TestNode.start(5, { tls: { ...material(c5), crl } }),
      await TestNode.start(6, { tls: { ...material(c6), crl } }),
      await TestNode.start(7, { tls: { ...material(revoked), crl } }), // dialed by 5 and 6
      await TestNode.start(8, { tls: { ...material(c6), crl } }), // dialed by 7
    ];
    nodes.push(n5!, n6!, n7!, n8!);
    meshPeers([n5!, n6!, n7!, n8!]);
    const good = [n5!, n6!, n8!];
    await waitFor(() => good.every((n) => good.every((p) => p === n || n.connectedTo(p.id))), 'the others connected');
    await sleep(500);
    expect(good.some((n) => n.connectedTo(7))).toBe(false);
    expect(JSON.stringify(n5!.logger.lines, (_k, v: unknown) => (v instanceof Error ? v.message : v))).toContain('certificate revoked');
  });
});
