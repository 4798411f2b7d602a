import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { StorageError, StorageErrorCode } from './errors';
import { RocksStore, WriteBatch } from './rocks';

const k = (s: string): Buffer => Buffer.from(s);

let dir: string;
let stores: RocksStore[];

async function openStore(sub = 'db'): Promise<RocksStore> {
  const store = await RocksStore.open(path.join(dir, sub));
  stores.push(store);
  return store;
}

async function fill(store: RocksStore, keys: string[]): Promise<void> {
  const batch = new WriteBatch();
  for (const key of keys) batch.put(k(key), k(`v-${key}`));
  await store.write(batch, { sync: false });
}

async function collect(it: AsyncIterable<[Buffer, Buffer]>): Promise<string[]> {
  const out: string[] = [];
  for await (const [key] of it) out.push(key.toString());
  return out;
}

async function rejection(p: Promise<unknown>): Promise<StorageError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(StorageError);
    return e as StorageError;
  }
  throw new Error('expected a rejection');
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hk-rocks-'));
  stores = [];
});

afterEach(async () => {
  for (const s of stores) {
    expect(s.openIteratorCount).toBe(0);
    await s.close();
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('RocksStore', () => {
  it('gets what a batch put, undefined for a missing key, and many at once', async () => {
    const store = await openStore();
    await fill(store, ['a', 'b']);
    expect((await store.get(k('a')))?.toString()).toBe('v-a');
    expect(await store.get(k('zz'))).toBeUndefined();
    const many = await store.getMany([k('b'), k('missing'), k('a')]);
    expect(many.map((v) => v?.toString())).toEqual(['v-b', undefined, 'v-a']);
    expect(await store.getMany([])).toEqual([]);
  });

  it('applies puts and deletes of a batch in order', async () => {
    const store = await openStore();
    await fill(store, ['a']);
    const batch = new WriteBatch().del(k('a')).put(k('b'), k('1')).del(k('b')).put(k('c'), k('2'));
    expect(batch.length).toBe(4);
    await store.write(batch, { sync: true });
    expect(await collect(store.iterate())).toEqual(['c']);
  });

  it('refuses to write a batch twice', async () => {
    const store = await openStore();
    const batch = new WriteBatch().put(k('a'), k('1'));
    await store.write(batch, { sync: false });
    expect(() => batch.put(k('b'), k('2'))).toThrow(StorageError);
    expect((await rejection(store.write(batch, { sync: false }))).code).toBe(StorageErrorCode.INVALID_ARGUMENT);
  });

  it('iterates a range in order, in reverse and with a limit', async () => {
    const store = await openStore();
    await fill(store, ['a', 'b', 'c', 'd', 'e']);
    expect(await collect(store.iterate({ gte: k('b'), lt: k('e') }))).toEqual(['b', 'c', 'd']);
    expect(await collect(store.iterate({ gt: k('b'), lte: k('e') }))).toEqual(['c', 'd', 'e']);
    expect(await collect(store.iterate({ gte: k('b'), lt: k('e'), reverse: true }))).toEqual(['d', 'c', 'b']);
    expect(await collect(store.iterate({ limit: 2 }))).toEqual(['a', 'b']);
  });

  it('iterates a consistent view: writes made during the iteration are not seen', async () => {
    const store = await openStore();
    await fill(store, ['a', 'b', 'c']);
    const seen: string[] = [];
    for await (const [key] of store.iterate()) {
      seen.push(key.toString());
      if (seen.length === 1) {
        const batch = new WriteBatch().put(k('bb'), k('x')).put(k('z'), k('x')).del(k('c'));
        await store.write(batch, { sync: false });
      }
    }
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(await collect(store.iterate())).toEqual(['a', 'b', 'bb', 'z']);
  });

  it('ends the native iterator on break and on a throw in the loop body', async () => {
    const store = await openStore();
    await fill(store, ['a', 'b', 'c']);
    for await (const [key] of store.iterate()) {
      expect(key.toString()).toBe('a');
      expect(store.openIteratorCount).toBe(1);
      break;
    }
    expect(store.openIteratorCount).toBe(0);
    await expect(
      (async () => {
        for await (const _ of store.iterate()) throw new Error('boom');
      })(),
    ).rejects.toThrow('boom');
    expect(store.openIteratorCount).toBe(0);
    // A generator never started never creates a native iterator.
    store.iterate();
    expect(store.openIteratorCount).toBe(0);
  });

  it('closes with an iteration in progress; the iteration then fails with CLOSED', async () => {
    const store = await openStore();
    await fill(store, ['a', 'b', 'c']);
    const it = store.iterate();
    expect((await it.next()).value?.[0].toString()).toBe('a');
    expect(store.openIteratorCount).toBe(1);
    await store.close();
    expect(store.openIteratorCount).toBe(0);
    const e = await rejection(it.next());
    expect(e.code).toBe(StorageErrorCode.CLOSED);
  });

  it('rejects every operation after close with CLOSED instead of crashing the process', async () => {
    const store = await openStore();
    await fill(store, ['a']);
    await store.close();
    await store.close(); // idempotent
    expect(store.isOpen).toBe(false);
    expect((await rejection(store.get(k('a')))).code).toBe(StorageErrorCode.CLOSED);
    expect((await rejection(store.getMany([k('a')]))).code).toBe(StorageErrorCode.CLOSED);
    expect((await rejection(store.write(new WriteBatch().put(k('b'), k('1')), { sync: true }))).code).toBe(StorageErrorCode.CLOSED);
    expect((await rejection(store.iterate().next())).code).toBe(StorageErrorCode.CLOSED);
    expect((await rejection(store.compactRange(k('a'), k('z')))).code).toBe(StorageErrorCode.CLOSED);
  });

  it('wraps binding errors with the operation and where', async () => {
    await openStore('locked');
    // RocksDB holds a LOCK file: a second open of the same directory fails.
    const e = await rejection(RocksStore.open(path.join(dir, 'locked')));
    expect(e.code).toBe(StorageErrorCode.IO);
    expect(e.message).toMatch(/rocksdb open \(location .*locked\) failed: .*lock/i);
    expect(String((e.cause as { message?: unknown }).message)).toMatch(/lock/i);
  });

  it('delRange deletes stored keys and earlier puts of the batch in range, keeps later puts', async () => {
    const store = await openStore();
    await fill(store, ['a', 'b1', 'b2', 'b3', 'c']);
    const batch = new WriteBatch()
      .put(k('b0'), k('early'))
      .delRange(k('b'), k('c'))
      .put(k('b9'), k('late'))
      .delRange(k('x'), k('a')); // empty range: nothing
    await store.write(batch, { sync: true });
    expect(await collect(store.iterate())).toEqual(['a', 'b9', 'c']);
    expect(store.openIteratorCount).toBe(0);
  });

  it('holds other writes back while a delRange batch scans and writes', async () => {
    const store = await openStore();
    await fill(store, ['r1', 'r2']);
    const ranged = store.write(new WriteBatch().delRange(k('r'), k('s')), { sync: false });
    const plain = store.write(new WriteBatch().put(k('r3'), k('x')), { sync: false });
    await Promise.all([ranged, plain]);
    // The plain write waited for the range delete: r3 survives it.
    expect(await collect(store.iterate())).toEqual(['r3']);
  });

  it('reports approximate sizes and compacts a range', async () => {
    const store = await openStore();
    const batch = new WriteBatch();
    for (let i = 0; i < 1000; i++) batch.put(k(`key-${String(i).padStart(4, '0')}`), Buffer.alloc(1000, i));
    await store.write(batch, { sync: false });
    expect(await store.compactRange(k('key-'), k('key-~'))).toBe(true);
    const size = await store.approximateSize(k('key-'), k('key-~'));
    expect(typeof size).toBe('number');
    expect(size).toBeGreaterThan(0);
  });
});
