import { Entry, entrySize, limitSize, RaftError, RaftErrorCode } from '@hikarikeeper/raft';
import { LogPosition } from './records';

/**
 * The log as `MemoryStorage` models it: a "dummy" position (the compaction point: index and term of
 * the entry just before the first one kept) followed by contiguous entries. Reads throw the same
 * RaftErrors as `MemoryStorage`: COMPACTED below the dummy, UNAVAILABLE past the last index.
 */
export interface LogView {
  readonly dummy: LogPosition;
  firstIndex(): number;
  lastIndex(): number;
  term(index: number): number;
}

function checkTermIndex(view: LogView, index: number): void {
  const offset = view.dummy.index;
  if (index < offset) throw new RaftError(RaftErrorCode.COMPACTED, `term(${index}): compacted below ${offset}`);
  if (index > view.lastIndex()) {
    throw new RaftError(RaftErrorCode.UNAVAILABLE, `term(${index}): past last index ${view.lastIndex()}`);
  }
}

/**
 * The durable log tail held in memory: exactly what is on disk under the log prefix (entry `i` at
 * `ents[i - dummy.index - 1]`). Mutated only by `StagedLog.applyTo` after a successful write.
 */
export class LogTail implements LogView {
  private bytes = 0;

  constructor(
    public dummy: LogPosition,
    private ents: Entry[] = [],
  ) {
    for (const e of ents) this.bytes += entrySize(e);
  }

  firstIndex(): number {
    return this.dummy.index + 1;
  }

  lastIndex(): number {
    return this.dummy.index + this.ents.length;
  }

  /** Entries held (the tail since the compaction point). */
  get entryCount(): number {
    return this.ents.length;
  }

  /** Sum of `entrySize` over the entries held (the unit of the core's size limits). */
  get byteCount(): number {
    return this.bytes;
  }

  term(index: number): number {
    checkTermIndex(this, index);
    return index === this.dummy.index ? this.dummy.term : this.ents[index - this.dummy.index - 1].term;
  }

  /** Entries in [lo, hi) limited to `maxBytes` (at least one); a fresh array the caller owns. */
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.dummy.index;
    if (lo <= offset) throw new RaftError(RaftErrorCode.COMPACTED, `entries(${lo}): compacted below ${offset + 1}`);
    if (hi > this.lastIndex() + 1) {
      throw new RaftError(RaftErrorCode.UNAVAILABLE, `entries(.., ${hi}): past last index ${this.lastIndex()}`);
    }
    return limitSize(this.ents.slice(lo - offset - 1, hi - offset - 1), maxBytes);
  }

  /** Entry `index` itself (for the staged view), which must be held. */
  entryAt(index: number): Entry {
    return this.ents[index - this.dummy.index - 1];
  }

  /** Drops the entries at and after `index`. */
  truncateFrom(index: number): void {
    const keep = Math.max(0, index - this.firstIndex());
    for (let i = keep; i < this.ents.length; i++) this.bytes -= entrySize(this.ents[i]);
    if (keep < this.ents.length) this.ents.length = keep;
  }

  /** Appends entries that continue the log (the first one is `lastIndex() + 1`). */
  push(entries: readonly Entry[]): void {
    for (const e of entries) {
      this.ents.push(e);
      this.bytes += entrySize(e);
    }
  }

  /** Drops the entries up to `to.index` and makes `to` the dummy. */
  compactTo(to: LogPosition): void {
    const drop = Math.min(this.ents.length, to.index - this.dummy.index);
    if (drop <= 0) return;
    for (let i = 0; i < drop; i++) this.bytes -= entrySize(this.ents[i]);
    this.ents = this.ents.slice(drop);
    this.dummy = to;
  }

  /** Empties the log: it continues after `at` (an installed snapshot). */
  reset(at: LogPosition): void {
    this.ents = [];
    this.bytes = 0;
    this.dummy = at;
  }
}

/** The disk work an append needs: entries to put, and old indexes (lo..hi inclusive) to delete. */
export interface AppendPlan {
  readonly put: readonly Entry[];
  readonly deleteFrom: number;
  readonly deleteTo: number;
}

/**
 * The log as it will be once a staged batch is written: `base` (left untouched) with entries from
 * `truncateFrom` on replaced by `tail`, a possibly moved dummy, and possibly a reset (a snapshot
 * install). Staging several changes into one batch is validated against this projection, and
 * `applyTo` replays them onto `base` after the write succeeded. The cost is O(entries staged), never
 * O(tail): nothing of `base` is copied.
 */
export class StagedLog implements LogView {
  dummy: LogPosition;
  private truncateFrom: number;
  private readonly tail: Entry[] = [];
  private resetTo: LogPosition | null = null;

  constructor(private readonly base: LogTail) {
    this.dummy = base.dummy;
    this.truncateFrom = base.lastIndex() + 1;
  }

  firstIndex(): number {
    return this.dummy.index + 1;
  }

  lastIndex(): number {
    return this.truncateFrom + this.tail.length - 1;
  }

  /** Entries the projected log holds (what the memory bound applies to). */
  entryCount(): number {
    return this.lastIndex() - this.dummy.index;
  }

  term(index: number): number {
    checkTermIndex(this, index);
    if (index === this.dummy.index) return this.dummy.term;
    if (index >= this.truncateFrom) return this.tail[index - this.truncateFrom].term;
    return this.base.entryAt(index).term;
  }

  /**
   * `MemoryStorage.append`: skips entries already compacted, replaces any conflicting suffix, throws
   * INVARIANT on a gap. Returns what to write and delete on disk, or null if nothing changes.
   */
  append(entries: readonly Entry[]): AppendPlan | null {
    if (entries.length === 0) return null;
    const first = this.firstIndex();
    const last = entries[0].index + entries.length - 1;
    if (last < first) return null;
    const from = first > entries[0].index ? entries.slice(first - entries[0].index) : entries;
    const start = from[0].index;
    const oldLast = this.lastIndex();
    if (start > oldLast + 1) {
      throw new RaftError(RaftErrorCode.INVARIANT, `append at ${start} leaves a gap after ${oldLast}`);
    }
    if (start >= this.truncateFrom) {
      this.tail.length = start - this.truncateFrom;
    } else {
      this.truncateFrom = start;
      this.tail.length = 0;
    }
    for (const e of from) this.tail.push(e);
    return { put: from, deleteFrom: last + 1, deleteTo: oldLast };
  }

  /** Moves the dummy to `index` (whose term is known here); the caller checked the bounds. */
  compact(index: number): LogPosition {
    this.dummy = { index, term: this.term(index) };
    return this.dummy;
  }

  /** Empties the projected log so that it continues after `at`. */
  reset(at: LogPosition): void {
    this.resetTo = at;
    this.dummy = at;
    this.truncateFrom = at.index + 1;
    this.tail.length = 0;
  }

  /** Replays the staged changes onto `base`: reset, truncate, append, compact, in that order. */
  applyTo(base: LogTail): void {
    if (base !== this.base) throw new RaftError(RaftErrorCode.INVARIANT, 'staged log applied to another log');
    if (this.resetTo) base.reset(this.resetTo);
    base.truncateFrom(this.truncateFrom);
    base.push(this.tail);
    base.compactTo(this.dummy);
  }
}
