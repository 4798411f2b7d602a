/**
 * What the MemoryCluster does beyond the contract suites (memory-cluster.contract.test.ts, which it
 * passes as a real cluster does): its own API (expireSession, direct writes), a client's session
 * life (the order of `expired` and `connected`, calls caught by an expiry), close, limits and bad input.
 */
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { rejection } from '../testing/errors';
import { WATCHES_MAX } from '../watch-registry';
import { MemoryClient } from './memory-client';
import { MemoryCluster } from './memory-cluster';
import { HISTORY_CHANGES_MAX } from './memory-watches';

const clients: MemoryClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

async function connect(cluster: MemoryCluster, options = {}): Promise<MemoryClient> {
  const client = await cluster.connect(options);
  clients.push(client);
  return client;
}

describe('MemoryCluster', () => {
  test('an expiry: grants lost, `expired` with the session still marked expired, then `connected` with a new one; a call caught by it fails', async () => {
    const cluster = new MemoryCluster({ clusterId: 'unit' });
    const client = await connect(cluster);
    const first = client.session!;
    expect(first).toMatchObject({ state: 'connected', timeoutMs: 10_000 });
    expect(client.node).toEqual({ endpoint: 'memory', nodeId: 1, clusterId: 'unit', leader: 'memory' });
    await client.create('/app', '');
    const grant = await client.locks.acquire('jobs');
    const said: string[] = [];
    client.on('expired', ({ sessionId }) => said.push(`expired ${sessionId} (${client.session!.state})`));
    client.on('connected', ({ sessionId }) => said.push(`connected ${sessionId}`));
    const caught = client.create('/app/mine', '', { mode: 'ephemeral' }); // under way when the session ends
    cluster.expireSession(first.id);
    expect(grant.lost).toBe(true);
    expect(said).toEqual([`expired ${first.id} (expired)`, `connected ${client.session!.id}`]);
    expect(client.session!.id).not.toBe(first.id);
    expect((await rejection(caught)).code).toBe(ErrorCode.SESSION_EXPIRED);
    // Calls made from now go on the new session.
    expect((await client.create('/app/mine', '', { mode: 'ephemeral' })).stat.ephemeralOwner).toBe(client.session!.id);
    expect(cluster.sessionIds).toEqual([client.session!.id]);
    expect(() => cluster.expireSession(first.id)).toThrow(HikariError);
  });

  test('close: pending waits and calls end with CANCELLED, watches end, the session and what it owned go at once', async () => {
    const cluster = new MemoryCluster();
    const [holder, waiter, other] = await Promise.all([connect(cluster), connect(cluster), connect(cluster)]);
    await other.create('/n', '');
    await waiter.create('/n/e', '', { mode: 'ephemeral' });
    const grant = await holder.locks.acquire('l');
    const waiting = waiter.locks.acquire('l');
    const watch = waiter.watch('/n', { kind: 'children' });
    await watch.ready;
    await waiter.close();
    expect((await rejection(waiting)).code).toBe(ErrorCode.CANCELLED);
    expect(watch.closed).toBe(true);
    expect((await rejection(waiter.get('/n'))).code).toBe(ErrorCode.CANCELLED);
    expect(() => waiter.watch('/n')).toThrow(HikariError);
    expect(waiter.endpoint).toBeNull();
    expect(await other.exists('/n/e')).toBeNull();
    expect((await other.lockInfo('l')).waiters).toEqual([]); // its ticket left the queue
    await holder.locks.release(grant);
  });

  test('direct writes (as another process) follow the rules and are seen by watches', async () => {
    const cluster = new MemoryCluster();
    const client = await connect(cluster);
    const events: string[] = [];
    const watch = client.watch('/', { kind: 'recursive' });
    watch.on('event', (event) => events.push(`${event.type} ${event.path}`));
    await watch.ready;
    cluster.createNode('/d', 'x');
    cluster.createNode('/d/e', 'y', 'someone-else');
    cluster.setNode('/d', 'z');
    cluster.deleteNode('/d/e');
    expect(() => cluster.createNode('/d', '')).toThrow(expect.objectContaining({ code: ErrorCode.NODE_EXISTS }));
    expect(() => cluster.createNode('bad', '')).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_PATH }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).toEqual(['created /d', 'created /d/e', 'changed /d', 'deleted /d/e']);
    expect((await client.get('/d')).data.toString()).toBe('z');
    watch.close();
  });

  test('a watch from an index the history no longer reaches starts with a resync', async () => {
    const cluster = new MemoryCluster();
    const client = await connect(cluster);
    cluster.createNode('/h', '');
    const from = cluster.index;
    for (let i = 0; i <= HISTORY_CHANGES_MAX; i++) cluster.setNode('/h', String(i));
    const items: string[] = [];
    const watch = client.watch('/h', { fromIndex: from });
    watch.on('resync', (item) => items.push(`resync ${item.index}`));
    watch.on('event', (item) => items.push(`${item.type}`));
    await watch.ready;
    await new Promise((resolve) => setImmediate(resolve));
    expect(items).toEqual([`resync ${cluster.index}`]);
    watch.close();
  });

  test('limits and bad input: WATCHES_MAX watches per client, the protocol validators, options', async () => {
    const cluster = new MemoryCluster();
    const client = await connect(cluster, { session: false });
    expect(client.session).toBeNull();
    for (let i = 0; i < WATCHES_MAX; i++) client.watch('/');
    expect(() => client.watch('/')).toThrow(expect.objectContaining({ code: ErrorCode.TOO_LARGE }));
    expect((await rejection(client.create('/x', '', { mode: 'ephemeral' }))).code).toBe(ErrorCode.SESSION_EXPIRED); // no session
    expect((await rejection(client.locks.acquire('l'))).code).toBe(ErrorCode.SESSION_EXPIRED);
    expect((await rejection(client.children('/', { limit: 0 }))).code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(() => client.watch('/', { kind: 'sideways' as 'data' })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    expect((await rejection(client.get('/', { signal: AbortSignal.abort() }))).code).toBe(ErrorCode.CANCELLED);
    expect(() => client.expireSession()).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    await expect(cluster.connect({ timeoutMs: -1 })).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    await expect(cluster.connect({ session: { timeoutMs: 5 } })).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    expect(() => new MemoryCluster({ clusterId: '' })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
  });
});
