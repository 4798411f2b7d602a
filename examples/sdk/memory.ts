/**
 * The README's MemoryCluster example ("Tests without a cluster"): code typed against
 * HikariClientApi, run on the in-process stand-in for the cluster. Run it: `npx tsc -b && node
 * examples/sdk/dist/memory.js` (no cluster needed).
 */
import { ClusterLockGrant, HikariClientApi, MemoryCluster } from '@hikarikeeper/client';

async function reserve(client: HikariClientApi, seat: string): Promise<number> {
  return client.withLock(`seats:${seat}`, async (grant) => {
    await client.create(`/seats/${seat}`, 'taken', { fence: grant });
    return grant.token;
  });
}

export async function memoryExample(print: (line: string) => void = console.log): Promise<void> {
  const cluster = new MemoryCluster();
  const [a, b] = await Promise.all([cluster.connect(), cluster.connect()]); // two processes, as it were
  try {
    await a.create('/seats', '');
    print(`seat 12A reserved with token ${await reserve(a, '12A')}`);
    await b.discovery.register({ service: 'api', id: 'api-1', host: '10.0.0.5', port: 8080 });
    const grant: ClusterLockGrant = await b.locks.acquire('jobs');
    const before = b.session!.id;
    cluster.expireSession(before); // as if b had stalled past its session timeout
    print(`after the expiry: grant lost ${grant.lost}, new session ${b.session!.id !== before}`);
    await new Promise((resolve) => setTimeout(resolve, 50)); // the registration is written again by itself
    const [instance] = await a.discovery.instances('api');
    print(`api-1 registered again on the new session: ${instance?.sessionId === b.session!.id}`);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

if (require.main === module) {
  memoryExample().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
