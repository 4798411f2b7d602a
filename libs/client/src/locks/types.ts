/**
 * The lock interface shared by the drivers: the cluster driver (server-side FIFO queues, fencing
 * tokens from the replicated log, grants owned by the client's session) and the Redis driver (for
 * teams migrating from Redis: `SET NX PX`, no FIFO, no safety across a Redis failover). Code written
 * against `LockDriver` (the NestJS module, `withLock`, `DistributedLock`) works with either.
 */
import type { LockMode } from '@hikarikeeper/protocol';

export type { LockMode };

export interface AcquireOptions {
  /** Default 'exclusive'. 'shared': a read lock (any number of readers, no writer). */
  mode?: LockMode;
  /** A semaphore: up to `permits` exclusive holders at once (default 1). Everyone using a name must agree. */
  permits?: number;
  /**
   * Longest wait in the queue (ms); past it the call fails with LOCK_TIMEOUT and leaves the queue.
   * Default: wait until granted (or aborted, or the client closes). 0: do not wait (as `tryAcquire`).
   */
  waitMs?: number;
  /** Aborting fails the wait with CANCELLED and leaves the queue (a grant that raced is released). */
  signal?: AbortSignal;
  /**
   * Exclusive only: if this client's session already holds the lock, take it again at once (same
   * token), counted: each release undoes one acquire. Default false: a second acquire queues.
   */
  reentrant?: boolean;
  /** Kept with the grant, visible to `info()` (an election candidate's value). */
  value?: Uint8Array | string;
}

/** A granted lock. Pass `token` to whatever you protect, and check it there (see `assertFence`). */
export interface LockGrant {
  readonly name: string;
  /** The fencing token: strictly greater than every earlier grant's of this name. */
  readonly token: number;
  readonly mode: LockMode;
}

export interface LockDriver {
  /** 'cluster' (HikariKeeper) or 'redis'. */
  readonly kind: 'cluster' | 'redis';
  /** Waits for the lock (see AcquireOptions); resolves with the grant. */
  acquire(name: string, options?: AcquireOptions): Promise<LockGrant>;
  /** The grant now, or null if it is taken (never queues). */
  tryAcquire(name: string, options?: Omit<AcquireOptions, 'waitMs' | 'signal'>): Promise<LockGrant | null>;
  /**
   * Ends a grant. LOCK_NOT_HELD if it is no longer held by this client (released, or its session
   * or lease is gone); FENCE_MISMATCH if a newer grant of the lock exists.
   */
  release(grant: LockGrant): Promise<void>;
}
