/**
 * The LockDriver contract (testing/lock-contract.ts) for the cluster driver, against a real 3-node
 * cluster (see real-cluster.test.ts) started once for the file; each test gets two fresh clients.
 * Every capability is on: shared locks, semaphores, FIFO, reentrancy, and `expireHolder`, which ends
 * the holder's session from outside (a raw connection resumes it on the leader and closes it: what
 * the server does at an expiry), so that the holding client carries on with a new session.
 * Needs the build (`npx tsc -b`); without `server/dist/main.js` the suite is skipped, and says so.
 */
import { HikariClient } from '../client';
import { Cluster, haveServer, SERVER_MAIN } from '../real-cluster.test';
import { eventually } from '../scripted-peer.test';
import { closeSession } from '../testing/close-session';
import { describeLockContract } from '../testing/lock-contract';
import type { ClusterLockGrant } from './cluster-driver';

const CLUSTER_ID = 'locks-contract';

if (!haveServer) console.warn(`cluster-driver.contract.test: skipped, ${SERVER_MAIN} is missing (run npx tsc -b)`);

(haveServer ? describe : describe.skip)('the cluster driver against a real 3-node cluster', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await Cluster.start(3, CLUSTER_ID);
    await cluster.waitForLeader();
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  describeLockContract(
    'ClusterLockDriver',
    async () => {
      const connect = (): Promise<HikariClient> => HikariClient.connect({ endpoints: cluster.endpoints, clusterId: CLUSTER_ID });
      const [first, second] = await Promise.all([connect(), connect()]);
      return {
        driver: first.locks,
        second: second.locks,
        expireHolder: async (grant) => {
          const held = grant as ClusterLockGrant;
          const leader = await cluster.waitForLeader();
          await closeSession(leader.client, held.sessionId, CLUSTER_ID);
          // The holder hears it (a `session` event), and goes on with a new session.
          await eventually(() => held.lost && first.session?.state === 'connected', 5_000, 'the holder to hear of its session end');
        },
        teardown: async () => {
          await Promise.all([first.close(), second.close()]);
        },
      };
    },
    { shared: true, semaphore: true, fifo: true, reentrant: true, expireHolder: true },
  );
});
