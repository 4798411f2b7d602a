import type { Stat } from '@hikarikeeper/protocol';
import { pack, unpack } from './packer';

/** What is stored per node besides its data: the public stat, plus the sequential-child counter. */
export interface NodeRecord extends Stat {
  /** The counter the next sequential child gets (ZooKeeper uses cversion; a counter never repeats). */
  sequence: number;
}

/** The root exists from the start, with this record until something changes it. */
export const ROOT_RECORD: Readonly<NodeRecord> = Object.freeze({
  version: 0, cversion: 0, createdIndex: 0, modifiedIndex: 0, childrenCount: 0, dataLength: 0,
  ephemeralOwner: null, createdAt: 0, modifiedAt: 0, sequence: 0,
});

type Stored = [number, number, number, number, number, number, string | null, number, number, number];

export function encodeRecord(r: NodeRecord): Buffer {
  const stored: Stored = [r.version, r.cversion, r.createdIndex, r.modifiedIndex, r.childrenCount, r.dataLength, r.ephemeralOwner, r.createdAt, r.modifiedAt, r.sequence];
  return pack(stored);
}

export function decodeRecord(bytes: Uint8Array): NodeRecord {
  const s = unpack<Stored>(bytes);
  return {
    version: s[0], cversion: s[1], createdIndex: s[2], modifiedIndex: s[3], childrenCount: s[4], dataLength: s[5],
    ephemeralOwner: s[6], createdAt: s[7], modifiedAt: s[8], sequence: s[9],
  };
}

export function toStat(r: NodeRecord): Stat {
  return {
    version: r.version, cversion: r.cversion, createdIndex: r.createdIndex, modifiedIndex: r.modifiedIndex,
    childrenCount: r.childrenCount, dataLength: r.dataLength, ephemeralOwner: r.ephemeralOwner,
    createdAt: r.createdAt, modifiedAt: r.modifiedAt,
  };
}
