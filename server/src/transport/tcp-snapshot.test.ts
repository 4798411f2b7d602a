import { createHash } from 'node:crypto';
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { message, MessageType } from '@hikarikeeper/raft';
import { DEFAULT_LIMITS } from './limits';
import { heartbeat, meshPeers, sleep, TestNode, waitFor } from './testing';

const KiB = 1024;
const MiB = 1024 * KiB;

let nodes: TestNode[] = [];

afterEach(async () => {
  await Promise.all(nodes.map((n) => n.transport.stop()));
  nodes = [];
});

async function pair(): Promise<[TestNode, TestNode]> {
  const n1 = await TestNode.start(1);
  const n2 = await TestNode.start(2);
  nodes.push(n1, n2);
  meshPeers([n1, n2]);
  await waitFor(() => n1.connectedTo(2) && n2.connectedTo(1), 'connection');
  return [n1, n2];
}

function snapMessage(from: number, to: number) {
  return message({
    type: MessageType.Snap, from, to, term: 3,
    snapshot: { metadata: { index: 500, term: 3, confState: { voters: [1, 2, 3], learners: [] } }, data: Buffer.from('ignored') },
  });
}

/** Deterministic bytes, produced lazily in pieces of `pieceBytes`; counts what was pulled. */
function source(totalBytes: number, pieceBytes: number, failAt = Infinity) {
  const state = { produced: 0, hash: createHash('sha256'), returned: false };
  async function* chunks(): AsyncGenerator<Uint8Array> {
    try {
      while (state.produced < totalBytes) {
        if (state.produced >= failAt) throw new Error('source failed');
        const piece = Buffer.alloc(Math.min(pieceBytes, totalBytes - state.produced));
        for (let i = 0; i < piece.length; i++) piece[i] = (state.produced + i) * 31 % 256;
        state.hash.update(piece);
        state.produced += piece.length;
        yield piece;
      }
    } finally {
      state.returned = true;
    }
  }
  return { state, chunks: chunks() };
}

describe('TcpTransport snapshots', () => {
  test('a 5 MB snapshot streams in bounded chunks to a slow consumer: exact bytes, bounded buffer, true', async () => {
    const [n1, n2] = await pair();
    const src = source(5 * 1000 * 1000, 1 * MiB);
    const seen = { bytes: 0, chunkMax: 0, aheadMax: 0, hash: createHash('sha256'), metadataIndex: 0, dataBytes: -1 };
    n2.onSnapshot = async (from, stream) => {
      expect(from).toBe(1);
      seen.metadataIndex = stream.message.snapshot!.metadata.index;
      seen.dataBytes = stream.message.snapshot!.data.length;
      for await (const chunk of stream.chunks) {
        seen.hash.update(chunk);
        seen.bytes += chunk.length;
        seen.chunkMax = Math.max(seen.chunkMax, chunk.length);
        seen.aheadMax = Math.max(seen.aheadMax, src.state.produced - seen.bytes);
        await sleep(1); // slower than loopback
      }
    };
    // Heartbeats keep flowing on the message connection while the snapshot streams.
    const beats = setInterval(() => n1.transport.send([heartbeat(1, 2)]), 5);
    const ok = await n1.transport.sendSnapshot(snapMessage(1, 2), src.chunks);
    clearInterval(beats);
    expect(ok).toBe(true);
    expect(seen.bytes).toBe(5 * 1000 * 1000);
    expect(seen.hash.digest('hex')).toBe(src.state.hash.digest('hex'));
    expect(seen.metadataIndex).toBe(500);
    expect(seen.dataBytes).toBe(0); // metadata only: the bytes came as chunks
    expect(seen.chunkMax).toBeLessThanOrEqual(DEFAULT_LIMITS.snapshotChunkBytesMax);
    const stats = n2.transport.stats();
    expect(stats.snapshotReceivePauses).toBeGreaterThan(0);
    expect(stats.snapshotBufferedBytesPeak).toBeLessThanOrEqual(DEFAULT_LIMITS.snapshotBufferedBytesMax + DEFAULT_LIMITS.snapshotChunkBytesMax);
    expect(n2.received.length).toBeGreaterThan(0);
    expect(n1.transport.stats().snapshotsSent).toBe(1);
    expect(n2.transport.stats().snapshotsReceived).toBe(1);
  });

  test('the sender is held back by a slow consumer: a 64 MiB snapshot is never far ahead of it', async () => {
    const [n1, n2] = await pair();
    const total = 64 * MiB;
    const src = source(total, 256 * KiB);
    let received = 0;
    let aheadMax = 0;
    n2.onSnapshot = async (_from, stream) => {
      for await (const chunk of stream.chunks) {
        received += chunk.length;
        aheadMax = Math.max(aheadMax, src.state.produced - received);
        if (received % (1 * MiB) === 0) await sleep(1);
      }
    };
    expect(await n1.transport.sendSnapshot(snapMessage(1, 2), src.chunks)).toBe(true);
    expect(received).toBe(total);
    expect(n2.transport.stats().snapshotBufferedBytesPeak).toBeLessThanOrEqual(2 * MiB);
    // Kernel socket buffers (a few MiB each way on loopback) plus the receiver's buffer: independent of
    // the snapshot's size. A transport reading the stream into memory would be ~64 MiB ahead.
    expect(aheadMax).toBeLessThan(24 * MiB);
  });

  test('a receiver that rejects mid-way: sendSnapshot resolves false, the source is closed', async () => {
    const [n1, n2] = await pair();
    const src = source(5 * MiB, 256 * KiB);
    n2.onSnapshot = async (_from, stream) => {
      let bytes = 0;
      for await (const chunk of stream.chunks) {
        bytes += chunk.length;
        if (bytes >= 1 * MiB) throw new HikariError(ErrorCode.UNAVAILABLE, { reason: 'disk full' });
      }
    };
    expect(await n1.transport.sendSnapshot(snapMessage(1, 2), src.chunks)).toBe(false);
    await waitFor(() => src.state.returned, 'the source closed');
    expect(src.state.produced).toBeLessThan(5 * MiB);
    expect(n2.transport.stats().snapshotsReceiveFailed).toBe(1);
    expect(n1.logger.has('warn', 'snapshot transfer failed')).toBe(true);
  });

  test('a source that fails mid-way: false on the sender, the receiver iteration throws', async () => {
    const [n1, n2] = await pair();
    const src = source(5 * MiB, 256 * KiB, 1 * MiB);
    let failure: unknown = null;
    let bytes = 0;
    n2.onSnapshot = async (_from, stream) => {
      try {
        for await (const chunk of stream.chunks) bytes += chunk.length;
      } catch (error) {
        failure = error;
        throw error;
      }
    };
    expect(await n1.transport.sendSnapshot(snapMessage(1, 2), src.chunks)).toBe(false);
    await waitFor(() => failure !== null, 'the receiver error');
    expect(HikariError.is(failure, ErrorCode.CONNECTION_LOSS)).toBe(true);
    expect(bytes).toBeLessThanOrEqual(1 * MiB);
  });

  test('the receiving transport stops mid-way: false on the sender, SHUTTING_DOWN on the receiver', async () => {
    const [n1, n2] = await pair();
    const src = source(20 * MiB, 256 * KiB);
    let failure: unknown = null;
    n2.onSnapshot = async (_from, stream) => {
      let bytes = 0;
      try {
        for await (const chunk of stream.chunks) {
          bytes += chunk.length;
          if (bytes === 1 * MiB) void n2.transport.stop();
          await sleep(1);
        }
      } catch (error) {
        failure = error;
        throw error;
      }
    };
    expect(await n1.transport.sendSnapshot(snapMessage(1, 2), src.chunks)).toBe(false);
    await waitFor(() => failure !== null, 'the receiver error');
    expect(HikariError.is(failure, ErrorCode.SHUTTING_DOWN)).toBe(true);
  });

  test('the sending transport stops mid-way: false, and the receiver iteration throws', async () => {
    const [n1, n2] = await pair();
    const src = source(20 * MiB, 256 * KiB);
    let failure: unknown = null;
    n2.onSnapshot = async (_from, stream) => {
      let bytes = 0;
      try {
        for await (const chunk of stream.chunks) {
          bytes += chunk.length;
          if (bytes === 1 * MiB) void n1.transport.stop();
          await sleep(1);
        }
      } catch (error) {
        failure = error;
        throw error;
      }
    };
    expect(await n1.transport.sendSnapshot(snapMessage(1, 2), src.chunks)).toBe(false);
    await waitFor(() => failure !== null, 'the receiver error');
    expect(HikariError.is(failure, ErrorCode.CONNECTION_LOSS)).toBe(true);
    await waitFor(() => src.state.returned, 'the source closed');
  });

  test('a receiver that accepts without reading everything ends the transfer early with true', async () => {
    const [n1, n2] = await pair();
    const src = source(50 * MiB, 256 * KiB);
    n2.onSnapshot = async (_from, stream) => {
      for await (const _chunk of stream.chunks) break; // e.g. an obsolete snapshot
    };
    expect(await n1.transport.sendSnapshot(snapMessage(1, 2), src.chunks)).toBe(true);
    expect(src.state.produced).toBeLessThan(50 * MiB);
  });

  test('an empty snapshot, an unknown peer, a non-Snap message', async () => {
    const [n1, n2] = await pair();
    let chunks = -1;
    n2.onSnapshot = async (_from, stream) => {
      chunks = 0;
      for await (const _chunk of stream.chunks) chunks++;
    };
    expect(await n1.transport.sendSnapshot(snapMessage(1, 2), source(0, 1).chunks)).toBe(true);
    expect(chunks).toBe(0);
    expect(await n1.transport.sendSnapshot(snapMessage(1, 9), source(10, 10).chunks)).toBe(false);
    expect(await n1.transport.sendSnapshot(heartbeat(1, 2), source(10, 10).chunks)).toBe(false);
  });
});
