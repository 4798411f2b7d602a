/** etcd: a real cluster (../peers/etcd.ts), its server-side Lock API under a lease, and the etcd3 client for kv. */
import { openEtcdKvDrivers } from '../drivers/etcd-kv';
import { openEtcdLockDrivers } from '../drivers/etcd-lock';
import { startEtcd } from '../peers/etcd';
import { BenchSystem, RunningSystem } from './types';

export const etcdSystem: BenchSystem = {
  name: 'etcd',
  label: 'etcd',
  durability: 'etcd: every write is in its WAL, fsynced by a majority of the members before it is acknowledged (etcd\'s defaults)',
  lock: 'v3lock Lock/Unlock RPCs (server-side queue by creation revision) under a 10 s lease per worker, gRPC through @grpc/grpc-js',
  kv: true,
  failover: true,
  async start(o): Promise<RunningSystem> {
    const cluster = await startEtcd({ members: o.nodes });
    return {
      name: 'etcd',
      label: 'etcd',
      description: `${o.nodes} ${cluster.version} member${o.nodes === 1 ? '' : 's'}`,
      pids: () => cluster.pids(),
      openLockDrivers: (n) => openEtcdLockDrivers(cluster.endpoints, n),
      openKvDrivers: (n) => openEtcdKvDrivers(cluster.endpoints, n),
      failover: {
        leader: async (timeoutMs) => (await cluster.leader(timeoutMs)).name,
        kill: (member) => cluster.kill(member),
        restart: (member) => cluster.restart(member),
        ready: (timeoutMs) => cluster.ready(timeoutMs),
      },
      stop: () => cluster.stop(),
    };
  },
};
