/**
 * The client's watches: registers each on the connection calls flow on, routes pushed events to
 * them, and registers them again on every new connection, from where each one was.
 *
 * Rules:
 * - A watch id means something on one connection only. Registrations and unwatches are pinned to
 *   their connection (Dispatcher.sendOn); events are routed by (connection, id).
 * - After a reconnect each watch is registered again with `fromIndex` from its cursor (see
 *   watch-cursor.ts): the node replays what followed, the cursor drops what was already delivered.
 * - WATCH_HISTORY_COMPACTED: registered again without `fromIndex`; the application gets a `resync`
 *   item with the new starting index.
 * - A node may push a watch's replayed events before it answers the registration (the id is not
 *   known yet). Events for unknown ids are held while registrations are under way on that
 *   connection, up to WATCH_ORPHAN_EVENTS_MAX; beyond it they are dropped, and the watches that were
 *   registering then resync rather than miss them silently.
 * - Retryable failures of a registration are retried after a backoff while the connection lasts,
 *   and on the next connection otherwise; other failures close the watch with the error.
 */
import { ChangeType, ErrorCode, HikariError, isPlainObject, OpResult, WatchArgs, WatchKind } from '@hikarikeeper/protocol';
import { Connection } from './connection';
import { backoffDelayMs, Random } from './endpoints';
import { BackoffOptions } from './options';
import { Watch, WatchFeed } from './watch';
import { WatchCursor } from './watch-cursor';

/** Most watches one client holds (a node serves at most 10,000 per connection). */
export const WATCHES_MAX = 10_000;

/** Most events held for watches whose registration is not answered yet, per connection. */
export const WATCH_ORPHAN_EVENTS_MAX = 10_000;

const CHANGE_TYPES: readonly string[] = ['created', 'changed', 'deleted'] satisfies ChangeType[];

/** How the registry sends: the dispatcher's pinned calls. `reply` is called once, synchronously. */
export interface WatchTransport {
  sendOn(
    connection: Connection,
    op: 'watch' | 'unwatch',
    args: unknown,
    reply: (error: HikariError | null, result: unknown) => void,
  ): void;
}

/** A pushed `watch` event, checked. */
interface WireEvent {
  readonly watchId: number;
  readonly index: number;
  readonly type: ChangeType;
  readonly path: string;
}

type Mode = 'first' | 'resume' | 'resync';

interface Entry {
  readonly feed: WatchFeed;
  readonly path: string;
  readonly kind: WatchKind;
  /** The application's `fromIndex`, for the first registration. */
  readonly fromIndex: number | undefined;
  /** Null until the first registration is answered. */
  cursor: WatchCursor | null;
  /** Where the watch is registered, and its id there. */
  registration: { readonly connection: Connection; readonly watchId: number } | null;
  /** The connection a registration is under way on. */
  registering: Connection | null;
  /** Orphaned events were dropped while it was registering: it must resync. */
  tainted: boolean;
  /** Its history was compacted: the next registration resyncs. */
  mustResync: boolean;
  failures: number;
  retryTimer: NodeJS.Timeout | null;
}

/** The connection events are routed for, and what is held there. */
interface Routing {
  readonly connection: Connection;
  readonly byId: Map<number, Entry>;
  readonly orphans: Map<number, WireEvent[]>;
  orphanCount: number;
  registrations: number;
}

export class WatchRegistry {
  private readonly entries = new Set<Entry>();
  private routing: Routing | null = null;
  /** The connection calls may go on now (null while reconnecting or rebinding the session). */
  private usableConnection: Connection | null = null;
  private readonly random: Random;

  constructor(
    private readonly transport: WatchTransport,
    private readonly backoff: BackoffOptions,
    random?: Random,
  ) {
    this.random = random ?? Math.random;
  }

  /** A new watch, registered at once if a connection is usable. Throws TOO_LARGE over WATCHES_MAX. */
  add(path: string, kind: WatchKind, fromIndex: number | undefined, signal: AbortSignal | undefined): Watch {
    if (this.entries.size >= WATCHES_MAX) throw HikariError.tooLarge('watches', this.entries.size + 1, WATCHES_MAX);
    let entry!: Entry;
    const { watch, feed } = Watch.open(path, kind, signal, () => this.remove(entry));
    entry = {
      feed,
      path,
      kind,
      fromIndex,
      cursor: null,
      registration: null,
      registering: null,
      tainted: false,
      mustResync: false,
      failures: 0,
      retryTimer: null,
    };
    if (feed.closed) return watch; // the signal was already aborted
    this.entries.add(entry);
    if (this.usableConnection !== null) this.register(entry, this.usableConnection);
    return watch;
  }

  /** Calls may go on `connection`: every watch not registered there is registered there. */
  usable(connection: Connection): void {
    this.usableConnection = connection;
    this.routeTo(connection);
    for (const entry of this.entries) {
      const there = entry.registration?.connection === connection || entry.registering === connection;
      if (!there && entry.retryTimer === null) this.register(entry, connection);
    }
  }

  /** `connection` closed: the watches on it are registered nowhere until the next usable one. */
  disconnected(connection: Connection): void {
    if (this.usableConnection === connection) this.usableConnection = null;
    if (this.routing?.connection === connection) this.routing = null;
    for (const entry of this.entries) {
      if (entry.registration?.connection === connection) entry.registration = null;
    }
  }

  /** A `watch` event pushed on `connection`. Returns BAD_FRAME for a malformed one (close that connection). */
  event(connection: Connection, data: unknown): HikariError | null {
    const event = checkEvent(data);
    if (event === null) return HikariError.badFrame('malformed watch event');
    const routing = this.routing;
    if (routing?.connection !== connection) return null;
    const entry = routing.byId.get(event.watchId);
    if (entry !== undefined) this.deliver(entry, event);
    else if (routing.registrations > 0) this.hold(routing, event);
    return null; // otherwise an id unwatched since: nothing to do
  }

  /** The client closed: every watch ends, nothing is sent. */
  close(): void {
    for (const entry of this.entries) {
      if (entry.retryTimer !== null) clearTimeout(entry.retryTimer);
      entry.retryTimer = null;
    }
    const entries = [...this.entries];
    this.entries.clear();
    this.routing = null;
    this.usableConnection = null;
    for (const entry of entries) entry.feed.end();
  }

  private register(entry: Entry, connection: Connection): void {
    const mode: Mode = entry.mustResync ? 'resync' : entry.cursor === null ? 'first' : 'resume';
    const args: WatchArgs = { path: entry.path, kind: entry.kind };
    if (mode === 'first' && entry.fromIndex !== undefined) args.fromIndex = entry.fromIndex;
    if (mode === 'resume') args.fromIndex = entry.cursor!.resumeFrom();
    const routing = this.routeTo(connection);
    entry.registering = connection;
    entry.tainted = false;
    routing.registrations++;
    this.transport.sendOn(connection, 'watch', args, (error, result) =>
      error === null
        ? this.registered(entry, connection, mode, result as OpResult<'watch'>)
        : this.refused(entry, connection, error),
    );
  }

  private registered(entry: Entry, connection: Connection, mode: Mode, result: OpResult<'watch'>): void {
    const routing = this.routing?.connection === connection ? this.routing : null;
    try {
      if (entry.registering !== connection || routing === null) return; // superseded, or that connection is gone
      entry.registering = null;
      if (entry.feed.closed) return this.unwatch(connection, result.watchId);
      if (entry.tainted) {
        // Some of its replayed events were dropped: start over from a fresh registration point.
        this.unwatch(connection, result.watchId);
        entry.mustResync = true;
        return this.register(entry, connection);
      }
      this.place(entry, routing, mode, result);
    } finally {
      this.registrationDone(connection);
    }
  }

  /** The registration `result` is in place on `routing`'s connection: start or resume the feed. */
  private place(entry: Entry, routing: Routing, mode: Mode, result: OpResult<'watch'>): void {
    entry.failures = 0;
    entry.registration = { connection: routing.connection, watchId: result.watchId };
    routing.byId.set(result.watchId, entry);
    if (mode === 'first') {
      entry.cursor = new WatchCursor(entry.fromIndex ?? result.index);
      entry.feed.registered(entry.cursor.lastIndex);
    } else if (mode === 'resync') {
      entry.mustResync = false;
      if (entry.cursor === null) entry.cursor = new WatchCursor(result.index);
      else entry.cursor.restart(result.index);
      entry.feed.registered(result.index);
      entry.feed.push({ type: 'resync', index: result.index });
    }
    const held = routing.orphans.get(result.watchId);
    if (held === undefined) return;
    routing.orphans.delete(result.watchId);
    routing.orphanCount -= held.length;
    for (const event of held) this.deliver(entry, event);
  }

  private refused(entry: Entry, connection: Connection, error: HikariError): void {
    this.registrationDone(connection);
    if (entry.registering !== connection) return;
    entry.registering = null;
    if (entry.feed.closed || error.code === ErrorCode.CANCELLED) return;
    if (error.code === ErrorCode.WATCH_HISTORY_COMPACTED) {
      entry.mustResync = true;
      if (this.usableConnection === connection) this.register(entry, connection);
      return;
    }
    if (!error.retryable) return entry.feed.fail(error);
    if (!connection.isOpen) return; // registered again on the next usable connection
    entry.retryTimer = setTimeout(
      () => {
        entry.retryTimer = null;
        if (this.usableConnection !== null && !entry.feed.closed) this.register(entry, this.usableConnection);
      },
      backoffDelayMs(++entry.failures, this.backoff, this.random),
    );
  }

  /** A registration on `connection` is answered (and its held events taken). */
  private registrationDone(connection: Connection): void {
    const routing = this.routing;
    if (routing?.connection !== connection) return;
    routing.registrations--;
    if (routing.registrations === 0 && routing.orphanCount > 0) {
      routing.orphans.clear(); // events of ids unwatched since
      routing.orphanCount = 0;
    }
  }

  private deliver(entry: Entry, event: WireEvent): void {
    if (entry.cursor === null || !entry.cursor.accept(event.index)) return;
    entry.feed.push({ type: event.type, index: event.index, path: event.path });
  }

  private hold(routing: Routing, event: WireEvent): void {
    if (routing.orphanCount >= WATCH_ORPHAN_EVENTS_MAX) {
      routing.orphans.clear();
      routing.orphanCount = 0;
      for (const entry of this.entries) if (entry.registering === routing.connection) entry.tainted = true;
      return;
    }
    const held = routing.orphans.get(event.watchId);
    if (held === undefined) routing.orphans.set(event.watchId, [event]);
    else held.push(event);
    routing.orphanCount++;
  }

  private routeTo(connection: Connection): Routing {
    if (this.routing?.connection !== connection) {
      this.routing = { connection, byId: new Map(), orphans: new Map(), orphanCount: 0, registrations: 0 };
    }
    return this.routing;
  }

  /** The application closed the watch (or its buffer overflowed): forget it, and tell the node. */
  private remove(entry: Entry): void {
    if (!this.entries.delete(entry)) return;
    if (entry.retryTimer !== null) clearTimeout(entry.retryTimer);
    entry.retryTimer = null;
    const registration = entry.registration;
    entry.registration = null;
    if (registration === null || this.routing?.connection !== registration.connection) return;
    this.routing.byId.delete(registration.watchId);
    this.unwatch(registration.connection, registration.watchId);
  }

  /** Best effort: if it fails, the node drops the watch with the connection. */
  private unwatch(connection: Connection, watchId: number): void {
    if (!connection.isOpen) return;
    this.transport.sendOn(connection, 'unwatch', { watchId }, () => undefined);
  }
}

function checkEvent(data: unknown): WireEvent | null {
  if (!isPlainObject(data)) return null;
  const { watchId, index, type, path } = data;
  if (!Number.isSafeInteger(watchId) || !Number.isSafeInteger(index) || typeof path !== 'string') return null;
  if (!CHANGE_TYPES.includes(type as string)) return null;
  return data as unknown as WireEvent;
}
