import { Entry, EntryType } from '@hikarikeeper/raft';
import { StorageError, StorageErrorCode } from './errors';
import {
  childKey,
  childNameOf,
  childrenRange,
  decodeEntry,
  decodeLogKey,
  decodeU64,
  encodeEntry,
  encodeU64,
  logKey,
  nodeKey,
  Prefix,
  prefixRange,
  sessionKey,
} from './keys';
import {
  decodeConfState,
  decodeHardState,
  decodeLogPosition,
  decodeSnapshotMetadata,
  encodeConfState,
  encodeHardState,
  encodeLogPosition,
  encodeSnapshotMetadata,
} from './records';

function expectStorageError(fn: () => unknown, code: StorageErrorCode): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(StorageError);
  expect((thrown as StorageError).code).toBe(code);
}

describe('u64 big-endian keys', () => {
  const ascending = [0, 1, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 40, Number.MAX_SAFE_INTEGER];

  it('byte order of encoded integers is numeric order (1, 255, 256, 2^40, ...)', () => {
    for (let i = 1; i < ascending.length; i++) {
      expect(Buffer.compare(encodeU64(ascending[i - 1]), encodeU64(ascending[i]))).toBe(-1);
      expect(Buffer.compare(logKey(ascending[i - 1]), logKey(ascending[i]))).toBe(-1);
    }
    const shuffled = [...ascending].reverse().map(logKey);
    expect(shuffled.sort(Buffer.compare).map(decodeLogKey)).toEqual(ascending);
  });

  it('round-trips every integer in [0, 2^53)', () => {
    for (const n of ascending) expect(decodeU64(encodeU64(n))).toBe(n);
    expect(encodeU64(256).toString('hex')).toBe('0000000000000100');
    expect(logKey(1).toString('hex')).toBe('010000000000000001');
  });

  it('rejects what is not an integer in [0, 2^53)', () => {
    for (const bad of [-1, 1.5, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY]) {
      expectStorageError(() => encodeU64(bad), StorageErrorCode.INVALID_ARGUMENT);
    }
  });

  it('reports stored bytes past 2^53 - 1 as corrupt', () => {
    expectStorageError(() => decodeU64(Buffer.from('0020000000000000', 'hex')), StorageErrorCode.CORRUPT);
    expectStorageError(() => decodeU64(Buffer.alloc(7)), StorageErrorCode.CORRUPT);
    expectStorageError(() => decodeLogKey(Buffer.from('020000000000000001', 'hex')), StorageErrorCode.CORRUPT);
  });

  it('keeps the Raft records inside the log prefix range apart from the log', () => {
    const { gte, lt } = prefixRange(Prefix.RaftLog);
    expect(Buffer.compare(gte, logKey(0))).toBeLessThanOrEqual(0);
    expect(Buffer.compare(logKey(Number.MAX_SAFE_INTEGER), lt)).toBe(-1);
    expect(Buffer.compare(sessionKey(1), sessionKey(256))).toBe(-1);
  });
});

describe('entry encoding', () => {
  const cases: Entry[] = [
    { index: 1, term: 1, type: EntryType.Normal, data: new Uint8Array(0) },
    { index: 2 ** 40, term: 2 ** 33 + 7, type: EntryType.ConfChange, data: Uint8Array.from([0, 1, 2, 255]) },
    { index: 7, term: 3, type: EntryType.Normal, data: Buffer.alloc(100_000, 0xab) },
  ];

  it('round-trips term, type and data (the index lives in the key)', () => {
    for (const e of cases) {
      const value = encodeEntry(e);
      expect(value.length).toBe(9 + e.data.length);
      const back = decodeEntry(e.index, value);
      expect({ ...back, data: Buffer.from(back.data).toString('hex') }).toEqual({ ...e, data: Buffer.from(e.data).toString('hex') });
    }
  });

  it('reports a value shorter than the header or of an unknown type as corrupt', () => {
    expectStorageError(() => decodeEntry(1, Buffer.alloc(8)), StorageErrorCode.CORRUPT);
    const bad = encodeEntry(cases[0]);
    bad[8] = 9;
    expectStorageError(() => decodeEntry(1, bad), StorageErrorCode.CORRUPT);
  });
});

describe('record encodings', () => {
  it('round-trip hard state, membership, snapshot metadata and log start', () => {
    const hs = { term: 5, vote: 3, commit: 2 ** 40 };
    expect(decodeHardState(encodeHardState(hs))).toEqual(hs);
    const cs = { voters: [1, 2, 3], learners: [2 ** 50] };
    expect(decodeConfState(encodeConfState(cs))).toEqual(cs);
    expect(decodeConfState(encodeConfState({ voters: [], learners: [] }))).toEqual({ voters: [], learners: [] });
    const md = { index: 100, term: 4, confState: cs };
    expect(decodeSnapshotMetadata(encodeSnapshotMetadata(md))).toEqual(md);
    expect(decodeLogPosition(encodeLogPosition({ index: 9, term: 2 }))).toEqual({ index: 9, term: 2 });
  });

  it('reports truncated or padded records as corrupt', () => {
    const cs = encodeConfState({ voters: [1, 2], learners: [] });
    expectStorageError(() => decodeConfState(cs.subarray(0, cs.length - 1)), StorageErrorCode.CORRUPT);
    expectStorageError(() => decodeConfState(Buffer.concat([cs, Buffer.alloc(1)])), StorageErrorCode.CORRUPT);
    expectStorageError(() => decodeHardState(Buffer.alloc(23)), StorageErrorCode.CORRUPT);
    expectStorageError(() => decodeSnapshotMetadata(Buffer.alloc(10)), StorageErrorCode.CORRUPT);
    expectStorageError(() => decodeConfState(Buffer.from('ffffffff', 'hex')), StorageErrorCode.CORRUPT);
  });
});

describe('state machine keys', () => {
  it('lists the children of "/a" without those of "/ab"', () => {
    const range = childrenRange('/a');
    const inside = [childKey('/a', 'x'), childKey('/a', 'zz'), childKey('/a', '')];
    const outside = [childKey('/ab', 'x'), childKey('/', 'a'), nodeKey('/a'), childKey('/a/x', 'y')];
    const within = (k: Buffer) => Buffer.compare(k, range.gte) >= 0 && Buffer.compare(k, range.lt) < 0;
    for (const k of inside) expect(within(k)).toBe(true);
    for (const k of outside) expect(within(k)).toBe(false);
    expect(childNameOf('/a', childKey('/a', 'zz'))).toBe('zz');
    expect(childNameOf('/ä', childKey('/ä', 'ö'))).toBe('ö');
  });

  it('refuses paths and names with a 0x00 byte', () => {
    expectStorageError(() => nodeKey('/a\u0000b'), StorageErrorCode.INVALID_ARGUMENT);
    expectStorageError(() => childKey('/a', 'b\u0000'), StorageErrorCode.INVALID_ARGUMENT);
  });
});
