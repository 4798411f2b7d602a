import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Entry, EntryType, HardState, RaftError, RaftErrorCode } from '@hikarikeeper/raft';
import { StorageError, StorageErrorCode } from './errors';
import { logKey, Prefix, prefixRange } from './keys';
import { RocksRaftStorage } from './raft-storage';
import { RocksStore, WriteBatch } from './rocks';

let dir: string;
let stores: RocksStore[];

async function openStore(): Promise<RocksStore> {
  const store = await RocksStore.open(dir);
  stores.push(store);
  return store;
}

async function openStorage(): Promise<{ store: RocksStore; storage: RocksRaftStorage }> {
  const store = await openStore();
  return { store, storage: await RocksRaftStorage.open(store) };
}

/** Closes the store and opens storage again from disk (a restart). */
async function reopen(store: RocksStore): Promise<{ store: RocksStore; storage: RocksRaftStorage }> {
  expect(store.openIteratorCount).toBe(0);
  await store.close();
  return openStorage();
}

function ents(from: number, to: number, term: number, tag = ''): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term, type: EntryType.Normal, data: Buffer.from(`${tag}${i}`) });
  return out;
}

/** Entries as comparable plain values (data as hex: Buffer and Uint8Array compare alike). */
function plain(entries: readonly Entry[]): Array<{ index: number; term: number; type: number; data: string }> {
  return entries.map((e) => ({ index: e.index, term: e.term, type: e.type, data: Buffer.from(e.data).toString('hex') }));
}

function logOf(storage: RocksRaftStorage) {
  return plain(storage.entries(storage.firstIndex(), storage.lastIndex() + 1, Number.POSITIVE_INFINITY));
}

async function persist(storage: RocksRaftStorage, parts: Parameters<RocksRaftStorage['stage']>[1], sync = false): Promise<void> {
  const batch = new WriteBatch();
  storage.stage(batch, parts);
  await storage.persist(batch, { sync });
}

async function storedLogIndexes(store: RocksStore): Promise<number[]> {
  const out: number[] = [];
  for await (const [key] of store.iterate(prefixRange(Prefix.RaftLog))) out.push(key.readUInt32BE(5));
  return out;
}

function raftCode(fn: () => unknown): RaftErrorCode | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof RaftError) return e.code;
    throw e;
  }
  return undefined;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hk-raft-storage-'));
  stores = [];
});

afterEach(async () => {
  for (const s of stores) {
    expect(s.openIteratorCount).toBe(0);
    await s.close();
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('RocksRaftStorage', () => {
  it('opens an empty store as a new node: snapshot 0, empty log', async () => {
    const { storage } = await openStorage();
    expect(storage.firstIndex()).toBe(1);
    expect(storage.lastIndex()).toBe(0);
    expect(storage.term(0)).toBe(0);
    expect(storage.snapshot()).toEqual({ metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } }, data: new Uint8Array(0) });
    expect(storage.initialState()).toEqual({ hardState: { term: 0, vote: 0, commit: 0 }, confState: { voters: [], learners: [] } });
    expect(storage.appliedIndex()).toBe(0);
    expect(raftCode(() => storage.term(1))).toBe(RaftErrorCode.UNAVAILABLE);
  });

  it('bootstraps the first membership once, and only on a node without state', async () => {
    const { store, storage } = await openStorage();
    await storage.bootstrap({ voters: [1, 2, 3], learners: [] });
    expect(storage.initialState().confState).toEqual({ voters: [1, 2, 3], learners: [] });
    await expect(storage.bootstrap({ voters: [1], learners: [] })).rejects.toThrow(RaftError);
    const again = await reopen(store);
    expect(again.storage.initialState().confState).toEqual({ voters: [1, 2, 3], learners: [] });
  });

  it('gives the same hard state, membership, applied index and log after a restart', async () => {
    const { store, storage } = await openStorage();
    await storage.bootstrap({ voters: [1, 2, 3], learners: [] });
    await persist(storage, { entries: ents(1, 3, 1), hardState: { term: 1, vote: 1, commit: 0 } }, true);
    await persist(storage, { entries: ents(4, 5, 2), hardState: { term: 2, vote: 2, commit: 3 } }, true);
    await persist(storage, { hardState: { term: 2, vote: 2, commit: 5 }, applied: 5, confState: { voters: [1, 2, 3], learners: [4] } }, true);
    const before = { state: storage.initialState(), log: logOf(storage), applied: storage.appliedIndex(), stats: storage.tailStats() };
    expect(before.log.map((e) => e.index)).toEqual([1, 2, 3, 4, 5]);
    expect(before.stats.entries).toBe(5);

    const { storage: after } = await reopen(store);
    expect({ state: after.initialState(), log: logOf(after), applied: after.appliedIndex(), stats: after.tailStats() }).toEqual(before);
    expect(after.term(3)).toBe(1);
    expect(after.term(4)).toBe(2);
  });

  it('truncates a conflicting suffix on disk: the old entries are gone after a restart', async () => {
    const { store, storage } = await openStorage();
    await persist(storage, { entries: ents(1, 6, 1, 'old-') });
    await persist(storage, { entries: ents(4, 5, 2, 'new-') });
    expect(storage.lastIndex()).toBe(5);
    expect(await storedLogIndexes(store)).toEqual([1, 2, 3, 4, 5]);
    expect(await store.get(logKey(6))).toBeUndefined();

    const { storage: after } = await reopen(store);
    expect(after.lastIndex()).toBe(5);
    expect(logOf(after).map((e) => [e.term, Buffer.from(e.data, 'hex').toString()])).toEqual([
      [1, 'old-1'], [1, 'old-2'], [1, 'old-3'], [2, 'new-4'], [2, 'new-5'],
    ]);
    expect(raftCode(() => after.term(6))).toBe(RaftErrorCode.UNAVAILABLE);
  });

  it('compacts: entries up to the index are deleted on disk and firstIndex moves', async () => {
    const { store, storage } = await openStorage();
    await persist(storage, { entries: ents(1, 10, 1).concat(ents(11, 12, 2)), applied: 9 });
    const batch = new WriteBatch();
    const md = storage.createSnapshot(batch, 8, { voters: [1], learners: [] });
    storage.compact(batch, 6); // keeps 7..8 behind the snapshot for a lagging follower
    await storage.persist(batch, { sync: true });
    expect(md).toEqual({ index: 8, term: 1, confState: { voters: [1], learners: [] } });
    expect(storage.firstIndex()).toBe(7);
    expect(storage.term(6)).toBe(1);
    expect(raftCode(() => storage.term(5))).toBe(RaftErrorCode.COMPACTED);
    expect(raftCode(() => storage.entries(6, 8, 100))).toBe(RaftErrorCode.COMPACTED);
    expect(await storedLogIndexes(store)).toEqual([7, 8, 9, 10, 11, 12]);

    const { storage: after } = await reopen(store);
    expect(after.firstIndex()).toBe(7);
    expect(after.lastIndex()).toBe(12);
    expect(after.term(6)).toBe(1);
    expect(after.term(12)).toBe(2);
    expect(after.snapshot().metadata).toEqual(md);
    expect(after.snapshot().data.length).toBe(0);
    expect(after.tailStats().entries).toBe(6);
  });

  it('refuses to compact past the snapshot, or a snapshot past the applied index', async () => {
    const { storage } = await openStorage();
    await persist(storage, { entries: ents(1, 10, 1), applied: 5 });
    const batch = new WriteBatch();
    expect(raftCode(() => storage.compact(batch, 3))).toBe(RaftErrorCode.INVARIANT);
    expect(raftCode(() => storage.createSnapshot(batch, 6, { voters: [1], learners: [] }))).toBe(RaftErrorCode.INVARIANT);
    expect(raftCode(() => storage.createSnapshot(batch, 11, { voters: [1], learners: [] }))).toBe(RaftErrorCode.UNAVAILABLE);
    storage.createSnapshot(batch, 5, { voters: [1], learners: [] });
    expect(raftCode(() => storage.createSnapshot(batch, 5, { voters: [1], learners: [] }))).toBe(RaftErrorCode.SNAPSHOT_OUT_OF_DATE);
    expect(raftCode(() => storage.compact(batch, 6))).toBe(RaftErrorCode.INVARIANT);
    storage.compact(batch, 5);
    storage.compact(batch, 2); // at or below the compaction point: nothing to do
    await storage.persist(batch, { sync: false });
    expect(storage.firstIndex()).toBe(6);
  });

  it('installs a snapshot from the leader: the log restarts after it, and this survives a restart', async () => {
    const { store, storage } = await openStorage();
    await persist(storage, { entries: ents(1, 5, 1), hardState: { term: 1, vote: 0, commit: 2 }, applied: 2 });
    const md = { index: 20, term: 3, confState: { voters: [1, 2], learners: [4] } };
    await persist(storage, { snapshot: md, hardState: { term: 3, vote: 0, commit: 20 } }, true);
    expect(storage.firstIndex()).toBe(21);
    expect(storage.lastIndex()).toBe(20);
    expect(storage.term(20)).toBe(3);
    expect(storage.snapshot().metadata).toEqual(md);
    expect(storage.initialState().confState).toEqual(md.confState);
    expect(storage.appliedIndex()).toBe(20);
    expect(await storedLogIndexes(store)).toEqual([]);

    await persist(storage, { entries: ents(21, 22, 3) });
    const { storage: after } = await reopen(store);
    expect(after.snapshot().metadata).toEqual(md);
    expect([after.firstIndex(), after.lastIndex(), after.term(20), after.term(22)]).toEqual([21, 22, 3, 3]);
    expect(after.initialState()).toEqual({ hardState: { term: 3, vote: 0, commit: 20 }, confState: md.confState });
    expect(after.appliedIndex()).toBe(20);
    const stale = new WriteBatch();
    expect(raftCode(() => after.applySnapshotMetadata(stale, { ...md, index: 20 }))).toBe(RaftErrorCode.SNAPSHOT_OUT_OF_DATE);
  });

  it('shows nothing staged before the write, and validates staged changes against each other', async () => {
    const { store, storage } = await openStorage();
    const batch = new WriteBatch();
    storage.stage(batch, { entries: ents(1, 10, 1), hardState: { term: 1, vote: 1, commit: 10 }, applied: 10 });
    storage.createSnapshot(batch, 10, { voters: [1], learners: [] });
    storage.compact(batch, 10);
    expect(storage.hasStaged()).toBe(true);
    expect([storage.firstIndex(), storage.lastIndex(), storage.initialState().hardState.commit]).toEqual([1, 0, 0]);
    await storage.persist(batch, { sync: true });
    expect(storage.hasStaged()).toBe(false);
    expect([storage.firstIndex(), storage.lastIndex(), storage.term(10)]).toEqual([11, 10, 1]);
    // The entries were put and deleted in one batch: nothing of them is on disk.
    expect(await storedLogIndexes(store)).toEqual([]);
    const { storage: after } = await reopen(store);
    expect([after.firstIndex(), after.lastIndex(), after.term(10), after.snapshot().metadata.index]).toEqual([11, 10, 1, 10]);
  });

  it('leaves the in-memory view unchanged when the batch fails to write (write after close)', async () => {
    const { store, storage } = await openStorage();
    await persist(storage, { entries: ents(1, 3, 1), hardState: { term: 1, vote: 1, commit: 1 } });
    const before = { log: logOf(storage), state: storage.initialState(), snapshot: storage.snapshot() };

    const batch = new WriteBatch();
    storage.stage(batch, { entries: ents(2, 6, 2), hardState: { term: 2, vote: 2, commit: 3 }, applied: 3 });
    storage.createSnapshot(batch, 3, { voters: [1], learners: [] });
    storage.compact(batch, 3);
    await store.close();
    let error: unknown;
    try {
      await storage.persist(batch, { sync: true });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).code).toBe(StorageErrorCode.CLOSED);
    expect(storage.hasStaged()).toBe(false);
    expect({ log: logOf(storage), state: storage.initialState(), snapshot: storage.snapshot() }).toEqual(before);
    expect(storage.appliedIndex()).toBe(0);

    const { storage: after } = await openStorage();
    expect(logOf(after)).toEqual(before.log);
  });

  it('stages one batch at a time, and commits only a written batch', async () => {
    const { storage } = await openStorage();
    const first = new WriteBatch();
    storage.stage(first, { entries: ents(1, 2, 1) });
    expect(raftCode(() => storage.stage(new WriteBatch(), { entries: ents(3, 3, 1) }))).toBe(RaftErrorCode.INVARIANT);
    expect(raftCode(() => storage.commitStaged(first))).toBe(RaftErrorCode.INVARIANT);
    storage.discardStaged(first);
    expect(storage.hasStaged()).toBe(false);
    await persist(storage, { entries: ents(1, 1, 1) });
    expect(storage.lastIndex()).toBe(1);
  });

  it('refuses a gap in the log, a commit past the last index and an applied index going back', async () => {
    const { storage } = await openStorage();
    await persist(storage, { entries: ents(1, 3, 1), applied: 2 });
    expect(raftCode(() => storage.stage(new WriteBatch(), { entries: ents(5, 6, 1) }))).toBe(RaftErrorCode.INVARIANT);
    storage.discardStaged(new WriteBatch());
    expect(storage.hasStaged()).toBe(true); // discarding another batch does not drop the staged one
    storage.discardStaged((storage as unknown as { staged: { batch: WriteBatch } }).staged.batch);
    const hs: HardState = { term: 1, vote: 0, commit: 4 };
    const b2 = new WriteBatch();
    expect(raftCode(() => storage.stage(b2, { hardState: hs }))).toBe(RaftErrorCode.INVARIANT);
    storage.discardStaged(b2);
    const b3 = new WriteBatch();
    expect(raftCode(() => storage.stage(b3, { applied: 1 }))).toBe(RaftErrorCode.INVARIANT);
    storage.discardStaged(b3);
  });

  it('reports a stored log with a hole as corrupt', async () => {
    const { store, storage } = await openStorage();
    await persist(storage, { entries: ents(1, 5, 1) });
    await store.write(new WriteBatch().del(logKey(3)), { sync: true });
    await store.close();
    const again = await openStore();
    await expect(RocksRaftStorage.open(again)).rejects.toMatchObject({ code: StorageErrorCode.CORRUPT });
  });

  it('skips entries at or below the compaction point, as MemoryStorage.append does', async () => {
    const { store, storage } = await openStorage();
    await persist(storage, { entries: ents(1, 5, 1), applied: 4 });
    const batch = new WriteBatch();
    storage.createSnapshot(batch, 4, { voters: [1], learners: [] });
    storage.compact(batch, 4);
    await storage.persist(batch, { sync: false });
    await persist(storage, { entries: ents(3, 7, 1, 'again-') });
    expect(logOf(storage).map((e) => e.index)).toEqual([5, 6, 7]);
    expect(await storedLogIndexes(store)).toEqual([5, 6, 7]);
  });

  it('holds the tail under the hard bound: growing past it is refused', async () => {
    const store = await openStore();
    const storage = await RocksRaftStorage.open(store, { tailEntriesMax: 5 });
    await persist(storage, { entries: ents(1, 5, 1) });
    expect(raftCode(() => storage.stage(new WriteBatch(), { entries: ents(6, 6, 1) }))).toBe(RaftErrorCode.INVARIANT);
    expect(storage.hasStaged()).toBe(true);
  });

  it('measures 1,000 synced batches of 10 entries (printed, not asserted)', async () => {
    const { storage } = await openStorage();
    const batches = 1000;
    const perBatch = 10;
    const payload = Buffer.alloc(100, 7);
    let index = 0;
    const run = async (sync: boolean): Promise<number> => {
      const start = process.hrtime.bigint();
      for (let b = 0; b < batches; b++) {
        const entries: Entry[] = [];
        for (let i = 0; i < perBatch; i++) entries.push({ index: ++index, term: 1, type: EntryType.Normal, data: payload });
        await persist(storage, { entries, hardState: { term: 1, vote: 1, commit: index - perBatch } }, sync);
      }
      return Number(process.hrtime.bigint() - start) / 1e6;
    };
    const syncedMs = await run(true);
    const unsyncedMs = await run(false);
    expect(storage.lastIndex()).toBe(2 * batches * perBatch);
    const line = (label: string, ms: number) =>
      `${label}: ${ms.toFixed(0)} ms total, ${((ms * 1000) / batches).toFixed(0)} µs per batch, ` +
      `${Math.round((batches * perBatch) / (ms / 1000))} entries/s`;
    // eslint-disable-next-line no-console
    console.log(
      `[storage bench] ${batches} batches x ${perBatch} entries of 100 B + hard state, one persist() each\n` +
        `  ${line('sync: true ', syncedMs)}\n  ${line('sync: false', unsyncedMs)}`,
    );
  });
});

describe('pipelined persistence (handOff)', () => {
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hk-handoff-'));
    stores = [];
  });
  afterEach(async () => {
    for (const s of stores) await s.close().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stages on top of batches in flight, writes them in order (grouped while one is on its way), all durable', async () => {
    const { store, storage } = await openStorage();
    await storage.bootstrap({ voters: [1], learners: [] });
    const parts = [
      { entries: ents(1, 2, 1, 'a'), hardState: { term: 1, vote: 1, commit: 0 } },
      { entries: ents(3, 6, 1, 'a'), hardState: { term: 1, vote: 1, commit: 2 } },
      { entries: ents(5, 7, 2, 'b'), hardState: { term: 2, vote: 1, commit: 4 } }, // replaces 5..6 of the batch before
      { entries: ents(8, 9, 2, 'c'), hardState: { term: 2, vote: 1, commit: 7 } },
    ];
    const order: number[] = [];
    const handed = parts.map((p, k) => {
      const batch = new WriteBatch();
      storage.stage(batch, p);
      const done = storage.handOff(batch, { sync: k % 2 === 0 }).then(() => void order.push(k));
      // The view moves at once: the next batch stages on top of this one.
      expect(storage.lastIndex()).toBe(p.entries[p.entries.length - 1].index);
      return done;
    });
    await Promise.all(handed);
    expect(order).toEqual([0, 1, 2, 3]);
    const want = plain([...ents(1, 4, 1, 'a'), ...ents(5, 7, 2, 'b'), ...ents(8, 9, 2, 'c')]);
    expect(logOf(storage)).toEqual(want);
    const reopened = await reopen(store); // what reached disk, in order
    expect(logOf(reopened.storage)).toEqual(want);
    expect(reopened.storage.initialState().hardState).toEqual({ term: 2, vote: 1, commit: 7 });
  });
});
