/**
 * The etcd drivers against a real etcd (a 1-member cluster started by the file on free loopback ports;
 * Debian's etcd-server, installed with apt-get if missing): the lock driver never lets two workers hold
 * a key at once and its tokens increase, waiters queue, a timed-out wait leaves nothing behind, a
 * closed driver's lease takes its lock with it; the kv driver's semantics, and a small kv run whose
 * acknowledged writes all read back. Also the launcher's leader / kill / restart / stop.
 */
import { existsSync } from 'node:fs';
import { checkKv, KV_PHASES, runKv } from '../../workloads/kv';
import { ensureDebianPackage } from '../peers/debian';
import { EtcdCluster, startEtcd } from '../peers/etcd';
import { describeIfInstallable, runExclusion } from '../testing/peer-tests';
import { openEtcd3 } from './etcd-client';
import { openEtcdKvDrivers } from './etcd-kv';
import { EtcdLockDriver, openEtcdLockDrivers } from './etcd-lock';
import { Opened } from './types';

const describeEtcd = describeIfInstallable('etcd', () => ensureDebianPackage('etcd', 'etcd-server'));

describeEtcd('etcd drivers against a real etcd (1 member)', () => {
  let cluster: EtcdCluster;
  let locks: Opened<EtcdLockDriver>;

  beforeAll(async () => {
    cluster = await startEtcd({ members: 1 });
    locks = await openEtcdLockDrivers(cluster.endpoints, 8);
  });

  afterAll(async () => {
    await locks?.close();
    await cluster?.stop();
  });

  test('8 workers on 3 keys: never two holders of a key at once (shared counter), tokens strictly increasing per key', async () => {
    const run = await runExclusion(locks.drivers, ['ex:a', 'ex:b', 'ex:c'], 25);
    expect(run).toEqual({ grants: 200, overlaps: 0, violations: [], maxHolders: 1 });
  });

  test('a second acquire waits in the queue until the holder releases, then gets a larger token', async () => {
    const [a, b] = locks.drivers;
    const first = await a.acquire('queue', { waitMs: 5_000 });
    let granted = false;
    const second = b.acquire('queue', { waitMs: 5_000 }).then((g) => ((granted = true), g));
    await new Promise((r) => setTimeout(r, 300));
    expect(granted).toBe(false);
    await a.release(first);
    const g = await second;
    expect(g.token).toBeGreaterThan(first.token);
    await b.release(g);
  });

  test('a wait that times out fails with LOCK_TIMEOUT and leaves no waiting key behind', async () => {
    const [a, b] = locks.drivers;
    const held = await a.acquire('timeout', { waitMs: 5_000 });
    const started = Date.now();
    await expect(b.acquire('timeout', { waitMs: 300 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    const etcd = openEtcd3(cluster.endpoints);
    try {
      await new Promise((r) => setTimeout(r, 200)); // the member deletes the waiter's key as the call ends
      expect(await etcd.getAll().prefix('timeout/').keys()).toEqual([held.key.toString()]);
    } finally {
      etcd.close();
    }
    await a.release(held);
  });

  test("closing a driver revokes its lease, and the lock it held goes with it", async () => {
    const [owner] = (await openEtcdLockDrivers(cluster.endpoints, 1)).drivers;
    await owner.acquire('lease', { waitMs: 5_000 });
    await owner.close();
    const g = await locks.drivers[0].acquire('lease', { waitMs: 2_000 });
    await locks.drivers[0].release(g);
  });

  test('kv driver: create fails on an existing key, set overwrites, get (linearizable) and getStale read, null for a missing key', async () => {
    const { drivers: [kv], close } = await openEtcdKvDrivers(cluster.endpoints, 1);
    try {
      await kv.create('/t/a', 'one');
      await expect(kv.create('/t/a', 'two')).rejects.toMatchObject({ code: 'NODE_EXISTS' });
      await kv.set('/t/a', 'three');
      expect(await kv.get('/t/a')).toBe('three');
      expect(await kv.getStale('/t/a')).toBe('three');
      expect(await kv.get('/t/missing')).toBeNull();
    } finally {
      await close();
    }
  });

  test('a small kv run: every phase runs without errors and every acknowledged write reads back', async () => {
    const { drivers, close } = await openEtcdKvDrivers(cluster.endpoints, 5);
    try {
      const run = await runKv(drivers.slice(1), { seconds: 0.3, warmupSeconds: 0 });
      expect(run.phases.map((p) => [p.phase, p.errors])).toEqual(KV_PHASES.map((p) => [p, 0]));
      for (const p of run.phases) expect(p.ops).toBeGreaterThan(0);
      const check = await checkKv(drivers[0], run.ledger);
      expect(check.mismatches).toEqual([]);
      expect(check.checked).toBeGreaterThanOrEqual(run.phases[0].ops);
    } finally {
      await close();
    }
  });

  test('the launcher: the only member leads; kill -9, restart on its data (the keys survive), stop removes everything', async () => {
    expect((await cluster.leader()).name).toBe('etcd1');
    const { drivers: [kv], close } = await openEtcdKvDrivers(cluster.endpoints, 1);
    try {
      await kv.create('/t/durable', 'kept');
      const pid = cluster.pids().get('etcd1')!;
      await cluster.kill('etcd1');
      expect(cluster.pids().size).toBe(0);
      expect(() => process.kill(pid, 0)).toThrow();
      cluster.restart('etcd1');
      await cluster.ready();
      expect(await kv.get('/t/durable')).toBe('kept');
    } finally {
      await close();
    }
    const { dataDir } = cluster;
    await locks.close();
    await cluster.stop();
    expect(existsSync(dataDir)).toBe(false);
  });
});
