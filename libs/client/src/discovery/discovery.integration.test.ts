/**
 * Service discovery against a real 3-node cluster (see real-cluster.test.ts), one cluster for the
 * file; every test uses services of its own. Needs the build (`npx tsc -b`); without
 * `server/dist/main.js` the suite is skipped, and says so.
 *
 * Covered here, on real nodes: what register writes and readers see; updates through a watch and a
 * cache; replacing the record of a live session (another client registering the same id); a session
 * expiry (event loop paused past the timeout) and the automatic re-registration; the HTTP read API
 * on a follower, with a blocking query woken by a registration; a registering client keeping its
 * registration when its node dies, and a cache on that node following on another (last: it kills a
 * node).
 */
import { createServer, Server } from 'node:http';
import { HikariError } from '@hikarikeeper/protocol';
import { HikariClient } from '../client';
import { Cluster, haveServer, SERVER_MAIN, useRealCluster } from '../real-cluster.test';
import { eventually } from '../scripted-peer.test';
import type { RegisteredEvent } from './instance-handle';
import type { ServiceUpdate } from './service-watch';

const CLUSTER_ID = 'discovery-it';

/** Blocks the event loop, as a long GC pause or a stopped process would: no keepalive goes out. */
function pause(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

const ids = (instances: readonly { id: string }[] | undefined): string[] | undefined => instances?.map((instance) => instance.id);

if (!haveServer) console.warn(`discovery.integration.test: skipped, ${SERVER_MAIN} is missing (run npx tsc -b)`);

(haveServer ? describe : describe.skip)('service discovery against a real 3-node cluster', () => {
  const real = useRealCluster(CLUSTER_ID);
  const connect = real.connect.bind(real);
  let cluster: Cluster;
  let reader: HikariClient;

  beforeAll(async () => {
    cluster = real.cluster;
    reader = await connect({ session: false });
  });


  test('register, read (instances, services), update, deregister; the record is an ephemeral node of the session', async () => {
    const owner = await connect();
    const handle = await owner.discovery.register({ service: 'orders', id: 'orders-1', host: '10.1.0.1', port: 8080, tags: ['v1'], metadata: { zone: 'a' } });
    await owner.discovery.register({ service: 'orders', id: 'orders-2', host: '10.1.0.2', port: 8080, status: 'warning' });
    const { stat } = await reader.get('/services/orders/orders-1');
    expect(stat.ephemeralOwner).toBe(owner.session!.id);
    expect(await reader.exists('/services/orders')).toMatchObject({ stat: { ephemeralOwner: null } });

    const all = await reader.discovery.instances('orders');
    expect(ids(all)).toEqual(['orders-1', 'orders-2']);
    expect(all[0]).toMatchObject({ address: '10.1.0.1:8080', tags: ['v1'], metadata: { zone: 'a' }, status: 'passing', sessionId: owner.session!.id });
    expect(ids(await reader.discovery.instances('orders', { status: 'passing' }))).toEqual(['orders-1']);
    expect(ids(await reader.discovery.instances('orders', { tags: ['v1'], stale: true }))).toEqual(['orders-1']);
    expect(await reader.discovery.services()).toEqual(expect.arrayContaining([{ service: 'orders', instances: 2 }]));

    await handle.update({ status: 'maintenance', metadata: { zone: 'b' } });
    expect((await reader.discovery.instances('orders'))[0]).toMatchObject({ status: 'maintenance', metadata: { zone: 'b' }, tags: ['v1'] });
    await handle.deregister();
    expect(ids(await reader.discovery.instances('orders'))).toEqual(['orders-2']);
    await owner.close(); // the session's end removes the other record at once
    expect(await reader.discovery.instances('orders')).toEqual([]);
    expect((await reader.discovery.services()).find((each) => each.service === 'orders')).toBeUndefined();
  });

  test('a watch sees every change as full lists with growing indexes; a cache and pick follow', async () => {
    const watcher = await connect({ session: false });
    const watch = watcher.discovery.watch('billing', { debounceMs: 20 });
    const updates: ServiceUpdate[] = [];
    watch.on('update', (update) => updates.push(update));
    await watch.ready;
    const cache = await watcher.discovery.cache('billing');
    const owner = await connect();
    const one = await owner.discovery.register({ service: 'billing', id: 'b1', host: '10.2.0.1', port: 1 });
    const two = await owner.discovery.register({ service: 'billing', id: 'b2', host: '10.2.0.2', port: 1, weight: 5 });
    await eventually(() => ids(updates.at(-1)?.instances)?.join() === 'b1,b2', 10_000, 'both instances in the watch');
    await eventually(() => cache.instances({ status: 'passing' }).length === 2, 10_000, 'both instances in the cache');
    await one.update({ status: 'critical' });
    await eventually(() => updates.at(-1)?.instances[0]?.status === 'critical', 10_000, 'b1 critical');
    await eventually(() => ids(cache.instances({ status: 'passing' }))?.join() === 'b2', 10_000, 'b1 out of the passing cache');
    for (let i = 0; i < 20; i++) expect((await watcher.discovery.pick('billing', { strategy: 'weighted' }))?.instance.id).toBe('b2');
    await two.deregister();
    await eventually(() => ids(updates.at(-1)?.instances)?.join() === 'b1', 10_000, 'b2 gone');
    await eventually(() => cache.instances({ status: 'passing' }).length === 0, 10_000, 'no passing instance');
    // pick() serves from a shared picker with a watch of its own, which may trail `cache` by a debounce
    let picked = await watcher.discovery.pick('billing');
    for (const deadline = Date.now() + 10_000; picked !== null && Date.now() < deadline; picked = await watcher.discovery.pick('billing')) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(picked).toBeNull();
    for (let i = 1; i < updates.length; i++) expect(updates[i]!.index).toBeGreaterThan(updates[i - 1]!.index);
    const createdAt = await reader.exists('/services/billing/b1');
    expect(updates.at(-1)!.index).toBeGreaterThanOrEqual(createdAt!.stat.modifiedIndex);
    watch.close();
    cache.close();
  });

  test('another client registering the same id replaces the live record; the first one\'s deregister leaves it alone', async () => {
    const earlier = await connect({ session: { timeoutMs: 30_000 } }); // an earlier run whose session has not expired
    const later = await connect();
    const stale = await earlier.discovery.register({ service: 'restarts', id: 'r1', host: '10.3.0.1', port: 1, metadata: { run: 1 } });
    const fresh = await later.discovery.register({ service: 'restarts', id: 'r1', host: '10.3.0.2', port: 1, metadata: { run: 2 } });
    const [instance] = await reader.discovery.instances('restarts');
    expect(instance).toMatchObject({ host: '10.3.0.2', metadata: { run: 2 }, sessionId: later.session!.id });
    await stale.deregister();
    expect((await reader.discovery.instances('restarts'))[0]).toMatchObject({ sessionId: later.session!.id });
    await earlier.close(); // its session's end deletes nothing of the new record
    expect((await reader.discovery.instances('restarts'))[0]).toMatchObject({ sessionId: later.session!.id });
    await fresh.deregister();
  });

  test('a registering client paused past its session timeout loses the record, then registers again by itself', async () => {
    const doomed = await connect({ session: { timeoutMs: 1_500 } });
    const handle = await doomed.discovery.register({ service: 'paused', id: 'p1', host: '10.4.0.1', port: 1 });
    await handle.update({ metadata: { note: 'kept across the expiry' } });
    const firstSession = doomed.session!.id;
    const watch = reader.discovery.watch('paused', { debounceMs: 0 });
    const seen: string[] = [];
    watch.on('update', (update) => seen.push(ids(update.instances)!.join()));
    await watch.ready;
    // The record's own changes, each one: the service watch above reports current lists, and may
    // fold the deletion and the re-registration into one list when both arrive together (as they
    // may after this process's pause).
    const changes: string[] = [];
    const nodeWatch = reader.watch('/services/paused', { kind: 'children' });
    nodeWatch.on('event', (event) => changes.push(`${event.type} ${event.path}`));
    await nodeWatch.ready;
    const registered: RegisteredEvent[] = [];
    handle.on('registered', (event) => registered.push(event));

    pause(3_000); // no keepalive for twice the timeout

    await eventually(() => registered.length === 1, 15_000, 'the re-registration');
    expect(registered[0]).toMatchObject({ reason: 'session-expired', sessionId: doomed.session!.id });
    expect(registered[0]!.sessionId).not.toBe(firstSession);
    const [again] = await reader.discovery.instances('paused');
    expect(again).toMatchObject({ sessionId: doomed.session!.id, metadata: { note: 'kept across the expiry' } });
    await eventually(() => seen.at(-1) === 'p1', 10_000, 'the watcher sees it back');
    await eventually(() => changes.length >= 2, 10_000, 'the record\'s deletion and re-creation');
    // It went with the expired session, then came back.
    expect(changes).toEqual(['deleted /services/paused/p1', 'created /services/paused/p1']);
    nodeWatch.close();
    watch.close();
    await handle.deregister();
  });

  test('the HTTP read API on a follower: JSON instances, X-Hikari-Index, a blocking query woken by a registration', async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.nodes.find((node) => node.id !== leader.id)!;
    const base = `http://${follower.admin}/v1/services`;
    const owner = await connect();
    await owner.discovery.register({ service: 'http-api', id: 'h1', host: '10.5.0.1', port: 80, tags: ['v1'] });
    const first = await fetch(`${base}/http-api`);
    expect(first.status).toBe(200);
    const index = Number(first.headers.get('x-hikari-index'));
    const body = (await first.json()) as { service: string; index: number; instances: Array<{ id: string; address: string }> };
    expect(body).toMatchObject({ service: 'http-api', index, instances: [{ id: 'h1', address: '10.5.0.1:80' }] });
    expect(index).toBeGreaterThan(0);

    const blocking = fetch(`${base}/http-api?index=${index}&wait=30s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await owner.discovery.register({ service: 'http-api', id: 'h2', host: '10.5.0.2', port: 80 });
    const woken = await blocking;
    expect(Number(woken.headers.get('x-hikari-index'))).toBeGreaterThan(index);
    expect(((await woken.json()) as { instances: Array<{ id: string }> }).instances.map((each) => each.id)).toEqual(['h1', 'h2']);

    const filtered = (await (await fetch(`${base}/http-api?tag=v1&stale`)).json()) as { instances: Array<{ id: string }> };
    expect(filtered.instances.map((each) => each.id)).toEqual(['h1']);
    const list = (await (await fetch(base)).json()) as { services: Array<{ service: string; instances: number }> };
    expect(list.services).toEqual(expect.arrayContaining([{ service: 'http-api', instances: 2 }]));
    const bad = await fetch(`${base}/not%20a%20name`);
    expect(bad.status).toBe(400);
    await owner.close();
  });

  test('an SDK-side probe turns the instance critical while its HTTP check fails', async () => {
    let healthy = true;
    const server: Server = createServer((_req, res) => {
      res.writeHead(healthy ? 200 : 500);
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/health`;
    const owner = await connect();
    const handle = await owner.discovery.register({ service: 'probed', id: 'x1', host: '127.0.0.1', port: 1, check: { http: url, intervalMs: 100, failuresBeforeCritical: 1 } });
    const status = async () => (await reader.discovery.instances('probed'))[0]?.status;
    healthy = false;
    await waitFor(async () => (await status()) === 'critical', 'critical');
    healthy = true;
    await waitFor(async () => (await status()) === 'passing', 'passing again');
    await handle.deregister();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  // Kills a node: keep it last.
  test('a registering client whose node dies keeps its registration (its session resumes on another node); a cache on that node follows on another', async () => {
    const owner = await connect();
    const handle = await owner.discovery.register({ service: 'failover', id: 'f1', host: '10.6.0.1', port: 1 });
    const before = (await reader.discovery.instances('failover'))[0]!;
    const registered: RegisteredEvent[] = [];
    handle.on('registered', (event) => registered.push(event));
    // A session-less watcher stays on the node it connected to: find one on the owner's node.
    let watcher = await connect({ session: false });
    for (let attempt = 0; watcher.endpoint !== owner.endpoint && attempt < 30; attempt++) watcher = await connect({ session: false });
    expect(watcher.endpoint).toBe(owner.endpoint);
    const cache = await watcher.discovery.cache('failover');
    expect(ids(cache.instances())).toEqual(['f1']);

    const node = cluster.nodes.find((each) => each.client === owner.endpoint)!;
    await cluster.kill(node.id);
    await cluster.waitForLeader();
    await handle.update({ weight: 3 }); // goes through once the session is back, on another node
    expect(owner.endpoint).not.toBe(node.client);
    const after = (await reader.discovery.instances('failover'))[0]!;
    expect([after.sessionId, after.createdIndex, after.weight]).toEqual([before.sessionId, before.createdIndex, 3]);
    expect(registered).toEqual([]);
    // The cache's watch resumed on another node, and saw the update made there.
    await eventually(() => cache.instances()[0]?.weight === 3, 15_000, 'the cache to see the update after the failover');
    expect(watcher.endpoint).not.toBe(node.client);
    await handle.deregister();
    await eventually(() => cache.instances().length === 0, 10_000, 'the cache to see the deregistration');
    cache.close();
  });
});

async function waitFor(predicate: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await predicate()) return;
    } catch (error) {
      if (!(error instanceof HikariError) || !error.retryable) throw error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
