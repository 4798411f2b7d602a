import { runSingleNodeExample } from './single-node';

test('the README Raft example commits and applies a proposal on a single-voter cluster', () => {
  const lines: string[] = [];
  const index = runSingleNodeExample((l) => lines.push(l));
  expect(index).toBe(3); // 1: bootstrap AddVoter, 2: the leader's no-op, 3: "hello"
  expect(lines).toEqual(['applied hello at 3']);
});
