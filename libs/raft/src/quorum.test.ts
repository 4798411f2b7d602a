import { majorityCommitted, quorumActive, voteResult, VoteResult } from './quorum';

/** Voters 1..n with the given match indexes. */
function committed(matches: number[]): number {
  const voters = matches.map((_, i) => i + 1);
  return majorityCommitted(voters, (id) => matches[id - 1]);
}

function votes(granted: number[], rejected: number[]): Map<number, boolean> {
  const m = new Map<number, boolean>();
  for (const id of granted) m.set(id, true);
  for (const id of rejected) m.set(id, false);
  return m;
}

describe('majorityCommitted', () => {
  it.each([
    [[5], 5],
    [[5, 3], 3], // two voters: both must have it
    [[3, 5], 3],
    [[5, 3, 1], 3],
    [[1, 5, 3], 3],
    [[7, 7, 0], 7],
    [[4, 3, 2, 1], 2], // four voters: three must have it
    [[9, 9, 1, 1], 1],
    [[9, 9, 9, 1], 9],
    [[5, 4, 3, 2, 1], 3],
    [[0, 0, 10, 10, 10], 10],
    [[0, 0, 0, 10, 10], 0],
  ])('matches %j -> %i', (matches, want) => {
    expect(committed(matches)).toBe(want);
  });

  it('does not reorder or modify the voter list', () => {
    const voters = [3, 1, 2];
    majorityCommitted(voters, (id) => id * 10);
    expect(voters).toEqual([3, 1, 2]);
  });

  it('an empty configuration commits nothing in particular (returns a sentinel above every index)', () => {
    expect(majorityCommitted([], () => 0)).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe('voteResult', () => {
  it.each([
    // voters, granted, rejected -> result
    [1, [1], [], VoteResult.Won],
    [1, [], [1], VoteResult.Lost],
    [1, [], [], VoteResult.Pending],
    [2, [1], [], VoteResult.Pending],
    [2, [1, 2], [], VoteResult.Won],
    [2, [1], [2], VoteResult.Lost], // 2 voters: one rejection is enough to lose
    [3, [1], [], VoteResult.Pending],
    [3, [1, 2], [], VoteResult.Won],
    [3, [1], [2], VoteResult.Pending],
    [3, [1], [2, 3], VoteResult.Lost],
    [4, [1, 2], [3], VoteResult.Pending], // 4 voters: the quorum is 3
    [4, [1, 2, 3], [4], VoteResult.Won],
    [4, [1, 2], [3, 4], VoteResult.Lost],
    [5, [1, 2], [3, 4], VoteResult.Pending],
    [5, [1, 2, 3], [], VoteResult.Won],
    [5, [1, 2], [3, 4, 5], VoteResult.Lost],
  ])('%i voters, granted %j, rejected %j -> %s', (n, granted, rejected, want) => {
    const voters = Array.from({ length: n }, (_, i) => i + 1);
    expect(voteResult(voters, votes(granted, rejected))).toBe(want);
  });

  it('ignores votes from non-voters', () => {
    expect(voteResult([1, 2, 3], votes([1, 7, 8, 9], []))).toBe(VoteResult.Pending);
    expect(voteResult([1, 2, 3], votes([1], [7, 8, 9]))).toBe(VoteResult.Pending);
  });
});

describe('quorumActive', () => {
  it.each([
    [[1], [1], true],
    [[1], [], false],
    [[1, 2], [1], false],
    [[1, 2, 3], [1, 3], true],
    [[1, 2, 3, 4], [1, 3], false],
    [[1, 2, 3, 4], [1, 3, 4], true],
    [[1, 2, 3, 4, 5], [1, 2, 9], false], // 9 is not a voter
  ])('voters %j, active %j -> %s', (voters, active, want) => {
    expect(quorumActive(voters, (id) => active.includes(id))).toBe(want);
  });
});
