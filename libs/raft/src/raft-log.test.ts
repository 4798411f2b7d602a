import { RaftLog } from './raft-log';
import { Unstable } from './unstable';
import { MemoryStorage } from './storage';
import { RaftError, RaftErrorCode } from './errors';
import { ENTRY_OVERHEAD_BYTES, Entry, Snapshot } from './types';
import { entries, entry } from './testing/network';

function code(fn: () => unknown): RaftErrorCode | 'no error' {
  try {
    fn();
  } catch (e) {
    if (e instanceof RaftError) return e.code;
    throw e;
  }
  return 'no error';
}

const ids = (ents: readonly Entry[]): Array<[number, number]> => ents.map((e) => [e.index, e.term]);

function snapshot(index: number, term: number): Snapshot {
  return { metadata: { index, term, confState: { voters: [1], learners: [] } }, data: new Uint8Array() };
}

/**
 * A RaftLog whose entries 1..stableTerms.length (terms `stableTerms`) are in storage, followed by
 * unstable entries with terms `unstableTerms`; optionally compacted up to `compactTo`.
 */
function logWith(stableTerms: number[], unstableTerms: number[] = [], opts: { compactTo?: number; commit?: number } = {}): RaftLog {
  const storage = new MemoryStorage({ voters: [1], learners: [] });
  storage.append(entries(1, stableTerms));
  if (opts.compactTo) {
    storage.createSnapshot(opts.compactTo, { voters: [1], learners: [] }, new Uint8Array());
    storage.compact(opts.compactTo);
  }
  const log = new RaftLog(storage, Infinity);
  if (unstableTerms.length > 0) log.append(entries(stableTerms.length + 1, unstableTerms));
  if (opts.commit) log.commitTo(opts.commit);
  return log;
}

function allTerms(log: RaftLog): number[] {
  const out: number[] = [];
  for (let i = log.firstIndex(); i <= log.lastIndex(); i++) out.push(log.term(i));
  return out;
}

describe('Unstable', () => {
  it('knows its first index only when it holds a snapshot, its last index when it holds anything', () => {
    const u = new Unstable(5);
    expect(u.maybeFirstIndex()).toBeUndefined();
    expect(u.maybeLastIndex()).toBeUndefined();
    u.truncateAndAppend(entries(5, [1, 1]));
    expect(u.maybeFirstIndex()).toBeUndefined();
    expect(u.maybeLastIndex()).toBe(6);
    u.restore(snapshot(9, 2));
    expect(u.maybeFirstIndex()).toBe(10);
    expect(u.maybeLastIndex()).toBe(9);
  });

  it.each([
    // offset 5, entries 5@1 6@2, snapshot at 4 (term 1)
    [3, undefined],
    [4, 1], // the snapshot's own index
    [5, 1],
    [6, 2],
    [7, undefined],
  ])('maybeTerm(%i) -> %s', (index, want) => {
    const u = new Unstable(5);
    u.snapshot = snapshot(4, 1);
    u.truncateAndAppend(entries(5, [1, 2]));
    expect(u.maybeTerm(index)).toBe(want);
  });

  describe('truncateAndAppend', () => {
    it.each([
      // offset 5, entries 5@1 6@1 7@1 with the first two handed out (inProgress 2)
      ['append right after the end', entries(8, [2]), 5, [1, 1, 1, 2], 2],
      ['replace the whole unstable part', entries(5, [2, 2]), 5, [2, 2], 0],
      ['replace from below the offset (entries came from storage)', entries(4, [2, 2]), 4, [2, 2], 0],
      ['truncate in the middle of handed-out entries', entries(6, [2]), 5, [1, 2], 1],
      ['truncate after the handed-out entries', entries(7, [2, 2]), 5, [1, 1, 2, 2], 2],
    ])('%s', (_name, ents, wantOffset, wantTerms, wantInProgress) => {
      const u = new Unstable(5);
      u.truncateAndAppend(entries(5, [1, 1, 1]));
      u.acceptInProgress();
      u.inProgress = 2;
      u.truncateAndAppend(ents);
      expect(u.offset).toBe(wantOffset);
      expect(u.entries.map((e) => e.term)).toEqual(wantTerms);
      expect(u.inProgress).toBe(wantInProgress);
    });

    it('an append that leaves a gap is a broken invariant', () => {
      const u = new Unstable(5);
      u.truncateAndAppend(entries(5, [1]));
      expect(code(() => u.truncateAndAppend(entries(7, [1])))).toBe(RaftErrorCode.INVARIANT);
    });
  });

  describe('stableTo', () => {
    it.each([
      // offset 5, entries 5@1 6@1 7@2, all handed out
      ['persisted a prefix', 6, 1, 7, [2], 1],
      ['persisted everything', 7, 2, 8, [], 0],
      ['term mismatch: the entry was replaced meanwhile', 7, 1, 5, [1, 1, 2], 3],
      ['index below the unstable part', 4, 1, 5, [1, 1, 2], 3],
      ['index past the unstable part', 8, 2, 5, [1, 1, 2], 3],
    ])('%s: stableTo(%i, %i)', (_name, index, term, wantOffset, wantTerms, wantInProgress) => {
      const u = new Unstable(5);
      u.truncateAndAppend(entries(5, [1, 1, 2]));
      u.acceptInProgress();
      u.stableTo(index, term);
      expect(u.offset).toBe(wantOffset);
      expect(u.entries.map((e) => e.term)).toEqual(wantTerms);
      expect(u.inProgress).toBe(wantInProgress);
    });

    it('does not drop entries for a snapshot index that matches no unstable entry', () => {
      const u = new Unstable(5);
      u.restore(snapshot(4, 1));
      u.stableTo(4, 1);
      expect(u.snapshot).not.toBeNull();
      expect(u.offset).toBe(5);
    });
  });

  it('hands out entries and a snapshot once (nextEntries / nextSnapshot / acceptInProgress)', () => {
    const u = new Unstable(1);
    u.restore(snapshot(4, 1));
    u.truncateAndAppend(entries(5, [1, 1]));
    expect(ids(u.nextEntries())).toEqual([[5, 1], [6, 1]]);
    expect(u.nextSnapshot()?.metadata.index).toBe(4);
    u.acceptInProgress();
    expect(u.nextEntries()).toEqual([]);
    expect(u.nextSnapshot()).toBeNull();
    u.truncateAndAppend(entries(7, [1]));
    expect(ids(u.nextEntries())).toEqual([[7, 1]]);
    u.stableSnapTo(3); // not this snapshot
    expect(u.snapshot).not.toBeNull();
    u.stableSnapTo(4);
    expect(u.snapshot).toBeNull();
  });

  it('slice outside the unstable part is a broken invariant', () => {
    const u = new Unstable(5);
    u.truncateAndAppend(entries(5, [1, 1]));
    expect(ids(u.slice(5, 7))).toEqual([[5, 1], [6, 1]]);
    expect(code(() => u.slice(4, 6))).toBe(RaftErrorCode.INVARIANT);
    expect(code(() => u.slice(5, 8))).toBe(RaftErrorCode.INVARIANT);
  });
});

describe('RaftLog', () => {
  describe('maybeAppend (log 1@1 2@2 in storage, 3@3 unstable, commit 1)', () => {
    const base = (): RaftLog => logWith([1, 2], [3], { commit: 1 });
    it.each([
      // prevIndex, prevTerm, leaderCommit, entries -> lastNew, commit, resulting terms
      ['prev term differs', 3, 2, 3, entries(4, [4]), undefined, 1, [1, 2, 3]],
      ['prev index past the end', 4, 3, 3, entries(5, [4]), undefined, 1, [1, 2, 3]],
      ['match the last entry, nothing new', 3, 3, 3, [], 3, 3, [1, 2, 3]],
      ['commit never passes the last new entry', 3, 3, 4, [], 3, 3, [1, 2, 3]],
      ['commit follows the leader', 3, 3, 2, [], 3, 2, [1, 2, 3]],
      ['commit never decreases', 3, 3, 0, [], 3, 1, [1, 2, 3]],
      ['empty match at 0', 0, 0, 3, [], 0, 1, [1, 2, 3]],
      ['append one', 3, 3, 3, entries(4, [4]), 4, 3, [1, 2, 3, 4]],
      ['append one and commit it', 3, 3, 4, entries(4, [4]), 4, 4, [1, 2, 3, 4]],
      ['append one, commit capped at it', 3, 3, 5, entries(4, [4]), 4, 4, [1, 2, 3, 4]],
      ['append two and commit them', 3, 3, 5, entries(4, [4, 4]), 5, 5, [1, 2, 3, 4, 4]],
      ['conflict in the unstable part', 2, 2, 3, entries(3, [4]), 3, 3, [1, 2, 4]],
      ['conflict in the stable part', 1, 1, 3, entries(2, [4]), 2, 2, [1, 4]],
      ['conflict in the stable part, longer', 1, 1, 3, entries(2, [4, 4]), 3, 3, [1, 4, 4]],
      ['already present entries are not rewritten', 1, 1, 3, entries(2, [2, 3]), 3, 3, [1, 2, 3]],
      ['a prefix of what we have does not truncate the rest', 1, 1, 1, entries(2, [2]), 2, 1, [1, 2, 3]],
    ])('%s', (_name, prevIndex, prevTerm, commit, ents, wantLastNew, wantCommit, wantTerms) => {
      const log = base();
      expect(log.maybeAppend(prevIndex, prevTerm, commit, ents)).toBe(wantLastNew);
      expect(log.committed).toBe(wantCommit);
      expect(allTerms(log)).toEqual(wantTerms);
    });

    it('a conflict with a committed entry is a broken invariant', () => {
      const log = base();
      expect(code(() => log.maybeAppend(0, 0, 3, entries(1, [4])))).toBe(RaftErrorCode.INVARIANT);
      expect(allTerms(log)).toEqual([1, 2, 3]);
    });
  });

  describe('findConflict (log 1@1 2@2 3@3)', () => {
    it.each([
      [[], 0],
      [entries(1, [1, 2, 3]), 0],
      [entries(2, [2, 3]), 0],
      [entries(3, [3]), 0],
      [entries(1, [1, 2, 3, 4, 4]), 4],
      [entries(2, [2, 3, 4, 4]), 4],
      [entries(3, [3, 4, 4]), 4],
      [entries(4, [4, 4]), 4],
      [entries(1, [4, 4]), 1],
      [entries(2, [1, 4, 4]), 2],
      [entries(3, [1, 2, 4, 4]), 3],
    ])('%#: first conflict at %i', (ents, want) => {
      expect(logWith([1, 2], [3]).findConflict(ents)).toBe(want);
    });
  });

  describe('findConflictByTerm', () => {
    it.each([
      // log 1@2 2@2 3@5 4@5 5@5 -> (index, term) -> (index, term)
      [5, 6, 5, 5],
      [5, 5, 5, 5],
      [5, 4, 2, 2], // skips the whole term 5
      [5, 2, 2, 2],
      [5, 1, 0, 0],
      [1, 2, 1, 2],
      [1, 1, 0, 0],
      [0, 0, 0, 0],
      [7, 5, 7, 0], // an index we do not have: unknown term, may still match
    ])('in a full log: (%i, %i) -> (%i, %i)', (index, term, wantIndex, wantTerm) => {
      expect(logWith([2, 2, 5, 5, 5]).findConflictByTerm(index, term)).toEqual({ index: wantIndex, term: wantTerm });
    });

    it.each([
      // compacted to 3 (term 5): 4@5 5@5 6@6
      [6, 6, 6, 6],
      [6, 5, 5, 5],
      [6, 4, 2, 0], // walks down past the snapshot: the compacted index has an unknown term
      [3, 5, 3, 5], // the snapshot index itself is known
    ])('in a compacted log: (%i, %i) -> (%i, %i)', (index, term, wantIndex, wantTerm) => {
      const log = logWith([1, 3, 5, 5, 5, 6], [], { compactTo: 3 });
      expect(log.findConflictByTerm(index, term)).toEqual({ index: wantIndex, term: wantTerm });
    });
  });

  describe('term', () => {
    it.each([
      [1, 0], // compacted
      [2, 0], // compacted
      [3, 5], // the snapshot's index
      [4, 5],
      [6, 6],
      [7, 7], // unstable
      [8, 0], // past the end
    ])('term(%i) -> %i', (index, want) => {
      const log = logWith([1, 3, 5, 5, 5, 6], [7], { compactTo: 3 });
      expect(log.term(index)).toBe(want);
    });

    it('matchTerm is false outside the log even for term 0', () => {
      const log = logWith([1, 3, 5], [], { compactTo: 2 });
      expect(log.matchTerm(1, 0)).toBe(false);
      expect(log.matchTerm(4, 0)).toBe(false);
      expect(log.matchTerm(2, 3)).toBe(true);
    });
  });

  describe('isUpToDate (last entry 3@3)', () => {
    it.each([
      [2, 2, false], // lower term
      [3, 2, false],
      [4, 2, false], // a longer log of a lower term is still behind
      [2, 3, false], // same term, shorter
      [3, 3, true], // same
      [4, 3, true], // same term, longer
      [1, 4, true], // a higher last term wins even when shorter
    ])('candidate last index %i term %i -> %s', (index, term, want) => {
      expect(logWith([1, 2], [3]).isUpToDate(index, term)).toBe(want);
    });
  });

  describe('commitTo', () => {
    it('moves forward, never backward, and never past the last index', () => {
      const log = logWith([1, 1], [1]);
      log.commitTo(2);
      expect(log.committed).toBe(2);
      log.commitTo(1);
      expect(log.committed).toBe(2);
      log.commitTo(3);
      expect(log.committed).toBe(3);
      expect(code(() => log.commitTo(4))).toBe(RaftErrorCode.INVARIANT);
      expect(log.committed).toBe(3);
    });

    it('maybeCommit commits only an entry of the given term (§5.4.2)', () => {
      const log = logWith([1, 1, 2]);
      expect(log.maybeCommit(3, 3)).toBe(false);
      expect(log.committed).toBe(0);
      expect(log.maybeCommit(2, 1)).toBe(true);
      expect(log.committed).toBe(2);
      expect(log.maybeCommit(1, 1)).toBe(false);
      expect(log.committed).toBe(2);
    });
  });

  describe('slice across the storage/unstable boundary (compacted to 2; 3..5 stable, 6..8 unstable; 100 bytes each)', () => {
    const sized = (): RaftLog => {
      const storage = new MemoryStorage();
      const big = (i: number): Entry => entry(i, 1, 'x'.repeat(100 - ENTRY_OVERHEAD_BYTES));
      storage.append([1, 2, 3, 4, 5].map(big));
      storage.compact(2);
      const log = new RaftLog(storage, Infinity);
      log.append([6, 7, 8].map(big));
      return log;
    };
    it.each([
      [3, 9, Infinity, [3, 4, 5, 6, 7, 8]],
      [4, 7, Infinity, [4, 5, 6]],
      [6, 9, Infinity, [6, 7, 8]],
      [5, 5, Infinity, []],
      [3, 9, 250, [3, 4]], // storage stops early: no unstable entries mixed in
      [3, 9, 300, [3, 4, 5]],
      [4, 9, 300, [4, 5, 6]], // the limit applies to the combined slice
      [5, 9, 0, [5]], // at least one entry
      [6, 9, 150, [6]],
      [6, 9, 200, [6, 7]],
    ])('slice(%i, %i, %s)', (lo, hi, maxBytes, want) => {
      expect(sized().slice(lo, hi, maxBytes).map((e) => e.index)).toEqual(want);
    });

    it('below the first index throws COMPACTED; past the last index is a broken invariant', () => {
      const log = sized();
      expect(code(() => log.slice(2, 5, Infinity))).toBe(RaftErrorCode.COMPACTED);
      expect(code(() => log.slice(3, 10, Infinity))).toBe(RaftErrorCode.INVARIANT);
      expect(log.entriesFrom(9, Infinity)).toEqual([]);
      expect(log.entriesFrom(8, Infinity).map((e) => e.index)).toEqual([8]);
    });
  });

  describe('committed entries for applying', () => {
    it('hands out each committed entry once, bounded by maxApplyBytes, and applies in order', () => {
      const storage = new MemoryStorage();
      storage.append(entries(1, [1, 1, 1, 1]));
      const log = new RaftLog(storage, 2 * (ENTRY_OVERHEAD_BYTES + 3));
      expect(log.hasNextCommittedEntries()).toBe(false);
      log.commitTo(3);
      const first = log.nextCommittedEntries();
      expect(first.map((e) => e.index)).toEqual([1, 2]);
      log.acceptApplying(2);
      expect(log.nextCommittedEntries().map((e) => e.index)).toEqual([3]);
      log.acceptApplying(3);
      expect(log.hasNextCommittedEntries()).toBe(false);
      log.appliedTo(2);
      expect(log.applied).toBe(2);
      expect(code(() => log.appliedTo(1))).toBe(RaftErrorCode.INVARIANT); // backwards
      expect(code(() => log.appliedTo(4))).toBe(RaftErrorCode.INVARIANT); // past commit
      expect(code(() => log.acceptApplying(4))).toBe(RaftErrorCode.INVARIANT);
    });
  });

  describe('restore', () => {
    it('replaces the log with a snapshot and holds back applying until the snapshot is stable', () => {
      const log = logWith([1, 1], [2]);
      log.restore(snapshot(10, 4));
      expect(log.firstIndex()).toBe(11);
      expect(log.lastIndex()).toBe(10);
      expect(log.committed).toBe(10);
      expect(log.term(10)).toBe(4);
      expect(log.term(3)).toBe(0);
      expect(log.hasNextCommittedEntries()).toBe(false);
      expect(log.snapshot().metadata.index).toBe(10);
      // New entries from the leader go after the snapshot.
      expect(log.maybeAppend(10, 4, 11, entries(11, [4]))).toBe(11);
      expect(log.committed).toBe(11);
      expect(log.hasNextCommittedEntries()).toBe(false); // still waiting for the snapshot to be persisted
    });
  });
});
