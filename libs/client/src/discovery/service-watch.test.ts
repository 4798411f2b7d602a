/**
 * ServiceWatch and ServiceCache on the in-memory namespace (fake-namespace.test.ts): the first list,
 * incremental rounds (debounced, only the named instances read again), resync, failed reads, the
 * latest-list iterator, and the cache's synchronous view and recovery; `pick` over a cache.
 */
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { eventually } from '../scripted-peer.test';
import { Discovery } from './discovery';
import { FakeNamespace } from './fake-namespace.test';
import { ServiceCache } from './service-cache';
import { ServiceUpdate, ServiceWatch } from './service-watch';

const record = (host: string, port: number, extra: Record<string, unknown> = {}) => JSON.stringify({ v: 1, host, port, ...extra });

function namespace(): FakeNamespace {
  const ns = new FakeNamespace();
  ns.createAs(null, '/services', '');
  ns.createAs(null, '/services/api', '');
  return ns;
}

const closers: Array<{ close(): void }> = [];
afterEach(() => {
  for (const each of closers.splice(0)) each.close();
});

function watchOf(ns: FakeNamespace, options = {}): { watch: ServiceWatch; updates: ServiceUpdate[] } {
  const watch = new ServiceWatch(ns, 'api', options, () => 0.5);
  closers.push(watch);
  const updates: ServiceUpdate[] = [];
  watch.on('update', (update) => updates.push(update));
  return { watch, updates };
}

const idsOf = (update: ServiceUpdate | undefined) => update?.instances.map((instance) => instance.id);

describe('ServiceWatch', () => {
  test('the first list is read after the recursive watch registers, with its registration index', async () => {
    const ns = namespace();
    ns.createAs('s1', '/services/api/b', record('hb', 2));
    ns.createAs('s1', '/services/api/a', record('ha', 1));
    ns.createAs(null, '/services/api/junk', 'not a record');
    const { watch } = watchOf(ns);
    const first = await watch.ready;
    expect(ns.watches.map((w) => [w.path, w.kind])).toEqual([['/services/api', 'recursive']]);
    expect(idsOf(first)).toEqual(['a', 'b']);
    expect(first.index).toBe(ns.index);
    expect(first.instances[0]).toMatchObject({ address: 'ha:1', sessionId: 's1' });
    expect(Object.isFrozen(first.instances)).toBe(true);
  });

  test('a service that does not exist yet is an empty list, then fills as instances come', async () => {
    const ns = new FakeNamespace();
    const { watch, updates } = watchOf(ns, { debounceMs: 0 });
    expect((await watch.ready).instances).toEqual([]);
    ns.createAs(null, '/services', '');
    ns.createAs(null, '/services/api', '');
    ns.createAs('s1', '/services/api/a', record('h', 1));
    await eventually(() => idsOf(updates.at(-1))?.length === 1, 2000, 'the instance');
    expect(updates.at(-1)!.index).toBe(ns.index);
  });

  test('changes within the debounce make one round, which reads only the instances they name', async () => {
    const ns = namespace();
    for (const id of ['a', 'b', 'c']) ns.createAs('s1', `/services/api/${id}`, record(id, 1));
    const { watch, updates } = watchOf(ns, { debounceMs: 30 });
    await watch.ready;
    const getsBefore = ns.callsOf('get').length;
    ns.deleteDirect('/services/api/a');
    ns.setDirect('/services/api/b', record('b', 2, { status: 'critical' }));
    ns.createAs('s2', '/services/api/d', record('d', 1));
    await eventually(() => updates.length === 2, 2000, 'the second update');
    expect(idsOf(updates[1])).toEqual(['b', 'c', 'd']);
    expect(updates[1]!.instances[0]).toMatchObject({ port: 2, status: 'critical' });
    expect(updates[1]!.index).toBe(ns.index);
    expect(ns.callsOf('get').slice(getsBefore).map((call) => call.path).sort()).toEqual(['/services/api/a', '/services/api/b', '/services/api/d']);
    expect(ns.callsOf('children')).toHaveLength(1); // no full read after the first
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(updates).toHaveLength(2);
  });

  test('a change that leaves the list as it was publishes nothing', async () => {
    const ns = namespace();
    ns.createAs('s1', '/services/api/a', record('a', 1));
    const { watch, updates } = watchOf(ns, { debounceMs: 0 });
    await watch.ready;
    ns.createAs(null, '/services/api/junk', 'x'); // not a record
    ns.deleteDirect('/services/api/junk');
    await eventually(() => ns.callsOf('get').some((call) => call.path === '/services/api/junk'), 2000, 'the junk read');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(updates).toHaveLength(1);
  });

  test('a resync reads the whole service again', async () => {
    const ns = namespace();
    ns.createAs('s1', '/services/api/a', record('a', 1));
    const { watch, updates } = watchOf(ns, { debounceMs: 0 });
    await watch.ready;
    // Changes the watch never heard of (its history was compacted away), then the resync.
    const silent = ns.watches.splice(0);
    ns.createAs('s1', '/services/api/b', record('b', 1));
    ns.deleteDirect('/services/api/a');
    ns.watches.push(...silent);
    ns.resyncWatches();
    await eventually(() => updates.length === 2, 2000, 'the resynced list');
    expect(idsOf(updates[1])).toEqual(['b']);
    expect(ns.callsOf('children')).toHaveLength(2);
  });

  test('failed reads are retried with backoff (`retrying`), the list staying as it was', async () => {
    const ns = namespace();
    ns.createAs('s1', '/services/api/a', record('a', 1));
    const { watch, updates } = watchOf(ns, { debounceMs: 0 });
    const retries: HikariError[] = [];
    watch.on('retrying', (event) => retries.push(event.error));
    await watch.ready;
    ns.fail('get', new HikariError(ErrorCode.TIMEOUT, {}), 2);
    ns.createAs('s1', '/services/api/b', record('b', 1));
    await eventually(() => updates.length === 2, 3000, 'the list after the retries');
    expect(retries.map((error) => error.code)).toEqual([ErrorCode.TIMEOUT, ErrorCode.TIMEOUT]);
    expect(idsOf(updates[1])).toEqual(['a', 'b']);
  });

  test('the iterator yields the latest list: a slow consumer skips intermediate ones', async () => {
    const ns = namespace();
    const watch = new ServiceWatch(ns, 'api', { debounceMs: 0 });
    closers.push(watch);
    const iterator = watch[Symbol.asyncIterator]();
    expect(idsOf((await iterator.next()).value)).toEqual([]);
    ns.createAs('s1', '/services/api/a', record('a', 1));
    await eventually(() => watch.current?.instances.length === 1);
    ns.createAs('s1', '/services/api/b', record('b', 1));
    await eventually(() => watch.current?.instances.length === 2);
    const next = await iterator.next();
    expect(idsOf(next.value)).toEqual(['a', 'b']);
    const pending = iterator.next();
    watch.close();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(ns.watches).toEqual([]); // the underlying watch is closed
    expect(() => watch[Symbol.asyncIterator]()).toThrow(HikariError);
  });

  test('the watch refused for good fails the stream; the client closing ends it', async () => {
    const ns = namespace();
    const { watch } = watchOf(ns);
    await watch.ready;
    const iterator = watch[Symbol.asyncIterator]();
    await iterator.next(); // the first list
    const closed: Array<HikariError | null> = [];
    watch.on('close', (error) => closed.push(error));
    const pending = iterator.next();
    ns.failWatches(HikariError.tooLarge('watches', 10_001, 10_000));
    await expect(pending).rejects.toMatchObject({ code: ErrorCode.TOO_LARGE });
    expect(closed.map((error) => error?.code)).toEqual([ErrorCode.TOO_LARGE]);

    const other = watchOf(ns).watch;
    await other.ready;
    ns.endWatches();
    await eventually(() => other.closed);
  });

  test('options are checked', () => {
    const ns = namespace();
    expect(() => new ServiceWatch(ns, 'bad/name')).toThrow(/service/);
    expect(() => new ServiceWatch(ns, 'api', { debounceMs: -1 })).toThrow(/debounceMs/);
  });
});

describe('ServiceCache', () => {
  test('answers synchronously from the latest list, with filters', async () => {
    const ns = namespace();
    ns.createAs('s1', '/services/api/a', record('a', 1, { tags: ['v1'] }));
    ns.createAs('s1', '/services/api/b', record('b', 1, { tags: ['v2'], status: 'warning' }));
    const cache = new ServiceCache(ns, 'api', { debounceMs: 0 });
    closers.push(cache);
    expect(cache.instances()).toEqual([]);
    await cache.ready;
    expect(cache.instances().map((each) => each.id)).toEqual(['a', 'b']);
    expect(cache.instances({ status: 'passing' }).map((each) => each.id)).toEqual(['a']);
    expect(cache.instances({ status: ['passing', 'warning'], tags: ['v2'] }).map((each) => each.id)).toEqual(['b']);
    expect(() => cache.instances({ status: 'up' as never })).toThrow(HikariError);
    ns.setDirect('/services/api/b', record('b', 1, { status: 'passing' }));
    await eventually(() => cache.instances({ status: 'passing' }).length === 2, 2000, 'b passing');
    expect(cache.index).toBe(ns.index);
  });

  test('after the first list, a failed watch is opened again (the list stays meanwhile)', async () => {
    const ns = namespace();
    ns.createAs('s1', '/services/api/a', record('a', 1));
    const cache = new ServiceCache(ns, 'api', { debounceMs: 0 }, () => 0);
    closers.push(cache);
    await cache.ready;
    const retrying: string[] = [];
    cache.on('retrying', (event) => retrying.push(event.error.code));
    ns.failWatches(new HikariError(ErrorCode.UNAVAILABLE, {}));
    expect(cache.instances().length).toBe(1);
    await eventually(() => ns.watches.length === 1, 3000, 'a new watch'); // backoff 500-1000 ms
    ns.createAs('s1', '/services/api/b', record('b', 1));
    await eventually(() => cache.instances().length === 2, 2000, 'b through the new watch');
    expect(retrying).toEqual([ErrorCode.UNAVAILABLE]);
  });

  test('the first watch failing rejects ready; closing rejects it too', async () => {
    const ns = namespace();
    const cache = new ServiceCache(ns, 'api');
    ns.failWatches(HikariError.tooLarge('watches', 10_001, 10_000));
    await expect(cache.ready).rejects.toMatchObject({ code: ErrorCode.TOO_LARGE });
    expect(cache.closed).toBe(true);
    const other = new ServiceCache(ns, 'api');
    other.close();
    await expect(other.ready).rejects.toMatchObject({ code: ErrorCode.CANCELLED });
  });
});

describe('Discovery reads and pick over the fake', () => {
  test('instances() and services() list live records, filtered and counted', async () => {
    const ns = namespace();
    ns.createAs('s1', '/services/api/a', record('a', 1, { tags: ['x'] }));
    ns.createAs('s1', '/services/api/b', record('b', 1, { status: 'critical' }));
    ns.createAs(null, '/services/empty', '');
    ns.createAs(null, '/services/db', '');
    ns.createAs('s1', '/services/db/d', record('d', 1));
    const discovery = new Discovery(ns);
    closers.push(discovery);
    expect((await discovery.instances('api')).map((each) => each.id)).toEqual(['a', 'b']);
    expect((await discovery.instances('api', { status: 'passing', tags: ['x'] })).map((each) => each.id)).toEqual(['a']);
    expect(await discovery.instances('nothing')).toEqual([]);
    expect(await discovery.services()).toEqual([{ service: 'api', instances: 2 }, { service: 'db', instances: 1 }]);
    await discovery.instances('api', { stale: true });
    // One children-with-data request per page, carrying the read mode.
    expect(ns.callsOf('children').at(-1)!.args).toMatchObject({ stale: true, data: true });
  });

  test('pick() shares one cache per service, skips reported instances, and follows changes', async () => {
    const ns = namespace();
    ns.createAs('s1', '/services/api/a', record('a', 1));
    ns.createAs('s1', '/services/api/b', record('b', 1));
    const discovery = new Discovery(ns);
    closers.push(discovery);
    const first = await discovery.pick('api');
    expect(first?.instance.id).toBe('a');
    expect((await discovery.pick('api'))?.instance.id).toBe('b');
    expect(ns.watches).toHaveLength(1);
    discovery.reportFailure(first!.instance, { forMs: 60_000 });
    for (let i = 0; i < 4; i++) expect((await discovery.pick('api'))?.instance.id).toBe('b');
    ns.deleteDirect('/services/api/b');
    const deadline = Date.now() + 2000;
    while ((await discovery.pick('api')) !== null) {
      if (Date.now() > deadline) throw new Error('b is still picked after its deletion');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    // a is down, b is gone: nothing to pick.
    discovery.close();
    await expect(discovery.pick('api')).rejects.toMatchObject({ code: ErrorCode.CANCELLED });
    expect(ns.watches).toEqual([]);
  });

  test('cache() gives up after waitMs with TIMEOUT, and closes what it opened', async () => {
    const ns = namespace();
    const release = ns.hold('children'); // the first read never answers
    const discovery = new Discovery(ns);
    closers.push(discovery);
    await expect(discovery.cache('api', { waitMs: 50 })).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
    expect(ns.watches).toEqual([]);
    release();
  });
});
