/**
 * Sessions and watches against a real 3-node cluster (see real-cluster.test.ts), its own, since the
 * last test kills a node. Needs the build (`npx tsc -b`); without `server/dist/main.js` the suite is
 * skipped, and says so.
 */
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { HikariClient } from './client';
import { ClientEvents } from './events';
import { Cluster, haveServer, SERVER_MAIN, useRealCluster } from './real-cluster.test';
import { eventually } from './scripted-peer.test';
import { WatchItem } from './watch';
import { rejection } from './testing/errors';

const CLUSTER_ID = 'sessions-it';

type LifecycleEvent = Exclude<keyof ClientEvents, 'event'>;

function recordEvents(client: HikariClient): LifecycleEvent[] {
  const log: LifecycleEvent[] = [];
  for (const name of ['connected', 'reconnected', 'suspended', 'expired', 'disconnected'] as const) {
    client.on(name, () => log.push(name));
  }
  return log;
}

/** The next `count` items of an iterator, without closing the watch. */
async function next(iterator: AsyncIterator<WatchItem>, count: number): Promise<WatchItem[]> {
  const items: WatchItem[] = [];
  while (items.length < count) {
    const result = await iterator.next();
    if (result.done === true) throw new Error(`the watch ended after ${items.length} items`);
    items.push(result.value);
  }
  return items;
}


const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

if (!haveServer) console.warn(`sessions.integration.test: skipped, ${SERVER_MAIN} is missing (run npx tsc -b)`);

(haveServer ? describe : describe.skip)('sessions and watches against a real 3-node cluster', () => {
  const real = useRealCluster(CLUSTER_ID);
  const connect = real.connect.bind(real);
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = real.cluster;
  });


  test('an ephemeral node belongs to the session and is deleted as soon as its client closes', async () => {
    const owner = await connect();
    const observer = await connect({ session: false });
    await observer.create('/eph', '');
    const { stat } = await owner.create('/eph/me', 'x', { mode: 'ephemeral' });
    expect(stat.ephemeralOwner).toBe(owner.session!.id);
    expect((await observer.exists('/eph/me'))?.stat.ephemeralOwner).toBe(owner.session!.id);

    await owner.close();
    expect(owner.session?.state).toBe('closed');
    expect(await observer.exists('/eph/me')).toBeNull(); // at once, not at the session's expiry

    const error = await rejection(observer.create('/eph/none', '', { mode: 'ephemeral' }));
    expect(error.code).toBe(ErrorCode.SESSION_EXPIRED); // no session, no ephemeral node
  });

  test('a data watch sees its node created, changed and deleted, in order, at the indexes of those writes', async () => {
    const client = await connect();
    const watch = client.watch('/watched');
    const iterator = watch[Symbol.asyncIterator]();
    await watch.ready;
    const created = await client.create('/watched', 'a');
    const changed = await client.set('/watched', 'b');
    await client.delete('/watched');
    const items = await next(iterator, 3);
    expect(items.map((item) => [item.type, 'path' in item ? item.path : null])).toEqual([
      ['created', '/watched'],
      ['changed', '/watched'],
      ['deleted', '/watched'],
    ]);
    expect(items[0]!.index).toBe(created.stat.modifiedIndex);
    expect(items[1]!.index).toBe(changed.stat.modifiedIndex);
    expect(items[2]!.index).toBeGreaterThan(changed.stat.modifiedIndex);
    watch.close();
  });

  test('a children watch sees children come and go, a recursive watch sees everything below', async () => {
    const client = await connect();
    await client.create('/tree', '');
    const children = client.watch('/tree', { kind: 'children' });
    const recursive = client.watch('/tree', { kind: 'recursive' });
    const [byChild, byTree] = [children[Symbol.asyncIterator](), recursive[Symbol.asyncIterator]()];
    await Promise.all([children.ready, recursive.ready]);
    await client.create('/tree/a', '');
    await client.create('/tree/a/deep', '');
    await client.set('/tree/a', 'x');
    await client.delete('/tree/a/deep');
    await client.delete('/tree/a');
    const summary = (items: WatchItem[]) => items.map((item) => `${item.type} ${'path' in item ? item.path : ''}`);
    expect(summary(await next(byChild, 2))).toEqual(['created /tree/a', 'deleted /tree/a']);
    expect(summary(await next(byTree, 5))).toEqual([
      'created /tree/a',
      'created /tree/a/deep',
      'changed /tree/a',
      'deleted /tree/a/deep',
      'deleted /tree/a',
    ]);
  });

  test('killing the node the client is on: the session, its ephemeral node and its watch survive, nothing lost or repeated', async () => {
    const leader = await cluster.waitForLeader();
    const owner = await connect();
    expect(owner.endpoint).toBe(leader.client); // a session lives on the leader
    const log = recordEvents(owner);
    const sessionId = owner.session!.id;
    await owner.create('/survivor', 'mine', { mode: 'ephemeral' });
    const watch = owner.watch('/counter');
    const iterator = watch[Symbol.asyncIterator]();
    await watch.ready;

    // Another client writes all along, through the failover; each write's index is what the watch must show.
    const writer = await connect({ session: false });
    const indexes = [(await writer.create('/counter', '0')).stat.modifiedIndex];
    const failures: HikariError[] = [];
    let stop = false;
    const writing = (async () => {
      for (let n = 1; !stop; n++) {
        try {
          indexes.push((await writer.set('/counter', String(n), { timeoutMs: 20_000 })).stat.modifiedIndex);
        } catch (error) {
          failures.push(error as HikariError);
        }
        await sleep(5);
      }
    })();
    await sleep(300);
    await cluster.kill(leader.id);
    const newLeader = await cluster.waitForLeader();
    await eventually(() => log.includes('reconnected'), 20_000, 'the session to come back');
    const atReconnect = indexes.length;
    await eventually(() => indexes.length >= atReconnect + 30, 20_000, 'writes after the failover');
    stop = true;
    await writing;
    expect(failures.map((error) => `${error.code}: ${error.message}`)).toEqual([]);

    const seen: WatchItem[] = [];
    while (seen.length < indexes.length) seen.push(...(await next(iterator, 1)));
    expect(seen.map((item) => item.index)).toEqual(indexes);
    expect(seen.map((item) => item.type)).toEqual(['created', ...indexes.slice(1).map(() => 'changed')]);

    expect(log).not.toContain('expired');
    expect(log.filter((name) => name !== 'disconnected').slice(0, 2)).toEqual(['suspended', 'reconnected']);
    expect(owner.session).toMatchObject({ id: sessionId, state: 'connected' });
    expect(owner.endpoint).toBe(newLeader.client);
    expect((await writer.exists('/survivor'))?.stat.ephemeralOwner).toBe(sessionId);
  });
});
