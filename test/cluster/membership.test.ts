import { allChildren, startTestCluster, startWriter, TestCluster } from './harness';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function admin(address: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`http://${address}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('membership changes with a writer running', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster(3);
  });
  afterAll(async () => t.destroy());

  test('add a 4th node (learner, then voter) and remove one: nothing acknowledged is lost', async () => {
    const client = await t.client();
    await client.create('/m');
    const writer = startWriter(client, '/m');
    await sleep(500);
    const c = t.cluster;
    const leader = await c.waitForLeader();
    const n4 = await c.addNodeDefinition();
    const added = await admin(c.node(leader).admin, 'POST', '/members', { id: n4.id, peer: n4.peer, client: n4.client });
    expect(added.status).toBe(200);
    expect(added.json.learners).toEqual([n4.id]);
    c.start(n4.id, true);
    const st = await c.status(leader);
    await c.waitForApplied(st!.commitIndex, 20_000, [n4.id]);
    const promoted = await admin(c.node(await c.waitForLeader()).admin, 'POST', '/members', { id: n4.id, promote: true });
    expect(promoted.status).toBe(200);
    expect(promoted.json.voters).toEqual([1, 2, 3, 4]);
    await sleep(500);

    const victim = (await c.waitForLeader()) === 1 ? 2 : 1;
    const removed = await admin(c.node(await c.waitForLeader()).admin, 'DELETE', `/members/${victim}`);
    expect(removed.status).toBe(200);
    expect(removed.json.voters).not.toContain(victim);
    await c.kill(victim, 'SIGTERM');
    await sleep(800);
    const { acked } = await writer.stop();
    expect(acked.length).toBeGreaterThan(50);

    const remaining = c.nodes.map((n) => n.id).filter((id) => id !== victim);
    const leaderNow = await c.waitForLeader(20_000, remaining);
    const final = await c.status(leaderNow);
    await c.waitForApplied(final!.commitIndex, 20_000, remaining);
    for (const id of remaining) {
      const local = await t.client([c.node(id).client]);
      const names = new Set(await allChildren(local, '/m', true));
      expect(acked.filter((p) => !names.has(p.slice('/m/'.length)))).toEqual([]);
    }
  });
});
