/**
 * A bounded, write-through cache of state records in front of the store: the hot records (locks,
 * sessions, dedup slots, the fencing counter, node stats and small data) are read from memory, so
 * that applying a batch usually needs no trip to RocksDB's thread pool, and reads of hot nodes
 * neither. The state still lives in RocksDB: the cache holds at most `bytesMax` (least recently used
 * out first), so metadata larger than memory works as before.
 *
 * Coherence. The state machine is the only writer of these keys, and it tells the cache what a batch
 * wrote once that batch is in the store (`written`), so the cache never runs ahead of the store.
 * A read that missed goes to the store; if a batch was written meanwhile, its answer may predate
 * that batch, so it fills the cache only when no batch was written during the read (`generation`).
 * A snapshot replacing the state empties it (`clear`). Only point-read prefixes are cached: range
 * scans (children, a session's ephemeral nodes and locks) go to the store.
 *
 * Eviction is CLOCK (second chance), not strict LRU: a hit only marks its entry referenced; when the
 * budget is exceeded the oldest entry goes unless it was referenced since it last came round, in
 * which case it is unmarked and moved to the back. A hit thus costs one Map lookup — keeping a Map in
 * strict recency order (delete and re-insert on every hit) cost a tenth of a follower's CPU.
 *
 * Batches in flight (pipelined persistence): a batch handed to the writer but not yet written is
 * `staged` here first; its writes (all of them, every prefix) are then read from memory, and merged
 * into range scans, until `written` — so the next batch's apply, which runs before the write is done,
 * reads the state the previous entries left. Those writes are committed entries (durable on a
 * majority), so readers may see them too.
 */
import { StateKey } from './keys';
import type { StateReader } from './state-store';

/** Default budget: keys and values of cached records. */
export const STATE_CACHE_BYTES_DEFAULT = 64 * 1024 * 1024;
/** Larger values (node data) are not cached: they would push out many small hot records. */
export const STATE_CACHE_VALUE_BYTES_MAX = 16 * 1024;
/** Rough per-entry overhead of the map and strings, counted against the budget. */
const ENTRY_OVERHEAD_BYTES = 64;

const CACHED_PREFIXES = new Set<number>([
  StateKey.Stat, StateKey.Data, StateKey.Session, StateKey.Dedup, StateKey.Lock, StateKey.FenceCounter,
]);

/** Is this key's record cached (a point-read prefix)? */
export function isCachedKey(key: string): boolean {
  return CACHED_PREFIXES.has(key.charCodeAt(0));
}

/** A cached record: its value (null: known absent), its cost against the budget, its CLOCK bit. */
interface Slot {
  value: Buffer | null;
  cost: number;
  referenced: boolean;
}

export class StateCache implements StateReader {
  /** latin1 key → slot; Map order is insertion order (the CLOCK's hand starts at the oldest). */
  private readonly entries = new Map<string, Slot>();
  /** Writes of batches staged and not yet written: latin1 key → value (null: deleted), and the batch that wrote it last. */
  private readonly pending = new Map<string, { value: Buffer | null; batch: number }>();
  private batches = 0;
  private bytes = 0;
  /** Incremented by every written batch and by clear(): a read spanning one must not fill. */
  private generation = 0;
  hits = 0;
  misses = 0;

  constructor(
    private readonly store: StateReader,
    private readonly bytesMax: number = STATE_CACHE_BYTES_DEFAULT,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  async getMany(keys: readonly Buffer[]): Promise<Array<Buffer | undefined>> {
    const out: Array<Buffer | undefined> = new Array(keys.length);
    let missing: number[] | null = null;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i].toString('latin1');
      const p = this.pending.get(k);
      if (p !== undefined) {
        this.hits++;
        out[i] = p.value ?? undefined;
        continue;
      }
      const slot = isCachedKey(k) ? this.entries.get(k) : undefined;
      if (slot === undefined) {
        (missing ??= []).push(i);
        continue;
      }
      this.hits++;
      slot.referenced = true;
      out[i] = slot.value ?? undefined;
    }
    if (missing === null) return out;
    this.misses += missing.length;
    const generation = this.generation;
    const values = await this.store.getMany(missing.map((i) => keys[i]));
    const fill = generation === this.generation;
    for (let j = 0; j < missing.length; j++) {
      const i = missing[j];
      out[i] = values[j];
      if (fill) {
        const k = keys[i].toString('latin1');
        if (isCachedKey(k)) this.set(k, values[j] ?? null);
      }
    }
    return out;
  }

  iterate(options: { gte?: Buffer; gt?: Buffer; lt?: Buffer; limit?: number }): AsyncIterable<[Buffer, Buffer]> {
    if (this.pending.size === 0) return this.store.iterate(options);
    return this.mergedIterate(options);
  }

  /** The store's pairs in the range with the staged writes on top, in key order. */
  private async *mergedIterate(options: { gte?: Buffer; gt?: Buffer; lt?: Buffer; limit?: number }): AsyncGenerator<[Buffer, Buffer], void, undefined> {
    const lo = (options.gte ?? options.gt)?.toString('latin1');
    const loInclusive = options.gt === undefined;
    const hi = options.lt?.toString('latin1');
    const inRange = (k: string) => (lo === undefined || (loInclusive ? k >= lo : k > lo)) && (hi === undefined || k < hi);
    const staged = [...this.pending].filter(([k]) => inRange(k)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const limit = options.limit ?? Infinity;
    let n = 0;
    let j = 0;
    const { limit: _limit, ...range } = options;
    for await (const [key, value] of this.store.iterate(range)) {
      const k = key.toString('latin1');
      while (j < staged.length && staged[j][0] < k) {
        const [sk, sv] = staged[j++];
        if (sv.value !== null) {
          if (n++ >= limit) return;
          yield [Buffer.from(sk, 'latin1'), sv.value];
        }
      }
      if (j < staged.length && staged[j][0] === k) {
        const sv = staged[j++][1];
        if (sv.value === null) continue;
        if (n++ >= limit) return;
        yield [key, sv.value];
        continue;
      }
      if (n++ >= limit) return;
      yield [key, value];
    }
    for (; j < staged.length; j++) {
      const [sk, sv] = staged[j];
      if (sv.value === null) continue;
      if (n++ >= limit) return;
      yield [Buffer.from(sk, 'latin1'), sv.value];
    }
  }

  /** A batch was handed to the writer: its writes are read from memory until `written(batch)`. Returns the batch's number. */
  staged(writes: Iterable<readonly [string, Buffer | null]>): number {
    const batch = ++this.batches;
    this.generation++;
    for (const [k, v] of writes) this.pending.set(k, { value: v, batch });
    return batch;
  }

  /**
   * A batch is in the store: its writes (latin1 key → value, null = deleted) replace what is cached;
   * `batch` (from `staged`) releases the staged copies it still owns.
   */
  written(writes: Iterable<readonly [string, Buffer | null]>, batch?: number): void {
    this.generation++;
    for (const [k, v] of writes) {
      if (batch !== undefined && this.pending.get(k)?.batch === batch) this.pending.delete(k);
      if (isCachedKey(k)) this.set(k, v);
    }
  }

  /** Batches staged and not yet written. */
  get stagedKeys(): number {
    return this.pending.size;
  }

  /** The whole state was replaced (a snapshot): forget everything. */
  clear(): void {
    this.generation++;
    this.entries.clear();
    this.pending.clear();
    this.bytes = 0;
  }

  private set(k: string, v: Buffer | null): void {
    const slot = this.entries.get(k);
    if (v !== null && v.length > STATE_CACHE_VALUE_BYTES_MAX) {
      // Not cached (and not stale: the older copy goes too).
      if (slot !== undefined) {
        this.entries.delete(k);
        this.bytes -= slot.cost;
      }
      return;
    }
    const c = cost(k, v);
    if (slot !== undefined) {
      this.bytes += c - slot.cost;
      slot.value = v;
      slot.cost = c;
      slot.referenced = true;
    } else {
      this.entries.set(k, { value: v, cost: c, referenced: false });
      this.bytes += c;
    }
    this.evict();
  }

  /** CLOCK: the oldest unreferenced entries go until the budget holds; referenced ones get a second chance at the back. */
  private evict(): void {
    while (this.bytes > this.bytesMax && this.entries.size > 0) {
      const [oldest, slot] = this.entries.entries().next().value as [string, Slot];
      this.entries.delete(oldest);
      if (slot.referenced && this.entries.size > 0) {
        slot.referenced = false;
        this.entries.set(oldest, slot);
      } else {
        this.bytes -= slot.cost;
      }
    }
  }
}

function cost(k: string, v: Buffer | null): number {
  return k.length + (v?.length ?? 0) + ENTRY_OVERHEAD_BYTES;
}
