/**
 * Security against real server processes: TLS on every port (mutual TLS between nodes, the snapshot
 * connection included), tokens and client certificates, roles allowed and denied on each kind of
 * operation, the admin port's protection, and a peer with a certificate of another CA kept out.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, HikariClient, HikariClientOptions, HikariError } from '@hikarikeeper/client';
import { rejection } from '../../libs/client/src/testing/errors';
import { AdminClientOptions, adminRequest } from '../../server/src/admin/admin-client';
import { generateToken } from '../../server/src/auth/tokens';
import { CertFiles, DevCerts, makeCa, makeCert, makeCrl, makeDevCerts } from '../../server/src/tools/dev-certs';
import { readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { resolve as resolvePath } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { RawConnection, startTestCluster, TestCluster } from './harness';
import { setTimeout as sleep } from 'node:timers/promises';
import { secureExample } from '../../examples/sdk/secure';

const CLIENT_TIMEOUT_MS = 2_000;

describe('security of a real cluster (TLS, tokens, roles)', () => {
  let dir: string;
  let certs: DevCerts;
  let foreign: { ca: CertFiles; node: CertFiles; client: CertFiles };
  let t: TestCluster;
  let admin: HikariClient;
  let ca: Buffer;
  let adminOptions: AdminClientOptions;
  let foreignNode: { stop(): Promise<void> } | null = null;
  let crlFile: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hk-security-'));
    certs = makeDevCerts(join(dir, 'certs'));
    const foreignCa = makeCa(join(dir, 'foreign'), 'ca', 'Some other CA');
    foreign = {
      ca: foreignCa,
      node: makeCert(join(dir, 'foreign'), 'node', foreignCa, 'hikari-node', ['localhost', '127.0.0.1']),
      client: makeCert(join(dir, 'foreign'), 'client', foreignCa, 'hikari-client'),
    };
    ca = readFileSync(certs.ca.cert);
    adminOptions = { token: certs.adminToken, tls: { ca } };
    // An empty revocation list to start with (a test revokes a certificate, renews it and reloads).
    crlFile = makeCrl(dir, 'crl', certs.ca);
    t = await startTestCluster(3, ['--tls-cert', certs.node.cert, '--tls-key', certs.node.key, '--tls-ca', certs.ca.cert, '--tls-peer-name', 'hikari-node', '--tls-crl', crlFile, '--snapshot-every', '100'], {
      // Failpoints on, none armed: their admin routes must be guarded like the others.
      env: { HIKARI_ADMIN_TOKEN: certs.adminToken, HIKARI_FAILPOINTS: '' },
      admin: adminOptions,
      client: { token: certs.adminToken, tls: { ca }, timeoutMs: 10_000 },
    });
    admin = await t.client();
  });

  afterAll(async () => {
    await foreignNode?.stop();
    await t?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh client; rejects as connect does. Closed by the harness at the end. */
  const connect = (options: Partial<HikariClientOptions>) => t.client(t.cluster.endpoints, { timeoutMs: CLIENT_TIMEOUT_MS, connectTimeoutMs: 1_000, ...options });

  /** Admin API call on the leader with the admin token; returns the JSON body, or throws on an HTTP error. */
  async function adminCall(method: string, path: string, body?: unknown, options: AdminClientOptions = adminOptions): Promise<{ status: number; body: Record<string, unknown> | null }> {
    const leader = t.cluster.node(await t.cluster.waitForLeader());
    return adminRequest(leader.admin, method, path, options, body);
  }

  async function tokenFor(role: string): Promise<string> {
    const made = generateToken();
    const res = await adminCall('POST', '/v1/auth/tokens', { id: made.id, secret: made.secret, role, note: `test ${role}` });
    expect(res.status).toBe(201);
    return made.token;
  }

  async function metric(name: string): Promise<number> {
    let total = 0;
    for (const n of t.cluster.nodes.filter((x) => t.cluster.isRunning(x.id))) {
      const res = await adminRequest(n.admin, 'GET', '/metrics', { tls: { ca } });
      for (const line of res.text.split('\n')) if (line.startsWith(name)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return total;
  }

  test('TLS: with the cluster CA and a token a client works; with another CA, or over plain TCP, it never connects', async () => {
    await admin.create('/tls', 'over tls');
    expect((await admin.get('/tls')).data.toString()).toBe('over tls');
    const wrongCa = await rejection(connect({ tls: { ca: readFileSync(foreign.ca.cert) } }));
    expect(wrongCa.code).toBe(ErrorCode.TIMEOUT);
    expect(String((wrongCa.cause as Error | undefined)?.message)).toMatch(/certificate/);
    const plain = await rejection(connect({ tls: undefined }));
    expect(plain.code).toBe(ErrorCode.TIMEOUT);
    // The admin port is HTTPS too: plain HTTP gets nothing useful, the CA verifies it.
    await expect(adminRequest(t.cluster.nodes[0]!.admin, 'GET', '/health', {}, undefined, 2000)).rejects.toThrow();
    expect((await adminRequest(t.cluster.nodes[0]!.admin, 'GET', '/health', { tls: { ca } })).status).toBe(200);
  });

  test('authentication: no credential, a bad token, a revoked token are UNAUTHENTICATED, and counted', async () => {
    const before = await metric('hikari_auth_unauthenticated_total');
    expect((await rejection(connect({ token: undefined }))).code).toBe(ErrorCode.UNAUTHENTICATED);
    const made = generateToken();
    expect((await rejection(connect({ token: made.token }))).code).toBe(ErrorCode.UNAUTHENTICATED);
    expect((await rejection(connect({ token: certs.adminToken.slice(1) }))).code).toBe(ErrorCode.UNAUTHENTICATED);
    await adminCall('PUT', '/v1/auth/roles/rw-all', { grants: [{ scope: 'namespace', access: 'write', prefix: '/' }] });
    const token = await tokenFor('rw-all');
    const c = await connect({ token });
    await c.create('/revocable', '1');
    const id = token.slice(0, token.indexOf('.'));
    expect((await adminCall('DELETE', `/v1/auth/tokens/${id}`)).body).toEqual({ id, existed: true });
    // Refused from its next request on, on every node (each applies the revocation).
    await expect(c.set('/revocable', '2')).rejects.toMatchObject({ code: ErrorCode.UNAUTHENTICATED });
    expect((await rejection(connect({ token }))).code).toBe(ErrorCode.UNAUTHENTICATED);
    expect((await admin.get('/revocable')).data.toString()).toBe('1');
    expect(await metric('hikari_auth_unauthenticated_total')).toBeGreaterThanOrEqual(before + 5);
  });

  test('a token made with a time to live works until it expires, then is refused (reason expired) on open and new connections', async () => {
    await adminCall('PUT', '/v1/auth/roles/rw-all', { grants: [{ scope: 'namespace', access: 'write', prefix: '/' }] });
    const made = generateToken();
    const bad = await adminCall('POST', '/v1/auth/tokens', { id: made.id, secret: made.secret, role: 'rw-all', ttlMs: 10 });
    expect(bad).toMatchObject({ status: 400, body: { error: { code: ErrorCode.INVALID_ARGUMENT, details: { field: 'ttlMs' } } } });
    const before = Date.now();
    const res = await adminCall('POST', '/v1/auth/tokens', { id: made.id, secret: made.secret, role: 'rw-all', ttlMs: 3_000 });
    expect(res.status).toBe(201);
    const expiresAt = res.body!.expiresAt as number;
    expect(expiresAt).toBeGreaterThanOrEqual(before + 3_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 3_000);
    const c = await connect({ token: made.token });
    await c.create('/expiring', '1');
    await sleep(expiresAt - Date.now() + 100);
    // No command expires it: each node's clock does, on connections already open and on new ones.
    await expect(c.set('/expiring', '2')).rejects.toMatchObject({ code: ErrorCode.UNAUTHENTICATED, details: { reason: 'expired' } });
    expect(await rejection(connect({ token: made.token }))).toMatchObject({ code: ErrorCode.UNAUTHENTICATED, details: { reason: 'expired' } });
    expect((await admin.get('/expiring')).data.toString()).toBe('1');
    const listed = (await adminCall('GET', '/v1/auth')).body!.tokens as Array<{ id: string; expiresAt: number | null; expired: boolean }>;
    expect(listed).toContainEqual(expect.objectContaining({ id: made.id, expiresAt, expired: true }));
  });

  test('token rotation: a new secret for the same token; the old one opens nothing, a client moved to the new one keeps its session across a reconnect', async () => {
    await adminCall('PUT', '/v1/auth/roles/rotating', { grants: [{ scope: 'namespace', access: 'write', prefix: '/rotating' }] });
    const old = await tokenFor('rotating');
    const id = old.slice(0, old.indexOf('.'));
    const c = await connect({ token: old, session: { timeoutMs: 10_000 }, timeoutMs: 10_000 });
    await c.create('/rotating', 'x', { mode: 'ephemeral' });
    const sessionId = c.session!.id;
    const fresh = generateToken();
    const rotated = await adminCall('PUT', `/v1/auth/tokens/${id}`, { secret: fresh.secret, ttlMs: 3_600_000 });
    expect(rotated).toMatchObject({ status: 200, body: { id, role: 'rotating', expiresAt: expect.any(Number) } });
    const renewed = `${id}.${fresh.secret}`;
    expect(await rejection(connect({ token: old }))).toMatchObject({ code: ErrorCode.UNAUTHENTICATED, details: { reason: 'bad-token' } });
    await c.set('/rotating', 'still the same principal'); // the open connection goes on
    c.setToken(renewed);
    expect(() => c.setToken('not a token')).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    // Take its node away: the client reconnects elsewhere with the new secret and resumes its session.
    const node = t.cluster.nodes.find((n) => n.client === c.endpoint)!;
    await t.cluster.kill(node.id, 'SIGKILL');
    try {
      await c.set('/rotating', 'after the reconnect');
      expect(c.endpoint).not.toBe(node.client);
      expect(c.session!.id).toBe(sessionId);
      expect((await admin.exists('/rotating'))?.stat.ephemeralOwner).toBe(sessionId);
    } finally {
      t.cluster.start(node.id);
      const leaderId = await t.cluster.waitForLeader();
      const status = await t.cluster.status(leaderId);
      await t.cluster.waitForApplied(status!.commitIndex, 20_000, [node.id]); // serving again before the next test
    }
    await c.close();
  });

  test('certificate rotation without a restart: after SIGHUP every port presents the new certificate; a bad key is refused and changes nothing', async () => {
    /** The SHA-256 fingerprint of the certificate `address` presents (verified against the cluster CA). */
    const presented = (address: string, identity: { cert?: Buffer; key?: Buffer } = {}) => new Promise<string>((resolve, reject) => {
      const socket = tlsConnect({ host: address.slice(0, address.lastIndexOf(':')), port: Number(address.slice(address.lastIndexOf(':') + 1)), ca, ...identity });
      socket.once('secureConnect', () => {
        resolve(socket.getPeerCertificate().fingerprint256);
        socket.destroy();
      });
      socket.once('error', reject);
    });
    const asPeer = { cert: readFileSync(certs.client.cert), key: readFileSync(certs.client.key) }; // the peer port asks for a certificate of the CA
    const node = t.cluster.nodes.find((n) => t.cluster.isRunning(n.id))!;
    const before = new X509Certificate(readFileSync(certs.node.cert)).fingerprint256;
    expect(await presented(node.client)).toBe(before);
    mkdirSync(join(dir, 'rotated'), { recursive: true });
    const rotated = makeCert(join(dir, 'rotated'), 'node', certs.ca, 'hikari-node', ['localhost', '127.0.0.1', '::1']);
    const after = new X509Certificate(readFileSync(rotated.cert)).fingerprint256;
    expect(after).not.toBe(before);
    copyFileSync(rotated.cert, certs.node.cert);
    copyFileSync(rotated.key, certs.node.key);
    for (const n of t.cluster.nodes.filter((x) => t.cluster.isRunning(x.id))) t.cluster.signal(n.id, 'SIGHUP');
    for (let i = 0; i < 50 && (await presented(node.client)) !== after; i++) await sleep(100);
    expect(await presented(node.client)).toBe(after);
    expect(await presented(node.peer, asPeer)).toBe(after);
    expect(await presented(node.admin)).toBe(after);
    // Connections opened before keep working, new ones use the new certificate.
    await admin.create('/rotated', 'x');
    const fresh = await connect({ token: certs.adminToken });
    expect((await fresh.get('/rotated')).data.toString()).toBe('x');
    // A key that is not the certificate's: the reload is refused and logged, the node keeps what it had.
    writeFileSync(certs.node.key, readFileSync(certs.client.key));
    try {
      t.cluster.signal(node.id, 'SIGHUP');
      for (let i = 0; i < 50 && !node.logs.some((l) => l.includes('TLS reload refused')); i++) await sleep(100);
      expect(node.logs.filter((l) => l.includes('TLS reload refused'))).toEqual([expect.stringContaining('not usable for TLS')]);
      expect(await presented(node.client)).toBe(after);
      expect(await presented(node.peer, asPeer)).toBe(after);
    } finally {
      copyFileSync(rotated.key, certs.node.key);
    }
  });

  test('failpoint routes on the admin port need cluster admin: none is 401, another role 403, the admin token 200', async () => {
    expect((await adminCall('GET', '/failpoints', undefined, { tls: { ca } })).status).toBe(401);
    expect((await adminCall('PUT', '/failpoints/raft-after-save', 'crash', { tls: { ca } })).status).toBe(401);
    await adminCall('PUT', '/v1/auth/roles/ns-reader', { grants: [{ scope: 'namespace', access: 'read', prefix: '/' }] });
    const reader = await tokenFor('ns-reader');
    expect((await adminCall('PUT', '/failpoints/raft-after-save', 'crash', { token: reader, tls: { ca } })).status).toBe(403);
    const listed = await adminCall('GET', '/failpoints');
    expect(listed.status).toBe(200);
    expect(listed.body?.['raft-after-save']).toBe('off'); // nothing was armed by the refused calls
  });

  test('client certificates: unbound is refused, bound gets its role, one from another CA is no identity', async () => {
    const clientCert = { ca, cert: readFileSync(certs.client.cert), key: readFileSync(certs.client.key) };
    expect((await rejection(connect({ token: undefined, tls: clientCert }))).code).toBe(ErrorCode.UNAUTHENTICATED);
    await adminCall('PUT', '/v1/auth/roles/certs-read', { grants: [{ scope: 'namespace', access: 'read', prefix: '/tls' }] });
    expect((await adminCall('PUT', '/v1/auth/certs/hikari-client', { role: 'certs-read' })).status).toBe(200);
    const byCert = await connect({ token: undefined, tls: clientCert });
    expect((await byCert.get('/tls')).data.toString()).toBe('over tls');
    await expect(byCert.create('/tls/x', '')).rejects.toMatchObject({ code: ErrorCode.PERMISSION_DENIED });
    const foreignCert = { ca, cert: readFileSync(foreign.client.cert), key: readFileSync(foreign.client.key) };
    expect((await rejection(connect({ token: undefined, tls: foreignCert }))).code).toBe(ErrorCode.UNAUTHENTICATED);
    await adminCall('DELETE', '/v1/auth/certs/hikari-client');
  });

  test('revocation: a client certificate the renewed list names is no identity after SIGHUP; the others still are', async () => {
    mkdirSync(join(dir, 'crl-clients'), { recursive: true });
    const [doomed, kept] = [makeCert(join(dir, 'crl-clients'), 'doomed', certs.ca, 'crl-client'), makeCert(join(dir, 'crl-clients'), 'kept', certs.ca, 'crl-client')];
    const as = (files: CertFiles) => ({ token: undefined, tls: { ca, cert: readFileSync(files.cert), key: readFileSync(files.key) } });
    await adminCall('PUT', '/v1/auth/roles/crl-role', { grants: [{ scope: 'namespace', access: 'write', prefix: '/crl' }] });
    expect((await adminCall('PUT', '/v1/auth/certs/crl-client', { role: 'crl-role' })).status).toBe(200);
    const before = await connect(as(doomed));
    await before.create('/crl', 'by the doomed certificate');
    makeCrl(dir, 'crl', certs.ca, [doomed]); // the same file, renewed
    for (const n of t.cluster.nodes.filter((x) => t.cluster.isRunning(x.id))) t.cluster.signal(n.id, 'SIGHUP');
    let refused: HikariError | null = null;
    for (let i = 0; i < 50 && refused === null; i++) {
      refused = await connect(as(doomed)).then(async (c) => (await c.close(), null), (e: HikariError) => e);
      if (refused === null) await sleep(100);
    }
    expect(refused).toMatchObject({ code: ErrorCode.UNAUTHENTICATED, details: { reason: 'missing' } }); // the certificate no longer verifies: no identity
    const other = await connect(as(kept)); // same subject, not revoked
    expect((await other.get('/crl')).data.toString()).toBe('by the doomed certificate');
    await adminCall('DELETE', '/v1/auth/certs/crl-client');
  });

  test('roles: each kind of operation is allowed with its grant and denied without, and a denial changes nothing', async () => {
    await admin.create('/data', 'd0');
    await admin.create('/data/k', 'v0');
    await admin.create('/secret', 's0');
    const roles: Record<string, Array<{ scope: string; access: string; prefix: string }>> = {
      reader: [{ scope: 'namespace', access: 'read', prefix: '/data' }],
      writer: [{ scope: 'namespace', access: 'write', prefix: '/data' }],
      locker: [{ scope: 'locks', access: 'write', prefix: 'jobs/' }],
      'lock-reader': [{ scope: 'locks', access: 'read', prefix: 'jobs/' }],
      registrar: [{ scope: 'services', access: 'write', prefix: 'orders' }],
      'service-reader': [{ scope: 'services', access: 'read', prefix: '' }],
      operator: [{ scope: 'cluster', access: 'read', prefix: '' }],
    };
    const clients: Record<string, HikariClient> = {};
    for (const [role, grants] of Object.entries(roles)) {
      expect((await adminCall('PUT', `/v1/auth/roles/${role}`, { grants })).status).toBe(200);
      clients[role] = await connect({ token: await tokenFor(role), session: { timeoutMs: 5_000 } });
    }
    const deniedBefore = await metric('hikari_auth_denied_total');
    const outcome = async (call: () => Promise<unknown>): Promise<string> => {
      try {
        await call();
        return 'ok';
      } catch (e) {
        if (HikariError.is(e)) return e.code;
        throw e;
      }
    };
    const { reader, writer, locker, registrar } = clients;
    const lockReader = clients['lock-reader']!;
    const serviceReader = clients['service-reader']!;
    const operator = clients.operator!;
    const DENIED = ErrorCode.PERMISSION_DENIED;
    // Namespace reads and writes.
    expect(await outcome(() => reader!.get('/data/k'))).toBe('ok');
    expect(await outcome(() => reader!.children('/data'))).toBe('ok');
    expect(await outcome(() => reader!.get('/secret'))).toBe(DENIED);
    expect(await outcome(() => reader!.set('/data/k', 'r'))).toBe(DENIED);
    expect(await outcome(() => reader!.create('/data/r', ''))).toBe(DENIED);
    expect(await outcome(() => writer!.set('/data/k', 'w1'))).toBe('ok');
    expect(await outcome(() => writer!.create('/data/w', ''))).toBe('ok');
    expect(await outcome(() => writer!.delete('/data/w'))).toBe('ok');
    expect(await outcome(() => writer!.set('/secret', 'w'))).toBe(DENIED);
    expect(await outcome(() => writer!.multi([{ op: 'set', path: '/data/k', data: 'w2' }, { op: 'delete', path: '/secret' }]))).toBe(DENIED);
    expect(await outcome(() => locker!.set('/data/k', 'l'))).toBe(DENIED);
    // Watches.
    expect(await outcome(() => reader!.watch('/data', { kind: 'children' }).ready)).toBe('ok');
    expect(await outcome(() => reader!.watch('/secret').ready)).toBe(DENIED);
    // Locks.
    const grant = await locker!.locks.acquire('jobs/nightly');
    expect(await outcome(() => lockReader.lockInfo('jobs/nightly'))).toBe('ok');
    expect(await outcome(() => lockReader.locks.tryAcquire('jobs/nightly'))).toBe(DENIED);
    expect(await outcome(() => locker!.locks.tryAcquire('other/lock'))).toBe(DENIED);
    expect(await outcome(() => reader!.lockInfo('jobs/nightly'))).toBe(DENIED);
    await locker!.locks.release(grant);
    // Services.
    const handle = await registrar!.discovery.register({ service: 'orders', id: 'o1', host: '127.0.0.1', port: 8080 });
    expect(await outcome(() => registrar!.create('/services/billing', ''))).toBe(DENIED);
    expect((await serviceReader.discovery.instances('orders')).map((i) => i.id)).toEqual(['o1']);
    expect(await outcome(() => serviceReader.create('/services/orders/fake', ''))).toBe(DENIED);
    expect(await outcome(() => reader!.discovery.instances('orders'))).toBe(DENIED);
    await handle.deregister();
    // The cluster: status needs cluster read, membership and auth need cluster admin.
    const operatorToken = { token: (await tokenFor('operator')), tls: { ca } };
    expect((await adminCall('GET', '/status', undefined, operatorToken)).status).toBe(200);
    expect((await adminCall('GET', '/status', undefined, { tls: { ca } })).status).toBe(401);
    expect((await adminCall('POST', '/members', { id: 9, peer: '127.0.0.1:1', client: '127.0.0.1:2' }, operatorToken)).status).toBe(403);
    expect((await adminCall('GET', '/v1/auth', undefined, operatorToken)).status).toBe(403);
    expect((await adminCall('GET', '/v1/services', undefined, operatorToken)).status).toBe(403);
    void operator;
    // Nothing a denied request asked for happened.
    expect((await admin.get('/data/k')).data.toString()).toBe('w1');
    expect((await admin.get('/secret')).data.toString()).toBe('s0');
    expect(await admin.exists('/data/r')).toBeNull();
    expect(await admin.exists('/services/billing')).toBeNull();
    expect(await admin.exists('/services/orders/fake')).toBeNull();
    expect(await metric('hikari_auth_denied_total')).toBeGreaterThanOrEqual(deniedBefore + 15);
  });

  test('a session belongs to the principal that opened it: another may not resume, renew or close it by id; an admin may', async () => {
    await adminCall('PUT', '/v1/auth/roles/plain', { grants: [] });
    const [tokenA, tokenB] = [await tokenFor('plain'), await tokenFor('plain')];
    const leader = t.cluster.node(await t.cluster.waitForLeader());
    const as = async (token: string) => {
      const c = await RawConnection.open(leader.client, { ca });
      expect((await c.call(1, 'hello', { protocol: 1, token })).t).toBe(2);
      return c;
    };
    const a = await as(tokenA);
    const opened = (await a.call(2, 'session.open', { timeoutMs: 5_000, attach: false })) as { t: number; r: { sessionId: string } };
    const sessionId = opened.r.sessionId;
    const b = await as(tokenB);
    const code = (e: { t: number; e?: { code: string } }) => (e.t === 3 ? e.e!.code : 'ok');
    expect(code((await b.call(2, 'session.resume', { sessionId })) as never)).toBe(ErrorCode.PERMISSION_DENIED);
    expect(code((await b.call(3, 'session.keepalive', { sessionIds: [sessionId] })) as never)).toBe(ErrorCode.PERMISSION_DENIED);
    expect(code((await b.call(4, 'session.close', { sessionId })) as never)).toBe(ErrorCode.PERMISSION_DENIED);
    expect(code((await a.call(3, 'session.keepalive', { sessionIds: [sessionId] })) as never)).toBe('ok');
    const root = await as(certs.adminToken);
    expect(code((await root.call(2, 'session.close', { sessionId })) as never)).toBe('ok');
    for (const c of [a, b, root]) c.socket.destroy();
  });

  test('a client id counts within its principal: another principal naming the same id neither gets its outcomes nor pre-empts its seqs', async () => {
    await adminCall('PUT', '/v1/auth/roles/rw-all', { grants: [{ scope: 'namespace', access: 'write', prefix: '/' }] });
    const [tokenA, tokenB] = [await tokenFor('rw-all'), await tokenFor('rw-all')];
    const leader = t.cluster.node(await t.cluster.waitForLeader());
    const as = async (token: string) => {
      const c = await RawConnection.open(leader.client, { ca });
      const hello = (await c.call(1, 'hello', { protocol: 1, token, clientId: 'shared-client-id' })) as { t: number; r: { clientId: string } };
      expect(hello.r.clientId).toBe('shared-client-id');
      return c;
    };
    const code = (e: { t: number; e?: { code: string } }) => (e.t === 3 ? e.e!.code : 'ok');
    const create = (c: RawConnection, id: number, path: string) => c.call(id, 'create', { path, data: Buffer.alloc(0), mode: 'persistent', seq: 1 }) as never;
    const [a, b] = [await as(tokenA), await as(tokenB)];
    expect(code(await create(b, 2, '/dedup-of-b'))).toBe('ok');
    expect(code(await create(a, 2, '/dedup-of-a'))).toBe('ok'); // its own seq 1: applied, not answered with b's outcome
    expect(code(await create(a, 3, '/dedup-of-a'))).toBe('ok'); // a's retry: answered as the first time
    const exists = (await a.call(4, 'exists', { path: '/dedup-of-a' })) as { t: number; r: unknown };
    expect(exists.t).toBe(2);
    expect(exists.r).not.toBeNull();
    for (const c of [a, b]) c.socket.destroy();
  });

  test('the README security example runs: a token of role app writes under /app and is refused elsewhere', async () => {
    await adminCall('PUT', '/v1/auth/roles/app', { grants: [{ scope: 'namespace', access: 'write', prefix: '/app' }] });
    await admin.create('/app', '');
    const lines: string[] = [];
    await secureExample(t.cluster.endpoints, certs.ca.cert, await tokenFor('app'), (line) => lines.push(line));
    expect(lines).toEqual(['read from a token of role app', 'refused: write on namespace /elsewhere']);
  });

  test('the CLI over TLS: auth commands with the admin token, a token it made works, no token is exit code 8', async () => {
    const cli = (...args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      const base = ['--endpoints', t.cluster.endpoints.join(','), '--admin', t.cluster.nodes.map((n) => n.admin).join(','), '--ca', certs.ca.cert, '--timeout', '5000'];
      execFile(process.execPath, [resolvePath(__dirname, '..', '..', 'server', 'dist', 'cli', 'hikari.js'), ...base, ...args], (err, stdout, stderr) => {
        done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: stdout.trim(), stderr: stderr.trim() });
      });
    });
    const asAdmin = ['--token', certs.adminToken];
    expect(await cli(...asAdmin, 'auth', 'role', 'set', 'cli-app', '--grant', 'namespace:write:/cli', '--grant', 'locks:read:')).toMatchObject({ code: 0, stdout: 'created role cli-app' });
    const made = await cli(...asAdmin, 'auth', 'token', 'create', '--role', 'cli-app', '--note', 'from the CLI test');
    expect(made.code).toBe(0);
    expect(made.stdout).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    const listed = JSON.parse((await cli(...asAdmin, '--json', 'auth', 'ls')).stdout) as { tokens: Array<{ id: string; role: string; note: string }> };
    expect(listed.tokens).toContainEqual(expect.objectContaining({ id: made.stdout.split('.')[0], role: 'cli-app', note: 'from the CLI test' }));
    expect(JSON.stringify(listed)).not.toContain(made.stdout.split('.')[1]); // the secret is never shown again
    expect(await cli('--token', made.stdout, 'create', '/cli', 'x')).toMatchObject({ code: 0, stdout: '/cli' });
    expect(await cli('--token', made.stdout, 'create', '/elsewhere', 'x')).toMatchObject({ code: 8 });
    expect(await cli('get', '/cli')).toMatchObject({ code: 8 });
    expect(await cli('--token', made.stdout, 'auth', 'ls')).toMatchObject({ code: 8 });
    expect(await cli(...asAdmin, 'auth', 'token', 'revoke', made.stdout.split('.')[0]!)).toMatchObject({ code: 0 });
    expect(await cli('--token', made.stdout, 'get', '/cli')).toMatchObject({ code: 8 });
    const expiring = await cli(...asAdmin, '--json', 'auth', 'token', 'create', '--role', 'cli-app', '--ttl', '1h');
    expect(expiring.code).toBe(0);
    const { expiresAt } = JSON.parse(expiring.stdout) as { expiresAt: number };
    expect(Math.abs(expiresAt - (Date.now() + 3_600_000))).toBeLessThan(60_000);
    expect((await cli(...asAdmin, 'auth', 'ls')).stdout).toContain(`expires ${new Date(expiresAt).toISOString()}`);
    expect(await cli(...asAdmin, 'auth', 'token', 'create', '--role', 'cli-app', '--ttl', 'soon')).toMatchObject({ code: 2 });
    const expiringId = (JSON.parse(expiring.stdout) as { id: string }).id;
    const rotated = await cli(...asAdmin, 'auth', 'token', 'rotate', expiringId);
    expect(rotated.stdout).toMatch(new RegExp(`^${expiringId}\\.[A-Za-z0-9_-]{43}$`));
    expect(await cli('--token', rotated.stdout, 'create', '/cli/rotated', 'x')).toMatchObject({ code: 0 });
    expect(await cli('--token', JSON.parse(expiring.stdout).token as string, 'get', '/cli')).toMatchObject({ code: 8 });
    expect(await cli(...asAdmin, 'auth', 'token', 'rotate', 'no-such-token')).toMatchObject({ code: 2 });
  });

  test('a node whose certificate another CA signed cannot join; a good node joins by snapshot over mutual TLS and knows the tokens', async () => {
    // Enough entries that a new node needs a snapshot (--snapshot-every 100).
    for (let i = 0; i < 12; i++) await admin.multi(Array.from({ length: 10 }, (_, j) => ({ op: 'create' as const, path: `/bulk-${i}-${j}`, data: 'x' })));
    await adminCall('PUT', '/v1/auth/roles/late-reader', { grants: [{ scope: 'namespace', access: 'read', prefix: '/bulk-0-0' }] });
    const lateToken = await tokenFor('late-reader');

    // A node with a certificate of another CA, added as a member: the cluster's dials to it fail
    // certificate verification, so it never receives a single entry.
    const bad = await t.cluster.addNodeDefinition();
    const badNode = await startForeignNode(t, bad.id, foreign);
    foreignNode = badNode;
    expect((await adminCall('POST', '/members', { id: bad.id, peer: bad.peer, client: bad.client })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 3_000));
    const leaderId = await t.cluster.waitForLeader();
    const leaderStatus = (await adminCall('GET', '/status')).body as { members: Array<{ id: number; match?: number }> };
    expect(leaderStatus.members.find((m) => m.id === bad.id)?.match ?? 0).toBe(0);
    const aboutBad = t.cluster.node(leaderId).logs.filter((line) => line.includes(`"peer":${bad.id}`));
    expect(aboutBad).toEqual(expect.arrayContaining([expect.stringMatching(/cannot connect to peer.*certificate|certificate.*cannot connect to peer/)]));
    await badNode.stop();
    expect((await adminCall('DELETE', `/members/${bad.id}`)).status).toBe(200);

    // A certificate of the cluster CA, valid for this host, but made for a client (CN hikari-client):
    // --tls-peer-name hikari-node keeps it out too.
    mkdirSync(join(dir, 'impostor'), { recursive: true });
    const clientForThisHost = makeCert(join(dir, 'impostor'), 'client', certs.ca, 'hikari-client', ['localhost', '127.0.0.1']);
    const impostor = await t.cluster.addNodeDefinition();
    const impostorNode = await startForeignNode(t, impostor.id, { ca: certs.ca, node: clientForThisHost });
    foreignNode = impostorNode;
    expect((await adminCall('POST', '/members', { id: impostor.id, peer: impostor.peer, client: impostor.client })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 3_000));
    const impostorStatus = (await adminCall('GET', '/status')).body as { members: Array<{ id: number; match?: number }> };
    expect(impostorStatus.members.find((m) => m.id === impostor.id)?.match ?? 0).toBe(0);
    // Every member dials the new one (and each refuses its certificate's names).
    const refusedBy = t.cluster.nodes.filter((n) => n.id !== impostor.id && t.cluster.isRunning(n.id) && n.logs.some((line) => line.includes('does not name hikari-node') && line.includes(`node ${impostor.id}`)));
    expect(refusedBy.length).toBeGreaterThan(0);
    await impostorNode.stop();
    expect((await adminCall('DELETE', `/members/${impostor.id}`)).status).toBe(200);
    // Dialing the cluster's peer port with that certificate (or none, or plain TCP): refused in the handshake, and counted.
    const refusedBefore = await metric('hikari_peer_tls_refused');
    const peerPort = t.cluster.node(leaderId).peer;
    expect(await peerHandshake(peerPort, { cert: readFileSync(foreign.node.cert), key: readFileSync(foreign.node.key) })).toBe('refused');
    expect(await peerHandshake(peerPort, {})).toBe('refused');
    expect(await peerHandshake(peerPort, { cert: readFileSync(certs.node.cert), key: readFileSync(certs.node.key) })).toBe('accepted');
    expect(await metric('hikari_peer_tls_refused')).toBeGreaterThanOrEqual(refusedBefore + 2);

    const good = await t.cluster.addNodeDefinition();
    t.cluster.start(good.id, true);
    expect((await adminCall('POST', '/members', { id: good.id, peer: good.peer, client: good.client })).status).toBe(200);
    const commit = ((await adminCall('GET', '/status')).body as { commitIndex: number }).commitIndex;
    await t.cluster.waitForApplied(commit, 30_000, [good.id]);
    expect(t.cluster.node(good.id).logs.some((line) => line.includes('snapshot installed'))).toBe(true);
    // The new node learnt the auth records from the snapshot: it accepts a token made before it joined.
    const onNew = await t.client([good.client], { token: lateToken, timeoutMs: CLIENT_TIMEOUT_MS, session: false });
    expect((await onNew.get('/bulk-0-0', { stale: true })).data.toString()).toBe('x');
    await expect(onNew.get('/bulk-0-1', { stale: true })).rejects.toMatchObject({ code: ErrorCode.PERMISSION_DENIED });
    await onNew.close();
    expect((await adminCall('DELETE', `/members/${good.id}`)).status).toBe(200);
    await t.cluster.kill(good.id, 'SIGTERM');
  });
});

/**
 * A TLS client of a peer port with `identity` (it does not check the node's certificate itself, so
 * that what decides is the node's check of the client): 'accepted' once the node has sent data or
 * kept the connection open for a while after the handshake, 'refused' when it closed it.
 */
function peerHandshake(address: string, identity: { cert?: Buffer; key?: Buffer }): Promise<'accepted' | 'refused'> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve) => {
    const socket = tlsConnect({ host, port, rejectUnauthorized: false, ...identity });
    let settled = false;
    const settle = (outcome: 'accepted' | 'refused') => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(outcome);
    };
    socket.on('error', () => settle('refused'));
    socket.on('close', () => settle('refused'));
    // TLS 1.3: the node checks the client's certificate after the client's handshake is done; a
    // refusal arrives as an alert right after. No alert within a second: accepted.
    socket.on('secureConnect', () => setTimeout(() => settle('accepted'), 1_000));
  });
}

/**
 * Runs node `id` of `t` with certificates of another CA (the harness starts nodes with the
 * cluster's flags; this one needs its own TLS files).
 */
async function startForeignNode(t: TestCluster, id: number, foreign: { ca: CertFiles; node: CertFiles }): Promise<{ logs(): string[]; stop(): Promise<void> }> {
  const { spawn } = await import('node:child_process');
  const { SERVER_SCRIPT } = await import('./harness');
  const n = t.cluster.node(id);
  const child = spawn(process.execPath, [
    SERVER_SCRIPT, '--id', String(id), '--cluster-id', t.clusterId, '--data-dir', `${n.dataDir}-foreign`, '--client-address', n.client,
    '--peer-address', n.peer, '--admin-address', n.admin, '--join', '--cluster', t.cluster.clusterSpec,
    '--tls-cert', foreign.node.cert, '--tls-key', foreign.node.key, '--tls-ca', foreign.ca.cert,
  ], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HIKARI_EXIT_WITH_PARENT: String(process.pid), HIKARI_ADMIN_TOKEN: 'f'.repeat(40) } });
  const lines: string[] = [];
  child.stdout.on('data', (c: Buffer) => lines.push(...c.toString().split('\n')));
  child.stderr.on('data', (c: Buffer) => lines.push(...c.toString().split('\n')));
  for (let waited = 0; !lines.some((line) => line.includes('node started')) && waited < 15_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
  return {
    logs: () => lines,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    }),
  };
}
