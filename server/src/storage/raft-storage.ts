import {
  ConfState,
  Entry,
  HardState,
  RaftError,
  RaftErrorCode,
  Snapshot,
  SnapshotMetadata,
  Storage,
} from '@hikarikeeper/raft';
import { StorageError, StorageErrorCode } from './errors';
import {
  appliedKey,
  confStateKey,
  decodeEntry,
  decodeLogKey,
  decodeU64,
  encodeEntry,
  encodeU64,
  hardStateKey,
  LAYOUT_VERSION,
  layoutVersionKey,
  logKey,
  logStartKey,
  prefixRange,
  Prefix,
  snapshotMetaKey,
} from './keys';
import { LogTail, StagedLog } from './log-tail';
import {
  decodeConfState,
  decodeHardState,
  decodeLogPosition,
  decodeSnapshotMetadata,
  decodeU32,
  encodeConfState,
  encodeHardState,
  encodeLogPosition,
  encodeSnapshotMetadata,
  encodeU32,
  LogPosition,
} from './records';
import { RocksStore, WriteBatch, WriteOptions } from './rocks';

/**
 * Default hard bound on the entries held in memory. The server's compaction policy (snapshot and
 * compact every N entries or M bytes) keeps the tail far below it; reaching it means the policy is
 * not being applied, and the storage refuses to grow rather than run the process out of memory.
 */
export const TAIL_ENTRIES_MAX_DEFAULT = 1 << 20;

export interface RocksRaftStorageOptions {
  /** Hard bound on the in-memory log tail, in entries. Default TAIL_ENTRIES_MAX_DEFAULT. */
  tailEntriesMax?: number;
}

/** The durable parts of one Ready (plus the applied state), staged into the Ready's batch. */
export interface ReadyParts {
  /** `Ready.snapshot.metadata`: a snapshot installed from the leader (see `applySnapshotMetadata`). */
  snapshot?: SnapshotMetadata | null;
  /** `Ready.entries`: appended, replacing any conflicting suffix of the log. */
  entries?: readonly Entry[];
  /** `Ready.hardState`. */
  hardState?: HardState | null;
  /** Membership after applying a ConfChange entry (with the `applied` index of that entry). */
  confState?: ConfState | null;
  /** The last index applied to the state machine, in the batch that holds the state it describes. */
  applied?: number;
}

/** What a batch will change once written; kept apart from the durable view until then. */
interface Staged {
  readonly batch: WriteBatch;
  readonly log: StagedLog;
  hardState: HardState;
  confState: ConfState;
  snapshot: SnapshotMetadata;
  applied: number;
}

const EMPTY_DATA = new Uint8Array(0);
const EMPTY_CONF: ConfState = Object.freeze({ voters: [], learners: [] });
const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: 0, commit: 0 });

/**
 * The Raft core's storage port on RocksDB.
 *
 * **Reads** (`initialState`, `entries`, `term`, `firstIndex`, `lastIndex`, `snapshot`) are synchronous
 * and served from memory, with `MemoryStorage`'s exact semantics and errors. Memory holds what is on
 * disk and nothing else: the hard state, membership, snapshot *metadata* (never the snapshot's bytes:
 * `snapshot().data` is empty, the server streams the state machine separately) and the log tail since
 * the compaction point. The tail is bounded by the compaction policy the server applies — take a
 * snapshot and `compact` every N entries / M bytes (`tailStats()` tells when) — and hard-bounded by
 * `tailEntriesMax`.
 *
 * **Writes** follow a stage-then-commit contract, one batch per Ready:
 *
 *     const batch = new WriteBatch();
 *     storage.stage(batch, { snapshot: rd.snapshot?.metadata, entries: rd.entries, hardState: rd.hardState });
 *     ...the state machine adds its writes for rd.committedEntries, then
 *     storage.stage(batch, { applied: lastAppliedIndex, confState });    // same batch
 *     storage.createSnapshot(batch, index, confState); storage.compact(batch, index);  // sometimes
 *     await storage.persist(batch, { sync: rd.mustSync });                // write, then commit to memory
 *     ...send rd.messages, rawNode.advance()
 *
 *  - Staging calls add operations to the batch and record the change as *staged*; the durable view
 *    the reads serve does not move. Calls staged into one batch see each other's effects (a compaction
 *    may cover entries appended earlier in the same batch), in call order.
 *  - `persist` writes the batch and, only once the write succeeded, applies the staged change to
 *    memory (`commitStaged`). If the write fails the staged change is dropped (`discardStaged`), so
 *    memory stays equal to disk. A failed (synced) write is still fatal for the server: the core has
 *    handed out those entries, and the process should stop and restart from disk.
 *  - One batch is staged at a time (one Ready is outstanding at a time): staging into a second batch
 *    before the first is committed or discarded is a broken invariant (RaftError INVARIANT).
 *  - If a staging call throws, the parts before the failing one are staged (batch and staged state
 *    still agree); the caller should `discardStaged` and drop the batch — it is a bug either way.
 *  - `persist`/`commitStaged` of a batch with nothing staged is a plain write.
 *
 * Pipelined persistence (`handOff`): the runtime may hand a batch to the writer and stage the next
 * Ready before the first write is done. `handOff` moves the view at once (the next batch stages on
 * top of it) and queues the write behind the earlier ones, so batches reach disk in order. The view
 * may then be ahead of the disk by the batches in flight — harmless for the core, which reads from
 * storage only entries it was told are durable (`RawNode.persisted`); a failed write is fatal.
 */
export class RocksRaftStorage implements Storage {
  private staged: Staged | null = null;
  private snapshotCache: Snapshot;

  private constructor(
    private readonly store: RocksStore,
    private readonly log: LogTail,
    private hardState: HardState,
    private confState: ConfState,
    private snapshotMeta: SnapshotMetadata,
    private applied: number,
    private readonly tailEntriesMax: number,
  ) {
    this.snapshotCache = { metadata: snapshotMeta, data: EMPTY_DATA };
  }

  /**
   * Loads the durable state of a node: an empty store gives a new node (snapshot index 0, term 0, an
   * empty log) and gets the layout version written. Throws CORRUPT if the stored log is not a
   * contiguous run after the recorded log start, and INVALID_ARGUMENT if it is over `tailEntriesMax`.
   */
  static async open(store: RocksStore, options: RocksRaftStorageOptions = {}): Promise<RocksRaftStorage> {
    const tailEntriesMax = options.tailEntriesMax ?? TAIL_ENTRIES_MAX_DEFAULT;
    const [version, hs, snap, conf, applied, start] = await store.getMany([
      layoutVersionKey, hardStateKey, snapshotMetaKey, confStateKey, appliedKey, logStartKey,
    ]);
    if (version === undefined) {
      await store.write(new WriteBatch().put(layoutVersionKey, encodeU32(LAYOUT_VERSION)), { sync: true });
    } else if (decodeU32('layout version', version) !== LAYOUT_VERSION) {
      throw new StorageError(StorageErrorCode.CORRUPT, `layout version ${decodeU32('layout version', version)}, this code reads ${LAYOUT_VERSION}`);
    }
    const snapshotMeta = snap ? decodeSnapshotMetadata(snap) : { index: 0, term: 0, confState: EMPTY_CONF };
    const dummy = start ? decodeLogPosition(start) : { index: 0, term: 0 };
    if (dummy.index > snapshotMeta.index) {
      throw new StorageError(StorageErrorCode.CORRUPT, `log starts after ${dummy.index}, past the snapshot at ${snapshotMeta.index}`);
    }
    const entries = await loadLog(store, dummy, tailEntriesMax);
    return new RocksRaftStorage(
      store,
      new LogTail(dummy, entries),
      hs ? decodeHardState(hs) : EMPTY_HARD_STATE,
      conf ? decodeConfState(conf) : EMPTY_CONF,
      snapshotMeta,
      applied ? decodeU64(applied) : 0,
      tailEntriesMax,
    );
  }

  // ---------------------------------------------------------------- Storage (the durable view)

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hardState, confState: this.confState };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.log.entries(lo, hi, maxBytes);
  }

  term(index: number): number {
    return this.log.term(index);
  }

  firstIndex(): number {
    return this.log.firstIndex();
  }

  lastIndex(): number {
    return this.log.lastIndex();
  }

  /** The latest snapshot's metadata; `data` is always empty (the bytes are streamed out of band). */
  snapshot(): Snapshot {
    return this.snapshotCache;
  }

  /** The applied index saved with the state machine: pass it as `RaftConfig.applied` on start. */
  appliedIndex(): number {
    return this.applied;
  }

  /** Size of the in-memory tail, for the server's compaction policy. */
  tailStats(): { entries: number; bytes: number } {
    return { entries: this.log.entryCount, bytes: this.log.byteCount };
  }

  hasStaged(): boolean {
    return this.staged !== null;
  }

  // ---------------------------------------------------------------- writes

  /** Writes the first membership of a brand-new cluster (synced). Only on a node with no state. */
  async bootstrap(confState: ConfState): Promise<void> {
    const fresh = this.lastIndex() === 0 && this.snapshotMeta.index === 0 && this.hardState.term === 0 &&
      this.confState.voters.length + this.confState.learners.length === 0;
    if (!fresh) throw new RaftError(RaftErrorCode.INVALID_ARGUMENT, 'bootstrap on a node that already has state');
    if (confState.voters.length === 0) throw new RaftError(RaftErrorCode.INVALID_ARGUMENT, 'bootstrap without voters');
    const batch = new WriteBatch();
    this.stage(batch, { confState });
    await this.persist(batch, { sync: true });
  }

  /**
   * Stages the durable parts of a Ready, in the order the Ready contract gives: snapshot, entries,
   * hard state; then membership and the applied index. Entries replace any conflicting suffix: the
   * keys of old entries past the new last index are deleted in the same batch.
   */
  stage(batch: WriteBatch, parts: ReadyParts): void {
    const s = this.stageFor(batch);
    if (parts.snapshot) this.applySnapshotMetadata(batch, parts.snapshot);
    if (parts.entries && parts.entries.length > 0) this.stageEntries(s, parts.entries);
    if (parts.hardState) {
      const hs = parts.hardState;
      if (hs.commit > s.log.lastIndex()) {
        throw new RaftError(RaftErrorCode.INVARIANT, `hard state commit ${hs.commit} is past last index ${s.log.lastIndex()}`);
      }
      batch.put(hardStateKey, encodeHardState(hs));
      s.hardState = hs;
    }
    if (parts.confState) {
      batch.put(confStateKey, encodeConfState(parts.confState));
      s.confState = parts.confState;
    }
    if (parts.applied !== undefined) {
      if (parts.applied < s.applied) {
        throw new RaftError(RaftErrorCode.INVARIANT, `applied index going back from ${s.applied} to ${parts.applied}`);
      }
      batch.put(appliedKey, encodeU64(parts.applied));
      s.applied = parts.applied;
    }
  }

  /**
   * Records a snapshot of the state machine at `index` (already applied, in this batch or before)
   * with membership `confState`, as `MemoryStorage.createSnapshot`: SNAPSHOT_OUT_OF_DATE if not newer
   * than the current one, UNAVAILABLE past the last index, COMPACTED below the first.
   */
  createSnapshot(batch: WriteBatch, index: number, confState: ConfState): SnapshotMetadata {
    const s = this.stageFor(batch);
    if (index <= s.snapshot.index) {
      throw new RaftError(RaftErrorCode.SNAPSHOT_OUT_OF_DATE, `snapshot ${index} is not newer`);
    }
    if (index > s.log.lastIndex()) {
      throw new RaftError(RaftErrorCode.UNAVAILABLE, `snapshot ${index} is past last index ${s.log.lastIndex()}`);
    }
    if (index > s.applied) {
      throw new RaftError(RaftErrorCode.INVARIANT, `snapshot ${index} is past the applied index ${s.applied}`);
    }
    const metadata: SnapshotMetadata = { index, term: s.log.term(index), confState };
    batch.put(snapshotMetaKey, encodeSnapshotMetadata(metadata));
    s.snapshot = metadata;
    return metadata;
  }

  /**
   * Deletes the log entries up to `compactIndex` (a no-op at or below the current compaction point),
   * as `MemoryStorage.compact`, with one more rule: they must be covered by the snapshot (recorded
   * before or in this batch), else INVARIANT — entries no snapshot covers would be lost for a
   * follower that needs them. Keeping some entries behind the snapshot (compactIndex < snapshot
   * index) is allowed, for followers that lag a little.
   */
  compact(batch: WriteBatch, compactIndex: number): void {
    const s = this.stageFor(batch);
    const old = s.log.dummy.index;
    if (compactIndex <= old) return;
    if (compactIndex > s.log.lastIndex()) {
      throw new RaftError(RaftErrorCode.UNAVAILABLE, `compact(${compactIndex}) is past last index ${s.log.lastIndex()}`);
    }
    if (compactIndex > s.snapshot.index) {
      throw new RaftError(RaftErrorCode.INVARIANT, `compact(${compactIndex}) is past the snapshot at ${s.snapshot.index}`);
    }
    const start = s.log.compact(compactIndex);
    for (let i = old + 1; i <= compactIndex; i++) batch.del(logKey(i));
    batch.put(logStartKey, encodeLogPosition(start));
  }

  /**
   * Installs the metadata of a snapshot received from the leader (`Ready.snapshot`), as
   * `MemoryStorage.applySnapshot`: the log is emptied and continues after the snapshot, membership
   * becomes the snapshot's, and the applied index becomes the snapshot's index — so the state
   * machine's data for the snapshot must be in place in this batch or before it.
   */
  applySnapshotMetadata(batch: WriteBatch, metadata: SnapshotMetadata): void {
    const s = this.stageFor(batch);
    if (metadata.index <= s.snapshot.index) {
      throw new RaftError(RaftErrorCode.SNAPSHOT_OUT_OF_DATE, `snapshot ${metadata.index} is not newer`);
    }
    for (let i = s.log.firstIndex(); i <= s.log.lastIndex(); i++) batch.del(logKey(i));
    const at: LogPosition = { index: metadata.index, term: metadata.term };
    s.log.reset(at);
    batch.put(logStartKey, encodeLogPosition(at));
    batch.put(snapshotMetaKey, encodeSnapshotMetadata(metadata));
    batch.put(confStateKey, encodeConfState(metadata.confState));
    s.snapshot = metadata;
    s.confState = metadata.confState;
    if (metadata.index > s.applied) {
      batch.put(appliedKey, encodeU64(metadata.index));
      s.applied = metadata.index;
    }
  }

  /** Writes `batch` (after any handed-off writes) and then commits what was staged into it (or drops it if the write fails). */
  async persist(batch: WriteBatch, options: WriteOptions): Promise<void> {
    await this.writesInFlight;
    try {
      await this.store.write(batch, options);
    } catch (e) {
      this.discardStaged(batch);
      throw e;
    }
    this.commitStaged(batch);
  }

  /** Writes handed off and not yet done (their chain), see handOff. */
  private writesInFlight: Promise<void> = Promise.resolve();

  /**
   * Pipelined persistence: what was staged into `batch` becomes the view now, and `batch` is written
   * after the batches handed off before it. Resolves once it is on disk; rejects if the write fails
   * (then the view is ahead of the disk: the node must stop and restart from disk).
   */
  handOff(batch: WriteBatch, options: WriteOptions): Promise<void> {
    const s = this.staged;
    if (s !== null && s.batch === batch) this.applyStaged(s);
    // Group commit: batches handed off while a write is on its way go together in the next write
    // (one fsync for all of them), in the order they came.
    let group = this.nextGroup;
    if (group === null) {
      let resolve!: () => void;
      let reject!: (e: unknown) => void;
      const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
      group = { batch: new WriteBatch(), sync: false, done, resolve, reject };
      this.nextGroup = group;
      const g = group;
      const write = this.writesInFlight.then(async () => {
        if (this.nextGroup === g) this.nextGroup = null; // later batches form the next group
        await this.store.write(g.batch, { sync: g.sync });
      });
      this.writesInFlight = write.catch(() => undefined);
      write.then(g.resolve, g.reject);
    }
    group.batch.append(batch);
    group.sync ||= options.sync;
    return group.done;
  }

  /** The batches waiting for the write in flight to finish, to be written together next. */
  private nextGroup: { batch: WriteBatch; sync: boolean; done: Promise<void>; resolve(): void; reject(e: unknown): void } | null = null;

  /** After `batch` was written successfully: makes its staged change the durable view. */
  commitStaged(batch: WriteBatch): void {
    const s = this.staged;
    if (s === null || s.batch !== batch) return; // nothing was staged into this batch
    if (!batch.isWritten) throw new RaftError(RaftErrorCode.INVARIANT, 'commitStaged before the batch was written');
    this.applyStaged(s);
  }

  private applyStaged(s: Staged): void {
    s.log.applyTo(this.log);
    this.hardState = s.hardState;
    this.confState = s.confState;
    this.applied = s.applied;
    if (s.snapshot !== this.snapshotMeta) {
      this.snapshotMeta = s.snapshot;
      this.snapshotCache = { metadata: s.snapshot, data: EMPTY_DATA };
    }
    this.staged = null;
  }

  /** Drops what was staged into `batch` (its write failed, or it will not be written). */
  discardStaged(batch: WriteBatch): void {
    if (this.staged !== null && this.staged.batch === batch) this.staged = null;
  }

  // ---------------------------------------------------------------- internals

  private stageFor(batch: WriteBatch): Staged {
    const s = this.staged;
    if (s !== null) {
      if (s.batch !== batch) throw new RaftError(RaftErrorCode.INVARIANT, 'another batch is staged and not yet committed');
      return s;
    }
    if (batch.isWritten) throw new RaftError(RaftErrorCode.INVARIANT, 'staging into a batch already written');
    this.staged = {
      batch,
      log: new StagedLog(this.log),
      hardState: this.hardState,
      confState: this.confState,
      snapshot: this.snapshotMeta,
      applied: this.applied,
    };
    return this.staged;
  }

  private stageEntries(s: Staged, entries: readonly Entry[]): void {
    const first = entries[0].index;
    for (let i = 1; i < entries.length; i++) {
      if (entries[i].index !== first + i) {
        throw new RaftError(RaftErrorCode.INVARIANT, `entries not contiguous: ${entries[i].index} after ${entries[i - 1].index}`);
      }
    }
    const newLast = entries[entries.length - 1].index;
    if (newLast - s.log.dummy.index > this.tailEntriesMax) {
      throw new RaftError(RaftErrorCode.INVARIANT, `log tail would reach ${newLast - s.log.dummy.index} entries, over ${this.tailEntriesMax}: is the compaction policy applied?`);
    }
    // The tail keeps views into the encoded values, not the caller's data (which may be a view into
    // a large network frame): memory then holds exactly the bytes on disk.
    const encoded = entries.map((e) => encodeEntry(e));
    const plan = s.log.append(entries.map((e, i) => decodeEntry(e.index, encoded[i])));
    if (plan === null) return;
    const compacted = entries.length - plan.put.length; // leading entries at or below the compaction point
    for (let i = 0; i < plan.put.length; i++) s.batch.put(logKey(plan.put[i].index), encoded[compacted + i]);
    for (let i = plan.deleteFrom; i <= plan.deleteTo; i++) s.batch.del(logKey(i));
  }
}

/** Reads the stored log: it must be a contiguous run starting right after `dummy`. */
async function loadLog(store: RocksStore, dummy: LogPosition, tailEntriesMax: number): Promise<Entry[]> {
  const entries: Entry[] = [];
  let expected = dummy.index + 1;
  for await (const [key, value] of store.iterate(prefixRange(Prefix.RaftLog))) {
    const index = decodeLogKey(key);
    if (index !== expected) {
      throw new StorageError(StorageErrorCode.CORRUPT, `log entry ${index} found where ${expected} was expected (log start ${dummy.index})`);
    }
    if (entries.length >= tailEntriesMax) {
      throw new StorageError(StorageErrorCode.INVALID_ARGUMENT, `stored log tail is over tailEntriesMax (${tailEntriesMax}); raise it to open this store`);
    }
    entries.push(decodeEntry(index, value));
    expected++;
  }
  return entries;
}
