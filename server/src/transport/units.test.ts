import { Backoff } from './backoff';
import { ChunkChannel } from './chunk-channel';
import { SendQueue } from './send-queue';

describe('Backoff', () => {
  test('doubles from min to max, jittered within [d/2, d], and resets', () => {
    const low = new Backoff(50, 2000, () => 0);
    expect(Array.from({ length: 8 }, () => low.next())).toEqual([25, 50, 100, 200, 400, 800, 1000, 1000]);
    const high = new Backoff(50, 2000, () => 1);
    expect(Array.from({ length: 8 }, () => high.next())).toEqual([50, 100, 200, 400, 800, 1600, 2000, 2000]);
    high.reset();
    expect(high.next()).toBe(50);
  });
});

describe('SendQueue', () => {
  const part = (n: number): Buffer => Buffer.alloc(n);

  test('refuses past its count or byte bound, keeping what it holds', () => {
    const q = new SendQueue(3, 100);
    expect([q.push(part(40)), q.push(part(40)), q.push(part(30)), q.push(part(10))]).toEqual([true, true, false, true]);
    expect([q.length, q.bytes]).toEqual([3, 90]);
    expect(q.push(part(1))).toBe(false); // count
  });

  test('take returns the longest prefix under the limit, at least one part', () => {
    const q = new SendQueue(10, 1000);
    for (const n of [30, 30, 30, 200, 10]) q.push(part(n));
    expect(q.take(100).map((p) => p.length)).toEqual([30, 30, 30]);
    expect(q.take(100).map((p) => p.length)).toEqual([200]); // alone over the limit: still taken
    expect(q.take(100).map((p) => p.length)).toEqual([10]);
    expect([q.length, q.bytes, q.take(100).length]).toEqual([0, 0, 0]);
  });
});

describe('ChunkChannel', () => {
  test('pauses at the bound, resumes below half, yields in order, ends', async () => {
    const events: string[] = [];
    const ch = new ChunkChannel(30, () => events.push('pause'), () => events.push('resume'));
    for (let i = 0; i < 4; i++) ch.push(Buffer.alloc(10, i));
    ch.end();
    expect(events).toEqual(['pause']);
    const seen: number[] = [];
    for await (const c of ch) {
      seen.push(c[0]!);
      if (seen.length === 2) expect(events).toEqual(['pause']); // 20 left: not below half
    }
    expect(seen).toEqual([0, 1, 2, 3]);
    expect(events).toEqual(['pause', 'resume']);
    expect(ch.peakBufferedBytes).toBe(40);
  });

  test('fail makes the pending and the next pull throw; a second iteration is refused', async () => {
    const ch = new ChunkChannel(100, () => {}, () => {});
    const it = ch[Symbol.asyncIterator]();
    const pending = it.next();
    ch.fail(new Error('broken'));
    await expect(pending).rejects.toThrow('broken');
    await expect(it.next()).rejects.toThrow('broken');
    expect(() => ch[Symbol.asyncIterator]()).toThrow();
  });

  test('a consumer that stops early cancels the channel', async () => {
    const ch = new ChunkChannel(100, () => {}, () => {});
    ch.push(Buffer.alloc(1));
    for await (const _c of ch) break;
    expect(ch.isCancelled).toBe(true);
    ch.push(Buffer.alloc(1)); // ignored
  });
});
