import { sessionsExample } from './sessions';
import { startTestCluster, TestCluster } from '../../test/cluster/harness';

describe('the README sessions example', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster(3);
  });
  afterAll(async () => t.destroy());

  test('a monitor sees a worker\'s ephemeral node appear and go when the worker closes', async () => {
    const lines: string[] = [];
    await sessionsExample(t.cluster.endpoints, (l) => lines.push(l));
    expect(lines).toEqual(['created /workers/w1', 'deleted /workers/w1']);
  });
});
