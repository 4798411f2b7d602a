import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ConfState, Entry, EntryType, MemoryStorage, RaftError, SeededRandom, Storage } from '@hikarikeeper/raft';
import { RocksRaftStorage } from './raft-storage';
import { RocksStore, WriteBatch } from './rocks';

/**
 * Model-based test: the same random operations go to `MemoryStorage` (the reference) and to
 * `RocksRaftStorage` over real RocksDB; after every batch and after every restart both must answer
 * every read alike. Several operations share one batch, so that staged changes see each other.
 * A failing seed reproduces the run.
 */

const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];
const STEPS_PER_SEED = 120;
const RESTART_EVERY_STEPS = 20;
const OPS_PER_BATCH_MAX = 3;
const APPEND_ENTRIES_MAX = 8;

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hk-raft-model-'));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** What a read returned: a value, or the code of the RaftError it threw. */
function outcome<T>(read: () => T): T | { error: string } {
  try {
    return read();
  } catch (e) {
    if (e instanceof RaftError) return { error: e.code };
    throw e;
  }
}

function plain(entries: readonly Entry[]): string[] {
  return entries.map((e) => `${e.index}/${e.term}/${e.type}/${Buffer.from(e.data).toString('hex')}`);
}

/** Every read of the port, over the whole index range and a little past both ends. */
function observe(s: Storage, rng: SeededRandom): unknown {
  const first = s.firstIndex();
  const last = s.lastIndex();
  const terms: unknown[] = [];
  for (let i = Math.max(0, first - 3); i <= last + 2; i++) terms.push(outcome(() => s.term(i)));
  const slices: unknown[] = [outcome(() => plain(s.entries(first, last + 1, Number.POSITIVE_INFINITY)))];
  slices.push(outcome(() => plain(s.entries(first - 1, last + 1, 1000))));
  slices.push(outcome(() => plain(s.entries(first, last + 2, 1000))));
  for (let k = 0; k < 4; k++) {
    const lo = first + rng.nextInt(last - first + 2);
    const hi = lo + rng.nextInt(last + 2 - lo);
    slices.push(outcome(() => plain(s.entries(lo, hi, rng.nextInt(150)))));
  }
  const { hardState, confState } = s.initialState();
  const md = s.snapshot().metadata;
  return { first, last, terms, slices, hardState, confState, snapshot: md, data: s.snapshot().data.length };
}

class Model {
  readonly mem = new MemoryStorage();
  applied = 0;
  private lastTerm = 1;

  constructor(
    readonly rng: SeededRandom,
    public rocks: RocksRaftStorage,
  ) {}

  /** Stages one random operation into `batch` (and applies it to the reference right away). */
  stageRandom(batch: WriteBatch): string {
    const r = this.rng.nextInt(100);
    const first = this.mem.firstIndex();
    const last = this.mem.lastIndex();
    const snapIndex = this.mem.snapshot().metadata.index;
    if (r < 50) {
      // Append at any point from a little below the first index to just past the end.
      const from = Math.max(1, first - 2 + this.rng.nextInt(last - first + 4));
      const count = 1 + this.rng.nextInt(APPEND_ENTRIES_MAX);
      if (this.rng.chance(0.3)) this.lastTerm++;
      const entries: Entry[] = [];
      for (let i = 0; i < count; i++) {
        const data = Buffer.alloc(this.rng.nextInt(20));
        for (let b = 0; b < data.length; b++) data[b] = this.rng.nextInt(256);
        const type = this.rng.chance(0.1) ? EntryType.ConfChange : EntryType.Normal;
        entries.push({ index: from + i, term: this.lastTerm, type, data });
      }
      this.mem.append(entries);
      this.rocks.stage(batch, { entries });
      return `append ${from}..${from + count - 1} term ${this.lastTerm}`;
    }
    if (r < 65 && last > snapIndex) {
      // Snapshot at an applied index, then compact to at or below it.
      const index = snapIndex + 1 + this.rng.nextInt(last - snapIndex);
      const cs: ConfState = { voters: [1, 2, this.rng.nextInt(5) + 3], learners: [] };
      this.applied = Math.max(this.applied, index);
      this.rocks.stage(batch, { applied: this.applied });
      this.mem.createSnapshot(index, cs, new Uint8Array(0));
      this.rocks.createSnapshot(batch, index, cs);
      const dummy = first - 1;
      const compactTo = dummy + this.rng.nextInt(index - dummy + 1);
      this.mem.compact(compactTo);
      this.rocks.compact(batch, compactTo);
      return `snapshot ${index}, compact ${compactTo}`;
    }
    if (r < 85) {
      const hs = { term: this.lastTerm, vote: this.rng.nextInt(4), commit: this.rng.nextInt(last + 1) };
      this.mem.setHardState(hs);
      this.rocks.stage(batch, { hardState: hs });
      return `hard state ${JSON.stringify(hs)}`;
    }
    if (r < 92) {
      const cs = { voters: [1, 2, 3].slice(0, 1 + this.rng.nextInt(3)), learners: this.rng.chance(0.5) ? [9] : [] };
      this.mem.setConfState(cs);
      this.rocks.stage(batch, { confState: cs });
      return `conf ${JSON.stringify(cs)}`;
    }
    // Install a snapshot from a leader, at or past the end of the log (or inside it).
    this.lastTerm++;
    const index = Math.max(snapIndex + 1, last - 2 + this.rng.nextInt(10));
    const metadata = { index, term: this.lastTerm, confState: { voters: [1, 2, 3], learners: [] } };
    this.mem.applySnapshot({ metadata, data: new Uint8Array(0) });
    this.rocks.applySnapshotMetadata(batch, metadata);
    this.applied = Math.max(this.applied, index);
    return `install snapshot ${index} term ${this.lastTerm}`;
  }
}

describe('RocksRaftStorage against MemoryStorage (seeded random operations)', () => {
  it.each(SEEDS)('seed %i: same reads after every batch and every restart', async (seed) => {
    const rng = new SeededRandom(seed);
    let store = await RocksStore.open(dir);
    const model = new Model(rng, await RocksRaftStorage.open(store));
    const history: string[] = [];
    try {
      for (let step = 1; step <= STEPS_PER_SEED; step++) {
        const batch = new WriteBatch();
        const ops = 1 + rng.nextInt(OPS_PER_BATCH_MAX);
        for (let i = 0; i < ops; i++) history.push(`${step}: ${model.stageRandom(batch)}`);
        await model.rocks.persist(batch, { sync: false });
        const probe = rng.nextInt(2 ** 32); // both observe the same random slices
        expect(observe(model.rocks, new SeededRandom(probe))).toEqual(observe(model.mem, new SeededRandom(probe)));
        if (step % RESTART_EVERY_STEPS === 0) {
          expect(store.openIteratorCount).toBe(0);
          await store.close();
          store = await RocksStore.open(dir);
          model.rocks = await RocksRaftStorage.open(store);
          history.push(`${step}: restart`);
          const again = rng.nextInt(2 ** 32);
          expect(observe(model.rocks, new SeededRandom(again))).toEqual(observe(model.mem, new SeededRandom(again)));
          expect(model.rocks.appliedIndex()).toBe(model.applied);
        }
      }
    } catch (e) {
      // The operations that led here, for the failure report (the seed reproduces them).
      (e as Error).message += `\nseed ${seed}, last operations:\n${history.slice(-12).join('\n')}`;
      throw e;
    } finally {
      expect(store.openIteratorCount).toBe(0);
      await store.close();
    }
  });
});
