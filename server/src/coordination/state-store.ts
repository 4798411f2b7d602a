/**
 * The state machine's view of its store: batched point reads, ordered range scans, and a batch to
 * write into. `RocksStore`/`WriteBatch` (server/src/storage) implement it on disk; `MemoryStateStore`
 * is the in-memory twin for unit tests and the reference the RocksDB tests are compared with.
 */
export interface StateReader {
  /** Values of `keys`, in order (undefined where absent). `latin1`, when given, is the same keys as latin1 strings (a reader may use it instead of converting). */
  getMany(keys: readonly Buffer[], latin1?: readonly string[]): Promise<Array<Buffer | undefined>>;
  iterate(options: { gte?: Buffer; gt?: Buffer; lt?: Buffer; limit?: number }): AsyncIterable<[Buffer, Buffer]>;
}

export interface BatchWriter {
  put(key: Buffer, value: Buffer): unknown;
  del(key: Buffer): unknown;
}

/** A sorted in-memory key-value store with the same semantics as the RocksDB adapter. */
export class MemoryStateStore implements StateReader {
  private readonly map = new Map<string, Buffer>();
  private sorted: string[] | null = null;

  async getMany(keys: readonly Buffer[]): Promise<Array<Buffer | undefined>> {
    return keys.map((k) => this.map.get(k.toString('latin1')));
  }

  async *iterate(options: { gte?: Buffer; gt?: Buffer; lt?: Buffer; limit?: number }): AsyncIterable<[Buffer, Buffer]> {
    if (!this.sorted) this.sorted = [...this.map.keys()].sort(compareLatin1);
    const gte = options.gte?.toString('latin1');
    const gt = options.gt?.toString('latin1');
    const lt = options.lt?.toString('latin1');
    let n = 0;
    for (const k of this.sorted.slice()) {
      if (gte !== undefined && compareLatin1(k, gte) < 0) continue;
      if (gt !== undefined && compareLatin1(k, gt) <= 0) continue;
      if (lt !== undefined && compareLatin1(k, lt) >= 0) break;
      if (options.limit !== undefined && n++ >= options.limit) break;
      const v = this.map.get(k);
      if (v) yield [Buffer.from(k, 'latin1'), v];
    }
  }

  /** Applies a batch atomically (the twin of RocksStore.write). */
  write(batch: MemoryBatch): void {
    for (const [k, v] of batch.ops) {
      if (v === null) this.map.delete(k);
      else this.map.set(k, v);
    }
    this.sorted = null;
  }

  get size(): number {
    return this.map.size;
  }

  entries(): Array<[string, Buffer]> {
    return [...this.map.entries()].sort((a, b) => compareLatin1(a[0], b[0]));
  }
}

export class MemoryBatch implements BatchWriter {
  readonly ops: Array<[string, Buffer | null]> = [];
  put(key: Buffer, value: Buffer): this {
    this.ops.push([key.toString('latin1'), Buffer.from(value)]);
    return this;
  }
  del(key: Buffer): this {
    this.ops.push([key.toString('latin1'), null]);
    return this;
  }
}

/** Byte order of latin1 strings (one char per byte): plain code unit comparison. */
function compareLatin1(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
