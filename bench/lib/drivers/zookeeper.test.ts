/**
 * The ZooKeeper drivers against a real ZooKeeper (one standalone server, a JVM started once for the
 * file on free loopback ports; Debian's zookeeper package, installed with apt-get if missing): the lock
 * recipe never lets two workers hold a key at once and its tokens increase, waiters queue, a timed-out
 * wait leaves no child behind, a closed session's lock is freed; `sync` works on the client's
 * connection; the kv driver's semantics, and a small kv run whose acknowledged writes all read back.
 */
import { existsSync } from 'node:fs';
import { checkKv, KV_PARENT_PATHS, KV_PHASES, runKv } from '../../workloads/kv';
import { ensureDebianFile } from '../peers/debian';
import { startZooKeeper, ZOOKEEPER_JAR, ZooKeeperEnsemble } from '../peers/zookeeper';
import { describeIfInstallable, runExclusion } from '../testing/peer-tests';
import { Opened } from './types';
import { connectZooKeeper, sync, zk } from './zookeeper-client';
import { openZooKeeperKvDrivers } from './zookeeper-kv';
import { openZooKeeperLockDrivers, ZK_LOCK_ROOT, ZooKeeperLockDriver } from './zookeeper-lock';

const describeZooKeeper = describeIfInstallable('ZooKeeper', () => ensureDebianFile(ZOOKEEPER_JAR, 'zookeeper'));

describeZooKeeper('ZooKeeper drivers against a real ZooKeeper (1 server)', () => {
  let ensemble: ZooKeeperEnsemble;
  let locks: Opened<ZooKeeperLockDriver>;

  beforeAll(async () => {
    ensemble = await startZooKeeper({ servers: 1 });
    locks = await openZooKeeperLockDrivers(ensemble.connectionString, 8);
  });

  afterAll(async () => {
    await locks?.close();
    await ensemble?.stop();
  });

  test('8 workers on 3 keys: never two holders of a key at once (shared counter), tokens strictly increasing per key', async () => {
    const run = await runExclusion(locks.drivers, ['ex:a', 'ex:b', 'ex:c'], 25);
    expect(run).toEqual({ grants: 200, overlaps: 0, violations: [], maxHolders: 1 });
  });

  test('a second acquire waits for its predecessor to go, then gets a larger token', async () => {
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

  test('a wait that times out fails with LOCK_TIMEOUT and deletes its child', async () => {
    const [a, b] = locks.drivers;
    const held = await a.acquire('timeout', { waitMs: 5_000 });
    await expect(b.acquire('timeout', { waitMs: 300 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    const client = await connectZooKeeper(ensemble.connectionString);
    try {
      expect(await zk.getChildren(client, `${ZK_LOCK_ROOT}/timeout`)).toEqual([held.path.split('/').pop()]);
    } finally {
      client.close();
    }
    await a.release(held);
  });

  test("closing a driver ends its session, and the lock it held (an ephemeral child) goes with it", async () => {
    const [owner] = (await openZooKeeperLockDrivers(ensemble.connectionString, 1)).drivers;
    await owner.acquire('session', { waitMs: 5_000 });
    await owner.close();
    const g = await locks.drivers[0].acquire('session', { waitMs: 5_000 });
    await locks.drivers[0].release(g);
  });

  test('sync() goes through the client\'s own connection: reads after it see a write made by another session', async () => {
    const [writer, reader] = await Promise.all([connectZooKeeper(ensemble.connectionString), connectZooKeeper(ensemble.connectionString)]);
    try {
      await zk.create(writer, '/sync-test', Buffer.from('v1'));
      for (let i = 2; i <= 20; i++) {
        await zk.setData(writer, '/sync-test', Buffer.from(`v${i}`));
        await sync(reader, '/sync-test');
        expect((await zk.getData(reader, '/sync-test'))?.toString()).toBe(`v${i}`);
      }
      expect(reader.getState().name).toBe('SYNC_CONNECTED'); // an answer the client could not decode would have dropped the connection
    } finally {
      writer.close();
      reader.close();
    }
  });

  test('kv driver: create fails on an existing node, set overwrites, get (sync + getData) and getStale read, null for a missing node', async () => {
    const { drivers: [kv], close } = await openZooKeeperKvDrivers(ensemble.connectionString, 1, ['/t']);
    try {
      await kv.create('/t/a', 'one');
      await expect(kv.create('/t/a', 'two')).rejects.toMatchObject({ name: 'NODE_EXISTS' });
      await kv.set('/t/a', 'three');
      expect(await kv.get('/t/a')).toBe('three');
      expect(await kv.getStale('/t/a')).toBe('three');
      expect(await kv.get('/t/missing')).toBeNull();
    } finally {
      await close();
    }
  });

  test('a small kv run: every phase runs without errors and every acknowledged write reads back', async () => {
    const { drivers, close } = await openZooKeeperKvDrivers(ensemble.connectionString, 5, KV_PARENT_PATHS);
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

  test('the launcher: the standalone server leads, and stop ends the JVM and removes the data', async () => {
    const leader = await ensemble.leader();
    expect(leader.name).toBe('zk1');
    expect(ensemble.version).toMatch(/^ZooKeeper 3\.\d+/);
    const pid = ensemble.pids().get('zk1')!;
    const { dataDir } = ensemble;
    await locks.close();
    await ensemble.stop();
    expect(() => process.kill(pid, 0)).toThrow();
    expect(existsSync(dataDir)).toBe(false);
  });
});
