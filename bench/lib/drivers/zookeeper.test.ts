/**
 * The ZooKeeper drivers against a real ZooKeeper (one standalone server, a JVM started once for the
 * file on free loopback ports; Debian's zookeeper package, installed with apt-get if missing): the lock
 * recipe never lets two workers hold a key at once and its tokens increase, waiters queue, a timed-out
 * wait leaves no child behind, a closed session's lock is freed; `sync` works on the client's
 * connection; the kv driver's semantics, and a small kv run whose acknowledged writes all read back.
 */
import { existsSync } from 'node:fs';
import { ensureDebianFile } from '../peers/debian';
import { startZooKeeper, ZOOKEEPER_JAR, ZooKeeperEnsemble } from '../peers/zookeeper';
import { describeIfInstallable, kvDriverTests, lockDriverTests } from '../testing/peer-tests';
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

  lockDriverTests(() => locks.drivers);

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

  kvDriverTests((n, parents) => openZooKeeperKvDrivers(ensemble.connectionString, n, parents));

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
