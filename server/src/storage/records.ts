import { ConfState, HardState, SnapshotMetadata } from '@hikarikeeper/raft';
import { StorageError, StorageErrorCode } from './errors';
import { readU64, U64_BYTES, writeU64 } from './keys';

/**
 * Binary encodings of the Raft storage's small records (see the layout in keys.ts). Fixed-width
 * big-endian fields, no JSON: a record that does not decode exactly is reported as CORRUPT.
 */

const U32_BYTES = 4;
/** Upper bound on the members in a stored conf state; a larger count means a corrupt record. */
export const CONF_MEMBERS_MAX = 1024;

function corrupt(what: string, detail: string): StorageError {
  return new StorageError(StorageErrorCode.CORRUPT, `${what}: ${detail}`);
}

function expectLength(what: string, b: Uint8Array, length: number): void {
  if (b.length !== length) throw corrupt(what, `${b.length} bytes, expected ${length}`);
}

// ---------------------------------------------------------------- hard state

const HARD_STATE_BYTES = 3 * U64_BYTES;

export function encodeHardState(hs: HardState): Buffer {
  const b = Buffer.allocUnsafe(HARD_STATE_BYTES);
  writeU64(b, 0, hs.term);
  writeU64(b, 8, hs.vote);
  writeU64(b, 16, hs.commit);
  return b;
}

export function decodeHardState(b: Uint8Array): HardState {
  expectLength('hard state', b, HARD_STATE_BYTES);
  return { term: readU64(b, 0), vote: readU64(b, 8), commit: readU64(b, 16) };
}

// ---------------------------------------------------------------- conf state

function confStateBytes(cs: ConfState): number {
  return 2 * U32_BYTES + (cs.voters.length + cs.learners.length) * U64_BYTES;
}

function writeIds(b: Buffer, offset: number, ids: readonly number[]): number {
  b.writeUInt32BE(ids.length, offset);
  offset += U32_BYTES;
  for (const id of ids) {
    writeU64(b, offset, id);
    offset += U64_BYTES;
  }
  return offset;
}

function readIds(b: Uint8Array, offset: number): { ids: number[]; offset: number } {
  if (offset + U32_BYTES > b.length) throw corrupt('conf state', 'truncated member count');
  const count = Buffer.from(b.buffer, b.byteOffset, b.byteLength).readUInt32BE(offset);
  if (count > CONF_MEMBERS_MAX) throw corrupt('conf state', `${count} members is over ${CONF_MEMBERS_MAX}`);
  offset += U32_BYTES;
  const ids: number[] = new Array(count);
  for (let i = 0; i < count; i++) {
    ids[i] = readU64(b, offset);
    offset += U64_BYTES;
  }
  return { ids, offset };
}

function writeConfState(b: Buffer, offset: number, cs: ConfState): number {
  if (cs.voters.length + cs.learners.length > CONF_MEMBERS_MAX) {
    throw new StorageError(StorageErrorCode.INVALID_ARGUMENT, `conf state with more than ${CONF_MEMBERS_MAX} members`);
  }
  return writeIds(b, writeIds(b, offset, cs.voters), cs.learners);
}

function readConfState(b: Uint8Array, offset: number): { confState: ConfState; offset: number } {
  const voters = readIds(b, offset);
  const learners = readIds(b, voters.offset);
  return { confState: { voters: voters.ids, learners: learners.ids }, offset: learners.offset };
}

export function encodeConfState(cs: ConfState): Buffer {
  const b = Buffer.allocUnsafe(confStateBytes(cs));
  writeConfState(b, 0, cs);
  return b;
}

export function decodeConfState(b: Uint8Array): ConfState {
  const { confState, offset } = readConfState(b, 0);
  if (offset !== b.length) throw corrupt('conf state', `${b.length - offset} trailing bytes`);
  return confState;
}

// ---------------------------------------------------------------- snapshot metadata

export function encodeSnapshotMetadata(md: SnapshotMetadata): Buffer {
  const b = Buffer.allocUnsafe(2 * U64_BYTES + confStateBytes(md.confState));
  writeU64(b, 0, md.index);
  writeU64(b, 8, md.term);
  writeConfState(b, 16, md.confState);
  return b;
}

export function decodeSnapshotMetadata(b: Uint8Array): SnapshotMetadata {
  if (b.length < 2 * U64_BYTES) throw corrupt('snapshot metadata', `${b.length} bytes`);
  const { confState, offset } = readConfState(b, 16);
  if (offset !== b.length) throw corrupt('snapshot metadata', `${b.length - offset} trailing bytes`);
  return { index: readU64(b, 0), term: readU64(b, 8), confState };
}

// ---------------------------------------------------------------- log start, applied, version

/** The entry just before the first stored log entry: the compaction point (or an installed snapshot). */
export interface LogPosition {
  readonly index: number;
  readonly term: number;
}

export function encodeLogPosition(p: LogPosition): Buffer {
  const b = Buffer.allocUnsafe(2 * U64_BYTES);
  writeU64(b, 0, p.index);
  writeU64(b, 8, p.term);
  return b;
}

export function decodeLogPosition(b: Uint8Array): LogPosition {
  expectLength('log start', b, 2 * U64_BYTES);
  return { index: readU64(b, 0), term: readU64(b, 8) };
}

export function encodeU32(n: number): Buffer {
  const b = Buffer.allocUnsafe(U32_BYTES);
  b.writeUInt32BE(n, 0);
  return b;
}

export function decodeU32(what: string, b: Uint8Array): number {
  expectLength(what, b, U32_BYTES);
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).readUInt32BE(0);
}
