import { Envelope, ErrorCode } from '@hikarikeeper/protocol';
import { RawConnection, startTestCluster, TestCluster } from './harness';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const code = (e: Envelope) => (e.t === 3 ? e.e.code : 'ok');
const result = <T>(e: Envelope): T => {
  if (e.t !== 2) throw new Error(`expected a response, got ${JSON.stringify(e)}`);
  return e.r as T;
};

/** Server-side contract of sessions, ephemeral nodes and watches, over the raw protocol. */
describe('sessions, ephemeral nodes and watches on a real cluster', () => {
  let t: TestCluster;
  let leader: string;
  let ids = 1000;
  const open = async (address = leader): Promise<RawConnection> => {
    const c = await RawConnection.open(address);
    expect(code(await c.call(++ids, 'hello', { protocol: 1 }))).toBe('ok');
    return c;
  };
  beforeAll(async () => {
    t = await startTestCluster(3);
    leader = t.cluster.node(await t.cluster.waitForLeader()).client;
  });
  afterAll(async () => t.destroy());

  test('detached sessions: one connection opens several, renews them by id, closes one; one not renewed expires alone', async () => {
    const c = await open();
    const opened = [];
    for (let i = 0; i < 3; i++) opened.push(result<{ sessionId: string }>(await c.call(10 + i, 'session.open', { timeoutMs: 1500, attach: false })).sessionId);
    const [kept, closed, dropped] = opened;
    // Detached: this connection is bound to none of them (a plain keepalive has no session).
    expect(code(await c.call(20, 'session.keepalive', {}))).toBe(ErrorCode.SESSION_EXPIRED);
    expect(result(await c.call(21, 'session.keepalive', { sessionIds: opened }))).toEqual({ timeoutMs: 1500, expired: [] });
    expect(code(await c.call(22, 'session.close', { sessionId: closed }))).toBe('ok');
    expect(code(await c.call(23, 'session.close', { sessionId: closed }))).toBe(ErrorCode.SESSION_EXPIRED);
    // An ephemeral node of `dropped`, made through another connection that resumes it.
    const owner = await open();
    expect(code(await owner.call(1, 'session.resume', { sessionId: dropped }))).toBe('ok');
    expect(code(await owner.call(2, 'create', { path: '/detached', data: Buffer.alloc(0), mode: 'ephemeral' }))).toBe('ok');
    owner.socket.destroy();
    // Keep only `kept` alive, past `dropped`'s timeout.
    const until = Date.now() + 3500;
    let last: { expired: string[] } = { expired: [] };
    while (Date.now() < until) {
      last = result(await c.call(++ids, 'session.keepalive', { sessionIds: [kept, closed] }));
      await sleep(300);
    }
    expect(last.expired).toEqual([closed]);
    expect(result(await c.call(++ids, 'session.keepalive', { sessionIds: [kept, dropped] }))).toEqual({ timeoutMs: 1500, expired: [dropped] });
    expect(result(await c.call(++ids, 'exists', { path: '/detached' }))).toBeNull();
    expect(code(await c.call(++ids, 'session.keepalive', { sessionIds: [] }))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(code(await c.call(++ids, 'session.keepalive', { sessionIds: ['not-an-id'] }))).toBe(ErrorCode.INVALID_ARGUMENT);
    c.socket.destroy();
  });

  test('a session is usable from the moment session.open answers, and gone from the moment session.close answers', async () => {
    const c = await open();
    for (let i = 0; i < 30; i++) {
      // Pipelined right behind the answer: open → keepalive by id, close → keepalive by id.
      const { sessionId } = result<{ sessionId: string }>(await c.call(++ids, 'session.open', { timeoutMs: 5000, attach: false }));
      expect(result(await c.call(++ids, 'session.keepalive', { sessionIds: [sessionId] }))).toEqual({ timeoutMs: 5000, expired: [] });
      expect(code(await c.call(++ids, 'session.close', { sessionId }))).toBe('ok');
      expect(result(await c.call(++ids, 'session.keepalive', { sessionIds: [sessionId] }))).toMatchObject({ expired: [sessionId] });
    }
    c.socket.destroy();
  });

  test('an ephemeral node lives with its session and goes in the same entry as session.close; watchers see it', async () => {
    const watcher = await open();
    const owner = await open();
    const { sessionId } = result<{ sessionId: string }>(await owner.call(1, 'session.open', { timeoutMs: 5000 }));
    expect(sessionId).toMatch(/^[0-9a-f]{32}$/);
    expect(code(await owner.call(2, 'create', { path: '/eph', data: Buffer.from('x'), mode: 'persistent' }))).toBe('ok');
    const w = result<{ watchId: number }>(await watcher.call(1, 'watch', { path: '/eph', kind: 'children' }));
    const created = result<{ path: string; stat: { ephemeralOwner: string } }>(await owner.call(3, 'create', { path: '/eph/a', data: Buffer.from('1'), mode: 'ephemeral' }));
    expect(created.stat.ephemeralOwner).toBe(sessionId);
    expect(code(await owner.call(4, 'create', { path: '/eph/a/child', data: Buffer.alloc(0), mode: 'persistent' }))).toBe(ErrorCode.NO_CHILDREN_FOR_EPHEMERALS);
    expect(code(await owner.call(5, 'session.close', {}))).toBe('ok');
    expect(result(await watcher.call(2, 'exists', { path: '/eph/a' }))).toBeNull();
    const events = watcher.events('watch') as Array<{ watchId: number; type: string; path: string; index: number }>;
    expect(events.map((e) => [e.watchId, e.type, e.path])).toEqual([[w.watchId, 'created', '/eph/a'], [w.watchId, 'deleted', '/eph/a']]);
    expect(events[1].index).toBeGreaterThan(events[0].index);
    // Without a session, an ephemeral create is refused.
    expect(code(await owner.call(6, 'create', { path: '/eph/b', data: Buffer.alloc(0), mode: 'ephemeral' }))).toBe(ErrorCode.SESSION_EXPIRED);
    watcher.socket.destroy();
    owner.socket.destroy();
  });

  test('a session without keepalives expires within its timeout plus a bound; its node is gone and it can be re-created at once', async () => {
    const owner = await open();
    result(await owner.call(1, 'session.open', { timeoutMs: 1500 }));
    result(await owner.call(2, 'create', { path: '/lease', data: Buffer.from('mine'), mode: 'ephemeral' }));
    const started = Date.now();
    while (owner.events('session').length === 0 && Date.now() - started < 6000) await sleep(50);
    const elapsed = Date.now() - started;
    expect(owner.events('session')).toEqual([{ sessionId: expect.any(String), state: 'expired' }]);
    expect(elapsed).toBeGreaterThanOrEqual(1400);
    expect(elapsed).toBeLessThan(1500 + 1000);
    // Re-creating right after the expiry must not fail with a stale NODE_EXISTS.
    const next = await open();
    result(await next.call(1, 'session.open', { timeoutMs: 5000 }));
    expect(code(await next.call(2, 'create', { path: '/lease', data: Buffer.from('next'), mode: 'ephemeral' }))).toBe('ok');
    owner.socket.destroy();
    next.socket.destroy();
  });

  test('keepalives keep a session alive past its timeout; resume works on a follower; keepalive on a follower says NOT_LEADER', async () => {
    const owner = await open();
    const { sessionId } = result<{ sessionId: string }>(await owner.call(1, 'session.open', { timeoutMs: 1200 }));
    result(await owner.call(2, 'create', { path: '/kept', data: Buffer.alloc(0), mode: 'ephemeral' }));
    for (let i = 0; i < 8; i++) {
      await sleep(400);
      expect(code(await owner.call(10 + i, 'session.keepalive', {}))).toBe('ok');
    }
    expect(owner.events('session')).toEqual([]);
    owner.socket.destroy();
    const leaderId = await t.cluster.waitForLeader();
    const follower = t.cluster.nodes.find((n) => n.id !== leaderId)!;
    const again = await open(follower.client);
    expect(result(await again.call(1, 'session.resume', { sessionId }))).toMatchObject({ sessionId, timeoutMs: 1200 });
    expect(code(await again.call(2, 'session.keepalive', {}))).toBe(ErrorCode.NOT_LEADER);
    expect(code(await again.call(3, 'session.resume', { sessionId: 'feedfacefeedface' }))).toBe(ErrorCode.SESSION_EXPIRED);
    again.socket.destroy();
  });

  test('a connection that watches gets the events of its own writes before their answers (ZooKeeper\'s order), also pipelined', async () => {
    const a = await open();
    result(await a.call(1, 'create', { path: '/ord', data: Buffer.alloc(0), mode: 'persistent' }));
    result(await a.call(2, 'watch', { path: '/ord', kind: 'recursive' }));
    const n = 20;
    for (let i = 0; i < n; i++) a.request(100 + i, 'create', { path: `/ord/n${i}`, data: Buffer.alloc(0), mode: 'persistent' });
    for (let i = 0; i < n; i++) result(await a.answer(100 + i));
    for (let i = 0; i < n; i++) {
      const answerAt = a.received.findIndex((e) => 'id' in e && e.id === 100 + i);
      const eventAt = a.received.findIndex((e) => e.t === 4 && e.k === 'watch' && (e as { d: { path: string } }).d.path === `/ord/n${i}`);
      expect(eventAt).toBeGreaterThanOrEqual(0);
      expect(eventAt).toBeLessThan(answerAt);
    }
    a.socket.destroy();
  });

  test('a watch resumed with fromIndex on another node replays exactly what was missed', async () => {
    const a = await open();
    result(await a.call(1, 'create', { path: '/r', data: Buffer.alloc(0), mode: 'persistent' }));
    const w = result<{ watchId: number; index: number }>(await a.call(2, 'watch', { path: '/r', kind: 'recursive' }));
    for (let i = 0; i < 5; i++) result(await a.call(10 + i, 'create', { path: `/r/n${i}`, data: Buffer.alloc(0), mode: 'persistent' }));
    const seen = a.events('watch') as Array<{ index: number; path: string }>;
    expect(seen.map((e) => e.path)).toEqual(['/r/n0', '/r/n1', '/r/n2', '/r/n3', '/r/n4']);
    const lastSeen = seen[2].index; // pretend the connection broke after the third event
    a.socket.destroy();
    const leaderId = await t.cluster.waitForLeader();
    const follower = t.cluster.nodes.find((n) => n.id !== leaderId)!;
    const b = await open(follower.client);
    await b.call(1, 'sync', {});
    result(await b.call(2, 'watch', { path: '/r', kind: 'recursive', fromIndex: lastSeen }));
    const replayed = b.events('watch') as Array<{ path: string }>;
    expect(replayed.map((e) => e.path)).toEqual(['/r/n3', '/r/n4']);
    expect(w.watchId).toBeGreaterThan(0);
    b.socket.destroy();
    // A restarted node's history starts at its restart: an older resume point is refused explicitly.
    await t.cluster.kill(follower.id, 'SIGKILL');
    t.cluster.start(follower.id);
    await t.cluster.waitForLeader();
    const st = await t.cluster.status(leaderId);
    await t.cluster.waitForApplied(st!.commitIndex, 20_000, [follower.id]);
    const c = await open(follower.client);
    expect(code(await c.call(1, 'watch', { path: '/r', kind: 'recursive', fromIndex: lastSeen }))).toBe(ErrorCode.WATCH_HISTORY_COMPACTED);
    c.socket.destroy();
  });
});

describe('session expiry while leaders keep changing (etcd issue 9888)', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster(3);
  });
  afterAll(async () => t.destroy());

  test('a session with no keepalives expires within timeout + one extension even with a leader change every 600 ms', async () => {
    const leaderId = await t.cluster.waitForLeader();
    const owner = await RawConnection.open(t.cluster.node(leaderId).client);
    await owner.call(1, 'hello', { protocol: 1 });
    const timeoutMs = 3000;
    result(await owner.call(2, 'session.open', { timeoutMs }));
    result(await owner.call(3, 'create', { path: '/dead-client', data: Buffer.alloc(0), mode: 'ephemeral' }));
    const watcher = await RawConnection.open(t.cluster.node(leaderId).client);
    await watcher.call(1, 'hello', { protocol: 1 });
    const started = Date.now();
    let transfers = 0;
    let gone = false;
    while (!gone && Date.now() - started < 4 * timeoutMs) {
      // Hand leadership over, as a rolling restart or a flapping network would.
      const leader = await t.cluster.waitForLeader();
      const res = await fetch(`http://${t.cluster.node(leader).admin}/transfer-leadership`, { method: 'POST' });
      if (res.ok) transfers++;
      await sleep(600);
      const nodes = await Promise.all(t.cluster.nodes.map((n) => t.cluster.status(n.id)));
      const anyLeader = nodes.find((s) => s?.role === 'leader');
      if (anyLeader) {
        const c = await RawConnection.open(t.cluster.node(anyLeader.id).client);
        await c.call(1, 'hello', { protocol: 1 });
        gone = result(await c.call(2, 'exists', { path: '/dead-client' })) === null;
        c.socket.destroy();
      }
    }
    const elapsed = Date.now() - started;
    expect(transfers).toBeGreaterThanOrEqual(3);
    expect(gone).toBe(true);
    // One fresh deadline after the last renewal at most: timeout + timeout, plus checks and elections.
    expect(elapsed).toBeLessThan(2 * timeoutMs + 2000);
    owner.socket.destroy();
    watcher.socket.destroy();
  });
});
