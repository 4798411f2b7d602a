/** HikariKeeper: a cluster of real server processes from this checkout's build (../cluster.ts), driven through the SDK. */
import { HikariClient } from '@hikarikeeper/client';
import { startCluster } from '../cluster';
import { openHikariKeeperKvDrivers } from '../drivers/hikarikeeper-kv';
import { openAll } from '../drivers/types';
import { RaftMeter } from '../raft-meter';
import { BenchSystem, RunningSystem } from './types';

const nodeId = (member: string) => {
  const id = Number(/^n(\d+)$/.exec(member)?.[1]);
  if (!Number.isInteger(id)) throw new Error(`no HikariKeeper node ${member}`);
  return id;
};

export const hikariKeeperSystem: BenchSystem = {
  name: 'hikarikeeper',
  label: 'HikariKeeper',
  durability: 'HikariKeeper: every write (grant, release, create, set) is in the Raft log, on RocksDB, fsynced by a majority of the nodes before it is acknowledged',
  lock: 'client.locks: server-side FIFO queue per lock, fencing token from the Raft log, grants owned by the client\'s session',
  kv: true,
  failover: true,
  async start(o): Promise<RunningSystem> {
    const killed = new Set<number>();
    const cluster = await startCluster({
      nodes: o.nodes,
      cpuProfileDir: o.cpuProfileDir,
      onUnexpectedExit: (n, code, signal) => {
        if (!killed.delete(n.id)) o.warn(`warning: HikariKeeper n${n.id} exited during the run (code ${code}, signal ${signal})\n${n.logs.slice(-10).join('\n')}`);
      },
    });
    return {
      name: 'hikarikeeper',
      label: 'HikariKeeper',
      description: `${o.nodes} HikariKeeper server process${o.nodes === 1 ? '' : 'es'}`,
      pids: () => cluster.pids(),
      async openLockDrivers(n) {
        const clients = await openAll(n, () => HikariClient.connect({ endpoints: cluster.endpoints, clusterId: cluster.clusterId }), (c) => c.close());
        return { drivers: clients.map((c) => c.locks), close: async () => void (await Promise.allSettled(clients.map((c) => c.close()))) };
      },
      openKvDrivers: (n, parents) => openHikariKeeperKvDrivers(cluster, n, parents),
      failover: {
        leader: async (timeoutMs) => `n${await cluster.leader(timeoutMs)}`,
        async kill(member) {
          killed.add(nodeId(member));
          await cluster.processes.kill(nodeId(member), 'SIGKILL');
        },
        restart: (member) => cluster.processes.start(nodeId(member)),
        async ready(timeoutMs = 30_000) {
          const deadline = Date.now() + timeoutMs;
          await cluster.leader(timeoutMs);
          for (const node of cluster.processes.nodes) {
            while ((await cluster.processes.status(node.id)) === null) {
              if (Date.now() > deadline) throw new Error(`HikariKeeper n${node.id} does not answer /status`);
              await new Promise((r) => setTimeout(r, 50));
            }
          }
        },
      },
      async raftMeter() {
        const leader = await cluster.leader();
        return { meter: new RaftMeter(() => cluster.processes.node(leader).admin), leader: `n${leader}` };
      },
      stop: () => cluster.stop(),
    };
  },
};
