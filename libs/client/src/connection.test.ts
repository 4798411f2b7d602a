import { createServer, Server } from 'node:net';
import { encodeBody, ErrorCode, HelloResult, HikariError, MessageType, PROTOCOL_VERSION } from '@hikarikeeper/protocol';
import { Connection, ConnectionHooks } from './connection';
import { parseEndpoint } from './endpoints';
import { ServerEvent } from './events';
import { eventually, PeerRequest, ScriptedPeer } from './scripted-peer.test';

/** A connection to `address` whose hooks record what they see. */
function open(address: string, connectTimeoutMs = 2000) {
  const seen = {
    hello: null as HelloResult | null,
    events: [] as ServerEvent[],
    closedWith: null as HikariError | null,
    /** Order in which hooks and replies ran. */
    log: [] as string[],
  };
  const hooks: ConnectionHooks = {
    ready: (_connection, hello) => {
      seen.hello = hello;
      seen.log.push('ready');
    },
    event: (_connection, event) => seen.events.push(event),
    closed: (_connection, error) => {
      seen.closedWith = error;
      seen.log.push(`closed:${error.code}`);
    },
  };
  const connection = new Connection(
    parseEndpoint(address),
    { hello: { protocol: PROTOCOL_VERSION, clientId: 'client-1' }, connectTimeoutMs },
    hooks,
  );
  return { connection, seen };
}

/** Sends a request and returns a promise of its answer. */
function request(connection: Connection, op: string, args: object): Promise<{ error: HikariError | null; result: unknown }> {
  return new Promise((resolve) => connection.write(connection.encode(op, args), (error, result) => resolve({ error, result })));
}

async function openReady(peer: ScriptedPeer) {
  const opened = open(peer.address);
  await eventually(() => opened.seen.hello !== null || opened.seen.closedWith !== null, 5000, 'the handshake');
  expect(opened.seen.closedWith).toBeNull();
  return opened;
}

describe('Connection', () => {
  let peer: ScriptedPeer;
  const connections: Connection[] = [];

  beforeEach(async () => {
    peer = await ScriptedPeer.start({ nodeId: 3, leader: '127.0.0.1:9' });
  });

  afterEach(async () => {
    for (const connection of connections.splice(0)) {
      connection.close(new HikariError(ErrorCode.CANCELLED));
      await connection.socketClosed;
    }
    await peer.close();
    expect(peer.protocolErrors).toEqual([]);
  });

  async function ready() {
    const opened = await openReady(peer);
    connections.push(opened.connection);
    return opened;
  }

  test('sends hello first, with the protocol version and client id, and is open once it is answered', async () => {
    const { connection, seen } = await ready();
    expect(peer.hellos).toHaveLength(1);
    expect(peer.hellos[0]!.args).toEqual({ protocol: PROTOCOL_VERSION, clientId: 'client-1' });
    expect(connection.isOpen).toBe(true);
    expect(connection.nodeId).toBe(3);
    expect(seen.hello).toMatchObject({ nodeId: 3, clusterId: 'test', clientId: 'client-1', leader: '127.0.0.1:9' });
  });

  test('matches answers to requests by id, whatever order they come in', async () => {
    const { connection } = await ready();
    const answers = ['/a', '/b', '/c'].map((path) => request(connection, 'get', { path }));
    const received = await peer.waitForRequests(3, 'get');
    for (const each of [...received].reverse()) each.respond({ path: each.args.path });
    const results = await Promise.all(answers);
    expect(results.map((answer) => answer.result)).toEqual([{ path: '/a' }, { path: '/b' }, { path: '/c' }]);
    expect(connection.inFlightCount).toBe(0);
    expect(connection.inFlightBytes).toBe(0);
  });

  test('keeps a thousand requests in flight at once and matches every answer, shuffled', async () => {
    const { connection } = await ready();
    const count = 1000;
    const answers = Array.from({ length: count }, (_, index) => request(connection, 'get', { path: `/n${index}` }));
    const received = await peer.waitForRequests(count, 'get');
    expect(connection.inFlightCount).toBe(count);
    expect(new Set(received.map((each) => each.id)).size).toBe(count);
    const shuffled = [...received].sort(() => Math.random() - 0.5);
    for (const each of shuffled) each.respond({ path: each.args.path });
    const results = await Promise.all(answers);
    results.forEach((answer, index) => expect(answer).toEqual({ error: null, result: { path: `/n${index}` } }));
  });

  test('turns an error envelope into the HikariError of its code', async () => {
    const { connection } = await ready();
    const answer = request(connection, 'get', { path: '/missing' });
    (await peer.waitForRequests(1))[0]!.fail(ErrorCode.NO_NODE, { path: '/missing' });
    const { error } = await answer;
    expect(HikariError.is(error, ErrorCode.NO_NODE)).toBe(true);
    expect(error!.details).toEqual({ path: '/missing' });
  });

  test('hands server-pushed events to the event hook, interleaved with answers', async () => {
    const { connection, seen } = await ready();
    const answer = request(connection, 'get', { path: '/a' });
    const [received] = await peer.waitForRequests(1);
    received!.connection.pushEvent('watch', { path: '/a', type: 'changed' });
    received!.respond({ ok: true });
    received!.connection.pushEvent('brand.new.kind', null);
    await answer;
    await eventually(() => seen.events.length === 2);
    expect(seen.events).toEqual([
      { kind: 'watch', data: { path: '/a', type: 'changed' } },
      { kind: 'brand.new.kind', data: null },
    ]);
  });

  describe('closes with an error, without throwing, when the server breaks the protocol', () => {
    test.each<[string, (request: PeerRequest) => void, ErrorCode]>([
      ['a zero-length frame', (each) => each.connection.sendRaw(Buffer.from([0, 0, 0, 0])), ErrorCode.BAD_FRAME],
      ['a frame over the size limit', (each) => each.connection.sendRaw(Buffer.from([0xff, 0xff, 0xff, 0xff])), ErrorCode.TOO_LARGE],
      ['bytes that are not msgpack', (each) => each.connection.sendRaw(Buffer.from([0, 0, 0, 1, 0xc1])), ErrorCode.BAD_FRAME],
      [
        'an envelope with an unknown field',
        (each) => each.connection.sendRaw(frame({ t: MessageType.RESPONSE, id: each.id, r: null, x: 1 })),
        ErrorCode.BAD_FRAME,
      ],
      ['an answer to an id never sent', (each) => each.connection.send({ t: MessageType.RESPONSE, id: 999, r: null }), ErrorCode.BAD_FRAME],
      [
        'a request envelope',
        (each) => each.connection.send({ t: MessageType.REQUEST, id: 1, op: 'get', a: {} }),
        ErrorCode.BAD_FRAME,
      ],
      [
        'a second answer to the same id',
        (each) => {
          each.respond({});
          each.respond({});
        },
        ErrorCode.BAD_FRAME,
      ],
    ])('%s', async (_name, misbehave, code) => {
      const { connection, seen } = await ready();
      const answer = request(connection, 'get', { path: '/a' });
      const second = request(connection, 'get', { path: '/b' });
      misbehave((await peer.waitForRequests(2))[0]!);
      await eventually(() => seen.closedWith !== null, 5000, 'the close');
      expect(seen.closedWith!.code).toBe(code);
      expect(connection.isOpen).toBe(false);
      // Whatever was still in flight is answered CONNECTION_LOSS, after the closed hook, with the reason as cause.
      const { error } = await second;
      expect(error!.code).toBe(ErrorCode.CONNECTION_LOSS);
      expect(error!.cause).toBe(seen.closedWith);
      await answer;
      await connection.socketClosed;
      await eventually(() => peer.connections.size === 0, 5000, 'the peer to see the close');
    });
  });

  test('an error on id 0 (the node reporting a connection-level failure) closes with that error', async () => {
    const { connection, seen } = await ready();
    const answer = request(connection, 'get', { path: '/a' });
    const [received] = await peer.waitForRequests(1);
    received!.connection.send({ t: MessageType.ERROR, id: 0, e: { code: 'BAD_FRAME', message: 'malformed frame: x', details: { reason: 'x' } } });
    expect((await answer).error!.code).toBe(ErrorCode.CONNECTION_LOSS);
    expect(seen.closedWith).toMatchObject({ code: ErrorCode.BAD_FRAME, message: 'malformed frame: x' });
  });

  test('a peer that drops the connection fails everything in flight with CONNECTION_LOSS', async () => {
    const { connection, seen } = await ready();
    const answers = [request(connection, 'get', { path: '/a' }), request(connection, 'set', { path: '/a' })];
    await peer.waitForRequests(2);
    peer.destroyConnections();
    const results = await Promise.all(answers);
    expect(results.map((answer) => answer.error?.code)).toEqual([ErrorCode.CONNECTION_LOSS, ErrorCode.CONNECTION_LOSS]);
    expect(seen.log).toEqual(['ready', 'closed:CONNECTION_LOSS']);
    expect(seen.closedWith!.details.endpoint).toBe(peer.address);
  });

  test('a refused hello closes the connection with the refusal, never ready', async () => {
    await peer.close();
    peer = await ScriptedPeer.start({ helloError: { code: 'CLUSTER_MISMATCH', message: 'other cluster', details: { clusterId: 'x' } } });
    const { connection, seen } = open(peer.address);
    await eventually(() => seen.closedWith !== null);
    expect(seen.log).toEqual(['closed:CLUSTER_MISMATCH']);
    await connection.socketClosed;
  });

  test('a hello result for another client id is a protocol violation', async () => {
    await peer.close();
    peer = await ScriptedPeer.start({ helloOverrides: { clientId: 'someone-else' } });
    const { connection, seen } = open(peer.address);
    await eventually(() => seen.closedWith !== null);
    expect(seen.closedWith!.code).toBe(ErrorCode.BAD_FRAME);
    expect(seen.closedWith!.message).toMatch(/clientId/);
    await connection.socketClosed;
  });

  test('gives up with CONNECTION_LOSS when the handshake does not complete in time', async () => {
    const silent = await listenSilently();
    const { connection, seen } = open(silent.address, 100);
    await eventually(() => seen.closedWith !== null);
    expect(seen.closedWith!.code).toBe(ErrorCode.CONNECTION_LOSS);
    expect(seen.closedWith!.message).toMatch(/no handshake within 100 ms/);
    await connection.socketClosed;
    await new Promise((resolve) => silent.server.close(resolve));
  });

  test('a refused TCP connection closes with CONNECTION_LOSS carrying the socket error', async () => {
    const silent = await listenSilently();
    await new Promise((resolve) => silent.server.close(resolve)); // the port is now closed
    const { connection, seen } = open(silent.address);
    await eventually(() => seen.closedWith !== null);
    expect(seen.closedWith!.code).toBe(ErrorCode.CONNECTION_LOSS);
    expect((seen.closedWith!.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    await connection.socketClosed;
  });

  test('refuses to encode a frame over the limit with TOO_LARGE, before writing anything', async () => {
    const { connection } = await ready();
    expect(() => connection.encode('set', { path: '/a', data: Buffer.alloc(5 * 1024 * 1024) })).toThrow(
      expect.objectContaining({ code: ErrorCode.TOO_LARGE }),
    );
    expect(connection.inFlightCount).toBe(0);
  });
});

function frame(value: unknown): Buffer {
  const body = encodeBody(value);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  return Buffer.concat([header, body]);
}

/** A TCP server that accepts connections and never says a word. */
async function listenSilently(): Promise<{ server: Server; address: string }> {
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const close = server.close.bind(server);
  server.close = ((callback?: (error?: Error) => void) => {
    for (const socket of sockets) socket.destroy();
    return close(callback);
  }) as typeof server.close;
  return { server, address: `127.0.0.1:${port}` };
}
