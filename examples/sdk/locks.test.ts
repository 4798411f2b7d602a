import { locksExample } from './locks';
import { startTestCluster, TestCluster } from '../../test/cluster/harness';

describe('the README locks example', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster(3);
  });
  afterAll(async () => t.destroy());

  test('FIFO handoff with a larger token, a stale fenced write refused, an election handed over', async () => {
    const lines: string[] = [];
    await locksExample(t.cluster.endpoints, (l) => lines.push(l));
    expect(lines).toEqual([
      'queued behind token 1: 1 waiter',
      'handed over: token grew true',
      'stale token refused: FENCE_MISMATCH',
      'order is shipped',
      'after a throwing withLock: 0 holders',
      'leader: instance-a',
      'leader after resign: instance-b, b leads: true',
    ]);
  });
});
