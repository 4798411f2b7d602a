import { ConfState, Entry, EntryType, entrySize, HardState, NodeId, Snapshot } from './types';
import { ConfChangeType, encodeConfChange } from './conf-change';
import { RaftError, RaftErrorCode } from './errors';

/**
 * The durable log as the core sees it. The core only reads it; the application writes it (after
 * each Ready) and compacts it (after taking a snapshot). Every method is synchronous: an adapter over
 * an asynchronous store keeps the log tail since the last snapshot in memory (it is bounded by the
 * compaction policy) and writes through to disk.
 *
 * Index rules: the log holds entries `firstIndex() .. lastIndex()`; `term(firstIndex() - 1)` is the
 * term of the compaction point (the "dummy" entry), so the term of the entry just before the log is
 * always known. The log is never compacted past the latest snapshot (a leader must be able to serve a
 * follower either entries or a snapshot that reaches them). An empty log right after a snapshot at
 * index S, compacted up to S, has firstIndex = S + 1, lastIndex = S.
 *
 * Ownership: arrays returned by `entries` belong to the caller (the core may shorten them); an
 * adapter returns a fresh array, never one it keeps.
 *
 * On restart, `RaftConfig.applied` must be at least `firstIndex() - 1`: the application's applied
 * state always covers the compacted part of the log.
 */
export interface Storage {
  /** The state saved by the application before a restart: hard state and membership. */
  initialState(): { hardState: HardState; confState: ConfState };
  /**
   * Entries in `[lo, hi)`, stopping early once their total size would pass `maxBytes` (but always at
   * least one entry). Throws `RaftError(COMPACTED)` if `lo < firstIndex()`; `hi - 1 <= lastIndex()`.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** The term of entry `index`, for `firstIndex() - 1 <= index <= lastIndex()`; throws COMPACTED
   *  below that and UNAVAILABLE above. */
  term(index: number): number;
  firstIndex(): number;
  lastIndex(): number;
  /** The most recent snapshot. */
  snapshot(): Snapshot;
}

/**
 * The log every founding member of a new cluster starts with: one committed AddVoter entry per
 * initial member, in term 1. The membership lives in the log from its very first entry, so a member
 * added later learns the whole history of the configuration by replaying the log (or from a snapshot,
 * which records the membership at its index). Returns the entries and the hard state to persist.
 */
export function bootstrapLog(voters: ReadonlyArray<NodeId | { readonly id: NodeId; readonly context: string }>): { entries: Entry[]; hardState: HardState } {
  const members = voters.map((v) => (typeof v === 'number' ? { id: v, context: '' } : v));
  if (members.length === 0 || new Set(members.map((m) => m.id)).size !== members.length) {
    throw new RaftError(RaftErrorCode.INVALID_ARGUMENT, 'a cluster starts with one or more distinct voters');
  }
  const entries = members.map((m, i) => ({
    term: 1,
    index: i + 1,
    type: EntryType.ConfChange,
    data: encodeConfChange({ type: ConfChangeType.AddVoter, nodeId: m.id, context: m.context }),
  }));
  return { entries, hardState: { term: 1, vote: 0, commit: entries.length } };
}

/**
 * The in-memory storage: the reference implementation of the port and the store of the simulator.
 * `ents[0]` is a dummy entry holding the snapshot's index and term.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState;
  private snap: Snapshot;
  private ents: Entry[];

  constructor(confState: ConfState = { voters: [], learners: [] }) {
    this.hardState = { term: 0, vote: 0, commit: 0 };
    this.snap = { metadata: { index: 0, term: 0, confState }, data: new Uint8Array(0) };
    this.ents = [{ term: 0, index: 0, type: 0, data: new Uint8Array(0) }];
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hardState, confState: this.confStateNow };
  }

  /** Membership as the application last saved it (see `setConfState`). */
  private confStateNow: ConfState = { voters: [], learners: [] };

  setConfState(cs: ConfState): void {
    this.confStateNow = cs;
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  getHardState(): HardState {
    return this.hardState;
  }

  private get offset(): number {
    return this.ents[0].index;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.ents.length - 1;
  }

  term(index: number): number {
    const offset = this.offset;
    if (index < offset) throw new RaftError(RaftErrorCode.COMPACTED, `term(${index}): compacted below ${offset}`);
    if (index - offset >= this.ents.length) {
      throw new RaftError(RaftErrorCode.UNAVAILABLE, `term(${index}): past last index ${this.lastIndex()}`);
    }
    return this.ents[index - offset].term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.offset;
    if (lo <= offset) throw new RaftError(RaftErrorCode.COMPACTED, `entries(${lo}): compacted below ${offset + 1}`);
    if (hi > this.lastIndex() + 1) {
      throw new RaftError(RaftErrorCode.UNAVAILABLE, `entries(.., ${hi}): past last index ${this.lastIndex()}`);
    }
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxBytes);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Writes the founding log of a new cluster (see `bootstrapLog`). The storage must be empty. */
  bootstrap(voters: readonly NodeId[]): void {
    if (this.lastIndex() !== 0) throw new RaftError(RaftErrorCode.INVALID_ARGUMENT, 'bootstrap needs an empty log');
    const { entries, hardState } = bootstrapLog(voters);
    this.append(entries);
    this.hardState = hardState;
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  applySnapshot(snap: Snapshot): void {
    if (snap.metadata.index <= this.snap.metadata.index) {
      throw new RaftError(RaftErrorCode.SNAPSHOT_OUT_OF_DATE, `snapshot ${snap.metadata.index} is not newer`);
    }
    this.snap = snap;
    this.ents = [{ term: snap.metadata.term, index: snap.metadata.index, type: 0, data: new Uint8Array(0) }];
    this.confStateNow = snap.metadata.confState;
  }

  /** Records a snapshot of the application's state at `index` (which must be applied already). */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) {
      throw new RaftError(RaftErrorCode.SNAPSHOT_OUT_OF_DATE, `snapshot ${index} is not newer`);
    }
    if (index > this.lastIndex()) {
      throw new RaftError(RaftErrorCode.UNAVAILABLE, `snapshot ${index} is past last index ${this.lastIndex()}`);
    }
    this.snap = { metadata: { index, term: this.term(index), confState }, data };
    return this.snap;
  }

  /** Drops the entries up to `compactIndex`, which must be covered by the latest snapshot. */
  compact(compactIndex: number): void {
    const offset = this.offset;
    if (compactIndex <= offset) return;
    if (compactIndex > this.lastIndex()) {
      throw new RaftError(RaftErrorCode.UNAVAILABLE, `compact(${compactIndex}) is past last index ${this.lastIndex()}`);
    }
    const keep = this.ents[compactIndex - offset];
    const rest = this.ents.slice(compactIndex - offset + 1);
    this.ents = [{ term: keep.term, index: keep.index, type: 0, data: new Uint8Array(0) }, ...rest];
  }

  /** Appends entries, replacing any conflicting suffix (entries at and after the first new index). */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0].index + entries.length - 1;
    if (last < first) return; // everything is already compacted
    const from = first > entries[0].index ? entries.slice(first - entries[0].index) : entries;
    const at = from[0].index - this.offset;
    if (at > this.ents.length) {
      throw new RaftError(RaftErrorCode.INVARIANT, `append at ${from[0].index} leaves a gap after ${this.lastIndex()}`);
    }
    if (at < this.ents.length) this.ents.length = at;
    for (const e of from) this.ents.push(e);
  }

  /** A deep-enough copy for a simulated crash: the log array, hard state and snapshot references. */
  clone(): MemoryStorage {
    const c = new MemoryStorage();
    c.hardState = this.hardState;
    c.snap = this.snap;
    c.ents = this.ents.slice();
    c.confStateNow = this.confStateNow;
    return c;
  }
}

/** Keeps a prefix of `entries` whose total size is at most `maxBytes`, and at least one entry. */
export function limitSize<T extends Entry>(entries: T[], maxBytes: number): T[] {
  if (entries.length <= 1) return entries;
  let size = entrySize(entries[0]);
  let n = 1;
  for (; n < entries.length; n++) {
    size += entrySize(entries[n]);
    if (size > maxBytes) break;
  }
  if (n < entries.length) entries.length = n;
  return entries;
}
