import { allChildren, startTestCluster, TestCluster } from './harness';

describe('a follower that fell behind the compacted log', () => {
  let t: TestCluster;
  beforeAll(async () => {
    // Snapshot (and compact) every 100 entries, so that 600 writes leave the log far past the follower.
    t = await startTestCluster(3, ['--snapshot-every', '100']);
  });
  afterAll(async () => t.destroy());

  test('catches up by an InstallSnapshot streamed from the leader, and ends with the same data', async () => {
    const client = await t.client();
    await client.create('/s');
    const leader = await t.cluster.waitForLeader();
    const follower = t.cluster.nodes.map((n) => n.id).find((id) => id !== leader)!;
    await t.cluster.kill(follower, 'SIGKILL');
    for (let i = 0; i < 600; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => client.create(`/s/n${i + j}`, `d${i + j}`)));
    }
    const st = await t.cluster.status(leader);
    expect(st!.firstIndex).toBeGreaterThan(300); // the log the follower needs is gone

    t.cluster.start(follower);
    await t.cluster.waitForApplied(st!.commitIndex, 30_000, [follower]);
    const installed = t.cluster.node(follower).logs.some((l) => l.includes('"snapshot installed"'));
    if (!installed) throw new Error(`node ${follower} installed no snapshot; its last lines:\n${t.cluster.tail(follower, 20)}`);
    const local = await t.client([t.cluster.node(follower).client]);
    const names = await allChildren(local, '/s', true);
    expect(names).toHaveLength(600);
    expect((await local.get('/s/n599', { stale: true })).data.toString()).toBe('d599');
  });
});
