/**
 * The bounded queue of encoded messages waiting for one peer's socket. Bounded in count and in
 * bytes: when a push would go over either, the new message is refused (the caller drops it and
 * reports the peer unreachable; Raft retries). Old messages are kept: dropping the newest keeps the
 * queue a prefix of what was sent, so the order of what does arrive is preserved.
 */
export class SendQueue {
  private parts: Buffer[] = [];
  /** Index of the first part not taken yet (parts before it are spent; compacted lazily). */
  private head = 0;
  private queuedBytes = 0;

  constructor(
    private readonly messagesMax: number,
    private readonly bytesMax: number,
  ) {}

  get length(): number {
    return this.parts.length - this.head;
  }

  get bytes(): number {
    return this.queuedBytes;
  }

  /** Queues one encoded message; false (and nothing queued) when a bound would be exceeded. */
  push(part: Buffer): boolean {
    if (this.length + 1 > this.messagesMax || this.queuedBytes + part.length > this.bytesMax) return false;
    this.parts.push(part);
    this.queuedBytes += part.length;
    return true;
  }

  /**
   * Removes and returns the longest prefix whose total size is at most `bytesMax`, and at least one
   * part (the caller guarantees that every part alone fits). Empty when the queue is.
   */
  take(bytesMax: number): Buffer[] {
    const start = this.head;
    let end = start;
    let total = 0;
    while (end < this.parts.length && (end === start || total + this.parts[end]!.length <= bytesMax)) {
      total += this.parts[end]!.length;
      end++;
    }
    const taken = this.parts.slice(start, end);
    this.head = end;
    this.queuedBytes -= total;
    if (this.head === this.parts.length) this.clear();
    else if (this.head > 1024 && this.head * 2 > this.parts.length) this.compact();
    return taken;
  }

  /** Discards everything; returns how many messages were discarded. */
  clear(): number {
    const dropped = this.length;
    this.parts = [];
    this.head = 0;
    this.queuedBytes = 0;
    return dropped;
  }

  private compact(): void {
    this.parts = this.parts.slice(this.head);
    this.head = 0;
  }
}
