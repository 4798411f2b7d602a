/**
 * Watches against scripted peers (see scripted-peer.test.ts): registration, routing, resumption
 * after a reconnect, resync, the buffer bound and closing. The peers answer `watch` as each test
 * scripts; sessions are answered automatically.
 */
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { DisconnectedEvent } from './events';
import { PeerConnection, PeerRequest, ScriptedPeer, eventually, usePeerFixture } from './scripted-peer.test';
import { Watch, WATCH_BUFFERED_ITEMS_MAX, WatchEvent, WatchItem } from './watch';
import { rejection } from './testing/errors';

const { startPeer, connect } = usePeerFixture();

/**
 * Answers `watch` as a node would: ids 1, 2, ... per connection, at the applied index `index()`;
 * with a `fromIndex`, first pushes `replay(fromIndex, watchId)` (as the real server does, before
 * its answer). `unwatch` is answered {}.
 */
function serveWatches(
  peer: ScriptedPeer,
  index: () => number,
  replay: (fromIndex: number, watchId: number) => Array<[number, string, string]> = () => [],
): void {
  const ids = new Map<PeerConnection, number>();
  peer.options.onRequest = (request) => {
    if (request.op === 'unwatch') return request.respond({});
    if (request.op !== 'watch') return;
    const watchId = (ids.get(request.connection) ?? 0) + 1;
    ids.set(request.connection, watchId);
    if (typeof request.args.fromIndex === 'number') {
      for (const [at, type, path] of replay(request.args.fromIndex, watchId)) {
        request.connection.pushEvent('watch', { watchId, index: at, type, path });
      }
    }
    request.respond({ watchId, index: index() });
  };
}

function push(connection: PeerConnection, watchId: number, index: number, type: string, path: string): void {
  connection.pushEvent('watch', { watchId, index, type, path });
}

/** The next `count` items of an iterator, without closing the watch. */
async function next(iterator: AsyncIterator<WatchItem>, count: number): Promise<WatchItem[]> {
  const items: WatchItem[] = [];
  while (items.length < count) {
    const result = await iterator.next();
    if (result.done === true) throw new Error(`the watch ended after ${items.length} items`);
    items.push(result.value);
  }
  return items;
}

const event = (index: number, type: string, path: string): WatchEvent => ({ index, type, path }) as WatchEvent;


function onlyConnection(peer: ScriptedPeer): PeerConnection {
  expect(peer.connections.size).toBe(1);
  return [...peer.connections][0]!;
}

describe('registering and delivering', () => {
  test('registers { path, kind }, then delivers events in order to the iterator and to listeners', async () => {
    const peer = await startPeer();
    serveWatches(peer, () => 100);
    const client = await connect([peer]);
    const watch = client.watch('/app', { kind: 'children' });
    const iterator = watch[Symbol.asyncIterator]();
    const heard: WatchEvent[] = [];
    watch.on('event', (each) => heard.push(each));
    expect(await watch.ready).toBe(100);
    expect(peer.received('watch')[0]!.args).toEqual({ path: '/app', kind: 'children' });
    const connection = onlyConnection(peer);
    push(connection, 1, 101, 'created', '/app/a');
    push(connection, 1, 102, 'created', '/app/b');
    push(connection, 1, 102, 'deleted', '/app/a'); // one multi, two events
    const expected = [event(101, 'created', '/app/a'), event(102, 'created', '/app/b'), event(102, 'deleted', '/app/a')];
    expect(await next(iterator, 3)).toEqual(expected);
    expect(heard).toEqual(expected);
    expect(watch.lastIndex).toBe(102);
  });

  test('the default kind is data; fromIndex is sent on the first registration and the watch starts there', async () => {
    const peer = await startPeer();
    serveWatches(peer, () => 100, (from) => (from === 50 ? [[60, 'changed', '/a']] : []));
    const client = await connect([peer]);
    const watch = client.watch('/a', { fromIndex: 50 });
    const iterator = watch[Symbol.asyncIterator]();
    expect(await watch.ready).toBe(50);
    expect(peer.received('watch')[0]!.args).toEqual({ path: '/a', kind: 'data', fromIndex: 50 });
    expect(await next(iterator, 1)).toEqual([event(60, 'changed', '/a')]);
  });

  test('events a node pushes before it answers the registration (its replay) are kept, not lost', async () => {
    const peer = await startPeer();
    const client = await connect([peer]);
    peer.options.onRequest = (request) => {
      push(request.connection, 1, 11, 'changed', '/a');
      push(request.connection, 1, 12, 'deleted', '/a');
      request.respond({ watchId: 1, index: 12 });
    };
    const watch = client.watch('/a', { fromIndex: 10 });
    const iterator = watch[Symbol.asyncIterator]();
    expect(await next(iterator, 2)).toEqual([event(11, 'changed', '/a'), event(12, 'deleted', '/a')]);
  });

  test('events are routed by watch id: two watches on one connection each get their own', async () => {
    const peer = await startPeer();
    serveWatches(peer, () => 5);
    const client = await connect([peer]);
    const a = client.watch('/a');
    const b = client.watch('/b');
    const [itA, itB] = [a[Symbol.asyncIterator](), b[Symbol.asyncIterator]()];
    await Promise.all([a.ready, b.ready]);
    const ids = peer.received('watch').map((request) => request.args.path);
    const connection = onlyConnection(peer);
    push(connection, ids.indexOf('/b') + 1, 6, 'changed', '/b');
    push(connection, ids.indexOf('/a') + 1, 7, 'changed', '/a');
    push(connection, 99, 8, 'changed', '/nobody'); // an id this client does not have: dropped
    expect(await next(itA, 1)).toEqual([event(7, 'changed', '/a')]);
    expect(await next(itB, 1)).toEqual([event(6, 'changed', '/b')]);
  });
});

describe('across reconnects', () => {
  test('each watch is registered again after the session is resumed, from where it was; replays are dropped, nothing is lost', async () => {
    const peer = await startPeer();
    // The node's history: 101 created /a/x; 102 changed /a/x and created /a/y (one multi); 103 deleted /a/x.
    const history: Array<[number, string, string]> = [
      [101, 'created', '/a/x'],
      [102, 'changed', '/a/x'],
      [102, 'created', '/a/y'],
      [103, 'deleted', '/a/x'],
    ];
    let applied = 100;
    serveWatches(peer, () => applied, (from) => history.filter(([at]) => at > from));
    const client = await connect([peer]);
    const busy = client.watch('/a', { kind: 'recursive' });
    const idle = client.watch('/quiet');
    const iterator = busy[Symbol.asyncIterator]();
    await Promise.all([busy.ready, idle.ready]);
    const first = onlyConnection(peer);
    const busyId = peer.received('watch').findIndex((request) => request.args.path === '/a') + 1;
    push(first, busyId, 101, 'created', '/a/x');
    push(first, busyId, 102, 'changed', '/a/x'); // ...and the connection breaks before the rest of 102
    expect(await next(iterator, 2)).toEqual([event(101, 'created', '/a/x'), event(102, 'changed', '/a/x')]);

    applied = 103;
    peer.destroyConnections();
    expect(await next(iterator, 2)).toEqual([event(102, 'created', '/a/y'), event(103, 'deleted', '/a/x')]);
    const again = peer.received('watch').slice(2);
    expect(again.map((request) => request.args).sort((x, y) => String(x.path).localeCompare(String(y.path)))).toEqual([
      { path: '/a', kind: 'recursive', fromIndex: 101 }, // the index before the last one delivered
      { path: '/quiet', kind: 'data', fromIndex: 100 }, // its registration point: nothing at it is due
    ]);
    const second = again[0]!.connection;
    const onSecond = peer.all.filter((request) => request.connection === second).map((request) => request.op);
    expect(onSecond.slice(0, 3)).toEqual(['session.resume', 'watch', 'watch']);
    // And live events go on after the replay.
    push(second, again[0]!.args.path === '/a' ? 1 : 2, 104, 'created', '/a/z');
    expect(await next(iterator, 1)).toEqual([event(104, 'created', '/a/z')]);
  });

  test('WATCH_HISTORY_COMPACTED: registered again without fromIndex; a resync item and event say to re-read', async () => {
    const peer = await startPeer();
    let compacted = false;
    serveWatches(peer, () => (compacted ? 500 : 100));
    const client = await connect([peer]);
    const watch = client.watch('/a');
    const iterator = watch[Symbol.asyncIterator]();
    const resyncs: number[] = [];
    watch.on('resync', (item) => resyncs.push(item.index));
    await watch.ready;
    push(onlyConnection(peer), 1, 101, 'changed', '/a');
    expect(await next(iterator, 1)).toEqual([event(101, 'changed', '/a')]);

    compacted = true;
    const serve = peer.options.onRequest!;
    peer.options.onRequest = (request: PeerRequest) =>
      request.op === 'watch' && request.args.fromIndex !== undefined
        ? request.fail(ErrorCode.WATCH_HISTORY_COMPACTED, { fromIndex: 100, oldest: 400 })
        : serve(request);
    peer.destroyConnections();
    expect(await next(iterator, 1)).toEqual([{ type: 'resync', index: 500 }]);
    expect(resyncs).toEqual([500]);
    expect(peer.received('watch').slice(1).map((request) => request.args)).toEqual([
      { path: '/a', kind: 'data', fromIndex: 100 },
      { path: '/a', kind: 'data' },
    ]);
    const latest = peer.received('watch')[2]!.connection;
    push(latest, 1, 500, 'changed', '/a'); // at the new starting point: not due
    push(latest, 1, 501, 'changed', '/a');
    expect(await next(iterator, 1)).toEqual([event(501, 'changed', '/a')]);
  });

  test('a malformed watch event closes that connection (BAD_FRAME); the watch resumes on the next', async () => {
    const peer = await startPeer();
    serveWatches(peer, () => 7);
    const client = await connect([peer]);
    const disconnects: DisconnectedEvent[] = [];
    client.on('disconnected', (each) => disconnects.push(each));
    const watch = client.watch('/a');
    await watch.ready;
    onlyConnection(peer).pushEvent('watch', { watchId: 1, index: 'eight', type: 'changed', path: '/a' });
    await peer.waitForRequests(2, 'watch');
    expect(disconnects[0]!.error.code).toBe(ErrorCode.BAD_FRAME);
    expect(peer.received('watch')[1]!.args).toEqual({ path: '/a', kind: 'data', fromIndex: 7 });
  });
});

describe('bounds and endings', () => {
  test(`a consumer that does not keep up: past ${WATCH_BUFFERED_ITEMS_MAX} buffered items the watch closes with TOO_LARGE, after them`, async () => {
    const peer = await startPeer();
    serveWatches(peer, () => 0);
    const client = await connect([peer]);
    const watch = client.watch('/a');
    const errors: HikariError[] = [];
    watch.on('error', (error) => errors.push(error));
    const iterator = watch[Symbol.asyncIterator]();
    await watch.ready;
    const connection = onlyConnection(peer);
    for (let index = 1; index <= WATCH_BUFFERED_ITEMS_MAX + 1; index++) push(connection, 1, index, 'changed', '/a');
    await eventually(() => watch.closed, 5000, 'the overflow');
    expect(errors.map((error) => error.code)).toEqual([ErrorCode.TOO_LARGE]);
    expect(errors[0]!.details).toEqual({ what: 'watch buffer', size: WATCH_BUFFERED_ITEMS_MAX + 1, limit: WATCH_BUFFERED_ITEMS_MAX });
    const items = await next(iterator, WATCH_BUFFERED_ITEMS_MAX);
    expect(items[items.length - 1]!.index).toBe(WATCH_BUFFERED_ITEMS_MAX);
    expect((await rejection(iterator.next())).code).toBe(ErrorCode.TOO_LARGE);
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
    const [unwatch] = await peer.waitForRequests(1, 'unwatch');
    expect(unwatch!.args).toEqual({ watchId: 1 });
  });

  test('listeners alone never fill a buffer', async () => {
    const peer = await startPeer();
    serveWatches(peer, () => 0);
    const client = await connect([peer]);
    const watch = client.watch('/a');
    let heard = 0;
    watch.on('event', () => heard++);
    await watch.ready;
    const connection = onlyConnection(peer);
    for (let index = 1; index <= WATCH_BUFFERED_ITEMS_MAX + 10; index++) push(connection, 1, index, 'changed', '/a');
    await eventually(() => heard === WATCH_BUFFERED_ITEMS_MAX + 10, 5000, 'every event');
    expect(watch.closed).toBe(false);
  });

  test('close(), an aborted signal, or leaving the loop end the iterator and unwatch that id on its connection', async () => {
    const peer = await startPeer();
    serveWatches(peer, () => 0);
    const client = await connect([peer]);
    const controller = new AbortController();
    const aborted = client.watch('/a', { signal: controller.signal });
    const closed = client.watch('/b');
    const left = client.watch('/c');
    await Promise.all([aborted.ready, closed.ready, left.ready]);
    const pending = aborted[Symbol.asyncIterator]().next();
    controller.abort();
    expect(await pending).toEqual({ done: true, value: undefined });
    closed.close();
    expect(await closed[Symbol.asyncIterator]().next()).toEqual({ done: true, value: undefined });
    push(onlyConnection(peer), 3, 1, 'created', '/c');
    for await (const item of left) {
      expect(item).toEqual(event(1, 'created', '/c'));
      break;
    }
    expect(left.closed).toBe(true);
    const unwatched = await peer.waitForRequests(3, 'unwatch');
    expect(unwatched.map((request) => request.args.watchId).sort()).toEqual([1, 2, 3]);
  });

  test('a watch the node refuses for good closes with that error: ready rejects, the iterator throws', async () => {
    const peer = await startPeer({ onRequest: (request) => request.fail(ErrorCode.PERMISSION_DENIED) });
    const client = await connect([peer]);
    const watch = client.watch('/secret');
    expect((await rejection(watch.ready)).code).toBe(ErrorCode.PERMISSION_DENIED);
    expect((await rejection(watch[Symbol.asyncIterator]().next())).code).toBe(ErrorCode.PERMISSION_DENIED);
    expect(watch.closed).toBe(true);
  });

  test('client.close() ends every watch; bad arguments, a second iterator and a closed client throw at once', async () => {
    const peer = await startPeer();
    serveWatches(peer, () => 0);
    const client = await connect([peer]);
    expect(() => client.watch('no-slash')).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_PATH }));
    expect(() => client.watch('/a', { kind: 'everything' as 'data' })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
    );
    expect(() => client.watch('/a', { signal: AbortSignal.abort() })).toThrow(
      expect.objectContaining({ code: ErrorCode.CANCELLED }),
    );
    const watch: Watch = client.watch('/a');
    const iterator = watch[Symbol.asyncIterator]();
    expect(() => watch[Symbol.asyncIterator]()).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    await watch.ready;
    const pending = iterator.next();
    await client.close();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(() => client.watch('/a')).toThrow(expect.objectContaining({ code: ErrorCode.CANCELLED }));
  });
});
