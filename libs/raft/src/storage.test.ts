import { bootstrapLog, limitSize, MemoryStorage } from './storage';
import { RaftError, RaftErrorCode } from './errors';
import { ENTRY_OVERHEAD_BYTES, Entry, EntryType } from './types';
import { decodeConfChange, ConfChangeType } from './conf-change';
import { entries, entry } from './testing/network';

/** An entry that accounts for exactly 100 bytes. */
function e100(index: number, term: number): Entry {
  return entry(index, term, 'x'.repeat(100 - ENTRY_OVERHEAD_BYTES));
}

function code(fn: () => unknown): RaftErrorCode | 'no error' {
  try {
    fn();
  } catch (e) {
    if (e instanceof RaftError) return e.code;
    throw e;
  }
  return 'no error';
}

/** A storage whose snapshot is at index 3 (term 3) and whose log holds 4, 5 (terms 4, 5). */
function compactedStorage(): MemoryStorage {
  const s = new MemoryStorage({ voters: [1], learners: [] });
  s.append(entries(1, [1, 2, 3, 4, 5]));
  s.createSnapshot(3, { voters: [1], learners: [] }, new Uint8Array([9]));
  s.compact(3);
  return s;
}

function indexesAndTerms(s: MemoryStorage): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = s.firstIndex(); i <= s.lastIndex(); i++) out.push([i, s.term(i)]);
  return out;
}

describe('MemoryStorage', () => {
  it('starts empty: first 1, last 0, term(0) = 0', () => {
    const s = new MemoryStorage();
    expect(s.firstIndex()).toBe(1);
    expect(s.lastIndex()).toBe(0);
    expect(s.term(0)).toBe(0);
    expect(code(() => s.term(1))).toBe(RaftErrorCode.UNAVAILABLE);
    expect(s.initialState().hardState).toEqual({ term: 0, vote: 0, commit: 0 });
  });

  describe('term', () => {
    it.each([
      [2, RaftErrorCode.COMPACTED],
      [3, 3], // the snapshot's index: the dummy entry keeps its term
      [4, 4],
      [5, 5],
      [6, RaftErrorCode.UNAVAILABLE],
    ])('term(%i) after compacting to 3 -> %s', (index, want) => {
      const s = compactedStorage();
      if (typeof want === 'number') expect(s.term(index)).toBe(want);
      else expect(code(() => s.term(index))).toBe(want);
    });
  });

  describe('entries', () => {
    const s = (): MemoryStorage => {
      const st = new MemoryStorage();
      st.append([1, 2, 3, 4, 5].map((i) => e100(i, 1)));
      st.compact(1);
      return st;
    };

    it.each([
      // lo, hi, maxBytes -> indexes or error
      [1, 3, Infinity, RaftErrorCode.COMPACTED],
      [2, 7, Infinity, RaftErrorCode.UNAVAILABLE],
      [2, 2, Infinity, []],
      [2, 6, Infinity, [2, 3, 4, 5]],
      [2, 6, 300, [2, 3, 4]],
      [2, 6, 299, [2, 3]],
      [2, 6, 1, [2]], // always at least one entry, even if it alone is over the limit
      [3, 5, 0, [3]],
    ])('entries(%i, %i, %s)', (lo, hi, maxBytes, want) => {
      if (Array.isArray(want)) expect(s().entries(lo, hi, maxBytes).map((e) => e.index)).toEqual(want);
      else expect(code(() => s().entries(lo, hi, maxBytes))).toBe(want);
    });
  });

  describe('append', () => {
    const base = (): MemoryStorage => {
      const st = new MemoryStorage();
      st.append(entries(1, [1, 2, 3]));
      st.compact(1);
      return st; // snapshot/dummy at 1, entries 2@2, 3@3
    };

    it.each([
      ['identical entries: no change', entries(2, [2, 3]), [[2, 2], [3, 3]]],
      ['a longer identical run extends the log', entries(2, [2, 3, 3]), [[2, 2], [3, 3], [4, 3]]],
      ['a conflicting suffix is replaced', entries(2, [2, 4]), [[2, 2], [3, 4]]],
      ['a conflict truncates everything after it', entries(3, [5]), [[2, 2], [3, 5]]],
      ['a new entry right after the last one is appended', entries(4, [3]), [[2, 2], [3, 3], [4, 3]]],
      ['entries already compacted are skipped', entries(1, [1, 2, 6, 6]), [[2, 2], [3, 6], [4, 6]]],
      ['a batch entirely below the first index is ignored', entries(0, [0, 1]), [[2, 2], [3, 3]]],
      ['an empty batch changes nothing', [], [[2, 2], [3, 3]]],
    ])('%s', (_name, batch, want) => {
      const st = base();
      st.append(batch);
      expect(indexesAndTerms(st)).toEqual(want);
    });

    it('an append that would leave a gap is a broken invariant', () => {
      const st = base();
      expect(code(() => st.append(entries(5, [3])))).toBe(RaftErrorCode.INVARIANT);
      expect(st.lastIndex()).toBe(3);
    });
  });

  describe('compact', () => {
    it('drops entries up to the index and keeps the term of the new dummy entry', () => {
      const s = compactedStorage();
      expect(s.firstIndex()).toBe(4);
      expect(s.lastIndex()).toBe(5);
      expect(s.entries(4, 6, Infinity).map((e) => e.index)).toEqual([4, 5]);
      expect(code(() => s.entries(3, 6, Infinity))).toBe(RaftErrorCode.COMPACTED);
    });

    it('compacting at or below the first index again is a no-op', () => {
      const s = compactedStorage();
      s.compact(2);
      s.compact(3);
      expect(s.firstIndex()).toBe(4);
      expect(s.term(3)).toBe(3);
    });

    it('compacting past the last index is refused', () => {
      const s = compactedStorage();
      expect(code(() => s.compact(6))).toBe(RaftErrorCode.UNAVAILABLE);
      expect(s.firstIndex()).toBe(4);
    });

    it('compacting everything leaves an empty log after the snapshot', () => {
      const s = compactedStorage();
      s.compact(5);
      expect(s.firstIndex()).toBe(6);
      expect(s.lastIndex()).toBe(5);
      expect(s.term(5)).toBe(5);
      s.append(entries(6, [6]));
      expect(s.lastIndex()).toBe(6);
    });
  });

  describe('snapshots', () => {
    it('createSnapshot records the term of the index and the given membership and data', () => {
      const s = new MemoryStorage();
      s.append(entries(1, [1, 1, 2]));
      const snap = s.createSnapshot(3, { voters: [1, 2], learners: [3] }, new Uint8Array([1, 2]));
      expect(snap.metadata).toEqual({ index: 3, term: 2, confState: { voters: [1, 2], learners: [3] } });
      expect(s.snapshot()).toBe(snap);
      // Creating a snapshot does not compact.
      expect(s.firstIndex()).toBe(1);
    });

    it.each([
      [3, RaftErrorCode.SNAPSHOT_OUT_OF_DATE], // the current snapshot's index
      [2, RaftErrorCode.SNAPSHOT_OUT_OF_DATE],
      [6, RaftErrorCode.UNAVAILABLE],
    ])('createSnapshot(%i) over a snapshot at 3 and log up to 5 -> %s', (index, want) => {
      const s = compactedStorage();
      expect(code(() => s.createSnapshot(index, { voters: [1], learners: [] }, new Uint8Array()))).toBe(want);
      expect(s.snapshot().metadata.index).toBe(3);
    });

    it('applySnapshot replaces the whole log and the membership', () => {
      const s = compactedStorage();
      const snap = { metadata: { index: 10, term: 7, confState: { voters: [1, 2, 3], learners: [] } }, data: new Uint8Array([5]) };
      s.applySnapshot(snap);
      expect(s.firstIndex()).toBe(11);
      expect(s.lastIndex()).toBe(10);
      expect(s.term(10)).toBe(7);
      expect(code(() => s.term(9))).toBe(RaftErrorCode.COMPACTED);
      expect(s.snapshot()).toBe(snap);
      expect(s.initialState().confState).toEqual({ voters: [1, 2, 3], learners: [] });
    });

    it('applySnapshot of an older (or the same) snapshot is refused and changes nothing', () => {
      const s = compactedStorage();
      const old = { metadata: { index: 3, term: 3, confState: { voters: [1], learners: [] } }, data: new Uint8Array() };
      expect(code(() => s.applySnapshot(old))).toBe(RaftErrorCode.SNAPSHOT_OUT_OF_DATE);
      expect(s.lastIndex()).toBe(5);
    });
  });

  it('initialState returns the saved hard state and membership', () => {
    const s = new MemoryStorage();
    s.setHardState({ term: 4, vote: 2, commit: 0 });
    s.setConfState({ voters: [1, 2], learners: [3] });
    expect(s.initialState()).toEqual({ hardState: { term: 4, vote: 2, commit: 0 }, confState: { voters: [1, 2], learners: [3] } });
    expect(s.getHardState().vote).toBe(2);
  });

  it('clone is independent of the original log', () => {
    const s = new MemoryStorage();
    s.append(entries(1, [1, 1]));
    const c = s.clone();
    s.append(entries(2, [2, 2]));
    expect(c.lastIndex()).toBe(2);
    expect(c.term(2)).toBe(1);
    expect(s.lastIndex()).toBe(3);
  });

  it('bootstrap writes one committed AddVoter entry per founder in term 1', () => {
    const s = new MemoryStorage();
    s.bootstrap([1, 2, 3]);
    expect(s.lastIndex()).toBe(3);
    expect(s.getHardState()).toEqual({ term: 1, vote: 0, commit: 3 });
    const ents = s.entries(1, 4, Infinity);
    expect(ents.map((e) => e.type)).toEqual([EntryType.ConfChange, EntryType.ConfChange, EntryType.ConfChange]);
    expect(ents.map((e) => decodeConfChange(e.data))).toEqual([1, 2, 3].map((nodeId) => ({ type: ConfChangeType.AddVoter, nodeId, context: '' })));
    expect(code(() => s.bootstrap([1]))).toBe(RaftErrorCode.INVALID_ARGUMENT);
    expect(code(() => bootstrapLog([]))).toBe(RaftErrorCode.INVALID_ARGUMENT);
    expect(code(() => bootstrapLog([1, 1]))).toBe(RaftErrorCode.INVALID_ARGUMENT);
  });
});

describe('limitSize', () => {
  it.each([
    [0, 1],
    [99, 1],
    [100, 1],
    [199, 1],
    [200, 2],
    [250, 2],
    [300, 3],
    [Infinity, 3],
  ])('maxBytes %s keeps %i of three 100-byte entries', (maxBytes, n) => {
    expect(limitSize([1, 2, 3].map((i) => e100(i, 1)), maxBytes)).toHaveLength(n);
  });

  it('keeps an empty list empty', () => {
    expect(limitSize([], 0)).toEqual([]);
  });
});
