/**
 * ZooKeeper for the kv workload, through node-zookeeper-client: create = a PERSISTENT znode (fails with
 * NODE_EXISTS if it exists); set = setData (any version); get = `sync` then getData (ZooKeeper's
 * linearizable read: see zookeeper-client.ts); get-stale = getData alone (the connected server answers
 * from its own state). The parents (/bench/p0 ...) are created before the run (`prepare`).
 */
import { Client, CreateMode } from 'node-zookeeper-client';
import { connectZooKeeper, sync, zk } from './zookeeper-client';
import { KvDriver, Opened, openAll } from './types';

export class ZooKeeperKvDriver implements KvDriver {
  constructor(private readonly client: Client) {}

  async create(path: string, value: string): Promise<void> {
    await zk.create(this.client, path, Buffer.from(value), CreateMode.PERSISTENT);
  }

  async set(path: string, value: string): Promise<void> {
    await zk.setData(this.client, path, Buffer.from(value));
  }

  async get(path: string): Promise<string | null> {
    await sync(this.client, path);
    return this.getStale(path);
  }

  async getStale(path: string): Promise<string | null> {
    return (await zk.getData(this.client, path))?.toString('utf8') ?? null;
  }

  close(): void {
    this.client.close();
  }
}

/** `n` drivers, each its own session; `parents` are created first (mkdirp). */
export async function openZooKeeperKvDrivers(connectionString: string, n: number, parents: readonly string[]): Promise<Opened<KvDriver>> {
  const clients = await openAll(n, () => connectZooKeeper(connectionString), (c) => c.close());
  try {
    for (const p of parents) await zk.mkdirp(clients[0], p);
  } catch (e) {
    clients.forEach((c) => c.close());
    throw e;
  }
  const drivers = clients.map((c) => new ZooKeeperKvDriver(c));
  return { drivers, close: async () => drivers.forEach((d) => d.close()) };
}
