import { ConfState, SnapshotMetadata } from '@hikarikeeper/raft';
import { HikariError, ErrorCode } from '@hikarikeeper/protocol';
import { RocksStore, WriteBatch } from '../storage/rocks';
import { appliedPositionKey, membershipKey, STAGING_PREFIX, STAGING_RANGE, STATE_RANGE } from '../coordination/keys';
import { pack, unpack } from '../coordination/packer';

/** Bytes of records per snapshot chunk (the transport may split further). */
export const SNAPSHOT_CHUNK_BYTES = 256 * 1024;

/** The applied position and membership, written with every applied batch inside the state range. */
export function stagePosition(batch: WriteBatch, index: number, term: number, conf: ConfState | null): void {
  batch.put(appliedPositionKey, pack([index, term]));
  if (conf) batch.put(membershipKey, pack([conf.voters, conf.learners]));
}

export function decodePosition(bytes: Buffer | undefined): { index: number; term: number } {
  if (!bytes) return { index: 0, term: 0 };
  const [index, term] = unpack<[number, number]>(bytes);
  return { index, term };
}

export function decodeMembership(bytes: Buffer | undefined): ConfState | null {
  if (!bytes) return null;
  const [voters, learners] = unpack<[number[], number[]]>(bytes);
  return { voters, learners };
}

/**
 * The leader's side: the state range as a stream of chunks, read from ONE consistent view created
 * right now (before this returns), so the stream is exactly the state at the current applied index —
 * which the stream itself records (the applied-position key lies inside the range). Call `abort()` if
 * the stream will not be consumed, to release the view.
 */
export function openSnapshotSource(store: RocksStore): { chunks: AsyncIterable<Uint8Array>; abort(): void } {
  const it = store.iterate({ gte: STATE_RANGE.gte, lt: STATE_RANGE.lt });
  const first = it.next(); // creates the native iterator, and with it the consistent view, now
  first.catch(() => undefined);
  let started = false;
  const chunks = (async function* (): AsyncGenerator<Uint8Array> {
    started = true;
    let records: Array<[Buffer, Buffer]> = [];
    let bytes = 0;
    try {
      for (let r = await first; !r.done; r = await it.next()) {
        records.push(r.value);
        bytes += r.value[0].length + r.value[1].length + 8;
        if (bytes >= SNAPSHOT_CHUNK_BYTES) {
          yield pack(records);
          records = [];
          bytes = 0;
        }
      }
      yield pack(records); // the last chunk (possibly empty) marks the end
    } finally {
      await it.return(undefined);
    }
  })();
  return {
    chunks,
    abort: () => {
      if (!started) void first.then(() => it.return(undefined), () => undefined);
    },
  };
}

/** What a fully received snapshot describes. */
export interface StagedSnapshot {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
  readonly records: number;
}

/**
 * The follower's side: writes the received records into the staging range (bounded memory: one
 * chunk at a time), and returns the snapshot's position and membership, read from the stream itself.
 */
export async function stageSnapshot(store: RocksStore, chunks: AsyncIterable<Uint8Array>): Promise<StagedSnapshot> {
  const clear = new WriteBatch();
  clear.delRange(STAGING_RANGE.gte, STAGING_RANGE.lt);
  await store.write(clear, { sync: false });
  let position: { index: number; term: number } | null = null;
  let conf: ConfState | null = null;
  let records = 0;
  for await (const chunk of chunks) {
    let decoded: Array<[Buffer, Buffer]>;
    try {
      decoded = unpack<Array<[Buffer, Buffer]>>(chunk);
      if (!Array.isArray(decoded)) throw new Error('not an array');
    } catch {
      throw new HikariError(ErrorCode.BAD_FRAME, { reason: 'a snapshot chunk is not a list of records' });
    }
    const batch = new WriteBatch();
    for (const [key, value] of decoded) {
      if (!Buffer.isBuffer(key) || !Buffer.isBuffer(value) || key.length === 0 || key[0] < STATE_RANGE.gte[0] || key[0] >= STATE_RANGE.lt[0]) {
        throw new HikariError(ErrorCode.BAD_FRAME, { reason: 'a snapshot record is outside the state range' });
      }
      if (key.equals(appliedPositionKey)) position = decodePosition(value);
      if (key.equals(membershipKey)) conf = decodeMembership(value);
      batch.put(Buffer.concat([Buffer.from([STAGING_PREFIX]), key]), value);
      records++;
    }
    await store.write(batch, { sync: false });
  }
  if (!position || position.index === 0 || !conf) {
    throw new HikariError(ErrorCode.BAD_FRAME, { reason: 'the snapshot stream has no applied position or membership' });
  }
  return { index: position.index, term: position.term, confState: conf, records };
}

/**
 * Adds to `batch` the replacement of the whole state by the staged snapshot, and the removal of the
 * staging area. The caller writes the batch with the Raft parts of the same Ready (one atomic write).
 * The batch holds the whole state in memory: fine for states of a few GB; a directory swap would
 * remove that bound.
 */
export async function installStaged(store: RocksStore, batch: WriteBatch, expected: SnapshotMetadata): Promise<void> {
  batch.delRange(STATE_RANGE.gte, STATE_RANGE.lt);
  let found = false;
  for await (const [key, value] of store.iterate({ gte: STAGING_RANGE.gte, lt: STAGING_RANGE.lt })) {
    const stateKey = key.subarray(1);
    if (stateKey.equals(appliedPositionKey)) {
      const p = decodePosition(value);
      found = p.index === expected.index && p.term === expected.term;
    }
    batch.put(Buffer.from(stateKey), value);
  }
  if (!found) throw new HikariError(ErrorCode.INTERNAL, { reason: `the staged snapshot is not the one at ${expected.index}` });
  batch.delRange(STAGING_RANGE.gte, STAGING_RANGE.lt);
}
