/**
 * A bounded, write-through cache of state records in front of the store: the hot records (locks,
 * sessions, dedup slots, the fencing counter, node stats and small data) are read from memory, so
 * that applying a batch usually needs no trip to RocksDB's thread pool, and reads of hot nodes
 * neither. The state still lives in RocksDB: the cache holds at most `bytesMax` (least recently used
 * out first), so metadata larger than memory works as before.
 *
 * Coherence. The state machine is the only writer of these keys, and it tells the cache what a batch
 * wrote once that batch is in the store (`staged`, then `written`), so the cache never runs ahead of the store.
 * A read that missed goes to the store, and its answer may predate a batch written meanwhile. It
 * still fills the cache, key by key, where no slot was made since: a batch that wrote a cached key
 * during the read put that key in its slot when it was staged, and the slot is still there unless a
 * cached key left the cache since the read began (eviction, a value grown too large, `clear`) — which
 * `removals` counts, and then the read fills nothing. A snapshot replacing the state empties it
 * (`clear`). Only point-read prefixes are cached: range scans (children, a session's ephemeral nodes
 * and locks) go to the store.
 *
 * Warming. `warm` starts the reads a batch's apply will need as soon as its entries are appended
 * (see CoordinationStateMachine.warm): the misses are read while the entries are being replicated,
 * and the apply, which waits for its reads, finds them in memory.
 *
 * Read-ahead. A key that misses may bring its likely successors along in the same read (one trip to
 * the thread pool): the owner passes `readAhead`, which names them (the state machine names a
 * client's next dedup slots — each write uses the next slot, and an unused slot is absent, which
 * the cache then knows without asking the store again). They fill the cache like any read.
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
 * majority), so readers may see them too. A staged write lives in the same slot as the cached record
 * of its key (one Map lookup per read, one per written key), pinned — never evicted — until its
 * batch is written; then a key of a prefix that is not cached (or a value too large) leaves.
 */
import { StateKey } from './keys';
import type { StateReader } from './state-store';

/** Default budget: keys and values of cached records. */
export const STATE_CACHE_BYTES_DEFAULT = 64 * 1024 * 1024;
/** Larger values (node data) are not cached: they would push out many small hot records. */
export const STATE_CACHE_VALUE_BYTES_MAX = 16 * 1024;
/** Most keys one `warm` call reads (a Ready of many entries warms its first ones). */
export const WARM_KEYS_MAX = 4096;
/** Rough per-entry overhead of the map and strings, counted against the budget. */
const ENTRY_OVERHEAD_BYTES = 64;

const CACHED_PREFIXES = new Set<number>([
  StateKey.Stat, StateKey.Data, StateKey.Session, StateKey.Dedup, StateKey.Lock, StateKey.FenceCounter,
]);

/** Keys (latin1) worth reading along with a key that missed (latin1), or null: see Read-ahead. Must be cached keys. */
export type ReadAhead = (missed: string) => readonly string[] | null;

/** Is this key's record cached (a point-read prefix)? */
export function isCachedKey(key: string): boolean {
  return CACHED_PREFIXES.has(key.charCodeAt(0));
}

/** May this record stay in the cache once it is in the store? */
function keeps(key: string, value: Buffer | null): boolean {
  return isCachedKey(key) && (value === null || value.length <= STATE_CACHE_VALUE_BYTES_MAX);
}

/**
 * One key's record in memory: its value (null: known absent, or deleted by a staged batch), its cost
 * against the budget, its CLOCK bit, and the staged batch that wrote it and is not written yet (0:
 * none — the value is the store's).
 */
interface Slot {
  value: Buffer | null;
  cost: number;
  referenced: boolean;
  staged: number;
}

export class StateCache implements StateReader {
  /** latin1 key → slot; Map order is insertion order (the CLOCK's hand starts at the oldest). */
  private readonly entries = new Map<string, Slot>();
  /** The writes of each staged batch not yet written, in batch order (for range scans). */
  private readonly stagedBatches = new Map<number, ReadonlyArray<readonly [string, Buffer | null]>>();
  private batches = 0;
  private bytes = 0;
  /** Cached keys that left the cache (evicted, too large once written, cleared): a read spanning one fills nothing. */
  private removals = 0;
  hits = 0;
  misses = 0;
  /** Keys read only as read-ahead of a miss (not counted in `misses`). */
  readAheads = 0;

  constructor(
    private readonly store: StateReader,
    private readonly bytesMax: number = STATE_CACHE_BYTES_DEFAULT,
    private readonly readAhead: ReadAhead | null = null,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  /** Values of `keys` (undefined where absent); `latin1`, when given, is the same keys as latin1 strings. */
  async getMany(keys: readonly Buffer[], latin1?: readonly string[]): Promise<Array<Buffer | undefined>> {
    const out: Array<Buffer | undefined> = new Array(keys.length);
    let missing: number[] | null = null;
    for (let i = 0; i < keys.length; i++) {
      const slot = this.entries.get(latin1 !== undefined ? latin1[i] : keys[i].toString('latin1'));
      if (slot === undefined) {
        (missing ??= []).push(i);
        continue;
      }
      this.hits++;
      slot.referenced = true;
      out[i] = slot.value ?? undefined;
    }
    if (missing === null) return out;
    const missKeys = missing.map((i) => keys[i]);
    const missNames = missing.map((i) => (latin1 !== undefined ? latin1[i] : keys[i].toString('latin1')));
    if (this.readAhead !== null) this.addReadAhead(missKeys, missNames, new Set(missNames), Infinity);
    const values = await this.load(missKeys, missNames, missing.length);
    for (let j = 0; j < missing.length; j++) out[missing[j]] = values[j];
    return out;
  }

  /**
   * Starts reading the keys of `keys` not in the cache, to fill it (see Warming above); returns at
   * once. `latin1`, when given, is the same keys as latin1 strings. A failed read is left to whoever
   * reads the key next.
   */
  warm(keys: readonly Buffer[], latin1?: readonly string[]): void {
    const missing: Buffer[] = [];
    const names: string[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < keys.length && missing.length < WARM_KEYS_MAX; i++) {
      const k = latin1 !== undefined ? latin1[i] : keys[i].toString('latin1');
      if (!isCachedKey(k) || this.entries.has(k) || seen.has(k)) continue;
      seen.add(k);
      missing.push(keys[i]);
      names.push(k);
    }
    if (missing.length === 0) return;
    const missed = missing.length;
    if (this.readAhead !== null) this.addReadAhead(missing, names, seen, WARM_KEYS_MAX);
    this.warming++;
    this.load(missing, names, missed).then(
      () => this.warming--,
      () => this.warming--,
    );
  }

  /** Appends to `keys`/`names` the read-ahead of the missing keys among them that are neither cached nor in `seen` (up to `max` keys in all). */
  private addReadAhead(keys: Buffer[], names: string[], seen: Set<string>, max: number): void {
    const missed = names.length;
    for (let i = 0; i < missed && names.length < max; i++) {
      const more = this.readAhead!(names[i]);
      if (more === null) continue;
      for (const k of more) {
        if (names.length >= max) break;
        if (this.entries.has(k) || seen.has(k)) continue;
        seen.add(k);
        keys.push(Buffer.from(k, 'latin1'));
        names.push(k);
      }
    }
  }

  /** Warm-up reads in flight. */
  warming = 0;

  /** Reads `keys` from the store and fills the cache with them where that is safe (see Coherence). */
  private async load(keys: readonly Buffer[], latin1: readonly string[] | undefined, missed = keys.length): Promise<Array<Buffer | undefined>> {
    this.misses += missed;
    this.readAheads += keys.length - missed;
    const removals = this.removals;
    const values = await this.store.getMany(keys);
    const fill = removals === this.removals;
    const out: Array<Buffer | undefined> = new Array(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const value = values[i] ?? null;
      out[i] = value ?? undefined;
      if (fill) {
        const k = latin1 !== undefined ? latin1[i] : keys[i].toString('latin1');
        if (keeps(k, value) && !this.entries.has(k)) this.insert(k, value, 0);
      }
    }
    this.evict();
    return out;
  }

  iterate(options: { gte?: Buffer; gt?: Buffer; lt?: Buffer; limit?: number }): AsyncIterable<[Buffer, Buffer]> {
    if (this.stagedBatches.size === 0) return this.store.iterate(options);
    return this.mergedIterate(options);
  }

  /** The store's pairs in the range with the staged writes on top, in key order. */
  private async *mergedIterate(options: { gte?: Buffer; gt?: Buffer; lt?: Buffer; limit?: number }): AsyncGenerator<[Buffer, Buffer], void, undefined> {
    const lo = (options.gte ?? options.gt)?.toString('latin1');
    const loInclusive = options.gt === undefined;
    const hi = options.lt?.toString('latin1');
    const inRange = (k: string) => (lo === undefined || (loInclusive ? k >= lo : k > lo)) && (hi === undefined || k < hi);
    const latest = new Map<string, Buffer | null>(); // batches in order: a later write wins
    for (const writes of this.stagedBatches.values()) for (const [k, v] of writes) if (inRange(k)) latest.set(k, v);
    const staged = [...latest].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const limit = options.limit ?? Infinity;
    let n = 0;
    let j = 0;
    const { limit: _limit, ...range } = options;
    for await (const [key, value] of this.store.iterate(range)) {
      const k = key.toString('latin1');
      while (j < staged.length && staged[j][0] < k) {
        const [sk, sv] = staged[j++];
        if (sv !== null) {
          if (n++ >= limit) return;
          yield [Buffer.from(sk, 'latin1'), sv];
        }
      }
      if (j < staged.length && staged[j][0] === k) {
        const sv = staged[j++][1];
        if (sv === null) continue;
        if (n++ >= limit) return;
        yield [key, sv];
        continue;
      }
      if (n++ >= limit) return;
      yield [key, value];
    }
    for (; j < staged.length; j++) {
      const [sk, sv] = staged[j];
      if (sv === null) continue;
      if (n++ >= limit) return;
      yield [Buffer.from(sk, 'latin1'), sv];
    }
  }

  /** A batch was handed to the writer: its writes are read from memory until `written(batch)`. Returns the batch's number. */
  staged(writes: ReadonlyArray<readonly [string, Buffer | null]>): number {
    const batch = ++this.batches;
    this.stagedBatches.set(batch, writes);
    for (const [k, v] of writes) {
      const slot = this.entries.get(k);
      if (slot === undefined) this.insert(k, v, batch);
      else this.update(slot, k, v, batch);
    }
    this.evict();
    return batch;
  }

  /**
   * Staged batch `batch` is in the store: its writes are now the store's. The slots it still owns
   * are unpinned (a key of a prefix that is not cached, or a value too large, leaves); a slot a
   * later staged batch wrote since keeps that batch's value.
   */
  written(batch: number): void {
    const writes = this.stagedBatches.get(batch);
    if (writes === undefined) return;
    this.stagedBatches.delete(batch);
    for (const [k] of writes) {
      const slot = this.entries.get(k);
      if (slot === undefined || slot.staged !== batch) continue;
      slot.staged = 0;
      if (!keeps(k, slot.value)) this.remove(k, slot);
    }
    this.evict();
  }

  /** Batches staged and not yet written. */
  get stagedBatchCount(): number {
    return this.stagedBatches.size;
  }

  /** The whole state was replaced (a snapshot): forget everything. */
  clear(): void {
    this.removals++;
    this.entries.clear();
    this.stagedBatches.clear();
    this.bytes = 0;
  }

  private insert(k: string, v: Buffer | null, staged: number): void {
    const cost = costOf(k, v);
    this.entries.set(k, { value: v, cost, referenced: false, staged });
    this.bytes += cost;
  }

  private update(slot: Slot, k: string, v: Buffer | null, staged: number): void {
    const cost = costOf(k, v);
    this.bytes += cost - slot.cost;
    slot.value = v;
    slot.cost = cost;
    slot.referenced = true;
    slot.staged = staged;
  }

  private remove(k: string, slot: Slot): void {
    this.entries.delete(k);
    this.bytes -= slot.cost;
    if (isCachedKey(k)) this.removals++;
  }

  /**
   * CLOCK: the oldest unreferenced, unpinned entries go until the budget holds; referenced ones get a
   * second chance at the back, staged ones wait for their write. Gives up after one full turn in which
   * every entry was pinned (the budget is then exceeded until their batches are written).
   */
  private evict(): void {
    let turn = 0;
    while (this.bytes > this.bytesMax && this.entries.size > 0 && turn <= this.entries.size) {
      const [oldest, slot] = this.entries.entries().next().value as [string, Slot];
      this.entries.delete(oldest);
      if (slot.staged !== 0 || (slot.referenced && this.entries.size > 0)) {
        slot.referenced = false;
        this.entries.set(oldest, slot);
        turn++;
      } else {
        this.bytes -= slot.cost;
        this.removals++;
        turn = 0;
      }
    }
  }
}

function costOf(k: string, v: Buffer | null): number {
  return k.length + (v?.length ?? 0) + ENTRY_OVERHEAD_BYTES;
}
