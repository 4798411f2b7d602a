import { ProposalOutcome, ProposalTracker } from './proposal-tracker';
import { entry } from './testing/network';

type Outcomes = Array<[string, ProposalOutcome]>;

function tracker(): { t: ProposalTracker<string>; outcomes: Outcomes; done: (w: string, o: ProposalOutcome) => void } {
  const outcomes: Outcomes = [];
  return { t: new ProposalTracker<string>(), outcomes, done: (w, o) => outcomes.push([w, o]) };
}

describe('ProposalTracker', () => {
  it('an entry applied at the proposed index with the proposed term committed', () => {
    const { t, outcomes, done } = tracker();
    t.track(5, 2, 'a');
    t.applied(entry(4, 2), done);
    expect(outcomes).toEqual([]);
    t.applied(entry(5, 2), done);
    expect(outcomes).toEqual([['a', ProposalOutcome.Committed]]);
    expect(t.size).toBe(0);
  });

  it('an entry of another term at that index means the proposal was lost', () => {
    const { t, outcomes, done } = tracker();
    t.track(5, 2, 'a');
    t.applied(entry(5, 3), done);
    expect(outcomes).toEqual([['a', ProposalOutcome.Lost]]);
  });

  it('resolves several waiters in index order, each exactly once', () => {
    const { t, outcomes, done } = tracker();
    t.track(3, 1, 'a');
    t.track(4, 1, 'b');
    t.track(6, 1, 'c');
    for (const i of [3, 4, 5, 6]) t.applied(entry(i, i === 6 ? 2 : 1), done);
    t.applied(entry(6, 2), done); // applying again resolves nothing
    expect(outcomes).toEqual([
      ['a', ProposalOutcome.Committed],
      ['b', ProposalOutcome.Committed],
      ['c', ProposalOutcome.Lost],
    ]);
    expect(t.size).toBe(0);
  });

  it('a waiter tracked after lower indexes were resolved still resolves', () => {
    const { t, outcomes, done } = tracker();
    t.track(10, 1, 'a');
    t.applied(entry(10, 1), done);
    t.track(11, 1, 'b');
    t.track(7, 1, 'old'); // lower than anything seen before
    t.applied(entry(7, 1), done);
    t.applied(entry(11, 1), done);
    expect(outcomes.map(([w]) => w)).toEqual(['a', 'old', 'b']);
  });

  it('a snapshot over the index makes the outcome unknown; later indexes keep waiting', () => {
    const { t, outcomes, done } = tracker();
    t.track(3, 1, 'a');
    t.track(8, 1, 'b');
    t.track(12, 1, 'c');
    t.snapshotInstalled(8, done);
    expect(outcomes).toEqual([
      ['a', ProposalOutcome.Unknown],
      ['b', ProposalOutcome.Unknown],
    ]);
    expect(t.size).toBe(1);
    t.applied(entry(12, 1), done);
    expect(outcomes[2]).toEqual(['c', ProposalOutcome.Committed]);
  });

  it('clear gives up on every waiter', () => {
    const { t, outcomes, done } = tracker();
    t.track(1, 1, 'a');
    t.track(2, 1, 'b');
    t.clear(done);
    expect(outcomes).toEqual([
      ['a', ProposalOutcome.Unknown],
      ['b', ProposalOutcome.Unknown],
    ]);
    expect(t.size).toBe(0);
    t.applied(entry(1, 1), done);
    expect(outcomes).toHaveLength(2);
  });
});

describe('ProposalTracker edge cases', () => {
  it('a second proposal at the same index (a later term) does not drop the first waiter', () => {
    // E.g. a node's uncommitted tail was replaced by a snapshot below it, and the node, leader again,
    // proposes at that index before the first proposal's fate was known.
    const { t, outcomes, done } = tracker();
    t.track(7, 2, 'first');
    t.track(7, 4, 'second');
    expect(t.size).toBe(2);
    t.applied(entry(7, 4), done);
    expect(outcomes).toEqual([
      ['first', ProposalOutcome.Lost],
      ['second', ProposalOutcome.Committed],
    ]);
    expect(t.size).toBe(0);
  });

  it('a snapshot over very many waiters does not overflow the stack', () => {
    const { t, outcomes, done } = tracker();
    const n = 300_000;
    for (let i = 1; i <= n; i++) t.track(i, 1, `w${i}`);
    t.snapshotInstalled(10, done);
    expect(outcomes).toHaveLength(10);
    expect(t.size).toBe(n - 10);
    t.applied(entry(11, 1), done);
    expect(outcomes[10]).toEqual(['w11', ProposalOutcome.Committed]);
  });

  it('a waiter callback may track a new proposal (re-entrancy)', () => {
    const t = new ProposalTracker<string>();
    const seen: string[] = [];
    t.track(1, 1, 'a');
    t.applied(entry(1, 1), (w) => {
      seen.push(w);
      t.track(2, 1, 'b');
    });
    t.applied(entry(2, 1), (w) => seen.push(w));
    expect(seen).toEqual(['a', 'b']);
    expect(t.size).toBe(0);
  });
});
