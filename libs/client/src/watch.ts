/**
 * A watch as the application holds it: an async iterable of changes, and an emitter of the same.
 * Registration, routing and resumption are the registry's (watch-registry.ts); this file only hands
 * items over, with a bound.
 *
 * Two ways to consume, use either or both:
 * - `for await (const item of watch)`: items are buffered for the iterator, up to
 *   WATCH_BUFFERED_ITEMS_MAX; past it the watch closes with TOO_LARGE (after the items before it),
 *   rather than grow without limit behind a slow consumer. Items are buffered from the start, so
 *   that nothing is lost before the loop begins, unless 'event' listeners are attached while no
 *   iterator exists (listeners alone never fill a buffer).
 * - `watch.on('event' | 'resync' | 'error', listener)`: called synchronously as items arrive.
 *
 * A `resync` item means the change history no longer reached back to where the watch was (a long
 * disconnection, or a node restored from a snapshot): changes were missed. Read the watched nodes
 * again; events after `index` follow (some of them may already show in what you read).
 */
import { ChangeType, ErrorCode, HikariError, WatchKind } from '@hikarikeeper/protocol';
import { TypedEmitter } from './typed-emitter';

/** Items buffered for a slow iterator before the watch closes with TOO_LARGE. */
export const WATCH_BUFFERED_ITEMS_MAX = 10_000;

/** A change to a watched node. */
export interface WatchEvent {
  readonly type: ChangeType;
  /** The log index of the change; events come in index order (several may share one index). */
  readonly index: number;
  /** The node that changed (for a `children` watch, the child). */
  readonly path: string;
}

/** Changes were missed: re-read what you watch. Events after `index` follow. */
export interface WatchResync {
  readonly type: 'resync';
  readonly index: number;
}

export type WatchItem = WatchEvent | WatchResync;

export interface WatchEvents {
  event: WatchEvent;
  resync: WatchResync;
  /** The watch closed because of `error` (refused by the server, buffer overflow). */
  error: HikariError;
}

export type WatchEventName = keyof WatchEvents;

/** The registry's side of a watch (not exported from the package). */
export interface WatchFeed {
  readonly closed: boolean;
  /** The registration is in place from `index` on. */
  registered(index: number): void;
  push(item: WatchItem): void;
  /** Closes the watch with `error`: listeners get it, the iterator throws it after what was buffered. */
  fail(error: HikariError): void;
  /** Closes the watch without error (the client closed). */
  end(): void;
}

interface Waiter {
  resolve(result: IteratorResult<WatchItem>): void;
  reject(error: HikariError): void;
}

/** A FIFO whose shift is O(1): an array and a head, compacted as the head moves on. */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head === this.items.length) return undefined;
    const item = this.items[this.head++];
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

export class Watch extends TypedEmitter<WatchEvents> implements AsyncIterable<WatchItem> {
  private readonly buffer = new Fifo<WatchItem>();
  private readonly waiters: Waiter[] = [];
  private iterated = false;
  private isClosed = false;
  /** The error that closed the watch, until the iterator has thrown it. */
  private failure: HikariError | null = null;
  private detachSignal: (() => void) | null = null;
  private settleReady!: { resolve(index: number): void; reject(error: HikariError): void };
  private last = -1;

  /**
   * Resolves with the index the watch starts from once the first registration is in place: every
   * change after it is delivered. Rejects if the watch closes before.
   */
  readonly ready: Promise<number>;

  /** Use `HikariClient.watch`. */
  private constructor(
    readonly path: string,
    readonly kind: WatchKind,
    private readonly onClose: () => void,
  ) {
    super();
    this.ready = new Promise<number>((resolve, reject) => (this.settleReady = { resolve, reject }));
    this.ready.catch(() => undefined); // a rejection nobody awaits is not an unhandled one
  }

  /** Internal: a watch and the feed its registry drives; `onClose` runs once when it closes. */
  static open(
    path: string,
    kind: WatchKind,
    signal: AbortSignal | undefined,
    onClose: () => void,
  ): { watch: Watch; feed: WatchFeed } {
    const watch = new Watch(path, kind, onClose);
    if (signal !== undefined) {
      const onAbort = (): void => watch.close();
      signal.addEventListener('abort', onAbort, { once: true });
      watch.detachSignal = () => signal.removeEventListener('abort', onAbort);
    }
    const feed: WatchFeed = {
      get closed() {
        return watch.isClosed;
      },
      registered: (index) => watch.registered(index),
      push: (item) => watch.push(item),
      fail: (error) => watch.finish(error, true),
      end: () => watch.finish(null, false),
    };
    return { watch, feed };
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** The index of the last item delivered (or where the watch started); -1 before it started. */
  get lastIndex(): number {
    return this.last;
  }




  /** Stops the watch: the iterator ends (buffered items are dropped), listeners hear no more. Idempotent. */
  close(): void {
    if (this.isClosed) return;
    this.buffer.clear();
    this.finish(null, true);
  }

  /** One iterator per watch; leaving the loop (break, return, throw) closes the watch. */
  [Symbol.asyncIterator](): AsyncIterator<WatchItem> {
    if (this.iterated) throw HikariError.invalidArgument('watch', 'a Watch can be iterated only once');
    this.iterated = true;
    return {
      next: () => this.next(),
      return: () => {
        this.close();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  private next(): Promise<IteratorResult<WatchItem>> {
    const item = this.buffer.shift();
    if (item !== undefined) return Promise.resolve({ done: false, value: item });
    if (this.isClosed) {
      const failure = this.failure;
      this.failure = null;
      return failure === null ? Promise.resolve({ done: true, value: undefined }) : Promise.reject(failure);
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private registered(index: number): void {
    if (this.last < 0) this.last = index;
    this.settleReady.resolve(index);
  }

  private push(item: WatchItem): void {
    if (this.isClosed) return;
    this.last = item.index;
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter.resolve({ done: false, value: item });
    else if (this.iterated || this.listenerCount('event') === 0) {
      if (this.buffer.length >= WATCH_BUFFERED_ITEMS_MAX) {
        const overflow = HikariError.tooLarge('watch buffer', this.buffer.length + 1, WATCH_BUFFERED_ITEMS_MAX);
        return this.finish(overflow, true);
      }
      this.buffer.push(item);
    }
    if (item.type === 'resync') this.emit('resync', item);
    else this.emit('event', item);
  }

  /** Closes: `error` for listeners and the iterator; `unregister` tells the registry to drop it. */
  private finish(error: HikariError | null, unregister: boolean): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.failure = error;
    this.detachSignal?.();
    this.settleReady.reject(error ?? new HikariError(ErrorCode.CANCELLED, { reason: 'the watch was closed' }));
    for (const waiter of this.waiters.splice(0)) {
      if (this.failure !== null) {
        waiter.reject(this.failure);
        this.failure = null;
      } else {
        waiter.resolve({ done: true, value: undefined });
      }
    }
    if (unregister) this.onClose();
    if (error !== null && this.listenerCount('error') > 0) this.emit('error', error);
  }

}
