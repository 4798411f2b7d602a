import { chunkSnapshot, SnapshotAssembler, SnapshotChunk } from './snapshot-chunks';
import { RaftError, RaftErrorCode } from './errors';
import { Snapshot } from './types';

function snap(size: number, index = 10, term = 2): Snapshot {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (i * 7 + index) & 0xff;
  return { metadata: { index, term, confState: { voters: [1, 2, 3], learners: [] } }, data };
}

/** Feeds chunks in order; returns the result of the last one. */
function feed(asm: SnapshotAssembler, chunks: SnapshotChunk[]) {
  let last;
  for (const c of chunks) last = asm.accept(c);
  return last;
}

describe('chunkSnapshot', () => {
  it.each([
    // snapshot bytes, chunk size -> chunk lengths
    [0, 4, [0]], // an empty snapshot is still one (last) chunk
    [1, 4, [1]],
    [4, 4, [4]],
    [8, 4, [4, 4]], // an exact multiple: no empty trailing chunk
    [9, 4, [4, 4, 1]],
    [3, 1, [1, 1, 1]],
  ])('%i bytes in chunks of %i -> %j', (size, chunkBytes, lengths) => {
    const s = snap(size);
    const chunks = chunkSnapshot(s, chunkBytes);
    expect(chunks.map((c) => c.data.length)).toEqual(lengths);
    expect(chunks.map((c) => c.last)).toEqual(lengths.map((_, i) => i === lengths.length - 1));
    expect(chunks.map((c) => c.offset)).toEqual(lengths.map((_, i) => i * chunkBytes));
    for (const c of chunks) expect(c.metadata).toBe(s.metadata);
  });

  it('refuses a chunk size below one byte', () => {
    expect(() => chunkSnapshot(snap(3), 0)).toThrow(RaftError);
    try {
      chunkSnapshot(snap(3), 0);
    } catch (e) {
      expect((e as RaftError).code).toBe(RaftErrorCode.INVALID_ARGUMENT);
    }
  });
});

describe('SnapshotAssembler', () => {
  it.each([
    [0, 4],
    [1, 4],
    [8, 4],
    [9, 4],
    [1000, 7],
  ])('reassembles %i bytes sent in chunks of %i', (size, chunkBytes) => {
    const s = snap(size);
    const asm = new SnapshotAssembler(1 << 20, chunkBytes);
    const chunks = chunkSnapshot(s, chunkBytes);
    for (const c of chunks.slice(0, -1)) expect(asm.accept(c)).toEqual({ status: 'partial' });
    const done = asm.accept(chunks[chunks.length - 1]);
    expect(done.status).toBe('complete');
    if (done.status !== 'complete') return;
    expect(done.snapshot.metadata).toEqual(s.metadata);
    expect(Array.from(done.snapshot.data)).toEqual(Array.from(s.data));
  });

  it('copies chunk data (a transport may reuse its buffers)', () => {
    const s = snap(8);
    const asm = new SnapshotAssembler(100, 4);
    const [a, b] = chunkSnapshot(s, 4);
    const bufA = a.data.slice();
    asm.accept({ ...a, data: bufA });
    bufA.fill(0);
    const done = asm.accept(b);
    expect(done.status === 'complete' && Array.from(done.snapshot.data)).toEqual(Array.from(s.data));
  });

  it('rejects a gap', () => {
    const asm = new SnapshotAssembler(100, 4);
    const [a, , c] = chunkSnapshot(snap(12), 4);
    asm.accept(a);
    expect(asm.accept(c).status).toBe('rejected');
  });

  it('rejects an out-of-order chunk and then needs a fresh start', () => {
    const asm = new SnapshotAssembler(100, 4);
    const chunks = chunkSnapshot(snap(12), 4);
    expect(asm.accept(chunks[1]).status).toBe('rejected'); // no beginning
    expect(asm.accept(chunks[0]).status).toBe('partial');
    expect(asm.accept(chunks[2]).status).toBe('rejected'); // skipped chunk 1
    expect(asm.accept(chunks[1]).status).toBe('rejected'); // the assembly was dropped
    expect(feed(asm, chunks)?.status).toBe('complete'); // the sender starts over
  });

  it('rejects a duplicated (overlapping) chunk', () => {
    const asm = new SnapshotAssembler(100, 4);
    const chunks = chunkSnapshot(snap(12), 4);
    asm.accept(chunks[0]);
    asm.accept(chunks[1]);
    expect(asm.accept(chunks[1]).status).toBe('rejected');
  });

  it('a chunk of another snapshot in the middle is rejected', () => {
    const asm = new SnapshotAssembler(100, 4);
    const a = chunkSnapshot(snap(12, 10), 4);
    const b = chunkSnapshot(snap(12, 20), 4);
    asm.accept(a[0]);
    expect(asm.accept(b[1]).status).toBe('rejected');
  });

  it('restarts when the first chunk of a (newer) snapshot arrives', () => {
    const asm = new SnapshotAssembler(100, 4);
    const older = chunkSnapshot(snap(12, 10), 4);
    const newer = snap(6, 20, 3);
    asm.accept(older[0]);
    asm.accept(older[1]);
    const done = feed(asm, chunkSnapshot(newer, 4));
    expect(done?.status).toBe('complete');
    if (done?.status === 'complete') {
      expect(done.snapshot.metadata.index).toBe(20);
      expect(Array.from(done.snapshot.data)).toEqual(Array.from(newer.data));
    }
  });

  it('rejects a snapshot over the total limit, and a chunk over the chunk limit', () => {
    const big = new SnapshotAssembler(10, 4);
    const chunks = chunkSnapshot(snap(12), 4);
    expect(big.accept(chunks[0]).status).toBe('partial');
    expect(big.accept(chunks[1]).status).toBe('partial');
    const r = big.accept(chunks[2]);
    expect(r.status).toBe('rejected');
    const exact = new SnapshotAssembler(12, 4);
    expect(feed(exact, chunks)?.status).toBe('complete');
    const small = new SnapshotAssembler(100, 2);
    expect(small.accept(chunks[0]).status).toBe('rejected');
  });
});
