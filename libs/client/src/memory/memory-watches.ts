/**
 * The watches of a MemoryCluster, fed as a node feeds them (see the protocol's ops/watch.ts): every
 * change after the watch started, in index order, once; `fromIndex` replays the changes after it
 * from a bounded history (HISTORY_CHANGES_MAX), or starts with a `resync` when the history no longer
 * reaches back that far.
 *
 * Kinds: 'data' (the node itself), 'children' (a child created or deleted), 'recursive' (the node or
 * anything under it), 'lock' (the holders of the lock named `path` changed).
 */
import { parentOf, WatchKind } from '@hikarikeeper/protocol';
import { Watch, WatchFeed } from '../watch';
import type { MemoryChange } from './memory-namespace';

/** Changes kept for watches that resume (`fromIndex`). */
export const HISTORY_CHANGES_MAX = 10_000;

/** One registered watch (the list is readable: tests look at it). */
export interface MemoryWatch {
  readonly path: string;
  readonly kind: WatchKind;
  readonly feed: WatchFeed;
  readonly watch: Watch;
}

export class MemoryWatches {
  /** The open watches, in registration order. */
  readonly list: MemoryWatch[] = [];
  private readonly history: MemoryChange[] = [];
  /** The index of the oldest change the history may have dropped (0: none dropped). */
  private forgottenUpTo = 0;

  /**
   * A watch of `path` registered now, at `index` (on a later tick, as a node answers), or after
   * `fromIndex` with the changes since replayed first.
   */
  open(path: string, kind: WatchKind, index: number, fromIndex: number | undefined, signal: AbortSignal | undefined): Watch {
    let entry!: MemoryWatch;
    const { watch, feed } = Watch.open(path, kind, signal, () => {
      const at = this.list.indexOf(entry);
      if (at >= 0) this.list.splice(at, 1);
    });
    entry = { path, kind, feed, watch };
    this.list.push(entry);
    const replay = fromIndex === undefined ? [] : this.history.filter((change) => change.index > fromIndex && matches(entry, change));
    const resync = fromIndex !== undefined && fromIndex < this.forgottenUpTo;
    setImmediate(() => {
      if (feed.closed) return;
      feed.registered(fromIndex ?? index);
      if (resync) feed.push({ type: 'resync', index });
      else for (const change of replay) feed.push({ type: change.type, index: change.index, path: change.path });
    });
    return watch;
  }

  /** Tells every matching watch of `changes` (applied, in order), and keeps them for resumes. */
  notify(changes: readonly MemoryChange[]): void {
    for (const change of changes) {
      this.history.push(change);
      for (const entry of [...this.list]) {
        if (matches(entry, change)) entry.feed.push({ type: change.type, index: change.index, path: change.path });
      }
    }
    if (this.history.length > HISTORY_CHANGES_MAX) {
      const dropped = this.history.splice(0, this.history.length - HISTORY_CHANGES_MAX);
      this.forgottenUpTo = dropped.at(-1)!.index;
    }
  }
}

function matches(entry: MemoryWatch, change: MemoryChange): boolean {
  if (entry.kind === 'lock' || change.scope === 'lock') return entry.kind === 'lock' && change.scope === 'lock' && entry.path === change.path;
  switch (entry.kind) {
    case 'data':
      return change.path === entry.path;
    case 'children':
      return change.type !== 'changed' && parentOf(change.path) === entry.path;
    case 'recursive':
      return change.path === entry.path || change.path.startsWith(entry.path === '/' ? '/' : `${entry.path}/`);
  }
}
