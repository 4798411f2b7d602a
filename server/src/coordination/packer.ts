import { Packr } from 'msgpackr';

/**
 * The msgpack codec for replicated commands and stored records: plain maps and arrays (no msgpackr
 * records/structures, so any msgpack reader can decode them and the encoding never depends on what
 * was encoded before — a requirement for a deterministic state machine), binary as Buffer.
 */
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

export function pack(value: unknown): Buffer {
  return packr.pack(value);
}

export function unpack<T>(bytes: Uint8Array): T {
  return packr.unpack(bytes) as T;
}
