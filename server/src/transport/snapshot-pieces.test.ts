import fc from 'fast-check';
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { message, MessageType } from '@hikarikeeper/raft';
import { framePieces, unframePieces } from './snapshot-pieces';
import { meshPeers, TestNode, waitFor } from './testing';

async function* from<T>(items: readonly T[]): AsyncGenerator<T> {
  for (const item of items) yield item;
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const x of it) out.push(Buffer.from(x));
  return out;
}

/** Re-cuts a byte sequence at the given points, as a transport may. */
function recut(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of [...points, bytes.length]) {
    if (p > at) out.push(bytes.subarray(at, p));
    at = Math.max(at, p);
  }
  return out;
}

describe('snapshot pieces', () => {
  test('pieces survive any re-cutting of the byte stream (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 20 }), fc.array(fc.nat()), async (pieces, cuts) => {
        const stream = Buffer.concat(await collect(framePieces(from(pieces))));
        const restored = await collect(unframePieces(from(recut(stream, cuts))));
        expect(restored).toEqual(pieces.map((p) => Buffer.from(p)));
      }),
    );
  });

  test('a stream cut inside a piece, or a piece over the limit, is an error', async () => {
    const stream = Buffer.concat(await collect(framePieces(from([Buffer.alloc(100, 1)]))));
    await expect(collect(unframePieces(from([stream.subarray(0, 50)])))).rejects.toMatchObject({ code: ErrorCode.BAD_FRAME });
    await expect(collect(unframePieces(from([stream]), 99))).rejects.toMatchObject({ code: ErrorCode.TOO_LARGE });
    await expect(collect(framePieces(from([Buffer.alloc(100)]), 99))).rejects.toBeInstanceOf(HikariError);
  });

  test('over TCP, pieces larger than a transport chunk arrive whole', async () => {
    const n1 = await TestNode.start(1);
    const n2 = await TestNode.start(2);
    try {
      meshPeers([n1, n2]);
      await waitFor(() => n1.connectedTo(2), 'connection');
      const pieces = [300_000, 1, 700_000, 262_144, 5].map((n, i) => Buffer.alloc(n, i + 1));
      let got: Buffer[] = [];
      n2.onSnapshot = async (_from, stream) => {
        got = await collect(unframePieces(stream.chunks));
      };
      const snap = message({ type: MessageType.Snap, from: 1, to: 2, term: 1, snapshot: { metadata: { index: 1, term: 1, confState: { voters: [1, 2], learners: [] } }, data: new Uint8Array(0) } });
      expect(await n1.transport.sendSnapshot(snap, framePieces(from(pieces)))).toBe(true);
      expect(got.map((p) => p.length)).toEqual(pieces.map((p) => p.length));
      expect(got.every((p, i) => p.equals(pieces[i]!))).toBe(true); // (toEqual on MB of bytes is slow)
    } finally {
      await Promise.all([n1.transport.stop(), n2.transport.stop()]);
    }
  });
});
