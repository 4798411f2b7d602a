/**
 * Registration on the in-memory namespace (fake-namespace.test.ts): what is written, replacing a
 * stale record, updates (atomic, coalesced, retried), deregistration, re-registration after a
 * session expiry, and the health probe driving the status.
 */
import { createServer, Server } from 'node:http';
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { eventually } from '../scripted-peer.test';
import { Discovery } from './discovery';
import { FakeNamespace } from './fake-namespace.test';
import { InstanceHandle, RegisteredEvent, RetryingEvent, StatusEvent } from './instance-handle';
import { rejection } from '../testing/errors';

const PATH = '/services/api/api-1';


function setup(options: { sessions?: boolean } = {}): { ns: FakeNamespace; discovery: Discovery } {
  const ns = new FakeNamespace(options);
  const discovery = new Discovery(ns, () => 0.5);
  discoveries.push(discovery);
  return { ns, discovery };
}

const discoveries: Discovery[] = [];
afterEach(() => {
  for (const discovery of discoveries.splice(0)) discovery.close();
});

const register = (discovery: Discovery, extra: Record<string, unknown> = {}): Promise<InstanceHandle> =>
  discovery.register({ service: 'api', id: 'api-1', host: '10.0.0.5', port: 8080, ...extra });

describe('register', () => {
  test('creates the parents (persistent), then the record as an ephemeral node of the session', async () => {
    const { ns, discovery } = setup();
    const handle = await register(discovery, { tags: ['v2'], metadata: { zone: 'a' }, weight: 5, protocol: 'http' });
    expect(ns.callsOf('create').map((call) => call.path)).toEqual([PATH, '/services', '/services/api', PATH]);
    expect(ns.nodes.get('/services')!.stat.ephemeralOwner).toBeNull();
    expect(ns.nodes.get('/services/api')!.stat.ephemeralOwner).toBeNull();
    expect(ns.nodes.get(PATH)!.stat.ephemeralOwner).toBe('session-1');
    expect(ns.json(PATH)).toEqual({
      v: 1, service: 'api', id: 'api-1', host: '10.0.0.5', port: 8080, protocol: 'http', tags: ['v2'], metadata: { zone: 'a' },
      weight: 5, status: 'passing', registeredAt: expect.any(Number),
    });
    expect([handle.path, handle.state, handle.registered, handle.sessionId]).toEqual([PATH, 'registered', true, 'session-1']);
    expect(handle.modifiedIndex).toBe(ns.nodes.get(PATH)!.stat.createdIndex);
  });

  test('the parents existing already is fine; a second service reuses /services', async () => {
    const { ns, discovery } = setup();
    await register(discovery);
    await discovery.register({ service: 'api', id: 'api-2', host: 'h', port: 1 });
    await discovery.register({ service: 'db', id: 'db-1', host: 'h', port: 2 });
    expect([...ns.nodes.keys()].sort()).toEqual(['/services', '/services/api', PATH, '/services/api/api-2', '/services/db', '/services/db/db-1']);
  });

  test('without an id, a random UUID', async () => {
    const { discovery } = setup();
    const handle = await discovery.register({ service: 'api', host: 'h', port: 1 });
    expect(handle.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  test('bad options are refused before anything is sent; so is a client without sessions', async () => {
    const { ns, discovery } = setup();
    expect((await rejection(register(discovery, { port: 0 }))).details.field).toBe('port');
    expect((await rejection(register(discovery, { id: '../x' }))).details.field).toBe('id');
    expect((await rejection(register(discovery, { metadata: { x: 'y'.repeat(9000) } }))).code).toBe(ErrorCode.TOO_LARGE);
    expect((await rejection(register(discovery, { check: { tcp: 'nope' } }))).details.field).toBe('check.tcp');
    expect(ns.calls).toEqual([]);
    const noSessions = setup({ sessions: false });
    const error = await rejection(register(noSessions.discovery));
    expect([error.code, error.details.field]).toEqual([ErrorCode.INVALID_ARGUMENT, 'session']);
    expect(noSessions.ns.calls).toEqual([]);
  });

  test('a stale record of the same id (another, older session) is replaced in one multi, at the version read', async () => {
    const { ns, discovery } = setup();
    ns.createAs(null, '/services', '');
    ns.createAs(null, '/services/api', '');
    ns.createAs('session-old', PATH, JSON.stringify({ v: 1, host: 'old-host', port: 1 }));
    ns.setDirect(PATH, JSON.stringify({ v: 1, host: 'old-host', port: 2 })); // version 1
    const handle = await register(discovery);
    const multi = ns.callsOf('multi');
    expect(multi).toHaveLength(1);
    expect((multi[0]!.args as { ops: unknown[] }).ops).toEqual([
      { op: 'delete', path: PATH, version: 1 },
      { op: 'create', path: PATH, data: expect.any(Buffer), mode: 'ephemeral' },
    ]);
    expect(ns.nodes.get(PATH)!.stat.ephemeralOwner).toBe('session-1');
    expect(ns.json(PATH).host).toBe('10.0.0.5');
    expect(handle.registered).toBe(true);
  });

  test('a replace that races with another change starts over', async () => {
    const { ns, discovery } = setup();
    ns.createAs(null, '/services', '');
    ns.createAs(null, '/services/api', '');
    ns.createAs('session-old', PATH, JSON.stringify({ v: 1, host: 'old', port: 1 }));
    ns.fail('multi', HikariError.badVersion(PATH, 0));
    await register(discovery);
    expect(ns.callsOf('multi')).toHaveLength(2);
    expect(ns.nodes.get(PATH)!.stat.ephemeralOwner).toBe('session-1');
  });

  test('a second live handle for the same id in one client is NODE_EXISTS; after deregister, the id is free', async () => {
    const { discovery } = setup();
    const first = await register(discovery);
    const error = await rejection(register(discovery));
    expect(error.code).toBe(ErrorCode.NODE_EXISTS);
    expect(error.message).toContain('already registered by this client');
    const removal = first.deregister();
    const second = register(discovery); // waits for the removal, then registers
    await removal;
    expect((await second).registered).toBe(true);
  });

  test('a failed first write rejects register; a record it may have left is removed, and the id is free again', async () => {
    const { ns, discovery } = setup();
    ns.createAs(null, '/services', '');
    ns.createAs(null, '/services/api', '');
    ns.fail('create', new HikariError(ErrorCode.TIMEOUT, {}), 1, PATH);
    expect((await rejection(register(discovery))).code).toBe(ErrorCode.TIMEOUT);
    await eventually(() => ns.callsOf('exists').length > 0, 2000, 'the clean-up');
    const handle = await register(discovery);
    expect(handle.registered).toBe(true);
  });
});

describe('update', () => {
  test('sets the record at the version it wrote, in one write; says `status`', async () => {
    const { ns, discovery } = setup();
    const handle = await register(discovery, { tags: ['v1'] });
    const heard: StatusEvent[] = [];
    handle.on('status', (event) => heard.push(event));
    await handle.update({ status: 'warning', weight: 7, tags: ['v2'], metadata: { build: 42 } });
    const sets = ns.callsOf('set');
    expect(sets).toHaveLength(1);
    expect((sets[0]!.args as { version: number }).version).toBe(0);
    expect(ns.json(PATH)).toMatchObject({ status: 'warning', weight: 7, tags: ['v2'], metadata: { build: 42 }, host: '10.0.0.5' });
    expect(heard).toEqual([{ status: 'warning', previous: 'passing', by: 'update' }]);
    await handle.update({ weight: 8 }); // the rest stays
    expect(ns.json(PATH)).toMatchObject({ status: 'warning', weight: 8, tags: ['v2'] });
    expect((ns.callsOf('set')[1]!.args as { version: number }).version).toBe(1);
    expect(handle.record.weight).toBe(8);
  });

  test('updates during a write are coalesced into one write of the latest data', async () => {
    const { ns, discovery } = setup();
    const handle = await register(discovery);
    const release = ns.hold('set');
    const first = handle.update({ weight: 2 });
    await eventually(() => ns.callsOf('set').length === 1);
    const rest = [handle.update({ weight: 3 }), handle.update({ status: 'maintenance' }), handle.update({ weight: 4 })];
    release();
    await Promise.all([first, ...rest]);
    expect(ns.callsOf('set')).toHaveLength(2);
    expect(ns.json(PATH)).toMatchObject({ weight: 4, status: 'maintenance' });
  });

  test('bad changes are refused without a write; a deregistered handle refuses updates', async () => {
    const { ns, discovery } = setup();
    const handle = await register(discovery);
    expect((await rejection(handle.update({ status: 'down' as never }))).details.field).toBe('status');
    expect((await rejection(handle.update({ tags: ['a', 'a'] }))).details.field).toBe('tags[1]');
    expect(ns.callsOf('set')).toEqual([]);
    await handle.deregister();
    const error = await rejection(handle.update({ weight: 2 }));
    expect(error.code).toBe(ErrorCode.CANCELLED);
    expect(error.message).toBe(`${PATH}: the instance was deregistered`);
  });

  test('a record deleted by someone else is written again by the next update (`registered`, reason lost)', async () => {
    const { ns, discovery } = setup();
    const handle = await register(discovery);
    const heard: RegisteredEvent[] = [];
    handle.on('registered', (event) => heard.push(event));
    ns.deleteDirect(PATH);
    await handle.update({ weight: 9 });
    expect(ns.json(PATH).weight).toBe(9);
    expect(heard).toEqual([{ reason: 'lost', sessionId: 'session-1', index: ns.nodes.get(PATH)!.stat.createdIndex }]);
  });

  test('a failed write rejects the update (TIMEOUT), says `retrying`, and goes on until written', async () => {
    const { ns, discovery } = setup();
    const handle = await register(discovery);
    const retries: RetryingEvent[] = [];
    handle.on('retrying', (event) => retries.push(event));
    ns.fail('set', new HikariError(ErrorCode.TIMEOUT, {}), 2);
    expect((await rejection(handle.update({ status: 'critical' }))).code).toBe(ErrorCode.TIMEOUT);
    await eventually(() => ns.json(PATH).status === 'critical', 3000, 'the retried write');
    expect(retries.map((event) => [event.error.code, event.attempt])).toEqual([[ErrorCode.TIMEOUT, 1], [ErrorCode.TIMEOUT, 2]]);
    expect(retries[0]!.delayMs).toBeGreaterThan(0);
  });
});

describe('deregister', () => {
  test('deletes the record at its version; idempotent', async () => {
    const { ns, discovery } = setup();
    const handle = await register(discovery);
    await handle.deregister();
    await handle.deregister();
    expect(ns.nodes.has(PATH)).toBe(false);
    expect(ns.nodes.has('/services/api')).toBe(true); // the service node stays
    expect(handle.state).toBe('deregistered');
    expect(ns.callsOf('delete')).toHaveLength(1);
  });

  test('a write waiting out its backoff is dropped: the removal goes at once, and nothing is written after it', async () => {
    const { ns, discovery } = setup();
    const handle = await register(discovery);
    const retries: RetryingEvent[] = [];
    handle.on('retrying', (event) => retries.push(event));
    ns.fail('set', new HikariError(ErrorCode.TIMEOUT, {}), 4);
    expect((await rejection(handle.update({ weight: 2 }))).code).toBe(ErrorCode.TIMEOUT);
    await eventually(() => retries.length === 4, 3000, 'four failed attempts');
    const dueIn = retries[3]!.delayMs; // 600 ms with this random source
    const started = Date.now();
    await handle.deregister();
    expect(Date.now() - started).toBeLessThan(dueIn / 2); // it did not wait for the retry
    expect(ns.nodes.has(PATH)).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, dueIn + 100));
    expect(ns.callsOf('set')).toHaveLength(4);
    expect(ns.nodes.has(PATH)).toBe(false);
  });

  test('a record since written by another session is left alone', async () => {
    const { ns, discovery } = setup();
    const handle = await register(discovery);
    ns.deleteDirect(PATH);
    ns.createAs('session-other', PATH, JSON.stringify({ v: 1, host: 'other', port: 1 }));
    await handle.deregister();
    expect(ns.nodes.get(PATH)!.stat.ephemeralOwner).toBe('session-other');
    expect(ns.callsOf('delete')).toEqual([]);
  });
});

describe('session expiry', () => {
  test('the record is written again on the new session with the latest data; `registered` says so', async () => {
    const { ns, discovery } = setup();
    const handle = await register(discovery);
    await handle.update({ metadata: { build: 2 } });
    const heard: RegisteredEvent[] = [];
    handle.on('registered', (event) => heard.push(event));
    ns.expireSession();
    expect(handle.registered).toBe(false);
    await eventually(() => heard.length === 1, 2000, 'the re-registration');
    expect(heard[0]).toEqual({ reason: 'session-expired', sessionId: 'session-2', index: ns.nodes.get(PATH)!.stat.createdIndex });
    expect(ns.nodes.get(PATH)!.stat.ephemeralOwner).toBe('session-2');
    expect(ns.json(PATH).metadata).toEqual({ build: 2 });
    expect([handle.registered, handle.sessionId]).toEqual([true, 'session-2']);
  });

  test('an update made while re-registering waits for it and lands; SESSION_EXPIRED is sat out', async () => {
    const { ns, discovery } = setup();
    const handle = await register(discovery);
    ns.fail('create', new HikariError(ErrorCode.SESSION_EXPIRED, {}), 1, PATH);
    ns.expireSession();
    await handle.update({ status: 'maintenance' });
    expect(ns.json(PATH).status).toBe('maintenance');
    expect(ns.nodes.get(PATH)!.stat.ephemeralOwner).toBe('session-2');
  });

  test('a deregistered handle is not registered again', async () => {
    const { ns, discovery } = setup();
    const handle = await register(discovery);
    await handle.deregister();
    ns.expireSession();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ns.nodes.has(PATH)).toBe(false);
  });

  test('once the client closes, handles stop: updates are CANCELLED, nothing is written on expiry', async () => {
    const { ns, discovery } = setup();
    const handle = await register(discovery);
    discovery.close();
    expect(handle.state).toBe('closed');
    expect((await rejection(handle.update({ weight: 2 }))).code).toBe(ErrorCode.CANCELLED);
    const writes = ns.calls.length;
    ns.expireSession();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ns.calls.length).toBe(writes);
    expect((await rejection(register(discovery))).code).toBe(ErrorCode.CANCELLED);
    await handle.finished();
  });
});

describe('health probe', () => {
  let server: Server;
  let healthy = true;
  let url = '';
  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.writeHead(healthy ? 200 : 503);
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/health`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('a failing check turns the instance critical, a passing one brings back the status it had', async () => {
    healthy = true;
    const { ns, discovery } = setup();
    const handle = await register(discovery, { status: 'warning', check: { http: url, intervalMs: 100, failuresBeforeCritical: 2 } });
    const heard: StatusEvent[] = [];
    handle.on('status', (event) => heard.push(event));
    await eventually(() => handle.healthy === true, 3000, 'a first passing check');
    healthy = false;
    await eventually(() => ns.json(PATH).status === 'critical', 3000, 'critical');
    expect(heard).toEqual([{ status: 'critical', previous: 'warning', by: 'probe', failure: `GET ${url} answered 503` }]);
    healthy = true;
    await eventually(() => ns.json(PATH).status === 'warning', 3000, 'back to warning');
    expect(heard[1]).toEqual({ status: 'warning', previous: 'critical', by: 'probe' });
    await handle.deregister();
  });

  test('a status the application set (maintenance) is left alone by the probe', async () => {
    healthy = true;
    const { ns, discovery } = setup();
    const handle = await register(discovery, { check: { http: url, intervalMs: 100, failuresBeforeCritical: 1 } });
    await handle.update({ status: 'maintenance' });
    healthy = false;
    await eventually(() => handle.healthy === false, 3000, 'a failing check');
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(ns.json(PATH).status).toBe('maintenance');
    await handle.deregister();
    healthy = true;
  });
});
