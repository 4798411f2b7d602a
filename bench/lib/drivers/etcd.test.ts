/**
 * The etcd drivers against a real etcd (a 1-member cluster started by the file on free loopback ports;
 * Debian's etcd-server, installed with apt-get if missing): the lock driver never lets two workers hold
 * a key at once and its tokens increase, waiters queue, a timed-out wait leaves nothing behind, a
 * closed driver's lease takes its lock with it; the kv driver's semantics, and a small kv run whose
 * acknowledged writes all read back. Also the launcher's leader / kill / restart / stop.
 */
import { existsSync } from 'node:fs';
import { ensureDebianPackage } from '../peers/debian';
import { EtcdCluster, startEtcd } from '../peers/etcd';
import { describeIfInstallable, kvDriverTests, lockDriverTests } from '../testing/peer-tests';
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

  lockDriverTests(() => locks.drivers);

  test('a wait that times out fails with LOCK_TIMEOUT and leaves no waiting key behind', async () => {
    const [a, b] = locks.drivers;
    const held = await a.acquire('timeout', { waitMs: 5_000 });
    const started = Date.now();
    await expect(b.acquire('timeout', { waitMs: 300 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    const etcd = openEtcd3(cluster.endpoints);
    try {
      // The member deletes the waiter's key as the call ends (asynchronously: give it up to 3 s on a loaded machine).
      let keys = await etcd.getAll().prefix('timeout/').keys();
      for (const until = Date.now() + 3_000; keys.length > 1 && Date.now() < until; keys = await etcd.getAll().prefix('timeout/').keys()) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(keys).toEqual([held.key.toString()]);
    } finally {
      etcd.close();
    }
    await a.release(held);
  });

  test("closing a driver revokes its lease, and the lock it held goes with it", async () => {
    const [owner] = (await openEtcdLockDrivers(cluster.endpoints, 1)).drivers;
    await owner.acquire('lease', { waitMs: 5_000 });
    await owner.close();
    const g = await locks.drivers[0].acquire('lease', { waitMs: 5_000 }); // the lease's TTL is 10 s: only a revoke frees it sooner
    await locks.drivers[0].release(g);
  });

  kvDriverTests((n) => openEtcdKvDrivers(cluster.endpoints, n));

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
