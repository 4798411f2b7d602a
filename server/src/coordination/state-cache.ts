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

export class StateCache implements StateReader {
  /** latin1 key → value, or null for "known absent"; Map order is recency (oldest first). */
  private readonly entries = new Map<string, Buffer | null>();
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
      const v = isCachedKey(k) ? this.entries.get(k) : undefined;
      if (v === undefined) {
        (missing ??= []).push(i);
        continue;
      }
      this.hits++;
      this.touch(k, v);
      out[i] = v ?? undefined;
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
    return this.store.iterate(options);
  }

  /** A batch is in the store: its writes (latin1 key → value, null = deleted) replace what is cached. */
  written(writes: Iterable<readonly [string, Buffer | null]>): void {
    this.generation++;
    for (const [k, v] of writes) if (isCachedKey(k)) this.set(k, v);
  }

  /** The whole state was replaced (a snapshot): forget everything. */
  clear(): void {
    this.generation++;
    this.entries.clear();
    this.bytes = 0;
  }

  private touch(k: string, v: Buffer | null): void {
    this.entries.delete(k);
    this.entries.set(k, v);
  }

  private set(k: string, v: Buffer | null): void {
    const old = this.entries.get(k);
    if (old !== undefined) {
      this.bytes -= cost(k, old);
      this.entries.delete(k);
    }
    if (v !== null && v.length > STATE_CACHE_VALUE_BYTES_MAX) return; // not cached (and not stale: dropped above)
    this.entries.set(k, v);
    this.bytes += cost(k, v);
    while (this.bytes > this.bytesMax && this.entries.size > 0) {
      const [oldest, value] = this.entries.entries().next().value as [string, Buffer | null];
      this.entries.delete(oldest);
      this.bytes -= cost(oldest, value);
    }
  }
}

function cost(k: string, v: Buffer | null): number {
  return k.length + (v?.length ?? 0) + ENTRY_OVERHEAD_BYTES;
}
