import type { BatchWriter, StateReader } from './state-store';

/**
 * The writes of one apply batch, layered over the store: reads see earlier writes of the same batch;
 * nothing reaches the store until `flush` adds everything to the Ready's WriteBatch. A child overlay
 * (`fork`) holds the writes of one `multi`, merged into its parent on success and dropped on failure.
 */
export class Overlay {
  private readonly writes = new Map<string, Buffer | null>();

  constructor(
    private readonly base: StateReader | Overlay,
    /** Values read from the store during this batch, null where absent (shared by forks). */
    private readonly fetched: Map<string, Buffer | null> = new Map(),
  ) {}

  fork(): Overlay {
    return new Overlay(this, this.fetched);
  }

  /**
   * Loads keys from the store in one call, so that the following `get`s need no I/O. `latin1`, when
   * given, is the same keys as latin1 strings (each key is converted once).
   */
  async prefetch(keys: readonly Buffer[], latin1?: readonly string[]): Promise<void> {
    const missing: Buffer[] = [];
    const names: string[] = [];
    for (let i = 0; i < keys.length; i++) {
      const k = latin1 !== undefined ? latin1[i] : keys[i].toString('latin1');
      if (this.lookup(k) === undefined) {
        missing.push(keys[i]);
        names.push(k);
      }
    }
    if (missing.length === 0) return;
    const values = await this.store().getMany(missing, names);
    for (let i = 0; i < missing.length; i++) this.fetched.set(names[i], values[i] ?? null);
  }

  private store(): StateReader {
    let o: Overlay = this;
    while (o.base instanceof Overlay) o = o.base;
    return o.base as StateReader;
  }

  /** The value of `k` at this point of the batch: null if absent, undefined if not read yet. */
  private lookup(k: string): Buffer | null | undefined {
    const written = this.writes.get(k);
    if (written !== undefined) return written;
    if (this.base instanceof Overlay) return this.base.lookup(k);
    return this.fetched.get(k);
  }

  async get(key: Buffer): Promise<Buffer | null> {
    const k = key.toString('latin1');
    let v = this.lookup(k);
    if (v === undefined) {
      await this.prefetch([key]);
      v = this.lookup(k);
    }
    return v ?? null;
  }

  put(key: Buffer, value: Buffer): void {
    this.writes.set(key.toString('latin1'), value);
  }

  del(key: Buffer): void {
    this.writes.set(key.toString('latin1'), null);
  }

  /**
   * The pairs in [gte, lt) as they are at this point of the batch: the store's committed state with
   * this batch's writes on top (forks included). Apply code must never scan the store alone: replicas
   * split the same entries into different batches, and only the merged view is the same everywhere.
   */
  async scan(gte: Buffer, lt: Buffer): Promise<Array<[Buffer, Buffer]>> {
    const lo = gte.toString('latin1');
    const hi = lt.toString('latin1');
    const chain: Overlay[] = [];
    for (let o: Overlay | StateReader = this; o instanceof Overlay; o = o.base) chain.unshift(o);
    const writes = new Map<string, Buffer | null>();
    for (const o of chain) for (const [k, v] of o.writes) if (k >= lo && k < hi) writes.set(k, v);
    const merged = new Map<string, Buffer>();
    for await (const [key, value] of this.store().iterate({ gte, lt })) {
      const k = key.toString('latin1');
      if (!writes.has(k)) merged.set(k, value);
    }
    for (const [k, v] of writes) if (v) merged.set(k, v);
    return [...merged.keys()].sort().map((k) => [Buffer.from(k, 'latin1'), merged.get(k)!]);
  }

  /** Merges a fork's writes into this overlay. */
  absorb(child: Overlay): void {
    for (const [k, v] of child.writes) this.writes.set(k, v);
  }

  /** Adds every write to `batch`, in key order (deterministic batches); returns them (latin1 key, value or null). */
  flush(batch: BatchWriter): Array<[string, Buffer | null]> {
    const keys = [...this.writes.keys()].sort();
    const out: Array<[string, Buffer | null]> = [];
    for (const k of keys) {
      const v = this.writes.get(k) ?? null;
      if (v === null) batch.del(Buffer.from(k, 'latin1'));
      else batch.put(Buffer.from(k, 'latin1'), v);
      out.push([k, v]);
    }
    return out;
  }

  get writeCount(): number {
    return this.writes.size;
  }

}
