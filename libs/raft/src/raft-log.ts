import { Entry, entrySize, Snapshot } from './types';
import { invariant, RaftError, RaftErrorCode } from './errors';
import { limitSize, Storage } from './storage';
import { Unstable } from './unstable';

/**
 * The log as the core uses it: the durable part in `storage` followed by the `unstable` tail, plus
 * the commit and applied indexes. Invariant: applied <= committed <= lastIndex().
 */
export class RaftLog {
  readonly unstable: Unstable;
  committed: number;
  /** Highest index handed out for applying (in a Ready not yet advanced, or already applied). */
  applying: number;
  applied: number;

  constructor(
    readonly storage: Storage,
    /** Upper bound on the bytes of committed entries handed out in one Ready. */
    private readonly maxApplyBytes: number,
  ) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applying = first - 1;
    this.applied = first - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /** The term of entry `index`, or 0 if it is outside [firstIndex - 1, lastIndex]. */
  term(index: number): number {
    const dummy = this.firstIndex() - 1;
    if (index < dummy || index > this.lastIndex()) return 0;
    const t = this.unstable.maybeTerm(index);
    if (t !== undefined) return t;
    try {
      return this.storage.term(index);
    } catch (e) {
      if (e instanceof RaftError && (e.code === RaftErrorCode.COMPACTED || e.code === RaftErrorCode.UNAVAILABLE)) return 0;
      throw e;
    }
  }

  matchTerm(index: number, term: number): boolean {
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return false;
    return this.term(index) === term;
  }

  /** Raft's "at least as up-to-date" rule for granting votes (§5.4.1). */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Follower side of AppendEntries: if our log has `prevTerm` at `prevIndex`, append `ents` (dropping
   * any conflicting suffix), advance the commit index, and return the last index the leader's message
   * proves we share; otherwise undefined.
   */
  maybeAppend(prevIndex: number, prevTerm: number, committed: number, ents: readonly Entry[]): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + ents.length;
    const conflict = this.findConflict(ents);
    if (conflict !== 0) {
      invariant(conflict > this.committed, () => `entry ${conflict} conflicts with committed entry (committed ${this.committed})`);
      this.append(ents.slice(conflict - (prevIndex + 1)));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    invariant(ents[0].index - 1 >= this.committed, () => `append at ${ents[0].index} would overwrite committed ${this.committed}`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /** The index of the first entry of `ents` that is missing or has another term here, else 0. */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast backtracking: the largest index <= `index` whose term is <= `term`, with its term. Both a
   * rejecting follower and the leader use it to skip a whole term of conflicting entries at once.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (; index > 0; index--) {
      const t = this.termOrUndefined(index);
      if (t === undefined) return { index, term: 0 };
      if (t <= term) return { index, term: t };
    }
    return { index: 0, term: 0 };
  }

  private termOrUndefined(index: number): number | undefined {
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return undefined;
    return this.term(index);
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    invariant(index <= this.lastIndex(), () => `commit ${index} is past last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /** Leader: commit `index` if its entry is of the current `term` (§5.4.2: never count older terms). */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.term(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  hasNextCommittedEntries(): boolean {
    return this.committed > this.applying && this.unstable.snapshot === null;
  }

  /** Committed entries not yet handed out for applying, bounded by `maxApplyBytes`. */
  nextCommittedEntries(): Entry[] {
    if (!this.hasNextCommittedEntries()) return [];
    const lo = Math.max(this.applying + 1, this.firstIndex());
    return this.slice(lo, this.committed + 1, this.maxApplyBytes);
  }

  acceptApplying(index: number): void {
    invariant(index <= this.committed, () => `applying ${index} past commit ${this.committed}`);
    this.applying = Math.max(this.applying, index);
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    invariant(index <= this.committed && index >= this.applied, () => `applied ${index} out of [${this.applied}, ${this.committed}]`);
    this.applied = index;
    this.applying = Math.max(this.applying, index);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** Entries in [lo, hi) bounded by `maxBytes` (at least one). Throws COMPACTED below firstIndex. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo >= hi) return [];
    const first = this.firstIndex();
    if (lo < first) throw new RaftError(RaftErrorCode.COMPACTED, `slice(${lo}): compacted below ${first}`);
    invariant(hi <= this.lastIndex() + 1, () => `slice(.., ${hi}) past last index ${this.lastIndex()}`);
    const unstableOffset = this.unstable.offset;
    let ents: Entry[] = [];
    if (lo < unstableOffset) {
      ents = this.storage.entries(lo, Math.min(hi, unstableOffset), maxBytes);
      // Storage stopped early for size: do not mix in unstable entries.
      if (ents.length < Math.min(hi, unstableOffset) - lo) return ents;
    }
    if (hi > unstableOffset) {
      const tail = this.unstable.slice(Math.max(lo, unstableOffset), hi);
      ents = ents.length > 0 ? ents.concat(tail) : tail;
    }
    return limitSize(ents, maxBytes);
  }

  /** Entries from `index` on, for sending to a follower. */
  entriesFrom(index: number, maxBytes: number): Entry[] {
    if (index > this.lastIndex()) return [];
    return this.slice(index, this.lastIndex() + 1, maxBytes);
  }

  restore(snapshot: Snapshot): void {
    this.committed = snapshot.metadata.index;
    this.unstable.restore(snapshot);
  }

  /** Total bytes of entries in (`after`, lastIndex]: the leader's uncommitted-size accounting. */
  static sizeOf(ents: readonly Entry[]): number {
    let n = 0;
    for (const e of ents) n += entrySize(e);
    return n;
  }
}
