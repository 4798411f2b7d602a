/**
 * Watches: persistent subscriptions to changes, served by the node the client is connected to,
 * after the change is applied there. Every event carries the log index of the change; events of a
 * watch arrive in index order, exactly once.
 *
 * - `data`: the node at `path` was created, changed or deleted;
 * - `children`: a child of `path` was created or deleted;
 * - `recursive`: any node at or under `path` was created, changed or deleted.
 * - `lock`: `path` is a lock name (see lock.ts); an event (type `changed`) whenever its holders
 *   change: a grant or a release.
 *
 * Every node applies the same entries in the same order, so the events of one index (a `multi`, or
 * an expiry deleting several ephemeral nodes) come in the same order on every node: a client may
 * resume from `lastIndex - 1` and skip the events of `lastIndex` it already has.
 *
 * `fromIndex` resumes a watch after a reconnect: the node first replays the changes after that index
 * from its history, then streams new ones. If its history no longer reaches back that far the watch
 * is refused with WATCH_HISTORY_COMPACTED (the client should re-read what it watches and watch anew).
 */
import { ArgReader } from '../args';
import { readLockName } from './lock';

export type WatchKind = 'data' | 'children' | 'recursive' | 'lock';
export const WATCH_KINDS: readonly WatchKind[] = ['data', 'children', 'recursive', 'lock'];

export interface WatchArgs {
  path: string;
  kind: WatchKind;
  /** Replay changes with an index above this one first (a resume after a reconnect). */
  fromIndex?: number;
}
/** `index`: the node's applied index when the watch started; events follow from there (or fromIndex). */
export interface WatchResult {
  watchId: number;
  index: number;
}

export interface UnwatchArgs {
  watchId: number;
}
export type UnwatchResult = Record<string, never>;

export type ChangeType = 'created' | 'changed' | 'deleted';

/** The payload of a `watch` event. `path` is the node that changed (a child, for `children` watches). */
export interface WatchEvent {
  watchId: number;
  index: number;
  type: ChangeType;
  path: string;
}

export function validateWatch(args: unknown): WatchArgs {
  const r = ArgReader.of(args, ['path', 'kind', 'fromIndex']);
  const kind = r.oneOf('kind', WATCH_KINDS);
  return {
    path: kind === 'lock' ? readLockName(r, 'path') : r.path('path'),
    kind,
    fromIndex: r.optional('fromIndex', (k) => r.integer(k, 0, Number.MAX_SAFE_INTEGER)),
  };
}

export function validateUnwatch(args: unknown): UnwatchArgs {
  const r = ArgReader.of(args, ['watchId']);
  return { watchId: r.integer('watchId', 1, Number.MAX_SAFE_INTEGER) };
}
