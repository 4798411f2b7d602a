/**
 * What every driver gets for free: `DistributedLock` (one lock name, at most one grant at a time,
 * the token on the object), `withLock` (releases on return and on throw) and `assertFence` (the
 * check a protected resource makes).
 */
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import type { AcquireOptions, LockDriver, LockGrant, LockMode } from './types';

export class DistributedLock {
  private grant: LockGrant | null = null;

  constructor(
    private readonly driver: LockDriver,
    readonly name: string,
  ) {}

  /** The current grant's fencing token, or null when not held. */
  get token(): number | null {
    return this.grant?.token ?? null;
  }

  get mode(): LockMode | null {
    return this.grant?.mode ?? null;
  }

  get held(): boolean {
    return this.grant !== null;
  }

  /** Waits for the lock; resolves with the fencing token. Acquiring a lock object already held is an error. */
  async acquire(options: AcquireOptions = {}): Promise<number> {
    this.requireFree();
    const grant = await this.driver.acquire(this.name, options);
    this.grant = grant;
    return grant.token;
  }

  /** True (and held) if it was free; false without waiting otherwise. */
  async tryAcquire(options: Omit<AcquireOptions, 'waitMs' | 'signal'> = {}): Promise<boolean> {
    this.requireFree();
    const grant = await this.driver.tryAcquire(this.name, options);
    this.grant = grant;
    return grant !== null;
  }

  /** Releases the grant (LOCK_NOT_HELD if not held, or no longer held on the server). */
  async release(): Promise<void> {
    const grant = this.grant;
    if (grant === null) throw new HikariError(ErrorCode.LOCK_NOT_HELD, { name: this.name }, { message: `lock ${this.name} is not held by this object` });
    this.grant = null;
    await this.driver.release(grant);
  }

  private requireFree(): void {
    if (this.grant !== null) {
      throw HikariError.invalidArgument('lock', `lock ${this.name} is already held by this object (token ${this.grant.token}): release it first`);
    }
  }
}

/**
 * Runs `fn` holding the lock `name`; releases it when `fn` returns or throws. If the release itself
 * fails after `fn` succeeded (the session expired meanwhile: someone else may have held the lock),
 * that error is thrown, because `fn`'s work may not have been exclusive.
 */
export async function withLock<T>(
  driver: LockDriver,
  name: string,
  fn: (grant: LockGrant) => Promise<T> | T,
  options: AcquireOptions = {},
): Promise<T> {
  const grant = await driver.acquire(name, options);
  let result: T;
  try {
    result = await fn(grant);
  } catch (error) {
    await driver.release(grant).catch(() => undefined);
    throw error;
  }
  await driver.release(grant);
  return result;
}

/**
 * The check a resource protected by a lock makes before a write: `currentToken` (presented by the
 * writer) must not be older than `seenMaxToken` (the highest token the resource has accepted).
 * Throws FENCE_MISMATCH otherwise; returns the new highest token to store.
 *
 * ```ts
 * row.maxToken = assertFence(lock.token!, row.maxToken); // then write, in the same transaction
 * ```
 */
export function assertFence(currentToken: number, seenMaxToken: number | null | undefined): number {
  if (!Number.isSafeInteger(currentToken) || currentToken < 1) throw HikariError.invalidArgument('currentToken', 'must be a fencing token (a positive integer)');
  const seen = seenMaxToken ?? 0;
  if (currentToken < seen) {
    throw new HikariError(ErrorCode.FENCE_MISMATCH, { token: currentToken, seen }, { message: `fencing token ${currentToken} is older than ${seen}: a newer holder has written` });
  }
  return currentToken;
}
