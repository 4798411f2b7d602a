import { memoryExample } from './memory';

describe('the README MemoryCluster example', () => {
  test('runs without a cluster and prints what the README says', async () => {
    const lines: string[] = [];
    await memoryExample((line) => lines.push(line));
    expect(lines).toEqual([
      'seat 12A reserved with token 1',
      'after the expiry: grant lost true, new session true',
      'api-1 registered again on the new session: true',
    ]);
  });
});
