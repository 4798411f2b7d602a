import { allChildren, startTestCluster, startWriter, TestCluster } from './harness';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('durability across a whole-cluster restart', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster(3, ['--snapshot-every', '300']);
  });
  afterAll(async () => t.destroy());

  test('every acknowledged write is there after all three processes are stopped and started again', async () => {
    const client = await t.client();
    await client.create('/d', 'root-data');
    const writer = startWriter(client, '/d');
    await sleep(1500);
    const { acked } = await writer.stop();
    expect(acked.length).toBeGreaterThan(50);
    await client.set('/d', 'changed');
    await client.close();

    await t.cluster.stopAll();
    t.cluster.startAll();
    await t.cluster.waitForLeader(30_000);
    const again = await t.client();
    const names = new Set(await allChildren(again, '/d'));
    expect(acked.filter((p) => !names.has(p.slice('/d/'.length)))).toEqual([]);
    expect((await again.get('/d')).data.toString()).toBe('changed');
    expect((await again.get(acked[acked.length - 1])).data.toString()).toBe(`v${acked.length - 1}`);
  });
});
