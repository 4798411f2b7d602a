/**
 * A service's live instance list, as a stream: each item is the full, current list (sorted by id),
 * with the log index it reflects. Built on one recursive watch of `/services/<service>` and reads:
 *
 * 1. The watch registers; then the whole service is read (children, then each instance). Any change
 *    after the registration point comes as an event, so none falls between the read and the watch.
 * 2. Events are collected for `debounceMs` (a burst, such as a session expiry removing several
 *    instances, or a deploy, makes one update), then only the instances they name are read again:
 *    gone (NO_NODE) → removed, present → replaced. Events that arrive during those reads make the next
 *    round. A read sees at least the state of the event that caused it, and rounds never overlap, so
 *    an older read cannot overwrite a newer one.
 * 3. A `resync` (the watch missed changes: a long disconnection) reads the whole service again.
 * 4. An update is published only when the list changed; its `index` is the last event taken into it
 *    (the registration point for the first one): every change up to it is reflected.
 *
 * Reconnects are the watch's business (it resumes where it was, see watch-registry.ts). A round whose
 * reads fail (TIMEOUT while the cluster is unreachable, ...) is retried with backoff (`retrying`),
 * the list staying as it was meanwhile. The stream ends when `close()` is called, the signal aborts,
 * or the client closes; it fails when the watch is refused for good (TOO_LARGE over WATCHES_MAX).
 *
 * Iterating (`for await`) gives the latest list: a slow consumer skips intermediate lists, never
 * the latest one. One iterator per ServiceWatch; leaving the loop closes it. Listeners (`on('update')`)
 * hear every published list.
 */
import { ErrorCode, HikariError, parentOf, baseName } from '@hikarikeeper/protocol';
import { backoffDelayMs, Random } from '../endpoints';
import type { Watch } from '../watch';
import type { DiscoveryPort } from './port';
import { mapLimit, READ_CONCURRENCY, readInstance, readInstances } from './reads';
import { byId, servicePath, ServiceInstance } from './record';
import { checkServiceName } from './validation';
import { TypedEmitter } from '../typed-emitter';

export const SERVICE_WATCH_DEBOUNCE_MS_DEFAULT = 50;
export const SERVICE_WATCH_DEBOUNCE_MS_MAX = 60_000;

/** Backoff between attempts of a round whose reads failed. */
export const SERVICE_READ_BACKOFF = { initialMs: 100, maxMs: 5_000 } as const;

export interface ServiceWatchOptions {
  /** How long changes are collected before the list is read again (ms). Default 50; 0 to 60,000. */
  debounceMs?: number;
  /** Read instances from the connected node without confirming with the leader (faster, maybe behind). */
  stale?: boolean;
  /** Aborting closes the watch (the iterator ends). */
  signal?: AbortSignal;
}

/** A service's instances at a point of the log. */
export interface ServiceUpdate {
  readonly service: string;
  /** Every live instance (whatever its status), sorted by id. */
  readonly instances: readonly ServiceInstance[];
  /** Every change up to this log index is reflected. */
  readonly index: number;
}

export interface ServiceRetryingEvent {
  error: HikariError;
  attempt: number;
  delayMs: number;
}

export interface ServiceWatchEvents {
  /** The list changed (the first list counts as a change). */
  update: ServiceUpdate;
  /** A round of reads failed; it goes again after `delayMs`. */
  retrying: ServiceRetryingEvent;
  /** The watch was refused for good; it is closed. (Only emitted when someone listens.) */
  error: HikariError;
  /** The stream ended: `error` when it failed, null when closed (by `close()`, the signal, or the client). */
  close: HikariError | null;
}

export type ServiceWatchEventName = keyof ServiceWatchEvents;

interface Waiter {
  resolve(result: IteratorResult<ServiceUpdate>): void;
  reject(error: HikariError): void;
}

export class ServiceWatch extends TypedEmitter<ServiceWatchEvents> implements AsyncIterable<ServiceUpdate> {
  readonly service: string;
  /** `/services/<service>`. */
  readonly path: string;
  /** Resolves with the first list; rejects if the stream ends before. */
  readonly ready: Promise<ServiceUpdate>;
  private readonly watch: Watch;
  private readonly debounceMs: number;
  private readonly stale: boolean;
  private readonly random: Random;
  private readonly instances = new Map<string, ServiceInstance>();
  private latest: ServiceUpdate | null = null;
  /** The latest update the iterator has not taken yet. */
  private unread: ServiceUpdate | null = null;
  private readonly waiters: Waiter[] = [];
  private iterated = false;
  private isClosed = false;
  private failure: HikariError | null = null;
  private settleReady!: { resolve(update: ServiceUpdate): void; reject(error: HikariError): void };
  // The next round: read everything, or the ids named by events; up to `eventIndex`.
  private started = false;
  private fullRead = true;
  private readonly dirty = new Set<string>();
  private eventIndex = 0;
  private timer: NodeJS.Timeout | null = null;
  private reading = false;
  private failures = 0;

  /** Use `client.discovery.watch`. Throws INVALID_ARGUMENT for a bad name or option. */
  constructor(
    private readonly port: DiscoveryPort,
    service: string,
    options: ServiceWatchOptions = {},
    random: Random = Math.random,
  ) {
    super();
    this.service = checkServiceName(service);
    this.path = servicePath(service);
    const { debounceMs = SERVICE_WATCH_DEBOUNCE_MS_DEFAULT, stale = false, signal } = options;
    if (!Number.isSafeInteger(debounceMs) || debounceMs < 0 || debounceMs > SERVICE_WATCH_DEBOUNCE_MS_MAX) {
      throw HikariError.invalidArgument('debounceMs', `must be an integer in [0, ${SERVICE_WATCH_DEBOUNCE_MS_MAX}]`);
    }
    this.debounceMs = debounceMs;
    this.stale = stale === true;
    this.random = random;
    this.ready = new Promise<ServiceUpdate>((resolve, reject) => (this.settleReady = { resolve, reject }));
    this.ready.catch(() => undefined); // a rejection nobody awaits is not an unhandled one
    this.watch = port.watch(this.path, { kind: 'recursive', signal });
    this.watch.ready.then(
      (index) => {
        this.started = true;
        this.eventIndex = Math.max(this.eventIndex, index);
        this.schedule(0);
      },
      () => undefined, // the consume loop hears why
    );
    void this.consume();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** The last published update; null before the first. */
  get current(): ServiceUpdate | null {
    return this.latest;
  }




  /** Ends the stream: the iterator finishes (a list it has not taken is dropped), listeners hear `close`. Idempotent. */
  close(): void {
    if (this.isClosed) return;
    this.unread = null;
    this.end(null);
  }

  [Symbol.asyncIterator](): AsyncIterator<ServiceUpdate> {
    if (this.iterated) throw HikariError.invalidArgument('watch', 'a ServiceWatch can be iterated only once');
    this.iterated = true;
    return {
      next: () => this.next(),
      return: () => {
        this.close();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  private next(): Promise<IteratorResult<ServiceUpdate>> {
    const update = this.unread;
    if (update !== null) {
      this.unread = null;
      return Promise.resolve({ done: false, value: update });
    }
    if (this.isClosed) {
      const failure = this.failure;
      this.failure = null;
      return failure === null ? Promise.resolve({ done: true, value: undefined }) : Promise.reject(failure);
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Takes the watch's items in as they come (the watch's own buffer never grows: this loop does not wait). */
  private async consume(): Promise<void> {
    try {
      for await (const item of this.watch) {
        if (item.type === 'resync') this.fullRead = true;
        else this.touched(item.path, item.type);
        this.eventIndex = Math.max(this.eventIndex, item.index);
        this.schedule(this.debounceMs);
      }
      this.end(null);
    } catch (error) {
      this.end(error instanceof HikariError ? error : new HikariError(ErrorCode.INTERNAL, { reason: String(error) }));
    }
  }

  private touched(path: string, type: string): void {
    if (path === this.path) {
      // The service node itself: created or deleted, read it all again (its data does not matter).
      if (type !== 'changed') this.fullRead = true;
      return;
    }
    if (parentOf(path) === this.path) this.dirty.add(baseName(path));
    // Deeper nodes are not instances (instances are ephemeral: they have no children).
  }

  private schedule(delayMs: number): void {
    if (this.isClosed || !this.started || this.timer !== null || this.reading) return;
    if (!this.fullRead && this.dirty.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.round();
    }, delayMs);
  }

  /** One round of reads: everything, or the instances events named; then publish if the list changed. */
  private async round(): Promise<void> {
    if (this.isClosed) return;
    const full = this.fullRead;
    const ids = [...this.dirty];
    const index = this.eventIndex;
    this.fullRead = false;
    this.dirty.clear();
    this.reading = true;
    let changed: boolean;
    try {
      const options = { stale: this.stale };
      if (full) {
        changed = this.replaceAll(await readInstances(this.port, this.service, options));
      } else {
        const found = await mapLimit(ids, READ_CONCURRENCY, (id) => readInstance(this.port, this.service, id, options));
        changed = false;
        ids.forEach((id, i) => (changed = this.replaceOne(id, found[i]!) || changed));
      }
    } catch (error) {
      this.reading = false;
      if (this.isClosed) return;
      // Put the work back, and go again after a backoff.
      if (full) this.fullRead = true;
      for (const id of ids) this.dirty.add(id);
      const failure = error instanceof HikariError ? error : new HikariError(ErrorCode.INTERNAL, { reason: String(error) });
      if (failure.code === ErrorCode.CANCELLED) return; // the client closed: the watch ends too
      const delayMs = backoffDelayMs(++this.failures, SERVICE_READ_BACKOFF, this.random);
      this.emit('retrying', { error: failure, attempt: this.failures, delayMs });
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.round();
      }, delayMs);
      return;
    }
    this.reading = false;
    this.failures = 0;
    if (this.isClosed) return;
    if (changed || this.latest === null) this.publish(index);
    this.schedule(this.debounceMs);
  }

  private replaceAll(fresh: Map<string, ServiceInstance>): boolean {
    let changed = fresh.size !== this.instances.size;
    for (const id of [...this.instances.keys()]) if (!fresh.has(id)) this.instances.delete(id);
    for (const [id, instance] of fresh) changed = this.replaceOne(id, instance) || changed;
    return changed;
  }

  /** Sets (or, with null, removes) one instance; whether that changed the list. */
  private replaceOne(id: string, instance: ServiceInstance | null): boolean {
    const old = this.instances.get(id);
    if (instance === null) return this.instances.delete(id);
    if (old !== undefined && old.modifiedIndex === instance.modifiedIndex && old.createdIndex === instance.createdIndex) return false;
    this.instances.set(id, instance);
    return true;
  }

  private publish(index: number): void {
    const instances = Object.freeze([...this.instances.values()].sort(byId));
    const update: ServiceUpdate = Object.freeze({ service: this.service, instances, index: Math.max(index, this.latest?.index ?? 0) });
    this.latest = update;
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter.resolve({ done: false, value: update });
    else this.unread = update;
    this.settleReady.resolve(update);
    this.emit('update', update);
  }

  private end(error: HikariError | null): void {
    if (this.isClosed) return;
    this.isClosed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.watch.close();
    this.failure = error;
    this.settleReady.reject(error ?? new HikariError(ErrorCode.CANCELLED, { reason: 'the service watch was closed' }));
    for (const waiter of this.waiters.splice(0)) {
      if (this.failure !== null) {
        waiter.reject(this.failure);
        this.failure = null;
      } else {
        waiter.resolve({ done: true, value: undefined });
      }
    }
    if (error !== null && this.listenerCount('error') > 0) this.emit('error', error);
    this.emit('close', error);
  }

}
