import * as net from 'node:net';
import { encodeFrame, ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { EntryType, message, MessageType } from '@hikarikeeper/raft';
import { encodeHelloAnswer } from './control-frames';
import { encodeMessages } from './peer-codec';
import { freePort, heartbeat, meshPeers, RawPeer, sleep, StuckAcceptor, TestNode, waitFor } from './testing';

const MiB = 1024 * 1024;

let nodes: TestNode[] = [];
const cleanups: Array<() => Promise<void> | void> = [];

async function start(id: number, options?: ConstructorParameters<typeof TestNode>[1]): Promise<TestNode> {
  const node = await TestNode.start(id, options);
  nodes.push(node);
  return node;
}

afterEach(async () => {
  await Promise.all(nodes.map((n) => n.transport.stop()));
  for (const cleanup of cleanups.splice(0)) await cleanup();
  nodes = [];
});

function app(from: number, to: number, index: number, dataBytes: number) {
  const data = Buffer.alloc(dataBytes, index % 251);
  return message({ type: MessageType.App, from, to, term: 1, index: index - 1, entries: [{ term: 1, index, type: EntryType.Normal, data }] });
}

describe('TcpTransport', () => {
  test('three nodes talk in both directions over one connection per pair, dialed by the lower id', async () => {
    const [n1, n2, n3] = [await start(1), await start(2), await start(3)];
    meshPeers([n1!, n2!, n3!]);
    await waitFor(() => nodes.every((n) => nodes.every((p) => p === n || n.connectedTo(p.id))), 'a full mesh');
    for (const from of nodes) from.transport.send(nodes.filter((to) => to !== from).map((to) => heartbeat(from.id, to.id, 7)));
    await waitFor(() => nodes.every((n) => n.received.length === 2), 'two messages per node');
    for (const n of nodes) {
      expect(n.received.map((m) => m.from).sort()).toEqual(nodes.filter((p) => p !== n).map((p) => p.id));
      expect(n.received.every((m) => m.to === n.id && m.commit === 7)).toBe(true);
    }
    const stats = nodes.map((n) => n.transport.stats());
    expect(stats.map((s) => s.connectionsOpen)).toEqual([2, 2, 2]); // each end of 3 sockets
    expect(stats.map((s) => s.connectionsDialed)).toEqual([2, 1, 0]);
    expect(stats.map((s) => s.connectionsAccepted)).toEqual([0, 1, 2]);
  });

  test('onDisconnected: told on both sides when a peer goes away, not when this node drops the peer from its list', async () => {
    const [n1, n2, n3] = [await start(1), await start(2), await start(3)];
    meshPeers([n1!, n2!, n3!]);
    await waitFor(() => nodes.every((n) => nodes.every((p) => p === n || n.connectedTo(p.id))), 'a full mesh');
    await n2!.transport.stop(); // the dialer (n1) and the acceptor (n3) of n2's connections both see them go
    await waitFor(() => n1!.disconnected.includes(2) && n3!.disconnected.includes(2), 'both told');
    expect([n1!.disconnected, n3!.disconnected]).toEqual([[2], [2]]);
    n1!.transport.setPeers([]); // n1 forgets n3, which is connected: n1 closes it itself
    await waitFor(() => n3!.disconnected.includes(1), 'n3 told of n1');
    await sleep(100);
    expect(n1!.disconnected).toEqual([2]); // nothing about n3: its own doing
  });

  test('100 messages sent in one event-loop turn travel in one frame, in order', async () => {
    const [n1, n2] = [await start(1), await start(2)];
    meshPeers([n1!, n2!]);
    await waitFor(() => n1!.connectedTo(2) && n2!.connectedTo(1), 'connection');
    const framesBefore = n1!.transport.stats().framesSent;
    for (let i = 1; i <= 100; i++) n1!.transport.send([heartbeat(1, 2, i)]); // 100 separate calls
    await waitFor(() => n2!.received.length === 100, '100 messages');
    expect(n1!.transport.stats().framesSent - framesBefore).toBe(1);
    expect(n2!.batches).toEqual([100]);
    expect(n2!.received.map((m) => m.commit)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  test('a batch over the frame limit is split into frames under it, order kept', async () => {
    const limits = { frameBytesMax: 1 * MiB, sendQueueBytesMax: 32 * MiB };
    const [n1, n2] = [await start(1, { limits }), await start(2, { limits })];
    meshPeers([n1!, n2!]);
    await waitFor(() => n1!.connectedTo(2), 'connection');
    n1!.transport.send(Array.from({ length: 40 }, (_, i) => app(1, 2, i + 1, 200 * 1024))); // 8 MB
    await waitFor(() => n2!.received.length === 40, '40 messages');
    expect(n2!.received.map((m) => m.entries[0]!.index)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(n2!.received.every((m) => m.entries[0]!.data.every((b) => b === m.entries[0]!.index % 251))).toBe(true);
    // 5 messages of ~200 KiB fit a 1 MiB frame: 8 frames.
    expect(n2!.batches.length).toBe(8);
    expect(n2!.transport.stats().framesReceived).toBe(8);
  });

  test('a down peer: messages are dropped and reported, then it comes up and the dialer reconnects', async () => {
    const port = await freePort();
    const n1 = await start(1);
    n1.transport.setPeers([{ id: 2, host: '127.0.0.1', port }]);
    n1.transport.send([heartbeat(1, 2)]);
    await waitFor(() => n1.unreachable.includes(2), 'onUnreachable(2)');
    expect(n1.transport.stats().messagesDropped).toBe(1);
    await sleep(100); // a few failed attempts with backoff
    expect(n1.logger.lines.filter((l) => l.msg === 'cannot connect to peer; retrying with backoff')).toHaveLength(1);

    const n2 = await start(2, { port });
    n2.transport.setPeers([{ id: 1, host: '127.0.0.1', port: n1.port }]);
    await waitFor(() => n1.connectedTo(2) && n2.connectedTo(1), 'reconnection', 3_000); // backoff is capped at 2 s
    n1.transport.send([heartbeat(1, 2, 1)]);
    n2.transport.send([heartbeat(2, 1, 2)]);
    await waitFor(() => n2.received.length === 1 && n1.received.length === 1, 'messages both ways');

    // The peer restarts: the connection loss is reported, and the dialer finds the new process.
    await n2.transport.stop();
    const reportsBefore = n1.unreachable.length;
    await waitFor(() => !n1.connectedTo(2) && n1.unreachable.length > reportsBefore, 'loss reported');
    const n2b = await start(2, { port });
    n2b.transport.setPeers([{ id: 1, host: '127.0.0.1', port: n1.port }]);
    await waitFor(() => n1.connectedTo(2), 'reconnection after restart', 3_000);
    n1.transport.send([heartbeat(1, 2, 3)]);
    await waitFor(() => n2b.received.length === 1, 'message after restart');
  });

  test('a node of another cluster is refused with CLUSTER_MISMATCH', async () => {
    const n1 = await start(1, { cluster: 'alpha' });
    const n2 = await start(2, { cluster: 'beta' });
    meshPeers([n1, n2]);
    await waitFor(() => n2.logger.has('warn', 'peer refused', { code: ErrorCode.CLUSTER_MISMATCH }), 'refusal');
    await waitFor(() => n1.logger.has('warn', 'cannot connect to peer; retrying with backoff', { code: ErrorCode.CLUSTER_MISMATCH }), 'dialer log');
    n1.transport.send([heartbeat(1, 2)]);
    await waitFor(() => n1.unreachable.includes(2), 'unreachable');
    expect(n2.received).toHaveLength(0);
    expect(n1.transport.stats().connectionsOpen + n2.transport.stats().connectionsOpen).toBe(0);

    // On the wire: the answer carries the code and the acceptor closes the socket.
    const raw = await RawPeer.connect(n2.port);
    const answer = await raw.hello({ from: 1, to: 2, cluster: 'gamma' });
    expect(answer.ok === false && answer.error.code).toBe(ErrorCode.CLUSTER_MISMATCH);
    await raw.closed;
  });

  test.each([
    ['to another node', { from: 1, to: 3 }, ErrorCode.INVALID_ARGUMENT],
    ['from itself', { from: 2, to: 2 }, ErrorCode.INVALID_ARGUMENT],
    ['from an unknown node', { from: 9, to: 2, kind: 'snapshot' as const }, ErrorCode.UNAVAILABLE],
    ['in the wrong direction (higher id dials)', { from: 3, to: 2 }, ErrorCode.INVALID_ARGUMENT],
    ['in another protocol version', { from: 1, to: 2, version: 2 }, ErrorCode.UNSUPPORTED_PROTOCOL],
  ])('refuses a hello %s', async (_name, hello, code) => {
    const n2 = await start(2);
    n2.transport.setPeers([{ id: 1, host: '127.0.0.1', port: 1 }, { id: 3, host: '127.0.0.1', port: 1 }]);
    const raw = await RawPeer.connect(n2.port);
    const answer = await raw.hello(hello);
    expect(answer.ok === false && answer.error.code).toBe(code);
    await raw.closed;
  });

  test('an oversized or malformed incoming frame closes that connection only', async () => {
    const [n2, n3] = [await start(2), await start(3)];
    meshPeers([n2, n3], [{ id: 1, port: 1 }]); // node 1 is our raw peer (it dials node 2)
    await waitFor(() => n2.connectedTo(3), 'connection 2-3');

    const raw = await RawPeer.connect(n2.port);
    expect((await raw.hello({ from: 1, to: 2 })).ok).toBe(true);
    await waitFor(() => n2.connectedTo(1), 'connection from the raw peer');
    raw.sendBody(encodeMessages([heartbeat(1, 2, 5)]));
    await waitFor(() => n2.received.length === 1, 'a valid message first');
    const header = Buffer.alloc(4);
    header.writeUInt32BE(8 * MiB + 1); // over the frame limit: refused from the header alone
    raw.socket.write(header);
    await raw.closed;
    await waitFor(() => n2.logger.has('error', 'peer connection lost', { peer: 1 }), 'an error logged');
    const logged = n2.logger.lines.find((l) => l.msg === 'peer connection lost')!.obj.err;
    expect(HikariError.is(logged, ErrorCode.TOO_LARGE)).toBe(true);

    const raw2 = await RawPeer.connect(n2.port);
    expect((await raw2.hello({ from: 1, to: 2 })).ok).toBe(true);
    raw2.sendBody(encodeMessages([heartbeat(3, 2)])); // spoofs node 3 on node 1's connection
    await raw2.closed;

    n3.transport.send([heartbeat(3, 2, 9)]);
    n2.transport.send([heartbeat(2, 3, 9)]);
    await waitFor(() => n2.received.some((m) => m.from === 3) && n3.received.length === 1, 'the other connection still serves');
    expect(n2.connectedTo(3)).toBe(true);
  });

  test('frames that arrive in the same segment as the handshake answer are delivered', async () => {
    const server = net.createServer((socket) => {
      socket.once('data', () => {
        const answer = encodeFrame(encodeHelloAnswer({ ok: true }));
        const batch = encodeFrame(encodeMessages([heartbeat(2, 1, 42)]));
        socket.write(Buffer.concat([answer, batch])); // one write, one segment on loopback
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const n1 = await start(1);
    n1.transport.setPeers([{ id: 2, host: '127.0.0.1', port: (server.address() as net.AddressInfo).port }]);
    await waitFor(() => n1.received.length === 1, 'the message that followed the answer');
    expect(n1.received[0]!.commit).toBe(42);
    await n1.transport.stop(); // closes its end, so that server.close() can complete
  });

  test('a peer that accepts then drops at once is redialed with growing delays, not in a hot loop', async () => {
    let accepted = 0;
    const server = net.createServer((socket) => {
      socket.once('data', () => {
        accepted++;
        socket.end(encodeFrame(encodeHelloAnswer({ ok: true })));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const n1 = await start(1);
    n1.transport.setPeers([{ id: 2, host: '127.0.0.1', port: (server.address() as net.AddressInfo).port }]);
    await sleep(1_000);
    await n1.transport.stop();
    // Delays with jitter 0.5: 38, 75, 150, 300, 600 ms... so about 5 dials in a second (not ~25).
    expect(accepted).toBeGreaterThanOrEqual(3);
    expect(accepted).toBeLessThanOrEqual(7);
  });

  test('a peer that stops reading: the send queue stays bounded and drops the newest', async () => {
    const stuck = await StuckAcceptor.start();
    cleanups.push(() => stuck.stop());
    const limits = { frameBytesMax: 1 * MiB, sendQueueBytesMax: 2 * MiB, sendQueueMessagesMax: 64 };
    const n1 = await start(1, { limits });
    n1.transport.setPeers([{ id: 2, host: '127.0.0.1', port: stuck.port }]);
    await waitFor(() => n1.connectedTo(2), 'connection to the stuck peer');
    const peer = () => n1.transport.stats().peers[0]!;
    let index = 0;
    // Push 64 KiB messages turn after turn until the kernel buffers are full and drops begin.
    for (let turn = 0; turn < 2_000 && n1.transport.stats().messagesDropped === 0; turn++) {
      n1.transport.send(Array.from({ length: 8 }, () => app(1, 2, ++index, 64 * 1024)));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(n1.transport.stats().messagesDropped).toBeGreaterThan(0);
    for (let turn = 0; turn < 50; turn++) {
      n1.transport.send(Array.from({ length: 8 }, () => app(1, 2, ++index, 64 * 1024)));
      await new Promise((resolve) => setImmediate(resolve));
      expect(peer().queuedBytes).toBeLessThanOrEqual(limits.sendQueueBytesMax);
      expect(peer().queuedMessages).toBeLessThanOrEqual(limits.sendQueueMessagesMax);
    }
    expect(peer().blocked).toBe(true);
    expect(peer().connected).toBe(true);
    expect(n1.unreachable).toContain(2);
    // Nothing piles up in the socket's user-space buffer either: at most one frame past the high-water mark.
    expect(stuck.sockets).toHaveLength(1);
  });

  test('stop() closes every socket and the listener, and is idempotent', async () => {
    const [n1, n2, n3] = [await start(1), await start(2), await start(3)];
    meshPeers([n1!, n2!, n3!]);
    await waitFor(() => n1!.connectedTo(2) && n1!.connectedTo(3) && n2!.connectedTo(3), 'mesh');
    await Promise.all([n1!.transport.stop(), n1!.transport.stop()]);
    expect(n1!.transport.stats().connectionsOpen).toBe(0);
    expect(() => n1!.transport.address()).toThrow();
    await waitFor(() => !n2!.connectedTo(1) && !n3!.connectedTo(1), 'peers see the close');
    n1!.transport.send([heartbeat(1, 2)]); // after stop: dropped silently
    await sleep(10);
    expect(n1!.unreachable).toHaveLength(0);
  });
});
