import { ErrorCode, HikariError, isAncestor, parentOf, ROOT_PATH, WatchEvent, WatchKind } from '@hikarikeeper/protocol';
import type { ChangeRecord } from '../coordination/namespace';

/** Where a watch's events go: a client connection. */
export interface WatchSink {
  pushEvent(kind: string, data: unknown): void;
  /** Ends the connection: its watches can no longer be exact (the client re-registers elsewhere). */
  close(): void;
}

/** Changes kept for resuming watches after a reconnect. */
export const HISTORY_CHANGES_MAX = 100_000;
/** Watches one connection may hold. */
export const WATCHES_PER_CONNECTION_MAX = 10_000;

interface Watch {
  readonly id: number;
  readonly sink: WatchSink;
  readonly path: string;
  readonly kind: WatchKind;
  /**
   * Deliver only changes above this index: the point the client already has (its `fromIndex`, or
   * the applied index at registration). Live changes arrive once each, in order, after it.
   */
  from: number;
}

/**
 * The watches served by this node. Changes enter after their batch is durable, in index order; each
 * matching watch gets one event per change. A bounded history of recent changes lets a client that
 * reconnects (here or to another node) resume from the last index it saw without loss or duplicates;
 * older than the history → WATCH_HISTORY_COMPACTED, said explicitly.
 */
export class WatchHub {
  private history: ChangeRecord[] = [];
  /** Every change with an index above this one is in `history`. */
  private historyFloor: number;
  private appliedIndex: number;
  private nextId = 1;
  private readonly byPath = {
    data: new Map<string, Set<Watch>>(), children: new Map<string, Set<Watch>>(), recursive: new Map<string, Set<Watch>>(), lock: new Map<string, Set<Watch>>(),
  };
  private readonly bySink = new Map<WatchSink, Map<number, Watch>>();
  /** How many of each sink's watches are lock watches (the rest watch the namespace): see `watching`. */
  private readonly lockWatches = new Map<WatchSink, number>();

  constructor(appliedIndex: number, private readonly historyMax = HISTORY_CHANGES_MAX) {
    this.historyFloor = appliedIndex;
    this.appliedIndex = appliedIndex;
  }

  get watchCount(): number {
    let n = 0;
    for (const m of this.bySink.values()) n += m.size;
    return n;
  }

  /** Does `sink` hold a watch on locks (`locks`) or on the namespace (otherwise)? Asked on every write: O(1). */
  watching(sink: WatchSink, what: 'locks' | 'namespace'): boolean {
    const locks = this.lockWatches.get(sink) ?? 0;
    return what === 'locks' ? locks > 0 : (this.bySink.get(sink)?.size ?? 0) > locks;
  }

  register(sink: WatchSink, path: string, kind: WatchKind, fromIndex?: number): { watchId: number; index: number } {
    const mine = this.bySink.get(sink) ?? new Map<number, Watch>();
    if (mine.size >= WATCHES_PER_CONNECTION_MAX) throw HikariError.tooLarge('watches on this connection', mine.size + 1, WATCHES_PER_CONNECTION_MAX);
    if (fromIndex !== undefined && fromIndex < this.historyFloor) {
      throw new HikariError(ErrorCode.WATCH_HISTORY_COMPACTED, { fromIndex, oldest: this.historyFloor });
    }
    const watch: Watch = { id: this.nextId++, sink, path, kind, from: fromIndex ?? this.appliedIndex };
    mine.set(watch.id, watch);
    this.bySink.set(sink, mine);
    if (kind === 'lock') this.lockWatches.set(sink, (this.lockWatches.get(sink) ?? 0) + 1);
    const index = this.byPath[kind];
    const set = index.get(path) ?? new Set<Watch>();
    set.add(watch);
    index.set(path, set);
    if (fromIndex !== undefined) {
      for (const change of this.history) if (this.matches(watch, change)) this.deliver(watch, change);
    }
    // From now on only live changes, all above the applied index (a client ahead of this node skips
    // what it has already seen elsewhere).
    watch.from = Math.max(watch.from, this.appliedIndex);
    return { watchId: watch.id, index: this.appliedIndex };
  }

  unregister(sink: WatchSink, watchId: number): void {
    const w = this.bySink.get(sink)?.get(watchId);
    if (!w) throw HikariError.invalidArgument('watchId', `no watch ${watchId} on this connection`);
    this.remove(w);
  }

  dropSink(sink: WatchSink): void {
    for (const w of [...(this.bySink.get(sink)?.values() ?? [])]) this.remove(w);
    this.bySink.delete(sink);
  }

  private remove(w: Watch): void {
    if (this.bySink.get(w.sink)?.delete(w.id) === true && w.kind === 'lock') {
      const left = this.lockWatches.get(w.sink)! - 1;
      if (left === 0) this.lockWatches.delete(w.sink);
      else this.lockWatches.set(w.sink, left);
    }
    const set = this.byPath[w.kind].get(w.path);
    set?.delete(w);
    if (set && set.size === 0) this.byPath[w.kind].delete(w.path);
  }

  /** Changes of a durable batch, in order; `appliedIndex` is the batch's last applied index. */
  onBatch(changes: readonly ChangeRecord[], appliedIndex: number): void {
    for (const change of changes) {
      this.history.push(change);
      for (const w of this.matching(change)) this.deliver(w, change);
    }
    this.appliedIndex = Math.max(this.appliedIndex, appliedIndex);
    if (this.history.length > this.historyMax) this.trim();
  }

  /** A snapshot replaced the state: changes in between are unknown, so every watch here must resync. */
  reset(appliedIndex: number): void {
    this.history = [];
    this.historyFloor = appliedIndex;
    this.appliedIndex = appliedIndex;
    for (const sink of [...this.bySink.keys()]) {
      this.dropSink(sink);
      sink.close();
    }
  }

  private trim(): void {
    // Drop whole indexes (a multi makes several changes at one index) from the oldest end.
    let cut = this.history.length - Math.floor(this.historyMax * 0.9);
    while (cut < this.history.length && this.history[cut].index === this.history[cut - 1]?.index) cut++;
    this.historyFloor = this.history[cut - 1].index;
    this.history = this.history.slice(cut);
  }

  private *matching(change: ChangeRecord): Iterable<Watch> {
    if (change.scope === 'lock') {
      yield* this.byPath.lock.get(change.path) ?? [];
      return;
    }
    yield* this.byPath.data.get(change.path) ?? [];
    if (change.type !== 'changed') {
      const parent = parentOf(change.path);
      if (parent !== null) yield* this.byPath.children.get(parent) ?? [];
    }
    for (let p: string | null = change.path; p !== null; p = parentOf(p)) {
      yield* this.byPath.recursive.get(p) ?? [];
      if (p === ROOT_PATH) break;
    }
  }

  private matches(w: Watch, change: ChangeRecord): boolean {
    if ((w.kind === 'lock') !== (change.scope === 'lock')) return false;
    if (w.kind === 'lock') return change.path === w.path;
    if (w.kind === 'data') return change.path === w.path;
    if (w.kind === 'children') return change.type !== 'changed' && parentOf(change.path) === w.path;
    return change.path === w.path || isAncestor(w.path, change.path);
  }

  private deliver(w: Watch, change: ChangeRecord): void {
    if (change.index <= w.from) return;
    const event: WatchEvent = { watchId: w.id, index: change.index, type: change.type, path: change.path };
    w.sink.pushEvent('watch', event);
  }
}
