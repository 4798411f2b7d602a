#!/usr/bin/env node
/**
 * `npm run dev-certs [-- <dir> [--host name]...]`: a development CA and certificates made with
 * `openssl` (EC P-256 keys), for trying TLS locally and for the tests. In `<dir>` (default ./certs):
 *
 * | file                     | what                                                                   |
 * |--------------------------|------------------------------------------------------------------------|
 * | `ca.crt`, `ca.key`       | the cluster CA ("HikariKeeper development CA")                          |
 * | `node.crt`, `node.key`   | a node certificate (CN hikari-node; localhost, 127.0.0.1, ::1 and each --host), for serving and dialing peers |
 * | `client.crt`, `client.key` | a client certificate, CN `hikari-client`, signed by the same CA     |
 * | `admin.token`            | a random bootstrap admin token (for `--admin-token-file`)               |
 *
 * `makeCrl` makes a revocation list of the CA (for `--tls-crl`; the tests use it).
 *
 * Development only: one CA signs nodes and clients here, and the private keys are written unencrypted
 * with mode 0600. In production keep a CA (or at least a certificate) per node, a separate client CA
 * (`--tls-client-ca`), and real secret storage.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`openssl ${args[0]} failed (is openssl installed?): ${stderr.trim() || (e as Error).message}`);
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A self-signed CA named `name`, as `<dir>/<base>.crt` and `.key`. */
export function makeCa(dir: string, base: string, name: string): CertFiles {
  mkdirSync(dir, { recursive: true });
  const files = { cert: join(dir, `${base}.crt`), key: join(dir, `${base}.key`) };
  openssl(['req', '-x509', ...EC, '-keyout', files.key, '-out', files.cert, '-days', '3650', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  chmodSync(files.key, 0o600);
  return files;
}

/**
 * A certificate for `commonName` signed by `ca`, as `<dir>/<base>.crt` and `.key`, usable to serve and
 * to dial (serverAuth and clientAuth), valid for `hosts` (names and IP addresses).
 */
export function makeCert(dir: string, base: string, ca: CertFiles, commonName: string, hosts: readonly string[] = []): CertFiles {
  const files = { cert: join(dir, `${base}.crt`), key: join(dir, `${base}.key`) };
  const csr = join(dir, `${base}.csr`);
  const ext = join(dir, `${base}.ext`);
  openssl(['req', ...EC, '-keyout', files.key, '-out', csr, '-subj', `/CN=${commonName}`]);
  const san = hosts.map((h) => (isIP(h) === 0 ? `DNS:${h}` : `IP:${h}`)).join(',');
  writeFileSync(ext, [
    'basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth,clientAuth',
    ...(san === '' ? [] : [`subjectAltName=${san}`]),
  ].join('\n'));
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
    '-out', files.cert, '-days', '825', '-extfile', ext]);
  chmodSync(files.key, 0o600);
  rmSync(csr, { force: true });
  rmSync(ext, { force: true });
  return files;
}

/**
 * A certificate revocation list of `ca` revoking `revoked` (none: an empty list), as `<dir>/<base>.pem`,
 * valid 30 days (its "next update": renew it, and reload the nodes, before then). Made with
 * `openssl ca` over a fresh index in `<dir>/<base>.db`.
 */
export function makeCrl(dir: string, base: string, ca: CertFiles, revoked: readonly CertFiles[] = []): string {
  const db = join(dir, `${base}.db`);
  rmSync(db, { recursive: true, force: true });
  mkdirSync(db, { recursive: true });
  writeFileSync(join(db, 'index.txt'), '');
  writeFileSync(join(db, 'crlnumber'), '01\n');
  const cnf = join(db, 'ca.cnf');
  writeFileSync(cnf, ['[ ca ]', 'default_ca = dev', '[ dev ]', `database = ${join(db, 'index.txt')}`, `crlnumber = ${join(db, 'crlnumber')}`,
    'default_md = sha256', 'default_crl_days = 30'].join('\n'));
  for (const cert of revoked) openssl(['ca', '-config', cnf, '-keyfile', ca.key, '-cert', ca.cert, '-revoke', cert.cert]);
  const out = join(dir, `${base}.pem`);
  openssl(['ca', '-config', cnf, '-keyfile', ca.key, '-cert', ca.cert, '-gencrl', '-out', out]);
  return out;
}

export interface DevCerts {
  readonly dir: string;
  readonly ca: CertFiles;
  readonly node: CertFiles;
  readonly client: CertFiles;
  /** The file holding the bootstrap admin token, and the token. */
  readonly adminTokenFile: string;
  readonly adminToken: string;
}

/** Everything a local TLS cluster needs, in `dir`. */
export function makeDevCerts(dir: string, extraHosts: readonly string[] = []): DevCerts {
  const ca = makeCa(dir, 'ca', 'HikariKeeper development CA');
  const node = makeCert(dir, 'node', ca, 'hikari-node', ['localhost', '127.0.0.1', '::1', ...extraHosts]);
  const client = makeCert(dir, 'client', ca, 'hikari-client');
  const adminToken = randomBytes(32).toString('base64url');
  const adminTokenFile = join(dir, 'admin.token');
  writeFileSync(adminTokenFile, `${adminToken}\n`, { mode: 0o600 });
  return { dir, ca, node, client, adminTokenFile, adminToken };
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const hosts: string[] = [];
  let dir = 'certs';
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--host' && args[i + 1] !== undefined) hosts.push(args[++i]!);
    else if (args[i] === '--help' || args[i] === '-h') {
      console.log('usage: npm run dev-certs -- [dir] [--host name-or-ip]...   (default dir: ./certs)');
      process.exit(0);
    } else dir = args[i]!;
  }
  try {
    const made = makeDevCerts(resolve(dir), hosts);
    console.log(`made in ${made.dir}: ca.crt ca.key node.crt node.key client.crt client.key admin.token`);
    console.log(`start a node with: --tls-cert ${made.node.cert} --tls-key ${made.node.key} --tls-ca ${made.ca.cert} --admin-token-file ${made.adminTokenFile}`);
  } catch (e) {
    console.error(`dev-certs: ${(e as Error).message}`);
    process.exit(1);
  }
}
