/**
 * The cluster lock driver, fenced writes and elections against scripted peers (see
 * scripted-peer.test.ts): which lock requests the SDK sends, in which order, with which arguments,
 * and what it makes of each answer. The peers answer exactly what each test scripts (sessions
 * automatically); the lock queues themselves are the server's, tested against a real cluster in
 * cluster-driver.integration.test.ts.
 */
import { ErrorCode, HikariError, OpArgs, OpResult } from '@hikarikeeper/protocol';
import type { CallOptions } from '../dispatcher';
import { PeerRequest, ScriptedPeer, eventually, stat, usePeerFixture } from '../scripted-peer.test';
import { ClusterLockDriver, ClusterLockGrant } from './cluster-driver';
import { LeaderInfo, leaderOf } from './election';
import { rejection } from '../testing/errors';

const { startPeer, connect } = usePeerFixture();


/** The requests of the lock ops, as [op, args], in arrival order. */
function lockRequests(peer: ScriptedPeer): Array<[string, Record<string, unknown>]> {
  return peer.received().filter((request) => request.op.startsWith('lock.')).map((request) => [request.op, request.args]);
}

/** The next request of `op` not answered yet (waits for it). */
async function nextUnanswered(peer: ScriptedPeer, op: string): Promise<PeerRequest> {
  await peer.waitUntil(() => peer.unanswered(op).length > 0, 5000, `an unanswered ${op}`);
  return peer.unanswered(op)[0]!;
}

/** Tracks whether a promise has settled, without letting its rejection go unhandled. */
function track<T>(promise: Promise<T>): { readonly settled: boolean; readonly promise: Promise<T> } {
  const state = { settled: false, promise };
  promise.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const holder = (token: number, session: string, value: string, since = 40) => ({
  token,
  ticket: since - 1,
  session,
  mode: 'exclusive' as const,
  count: 1,
  since,
  value: Buffer.from(value),
});

describe('acquire', () => {
  test('granted at once: one lock.acquire with the options as protocol arguments; release names the token', async () => {
    const peer = await startPeer({
      onRequest: (request) => {
        if (request.op === 'lock.acquire') request.respond({ granted: true, token: 7, ticket: 3, count: 1 });
        if (request.op === 'lock.release') request.respond({ count: 0 });
      },
    });
    const client = await connect([peer]);
    const grant = await client.locks.acquire('jobs', { value: 'me' });
    expect(grant).toMatchObject({ name: 'jobs', token: 7, mode: 'exclusive', ticket: 3, sessionId: 's1', count: 1, lost: false });
    await client.locks.release(grant);
    await client.locks.acquire('rw', { mode: 'shared' });
    await client.locks.acquire('sem', { permits: 3, reentrant: true, value: new Uint8Array([1, 2]) });
    expect(lockRequests(peer)).toEqual([
      ['lock.acquire', { name: 'jobs', mode: 'exclusive', value: Buffer.from('me'), seq: 1 }],
      ['lock.release', { name: 'jobs', token: 7, seq: 2 }],
      ['lock.acquire', { name: 'rw', mode: 'shared', seq: 3 }],
      ['lock.acquire', { name: 'sem', mode: 'exclusive', permits: 3, reentrant: true, value: Buffer.from([1, 2]), seq: 4 }],
    ]);
  });

  test('queued: lock.wait with the ticket, and the grant once it answers', async () => {
    const peer = await startPeer({
      onRequest: (request) => {
        if (request.op === 'lock.acquire') request.respond({ granted: false, ticket: 12, position: 2 });
      },
    });
    const client = await connect([peer]);
    const acquiring = track(client.locks.acquire('jobs'));
    const wait = await nextUnanswered(peer, 'lock.wait');
    expect(wait.args).toEqual({ name: 'jobs', ticket: 12 });
    await sleep(20);
    expect(acquiring.settled).toBe(false);
    wait.respond({ token: 30 });
    expect(await acquiring.promise).toMatchObject({ name: 'jobs', token: 30, ticket: 12, count: 1, mode: 'exclusive' });
    expect(lockRequests(peer).map(([op]) => op)).toEqual(['lock.acquire', 'lock.wait']);
  });

  test('waitMs passes: lock.cancel with the ticket, then LOCK_TIMEOUT once the cancel is answered', async () => {
    const peer = await startPeer({
      onRequest: (request) => {
        if (request.op === 'lock.acquire') request.respond({ granted: false, ticket: 12, position: 0 });
      },
    });
    const client = await connect([peer]);
    const acquiring = track(client.locks.acquire('jobs', { waitMs: 100 }));
    const cancel = await nextUnanswered(peer, 'lock.cancel');
    expect(cancel.args).toEqual({ name: 'jobs', ticket: 12, seq: 2 });
    await sleep(20);
    expect(acquiring.settled).toBe(false); // not before the ticket has left the queue
    cancel.respond({ was: 'waiting' });
    const error = await rejection(acquiring.promise);
    expect(error.code).toBe(ErrorCode.LOCK_TIMEOUT);
    expect(error.details).toEqual({ name: 'jobs', waitMs: 100 });
    expect(lockRequests(peer).map(([op]) => op)).toEqual(['lock.acquire', 'lock.wait', 'lock.cancel']);
  });

  test('abort: lock.cancel, then CANCELLED, even when the grant raced with it (was: held, released by the cancel)', async () => {
    const peer = await startPeer({
      onRequest: (request) => {
        if (request.op === 'lock.acquire') request.respond({ granted: false, ticket: 5, position: 0 });
        if (request.op === 'lock.cancel') request.respond({ was: 'held' });
      },
    });
    const client = await connect([peer]);
    const controller = new AbortController();
    const acquiring = client.locks.acquire('jobs', { signal: controller.signal });
    await nextUnanswered(peer, 'lock.wait');
    controller.abort(new Error('shutting down'));
    const error = await rejection(acquiring);
    expect(error.code).toBe(ErrorCode.CANCELLED);
    expect(error.details).toMatchObject({ name: 'jobs' });
    expect((error.cause as Error).message).toBe('shutting down');
    expect(lockRequests(peer)[2]).toEqual(['lock.cancel', { name: 'jobs', ticket: 5, seq: 2 }]);

    const again = await rejection(client.locks.acquire('jobs', { signal: controller.signal }));
    expect(again.code).toBe(ErrorCode.CANCELLED); // already aborted: nothing sent
    expect(lockRequests(peer)).toHaveLength(3);
  });

  test('waitMs 0 asks with wait: false, and a refusal is LOCK_TIMEOUT; tryAcquire makes it null', async () => {
    const peer = await startPeer({ onRequest: (request) => request.respond({ granted: false }) });
    const client = await connect([peer]);
    const error = await rejection(client.locks.acquire('jobs', { waitMs: 0 }));
    expect(error.code).toBe(ErrorCode.LOCK_TIMEOUT);
    expect(error.details).toEqual({ name: 'jobs', waitMs: 0 });
    expect(await client.locks.tryAcquire('jobs', { mode: 'shared' })).toBeNull();
    expect(lockRequests(peer)).toEqual([
      ['lock.acquire', { name: 'jobs', mode: 'exclusive', wait: false, seq: 1 }],
      ['lock.acquire', { name: 'jobs', mode: 'shared', wait: false, seq: 2 }],
    ]);
  });

  test('a ticket the server dropped (lock.wait answers LOCK_NOT_HELD) fails with SESSION_EXPIRED, without a cancel', async () => {
    const peer = await startPeer({
      onRequest: (request) => {
        if (request.op === 'lock.acquire') request.respond({ granted: false, ticket: 8, position: 0 });
        if (request.op === 'lock.wait') request.fail(ErrorCode.LOCK_NOT_HELD, { name: 'jobs', ticket: 8 });
      },
    });
    const client = await connect([peer]);
    const error = await rejection(client.locks.acquire('jobs'));
    expect(error.code).toBe(ErrorCode.SESSION_EXPIRED);
    expect(error.details).toEqual({ name: 'jobs', ticket: 8, sessionId: 's1' });
    expect((error.cause as HikariError).code).toBe(ErrorCode.LOCK_NOT_HELD);
    expect(lockRequests(peer).map(([op]) => op)).toEqual(['lock.acquire', 'lock.wait']);
  });

  test('another error of lock.wait leaves the queue (lock.cancel) and is thrown as is', async () => {
    const peer = await startPeer({
      onRequest: (request) => {
        if (request.op === 'lock.acquire') request.respond({ granted: false, ticket: 8, position: 0 });
        if (request.op === 'lock.wait') request.fail(ErrorCode.PERMISSION_DENIED, {});
        if (request.op === 'lock.cancel') request.respond({ was: 'waiting' });
      },
    });
    const client = await connect([peer]);
    expect((await rejection(client.locks.acquire('jobs'))).code).toBe(ErrorCode.PERMISSION_DENIED);
    await peer.waitForRequests(1, 'lock.cancel');
    expect(peer.received('lock.cancel')[0]!.args).toEqual({ name: 'jobs', ticket: 8, seq: 2 });
  });

  test('giving up while lock.acquire is unanswered: its outcome is undone when it comes, then the rejection', async () => {
    const peer = await startPeer({
      onRequest: (request) => {
        if (request.op === 'lock.cancel') request.respond({ was: 'waiting' });
        if (request.op === 'lock.release') request.respond({ count: 1 });
      },
    });
    const client = await connect([peer]);

    const controller = new AbortController();
    const queued = track(client.locks.acquire('a', { signal: controller.signal }));
    const first = await nextUnanswered(peer, 'lock.acquire');
    controller.abort();
    await sleep(20);
    expect(queued.settled).toBe(false);
    first.respond({ granted: false, ticket: 21, position: 0 }); // it was queued: cancel the ticket
    expect((await rejection(queued.promise)).code).toBe(ErrorCode.CANCELLED);
    expect(peer.received('lock.cancel').map((request) => request.args)).toEqual([{ name: 'a', ticket: 21, seq: 2 }]);

    const granted = track(client.locks.acquire('b', { waitMs: 50 }));
    const second = await nextUnanswered(peer, 'lock.acquire');
    await sleep(80);
    expect(granted.settled).toBe(false);
    second.respond({ granted: true, token: 40, ticket: 22, count: 2 }); // granted (reentrant): undo that one acquire
    expect((await rejection(granted.promise)).code).toBe(ErrorCode.LOCK_TIMEOUT);
    expect(peer.received('lock.release').map((request) => request.args)).toEqual([{ name: 'b', token: 40, seq: 4 }]);
    expect(peer.received('lock.wait')).toEqual([]);
  });

  test("a give-up waits for the undo at most the client's timeoutMs; the acquire and its undo go on", async () => {
    const peer = await startPeer({ onRequest: (request) => request.op === 'lock.cancel' && request.respond({ was: 'waiting' }) });
    const client = await connect([peer], { timeoutMs: 200 });
    const error = await rejection(client.locks.acquire('a', { waitMs: 10 }));
    expect(error.code).toBe(ErrorCode.LOCK_TIMEOUT);
    const write = await nextUnanswered(peer, 'lock.acquire');
    await sleep(250); // past the client's timeoutMs: the write still waits for its answer (no deadline of its own)
    write.respond({ granted: false, ticket: 9, position: 0 });
    await peer.waitForRequests(1, 'lock.cancel');
    expect(peer.received('lock.cancel')[0]!.args).toMatchObject({ name: 'a', ticket: 9 });
  });

  test('the session expires: acquires under way fail with SESSION_EXPIRED and are not sent again; grants turn lost', async () => {
    const peer = await startPeer({
      onRequest: (request) => {
        if (request.op === 'lock.acquire' && request.args.name === 'held') request.respond({ granted: true, token: 5, ticket: 4, count: 1 });
        if (request.op === 'lock.acquire' && request.args.name === 'queued') request.respond({ granted: false, ticket: 6, position: 0 });
        if (request.op === 'sync') request.respond({ index: 1 });
      },
    });
    const client = await connect([peer]);
    const grant = await client.locks.acquire('held');
    const waiting = client.locks.acquire('queued');
    const pending = client.locks.acquire('pending'); // its lock.acquire stays unanswered
    const wait = await nextUnanswered(peer, 'lock.wait');
    await peer.waitForRequests(3, 'lock.acquire');
    let heardLost: unknown = null;
    grant.signal.addEventListener('abort', () => (heardLost = grant.signal.reason));

    wait.connection.pushEvent('session', { sessionId: 's1', state: 'expired' });
    const [queuedError, pendingError] = await Promise.all([rejection(waiting), rejection(pending)]);
    expect(queuedError.code).toBe(ErrorCode.SESSION_EXPIRED);
    expect(queuedError.details).toEqual({ name: 'queued', sessionId: 's1' });
    expect(pendingError.code).toBe(ErrorCode.SESSION_EXPIRED);
    expect(grant.lost).toBe(true);
    expect((heardLost as HikariError).code).toBe(ErrorCode.LOCK_NOT_HELD);
    expect(((heardLost as HikariError).cause as HikariError).code).toBe(ErrorCode.SESSION_EXPIRED);

    await eventually(() => client.session?.id === 's2' && client.session.state === 'connected', 5000, 'the next session');
    await client.sync(); // a round trip on the new session: anything resent would be there by now
    expect(lockRequests(peer).map(([op, args]) => `${op} ${String(args.name)}`)).toEqual([
      'lock.acquire held',
      'lock.acquire queued',
      'lock.acquire pending',
      'lock.wait queued',
    ]);
  });

  test('closing the client: an acquire under way fails with CANCELLED and grants turn lost', async () => {
    const peer = await startPeer({
      onRequest: (request) => {
        if (request.op === 'lock.acquire' && request.args.name === 'held') request.respond({ granted: true, token: 5, ticket: 4, count: 1 });
        if (request.op === 'lock.acquire' && request.args.name === 'queued') request.respond({ granted: false, ticket: 6, position: 0 });
      },
    });
    const client = await connect([peer]);
    const grant = await client.locks.acquire('held');
    const waiting = rejection(client.locks.acquire('queued'));
    await nextUnanswered(peer, 'lock.wait');
    await client.close();
    expect((await waiting).code).toBe(ErrorCode.CANCELLED);
    expect(grant.lost).toBe(true);
    // Its signal, first read after the loss (it is made on first use), is aborted with the reason.
    expect(grant.signal.aborted).toBe(true);
    expect((grant.signal.reason as HikariError).code).toBe(ErrorCode.LOCK_NOT_HELD);
  });

  test('bad options are refused with INVALID_ARGUMENT before anything is sent', async () => {
    const peer = await startPeer();
    const client = await connect([peer]);
    const field = async (promise: Promise<unknown>): Promise<unknown> => {
      const error = await rejection(promise);
      expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
      return error.details.field;
    };
    expect(await field(client.locks.acquire('jobs', { waitMs: -1 }))).toBe('waitMs');
    expect(await field(client.locks.acquire('jobs', { waitMs: 1.5 }))).toBe('waitMs');
    expect(await field(client.locks.acquire('jobs', { waitMs: 2 ** 31 }))).toBe('waitMs');
    expect(await field(client.locks.acquire('', {}))).toBe('name');
    expect(await field(client.locks.acquire('a\nb', {}))).toBe('name');
    expect(await field(client.locks.acquire('x'.repeat(257), {}))).toBe('name');
    expect(await field(client.locks.acquire('jobs', { mode: 'write' as never }))).toBe('mode');
    expect(await field(client.locks.acquire('jobs', { value: 42 as never }))).toBe('value');
    expect(await field(client.locks.acquire('jobs', { signal: {} as never }))).toBe('signal');
    expect(await field(client.locks.acquire('jobs', { permits: 0 }))).toBe('permits');
    expect(await field(client.locks.acquire('jobs', { mode: 'shared', reentrant: true }))).toBe('reentrant');
    expect(await field(client.locks.release({ name: 'jobs', token: 0, mode: 'exclusive' }))).toBe('grant.token');
    expect(() => client.lock('')).toThrow(HikariError);
    expect(() => client.election('')).toThrow(HikariError);
    expect(lockRequests(peer)).toEqual([]);
  });

  test('without a session, locks fail with SESSION_EXPIRED and nothing is sent; lock.info needs none', async () => {
    const peer = await startPeer({ onRequest: (request) => request.respond({ name: 'jobs', permits: 1, holders: [], waiters: [], index: 9 }) });
    const client = await connect([peer], { session: false });
    expect((await rejection(client.locks.acquire('jobs'))).code).toBe(ErrorCode.SESSION_EXPIRED);
    expect((await rejection(client.locks.tryAcquire('jobs'))).code).toBe(ErrorCode.SESSION_EXPIRED);
    expect(await client.lockInfo('jobs', { stale: true })).toEqual({ name: 'jobs', permits: 1, holders: [], waiters: [], index: 9 });
    expect(lockRequests(peer)).toEqual([['lock.info', { name: 'jobs', stale: true }]]);
  });
});

describe('lock.wait in chunks (driver over a scripted port)', () => {
  test('a chunk that passes unanswered (TIMEOUT) sends lock.wait again with the same ticket', async () => {
    const calls: Array<[string, unknown, CallOptions]> = [];
    let waits = 0;
    const { driver } = ClusterLockDriver.open({
      sessions: true,
      sessionId: () => 'S',
      timeoutMs: 1000,
      waitChunkMs: 25,
      call: <O extends 'lock.acquire' | 'lock.wait' | 'lock.release' | 'lock.cancel' | 'lock.info'>(op: O, args: OpArgs<O>, options: CallOptions) => {
        calls.push([op, args, options]);
        if (op === 'lock.acquire') return Promise.resolve({ granted: false, ticket: 3, position: 0 } as OpResult<O>);
        if (++waits < 3) return Promise.reject(new HikariError(ErrorCode.TIMEOUT, { op, timeoutMs: options.timeoutMs ?? 0 }));
        return Promise.resolve({ token: 11 } as OpResult<O>);
      },
    });
    const grant: ClusterLockGrant = await driver.acquire('jobs');
    expect(grant).toMatchObject({ token: 11, ticket: 3, sessionId: 'S' });
    expect(calls.map(([op, args, options]) => [op, args, options.timeoutMs])).toEqual([
      ['lock.acquire', { name: 'jobs', mode: 'exclusive' }, 2 ** 31 - 1],
      ['lock.wait', { name: 'jobs', ticket: 3 }, 25],
      ['lock.wait', { name: 'jobs', ticket: 3 }, 25],
      ['lock.wait', { name: 'jobs', ticket: 3 }, 25],
    ]);
  });
});

describe('client helpers', () => {
  test('lock(name), withLock and lockInfo go through the driver; withLock releases when fn throws', async () => {
    let token = 0;
    const peer = await startPeer({
      onRequest: (request) => {
        if (request.op === 'lock.acquire') request.respond({ granted: true, token: ++token, ticket: 100 + token, count: 1 });
        if (request.op === 'lock.release') request.respond({ count: 0 });
      },
    });
    const client = await connect([peer]);
    const lock = client.lock('jobs');
    expect(await lock.acquire()).toBe(1);
    expect(lock.token).toBe(1);
    await lock.release();
    expect(await client.withLock('jobs', (grant) => `ran with ${grant.token} (ticket ${grant.ticket})`)).toBe('ran with 2 (ticket 102)');
    await expect(client.withLock('jobs', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(lockRequests(peer).map(([op, args]) => `${op} ${String(args.token ?? '')}`)).toEqual([
      'lock.acquire ',
      'lock.release 1',
      'lock.acquire ',
      'lock.release 2',
      'lock.acquire ',
      'lock.release 3',
    ]);
  });
});

describe('fenced writes', () => {
  test('create, set and delete with `fence` become a multi of a fence op and the write; the result keeps its shape', async () => {
    const peer = await startPeer({
      onRequest: (request) => {
        const [, op] = request.args.ops as Array<Record<string, unknown>>;
        const result =
          op!.op === 'create' ? { op: 'create', path: '/jobs/a', stat: stat() } : op!.op === 'set' ? { op: 'set', stat: stat({ version: 2 }) } : { op: 'delete' };
        request.respond({ results: [{ op: 'fence' }, result] });
      },
    });
    const client = await connect([peer]);
    const grant = { name: 'jobs', token: 17, mode: 'exclusive' as const };
    expect(await client.create('/jobs/a', 'x', { fence: grant, mode: 'ephemeral' })).toEqual({ path: '/jobs/a', stat: stat() });
    expect(await client.set('/jobs/a', 'y', { fence: { lock: 'jobs', token: 17 }, version: 1 })).toEqual({ stat: stat({ version: 2 }) });
    await expect(client.delete('/jobs/a', { fence: grant })).resolves.toBeUndefined();
    const fence = { op: 'fence', lock: 'jobs', token: 17 };
    expect(peer.received().map((request) => [request.op, request.args])).toEqual([
      ['multi', { ops: [fence, { op: 'create', path: '/jobs/a', data: Buffer.from('x'), mode: 'ephemeral' }], seq: 1 }],
      ['multi', { ops: [fence, { op: 'set', path: '/jobs/a', data: Buffer.from('y'), version: 1 }], seq: 2 }],
      ['multi', { ops: [fence, { op: 'delete', path: '/jobs/a' }], seq: 3 }],
    ]);
  });

  test('a stale token fails with FENCE_MISMATCH; a malformed fence is refused before sending', async () => {
    const peer = await startPeer({
      onRequest: (request) => request.fail(ErrorCode.FENCE_MISMATCH, { name: 'jobs', token: 3, opIndex: 0 }),
    });
    const client = await connect([peer]);
    const error = await rejection(client.set('/jobs/a', 'y', { fence: { lock: 'jobs', token: 3 } }));
    expect(error.code).toBe(ErrorCode.FENCE_MISMATCH);
    expect(error.details).toEqual({ name: 'jobs', token: 3, opIndex: 0 });
    expect((await rejection(client.set('/a', 'y', { fence: { lock: 'jobs', token: 0 } }))).details.field).toBe('fence.token');
    expect((await rejection(client.delete('/a', { fence: { lock: '', token: 1 } }))).details.field).toBe('fence.lock');
    expect((await rejection(client.create('/a', '', { fence: null as never }))).details.field).toBe('fence');
    expect(peer.received()).toHaveLength(1);
  });
});

describe('election', () => {
  test('campaign: an exclusive acquire of election:<name> with the value; elected, then resign releases it (lost: resigned)', async () => {
    const peer = await startPeer({
      onRequest: (request) => {
        if (request.op === 'lock.acquire') request.respond({ granted: false, ticket: 50, position: 1 });
        if (request.op === 'lock.release') request.respond({ count: 0 });
      },
    });
    const client = await connect([peer]);
    const election = client.election('scheduler');
    const events: string[] = [];
    election.on('elected', ({ token }) => events.push(`elected ${token}`));
    election.on('lost', ({ token, reason }) => events.push(`lost ${token} ${reason}`));
    const campaign = election.campaign('host-a:8080');
    expect(election.isLeader).toBe(false);
    const again = await rejection(election.campaign('twice'));
    expect(again.code).toBe(ErrorCode.INVALID_ARGUMENT);
    (await nextUnanswered(peer, 'lock.wait')).respond({ token: 61 });
    expect(await campaign).toEqual({ token: 61 });
    expect(election.isLeader).toBe(true);
    expect(election.token).toBe(61);
    await election.resign();
    expect(election.isLeader).toBe(false);
    await election.resign(); // not the leader: nothing to do
    expect(events).toEqual(['elected 61', 'lost 61 resigned']);
    expect(lockRequests(peer)).toEqual([
      ['lock.acquire', { name: 'election:scheduler', mode: 'exclusive', value: Buffer.from('host-a:8080'), seq: 1 }],
      ['lock.wait', { name: 'election:scheduler', ticket: 50 }],
      ['lock.release', { name: 'election:scheduler', token: 61, seq: 2 }],
    ]);
  });

  test('resign while campaigning withdraws the candidate: the campaign rejects with CANCELLED after lock.cancel', async () => {
    const peer = await startPeer({
      onRequest: (request) => {
        if (request.op === 'lock.acquire') request.respond({ granted: false, ticket: 50, position: 1 });
        if (request.op === 'lock.cancel') request.respond({ was: 'waiting' });
      },
    });
    const client = await connect([peer]);
    const election = client.election('scheduler');
    const campaign = election.campaign('me');
    await nextUnanswered(peer, 'lock.wait');
    await election.resign();
    expect((await rejection(campaign)).code).toBe(ErrorCode.CANCELLED);
    expect(lockRequests(peer).map(([op]) => op)).toEqual(['lock.acquire', 'lock.wait', 'lock.cancel']);
    expect(election.isLeader).toBe(false);
  });

  test('the session expires: isLeader turns false and `lost` says expired', async () => {
    const peer = await startPeer({ onRequest: (request) => request.respond({ granted: true, token: 9, ticket: 8, count: 1 }) });
    const client = await connect([peer]);
    const election = client.election('scheduler');
    const lost: unknown[] = [];
    election.on('lost', (event) => lost.push(event));
    await election.campaign('me');
    expect(election.isLeader).toBe(true);
    [...peer.connections][0]!.pushEvent('session', { sessionId: 's1', state: 'expired' });
    await eventually(() => lost.length === 1, 5000, 'lost');
    expect(lost).toEqual([{ token: 9, reason: 'expired' }]);
    expect(election.isLeader).toBe(false);
    expect(election.token).toBeNull();
  });

  test('leader() reads lock.info: its first holder, value as a Buffer; null without holders; BAD_FRAME when malformed', async () => {
    const answers = [
      { name: 'election:x', permits: 1, holders: [holder(12, 'sA', 'a:1', 44)], waiters: [{ ticket: 50, session: 'sB', mode: 'exclusive', value: null }], index: 60 },
      { name: 'election:x', permits: 1, holders: [], waiters: [], index: 61 },
      { name: 'election:x', permits: 1, holders: [{ ...holder(12, 'sA', 'a:1'), since: 'soon' }], waiters: [], index: 62 },
    ];
    const peer = await startPeer({ onRequest: (request) => request.respond(answers.shift()) });
    const client = await connect([peer]);
    const election = client.election('x');
    const leader = await election.leader();
    expect(leader).toEqual({ value: Buffer.from('a:1'), token: 12, sessionId: 'sA', since: 44 });
    expect(Buffer.isBuffer(leader!.value)).toBe(true);
    expect(await election.leader({ stale: true })).toBeNull();
    expect((await rejection(election.leader())).code).toBe(ErrorCode.BAD_FRAME);
    expect(peer.received().map((request) => request.args)).toEqual([
      { name: 'election:x' },
      { name: 'election:x', stale: true },
      { name: 'election:x' },
    ]);
    expect(leaderOf({ name: 'n', permits: 1, holders: [{ ...holder(3, 's', ''), value: null }], waiters: [], index: 1 })?.value).toEqual(Buffer.alloc(0));
  });

  test('observe(): a lock watch on election:<name>, the leader first, then a read after each change, duplicates left out', async () => {
    const infos = [
      { holders: [] },
      { holders: [holder(10, 'sA', 'a')] },
      { holders: [holder(10, 'sA', 'a')] }, // a change that did not change the leader (say, a waiter left)
      { holders: [holder(14, 'sB', 'b')] },
    ];
    const peer = await startPeer({
      onRequest: (request) => {
        if (request.op === 'watch') request.respond({ watchId: 1, index: 30 });
        if (request.op === 'unwatch') request.respond({});
        if (request.op === 'lock.info') request.respond({ name: 'election:x', permits: 1, waiters: [], index: 30, ...infos.shift() });
      },
    });
    const client = await connect([peer]);
    const controller = new AbortController();
    const seen: Array<LeaderInfo | null> = [];
    const observing = (async () => {
      for await (const leader of client.election('x').observe({ signal: controller.signal })) seen.push(leader);
    })();
    await eventually(() => seen.length === 1, 5000, 'the first leader');
    const watch = peer.received('watch')[0]!;
    expect(watch.args).toEqual({ path: 'election:x', kind: 'lock' });
    for (const index of [31, 32, 33]) {
      watch.connection.pushEvent('watch', { watchId: 1, index, type: 'changed', path: 'election:x' });
      await peer.waitForRequests(index - 29, 'lock.info');
    }
    await eventually(() => seen.length === 3, 5000, 'the changes');
    controller.abort();
    await observing; // ends without an error
    expect(seen.map((leader) => (leader === null ? null : `${leader.value.toString()} ${leader.token}`))).toEqual([null, 'a 10', 'b 14']);
    await peer.waitForRequests(1, 'unwatch');
  });
});
