import { Snapshot, SnapshotMetadata } from './types';
import { RaftError, RaftErrorCode } from './errors';

/**
 * Snapshots travel out of band in bounded chunks: the core decides when a follower needs one (a Snap
 * message), the transport streams the bytes with these helpers, the receiver steps the Snap message
 * (with the assembled data) into its core, and the sender reports the outcome (`reportSnapshot`).
 */
export interface SnapshotChunk {
  readonly metadata: SnapshotMetadata;
  /** Byte offset of `data` in the snapshot. */
  readonly offset: number;
  readonly data: Uint8Array;
  readonly last: boolean;
}

export const SNAPSHOT_CHUNK_BYTES_DEFAULT = 256 * 1024;

/** Splits a snapshot into chunks of at most `chunkBytesMax` bytes (at least one chunk). */
export function chunkSnapshot(snapshot: Snapshot, chunkBytesMax = SNAPSHOT_CHUNK_BYTES_DEFAULT): SnapshotChunk[] {
  if (!(chunkBytesMax >= 1)) throw new RaftError(RaftErrorCode.INVALID_ARGUMENT, 'chunk size must be at least 1 byte');
  const { data, metadata } = snapshot;
  const chunks: SnapshotChunk[] = [];
  for (let offset = 0; offset < data.length || chunks.length === 0; offset += chunkBytesMax) {
    const end = Math.min(offset + chunkBytesMax, data.length);
    chunks.push({ metadata, offset, data: data.subarray(offset, end), last: end >= data.length });
  }
  return chunks;
}

export type ChunkResult =
  | { readonly status: 'partial' }
  | { readonly status: 'complete'; readonly snapshot: Snapshot }
  | { readonly status: 'rejected'; readonly reason: string };

/**
 * Reassembles one snapshot at a time from in-order chunks. A chunk of a newer snapshot restarts the
 * assembly; a gap, an overlap or a snapshot over `totalBytesMax` is rejected (the sender starts over).
 */
export class SnapshotAssembler {
  private current: { metadata: SnapshotMetadata; parts: Uint8Array[]; bytes: number } | null = null;

  constructor(
    readonly totalBytesMax: number,
    readonly chunkBytesMax = SNAPSHOT_CHUNK_BYTES_DEFAULT,
  ) {}

  accept(chunk: SnapshotChunk): ChunkResult {
    if (chunk.data.length > this.chunkBytesMax) return this.reject(`chunk of ${chunk.data.length} bytes is over ${this.chunkBytesMax}`);
    const md = chunk.metadata;
    if (chunk.offset === 0) {
      this.current = { metadata: md, parts: [], bytes: 0 };
    }
    const cur = this.current;
    if (!cur || cur.metadata.index !== md.index || cur.metadata.term !== md.term) {
      return this.reject(`chunk at ${chunk.offset} of snapshot ${md.index} without its beginning`);
    }
    if (chunk.offset !== cur.bytes) return this.reject(`chunk at ${chunk.offset}, expected ${cur.bytes}`);
    if (cur.bytes + chunk.data.length > this.totalBytesMax) return this.reject(`snapshot is over ${this.totalBytesMax} bytes`);
    cur.parts.push(chunk.data.slice());
    cur.bytes += chunk.data.length;
    if (!chunk.last) return { status: 'partial' };
    this.current = null;
    const data = new Uint8Array(cur.bytes);
    let at = 0;
    for (const p of cur.parts) {
      data.set(p, at);
      at += p.length;
    }
    return { status: 'complete', snapshot: { metadata: cur.metadata, data } };
  }

  private reject(reason: string): ChunkResult {
    this.current = null;
    return { status: 'rejected', reason };
  }
}
