import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { DevCerts, makeCrl, makeDevCerts } from '../tools/dev-certs';
import { describeCertificate, loadTlsMaterial } from './tls';

describe('loadTlsMaterial (at start and at every reload)', () => {
  let dir: string;
  let certs: DevCerts;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hk-tls-'));
    certs = makeDevCerts(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const refusal = (files: Parameters<typeof loadTlsMaterial>[0]): HikariError => {
    try {
      loadTlsMaterial(files);
    } catch (e) {
      if (e instanceof HikariError) return e;
      throw e;
    }
    throw new Error('loaded');
  };

  test('loads usable files, and says what the certificate is', () => {
    const m = loadTlsMaterial({ cert: certs.node.cert, key: certs.node.key, ca: certs.ca.cert });
    expect(m.clientCa).toBe(m.ca);
    expect(describeCertificate(m.cert)).toMatchObject({ subject: 'CN=hikari-node', fingerprint256: expect.stringMatching(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/) });
  });

  test('a key that is not the certificate\'s, a missing file, or a file that is not PEM: INVALID_ARGUMENT naming the setting', () => {
    expect(refusal({ cert: certs.node.cert, key: certs.client.key, ca: certs.ca.cert })).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, details: { field: 'tlsKey' } });
    expect(refusal({ cert: certs.node.cert, key: join(dir, 'nope.key'), ca: certs.ca.cert })).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, details: { field: 'tlsKey' } });
    const notPem = join(dir, 'not-pem.crt');
    writeFileSync(notPem, 'hello');
    expect(refusal({ cert: certs.node.cert, key: certs.node.key, ca: notPem })).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, details: { field: 'tlsCa' } });
  });

  test('a revocation list is loaded when it is one, and refused (INVALID_ARGUMENT, tlsCrl) when it is not', () => {
    const crl = makeCrl(dir, 'crl', certs.ca, [certs.client]);
    const files = { cert: certs.node.cert, key: certs.node.key, ca: certs.ca.cert };
    expect(loadTlsMaterial({ ...files, crl }).crl?.toString()).toContain('BEGIN X509 CRL');
    expect(refusal({ ...files, crl: certs.ca.cert })).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, details: { field: 'tlsCrl' } }); // a certificate, not a CRL
    const garbled = join(dir, 'garbled.pem');
    writeFileSync(garbled, '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n');
    expect(refusal({ ...files, crl: garbled })).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, details: { field: 'tlsCrl' } });
  });
});
