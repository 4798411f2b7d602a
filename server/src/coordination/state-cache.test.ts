import { MemoryBatch, MemoryStateStore } from './state-store';
import { StateCache } from './state-cache';
import { lockKey, sessionKey, statKey, childKey, dedupKey } from './keys';
import { DEDUP_READ_AHEAD, DEDUP_SLOTS, dedupReadAhead } from './clients';

/** A store whose reads can be held back, to interleave a read with a write. */
class SlowStore extends MemoryStateStore {
  gate: Promise<void> | null = null;
  reads = 0;
  override async getMany(keys: readonly Buffer[]): Promise<Array<Buffer | undefined>> {
    this.reads++;
    const values = await super.getMany(keys);
    if (this.gate) await this.gate;
    return values;
  }
}

function write(store: MemoryStateStore, cache: StateCache, ops: Array<[Buffer, Buffer | null]>): void {
  const batch = new MemoryBatch();
  for (const [k, v] of ops) (v === null ? batch.del(k) : batch.put(k, v));
  const staged = cache.staged(ops.map(([k, v]) => [k.toString('latin1'), v] as const));
  store.write(batch);
  cache.written(staged);
}

describe('StateCache', () => {
  it('serves hot records from memory, including known absences, and follows written batches', async () => {
    const store = new SlowStore();
    const cache = new StateCache(store);
    const k = lockKey('L');
    expect(await cache.getMany([k])).toEqual([undefined]);
    expect(await cache.getMany([k])).toEqual([undefined]);
    expect(store.reads).toBe(1); // the absence was remembered
    write(store, cache, [[k, Buffer.from('v1')]]);
    expect((await cache.getMany([k]))[0]!.toString()).toBe('v1');
    write(store, cache, [[k, null]]);
    expect(await cache.getMany([k])).toEqual([undefined]);
    expect(store.reads).toBe(1);
  });

  it('does not cache range-scanned prefixes (the children index)', async () => {
    const store = new SlowStore();
    const cache = new StateCache(store);
    const k = childKey('/a', 'b');
    write(store, cache, [[k, Buffer.alloc(0)]]);
    await cache.getMany([k]);
    await cache.getMany([k]);
    expect(store.reads).toBe(2);
  });

  /** A read of `k` held until `open()`: it reads the store now (before what the test does next) and answers later. */
  async function heldRead(store: SlowStore, cache: StateCache, k: Buffer): Promise<{ reading: Promise<Array<Buffer | undefined>>; open: () => void }> {
    let open!: () => void;
    store.gate = new Promise((r) => (open = r));
    const reading = cache.getMany([k]);
    await new Promise((r) => setImmediate(r));
    store.gate = null;
    return { reading, open };
  }

  it('a read that spans a batch writing its key does not replace the batch\'s value with its older answer', async () => {
    const store = new SlowStore();
    const cache = new StateCache(store);
    const k = statKey('/x');
    const { reading, open } = await heldRead(store, cache, k); // reads "absent" now, answers later
    write(store, cache, [[k, Buffer.from('created')]]); // meanwhile a batch creates /x and is written
    open();
    expect(await reading).toEqual([undefined]); // the read's own answer predates the batch
    expect((await cache.getMany([k]))[0]!.toString()).toBe('created');
    expect(store.reads).toBe(1); // and the batch's value is the cached one
  });

  it('a read that spans a batch writing its key, then the key\'s eviction, fills nothing', async () => {
    const store = new SlowStore();
    const cache = new StateCache(store, 400);
    const k = statKey('/x');
    const { reading, open } = await heldRead(store, cache, k);
    write(store, cache, [[k, Buffer.from('created')]]);
    write(store, cache, [[statKey('/big'), Buffer.alloc(350)]]); // over budget: /x leaves the cache
    open();
    expect(await reading).toEqual([undefined]);
    expect((await cache.getMany([k]))[0]!.toString()).toBe('created'); // from the store, not the stale answer
    expect(store.reads).toBe(2);
  });

  it('a read that spans batches writing other keys fills the cache', async () => {
    const store = new SlowStore();
    const cache = new StateCache(store);
    const k = statKey('/x');
    const { reading, open } = await heldRead(store, cache, k);
    write(store, cache, [[sessionKey('s'), Buffer.from('unrelated')]]);
    open();
    expect(await reading).toEqual([undefined]);
    expect(await cache.getMany([k])).toEqual([undefined]);
    expect(store.reads).toBe(1); // the absence was remembered
  });

  it('warm() reads the missing keys of cached prefixes once, in the background; the next reads are hits', async () => {
    const store = new SlowStore();
    const cache = new StateCache(store);
    write(store, cache, [[lockKey('held'), Buffer.from('h')]]);
    const reads = store.reads;
    cache.warm([lockKey('held'), statKey('/a'), statKey('/a'), childKey('/a', 'b')]);
    expect(cache.warming).toBe(1);
    expect(store.reads).toBe(reads + 1); // one read: /a's stat (held is cached, the children index is not a cached prefix)
    await new Promise((r) => setImmediate(r));
    expect(cache.warming).toBe(0);
    expect(await cache.getMany([statKey('/a'), lockKey('held')])).toEqual([undefined, Buffer.from('h')]);
    expect(store.reads).toBe(reads + 1);
    cache.warm([statKey('/a')]);
    expect(store.reads).toBe(reads + 1); // cached now: nothing to warm
  });

  it('a warm-up read that fails leaves the key to the next reader', async () => {
    const store = new SlowStore();
    const cache = new StateCache(store);
    const failing = { ...store, getMany: async () => { throw new Error('disk'); } };
    const broken = new StateCache(failing as unknown as SlowStore);
    broken.warm([statKey('/a')]);
    await new Promise((r) => setImmediate(r));
    expect(broken.warming).toBe(0);
    expect(broken.size).toBe(0);
    expect(await cache.getMany([statKey('/a')])).toEqual([undefined]);
  });

  it('stays within its byte budget, oldest unreferenced out first', async () => {
    const store = new SlowStore();
    const cache = new StateCache(store, 2_000);
    for (let i = 0; i < 100; i++) write(store, cache, [[statKey(`/n${i}`), Buffer.alloc(100)]]);
    expect(cache.sizeBytes).toBeLessThanOrEqual(2_000);
    expect(cache.size).toBeGreaterThan(5);
    const readsBefore = store.reads;
    await cache.getMany([statKey('/n99')]);
    expect(store.reads).toBe(readsBefore); // recent: cached
    await cache.getMany([statKey('/n0')]);
    expect(store.reads).toBe(readsBefore + 1); // old: evicted, read from the store
  });

  it('gives a record read since it came in a second chance over older unread ones (CLOCK)', async () => {
    const store = new SlowStore();
    const cache = new StateCache(store, 1_000);
    const key = (i: number) => statKey(`/n${i}`);
    for (let i = 0; i < 5; i++) write(store, cache, [[key(i), Buffer.alloc(100)]]); // 5 × ~170 bytes fit
    await cache.getMany([key(0)]); // the oldest is read: referenced
    write(store, cache, [[key(5), Buffer.alloc(100)]]); // over budget: /n0 goes round, /n1 goes
    const readsBefore = store.reads;
    await cache.getMany([key(0)]);
    expect(store.reads).toBe(readsBefore); // kept
    await cache.getMany([key(1)]);
    expect(store.reads).toBe(readsBefore + 1); // evicted
    expect(cache.sizeBytes).toBeLessThanOrEqual(1_000);
  });

  it('replacing a cached record keeps the byte count exact; an oversized value is dropped, not kept stale', async () => {
    const store = new SlowStore();
    const cache = new StateCache(store);
    const k = statKey('/v');
    write(store, cache, [[k, Buffer.alloc(10)]]);
    const small = cache.sizeBytes;
    write(store, cache, [[k, Buffer.alloc(30)]]);
    expect(cache.sizeBytes).toBe(small + 20);
    write(store, cache, [[k, Buffer.alloc(64 * 1024)]]);
    expect(cache.size).toBe(0);
    expect(cache.sizeBytes).toBe(0);
    expect((await cache.getMany([k]))[0]!.length).toBe(64 * 1024); // read from the store
  });

  it('a staged batch is read from memory until written, for every prefix and size; then uncached keys go back to the store', async () => {
    const store = new SlowStore();
    const cache = new StateCache(store);
    const child = childKey('/a', 'b'); // not a cached prefix
    const big = statKey('/big'); // a value too large to cache
    const lock = lockKey('L');
    const writes: Array<[string, Buffer | null]> = [
      [child.toString('latin1'), Buffer.alloc(0)], [big.toString('latin1'), Buffer.alloc(20_000, 1)], [lock.toString('latin1'), Buffer.from('held')],
    ];
    const batch = cache.staged(writes);
    const [c, b, l] = await cache.getMany([child, big, lock]);
    expect([c?.length, b?.length, l?.toString()]).toEqual([0, 20_000, 'held']);
    expect(store.reads).toBe(0); // none of them is in the store yet
    const written = new MemoryBatch();
    for (const [k, v] of writes) written.put(Buffer.from(k, 'latin1'), v!);
    store.write(written);
    cache.written(batch);
    expect(cache.stagedBatchCount).toBe(0);
    await cache.getMany([child, big]);
    expect(store.reads).toBe(1); // uncached prefix and oversized value: from the store again
    await cache.getMany([lock]);
    expect(store.reads).toBe(1); // a cached prefix stays
  });

  it('staged records are never evicted, even over budget; once written they may be', async () => {
    const store = new SlowStore();
    const cache = new StateCache(store, 500);
    const keys = Array.from({ length: 10 }, (_, i) => statKey(`/p${i}`));
    const writes = keys.map((k) => [k.toString('latin1'), Buffer.alloc(100)] as [string, Buffer]);
    const batch = cache.staged(writes);
    expect(cache.size).toBe(10); // over the 500-byte budget, all pinned
    expect((await cache.getMany(keys)).every((v) => v?.length === 100)).toBe(true);
    expect(store.reads).toBe(0);
    const written = new MemoryBatch();
    for (const [k, v] of writes) written.put(Buffer.from(k, 'latin1'), v);
    store.write(written);
    cache.written(batch);
    expect(cache.sizeBytes).toBeLessThanOrEqual(500);
  });

  it('two staged batches writing one key: the later value wins, and writing the earlier batch does not bring its value back', async () => {
    const store = new SlowStore();
    const cache = new StateCache(store);
    const k = lockKey('K');
    const kk = k.toString('latin1');
    const first = cache.staged([[kk, Buffer.from('one')]]);
    const second = cache.staged([[kk, null]]);
    expect(await cache.getMany([k])).toEqual([undefined]);
    const b1 = new MemoryBatch();
    b1.put(k, Buffer.from('one'));
    store.write(b1);
    cache.written(first);
    expect(await cache.getMany([k])).toEqual([undefined]); // still the second batch's delete
    const b2 = new MemoryBatch();
    b2.del(k);
    store.write(b2);
    cache.written(second);
    expect(await cache.getMany([k])).toEqual([undefined]);
    expect(store.reads).toBe(0);
  });

  it('range scans merge the staged batches in order over the store: later writes win, deletes hide', async () => {
    const store = new SlowStore();
    const cache = new StateCache(store);
    write(store, cache, [[childKey('/d', 'a'), Buffer.from('A')], [childKey('/d', 'c'), Buffer.from('C')]]);
    const s = (name: string) => childKey('/d', name).toString('latin1');
    cache.staged([[s('b'), Buffer.from('B1')], [s('c'), null]]);
    cache.staged([[s('b'), Buffer.from('B2')], [s('e'), Buffer.from('E')]]);
    const seen: string[] = [];
    const range = { gte: childKey('/d', ''), lt: childKey('/d', '\uffff') };
    for await (const [key, value] of cache.iterate(range)) seen.push(`${key.subarray(4).toString()}=${value.toString()}`);
    expect(seen).toEqual(['a=A', 'b=B2', 'e=E']);
  });

  it('clear() forgets everything (a snapshot replaced the state)', async () => {
    const store = new SlowStore();
    const cache = new StateCache(store);
    write(store, cache, [[lockKey('L'), Buffer.from('v')]]);
    cache.clear();
    expect(cache.size).toBe(0);
    await cache.getMany([lockKey('L')]);
    expect(store.reads).toBe(1);
  });

  describe('read-ahead (a dedup slot that misses brings its next slots)', () => {
    it('names the next DEDUP_READ_AHEAD slots of the same client, wrapping at DEDUP_SLOTS; other keys none', () => {
      const names = dedupReadAhead(dedupKey('client-é', DEDUP_SLOTS - 2).toString('latin1'))!;
      expect(names).toHaveLength(DEDUP_READ_AHEAD);
      expect(names.slice(0, 3)).toEqual([DEDUP_SLOTS - 1, 0, 1].map((s) => dedupKey('client-é', s).toString('latin1')));
      expect(dedupReadAhead(lockKey('L').toString('latin1'))).toBeNull();
    });

    it('warm reads them with the miss, in one read; they answer from memory, present or absent, and count as read-ahead, not misses', async () => {
      const store = new SlowStore();
      const cache = new StateCache(store, undefined, dedupReadAhead);
      write(store, cache, [[dedupKey('c', 3), Buffer.from('kept')]]);
      cache.warm([dedupKey('c', 1)]);
      while (cache.warming > 0) await new Promise((r) => setImmediate(r));
      expect(store.reads).toBe(1);
      expect(cache.misses).toBe(1);
      expect(cache.readAheads).toBe(DEDUP_READ_AHEAD - 1); // slot 3 was cached already (its batch put it there)
      const next = Array.from({ length: DEDUP_READ_AHEAD }, (_, j) => dedupKey('c', 2 + j));
      const values = await cache.getMany(next);
      expect(values[1]!.toString()).toBe('kept');
      expect(values.filter((v) => v !== undefined)).toHaveLength(1);
      expect(store.reads).toBe(1);
      await cache.getMany([dedupKey('c', 2 + DEDUP_READ_AHEAD)]); // past the window: a miss again
      expect(store.reads).toBe(2);
    });

    it('a read-ahead answer never replaces a value a batch staged meanwhile', async () => {
      const store = new SlowStore();
      const cache = new StateCache(store, undefined, dedupReadAhead);
      const { reading, open } = await heldRead(store, cache, dedupKey('c', 1));
      const staged = cache.staged([[dedupKey('c', 2).toString('latin1'), Buffer.from('new')]]);
      open();
      await reading;
      expect((await cache.getMany([dedupKey('c', 2)]))[0]!.toString()).toBe('new');
      const batch = new MemoryBatch();
      batch.put(dedupKey('c', 2), Buffer.from('new'));
      store.write(batch);
      cache.written(staged);
      expect((await cache.getMany([dedupKey('c', 2)]))[0]!.toString()).toBe('new');
      expect(store.reads).toBe(1);
    });
  });
});
