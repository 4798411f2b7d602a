/**
 * etcd for the kv workload, through the etcd3 client: create = a transaction "if the key's creation
 * revision is 0 (it does not exist), put" (the answer says whether it succeeded); set = put; get = a
 * Range, linearizable (etcd's default: the member confirms it is up to date with the leader, a
 * ReadIndex); get-stale = a serializable Range (answered from the member's own state).
 */
import { Etcd3 } from 'etcd3';
import { openEtcd3 } from './etcd-client';
import { BenchError, KvDriver, Opened } from './types';

export class EtcdKvDriver implements KvDriver {
  constructor(private readonly etcd: Etcd3) {}

  async create(path: string, value: string): Promise<void> {
    const result = await this.etcd.if(path, 'Create', '==', 0).then(this.etcd.put(path).value(value)).commit();
    if (!result.succeeded) throw new BenchError('NODE_EXISTS', `etcd: ${path} exists`);
  }

  async set(path: string, value: string): Promise<void> {
    await this.etcd.put(path).value(value).exec();
  }

  get(path: string): Promise<string | null> {
    return this.etcd.get(path).string();
  }

  getStale(path: string): Promise<string | null> {
    return this.etcd.get(path).serializable(true).string();
  }

  close(): void {
    this.etcd.close();
  }
}

export async function openEtcdKvDrivers(endpoints: readonly string[], n: number): Promise<Opened<KvDriver>> {
  const drivers = Array.from({ length: n }, () => new EtcdKvDriver(openEtcd3(endpoints)));
  return { drivers, close: async () => drivers.forEach((d) => d.close()) };
}
