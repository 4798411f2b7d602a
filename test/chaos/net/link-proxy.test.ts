/**
 * The link proxy and its fault table over real TCP, with a frame-echoing server standing in for a
 * node: who a connection is (from its hello), and what each rule does — delay keeps order, a
 * blackhole holds frames and delivers them once lifted, a cut resets and refuses, a drop discards a
 * Raft frame but resets a client connection.
 */
import * as net from 'node:net';
import { encodeBody, encodeEnvelope, encodeFrame, FrameDecoder } from '@hikarikeeper/protocol';
import { encodeHello } from '../../../server/src/transport/control-frames';
import { ANY_CLIENT, clientName, FaultNet, nodeName } from './fault-net';
import { LinkProxy } from './link-proxy';

/** A "node" that answers every frame with the same frame. */
async function echoServer(): Promise<{ address: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    const decoder = new FrameDecoder();
    s.on('data', (chunk) => {
      for (const body of decoder.push(chunk)) s.write(encodeFrame(body));
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    address: `127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

/** A connection through the proxy that sends `first`, then collects echoed frames (as strings after the first). */
async function open(proxy: LinkProxy, first: Buffer): Promise<{ frames: string[]; closed: () => boolean; send(text: string): void; socket: net.Socket }> {
  const [host, port] = proxy.address.split(':');
  const socket = net.connect(Number(port), host!);
  await new Promise<void>((r) => socket.once('connect', () => r()));
  const frames: string[] = [];
  let closed = false;
  const decoder = new FrameDecoder();
  let seenFirst = false;
  socket.on('data', (chunk) => {
    for (const body of decoder.push(chunk)) {
      if (!seenFirst) seenFirst = true;
      else frames.push(Buffer.from(body).toString('utf8'));
    }
  });
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined);
  socket.write(first);
  return { frames, closed: () => closed, send: (text) => socket.write(encodeFrame(Buffer.from(text))), socket };
}

const clientHello = (name: string) => encodeEnvelope({ t: 1, id: 1, op: 'hello', a: { clientId: `${name}:abc`, protocol: 1 } });
const peerHello = (from: number, to: number) => encodeFrame(encodeHello({ cluster: 'c', from, to, version: 1, kind: 'raft' }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

describe('LinkProxy', () => {
  let node: Awaited<ReturnType<typeof echoServer>>;
  let faults: FaultNet;
  let clients: LinkProxy;
  let peers: LinkProxy;
  beforeEach(async () => {
    node = await echoServer();
    faults = new FaultNet(7);
    clients = new LinkProxy('client', faults, () => ({ id: 1, address: node.address }));
    peers = new LinkProxy('peer', faults, () => ({ id: 1, address: node.address }));
    await clients.listen();
    await peers.listen();
  });
  afterEach(async () => {
    await clients.close();
    await peers.close();
    await node.close();
  });

  test('healthy: frames pass both ways, in order', async () => {
    const c = await open(clients, clientHello('alice'));
    for (let i = 0; i < 50; i++) c.send(`m${i}`);
    await until(() => c.frames.length === 50);
    expect(c.frames).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    c.socket.destroy();
  });

  test('delay: frames arrive later, still in order', async () => {
    faults.set(clientName('alice'), nodeName(1), { delayMs: 150, jitterMs: 50 });
    const c = await open(clients, clientHello('alice'));
    const sent = Date.now();
    for (let i = 0; i < 10; i++) c.send(`m${i}`);
    await until(() => c.frames.length === 10);
    expect(Date.now() - sent).toBeGreaterThanOrEqual(140);
    expect(c.frames).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
    c.socket.destroy();
  });

  test('blackhole one direction: held while it lasts, delivered in order once lifted; other clients unaffected', async () => {
    const alice = await open(clients, clientHello('alice'));
    const bob = await open(clients, clientHello('bob'));
    await sleep(50);
    faults.set(nodeName(1), clientName('alice'), { blackhole: true }); // answers to alice are held
    alice.send('a1');
    alice.send('a2');
    bob.send('b1');
    await until(() => bob.frames.length === 1);
    await sleep(200);
    expect(alice.frames).toEqual([]);
    faults.set(nodeName(1), clientName('alice'), { blackhole: false });
    await until(() => alice.frames.length === 2);
    expect(alice.frames).toEqual(['a1', 'a2']);
    alice.socket.destroy();
    bob.socket.destroy();
  });

  test('cut: open connections are reset, new ones closed after their hello', async () => {
    const c = await open(clients, clientHello('alice'));
    c.send('before');
    await until(() => c.frames.length === 1);
    faults.setAround(clientName('alice'), [nodeName(1)], { cut: true });
    await until(() => c.closed());
    const again = await open(clients, clientHello('alice'));
    await until(() => again.closed());
    faults.heal();
    const healed = await open(clients, clientHello('alice'));
    healed.send('after');
    await until(() => healed.frames.length === 1);
    healed.socket.destroy();
  });

  test('drop: a Raft frame is discarded and the connection lives; a client connection is reset', async () => {
    const peer = await open(peers, peerHello(2, 1));
    peer.send('first');
    await until(() => peer.frames.length === 1);
    faults.set(nodeName(2), nodeName(1), { dropRate: 1 });
    peer.send('lost');
    await sleep(200);
    expect(peer.frames).toEqual(['first']);
    expect(peer.closed()).toBe(false);
    faults.set(nodeName(2), nodeName(1), { dropRate: 0 });
    peer.send('kept');
    await until(() => peer.frames.length === 2);
    expect(peer.frames).toEqual(['first', 'kept']);
    peer.socket.destroy();

    faults.setAround(ANY_CLIENT, [nodeName(1)], { dropRate: 1 });
    const client = await open(clients, clientHello('carol'));
    await until(() => client.closed());
    expect(client.frames).toEqual([]);
  });

  test('a connection whose first frame says nothing is closed', async () => {
    const c = await open(clients, encodeFrame(encodeBody({ t: 1, id: 1, op: 'get', a: {} })));
    await until(() => c.closed());
  });
});
