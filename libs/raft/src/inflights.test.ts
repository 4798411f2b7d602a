import { Inflights } from './inflights';
import { RaftError, RaftErrorCode } from './errors';

/** Adds messages whose last indexes are `lasts`, each of `bytes` bytes. */
function filled(countMax: number, bytesMax: number, lasts: number[], bytes = 10): Inflights {
  const ins = new Inflights(countMax, bytesMax);
  for (const last of lasts) ins.add(last, bytes);
  return ins;
}

describe('Inflights', () => {
  it('a window needs room for at least one message', () => {
    expect(() => new Inflights(0, 0)).toThrow(RaftError);
  });

  it.each([
    // countMax, bytesMax, added, expected full
    [3, 0, [1, 2], false],
    [3, 0, [1, 2, 3], true],
    [1, 0, [5], true],
    [10, 25, [1, 2], false], // 20 bytes < 25
    [10, 25, [1, 2, 3], true], // 30 bytes >= 25
    [10, 20, [1, 2], true], // exactly at the byte limit counts as full
  ])('full by count or bytes: max %i msgs / %i bytes after adding %j -> full=%s', (countMax, bytesMax, lasts, full) => {
    const ins = filled(countMax, bytesMax, lasts);
    expect(ins.isFull()).toBe(full);
    expect(ins.count).toBe(lasts.length);
    expect(ins.bytes).toBe(lasts.length * 10);
  });

  it('adding to a full window is a broken invariant', () => {
    const ins = filled(2, 0, [1, 2]);
    try {
      ins.add(3, 1);
      throw new Error('add did not throw');
    } catch (e) {
      expect(e).toBeInstanceOf(RaftError);
      expect((e as RaftError).code).toBe(RaftErrorCode.INVARIANT);
    }
  });

  it.each([
    // freeLE(x) frees every message whose last index is <= x
    [0, 5, 50],
    [1, 4, 40],
    [3, 2, 20],
    [4, 2, 20], // 4 is inside the 4th message (last 5): it stays
    [5, 1, 10],
    [9, 0, 0],
  ])('freeLE(%i) over messages ending at 1,2,3,5,9 leaves %i messages, %i bytes', (upTo, count, bytes) => {
    const ins = filled(10, 0, [1, 2, 3, 5, 9]);
    ins.freeLE(upTo);
    expect(ins.count).toBe(count);
    expect(ins.bytes).toBe(bytes);
  });

  it('freeFirstOne frees exactly the oldest message', () => {
    const ins = filled(3, 0, [4, 8, 12]);
    ins.freeFirstOne();
    expect(ins.count).toBe(2);
    ins.freeLE(8);
    expect(ins.count).toBe(1);
    ins.freeFirstOne();
    ins.freeFirstOne(); // on an empty window: nothing
    expect(ins.count).toBe(0);
    expect(ins.bytes).toBe(0);
  });

  it('wraps around its ring buffer and keeps the order', () => {
    const ins = new Inflights(4, 0);
    // Fill, free two, add two more: the new ones wrap to the start of the buffer.
    for (const i of [1, 2, 3, 4]) ins.add(i, i);
    ins.freeLE(2);
    ins.add(5, 5);
    ins.add(6, 6);
    expect(ins.isFull()).toBe(true);
    expect(ins.bytes).toBe(3 + 4 + 5 + 6);
    // Freeing up to 5 must free 3, 4, 5 (crossing the wrap point) and keep 6.
    ins.freeLE(5);
    expect(ins.count).toBe(1);
    expect(ins.bytes).toBe(6);
    // Keep cycling many times round the ring.
    for (let i = 7; i < 100; i++) {
      ins.add(i, 1);
      ins.freeLE(i - 1);
      expect(ins.count).toBe(1);
    }
    expect(ins.bytes).toBe(1);
  });

  it('reset empties the window', () => {
    const ins = filled(2, 15, [1, 2]);
    expect(ins.isFull()).toBe(true);
    ins.reset();
    expect(ins.count).toBe(0);
    expect(ins.bytes).toBe(0);
    expect(ins.isFull()).toBe(false);
    ins.add(7, 1);
    ins.freeLE(7);
    expect(ins.count).toBe(0);
  });
});
