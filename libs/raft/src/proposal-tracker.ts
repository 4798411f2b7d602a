import { Entry } from './types';

export enum ProposalOutcome {
  /** The entry committed at the index it was proposed at. */
  Committed = 'committed',
  /** Another entry committed at that index: the proposal was lost (leadership changed). */
  Lost = 'lost',
  /** A snapshot skipped over the index: it may or may not have committed. */
  Unknown = 'unknown',
}

/**
 * Matches proposals to what was applied, so a proposer learns the fate of its entry instead of
 * waiting forever: after `propose()` returned index I in term T, the proposal committed iff the
 * entry applied at I has term T. Feed it every applied entry in order (and snapshots).
 */
export class ProposalTracker<W> {
  private readonly waiting = new Map<number, { term: number; waiter: W }>();
  private lowest = Infinity;

  get size(): number {
    return this.waiting.size;
  }

  track(index: number, term: number, waiter: W): void {
    this.waiting.set(index, { term, waiter });
    if (index < this.lowest) this.lowest = index;
  }

  /** Returns the waiters resolved by applying `entry`. */
  applied(entry: Entry, done: (waiter: W, outcome: ProposalOutcome) => void): void {
    if (this.waiting.size === 0 || entry.index < this.lowest) return;
    const w = this.waiting.get(entry.index);
    if (!w) return;
    this.waiting.delete(entry.index);
    done(w.waiter, w.term === entry.term ? ProposalOutcome.Committed : ProposalOutcome.Lost);
    if (this.waiting.size === 0) this.lowest = Infinity;
  }

  /** A snapshot up to `index` was installed: proposals at or below it have an unknown outcome. */
  snapshotInstalled(index: number, done: (waiter: W, outcome: ProposalOutcome) => void): void {
    for (const [i, w] of this.waiting) {
      if (i <= index) {
        this.waiting.delete(i);
        done(w.waiter, ProposalOutcome.Unknown);
      }
    }
    this.lowest = this.waiting.size === 0 ? Infinity : Math.min(...this.waiting.keys());
  }

  /** Gives up on every waiter (shutdown): their outcome is unknown. */
  clear(done: (waiter: W, outcome: ProposalOutcome) => void): void {
    for (const w of this.waiting.values()) done(w.waiter, ProposalOutcome.Unknown);
    this.waiting.clear();
    this.lowest = Infinity;
  }
}
