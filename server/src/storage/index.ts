/** The storage layer: RocksDB behind `RocksStore`, the key layout, and the Raft storage port on it. */
export { StorageError, StorageErrorCode } from './errors';
export * from './keys';
export * from './records';
export { RocksStore, WriteBatch } from './rocks';
export type { IterateOptions, KeyRange, RocksOpenOptions, WriteOptions } from './rocks';
export { RocksRaftStorage, TAIL_ENTRIES_MAX_DEFAULT } from './raft-storage';
export type { ReadyParts, RocksRaftStorageOptions } from './raft-storage';
