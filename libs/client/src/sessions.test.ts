/**
 * The client's session against scripted peers (see scripted-peer.test.ts): what it sends, when, in
 * which order, and which events it emits. Peers answer session ops automatically unless a test
 * scripts them (`sessions: 'manual'`); short granted timeouts make keepalives come quickly.
 */
import { ErrorCode } from '@hikarikeeper/protocol';
import { HikariClient } from './client';
import { ClientEvents } from './events';
import { PeerRequest, ScriptedPeer, eventually, stat, usePeerFixture } from './scripted-peer.test';
import { rejection } from './testing/errors';

const { startPeer, connect } = usePeerFixture();

type LifecycleEvent = Exclude<keyof ClientEvents, 'event'>;
type Logged = { [E in LifecycleEvent]: [E, ClientEvents[E]] }[LifecycleEvent];

function recordEvents(client: HikariClient): Logged[] {
  const log: Logged[] = [];
  for (const name of ['connected', 'reconnected', 'suspended', 'expired', 'disconnected'] as const) {
    client.on(name, (event) => log.push([name, event] as Logged));
  }
  return log;
}

const names = (log: Logged[]): string[] => log.map(([name]) => name);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Blocks the event loop, as a long GC pause or a stopped process would. */
function pause(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until);
}


/** Answers session ops as a healthy leader granting `timeoutMs`, and creates. */
function healthy(timeoutMs: number, ids = { next: 1 }): (request: PeerRequest) => void {
  return (request) => {
    switch (request.op) {
      case 'session.open':
        return request.respond({ sessionId: `s${ids.next++}`, timeoutMs });
      case 'session.resume':
        return request.respond({ sessionId: request.args.sessionId, timeoutMs });
      case 'session.keepalive':
        return request.respond({ timeoutMs });
      case 'session.close':
        return request.respond({});
      case 'create':
        return request.respond({ path: request.args.path, stat: stat() });
    }
  };
}

describe('opening', () => {
  test('connect opens a session with the timeout asked for and shows it in client.session', async () => {
    const peer = await startPeer();
    const client = await connect([peer], { session: { timeoutMs: 30_000 } });
    expect(peer.sessionRequests.map((request) => [request.op, request.args])).toEqual([
      ['session.open', { timeoutMs: 30_000 }],
    ]);
    expect(client.session).toEqual({ id: 's1', timeoutMs: 30_000, state: 'connected' });
  });

  test('by default the session asks for 10 s; with `session: false` nothing session-related is sent', async () => {
    const peer = await startPeer();
    await connect([peer]);
    expect(peer.sessionRequests[0]!.args).toEqual({ timeoutMs: 10_000 });
    const other = await startPeer();
    const client = await connect([other], { session: false });
    expect(client.session).toBeNull();
    await client.close();
    expect(other.sessionRequests).toEqual([]);
  });

  test('a follower answers NOT_LEADER: the session is opened on the leader it names', async () => {
    const leader = await startPeer({ nodeId: 2 });
    const follower = await startPeer({
      sessions: 'manual',
      onRequest: (request) => request.fail(ErrorCode.NOT_LEADER, { leader: leader.address }),
    });
    const client = await connect([follower]);
    expect(follower.received('session.open')).toHaveLength(1);
    expect(leader.sessionRequests.map((request) => request.op)).toEqual(['session.open']);
    expect(client.endpoint).toBe(leader.address);
    expect(client.session?.state).toBe('connected');
  });

  test('a session.open refused for good fails connect at once with that error', async () => {
    const peer = await startPeer({
      sessions: 'manual',
      onRequest: (request) => request.fail(ErrorCode.UNKNOWN_OPERATION, { op: request.op }),
    });
    const started = Date.now();
    const error = await rejection(connect([peer], { timeoutMs: 5000 }));
    expect(error.code).toBe(ErrorCode.UNKNOWN_OPERATION);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('keepalives', () => {
  test('go every timeoutMs / 3 of the granted timeout, on their own', async () => {
    const peer = await startPeer({ sessionTimeoutMs: 300 });
    await connect([peer]);
    await sleep(1050);
    const keepalives = peer.sessionRequests.filter((request) => request.op === 'session.keepalive');
    // One per 100 ms: 10 in 1,050 ms, give or take timer jitter.
    expect(keepalives.length).toBeGreaterThanOrEqual(8);
    expect(keepalives.length).toBeLessThanOrEqual(11);
    expect(keepalives.every((request) => Object.keys(request.args).length === 0)).toBe(true);
  });

  test('a keepalive answered TOO_MANY_REQUESTS is sent again after a backoff, on the same connection', async () => {
    let refusals = 1;
    const answer = healthy(3000);
    const peer = await startPeer({
      sessions: 'manual',
      onRequest: (request) =>
        request.op === 'session.keepalive' && refusals-- > 0 ? request.fail(ErrorCode.TOO_MANY_REQUESTS) : answer(request),
    });
    const client = await connect([peer]); // first keepalive at 1,000 ms
    await peer.waitForRequests(2, 'session.keepalive', 1500); // the second well before the next tick (2,000 ms)
    expect(peer.accepted).toBe(1);
    expect(client.session?.state).toBe('connected');
  });

  test('a keepalive answered NOT_LEADER moves the session to the leader: suspended, resumed there, reconnected', async () => {
    const leader = await startPeer({ sessionTimeoutMs: 300, nodeId: 2 });
    const demoted = await startPeer({
      sessions: 'manual',
      onRequest: (request) =>
        request.op === 'session.open'
          ? request.respond({ sessionId: 'sA', timeoutMs: 300 })
          : request.fail(ErrorCode.NOT_LEADER, { leader: leader.address }),
    });
    const client = await connect([demoted]);
    const log = recordEvents(client);
    await eventually(() => names(log).includes('reconnected'), 3000, 'reconnected');
    expect(names(log)).toEqual(['disconnected', 'suspended', 'reconnected']);
    expect(log[1]![1]).toMatchObject({ sessionId: 'sA', error: { code: ErrorCode.NOT_LEADER } });
    expect(log[2]![1]).toMatchObject({ sessionId: 'sA', endpoint: leader.address, nodeId: 2 });
    expect(leader.sessionRequests.slice(0, 2).map((request) => [request.op, request.args])).toEqual([
      ['session.resume', { sessionId: 'sA' }],
      ['session.keepalive', {}],
    ]);
    expect(client.session).toEqual({ id: 'sA', timeoutMs: 300, state: 'connected' });
  });

  test('a keepalive left unanswered leaves that node (TIMEOUT), and the session resumes on another', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(0); // the stuck node first
    const stuck = await startPeer({
      sessions: 'manual',
      onRequest: (request) => {
        if (request.op === 'session.open') request.respond({ sessionId: 'sA', timeoutMs: 600 });
      },
    });
    const other = await startPeer({ sessionTimeoutMs: 600 });
    const client = await connect([stuck, other]);
    const log = recordEvents(client);
    await eventually(() => names(log).includes('reconnected'), 3000, 'reconnected');
    expect(names(log)).toEqual(['disconnected', 'suspended', 'reconnected']);
    expect(log[1]![1]).toMatchObject({ sessionId: 'sA', error: { code: ErrorCode.TIMEOUT } });
    expect(other.sessionRequests[0]!.args).toEqual({ sessionId: 'sA' });
    expect(client.endpoint).toBe(other.address);
  });

  test('keepalives bounced between two nodes naming each other are throttled: a resume is no proof of a leader', async () => {
    const a = await startPeer({ sessions: 'manual' });
    const b = await startPeer({ sessions: 'manual' });
    const script = (other: ScriptedPeer) => (request: PeerRequest) => {
      if (request.op === 'session.open') return request.respond({ sessionId: 'sA', timeoutMs: 1500 });
      if (request.op === 'session.resume') return request.respond({ sessionId: 'sA', timeoutMs: 1500 });
      request.fail(ErrorCode.NOT_LEADER, { leader: other.address });
    };
    a.options.onRequest = script(b);
    b.options.onRequest = script(a);
    await connect([a], { backoffInitialMs: 20, backoffMaxMs: 200 });
    await sleep(1500); // the first keepalive at 500 ms, then a second of ping-pong
    // Without backoff: a connection per round trip, hundreds in a second.
    expect(a.accepted + b.accepted).toBeLessThan(30);
    expect(a.accepted + b.accepted).toBeGreaterThan(4);
  });
});

describe('reconnecting', () => {
  test('the session is resumed on the new connection before anything else; calls in flight follow it', async () => {
    const peer = await startPeer({ sessions: 'manual', onRequest: healthy(10_000) });
    const client = await connect([peer]);
    const log = recordEvents(client);
    peer.options.onRequest = () => undefined; // the test answers
    const write = client.create('/e', 'x', { mode: 'ephemeral' });
    const [first] = await peer.waitForRequests(1, 'create');
    peer.destroyConnections();
    const [resume] = await peer.waitForRequests(1, 'session.resume');
    expect(resume!.args).toEqual({ sessionId: 's1' });
    await sleep(50);
    expect(peer.received('create')).toHaveLength(1); // nothing goes before the session is bound
    expect(names(log)).toEqual(['disconnected', 'suspended']);
    expect(client.session?.state).toBe('suspended');

    peer.options.onRequest = healthy(10_000);
    resume!.respond({ sessionId: 's1', timeoutMs: 10_000 });
    await write;
    const again = peer.received('create')[1]!;
    expect(again.args.seq).toBe(first!.args.seq);
    expect(again.connection).toBe(resume!.connection);
    const onNewConnection = peer.all.filter((request) => request.connection === resume!.connection);
    expect(onNewConnection[0]!.op).toBe('session.resume');
    await eventually(() => names(log).includes('reconnected'));
    expect(names(log)).toEqual(['disconnected', 'suspended', 'reconnected']);
    expect(log[2]![1]).toMatchObject({ sessionId: 's1', endpoint: peer.address });
    expect(client.session?.state).toBe('connected');
  });
});

describe('expiry', () => {
  test('a resume answered SESSION_EXPIRED: expired once, ephemeral creates in flight fail, a new session takes the rest', async () => {
    const ids = { next: 1 };
    const peer = await startPeer({ sessions: 'manual', onRequest: healthy(10_000, ids) });
    const client = await connect([peer]);
    const log = recordEvents(client);
    peer.options.onRequest = (request) => {
      if (request.op.startsWith('session.')) healthy(10_000, ids)(request);
    };
    const ephemeral = client.create('/e', '', { mode: 'ephemeral' });
    const inMulti = client.multi([{ op: 'create', path: '/m', mode: 'ephemeral_sequential' }]);
    const persistent = client.create('/p', '');
    await peer.waitUntil(() => peer.received('create').length === 2 && peer.received('multi').length === 1);
    peer.options.onRequest = (request) =>
      request.op === 'session.resume' ? request.fail(ErrorCode.SESSION_EXPIRED) : healthy(10_000, ids)(request);
    peer.destroyConnections();

    const expired = await rejection(ephemeral);
    expect(expired.code).toBe(ErrorCode.SESSION_EXPIRED);
    expect(expired.details).toEqual({ sessionId: 's1' });
    expect((await rejection(inMulti)).code).toBe(ErrorCode.SESSION_EXPIRED);
    expect(await persistent).toMatchObject({ path: '/p' });
    expect(peer.received('create').filter((request) => request.args.path === '/e')).toHaveLength(1); // never sent again
    await eventually(() => names(log).includes('connected'));
    expect(names(log)).toEqual(['disconnected', 'suspended', 'expired', 'connected']);
    expect(log[2]![1]).toEqual({ sessionId: 's1' });
    expect(log[3]![1]).toMatchObject({ sessionId: 's2', endpoint: peer.address });
    expect(client.session).toEqual({ id: 's2', timeoutMs: 10_000, state: 'connected' });
    const second = peer.received('session.resume')[0]!.connection;
    expect(peer.all.filter((request) => request.connection === second).map((request) => request.op).slice(0, 3)).toEqual([
      'session.resume',
      'session.open',
      'create',
    ]);
  });

  test('a pushed `session` event for the bound session: expired, then a new session; other ids are ignored', async () => {
    const peer = await startPeer();
    const client = await connect([peer]);
    const log = recordEvents(client);
    const [connection] = [...peer.connections];
    connection!.pushEvent('session', { sessionId: 'someone-else', state: 'expired' });
    connection!.pushEvent('session', { sessionId: 's1', state: 'expired' });
    connection!.pushEvent('session', { sessionId: 's1', state: 'expired' }); // said twice: heard once
    await eventually(() => names(log).includes('connected'));
    await sleep(50);
    expect(log).toEqual([
      ['expired', { sessionId: 's1' }],
      ['connected', expect.objectContaining({ sessionId: 's2' })],
    ]);
    expect(peer.sessionRequests.map((request) => request.op)).toEqual(['session.open', 'session.open']);
  });

  test('a keepalive answered SESSION_EXPIRED: expired, then a new session', async () => {
    let refused = false;
    const answer = healthy(300);
    const peer = await startPeer({
      sessions: 'manual',
      onRequest: (request) => {
        if (request.op === 'session.keepalive' && !refused) {
          refused = true;
          return request.fail(ErrorCode.SESSION_EXPIRED);
        }
        answer(request);
      },
    });
    const client = await connect([peer]);
    const log = recordEvents(client);
    await eventually(() => names(log).includes('connected'));
    expect(log).toEqual([
      ['expired', { sessionId: 's1' }],
      ['connected', expect.objectContaining({ sessionId: 's2' })],
    ]);
    expect(client.session?.id).toBe('s2');
  });

  test('an ephemeral create answered SESSION_EXPIRED fails with it, and the client opens a new session', async () => {
    const peer = await startPeer({
      onRequest: (request) => request.fail(ErrorCode.SESSION_EXPIRED, {}, 'session s1 has expired'),
    });
    const client = await connect([peer]);
    const log = recordEvents(client);
    expect((await rejection(client.create('/e', '', { mode: 'ephemeral' }))).code).toBe(ErrorCode.SESSION_EXPIRED);
    await eventually(() => names(log).includes('connected'));
    expect(log).toEqual([
      ['expired', { sessionId: 's1' }],
      ['connected', expect.objectContaining({ sessionId: 's2' })],
    ]);
  });

  describe('a process paused past its timeout', () => {
    /** A session granted 900 ms, then the event loop blocked for 1,000 ms; the first keepalive after it is held. */
    async function pausedClient() {
      let holding = false;
      const held: PeerRequest[] = [];
      const answer = healthy(900);
      const peer = await startPeer({
        sessions: 'manual',
        onRequest: (request) => {
          if (request.op === 'session.keepalive' && holding) held.push(request);
          else answer(request);
        },
      });
      const client = await connect([peer]);
      const log = recordEvents(client);
      await sleep(50);
      holding = true;
      pause(1000);
      await eventually(() => held.length === 1, 1000, 'the keepalive after the pause');
      return { client, log, keepalive: held[0]! };
    }

    test('state turns expired at once; the expired event waits for the server, which says SESSION_EXPIRED', async () => {
      const { client, log, keepalive } = await pausedClient();
      expect(client.session?.state).toBe('expired');
      expect(log).toEqual([]);
      keepalive.fail(ErrorCode.SESSION_EXPIRED);
      await eventually(() => names(log).includes('connected'));
      expect(log).toEqual([
        ['expired', { sessionId: 's1' }],
        ['connected', expect.objectContaining({ sessionId: 's2' })],
      ]);
      expect(client.session?.state).toBe('connected');
    });

    test('a keepalive the server still renews brings the same session back: reconnected', async () => {
      const { client, log, keepalive } = await pausedClient();
      expect(client.session?.state).toBe('expired');
      keepalive.respond({ timeoutMs: 900 });
      await eventually(() => names(log).includes('reconnected'));
      expect(log).toEqual([['reconnected', expect.objectContaining({ sessionId: 's1' })]]);
      expect(client.session).toEqual({ id: 's1', timeoutMs: 900, state: 'connected' });
    });
  });
});

describe('close', () => {
  test('sends session.close on the session connection, then closes the socket', async () => {
    const peer = await startPeer();
    const client = await connect([peer]);
    const log = recordEvents(client);
    await client.close();
    expect(peer.sessionRequests.map((request) => request.op)).toEqual(['session.open', 'session.close']);
    expect(log).toEqual([['disconnected', expect.objectContaining({ reconnecting: false })]]);
    expect(client.session).toEqual({ id: 's1', timeoutMs: 10_000, state: 'closed' });
  });

  test('waits for session.close at most the client timeout (and 2 s), then closes anyway', async () => {
    const peer = await startPeer({
      sessions: 'manual',
      onRequest: (request) => {
        if (request.op === 'session.open') request.respond({ sessionId: 'sA', timeoutMs: 10_000 });
      },
    });
    const client = await connect([peer], { timeoutMs: 300 });
    const started = Date.now();
    await client.close();
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(peer.received('session.close')).toHaveLength(1);
    await peer.waitUntil(() => peer.connections.size === 0);
  });

  test('while suspended, the session is resumed on the next connection to be closed there', async () => {
    const peer = await startPeer();
    const client = await connect([peer]);
    peer.options.sessions = 'manual'; // the reconnect's resume waits
    peer.destroyConnections();
    await peer.waitForRequests(1, 'session.resume');
    const closing = client.close();
    peer.options.sessions = 'auto';
    peer.received('session.resume')[0]!.respond({ sessionId: 's1', timeoutMs: 10_000 });
    await closing;
    expect(peer.sessionRequests.map((request) => request.op)).toEqual(['session.open', 'session.close']);
  });
});
