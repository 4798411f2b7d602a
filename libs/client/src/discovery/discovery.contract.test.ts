/**
 * The namespace and discovery contracts (testing/namespace-contract.ts, discovery-contract.ts)
 * against a real 3-node cluster (see real-cluster.test.ts) started once for the file; the
 * MemoryCluster passes the same suites (memory/memory-cluster.contract.test.ts). `expireSession` ends the client's session from outside
 * (testing/close-session.ts: what the server does at an expiry) and waits for the client to be on a
 * new one. Needs the build (`npx tsc -b`); without `server/dist/main.js` the suite is skipped, and says so.
 */
import { haveServer, SERVER_MAIN, useRealCluster } from '../real-cluster.test';
import { eventually } from '../scripted-peer.test';
import { closeSession } from '../testing/close-session';
import { clientPool } from '../testing/contract-run';
import { describeDiscoveryContract } from '../testing/discovery-contract';
import { describeNamespaceContract } from '../testing/namespace-contract';

const CLUSTER_ID = 'discovery-contract';

if (!haveServer) console.warn(`discovery.contract.test: skipped, ${SERVER_MAIN} is missing (run npx tsc -b)`);

(haveServer ? describe : describe.skip)('discovery against a real 3-node cluster', () => {
  const real = useRealCluster(CLUSTER_ID);

  describeNamespaceContract('HikariClient', async () => clientPool(() => real.connect()));

  describeDiscoveryContract('HikariClient.discovery', async () => ({
    ...clientPool(() => real.connect()),
    expireSession: async (client) => {
      const before = client.session!.id;
      const leader = await real.cluster.waitForLeader();
      await closeSession(leader.client, before, CLUSTER_ID);
      await eventually(() => client.session?.id !== before && client.session?.state === 'connected', 5_000, 'the client to be on a new session');
    },
  }));
});
