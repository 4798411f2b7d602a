import { Entry, Snapshot } from './types';
import { invariant } from './errors';

/**
 * The part of the log not yet handed to storage: entries the application has not persisted yet, and
 * an incoming snapshot not yet installed. Entry `i` is at `entries[i - offset]`.
 */
export class Unstable {
  snapshot: Snapshot | null = null;
  entries: Entry[] = [];
  /** How many leading `entries` (and whether `snapshot`) were already handed out in a Ready. */
  inProgress = 0;
  snapshotInProgress = false;

  constructor(public offset: number) {}

  /** The first index, if the unstable part starts the log (it holds a snapshot). */
  maybeFirstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.metadata.index + 1 : undefined;
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot ? this.snapshot.metadata.index : undefined;
  }

  maybeTerm(index: number): number | undefined {
    if (index < this.offset) {
      return this.snapshot && this.snapshot.metadata.index === index ? this.snapshot.metadata.term : undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || index > last) return undefined;
    return this.entries[index - this.offset].term;
  }

  /** Entries not yet handed out for persistence. */
  nextEntries(): Entry[] {
    return this.inProgress >= this.entries.length ? [] : this.entries.slice(this.inProgress);
  }

  nextSnapshot(): Snapshot | null {
    return this.snapshot && !this.snapshotInProgress ? this.snapshot : null;
  }

  /** Marks everything currently unstable as handed out. */
  acceptInProgress(): void {
    this.inProgress = this.entries.length;
    if (this.snapshot) this.snapshotInProgress = true;
  }

  /**
   * Entries up to `index` (with `term`) are durable: drop them. If the entry at `index` has been
   * replaced meanwhile (another term), those durable entries were overwritten: keep the new ones.
   */
  stableTo(index: number, term: number): void {
    const t = this.maybeTerm(index);
    if (t === undefined || t !== term || index < this.offset) return;
    const n = index + 1 - this.offset;
    this.entries = this.entries.slice(n);
    this.offset = index + 1;
    this.inProgress = Math.max(0, this.inProgress - n);
  }

  stableSnapTo(index: number): void {
    if (this.snapshot && this.snapshot.metadata.index === index) {
      this.snapshot = null;
      this.snapshotInProgress = false;
    }
  }

  restore(snapshot: Snapshot): void {
    this.offset = snapshot.metadata.index + 1;
    this.entries = [];
    this.inProgress = 0;
    this.snapshot = snapshot;
    this.snapshotInProgress = false;
  }

  truncateAndAppend(ents: readonly Entry[]): void {
    const from = ents[0].index;
    const end = this.offset + this.entries.length;
    if (from === end) {
      for (const e of ents) this.entries.push(e);
    } else if (from <= this.offset) {
      // Replaces the whole unstable part: the log before `from` is in storage (or the snapshot).
      this.offset = from;
      this.entries = ents.slice();
      this.inProgress = 0;
    } else {
      invariant(from < end, () => `unstable append at ${from} leaves a gap after ${end - 1}`);
      this.entries = this.entries.slice(0, from - this.offset);
      for (const e of ents) this.entries.push(e);
      this.inProgress = Math.min(this.inProgress, from - this.offset);
    }
  }

  /** Entries in [lo, hi), which must lie within the unstable part. */
  slice(lo: number, hi: number): Entry[] {
    invariant(lo >= this.offset && hi <= this.offset + this.entries.length && lo <= hi, () => `unstable.slice(${lo}, ${hi}) out of [${this.offset}, ${this.offset + this.entries.length}]`);
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
