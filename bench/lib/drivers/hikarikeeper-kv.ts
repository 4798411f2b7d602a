/**
 * HikariKeeper for the kv workload, through the SDK: one `HikariClient` per worker (no session),
 * create / set / get (linearizable: a read index confirmed by the leader) / get { stale: true }.
 */
import { ErrorCode, HikariClient, HikariError } from '@hikarikeeper/client';
import { KvDriver, Opened, openAll } from './types';

export class HikariKeeperKvDriver implements KvDriver {
  constructor(readonly client: HikariClient) {}

  async create(path: string, value: string): Promise<void> {
    await this.client.create(path, value);
  }

  async set(path: string, value: string): Promise<void> {
    await this.client.set(path, value);
  }

  get(path: string): Promise<string | null> {
    return this.read(path, false);
  }

  getStale(path: string): Promise<string | null> {
    return this.read(path, true);
  }

  private async read(path: string, stale: boolean): Promise<string | null> {
    try {
      return (await this.client.get(path, stale ? { stale: true } : undefined)).data.toString('utf8');
    } catch (e) {
      if (HikariError.is(e, ErrorCode.NO_NODE)) return null;
      throw e;
    }
  }
}

/** `n` drivers, each its own client (connection); `parents` are created first. */
export async function openHikariKeeperKvDrivers(target: { endpoints: readonly string[]; clusterId: string }, n: number, parents: readonly string[]): Promise<Opened<HikariKeeperKvDriver>> {
  const clients = await openAll(n, () => HikariClient.connect({ session: false, endpoints: [...target.endpoints], clusterId: target.clusterId }), (c) => c.close());
  try {
    for (const path of parents) {
      try {
        await clients[0].create(path);
      } catch (e) {
        if (!HikariError.is(e, ErrorCode.NODE_EXISTS)) throw e;
      }
    }
  } catch (e) {
    await Promise.allSettled(clients.map((c) => c.close()));
    throw e;
  }
  return { drivers: clients.map((c) => new HikariKeeperKvDriver(c)), close: async () => void (await Promise.allSettled(clients.map((c) => c.close()))) };
}
