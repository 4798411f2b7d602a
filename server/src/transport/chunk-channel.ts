/**
 * The async iterable a snapshot receiver hands to `onSnapshot`: chunks pushed by the network side,
 * pulled by the consumer, with back-pressure. When `bufferedBytesMax` bytes wait for the consumer,
 * `pause()` is called (the socket stops reading, TCP flow control slows the sender); once the
 * consumer has taken the buffer below half of it, `resume()`.
 *
 * Contract: iterable once; `fail(error)` makes the next pull throw `error` (chunks still buffered
 * are discarded: the stream is broken); a consumer that stops early (`break`, `return()`) cancels
 * the channel, and later pushes are ignored.
 */
export class ChunkChannel implements AsyncIterable<Uint8Array> {
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private peak = 0;
  private ended = false;
  private cancelled = false;
  private failure: Error | null = null;
  private paused = false;
  private iterated = false;
  private waiter: { resolve: (r: IteratorResult<Uint8Array>) => void; reject: (e: Error) => void } | null = null;

  constructor(
    private readonly bufferedBytesMax: number,
    private readonly pause: () => void,
    private readonly resume: () => void,
  ) {}

  /** The most bytes that waited for the consumer at any time. */
  get peakBufferedBytes(): number {
    return this.peak;
  }

  /** True once the consumer stopped early or the channel failed: the producer may stop sending. */
  get isCancelled(): boolean {
    return this.cancelled || this.failure !== null;
  }

  push(chunk: Uint8Array): void {
    if (this.ended || this.isCancelled || chunk.length === 0) return;
    if (this.waiter !== null) {
      const waiter = this.waiter;
      this.waiter = null;
      waiter.resolve({ done: false, value: chunk });
      return;
    }
    this.queue.push(chunk);
    this.queuedBytes += chunk.length;
    this.peak = Math.max(this.peak, this.queuedBytes);
    if (!this.paused && this.queuedBytes >= this.bufferedBytesMax) {
      this.paused = true;
      this.pause();
    }
  }

  /** The producer has no more chunks: the iteration ends after the buffered ones. */
  end(): void {
    if (this.ended || this.isCancelled) return;
    this.ended = true;
    this.settleWaiter();
  }

  /** The stream broke: the next pull throws `error`. */
  fail(error: Error): void {
    if (this.ended || this.isCancelled) return;
    this.failure = error;
    this.queue = [];
    this.queuedBytes = 0;
    this.settleWaiter();
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.iterated) throw new Error('a snapshot stream can be iterated once');
    this.iterated = true;
    return {
      next: () => this.next(),
      return: (): Promise<IteratorResult<Uint8Array>> => {
        this.cancel();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  private next(): Promise<IteratorResult<Uint8Array>> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const chunk = this.queue.shift();
    if (chunk !== undefined) {
      this.queuedBytes -= chunk.length;
      if (this.paused && this.queuedBytes * 2 < this.bufferedBytesMax) {
        this.paused = false;
        this.resume();
      }
      return Promise.resolve({ done: false, value: chunk });
    }
    if (this.ended || this.cancelled) return Promise.resolve({ done: true, value: undefined });
    if (this.waiter !== null) return Promise.reject(new Error('a snapshot stream has one consumer'));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  private cancel(): void {
    this.cancelled = true;
    this.queue = [];
    this.queuedBytes = 0;
    this.settleWaiter();
  }

  private settleWaiter(): void {
    const waiter = this.waiter;
    if (waiter === null) return;
    this.waiter = null;
    if (this.failure !== null) waiter.reject(this.failure);
    else waiter.resolve({ done: true, value: undefined });
  }
}
