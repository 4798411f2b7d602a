import { basicExample } from './basic';
import { startTestCluster, TestCluster } from '../../test/cluster/harness';

describe('the README SDK example', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster(3);
  });
  afterAll(async () => t.destroy());

  test('runs against a real 3-node cluster and prints what the README says', async () => {
    const lines: string[] = [];
    await basicExample(t.cluster.endpoints, (l) => lines.push(l));
    expect(lines).toEqual([
      'created /app/config at version 0',
      'read {"color":"blue"}',
      'second compare-and-set refused: BAD_VERSION',
      'queued /app/job-0000000000',
      'child config',
      'child job-0000000000',
      'after multi: /app/done exists',
    ]);
  });
});
