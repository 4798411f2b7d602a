/**
 * The SDK against a real 3-node cluster (see real-cluster.test.ts). Needs the build (`npx tsc -b`);
 * without `server/dist/main.js` the suite is skipped, and says so.
 */
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { HikariClient } from './client';
import { HikariClientOptions } from './options';
import { DisconnectedEvent } from './events';
import { Cluster, haveServer, SERVER_MAIN } from './real-cluster.test';
import { rejection } from './testing/errors';

const CLUSTER_ID = 'client-it';


if (!haveServer) console.warn(`client.integration.test: skipped, ${SERVER_MAIN} is missing (run npx tsc -b)`);

(haveServer ? describe : describe.skip)('HikariClient against a real 3-node cluster', () => {
  let cluster: Cluster;
  const clients: HikariClient[] = [];

  async function connect(endpoints = cluster.endpoints, options: Partial<HikariClientOptions> = {}): Promise<HikariClient> {
    const client = await HikariClient.connect({ endpoints, clusterId: CLUSTER_ID, ...options });
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    cluster = await Cluster.start(3, CLUSTER_ID);
    await cluster.waitForLeader();
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await cluster?.stop();
  });

  test('the typed API end to end: create, get, compare-and-set, exists, children, multi, sync, delete', async () => {
    const client = await connect();
    const { path, stat } = await client.create('/app', 'root');
    expect(path).toBe('/app');
    expect(stat.version).toBe(0);
    expect((await rejection(client.create('/app', 'again'))).code).toBe(ErrorCode.NODE_EXISTS);

    await client.create('/app/config', Buffer.from('v1'), { mode: 'persistent' });
    const read = await client.get('/app/config');
    expect(read.data.toString()).toBe('v1');
    expect((await client.get('/app/config', { stale: true })).stat.createdIndex).toBe(read.stat.createdIndex);

    const { stat: updated } = await client.set('/app/config', 'v2', { version: read.stat.version });
    expect(updated.version).toBe(1);
    const conflict = await rejection(client.set('/app/config', 'v3', { version: read.stat.version }));
    expect(conflict.code).toBe(ErrorCode.BAD_VERSION);
    expect((await client.get('/app/config')).data.toString()).toBe('v2');

    expect(await client.exists('/app/none')).toBeNull();
    expect((await client.exists('/app/config'))?.stat.version).toBe(1);
    expect((await rejection(client.get('/app/none'))).code).toBe(ErrorCode.NO_NODE);

    for (let i = 0; i < 5; i++) await client.create('/app/q-', '', { mode: 'persistent_sequential' });
    const page = await client.children('/app', { limit: 2 });
    expect(page).toMatchObject({ names: ['config', 'q-0000000000'], more: true });
    const names: string[] = [];
    for await (const name of client.listChildren('/app', { pageSize: 2 })) names.push(name);
    expect(names).toEqual(['config', ...[0, 1, 2, 3, 4].map((n) => `q-000000000${n}`)]);

    const failed = await rejection(
      client.multi([
        { op: 'create', path: '/app/m1', data: 'a' },
        { op: 'check', path: '/app/config', version: 0 },
      ]),
    );
    expect(failed.code).toBe(ErrorCode.BAD_VERSION);
    expect(failed.details.opIndex).toBe(1);
    expect(await client.exists('/app/m1')).toBeNull(); // atomic: the create did not apply either
    const { results } = await client.multi([
      { op: 'check', path: '/app/config', version: 1 },
      { op: 'create', path: '/app/m1', data: 'a' },
      { op: 'set', path: '/app/config', data: 'v3' },
    ]);
    expect(results.map((result) => result.op)).toEqual(['check', 'create', 'set']);

    const { index } = await client.sync();
    expect(index).toBeGreaterThan(0);
    expect((await rejection(client.delete('/app', {}))).code).toBe(ErrorCode.NOT_EMPTY);
    await client.delete('/app/m1');
    expect(await client.exists('/app/m1')).toBeNull();
  });

  test('a client connected to a follower moves to the leader for its writes', async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.nodes.find((node) => node.id !== leader.id)!;
    // Without a session: a session's keepalives would take it to the leader at once.
    const client = await connect([follower.client], { session: false });
    expect(client.endpoint).toBe(follower.client);
    expect((await client.exists('/')) !== null).toBe(true); // reads are served by the follower
    expect(client.endpoint).toBe(follower.client);
    await client.create('/moved', 'x');
    expect(client.endpoint).toBe(leader.client);
  });

  test('killing the leader mid-load: writes continue on the new leader, each applied exactly once', async () => {
    const client = await connect();
    const disconnects: DisconnectedEvent[] = [];
    client.on('disconnected', (event) => disconnects.push(event));
    await client.create('/seq', '');
    const oldLeader = await cluster.waitForLeader();

    // Sequential creates are not idempotent: a retried write applied twice would leave an extra node.
    let acknowledged = 0;
    const failures: HikariError[] = [];
    let stop = false;
    const writer = async (): Promise<void> => {
      while (!stop) {
        try {
          await client.create('/seq/n-', '', { mode: 'persistent_sequential' });
          acknowledged++;
        } catch (error) {
          failures.push(error as HikariError);
        }
      }
    };
    const writers = Array.from({ length: 16 }, writer);
    await new Promise((done) => setTimeout(done, 500));
    const beforeKill = acknowledged;
    await cluster.kill(oldLeader.id);
    const newLeader = await cluster.waitForLeader();
    // Writes go on: well past the 16 that were in flight at the kill (and are answered by the new leader).
    const deadline = Date.now() + 15_000;
    while (acknowledged < beforeKill + 16 + 200 && failures.length === 0 && Date.now() < deadline) {
      await new Promise((done) => setTimeout(done, 20));
    }
    stop = true;
    await Promise.all(writers);

    expect(newLeader.id).not.toBe(oldLeader.id);
    expect(failures.map((error) => `${error.code}: ${error.message}`)).toEqual([]);
    expect(acknowledged).toBeGreaterThanOrEqual(beforeKill + 16 + 200);
    expect(disconnects.some((event) => event.endpoint === oldLeader.client)).toBe(true);
    expect(client.endpoint).toBe(newLeader.client);

    let created = 0;
    for await (const name of client.listChildren('/seq')) created += name.startsWith('n-') ? 1 : 0;
    expect(created).toBe(acknowledged);
  });
});
