/**
 * The storage layer's errors, each with a stable code. Callers switch on `code`, never on the message.
 * (The Raft port's own errors — COMPACTED, UNAVAILABLE, SNAPSHOT_OUT_OF_DATE, INVARIANT — are the
 * core's `RaftError`s, so that `RocksRaftStorage` behaves exactly like `MemoryStorage`.)
 */
export enum StorageErrorCode {
  /** A RocksDB operation failed; `cause` is the binding's error. */
  IO = 'STORAGE_IO',
  /** The store is not open (never opened, closing or closed). */
  CLOSED = 'STORAGE_CLOSED',
  /** A stored key or value does not decode: the data on disk is not what this code wrote. */
  CORRUPT = 'STORAGE_CORRUPT',
  /** A number, key or range given by the caller is out of what the layout allows. */
  INVALID_ARGUMENT = 'STORAGE_INVALID_ARGUMENT',
}

export class StorageError extends Error {
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${message}`, options);
    this.name = 'StorageError';
  }
}

/** Names a key by its one-byte prefix and length, for error messages (keys may be binary). */
export function describeKey(key: Uint8Array | undefined): string {
  if (key === undefined) return 'no key';
  if (key.length === 0) return 'the empty key';
  return `prefix 0x${key[0].toString(16).padStart(2, '0')} (${key.length} bytes)`;
}
