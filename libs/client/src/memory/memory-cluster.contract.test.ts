/**
 * The contract suites (src/testing) against a MemoryCluster: the same tests the cluster driver, the
 * namespace and discovery pass against a real 3-node cluster, so that the in-process stand-in cannot drift from
 * what the cluster does. Every lock capability is on, as on the cluster; `expireHolder` expires the
 * holder's session, which the cluster does after a silence past its timeout.
 */
import { clientPool } from '../testing/contract-run';
import { describeDiscoveryContract } from '../testing/discovery-contract';
import { describeLockContract } from '../testing/lock-contract';
import { describeNamespaceContract } from '../testing/namespace-contract';
import type { ClusterLockGrant } from '../locks/cluster-driver';
import { MemoryCluster } from './memory-cluster';

describe('MemoryCluster', () => {
  describeLockContract(
    'MemoryClient.locks',
    async () => {
      const cluster = new MemoryCluster();
      const [first, second] = await Promise.all([cluster.connect(), cluster.connect()]);
      return {
        driver: first.locks,
        second: second.locks,
        expireHolder: async (grant) => {
          cluster.expireSession((grant as ClusterLockGrant).sessionId);
          expect((grant as ClusterLockGrant).lost).toBe(true);
          expect(first.session?.state).toBe('connected');
        },
        teardown: async () => {
          await Promise.all([first.close(), second.close()]);
        },
      };
    },
    { shared: true, semaphore: true, fifo: true, reentrant: true, expireHolder: true },
  );

  describeNamespaceContract('MemoryClient', async () => {
    const cluster = new MemoryCluster();
    return clientPool(() => cluster.connect());
  });

  describeDiscoveryContract('MemoryClient.discovery', async () => {
    const cluster = new MemoryCluster();
    return {
      ...clientPool(() => cluster.connect()),
      expireSession: async (client) => {
        cluster.expireSession(client.session!.id);
      },
    };
  });
});
