import { invariant } from './errors';

/**
 * The bounded window of AppendEntries in flight to one follower (pipelining): the last index and the
 * byte size of each unacknowledged message, oldest first. Full when `countMax` messages or `bytesMax`
 * bytes are outstanding; the leader then waits for acknowledgements before sending more.
 */
export class Inflights {
  private readonly indexes: number[];
  private readonly sizes: number[];
  private start = 0;
  count = 0;
  bytes = 0;

  constructor(
    readonly countMax: number,
    readonly bytesMax: number,
  ) {
    invariant(countMax > 0, 'inflight window must hold at least one message');
    this.indexes = new Array<number>(countMax).fill(0);
    this.sizes = new Array<number>(countMax).fill(0);
  }

  add(lastIndex: number, bytes: number): void {
    invariant(this.count < this.countMax, 'inflights: add to a full window');
    const at = (this.start + this.count) % this.countMax;
    this.indexes[at] = lastIndex;
    this.sizes[at] = bytes;
    this.count++;
    this.bytes += bytes;
  }

  /** Acknowledges every message whose last index is <= `index`. */
  freeLE(index: number): void {
    while (this.count > 0 && this.indexes[this.start] <= index) {
      this.bytes -= this.sizes[this.start];
      this.start = (this.start + 1) % this.countMax;
      this.count--;
    }
    if (this.count === 0) this.start = 0;
  }

  freeFirstOne(): void {
    if (this.count > 0) this.freeLE(this.indexes[this.start]);
  }

  isFull(): boolean {
    return this.count === this.countMax || (this.bytesMax > 0 && this.bytes >= this.bytesMax);
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
  }
}
