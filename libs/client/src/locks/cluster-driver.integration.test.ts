/**
 * Locks, fenced writes and elections against a real 3-node cluster (see real-cluster.test.ts), one
 * cluster for the file. Every test uses lock names and paths of its own. Needs the build
 * (`npx tsc -b`); without `server/dist/main.js` the suite is skipped, and says so.
 *
 * Waiters are queued in a known order by waiting, after each acquire, until `lock.info` shows its
 * ticket: the order of the queue is then the order of the calls, whatever the network did.
 */
import { ErrorCode } from '@hikarikeeper/protocol';
import { HikariClient } from '../client';
import { Cluster, haveServer, SERVER_MAIN, useRealCluster } from '../real-cluster.test';
import { eventually } from '../scripted-peer.test';
import type { ClusterLockGrant } from './cluster-driver';
import type { LeaderInfo, LostEvent } from './election';
import { rejection } from '../testing/errors';

const CLUSTER_ID = 'locks-it';


/** Tracks whether a promise has settled, without letting its rejection go unhandled. */
function track<T>(promise: Promise<T>): { readonly settled: boolean; readonly promise: Promise<T> } {
  const state = { settled: false, promise };
  promise.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
}

/** Blocks the event loop, as a long GC pause or a stopped process would: no keepalive goes out. */
function pause(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

function expectIncreasing(tokens: number[]): void {
  for (let i = 1; i < tokens.length; i++) {
    if (tokens[i]! <= tokens[i - 1]!) throw new Error(`tokens do not strictly increase at #${i}: ${tokens.join(', ')}`);
  }
}

if (!haveServer) console.warn(`cluster-driver.integration.test: skipped, ${SERVER_MAIN} is missing (run npx tsc -b)`);

(haveServer ? describe : describe.skip)('cluster locks against a real 3-node cluster', () => {
  const real = useRealCluster(CLUSTER_ID);
  const connect = real.connect.bind(real);
  let cluster: Cluster;
  let a: HikariClient;
  let b: HikariClient;

  /** Waits until `lock.info` shows `count` waiters of `name`. */
  async function queued(name: string, count: number): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const info = await a.lockInfo(name);
      if (info.waiters.length === count) return;
      if (Date.now() > deadline) throw new Error(`${name}: ${info.waiters.length} waiters, not ${count}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  beforeAll(async () => {
    cluster = real.cluster;
    [a, b] = [await connect(), await connect()];
  });


  test('mutual exclusion: 2 clients × 8 workers on one lock never overlap, and tokens increase in grant order', async () => {
    await a.create('/mutex', '0');
    let inside = 0;
    let overlaps = 0;
    let counter = 0;
    const tokens: number[] = [];
    const worker = async (w: number): Promise<void> => {
      const client = w % 2 === 0 ? a : b;
      for (let round = 0; round < 5; round++) {
        await client.withLock('mutex', async (grant) => {
          if (++inside > 1) overlaps++;
          tokens.push(grant.token);
          const read = counter;
          await client.set('/mutex', String(read + 1), { fence: grant }); // a fenced write while holding it: accepted
          counter = read + 1;
          inside--;
        });
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
    expect(overlaps).toBe(0);
    expect(counter).toBe(40);
    expect((await a.get('/mutex')).data.toString()).toBe('40');
    expect(tokens).toHaveLength(40);
    expectIncreasing(tokens);
    expect(await a.lockInfo('mutex')).toMatchObject({ holders: [], waiters: [] });
  });

  test('FIFO: queued waiters of both clients are granted in the order they asked', async () => {
    const holder = await a.locks.acquire('fifo');
    const order: number[] = [];
    const waiters: Array<Promise<ClusterLockGrant>> = [];
    for (let i = 0; i < 4; i++) {
      const client = i % 2 === 0 ? b : a;
      waiters.push(
        client.locks.acquire('fifo').then(async (grant) => {
          order.push(i);
          await client.locks.release(grant);
          return grant;
        }),
      );
      await queued('fifo', i + 1);
    }
    const info = await a.lockInfo('fifo');
    expect(info.waiters.map((waiter) => waiter.session)).toEqual([b, a, b, a].map((client) => client.session!.id));
    await a.locks.release(holder);
    const grants = await Promise.all(waiters);
    expect(order).toEqual([0, 1, 2, 3]);
    expectIncreasing([holder.token, ...grants.map((grant) => grant.token)]);
  });

  test('shared readers coexist while a writer waits; a reader queued after the writer waits for it (no writer starvation)', async () => {
    const r1 = await a.locks.acquire('rw', { mode: 'shared' });
    const r2 = await b.locks.acquire('rw', { mode: 'shared', waitMs: 0 }); // granted at once alongside r1
    const writer = track(a.locks.acquire('rw'));
    await queued('rw', 1);
    const lateReader = track(b.locks.acquire('rw', { mode: 'shared' }));
    await queued('rw', 2);
    const info = await a.lockInfo('rw');
    expect(info.holders.map((holder) => [holder.mode, holder.token])).toEqual([
      ['shared', r1.token],
      ['shared', r2.token],
    ]);
    expect(info.waiters.map((waiter) => waiter.mode)).toEqual(['exclusive', 'shared']);
    expect(await b.locks.tryAcquire('rw', { mode: 'shared' })).toBeNull(); // nobody overtakes the writer

    await a.locks.release(r1);
    await b.locks.release(r2);
    const w = await writer.promise;
    expect(w.token).toBeGreaterThan(r2.token);
    expect(lateReader.settled).toBe(false);
    await a.locks.release(w);
    const r3 = await lateReader.promise;
    expect(r3).toMatchObject({ mode: 'shared' });
    expect(r3.token).toBeGreaterThan(w.token);
    await b.locks.release(r3);
  });

  test('a semaphore with 3 permits holds 3 grants and queues the 4th; a mismatched permits is refused', async () => {
    const held = [
      await a.locks.acquire('sem', { permits: 3 }),
      await b.locks.acquire('sem', { permits: 3 }),
      await a.locks.acquire('sem', { permits: 3 }),
    ];
    const fourth = track(b.locks.acquire('sem', { permits: 3 }));
    await queued('sem', 1);
    expect(await a.lockInfo('sem')).toMatchObject({ permits: 3, holders: held.map((grant) => ({ token: grant.token })) });
    const mismatch = await rejection(b.locks.acquire('sem', { permits: 2 }));
    expect(mismatch.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(mismatch.details.field).toBe('permits');
    expect(fourth.settled).toBe(false);
    await b.locks.release(held[1]!);
    const g4 = await fourth.promise;
    expect(g4.token).toBeGreaterThan(held[2]!.token);
    for (const [client, grant] of [[a, held[0]!], [a, held[2]!], [b, g4]] as const) await client.locks.release(grant);
  });

  test('reentrant acquires are counted: same token, and each release undoes one', async () => {
    const first = await a.locks.acquire('reentrant', { reentrant: true });
    const again = await a.locks.acquire('reentrant', { reentrant: true, waitMs: 0 });
    expect(again.token).toBe(first.token);
    expect([first.count, again.count]).toEqual([1, 2]);
    expect((await a.lockInfo('reentrant')).holders.map((holder) => holder.count)).toEqual([2]);
    expect(await b.locks.tryAcquire('reentrant')).toBeNull();
    await a.locks.release(again);
    expect((await a.lockInfo('reentrant')).holders.map((holder) => holder.count)).toEqual([1]);
    expect(await b.locks.tryAcquire('reentrant')).toBeNull();
    await a.locks.release(first);
    const next = await b.locks.tryAcquire('reentrant');
    expect(next!.token).toBeGreaterThan(first.token);
    await b.locks.release(next!);
    // Without `reentrant`, a second acquire by the same session queues like anyone's.
    const plain = await a.locks.acquire('reentrant');
    expect(await a.locks.tryAcquire('reentrant')).toBeNull();
    await a.locks.release(plain);
  });

  test('waitMs passes: LOCK_TIMEOUT, and the ticket has left the queue; an abort likewise, with CANCELLED', async () => {
    const holder = await a.locks.acquire('giving-up');
    const timedOut = await rejection(b.locks.acquire('giving-up', { waitMs: 300 }));
    expect(timedOut.code).toBe(ErrorCode.LOCK_TIMEOUT);
    expect(timedOut.details).toEqual({ name: 'giving-up', waitMs: 300 });
    expect((await a.lockInfo('giving-up')).waiters).toEqual([]);

    const controller = new AbortController();
    const aborted = track(b.locks.acquire('giving-up', { signal: controller.signal }));
    await queued('giving-up', 1);
    controller.abort();
    expect((await rejection(aborted.promise)).code).toBe(ErrorCode.CANCELLED);
    expect((await a.lockInfo('giving-up')).waiters).toEqual([]);

    await a.locks.release(holder);
    const next = await b.locks.acquire('giving-up', { waitMs: 0 }); // free: nobody left queued
    await b.locks.release(next);
  });

  test("closing a client ends its session: the next waiter is granted at once, with a larger token, and the closed client's grant is lost", async () => {
    const owner = await connect({ session: { timeoutMs: 60_000 } });
    const grant = await owner.locks.acquire('closing');
    const waiting = b.locks.acquire('closing', { waitMs: 15_000 }); // far below the owner's session timeout
    await queued('closing', 1);
    await owner.close();
    const next = await waiting;
    expect(next.token).toBeGreaterThan(grant.token);
    expect(grant.lost).toBe(true);
    await b.locks.release(next);
  });

  test('a fenced write applies with the current token and fails with FENCE_MISMATCH with a stale one', async () => {
    const first = await a.locks.acquire('fence');
    await a.create('/fenced', 'by a', { fence: first });
    await a.set('/fenced', 'by a, again', { fence: { lock: 'fence', token: first.token } });
    await a.locks.release(first);
    const second = await b.locks.acquire('fence');
    expect(second.token).toBeGreaterThan(first.token);

    const stale = await rejection(a.set('/fenced', 'late write by a', { fence: first }));
    expect(stale.code).toBe(ErrorCode.FENCE_MISMATCH);
    expect(stale.details).toMatchObject({ name: 'fence', token: first.token, opIndex: 0 });
    expect((await rejection(a.delete('/fenced', { fence: first }))).code).toBe(ErrorCode.FENCE_MISMATCH);
    expect((await a.get('/fenced')).data.toString()).toBe('by a, again');

    const { stat } = await b.set('/fenced', 'by b', { fence: second });
    expect(stat.version).toBe(2);
    const wrongVersion = await rejection(b.set('/fenced', 'x', { fence: second, version: 0 }));
    expect(wrongVersion.code).toBe(ErrorCode.BAD_VERSION); // the write's own error, after the fence passed
    await b.delete('/fenced', { fence: second });
    await b.locks.release(second);
    expect((await rejection(b.set('/other', 'x', { fence: second }))).code).toBe(ErrorCode.FENCE_MISMATCH); // released: no longer current
  });

  test('election: one leads; when it resigns the other is elected, and observe() shows both, in order', async () => {
    const observer = await connect({ session: false });
    const controller = new AbortController();
    const seen: Array<LeaderInfo | null> = [];
    const observing = (async () => {
      for await (const leader of observer.election('orders').observe({ signal: controller.signal })) seen.push(leader);
    })();
    await eventually(() => seen.length === 1, 10_000, 'the first observation');
    expect(seen[0]).toBeNull();

    const [first, second] = [a.election('orders'), b.election('orders')];
    const elected = await first.campaign('host-a:1');
    expect(first.isLeader).toBe(true);
    const campaign = track(second.campaign(Buffer.from('host-b:2')));
    await queued('election:orders', 1);
    expect(second.isLeader).toBe(false);
    expect(await observer.election('orders').leader()).toMatchObject({ value: Buffer.from('host-a:1'), token: elected.token, sessionId: a.session!.id });

    await first.resign();
    expect(first.isLeader).toBe(false);
    const next = await campaign.promise;
    expect(next.token).toBeGreaterThan(elected.token);
    expect(second.isLeader).toBe(true);
    await eventually(() => seen.length === 3, 10_000, 'both leaders observed');
    expect(seen.map((leader) => leader && [leader.value.toString(), leader.token, leader.sessionId])).toEqual([
      null,
      ['host-a:1', elected.token, a.session!.id],
      ['host-b:2', next.token, b.session!.id],
    ]);
    controller.abort();
    await observing;
    await second.resign();
    expect(await observer.election('orders').leader()).toBeNull();
  });

  test('election: the leader whose session expires loses the leadership; the other is elected with a larger token', async () => {
    const doomed = await connect({ session: { timeoutMs: 2_000 } });
    const [first, second] = [doomed.election('expiry'), b.election('expiry')];
    const lost: LostEvent[] = [];
    first.on('lost', (event) => lost.push(event));
    const elected = await first.campaign('doomed');
    const campaign = track(second.campaign('survivor'));
    await queued('election:expiry', 1);

    pause(3_500); // the doomed client sends no keepalive for longer than its session timeout

    const next = await campaign.promise;
    expect(next.token).toBeGreaterThan(elected.token);
    await eventually(() => lost.length === 1, 10_000, "the doomed candidate's lost event");
    expect(lost).toEqual([{ token: elected.token, reason: 'expired' }]);
    expect(first.isLeader).toBe(false);
    expect(second.isLeader).toBe(true);
    expect((await b.election('expiry').leader())?.value.toString()).toBe('survivor');
    // A deposed leader's late write, fenced with its old token, is refused.
    const late = await rejection(doomed.create('/expiry-late', 'x', { fence: { lock: first.lockName, token: elected.token } }));
    expect(late.code).toBe(ErrorCode.FENCE_MISMATCH);
    await second.resign();
  });

  // Kills a node: keep it last.
  test('observe() survives the loss of the node it watches on, and reports the leaders elected after it', async () => {
    const observer = await connect({ session: false });
    const controller = new AbortController();
    const seen: Array<LeaderInfo | null> = [];
    const observing = (async () => {
      for await (const leader of observer.election('failover').observe({ signal: controller.signal })) seen.push(leader);
    })();
    await eventually(() => seen.length === 1, 10_000, 'the first observation');
    const watched = cluster.nodes.find((node) => node.client === observer.endpoint)!;
    await cluster.kill(watched.id);
    await cluster.waitForLeader();

    const election = a.election('failover');
    const { token } = await election.campaign('after the failover');
    await eventually(() => seen.length === 2, 20_000, 'the leader elected after the failover');
    await election.resign();
    await eventually(() => seen.length === 3, 20_000, 'the resignation');
    expect(seen.map((leader) => leader && [leader.value.toString(), leader.token])).toEqual([null, ['after the failover', token], null]);
    expect(observer.endpoint).not.toBe(watched.client);
    controller.abort();
    await observing;
  });
});
