import { Inflights } from './inflights';

export enum ProgressState {
  /** We do not know where the follower's log ends: one AppendEntries at a time until it matches. */
  Probe = 'probe',
  /** The follower is in sync: stream entries optimistically, bounded by the inflight window. */
  Replicate = 'replicate',
  /** The follower needs a snapshot: send nothing else until it reports back. */
  Snapshot = 'snapshot',
}

/** The leader's view of one follower's log (etcd's tracker.Progress). */
export class Progress {
  match = 0;
  next: number;
  state = ProgressState.Probe;
  /** Index of the snapshot being sent, while in Snapshot state. */
  pendingSnapshot = 0;
  /** Heard from since the last CheckQuorum round. */
  recentActive = false;
  /** In Probe: a probe is outstanding (wait for its answer or a heartbeat response). */
  paused = false;
  readonly inflights: Inflights;

  constructor(
    next: number,
    inflightCountMax: number,
    inflightBytesMax: number,
    public isLearner: boolean,
  ) {
    this.next = next;
    this.inflights = new Inflights(inflightCountMax, inflightBytesMax);
  }

  private resetState(state: ProgressState): void {
    this.paused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
  }

  /** Records that entries [next, next + count) were sent in a message of `bytes` bytes. */
  sentEntries(count: number, bytes: number): void {
    if (this.state === ProgressState.Replicate) {
      if (count > 0) {
        const last = this.next + count - 1;
        this.next = last + 1;
        this.inflights.add(last, bytes);
      }
    } else if (this.state === ProgressState.Probe) {
      this.paused = true;
    }
  }

  /** The follower acknowledged up to `index`. Returns whether `match` moved. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.paused = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * The follower rejected an append at `rejected`; `matchHint` is where its log may agree. Returns
   * false when the rejection is stale (answers an older message).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1, 1);
    this.paused = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.paused;
      case ProgressState.Replicate:
        // Derived from the window itself, so no acknowledgement can unpause a full window.
        return this.inflights.isFull();
      case ProgressState.Snapshot:
        return true;
    }
  }
}
