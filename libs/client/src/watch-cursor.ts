/**
 * Where a watch is in the stream of changes, so that a re-registration (after a reconnect, on any
 * node) loses nothing and repeats nothing. Pure: it only counts.
 *
 * One log index may carry several events for one watch: a `multi`, or a session expiry deleting
 * several ephemeral nodes, is one entry. So "the last index seen" is not enough to resume: the
 * connection may have broken after some of that index's events and before the others. The cursor
 * keeps the last index and how many of its events were delivered; a resume asks the node to replay
 * from the index before (`fromIndex` = index - 1), and the first `delivered` events at `index` are
 * then skipped as replays. Nodes apply the same entries the same way, so they list one index's
 * events in the same order. After a registration point (the node's applied index when a watch
 * starts) nothing at that index is due, and the resume starts there.
 *
 * Anything older than the cursor is dropped, whatever the node sends: the safety net against replays.
 */
export class WatchCursor {
  /** The last index delivered, or the registration point. */
  private index: number;
  /** Events delivered at `index`; null when `index` is a registration point (nothing at it is due). */
  private delivered: number | null = null;
  /** Events at `index` received since the last registration (replays while ≤ `delivered`). */
  private seen = 0;

  /** Starts at `index`: events with a greater index follow. */
  constructor(index: number) {
    this.index = index;
  }

  /** The last index delivered (or the registration point). */
  get lastIndex(): number {
    return this.index;
  }

  /** The `fromIndex` of the next registration; counts replays from now on. */
  resumeFrom(): number {
    this.seen = 0;
    return this.delivered === null ? this.index : this.index - 1;
  }

  /** Starts over at a new registration point (after WATCH_HISTORY_COMPACTED). */
  restart(index: number): void {
    this.index = index;
    this.delivered = null;
    this.seen = 0;
  }

  /** Whether an event at `index` is new (then it counts as delivered) or a replay to drop. */
  accept(index: number): boolean {
    if (index > this.index) {
      this.index = index;
      this.delivered = 1;
      this.seen = 1;
      return true;
    }
    if (index < this.index || this.delivered === null) return false;
    this.seen++;
    if (this.seen <= this.delivered) return false;
    this.delivered++;
    return true;
  }
}
