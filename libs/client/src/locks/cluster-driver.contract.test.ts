/**
 * The LockDriver contract (testing/lock-contract.ts) for the cluster driver, against a real 3-node
 * cluster (see real-cluster.test.ts) started once for the file; each test gets two fresh clients.
 * Every capability is on: shared locks, semaphores, FIFO, reentrancy, and `expireHolder`, which ends
 * the holder's session from outside (a raw connection resumes it on the leader and closes it: what
 * the server does at an expiry), so that the holding client carries on with a new session.
 * Needs the build (`npx tsc -b`); without `server/dist/main.js` the suite is skipped, and says so.
 */
import { connect as connectSocket, Socket } from 'node:net';
import { decodeEnvelope, encodeEnvelope, Envelope, FrameDecoder, MessageType, PROTOCOL_VERSION } from '@hikarikeeper/protocol';
import { HikariClient } from '../client';
import { Cluster, haveServer, SERVER_MAIN } from '../real-cluster.test';
import { eventually } from '../scripted-peer.test';
import { describeLockContract } from '../testing/lock-contract';
import type { ClusterLockGrant } from './cluster-driver';

const CLUSTER_ID = 'locks-contract';

/**
 * Ends session `sessionId` through a connection of its own to `address` (the leader): hello,
 * `session.resume` (binds the session there too), `session.close`. Throws with the node's error.
 */
async function closeSession(address: string, sessionId: string): Promise<void> {
  const [host, port] = address.split(':');
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = connectSocket(Number(port), host, () => resolve(s));
    s.once('error', reject);
  });
  const decoder = new FrameDecoder();
  const answers = new Map<number, Envelope>();
  let wake: (() => void) | null = null;
  socket.on('data', (chunk: Buffer) => {
    for (const body of decoder.push(chunk)) {
      const envelope = decodeEnvelope(body);
      if (envelope.t === MessageType.RESPONSE || envelope.t === MessageType.ERROR) answers.set(envelope.id, envelope);
    }
    wake?.();
  });
  const call = async (id: number, op: string, a: Record<string, unknown>): Promise<void> => {
    socket.write(encodeEnvelope({ t: MessageType.REQUEST, id, op, a }));
    const deadline = Date.now() + 5_000;
    while (!answers.has(id)) {
      if (Date.now() > deadline) throw new Error(`${op}: no answer from ${address}`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 50);
      });
    }
    const answer = answers.get(id)!;
    if (answer.t === MessageType.ERROR) throw new Error(`${op} refused by ${address}: ${JSON.stringify(answer.e)}`);
  };
  try {
    await call(1, 'hello', { protocol: PROTOCOL_VERSION, clusterId: CLUSTER_ID });
    await call(2, 'session.resume', { sessionId });
    await call(3, 'session.close', {});
  } finally {
    socket.destroy();
  }
}

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
          await closeSession(leader.client, held.sessionId);
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
