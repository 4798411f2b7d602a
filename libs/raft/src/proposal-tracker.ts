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
  /** Index -> waiters, oldest first. Usually one; several when a node proposed at the same index
   *  again (in a later term) before the first proposal's fate was known: none may be dropped. */
  private readonly waiting = new Map<number, Array<{ term: number; waiter: W }>>();
  private count = 0;
  private lowest = Infinity;

  get size(): number {
    return this.count;
  }

  track(index: number, term: number, waiter: W): void {
    const at = this.waiting.get(index);
    if (at) at.push({ term, waiter });
    else this.waiting.set(index, [{ term, waiter }]);
    this.count++;
    if (index < this.lowest) this.lowest = index;
  }

  /** Resolves (through `done`) the waiters at `entry.index`. */
  applied(entry: Entry, done: (waiter: W, outcome: ProposalOutcome) => void): void {
    if (this.count === 0 || entry.index < this.lowest) return;
    const ws = this.waiting.get(entry.index);
    if (!ws) return;
    this.waiting.delete(entry.index);
    this.count -= ws.length;
    if (this.count === 0) this.lowest = Infinity;
    for (const w of ws) done(w.waiter, w.term === entry.term ? ProposalOutcome.Committed : ProposalOutcome.Lost);
  }

  /** A snapshot up to `index` was installed: proposals at or below it have an unknown outcome. */
  snapshotInstalled(index: number, done: (waiter: W, outcome: ProposalOutcome) => void): void {
    const resolved: W[] = [];
    for (const [i, ws] of this.waiting) {
      if (i <= index) {
        this.waiting.delete(i);
        this.count -= ws.length;
        for (const w of ws) resolved.push(w.waiter);
      }
    }
    // A loop, not Math.min(...keys): spreading a huge map overflows the call stack.
    this.lowest = Infinity;
    for (const i of this.waiting.keys()) if (i < this.lowest) this.lowest = i;
    for (const w of resolved) done(w, ProposalOutcome.Unknown);
  }

  /** Gives up on every waiter (shutdown): their outcome is unknown. */
  clear(done: (waiter: W, outcome: ProposalOutcome) => void): void {
    const all = [...this.waiting.values()].flat();
    this.waiting.clear();
    this.count = 0;
    this.lowest = Infinity;
    for (const w of all) done(w.waiter, ProposalOutcome.Unknown);
  }
}
