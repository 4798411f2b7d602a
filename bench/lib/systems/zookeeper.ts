/** ZooKeeper: a real ensemble (../peers/zookeeper.ts), the lock recipe and node-zookeeper-client. */
import { openZooKeeperKvDrivers } from '../drivers/zookeeper-kv';
import { openZooKeeperLockDrivers } from '../drivers/zookeeper-lock';
import { startZooKeeper } from '../peers/zookeeper';
import { BenchSystem, RunningSystem } from './types';

export const zooKeeperSystem: BenchSystem = {
  name: 'zookeeper',
  label: 'ZooKeeper',
  durability: 'ZooKeeper: every write is in its transaction log, fsynced by a majority of the servers before it is acknowledged (forceSync=yes, the default)',
  lock: 'the lock recipe: ephemeral-sequential child, watch the predecessor, sequence number as the token; one 10 s session per worker',
  kv: true,
  failover: true,
  async start(o): Promise<RunningSystem> {
    const ensemble = await startZooKeeper({ servers: o.nodes });
    return {
      name: 'zookeeper',
      label: 'ZooKeeper',
      description: `${o.nodes} ${ensemble.version} server${o.nodes === 1 ? '' : 's'}`,
      pids: () => ensemble.pids(),
      openLockDrivers: (n) => openZooKeeperLockDrivers(ensemble.connectionString, n),
      openKvDrivers: (n, parents) => openZooKeeperKvDrivers(ensemble.connectionString, n, parents),
      failover: {
        leader: async (timeoutMs) => (await ensemble.leader(timeoutMs)).name,
        kill: (member) => ensemble.kill(member),
        restart: (member) => ensemble.restart(member),
        ready: (timeoutMs) => ensemble.ready(timeoutMs),
      },
      stop: () => ensemble.stop(),
    };
  },
};
