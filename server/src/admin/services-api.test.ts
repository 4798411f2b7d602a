/**
 * The discovery HTTP read API over a real WatchHub and an in-memory state (a stand-in for the state
 * machine and the runtime's read points), served by a plain HTTP server: answers, filters, read
 * points, blocking queries (woken by a change of their service only, or by the wait), bounds, errors,
 * a hub reset, and closing. The same API on real nodes is tested in test/cluster/discovery.test.ts.
 */
import { createServer, Server } from 'node:http';
import { ChildrenResult, ExistsResult, GetResult, HikariError, Stat } from '@hikarikeeper/protocol';
import { WatchHub } from '../watch/watch-hub';
import { ServicesApi, ServicesSource } from './services-api';

class MemoryState implements ServicesSource {
  readonly nodes = new Map<string, { data: Buffer; stat: Stat }>();
  barriers = { read: 0, state: 0 };
  index = 10;

  constructor(private readonly hub: WatchHub) {}

  async readBarrier(): Promise<number> {
    this.barriers.read++;
    return this.index;
  }

  async stateBarrier(): Promise<void> {
    this.barriers.state++;
  }

  async children(path: string, after: string | undefined, limit: number): Promise<ChildrenResult> {
    const node = this.nodes.get(path);
    if (!node) throw HikariError.noNode(path);
    const names = [...this.nodes.keys()]
      .filter((each) => each.startsWith(`${path}/`) && !each.slice(path.length + 1).includes('/'))
      .map((each) => each.slice(path.length + 1))
      .sort()
      .filter((name) => after === undefined || name > after);
    return { names: names.slice(0, limit), more: names.length > limit, stat: node.stat };
  }

  async get(path: string): Promise<GetResult> {
    const node = this.nodes.get(path);
    if (!node) throw HikariError.noNode(path);
    return { data: node.data, stat: node.stat };
  }

  async exists(path: string): Promise<ExistsResult> {
    const node = this.nodes.get(path);
    return node ? { stat: node.stat } : null;
  }

  /** Writes a node and tells the hub, as an applied batch would. */
  write(path: string, data: string | Record<string, unknown>, type: 'created' | 'changed' = this.nodes.has(path) ? 'changed' : 'created'): number {
    const index = ++this.index;
    const parent = path.slice(0, path.lastIndexOf('/'));
    const bytes = Buffer.from(typeof data === 'string' ? data : JSON.stringify({ v: 1, ...data }));
    const old = this.nodes.get(path)?.stat;
    this.nodes.set(path, {
      data: bytes,
      stat: {
        version: old ? old.version + 1 : 0, cversion: 0, createdIndex: old?.createdIndex ?? index, modifiedIndex: index,
        childrenCount: old?.childrenCount ?? 0, dataLength: bytes.length, ephemeralOwner: 'session-1', createdAt: 0, modifiedAt: 0,
      },
    });
    if (type === 'created' && this.nodes.has(parent)) this.nodes.get(parent)!.stat.childrenCount++;
    this.hub.onBatch([{ index, path, type }], index);
    return index;
  }

  remove(path: string): number {
    const index = ++this.index;
    this.nodes.delete(path);
    this.nodes.get(path.slice(0, path.lastIndexOf('/')))!.stat.childrenCount--;
    this.hub.onBatch([{ index, path, type: 'deleted' }], index);
    return index;
  }
}

interface Answer {
  status: number;
  index: number | null;
  body: Record<string, unknown>;
}

describe('GET /v1/services', () => {
  let hub: WatchHub;
  let state: MemoryState;
  let api: ServicesApi;
  let server: Server;
  let base: string;

  async function get(path: string, init: RequestInit = {}): Promise<Answer> {
    const res = await fetch(`${base}${path}`, init);
    const index = res.headers.get('x-hikari-index');
    return { status: res.status, index: index === null ? null : Number(index), body: (await res.json()) as Record<string, unknown> };
  }

  function start(options: { blockingQueriesMax?: number } = {}): void {
    hub = new WatchHub(10);
    state = new MemoryState(hub);
    for (const path of ['/services', '/services/api', '/services/db']) state.nodes.set(path, { data: Buffer.alloc(0), stat: { version: 0, cversion: 0, createdIndex: 1, modifiedIndex: 1, childrenCount: 0, dataLength: 0, ephemeralOwner: null, createdAt: 0, modifiedAt: 0 } });
    api = new ServicesApi(state, hub, { random: () => 0, ...options });
  }

  beforeEach(async () => {
    start();
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://admin');
      void api.handle(req, res, url);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });

  afterEach(async () => {
    api.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('lists services with instances, and a service\'s instances as the SDK reads them, with X-Hikari-Index', async () => {
    state.write('/services/api/a', { host: '10.0.0.1', port: 80, tags: ['v1'], status: 'passing', weight: 2 });
    const last = state.write('/services/api/b', { host: '10.0.0.2', port: 80, status: 'critical' });
    state.write('/services/api/junk', 'not a record');
    const list = await get('/v1/services');
    expect(list).toEqual({ status: 200, index: last + 1, body: { index: last + 1, services: [{ service: 'api', instances: 3 }] } });
    const one = await get('/v1/services/api');
    expect(one.status).toBe(200);
    expect(one.index).toBe(last + 1);
    expect(one.body.service).toBe('api');
    expect(one.body.instances).toEqual([
      {
        service: 'api', id: 'a', host: '10.0.0.1', port: 80, address: '10.0.0.1:80', protocol: null, tags: ['v1'], metadata: {},
        weight: 2, status: 'passing', registeredAt: 0, sessionId: 'session-1', createdIndex: last - 1, modifiedIndex: last - 1,
      },
      expect.objectContaining({ id: 'b', status: 'critical' }),
    ]);
    expect(await get('/v1/services/nothing')).toEqual({ status: 200, index: 10, body: { service: 'nothing', index: 10, instances: [] } });
  });

  test('filters: ?status (a list, or repeated) and ?tag (every one)', async () => {
    state.write('/services/api/a', { host: 'h', port: 1, tags: ['v1', 'eu'], status: 'passing' });
    state.write('/services/api/b', { host: 'h', port: 2, tags: ['v1'], status: 'warning' });
    state.write('/services/api/c', { host: 'h', port: 3, tags: ['v2'], status: 'critical' });
    const ids = async (query: string) => ((await get(`/v1/services/api${query}`)).body.instances as Array<{ id: string }>).map((each) => each.id);
    expect(await ids('?status=passing')).toEqual(['a']);
    expect(await ids('?status=passing,warning')).toEqual(['a', 'b']);
    expect(await ids('?status=passing&status=critical')).toEqual(['a', 'c']);
    expect(await ids('?tag=v1')).toEqual(['a', 'b']);
    expect(await ids('?tag=v1&tag=eu')).toEqual(['a']);
    expect(await ids('?tag=v1&status=warning')).toEqual(['b']);
  });

  test('linearizable by default (a read barrier per answer), ?stale reads locally', async () => {
    await get('/v1/services/api');
    await get('/v1/services');
    expect(state.barriers).toEqual({ read: 2, state: 0 });
    await get('/v1/services/api?stale');
    await get('/v1/services?stale=true');
    expect(state.barriers).toEqual({ read: 2, state: 2 });
    await get('/v1/services/api?stale=false');
    expect(state.barriers.read).toBe(3);
  });

  test('a blocking query waits for its service to change, and not for another one', async () => {
    state.write('/services/api/a', { host: 'h', port: 1 });
    const first = await get('/v1/services/api');
    const waiting = get(`/v1/services/api?index=${first.index}&wait=30s`);
    await until(() => api.blockingQueries === 1);
    state.write('/services/db/x', { host: 'h', port: 9 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(api.blockingQueries).toBe(1);
    const changed = state.write('/services/api/a', { host: 'h', port: 1, status: 'critical' });
    const answer = await waiting;
    expect(answer.index).toBe(changed);
    expect((answer.body.instances as Array<{ status: string }>)[0]!.status).toBe('critical');
    expect(api.blockingQueries).toBe(0);
  });

  test('a blocking query answers at once when the index has already passed, and after wait otherwise', async () => {
    const at = state.write('/services/api/a', { host: 'h', port: 1 });
    const started = Date.now();
    expect((await get(`/v1/services/api?index=${at - 1}&wait=30s`)).index).toBe(at);
    expect(Date.now() - started).toBeLessThan(5_000);
    const quiet = await get(`/v1/services/api?index=${at}&wait=300ms`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(quiet).toMatchObject({ status: 200, index: at });
    expect((await get(`/v1/services/api?index=${at}&wait=0`)).index).toBe(at);
  });

  test('the list only moves when instances come or go', async () => {
    const at = state.write('/services/api/a', { host: 'h', port: 1 });
    expect((await get('/v1/services')).index).toBe(at);
    const waiting = get(`/v1/services?index=${at}&wait=30s`);
    await until(() => api.blockingQueries === 1);
    state.write('/services/api/a', { host: 'h', port: 2 }); // a change, not an arrival
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(api.blockingQueries).toBe(1);
    const gone = state.remove('/services/api/a');
    expect(await waiting).toMatchObject({ index: gone, body: { services: [] } });
  });

  test('at most blockingQueriesMax wait at once (429); a client that leaves frees its slot', async () => {
    api.close();
    start({ blockingQueriesMax: 2 });
    const at = state.write('/services/api/a', { host: 'h', port: 1 });
    const aborts = [new AbortController(), new AbortController()];
    const held = aborts.map((abort) => get(`/v1/services/api?index=${at}&wait=60s`, { signal: abort.signal }).catch(() => null));
    await until(() => api.blockingQueries === 2);
    const refused = await get(`/v1/services/api?index=${at}&wait=60s`);
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ code: 'TOO_MANY_REQUESTS', details: { limit: 2 } });
    expect((await get('/v1/services/api')).status).toBe(200); // non-blocking reads are not bounded by it
    aborts[0]!.abort();
    await until(() => api.blockingQueries === 1);
    aborts[1]!.abort();
    await until(() => api.blockingQueries === 0);
    await Promise.all(held);
  });

  test('bad requests are 400 with the field, other methods 405', async () => {
    const expectBad = async (path: string, field: string) => {
      const answer = await get(path);
      expect(answer.status).toBe(400);
      expect(answer.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field } });
    };
    await expectBad('/v1/services/bad%2Fname', 'service');
    await expectBad('/v1/services/-x', 'service');
    await expectBad('/v1/services/api?index=-1', 'index');
    await expectBad('/v1/services/api?index=12abc', 'index');
    await expectBad('/v1/services/api?index=1&wait=forever', 'wait');
    await expectBad('/v1/services/api?status=healthy', 'status');
    await expectBad('/v1/services/api?tag=', 'tag');
    const posted = await get('/v1/services/api', { method: 'POST' });
    expect(posted.status).toBe(405);
  });

  test('a snapshot install (hub reset) wakes blocking queries with the new index; later changes still wake them', async () => {
    const at = state.write('/services/api/a', { host: 'h', port: 1 });
    const waiting = get(`/v1/services/api?index=${at}&wait=30s`);
    await until(() => api.blockingQueries === 1);
    hub.reset(500);
    expect((await waiting).index).toBe(500);
    const again = get('/v1/services/api?index=500&wait=30s');
    await until(() => api.blockingQueries === 1);
    state.index = 600;
    expect((await get('/v1/services/api')).index).toBe(500);
    const changed = state.write('/services/api/a', { host: 'h', port: 3 });
    expect((await again).index).toBe(changed);
  });

  test('closing answers waiting queries with 503 SHUTTING_DOWN', async () => {
    const at = state.write('/services/api/a', { host: 'h', port: 1 });
    const waiting = get(`/v1/services/api?index=${at}&wait=30s`);
    await until(() => api.blockingQueries === 1);
    api.close();
    const answer = await waiting;
    expect(answer.status).toBe(503);
    expect(answer.body.error).toMatchObject({ code: 'SHUTTING_DOWN' });
    expect(hub.watchCount).toBe(0);
  });
});

async function until(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
