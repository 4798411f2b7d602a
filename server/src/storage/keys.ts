import { Entry, EntryType } from '@hikarikeeper/raft';
import { StorageError, StorageErrorCode } from './errors';

/*
 * ## Key layout (one RocksDB per node, one key space)
 *
 * Every key starts with a one-byte prefix; integers are unsigned 64-bit big-endian, so that byte order
 * is numeric order and a range scan over a prefix visits entries in index order.
 *
 * | prefix | key                                       | value                                          |
 * |--------|-------------------------------------------|------------------------------------------------|
 * | 0x00   | 0x00                                      | layout version (u32); written on first open    |
 * | 0x01   | 0x01 + index (u64)                        | raft log entry: term (u64), type (u8), data    |
 * | 0x02   | 0x02                                      | hard state: term, vote, commit (3 x u64)       |
 * | 0x03   | 0x03                                      | snapshot metadata: index, term (u64), conf     |
 * | 0x04   | 0x04                                      | membership (conf state) as of the applied index|
 * | 0x05   | 0x05                                      | applied index (u64), in the batch it describes |
 * | 0x06   | 0x06                                      | log start: index, term (u64) of the entry just |
 * |        |                                           | before the first stored entry (compaction point)|
 * | 0x10   | 0x10 + path (UTF-8)                       | node data and stat (state machine)             |
 * | 0x11   | 0x11 + parent path + 0x00 + child name    | empty: the children index (listing = scan)     |
 * | 0x12   | 0x12 + session id (u64)                   | session (state machine)                        |
 * | 0x13   | 0x13 + lock name + 0x00 + ...             | lock queues (state machine)                    |
 * | 0x1F   | 0x1F + name                               | miscellaneous state machine records            |
 *
 * A conf state is encoded as: voter count (u32), voters (u64 each), learner count (u32), learners.
 * Prefixes 0x00-0x0F belong to the Raft storage, 0x10-0x1F to the state machine; 0x20 and up are free.
 * Paths and lock names never contain 0x00, which is what makes the 0x00 separator unambiguous and
 * makes the children of "/a" sort apart from the children of "/ab".
 */

export const Prefix = {
  Meta: 0x00,
  RaftLog: 0x01,
  HardState: 0x02,
  SnapshotMeta: 0x03,
  ConfState: 0x04,
  Applied: 0x05,
  LogStart: 0x06,
  Node: 0x10,
  Children: 0x11,
  Session: 0x12,
  LockQueue: 0x13,
  Misc: 0x1f,
} as const;

/** The layout version written under `layoutVersionKey`; a store with another version is refused. */
export const LAYOUT_VERSION = 1;

export const U64_BYTES = 8;
/** Bytes before an entry's data: term (u64) and type (u8). */
export const ENTRY_HEADER_BYTES = U64_BYTES + 1;

const TWO_POW_32 = 0x1_0000_0000;
/** The high 32-bit word of Number.MAX_SAFE_INTEGER (2^53 - 1). */
const SAFE_HIGH_WORD_MAX = 0x1f_ffff;

// ---------------------------------------------------------------- integers

/** Writes `n` (an integer in [0, 2^53)) as 8 big-endian bytes at `offset`. */
export function writeU64(target: Uint8Array, offset: number, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new StorageError(StorageErrorCode.INVALID_ARGUMENT, `${n} is not an integer in [0, 2^53)`);
  }
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  view.setUint32(offset, Math.floor(n / TWO_POW_32));
  view.setUint32(offset + 4, n >>> 0);
}

/** Reads 8 big-endian bytes at `offset`; throws CORRUPT if they hold a number past 2^53 - 1. */
export function readU64(source: Uint8Array, offset: number): number {
  if (offset + U64_BYTES > source.length) {
    throw new StorageError(StorageErrorCode.CORRUPT, `u64 at ${offset} runs past the end of ${source.length} bytes`);
  }
  const view = new DataView(source.buffer, source.byteOffset, source.byteLength);
  const high = view.getUint32(offset);
  if (high > SAFE_HIGH_WORD_MAX) {
    throw new StorageError(StorageErrorCode.CORRUPT, `u64 at ${offset} is past 2^53 - 1`);
  }
  return high * TWO_POW_32 + view.getUint32(offset + 4);
}

export function encodeU64(n: number): Buffer {
  const b = Buffer.allocUnsafe(U64_BYTES);
  writeU64(b, 0, n);
  return b;
}

export function decodeU64(b: Uint8Array): number {
  if (b.length !== U64_BYTES) throw new StorageError(StorageErrorCode.CORRUPT, `u64 of ${b.length} bytes`);
  return readU64(b, 0);
}

// ---------------------------------------------------------------- raft keys

function singleByteKey(prefix: number): Buffer {
  return Buffer.from([prefix]);
}

export const layoutVersionKey = singleByteKey(Prefix.Meta);
export const hardStateKey = singleByteKey(Prefix.HardState);
export const snapshotMetaKey = singleByteKey(Prefix.SnapshotMeta);
export const confStateKey = singleByteKey(Prefix.ConfState);
export const appliedKey = singleByteKey(Prefix.Applied);
export const logStartKey = singleByteKey(Prefix.LogStart);

export const LOG_KEY_BYTES = 1 + U64_BYTES;

export function logKey(index: number): Buffer {
  const b = Buffer.allocUnsafe(LOG_KEY_BYTES);
  b[0] = Prefix.RaftLog;
  writeU64(b, 1, index);
  return b;
}

export function decodeLogKey(key: Uint8Array): number {
  if (key.length !== LOG_KEY_BYTES || key[0] !== Prefix.RaftLog) {
    throw new StorageError(StorageErrorCode.CORRUPT, `not a log key: ${Buffer.from(key).toString('hex')}`);
  }
  return readU64(key, 1);
}

/** `{ gte, lt }` covering every key that starts with `prefix`. */
export function prefixRange(prefix: number): { gte: Buffer; lt: Buffer } {
  return { gte: singleByteKey(prefix), lt: singleByteKey(prefix + 1) };
}

// ---------------------------------------------------------------- entries

/** An entry's value: term (u64), type (u8), data. The index is in the key. */
export function encodeEntry(entry: Entry): Buffer {
  const b = Buffer.allocUnsafe(ENTRY_HEADER_BYTES + entry.data.length);
  writeU64(b, 0, entry.term);
  b[U64_BYTES] = entry.type;
  b.set(entry.data, ENTRY_HEADER_BYTES);
  return b;
}

/** The entry at `index` stored as `value`. `data` is a view into `value`, not a copy. */
export function decodeEntry(index: number, value: Uint8Array): Entry {
  if (value.length < ENTRY_HEADER_BYTES) {
    throw new StorageError(StorageErrorCode.CORRUPT, `entry ${index}: ${value.length} bytes, less than a header`);
  }
  const type = value[U64_BYTES];
  if (type !== EntryType.Normal && type !== EntryType.ConfChange) {
    throw new StorageError(StorageErrorCode.CORRUPT, `entry ${index}: unknown type ${type}`);
  }
  return { term: readU64(value, 0), index, type, data: value.subarray(ENTRY_HEADER_BYTES) };
}

// ---------------------------------------------------------------- state machine keys

function assertNoZeroByte(what: string, s: Buffer): void {
  if (s.includes(0)) throw new StorageError(StorageErrorCode.INVALID_ARGUMENT, `${what} contains a 0x00 byte`);
}

/** The key of a node's data and stat. */
export function nodeKey(path: string): Buffer {
  const p = Buffer.from(path, 'utf8');
  assertNoZeroByte('path', p);
  return Buffer.concat([singleByteKey(Prefix.Node), p]);
}

/** The children-index key for `child` (a single name, no '/') under `parent`. */
export function childKey(parent: string, child: string): Buffer {
  const p = Buffer.from(parent, 'utf8');
  const c = Buffer.from(child, 'utf8');
  assertNoZeroByte('parent path', p);
  assertNoZeroByte('child name', c);
  return Buffer.concat([singleByteKey(Prefix.Children), p, singleByteKey(0), c]);
}

/** `{ gte, lt }` covering the children-index keys of `parent` (and nothing of a sibling like parent + "x"). */
export function childrenRange(parent: string): { gte: Buffer; lt: Buffer } {
  const p = Buffer.from(parent, 'utf8');
  assertNoZeroByte('parent path', p);
  const head = Buffer.concat([singleByteKey(Prefix.Children), p]);
  return { gte: Buffer.concat([head, singleByteKey(0)]), lt: Buffer.concat([head, singleByteKey(1)]) };
}

/** The child name stored in a children-index key under `parent`. */
export function childNameOf(parent: string, key: Uint8Array): string {
  const skip = 1 + Buffer.byteLength(parent, 'utf8') + 1;
  return Buffer.from(key.buffer, key.byteOffset + skip, key.byteLength - skip).toString('utf8');
}

export function sessionKey(sessionId: number): Buffer {
  const b = Buffer.allocUnsafe(1 + U64_BYTES);
  b[0] = Prefix.Session;
  writeU64(b, 1, sessionId);
  return b;
}
