/**
 * What the workloads need of each system, so that one load generator drives HikariKeeper and its
 * peers the same way. One driver per worker; each owns its connection(s).
 *
 * Locks: HikariKeeper's `client.locks` (ClusterLockDriver) and `RedisLockDriver` fit `BenchLockDriver`
 * as they are; etcd-lock.ts and zookeeper-lock.ts implement it with each system's idiomatic lock.
 * Key-value: kv-hikari.ts, etcd-kv.ts, zookeeper-kv.ts.
 */

/** A granted lock as the load generator sees it. */
export interface BenchLockGrant {
  readonly name: string;
  /**
   * A fencing token: strictly greater than every earlier grant's of this name (the ledger checks it).
   * HikariKeeper: the grant's token; Redis: the INCR counter; etcd: the revision of the Lock answer;
   * ZooKeeper: the sequence number of the holder's znode.
   */
  readonly token: number;
}

export interface BenchLockDriver<G extends BenchLockGrant = BenchLockGrant> {
  /** Waits for the lock; fails with code LOCK_TIMEOUT after `waitMs` (and leaves no claim behind). */
  acquire(name: string, options: { waitMs: number }): Promise<G>;
  release(grant: G): Promise<void>;
}

/** Key-value operations of the kv workload, on paths like /bench/p3/w12-345, values of text. */
export interface KvDriver {
  /** Creates the key; fails if it exists. */
  create(path: string, value: string): Promise<void>;
  /** Overwrites an existing key. */
  set(path: string, value: string): Promise<void>;
  /** A linearizable read: the value, or null if there is no such key. */
  get(path: string): Promise<string | null>;
  /** A read the connected server answers from its own state (may be behind). */
  getStale(path: string): Promise<string | null>;
}

/** Drivers and how to close what they opened. */
export interface Opened<D> {
  readonly drivers: D[];
  close(): Promise<void>;
}

/** An error with a `code` string, as the closed loop counts them (errors by code). */
export class BenchError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'BenchError';
  }
}

/** The timeout of a lock wait, with the code every driver uses. */
export function lockTimeout(name: string, waitMs: number): BenchError {
  return new BenchError('LOCK_TIMEOUT', `lock ${name} not granted within ${waitMs} ms`);
}

/** Opens `n` things in parallel; if any fails, closes those that opened and rethrows the first failure. */
export async function openAll<T>(n: number, open: (i: number) => Promise<T>, close: (t: T) => Promise<unknown> | void): Promise<T[]> {
  const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => open(i)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  const opened = results.filter((r): r is PromiseFulfilledResult<Awaited<T>> => r.status === 'fulfilled').map((r) => r.value);
  if (failed !== undefined) {
    await Promise.allSettled(opened.map(async (t) => close(t)));
    throw failed.reason;
  }
  return opened;
}
