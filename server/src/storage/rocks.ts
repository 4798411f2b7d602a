import { describeKey, StorageError, StorageErrorCode } from './errors';

/*
 * The only file that knows the RocksDB binding (the `rocksdb` npm package 5.2.1, RocksDB 6.17, the
 * abstract-leveldown 7 API). Swapping the binding (e.g. for `@nxtedition/rocksdb`) changes this file
 * and nothing else: everything above it sees `RocksStore`, `WriteBatch` and Buffers.
 *
 * What the binding offers, checked in node_modules/rocksdb: `getMany` (native MultiGet on one
 * implicit snapshot), `approximateSize`, `compactRange`, array and chained batches, iterators with an
 * implicit snapshot. What it lacks: DeleteRange inside a batch (its `clear()` deletes a range outside
 * any batch, in several writes), column families and explicit snapshots.
 *
 * Two sharp edges of the binding that this wrapper guards against:
 *  - any call on a closed database (get, put, batch, iterator) crashes the process with a segfault;
 *    every call here first checks that the store is open and otherwise rejects with CLOSED;
 *  - `iterator.end()` on an iterator that `db.close()` already ended never calls back; the store
 *    tracks its live iterators, ends them itself before closing, and never ends one twice.
 */

// ---------------------------------------------------------------- the binding's shape (untyped package)

type Callback<T = void> = (err: Error | null | undefined, value?: T) => void;

interface NativeIterator {
  next(cb: (err: Error | null | undefined, key?: Buffer, value?: Buffer) => void): void;
  end(cb: (err: Error | null | undefined) => void): void;
}

type NativeOperation = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

interface NativeDb {
  status: string;
  /** The native database handle, for the binding's own functions (see NativeBinding). */
  context: unknown;
  supports?: { getMany?: boolean };
  open(options: Record<string, unknown>, cb: Callback): void;
  close(cb: Callback): void;
  get(key: Buffer, options: Record<string, unknown>, cb: Callback<Buffer>): void;
  getMany?(keys: Buffer[], options: Record<string, unknown>, cb: Callback<Array<Buffer | undefined>>): void;
  iterator(options: Record<string, unknown>): NativeIterator;
  approximateSize?(start: Buffer, end: Buffer, cb: Callback<number>): void;
  compactRange?(start: Buffer, end: Buffer, cb: Callback): void;
}

/**
 * The binding's native chained batch, called directly: `db.batch(array)` goes through
 * abstract-leveldown (an object copy and checks per operation) and then reads each operation's
 * `type`, `key` and `value` through N-API property lookups; this costs one native call per
 * operation (about 0.7 µs against 1.8 µs here), on the event loop's thread.
 */
interface NativeBinding {
  batch_init(db: unknown): unknown;
  batch_put(batch: unknown, key: Buffer, value: Buffer): void;
  batch_del(batch: unknown, key: Buffer): void;
  batch_write(batch: unknown, options: { sync: boolean }, cb: Callback): void;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const rocksdb = require('rocksdb') as (location: string) => NativeDb;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const binding = require('rocksdb/binding') as NativeBinding;

// ---------------------------------------------------------------- public types

export interface RocksOpenOptions {
  /** Create the database if it does not exist. Default true. */
  createIfMissing?: boolean;
  /** Fail if the database already exists. Default false. */
  errorIfExists?: boolean;
  /** Block cache size. The binding's default is 8 MiB. */
  cacheSizeBytes?: number;
  /** Memtable size before a flush. The binding's default is 4 MiB. */
  writeBufferSizeBytes?: number;
}

/** A key range: lower bound `gte`/`gt`, upper bound `lt`/`lte` (each optional). */
export interface KeyRange {
  gte?: Buffer;
  gt?: Buffer;
  lt?: Buffer;
  lte?: Buffer;
}

export interface IterateOptions extends KeyRange {
  /** Most pairs to visit (default: all). */
  limit?: number;
  /** Visit keys in descending order. */
  reverse?: boolean;
}

export interface WriteOptions {
  /** fsync the WAL before the write is acknowledged. */
  sync: boolean;
}

type BatchOperation =
  | { readonly type: 'put'; readonly key: Buffer; readonly value: Buffer }
  | { readonly type: 'del'; readonly key: Buffer }
  | { readonly type: 'delRange'; readonly gte: Buffer; readonly lt: Buffer };

/**
 * Puts and deletes applied atomically, in order, by one `RocksStore.write`. A batch is written once;
 * it belongs to the caller until then. It holds only Buffers: nothing binding-specific.
 */
/**
 * The memtable size. The binding's default (4 MiB) flushes often under a write load whose keys die
 * young (Raft log entries compacted soon after, lock records deleted on release): a larger memtable
 * lets many of them be overwritten or deleted before they ever reach a file, which saves the
 * flushes and compactions that otherwise take much of a node's CPU.
 */
export const WRITE_BUFFER_BYTES_DEFAULT = 64 * 1024 * 1024;

export class WriteBatch {
  private readonly ops: BatchOperation[] = [];
  private bytes = 0;
  private rangeCount = 0;
  private written = false;

  put(key: Buffer, value: Buffer): this {
    this.checkWritable(key);
    this.ops.push({ type: 'put', key, value });
    this.bytes += key.length + value.length;
    return this;
  }

  del(key: Buffer): this {
    this.checkWritable(key);
    this.ops.push({ type: 'del', key });
    this.bytes += key.length;
    return this;
  }

  /**
   * Deletes every key in [gte, lt), at this point of the batch (a later put in the same batch survives).
   *
   * Emulated — the binding has no DeleteRange: at write time the store scans the range (a consistent
   * view) and turns it into one point delete per key found, plus the keys put earlier in this batch.
   * Cost: O(keys in range) reads and tombstones, and memory for their keys; no range tombstone. Writes
   * of this store are held back while the scan runs, so no key of this process slips in between.
   * Fine for bounded ranges (a subtree, a session's keys); for the Raft log use point deletes (the
   * storage knows which indexes exist).
   */
  delRange(gte: Buffer, lt: Buffer): this {
    this.checkWritable(gte);
    if (Buffer.compare(gte, lt) >= 0) return this;
    this.ops.push({ type: 'delRange', gte, lt });
    this.rangeCount++;
    return this;
  }

  /**
   * Moves `other`'s operations to the end of this batch (group commit: several batches in one write,
   * in order). `other` counts as written from now on.
   */
  append(other: WriteBatch): this {
    if (this.written) throw new StorageError(StorageErrorCode.INVALID_ARGUMENT, 'this batch was already written');
    const { ops } = other.takeOperations();
    for (const op of ops) this.ops.push(op);
    this.bytes += other.bytes;
    this.rangeCount += other.rangeCount;
    return this;
  }

  /** Operations queued (a delRange counts as one). */
  get length(): number {
    return this.ops.length;
  }

  /** Bytes of keys and values queued (excluding delRange expansion). */
  get byteLength(): number {
    return this.bytes;
  }

  get isWritten(): boolean {
    return this.written;
  }

  /** @internal For RocksStore: marks the batch written and hands over its operations. */
  takeOperations(): { ops: readonly BatchOperation[]; hasRanges: boolean } {
    if (this.written) throw new StorageError(StorageErrorCode.INVALID_ARGUMENT, 'this batch was already written');
    this.written = true;
    return { ops: this.ops, hasRanges: this.rangeCount > 0 };
  }

  private checkWritable(key: Buffer): void {
    if (this.written) throw new StorageError(StorageErrorCode.INVALID_ARGUMENT, 'this batch was already written');
    if (key.length === 0) throw new StorageError(StorageErrorCode.INVALID_ARGUMENT, 'empty key');
  }
}

interface LiveIterator {
  readonly native: NativeIterator;
  ending: Promise<void> | null;
}

/**
 * A RocksDB database with a promise API. Reads and iterators see a consistent view; writes go
 * through `WriteBatch`. Concurrent writes have no defined order among themselves: await a write
 * before issuing one that must follow it.
 */
export class RocksStore {
  private readonly iterators = new Set<LiveIterator>();
  /** Writes in flight, so that a batch with delRange can wait for them (see WriteBatch.delRange). */
  private readonly writesInFlight = new Set<Promise<void>>();
  /** Set while a batch with delRange scans and writes: other writes wait for it. */
  private exclusiveWrite: Promise<void> | null = null;
  /** Set by the first close(): from then on every operation is refused with CLOSED. */
  private closing: Promise<void> | null = null;

  private constructor(
    readonly location: string,
    private readonly db: NativeDb,
  ) {}

  static async open(location: string, options: RocksOpenOptions = {}): Promise<RocksStore> {
    const db = rocksdb(location);
    const native: Record<string, unknown> = {
      createIfMissing: options.createIfMissing ?? true,
      errorIfExists: options.errorIfExists ?? false,
    };
    if (options.cacheSizeBytes !== undefined) native.cacheSize = options.cacheSizeBytes;
    native.writeBufferSize = options.writeBufferSizeBytes ?? WRITE_BUFFER_BYTES_DEFAULT;
    await call<void>('open', `location ${location}`, (cb) => db.open(native, cb));
    return new RocksStore(location, db);
  }

  get isOpen(): boolean {
    return this.closing === null && this.db.status === 'open';
  }

  /** Native iterators not yet ended: 0 whenever no iteration is in progress (tests check it). */
  get openIteratorCount(): number {
    return this.iterators.size;
  }

  /** Ends the live iterators, waits for writes in flight, closes the database. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    await Promise.all([...this.iterators].map((it) => this.endIterator(it)));
    await Promise.allSettled([...this.writesInFlight]);
    await call<void>('close', `location ${this.location}`, (cb) => this.db.close(cb));
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    this.checkOpen('get', key);
    return call<Buffer | undefined>('get', describeKey(key), (cb) =>
      this.db.get(key, { asBuffer: true }, (err, value) => (err && isNotFound(err) ? cb(null, undefined) : cb(err, value))),
    );
  }

  /** Values of `keys`, in order (undefined where absent). Native MultiGet when the binding has it. */
  async getMany(keys: readonly Buffer[]): Promise<Array<Buffer | undefined>> {
    if (keys.length === 0) return [];
    this.checkOpen('getMany', keys[0]);
    const db = this.db;
    if (typeof db.getMany === 'function' && db.supports?.getMany === true) {
      const values = await call<Array<Buffer | undefined>>('getMany', describeKey(keys[0]), (cb) =>
        db.getMany!(keys.slice(), { asBuffer: true }, cb),
      );
      return values ?? [];
    }
    return Promise.all(keys.map((k) => this.get(k)));
  }

  /**
   * Applies `batch` atomically; with `sync`, the WAL is fsynced before this resolves. The batch is
   * spent either way (write it once). An empty batch writes nothing and does not sync.
   */
  async write(batch: WriteBatch, options: WriteOptions): Promise<void> {
    const { ops, hasRanges } = batch.takeOperations();
    this.checkOpen('write', firstKey(ops));
    while (this.exclusiveWrite) await this.exclusiveWrite;
    if (!hasRanges) return this.trackWrite(this.writeNative(toNative(ops), options.sync, ops));
    let release!: () => void;
    this.exclusiveWrite = new Promise<void>((resolve) => (release = resolve));
    try {
      await Promise.allSettled([...this.writesInFlight]);
      const expanded = await this.expandRanges(ops);
      await this.trackWrite(this.writeNative(expanded, options.sync, ops));
    } finally {
      this.exclusiveWrite = null;
      release();
    }
  }

  /**
   * Visits `[key, value]` pairs in key order (or reverse). The native iterator — and its consistent
   * view of the database — is created when iteration starts (the first `next()`), and it is always
   * ended: at the end of the range, on `break`/`return`, on a throw in the loop body, or by `close()`.
   */
  async *iterate(options: IterateOptions = {}): AsyncGenerator<[Buffer, Buffer], void, undefined> {
    const where = describeKey(options.gte ?? options.gt ?? options.lt ?? options.lte);
    this.checkOpen('iterate', options.gte ?? options.gt);
    const native: Record<string, unknown> = { keyAsBuffer: true, valueAsBuffer: true, reverse: options.reverse === true };
    for (const bound of ['gte', 'gt', 'lt', 'lte'] as const) {
      if (options[bound] !== undefined) native[bound] = options[bound];
    }
    if (options.limit !== undefined) native.limit = options.limit;
    let created: NativeIterator;
    try {
      created = this.db.iterator(native);
    } catch (err) {
      throw wrap('iterator', where, err);
    }
    // Registered in the same tick as created: close() always sees (and ends) it.
    const live: LiveIterator = { native: created, ending: null };
    this.iterators.add(live);
    try {
      for (;;) {
        if (live.ending) throw closedError('iterate', where);
        const pair = await call<[Buffer, Buffer] | undefined>('iterator.next', where, (cb) =>
          live.native.next((err, key, value) => cb(err, key === undefined ? undefined : [key, value as Buffer])),
        );
        if (pair === undefined) return;
        yield pair;
      }
    } finally {
      await this.endIterator(live);
    }
  }

  /** Approximate bytes on disk for keys in [start, end); undefined if the binding cannot tell. */
  async approximateSize(start: Buffer, end: Buffer): Promise<number | undefined> {
    this.checkOpen('approximateSize', start);
    const db = this.db;
    if (typeof db.approximateSize !== 'function') return undefined;
    return call<number>('approximateSize', describeKey(start), (cb) => db.approximateSize!(start, end, cb));
  }

  /** Compacts [start, end) now (drops tombstones of a compacted log, for example); false if unsupported. */
  async compactRange(start: Buffer, end: Buffer): Promise<boolean> {
    this.checkOpen('compactRange', start);
    const db = this.db;
    if (typeof db.compactRange !== 'function') return false;
    await call<void>('compactRange', describeKey(start), (cb) => db.compactRange!(start, end, cb));
    return true;
  }

  // ---------------------------------------------------------------- internals

  private checkOpen(op: string, key: Buffer | undefined): void {
    if (!this.isOpen) throw closedError(op, describeKey(key));
  }

  private trackWrite(write: Promise<void>): Promise<void> {
    this.writesInFlight.add(write);
    const untrack = (): void => void this.writesInFlight.delete(write);
    write.then(untrack, untrack);
    return write;
  }

  private writeNative(native: NativeOperation[], sync: boolean, ops: readonly BatchOperation[]): Promise<void> {
    if (native.length === 0) return Promise.resolve();
    // Checked again: a write that waited (for a delRange batch) may find the store closing.
    this.checkOpen('write', firstKey(ops));
    return call<void>('write', () => `${native.length} operations, ${describePrefixes(ops)}`, (cb) => {
      const batch = binding.batch_init(this.db.context);
      for (const op of native) {
        if (op.type === 'put') binding.batch_put(batch, op.key, op.value);
        else binding.batch_del(batch, op.key);
      }
      binding.batch_write(batch, { sync }, cb);
    });
  }

  /** Replaces each delRange by point deletes of the keys in its range (see WriteBatch.delRange). */
  private async expandRanges(ops: readonly BatchOperation[]): Promise<NativeOperation[]> {
    const out: NativeOperation[] = [];
    for (const op of ops) {
      if (op.type !== 'delRange') {
        out.push(op);
        continue;
      }
      for (const earlier of out) {
        if (earlier.type === 'put' && inRange(earlier.key, op.gte, op.lt)) out.push({ type: 'del', key: earlier.key });
      }
      for await (const [key] of this.iterate({ gte: op.gte, lt: op.lt })) out.push({ type: 'del', key });
    }
    return out;
  }

  private endIterator(live: LiveIterator): Promise<void> {
    if (live.ending) return live.ending;
    live.ending = new Promise<void>((resolve) => {
      // Never rejects: ending is cleanup, and an error here has nothing left to protect.
      live.native.end(() => {
        this.iterators.delete(live);
        resolve();
      });
    });
    return live.ending;
  }
}

// ---------------------------------------------------------------- helpers

/** Runs a callback-style binding call as a promise; wraps a failure with the operation and key (`where`, built only then). */
function call<T>(op: string, where: string | (() => string), start: (cb: Callback<T>) => void): Promise<T> {
  const place = (): string => (typeof where === 'string' ? where : where());
  return new Promise<T>((resolve, reject) => {
    try {
      start((err, value) => (err ? reject(wrap(op, place(), err)) : resolve(value as T)));
    } catch (err) {
      reject(wrap(op, place(), err));
    }
  });
}

function wrap(op: string, where: string, err: unknown): StorageError {
  if (err instanceof StorageError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new StorageError(StorageErrorCode.IO, `rocksdb ${op} (${where}) failed: ${message}`, { cause: err });
}

/** The binding reports a missing key as an error whose message starts with "NotFound". */
function isNotFound(err: Error): boolean {
  return err.message.startsWith('NotFound');
}

function closedError(op: string, where: string): StorageError {
  return new StorageError(StorageErrorCode.CLOSED, `rocksdb ${op} (${where}): the store is not open`);
}

function toNative(ops: readonly BatchOperation[]): NativeOperation[] {
  return ops as NativeOperation[]; // no delRange in here: checked by the caller (hasRanges)
}

function firstKey(ops: readonly BatchOperation[]): Buffer | undefined {
  const op = ops[0];
  if (op === undefined) return undefined;
  return op.type === 'delRange' ? op.gte : op.key;
}

function inRange(key: Buffer, gte: Buffer, lt: Buffer): boolean {
  return Buffer.compare(key, gte) >= 0 && Buffer.compare(key, lt) < 0;
}

/** The distinct key prefixes a batch touches, e.g. "prefixes 0x01 0x02 0x05". */
function describePrefixes(ops: readonly BatchOperation[]): string {
  const seen = new Set<number>();
  for (const op of ops) seen.add((op.type === 'delRange' ? op.gte : op.key)[0]);
  const list = [...seen].sort((a, b) => a - b).map((p) => `0x${p.toString(16).padStart(2, '0')}`);
  return `prefixes ${list.join(' ')}`;
}
