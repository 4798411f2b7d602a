import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { Message, message, MessageType, NodeId } from '@hikarikeeper/raft';
import { MemoryNetwork, MemoryTransport } from './memory-transport';
import { SNAPSHOT_CHUNK_BYTES_MAX } from './limits';
import type { SnapshotStream } from './transport';

const beat = (from: NodeId, to: NodeId, commit = 0): Message => message({ type: MessageType.Heartbeat, from, to, term: 1, commit });
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Recorder {
  transport: MemoryTransport;
  batches: Message[][];
  unreachable: NodeId[];
  onSnapshot: (from: NodeId, stream: SnapshotStream) => Promise<void>;
}

async function cluster(network: MemoryNetwork, ids: NodeId[]): Promise<Map<NodeId, Recorder>> {
  const out = new Map<NodeId, Recorder>();
  for (const id of ids) {
    const r: Recorder = { transport: network.transport(id), batches: [], unreachable: [], onSnapshot: async () => {} };
    await r.transport.start({ onMessages: (ms) => r.batches.push(ms), onSnapshot: (from, s) => r.onSnapshot(from, s) });
    r.transport.onUnreachable = (peer) => r.unreachable.push(peer);
    r.transport.setPeers(ids.map((p) => ({ id: p, host: 'memory', port: 1 })));
    out.set(id, r);
  }
  return out;
}

async function* bytes(total: number, piece: number, failAt = Infinity): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < total; at += piece) {
    if (at >= failAt) throw new Error('source failed');
    yield Buffer.alloc(Math.min(piece, total - at), at % 256);
  }
}

const snap = (from: NodeId, to: NodeId): Message =>
  message({ type: MessageType.Snap, from, to, term: 2, snapshot: { metadata: { index: 9, term: 2, confState: { voters: [1, 2], learners: [] } }, data: Buffer.from('x') } });

describe('MemoryTransport', () => {
  test('delivers asynchronously, in order, one batch per sender per turn', async () => {
    const nodes = await cluster(new MemoryNetwork(), [1, 2, 3]);
    for (let i = 1; i <= 5; i++) nodes.get(1)!.transport.send([beat(1, 2, i)]);
    nodes.get(3)!.transport.send([beat(3, 2, 100)]);
    expect(nodes.get(2)!.batches).toHaveLength(0); // not synchronous
    await turn();
    expect(nodes.get(2)!.batches.map((b) => b.map((m) => m.commit))).toEqual([[1, 2, 3, 4, 5], [100]]);
  });

  test('a cut link drops messages and reports the peer unreachable; connect restores it', async () => {
    const network = new MemoryNetwork();
    const nodes = await cluster(network, [1, 2]);
    network.disconnect(1, 2);
    nodes.get(1)!.transport.send([beat(1, 2)]);
    nodes.get(2)!.transport.send([beat(2, 1)]);
    await turn();
    expect(nodes.get(1)!.unreachable).toEqual([2]);
    expect(nodes.get(2)!.unreachable).toEqual([1]);
    expect(nodes.get(2)!.batches).toHaveLength(0);
    network.connect(1, 2);
    nodes.get(1)!.transport.send([beat(1, 2, 7)]);
    await turn();
    expect(nodes.get(2)!.batches).toEqual([[beat(1, 2, 7)]]);
  });

  test('messages in flight when a link is cut are lost', async () => {
    const network = new MemoryNetwork();
    const nodes = await cluster(network, [1, 2]);
    nodes.get(1)!.transport.send([beat(1, 2)]);
    network.isolate(2);
    await turn();
    await turn(); // the report is scheduled by the delivery turn
    expect(nodes.get(2)!.batches).toHaveLength(0);
    expect(nodes.get(1)!.unreachable).toEqual([2]);
    network.heal();
    expect(network.isConnected(1, 2)).toBe(true);
  });

  test('unknown, stopped and restarted peers', async () => {
    const network = new MemoryNetwork();
    const nodes = await cluster(network, [1, 2]);
    nodes.get(1)!.transport.send([beat(1, 9)]);
    await nodes.get(2)!.transport.stop();
    nodes.get(1)!.transport.send([beat(1, 2)]);
    await turn();
    expect(nodes.get(1)!.unreachable).toEqual([9, 2]);
    const restarted = network.transport(2);
    expect(restarted).not.toBe(nodes.get(2)!.transport);
    const got: Message[] = [];
    await restarted.start({ onMessages: (ms) => got.push(...ms), onSnapshot: async () => {} });
    nodes.get(1)!.transport.send([beat(1, 2, 3)]);
    await turn();
    expect(got.map((m) => m.commit)).toEqual([3]);
  });

  test('streams a snapshot in bounded chunks, metadata only in the message', async () => {
    const nodes = await cluster(new MemoryNetwork(), [1, 2]);
    let total = 0;
    let chunkMax = 0;
    let dataBytes = -1;
    nodes.get(2)!.onSnapshot = async (from, stream) => {
      expect(from).toBe(1);
      dataBytes = stream.message.snapshot!.data.length;
      for await (const chunk of stream.chunks) {
        total += chunk.length;
        chunkMax = Math.max(chunkMax, chunk.length);
      }
    };
    expect(await nodes.get(1)!.transport.sendSnapshot(snap(1, 2), bytes(3_000_000, 1_000_000))).toBe(true);
    expect(total).toBe(3_000_000);
    expect(chunkMax).toBeLessThanOrEqual(SNAPSHOT_CHUNK_BYTES_MAX);
    expect(dataBytes).toBe(0);
  });

  test('a snapshot broken by a cut link or a failing source: false, and the receiver iteration throws', async () => {
    const network = new MemoryNetwork();
    const nodes = await cluster(network, [1, 2]);
    const failures: unknown[] = [];
    nodes.get(2)!.onSnapshot = async (_from, stream) => {
      let n = 0;
      try {
        for await (const _chunk of stream.chunks) if (++n === 2) network.disconnect(1, 2);
      } catch (error) {
        failures.push(error);
        throw error;
      }
    };
    expect(await nodes.get(1)!.transport.sendSnapshot(snap(1, 2), bytes(2_000_000, 300_000))).toBe(false);
    network.connect(1, 2);
    expect(await nodes.get(1)!.transport.sendSnapshot(snap(1, 2), bytes(2_000_000, 300_000, 600_000))).toBe(false);
    expect(failures.map((e) => HikariError.is(e, ErrorCode.CONNECTION_LOSS))).toEqual([true, true]);
    nodes.get(2)!.onSnapshot = () => Promise.reject(new Error('refused'));
    expect(await nodes.get(1)!.transport.sendSnapshot(snap(1, 2), bytes(10, 10))).toBe(false);
  });
});
