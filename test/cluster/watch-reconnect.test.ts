import { HikariClient } from '@hikarikeeper/client';
import { startTestCluster, TestCluster } from './harness';

describe('watches across a reconnect', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster(3);
  });
  afterAll(async () => t.destroy());

  test('a watch begun on a follower that lags starts after every change completed before the call (it reports none of them)', async () => {
    const c = t.cluster;
    const leader = await c.waitForLeader();
    const follower = c.nodes.find((n) => n.id !== leader)!;
    const watcher = await HikariClient.connect({ endpoints: [follower.client], clusterId: t.clusterId, session: false });
    const writer = await t.client([c.node(leader).client]);
    try {
      await lagRounds();
    } finally {
      await watcher.close();
    }
    async function lagRounds(): Promise<void> {
      for (let round = 0; round < 5; round++) {
        const path = `/lag-${round}`;
        // The follower misses two writes (the leader and the other follower commit them), then wakes
        // with them in its socket buffer at the moment the watch request arrives.
        c.signal(follower.id, 'SIGSTOP');
        await writer.create(path, 'v0');
        await writer.set(path, 'v1');
        c.signal(follower.id, 'SIGCONT');
        const watch = watcher.watch(path, { kind: 'data' });
        const events: Array<{ type: string; index: number }> = [];
        watch.on('event', (event) => events.push(event));
        await watch.ready;
        const { stat } = await writer.set(path, 'v2');
        const deadline = Date.now() + 5_000;
        while (events.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        await new Promise((r) => setTimeout(r, 100)); // anything else that would come
        watch.close();
        expect(events).toEqual([expect.objectContaining({ type: 'changed', index: stat.modifiedIndex })]);
      }
    }
  });

  test('1,000 changes under load with the watcher\'s node killed in the middle: every change seen once, in order', async () => {
    const c = t.cluster;
    const leader = await c.waitForLeader();
    const followers = c.nodes.filter((n) => n.id !== leader);
    // The watcher talks to the followers only, so that killing its node leaves the writes going.
    const watcher = await HikariClient.connect({ endpoints: followers.map((n) => n.client), clusterId: t.clusterId, session: false });
    const writer = await t.client();
    await writer.create('/w');
    const watch = watcher.watch('/w', { kind: 'recursive' });
    await watch.ready;
    const seen: Array<{ index: number; path: string; type: string }> = [];
    const consumed = (async () => {
      for await (const item of watch) {
        if (item.type === 'resync') throw new Error('unexpected resync: the history should cover the gap');
        seen.push(item);
        if (seen.length === 1000) break;
      }
    })();
    const total = 1000;
    let next = 0;
    let killed = false;
    let victimId = 0;
    const writers = Array.from({ length: 8 }, async () => {
      while (next < total) {
        const i = next++;
        await writer.create(`/w/n${String(i).padStart(4, '0')}`, `v${i}`);
        if (!killed && i >= total / 2) {
          killed = true;
          const victim = followers.find((n) => n.client === watcher.endpoint);
          if (victim) {
            victimId = victim.id;
            await c.kill(victim.id, 'SIGKILL');
          }
        }
      }
    });
    await Promise.all(writers);
    await consumed;
    expect(victimId).toBeGreaterThan(0); // the watcher's own node was killed mid-stream
    expect(c.isRunning(victimId)).toBe(false);
    expect(watcher.endpoint).not.toBe(c.node(victimId).client); // it moved to the other follower
    expect(seen).toHaveLength(total);
    expect(new Set(seen.map((e) => e.path)).size).toBe(total); // no duplicate
    for (let i = 1; i < seen.length; i++) expect(seen[i].index).toBeGreaterThan(seen[i - 1].index); // index order
    expect(seen.every((e) => e.type === 'created')).toBe(true);
    await watcher.close();
  });
});
