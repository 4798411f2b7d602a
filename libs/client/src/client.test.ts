/**
 * HikariClient against scripted protocol peers (see scripted-peer.test.ts): what the SDK sends, in
 * which order, where, and what it makes of every kind of answer. The server's semantics are not
 * modelled; the peers answer exactly what each test scripts.
 */
import { ErrorCode, HikariError, IN_FLIGHT_BYTES_MAX, PROTOCOL_VERSION } from '@hikarikeeper/protocol';
import { HikariClient } from './client';
import { ClientEvents, DisconnectedEvent, ServerEvent } from './events';
import { PeerRequest, eventually, stat, usePeerFixture } from './scripted-peer.test';
import { rejection } from './testing/errors';

const { startPeer, connect, forgetPeer } = usePeerFixture();

type LifecycleEvent = Exclude<keyof ClientEvents, 'event'>;
const LIFECYCLE_EVENTS: LifecycleEvent[] = ['connected', 'reconnected', 'suspended', 'expired', 'disconnected'];

/** Records the client's connection and session events, in order. */
function recordEvents(client: HikariClient) {
  const log: Array<{ [E in LifecycleEvent]: [E, ClientEvents[E]] }[LifecycleEvent]> = [];
  for (const name of LIFECYCLE_EVENTS) client.on(name, (event) => log.push([name, event] as (typeof log)[number]));
  return log;
}


describe('connect', () => {
  test('handshakes with the protocol version and a random UUID client id', async () => {
    const peer = await startPeer();
    const client = await connect([peer]);
    expect(peer.hellos[0]!.args).toEqual({ protocol: PROTOCOL_VERSION, clientId: client.clientId });
    expect(client.clientId).toMatch(/^[0-9a-f-]{36}$/);
    expect(client.endpoint).toBe(peer.address);
  });

  test('fails at once with the refusal when a node refuses the handshake for good', async () => {
    const peer = await startPeer({ helloError: { code: 'CLUSTER_MISMATCH', message: 'no', details: { clusterId: 'x' } } });
    const started = Date.now();
    const error = await rejection(connect([peer], { timeoutMs: 5000 }));
    expect(error.code).toBe(ErrorCode.CLUSTER_MISMATCH);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  test('fails with TIMEOUT, the last connection error as its cause, when no node answers', async () => {
    const peer = await startPeer();
    const address = peer.address;
    await peer.close(); // nothing listens there any more
    forgetPeer(peer);
    const error = await rejection(
      HikariClient.connect({ endpoints: [address], timeoutMs: 300, backoffInitialMs: 10, backoffMaxMs: 50 }),
    );
    expect(error.code).toBe(ErrorCode.TIMEOUT);
    expect((error.cause as HikariError).code).toBe(ErrorCode.CONNECTION_LOSS);
  });

  test('rejects bad options with INVALID_ARGUMENT before connecting', async () => {
    expect((await rejection(HikariClient.connect({ endpoints: ['nope'] }))).code).toBe(ErrorCode.INVALID_ARGUMENT);
  });

  test('pins the cluster id learnt from the first node, and asks for it on every reconnect', async () => {
    const peer = await startPeer({ clusterId: 'prod-7' });
    const client = await connect([peer]);
    peer.destroyConnections();
    await peer.waitUntil(() => peer.hellos.length === 2);
    expect(peer.hellos[0]!.args.clusterId).toBeUndefined();
    expect(peer.hellos[1]!.args).toEqual({ protocol: PROTOCOL_VERSION, clientId: client.clientId, clusterId: 'prod-7' });
  });
});

describe('typed calls', () => {
  test('each method sends its op with the protocol arguments and returns the typed result', async () => {
    const peer = await startPeer();
    peer.options.onRequest = (request) => request.respond(answerFor(request));
    const client = await connect([peer]);

    const created = await client.create('/app/config', 'v1', { mode: 'persistent', ttlMs: 5000 });
    expect(created).toEqual({ path: '/app/config', stat: stat() });
    const got = await client.get('/app/config');
    expect(Buffer.isBuffer(got.data)).toBe(true);
    expect(got.data.toString()).toBe('value of /app/config');
    await client.get('/app/config', { stale: true });
    expect(await client.set('/app/config', new Uint8Array([1, 2]), { version: 3 })).toEqual({ stat: stat({ version: 4 }) });
    await expect(client.delete('/app/config', { version: 4 })).resolves.toBeUndefined();
    expect(await client.exists('/app/config')).toEqual({ stat: stat() });
    expect(await client.exists('/missing')).toBeNull();
    expect(await client.children('/app', { after: 'a', limit: 2 })).toEqual({ names: ['b', 'c'], more: false, stat: stat() });
    const multi = await client.multi([
      { op: 'check', path: '/app', version: 0 },
      { op: 'create', path: '/app/x', data: 'x' },
      { op: 'set', path: '/app/y', data: 'y' },
      { op: 'delete', path: '/app/z' },
    ]);
    expect(multi.results).toHaveLength(4);
    expect(await client.sync()).toEqual({ index: 42 });

    const sent = peer.requests.map((request) => [request.op, request.args]);
    expect(sent).toEqual([
      ['create', { path: '/app/config', data: Buffer.from('v1'), mode: 'persistent', ttlMs: 5000, seq: 1 }],
      ['get', { path: '/app/config' }],
      ['get', { path: '/app/config', stale: true }],
      ['set', { path: '/app/config', data: Buffer.from([1, 2]), version: 3, seq: 2 }],
      ['delete', { path: '/app/config', version: 4, seq: 3 }],
      ['exists', { path: '/app/config' }],
      ['exists', { path: '/missing' }],
      ['children', { path: '/app', after: 'a', limit: 2 }],
      [
        'multi',
        {
          ops: [
            { op: 'check', path: '/app', version: 0 },
            { op: 'create', path: '/app/x', data: Buffer.from('x'), mode: 'persistent' },
            { op: 'set', path: '/app/y', data: Buffer.from('y') },
            { op: 'delete', path: '/app/z' },
          ],
          seq: 4,
        },
      ],
      ['sync', {}],
    ]);
  });

  test('listChildren walks every page, each starting after the last name of the previous one', async () => {
    const peer = await startPeer();
    const pages: Record<string, { names: string[]; more: boolean }> = {
      '': { names: ['a', 'b'], more: true },
      b: { names: ['c', 'd'], more: true },
      d: { names: ['e'], more: false },
    };
    peer.options.onRequest = (request) =>
      request.respond({ ...pages[String(request.args.after ?? '')], stat: stat() });
    const client = await connect([peer]);
    const names: string[] = [];
    for await (const name of client.listChildren('/app', { pageSize: 2 })) names.push(name);
    expect(names).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(peer.requests.map((request) => request.args)).toEqual([
      { path: '/app', limit: 2 },
      { path: '/app', after: 'b', limit: 2 },
      { path: '/app', after: 'd', limit: 2 },
    ]);
  });

  test('a non-retryable error is thrown at once, as the HikariError of its code, without a retry', async () => {
    const peer = await startPeer();
    peer.options.onRequest = (request) => request.fail(ErrorCode.BAD_VERSION, { path: '/a', expected: 3 });
    const client = await connect([peer]);
    const error = await rejection(client.set('/a', 'x', { version: 3 }));
    expect(error).toBeInstanceOf(HikariError);
    expect(error.code).toBe(ErrorCode.BAD_VERSION);
    expect(error.details).toEqual({ path: '/a', expected: 3 });
    expect(peer.requests).toHaveLength(1);
  });

  test('refuses invalid paths and data over the node limit before sending anything', async () => {
    const peer = await startPeer({ limits: { dataBytesMax: 100 } });
    const client = await connect([peer]);
    const tooLarge = await rejection(client.set('/a', Buffer.alloc(101)));
    expect(tooLarge.code).toBe(ErrorCode.TOO_LARGE);
    expect(tooLarge.details).toEqual({ what: 'data', size: 101, limit: 100 });
    const inMulti = await rejection(client.multi([{ op: 'create', path: '/b', data: Buffer.alloc(101) }]));
    expect(inMulti.details).toMatchObject({ what: 'ops[0].data', size: 101 });
    expect((await rejection(client.get('no/slash'))).code).toBe(ErrorCode.INVALID_PATH);
    expect((await rejection(client.set('/a', 42 as unknown as string))).code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect((await rejection(client.get('/a', { timeoutMs: -1 }))).code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(peer.requests).toHaveLength(0);
  });

  test('a result of the wrong shape fails that call with BAD_FRAME and leaves the connection up', async () => {
    const peer = await startPeer();
    peer.options.onRequest = (request) => request.respond({ data: 'not bytes', stat: stat() });
    const client = await connect([peer]);
    expect((await rejection(client.get('/a'))).code).toBe(ErrorCode.BAD_FRAME);
    expect(client.endpoint).toBe(peer.address);
  });
});

describe('one connection, many calls', () => {
  test('answers are matched to calls by id, in whatever order they come', async () => {
    const peer = await startPeer();
    const client = await connect([peer]);
    const calls = ['/a', '/b', '/c'].map((path) => client.get(path));
    const received = await peer.waitForRequests(3);
    for (const request of [...received].reverse()) request.respond(answerFor(request));
    const results = await Promise.all(calls);
    expect(results.map((result) => result.data.toString())).toEqual(['value of /a', 'value of /b', 'value of /c']);
  });

  test('two thousand reads are in flight at once and each gets its own answer', async () => {
    const peer = await startPeer();
    const client = await connect([peer]);
    const count = 2000;
    const calls = Array.from({ length: count }, (_, index) => client.get(`/n${index}`));
    const received = await peer.waitForRequests(count);
    expect(peer.unanswered()).toHaveLength(count);
    for (const request of [...received].sort(() => Math.random() - 0.5)) request.respond(answerFor(request));
    const results = await Promise.all(calls);
    results.forEach((result, index) => expect(result.data.toString()).toBe(`value of /n${index}`));
  });

  test('at most 128 writes are outstanding; the rest wait their turn, then go out with the next seqs', async () => {
    const peer = await startPeer();
    let highWater = 0;
    peer.options.onRequest = () => (highWater = Math.max(highWater, peer.unanswered('create').length));
    const client = await connect([peer]);
    const writes = Array.from({ length: 300 }, (_, index) => client.create(`/w${index}`, ''));
    await peer.waitForRequests(128, 'create');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(peer.received('create')).toHaveLength(128);
    while (peer.received('create').length < 300 || peer.unanswered('create').length > 0) {
      for (const request of peer.unanswered('create').slice(0, 50)) request.respond(answerFor(request));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await Promise.all(writes);
    expect(highWater).toBe(128);
    const seqs = peer.received('create').map((request) => request.args.seq);
    expect(seqs).toEqual(Array.from({ length: 300 }, (_, index) => index + 1));
  });

  test('large writes in flight stay within IN_FLIGHT_BYTES_MAX; the others wait for room', async () => {
    const peer = await startPeer();
    let highWater = 0;
    peer.options.onRequest = () => (highWater = Math.max(highWater, peer.unanswered('set').length));
    const client = await connect([peer]);
    const data = Buffer.alloc(1_000_000, 1);
    const writes = Array.from({ length: 80 }, (_, index) => client.set(`/big${index}`, data));
    await peer.waitForRequests(60, 'set');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const fitting = Math.floor(IN_FLIGHT_BYTES_MAX / 1_000_050);
    expect(peer.received('set').length).toBeLessThanOrEqual(fitting);
    while (peer.received('set').length < 80 || peer.unanswered('set').length > 0) {
      for (const request of peer.unanswered('set')) request.respond(answerFor(request));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await Promise.all(writes);
    expect(highWater).toBeLessThanOrEqual(fitting);
    expect(highWater).toBeGreaterThan(fitting - 5);
  });

  test('calls over pendingRequestsMax waiting to be sent fail at once with TOO_MANY_REQUESTS', async () => {
    const peer = await startPeer();
    const client = await connect([peer], { writesInFlightMax: 1, pendingRequestsMax: 3 });
    const sent = client.create('/0', '');
    const queued = [client.create('/1', ''), client.create('/2', ''), client.create('/3', '')];
    const refused = await rejection(client.create('/4', ''));
    expect(refused.code).toBe(ErrorCode.TOO_MANY_REQUESTS);
    expect(refused.details).toMatchObject({ limit: 3 });
    peer.options.onRequest = (request) => request.respond(answerFor(request));
    (await peer.waitForRequests(1))[0]!.respond(answerFor(peer.requests[0]!));
    await Promise.all([sent, ...queued]);
  });

  test('server-pushed events reach event listeners', async () => {
    const peer = await startPeer();
    const client = await connect([peer]);
    const events: ServerEvent[] = [];
    client.on('event', (event) => events.push(event));
    const watchEvent = { watchId: 9, index: 3, type: 'changed', path: '/a' }; // an id this client never had
    for (const connection of peer.connections) {
      connection.pushEvent('watch', watchEvent);
      connection.pushEvent('something.new', [1, 2]);
    }
    await eventually(() => events.length === 2);
    expect(events).toEqual([
      { kind: 'watch', data: watchEvent },
      { kind: 'something.new', data: [1, 2] },
    ]);
  });
});

describe('writes go to the leader', () => {
  test('a NOT_LEADER naming the leader moves the connection there, and the write follows with its seq', async () => {
    const leader = await startPeer({ nodeId: 2 });
    leader.options.onRequest = (request) => request.respond(answerFor(request));
    const follower = await startPeer({ nodeId: 1, leader: leader.address });
    follower.options.onRequest = (request) =>
      request.op === 'get' ? request.respond(answerFor(request)) : request.fail(ErrorCode.NOT_LEADER, { leader: leader.address });
    const client = await connect([follower]);
    const log = recordEvents(client);

    // Reads are served by the node the client is connected to.
    await client.get('/a');
    expect(follower.received('get')).toHaveLength(1);

    const created = await client.create('/a', 'x');
    expect(created.path).toBe('/a');
    expect(follower.received('create')).toHaveLength(1);
    expect(leader.received('create')).toHaveLength(1);
    expect(leader.received('create')[0]!.args.seq).toBe(follower.received('create')[0]!.args.seq);
    expect(client.endpoint).toBe(leader.address);
    await eventually(() => log.length === 3);
    expect(log.map(([name, event]) => [name, 'endpoint' in event ? event.endpoint : undefined])).toEqual([
      ['disconnected', follower.address],
      ['suspended', undefined],
      ['reconnected', leader.address],
    ]);
    expect((log[0]![1] as DisconnectedEvent).error.code).toBe(ErrorCode.NOT_LEADER);
    expect(log[2]![1]).toMatchObject({ nodeId: 2, clusterId: 'test', sessionId: client.session!.id });
  });

  test('many writes told NOT_LEADER at once move the connection once', async () => {
    const leader = await startPeer();
    leader.options.onRequest = (request) => request.respond(answerFor(request));
    const follower = await startPeer({ leader: leader.address });
    follower.options.onRequest = (request) => request.fail(ErrorCode.NOT_LEADER, { leader: leader.address });
    const client = await connect([follower]);
    await Promise.all(Array.from({ length: 50 }, (_, index) => client.create(`/w${index}`, '')));
    expect(leader.accepted).toBe(1);
    expect(follower.accepted).toBe(1);
    const seqs = leader.received('create').map((request) => request.args.seq as number);
    expect(new Set(seqs).size).toBe(50);
  });

  test('a NOT_LEADER without a leader tries the next endpoint, keeping the seq', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(0); // start at the first endpoint
    const follower = await startPeer();
    follower.options.onRequest = (request) => request.fail(ErrorCode.NOT_LEADER);
    const leader = await startPeer();
    leader.options.onRequest = (request) => request.respond(answerFor(request));
    const client = await connect([follower, leader]);
    expect(client.endpoint).toBe(follower.address);
    await client.set('/a', 'x');
    expect(leader.received('set')[0]!.args.seq).toBe(follower.received('set')[0]!.args.seq);
    expect(client.endpoint).toBe(leader.address);
  });

  test.each([ErrorCode.NO_LEADER, ErrorCode.UNAVAILABLE, ErrorCode.SHUTTING_DOWN])(
    '%s moves on to the next endpoint',
    async (code) => {
      jest.spyOn(Math, 'random').mockReturnValue(0);
      const sick = await startPeer();
      sick.options.onRequest = (request) => request.fail(code);
      const healthy = await startPeer();
      healthy.options.onRequest = (request) => request.respond(answerFor(request));
      const client = await connect([sick, healthy]);
      await client.get('/a');
      expect(sick.received('get')).toHaveLength(1);
      expect(healthy.received('get')).toHaveLength(1);
    },
  );
  test('a leader hint that cannot be reached falls back to the configured endpoints', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(0);
    const follower = await startPeer();
    follower.options.onRequest = (request) => request.fail(ErrorCode.NOT_LEADER, { leader: '127.0.0.1:1' });
    const leader = await startPeer();
    leader.options.onRequest = (request) => request.respond(answerFor(request));
    const client = await connect([follower, leader]);
    await client.create('/a', 'x');
    expect(client.endpoint).toBe(leader.address);
  });

  test('two nodes naming each other forever are not hammered: repeated names wait their backoff', async () => {
    const a = await startPeer();
    const b = await startPeer();
    a.options.onRequest = (request) => request.fail(ErrorCode.NOT_LEADER, { leader: b.address });
    b.options.onRequest = (request) => request.fail(ErrorCode.NOT_LEADER, { leader: a.address });
    // Without a session: nothing but the write itself names the other node (see the session test).
    const client = await connect([a], { backoffInitialMs: 20, backoffMaxMs: 200, session: false });
    const error = await rejection(client.create('/a', 'x', { timeoutMs: 1000 }));
    expect(error.code).toBe(ErrorCode.TIMEOUT);
    expect((error.cause as HikariError).code).toBe(ErrorCode.NOT_LEADER);
    // Without backoff, this loop makes a connection per round trip: hundreds in a second.
    expect(a.accepted + b.accepted).toBeLessThan(30);
    expect(a.accepted + b.accepted).toBeGreaterThan(4);
  });
});

describe('retries and failover', () => {
  test('a write retried after TOO_MANY_REQUESTS keeps its seq, on the same connection; the next write gets the next seq', async () => {
    const peer = await startPeer();
    let refusals = 1;
    peer.options.onRequest = (request) =>
      refusals-- > 0 ? request.fail(ErrorCode.TOO_MANY_REQUESTS, { limit: 1 }) : request.respond(answerFor(request));
    const client = await connect([peer]);
    await client.set('/a', 'x');
    await client.set('/a', 'y');
    expect(peer.received('set').map((request) => request.args.seq)).toEqual([1, 1, 2]);
    expect(peer.received('set')[1]!.args).toEqual(peer.received('set')[0]!.args);
    expect(peer.accepted).toBe(1);
  });

  test('a write is not sent again past half the client retention the node announced: TIMEOUT, outcome unknown', async () => {
    const peer = await startPeer({ limits: { writeRetentionMs: 400 } });
    peer.options.onRequest = (request) => request.fail(ErrorCode.TOO_MANY_REQUESTS, { limit: 1 });
    const client = await connect([peer], { session: false, backoffInitialMs: 60, backoffMaxMs: 60, timeoutMs: 10_000 });
    const started = Date.now();
    const error = await rejection(client.set('/a', 'x'));
    expect(error.code).toBe(ErrorCode.TIMEOUT);
    expect(error.details.reason).toMatch(/not sent again/);
    expect((error.cause as HikariError).code).toBe(ErrorCode.TOO_MANY_REQUESTS);
    expect(Date.now() - started).toBeLessThan(5_000); // long before the call's own deadline
    const sent = peer.received('set');
    expect(sent.length).toBeGreaterThanOrEqual(2); // it was retried while that was safe,
    expect(new Set(sent.map((request) => request.args.seq))).toEqual(new Set([1])); // always with its seq
  });

  test('a write first sent in the session the client still has is re-sent past that point, until its deadline (the cluster keeps a live session\'s outcomes)', async () => {
    const peer = await startPeer({ limits: { writeRetentionMs: 200 } });
    peer.options.onRequest = (request) => (request.op === 'set' ? request.fail(ErrorCode.TOO_MANY_REQUESTS, { limit: 1 }) : request.respond(answerFor(request)));
    const client = await connect([peer], { backoffInitialMs: 50, backoffMaxMs: 50, timeoutMs: 1_000 });
    expect(client.session?.id).toEqual(expect.any(String));
    const started = Date.now();
    const error = await rejection(client.set('/a', 'x'));
    expect(error.code).toBe(ErrorCode.TIMEOUT);
    expect(error.details.reason).toBeUndefined(); // the call's own deadline, not the retention guard
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(peer.received('set').length).toBeGreaterThan(5);
  });

  test('when the connection drops, calls in flight are sent again on the new connection, writes with the same seq', async () => {
    const peer = await startPeer();
    const client = await connect([peer]);
    const log = recordEvents(client);
    const calls = [client.get('/a'), client.set('/a', 'x'), client.create('/b', 'y')];
    const first = await peer.waitForRequests(3);
    const firstSeqs = first.filter((request) => request.op !== 'get').map((request) => request.args.seq);
    peer.options.onRequest = (request) => request.respond(answerFor(request));
    peer.destroyConnections();
    await Promise.all(calls);
    expect(peer.requests.slice(3).map((request) => request.op)).toEqual(['get', 'set', 'create']);
    expect(peer.requests.slice(4).map((request) => request.args.seq)).toEqual(firstSeqs);
    expect(peer.hellos.map((hello) => hello.args.clientId)).toEqual([client.clientId, client.clientId]);
    await eventually(() => log.length === 3);
    expect(log.map(([name]) => name)).toEqual(['disconnected', 'suspended', 'reconnected']);
    expect(log[0]![1]).toMatchObject({ endpoint: peer.address, reconnecting: true });
    expect((log[0]![1] as DisconnectedEvent).error.code).toBe(ErrorCode.CONNECTION_LOSS);
  });

  test('when a node dies, the client fails over to another endpoint and sends the calls in flight there', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(0);
    const doomed = await startPeer();
    const survivor = await startPeer();
    survivor.options.onRequest = (request) => request.respond(answerFor(request));
    const client = await connect([doomed, survivor]);
    const write = client.create('/a', 'x');
    const [sent] = await doomed.waitForRequests(1);
    await doomed.close();
    forgetPeer(doomed);
    await write;
    expect(survivor.received('create')[0]!.args.seq).toBe(sent!.args.seq);
    expect(client.endpoint).toBe(survivor.address);
  });

  test('garbage from the server closes that connection with BAD_FRAME, never a crash, and the client carries on', async () => {
    const peer = await startPeer();
    const client = await connect([peer]);
    const log = recordEvents(client);
    const read = client.get('/a');
    const [request] = await peer.waitForRequests(1);
    request!.connection.sendRaw(Buffer.from([0, 0, 0, 0]));
    await eventually(() => log.length >= 1);
    expect(log[0]![0]).toBe('disconnected');
    expect((log[0]![1] as DisconnectedEvent).error.code).toBe(ErrorCode.BAD_FRAME);
    peer.options.onRequest = (each) => each.respond(answerFor(each));
    expect((await read).data.toString()).toBe('value of /a');
  });

  test('an answer to an unknown request id closes the connection; the call in flight is sent again', async () => {
    const peer = await startPeer();
    const client = await connect([peer]);
    const log = recordEvents(client);
    const read = client.get('/a');
    const [request] = await peer.waitForRequests(1);
    request!.connection.send({ t: 2, id: 424242, r: null });
    peer.options.onRequest = (each) => each.respond(answerFor(each));
    await read;
    expect((log[0]![1] as DisconnectedEvent).error.message).toMatch(/424242/);
  });
});

describe('deadlines and cancellation', () => {
  test('a call made while no node can be reached fails with TIMEOUT, the connection error as its cause', async () => {
    const peer = await startPeer();
    const client = await connect([peer]);
    await peer.close();
    forgetPeer(peer);
    const error = await rejection(client.get('/a', { timeoutMs: 200 }));
    expect(error.code).toBe(ErrorCode.TIMEOUT);
    expect((error.cause as HikariError).code).toBe(ErrorCode.CONNECTION_LOSS);
  });

  test('a call unanswered by its deadline fails with TIMEOUT; its late answer is ignored and the connection stays', async () => {
    const peer = await startPeer();
    const client = await connect([peer]);
    const log = recordEvents(client);
    const started = Date.now();
    const error = await rejection(client.get('/slow', { timeoutMs: 100 }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(error.code).toBe(ErrorCode.TIMEOUT);
    expect(error.details).toEqual({ op: 'get', timeoutMs: 100 });
    expect(error.retryable).toBe(true);
    peer.requests[0]!.respond(answerFor(peer.requests[0]!)); // too late
    peer.options.onRequest = (request) => request.respond(answerFor(request));
    expect((await client.get('/next')).data.toString()).toBe('value of /next');
    expect(log).toEqual([]);
  });

  test('a write that keeps failing over is retried until its deadline, then fails with TIMEOUT and the last error as cause', async () => {
    const peer = await startPeer();
    peer.options.onRequest = (request) => request.fail(ErrorCode.TOO_MANY_REQUESTS);
    const client = await connect([peer]);
    const error = await rejection(client.set('/a', 'x', { timeoutMs: 300 }));
    expect(error.code).toBe(ErrorCode.TIMEOUT);
    expect(error.indeterminate).toBe(true);
    expect((error.cause as HikariError).code).toBe(ErrorCode.TOO_MANY_REQUESTS);
    const seqs = new Set(peer.received('set').map((request) => request.args.seq));
    expect(peer.received('set').length).toBeGreaterThan(1);
    expect(seqs).toEqual(new Set([1]));
  });

  test('aborting rejects with CANCELLED at once, even though the request was sent', async () => {
    const peer = await startPeer();
    const client = await connect([peer]);
    const controller = new AbortController();
    const write = client.set('/a', 'x', { signal: controller.signal });
    await peer.waitForRequests(1);
    controller.abort(new Error('user gave up'));
    const error = await rejection(write);
    expect(error.code).toBe(ErrorCode.CANCELLED);
    expect(error.indeterminate).toBe(true);
    expect((error.cause as Error).message).toBe('user gave up');
    // The late answer is dropped without disturbing the connection.
    peer.requests[0]!.respond(answerFor(peer.requests[0]!));
    peer.options.onRequest = (request) => request.respond(answerFor(request));
    await client.get('/b');
  });

  test('an already aborted signal rejects with CANCELLED without sending anything', async () => {
    const peer = await startPeer();
    const client = await connect([peer]);
    const error = await rejection(client.create('/a', 'x', { signal: AbortSignal.abort() }));
    expect(error.code).toBe(ErrorCode.CANCELLED);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(peer.requests).toHaveLength(0);
  });

  test('aborting a queued write frees its place: the next write takes the window', async () => {
    const peer = await startPeer();
    const client = await connect([peer], { writesInFlightMax: 1 });
    const first = client.create('/1', '');
    const controller = new AbortController();
    const second = client.create('/2', '', { signal: controller.signal });
    const third = client.create('/3', '');
    await peer.waitForRequests(1);
    controller.abort();
    expect((await rejection(second)).code).toBe(ErrorCode.CANCELLED);
    peer.options.onRequest = (request) => request.respond(answerFor(request));
    peer.requests[0]!.respond(answerFor(peer.requests[0]!));
    await Promise.all([first, third]);
    expect(peer.requests.map((request) => request.args.path)).toEqual(['/1', '/3']);
  });
});

describe('close', () => {
  test('fails pending calls with CANCELLED, is idempotent, refuses later calls, and leaves no socket or timer behind', async () => {
    const baseline = activeResources();
    const peer = await startPeer();
    const client = await connect([peer]);
    const log = recordEvents(client);
    const pending = [client.get('/a'), client.set('/a', 'x', { timeoutMs: 60_000 })];
    await peer.waitForRequests(2);
    const closing = client.close();
    expect(client.close()).toBe(closing);
    await closing;
    for (const call of pending) expect((await rejection(call)).code).toBe(ErrorCode.CANCELLED);
    expect((await rejection(client.get('/b'))).code).toBe(ErrorCode.CANCELLED);
    expect(client.endpoint).toBeNull();
    expect(log).toHaveLength(1);
    expect(log[0]![1]).toMatchObject({ endpoint: peer.address, reconnecting: false });
    await peer.waitUntil(() => peer.connections.size === 0);
    await peer.close();
    forgetPeer(peer);
    await eventually(() => sameResources(activeResources(), baseline), 2000, 'handles to be released');
  });

  test('closing while reconnecting stops the reconnect loop', async () => {
    const baseline = activeResources();
    const peer = await startPeer();
    const client = await connect([peer]);
    await peer.close(); // nothing listens any more: every attempt fails, the client keeps trying
    forgetPeer(peer);
    // The module object itself (an `import * as` namespace would be a copy that the SDK never calls).
    const dials = jest.spyOn(require('node:net') as typeof import('node:net'), 'connect');
    await eventually(() => dials.mock.calls.length >= 2, 2000, 'reconnect attempts');
    await client.close();
    const dialsAtClose = dials.mock.calls.length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(dials.mock.calls.length).toBe(dialsAtClose);
    await eventually(() => sameResources(activeResources(), baseline), 2000, 'handles to be released');
  });
});

/** What a well-behaved node might answer to `request` (shapes only; no semantics). */
function answerFor(request: PeerRequest): unknown {
  const path = String(request.args.path);
  switch (request.op) {
    case 'create':
      return { path, stat: stat() };
    case 'get':
      return { data: Buffer.from(`value of ${path}`), stat: stat() };
    case 'set':
      return { stat: stat({ version: 4 }) };
    case 'delete':
      return {};
    case 'exists':
      return path === '/missing' ? null : { stat: stat() };
    case 'children':
      return { names: ['b', 'c'], more: false, stat: stat() };
    case 'multi':
      return {
        results: [
          { op: 'check' },
          { op: 'create', path: '/app/x', stat: stat() },
          { op: 'set', stat: stat() },
          { op: 'delete' },
        ],
      };
    case 'sync':
      return { index: 42 };
    default:
      throw new Error(`no scripted answer for ${request.op}`);
  }
}

function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

function sameResources(now: Record<string, number>, before: Record<string, number>): boolean {
  return ['TCPSocketWrap', 'TCPServerWrap', 'Timeout'].every((name) => (now[name] ?? 0) <= (before[name] ?? 0));
}
