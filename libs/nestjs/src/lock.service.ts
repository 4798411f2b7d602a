/**
 * HikariLockService: the module's locks, over its LockDriver (the cluster's, or Redis's: see
 * connection.ts), with the module's defaults (`locks` option) and its key prefix.
 *
 * ```ts
 * constructor(private readonly locks: HikariLockService) {}
 * await this.locks.withLock('reports:daily', async (grant) => this.build(grant.token), { waitMs: 0 });
 * const grant = await this.locks.tryAcquire('cleanup');   // null when taken
 * ```
 *
 * `acquire`, `tryAcquire` and `release` are the driver's (LOCK_TIMEOUT, CANCELLED, ... as HikariErrors:
 * see the SDK); `withLock` runs its callback under the lock, where `currentFence()` answers, as a
 * @DistributedLock method does — this service runs those methods too (`runner`).
 *
 * Nesting: code already holding lock X through this module (a @DistributedLock method, a withLock
 * callback) that asks for X again through `withLock` or a @DistributedLock method runs at once
 * under the grant it holds (see lock-context.ts); a plain `acquire` of X from there queues behind
 * itself, as the driver's acquires do.
 */
import { Inject, Injectable } from '@nestjs/common';
import { AcquireOptions, ErrorCode, HikariError, LockDriver, LockGrant, RedisAcquireOptions } from '@hikarikeeper/client';
import type { HikariConnection } from './connection';
import type { LockMethod, Runner } from './decorators';
import { HikariConfigError, LockTimeoutException } from './errors';
import { heldGrant, runHolding } from './lock-context';
import { HIKARI_CONNECTION } from './tokens';

export interface WithLockOptions extends RedisAcquireOptions {
  /** What a `waitMs` that passes does: 'throw' LOCK_TIMEOUT (default), or 'skip' (`withLock` resolves undefined without calling `fn`). */
  onTimeout?: 'throw' | 'skip';
}

@Injectable()
export class HikariLockService {
  constructor(@Inject(HIKARI_CONNECTION) private readonly connection: HikariConnection) {}

  /** The driver under the module's locks: the cluster's (`client.locks`) or a RedisLockDriver. */
  get driver(): LockDriver {
    return this.connection.locks;
  }

  /** 'cluster' or 'redis'. */
  get kind(): 'cluster' | 'redis' {
    return this.connection.locks.kind;
  }

  /** The name the driver sees for `name`: with the module's `locks.keyPrefix` before it. */
  lockName(name: string): string {
    return this.connection.options.locks.keyPrefix + name;
  }

  /** Waits for lock `name` (the driver's acquire, with the module's defaults); resolves with the grant. */
  acquire(name: string, options: AcquireOptions = {}): Promise<LockGrant> {
    return this.driver.acquire(this.lockName(name), this.withDefaults(options));
  }

  /** The grant now, or null when the lock is taken (never waits). */
  tryAcquire(name: string, options: Omit<AcquireOptions, 'waitMs' | 'signal'> = {}): Promise<LockGrant | null> {
    return this.driver.tryAcquire(this.lockName(name), { ...options, mode: options.mode ?? this.connection.options.locks.mode });
  }

  /** Ends a grant (LOCK_NOT_HELD / FENCE_MISMATCH when it was lost meanwhile: see the SDK). */
  release(grant: LockGrant): Promise<void> {
    return this.driver.release(grant);
  }

  /**
   * Runs `fn` holding lock `name`, and releases it when `fn` returns or throws. Inside `fn`,
   * `currentFence()` is the grant's token. If the release fails after `fn` succeeded (the lock was
   * lost meanwhile: the work may not have been exclusive), that error is thrown.
   */
  withLock<T>(name: string, fn: (grant: LockGrant) => Promise<T> | T, options: WithLockOptions & { onTimeout: 'skip' }): Promise<T | undefined>;
  withLock<T>(name: string, fn: (grant: LockGrant) => Promise<T> | T, options?: WithLockOptions): Promise<T>;
  withLock<T>(name: string, fn: (grant: LockGrant) => Promise<T> | T, options: WithLockOptions = {}): Promise<T | undefined> {
    const { onTimeout = 'throw', ...acquire } = options;
    const problem = this.leaseProblem(acquire);
    if (problem !== null) return Promise.reject(HikariError.invalidArgument('leaseMs', problem));
    const skip = onTimeout === 'skip' ? () => undefined : null;
    return this.hold<T | undefined>(this.lockName(name), this.withDefaults(acquire), fn, skip);
  }

  /** Internal (explorer.ts): what a @DistributedLock method runs. */
  runner(method: LockMethod): Runner {
    const defaults = this.connection.options.locks;
    const { logger } = this.connection.options;
    const waitMs = method.options.waitMs ?? defaults.waitMs;
    const onTimeout = method.options.onTimeout ?? defaults.onTimeout;
    const { leaseMs, autoExtend } = method.options;
    const problem = this.leaseProblem({ leaseMs, autoExtend });
    if (problem !== null) throw new HikariConfigError(`${method.where}: ${problem}`);
    const acquire: RedisAcquireOptions = { mode: method.options.mode ?? defaults.mode, waitMs, permits: method.options.permits, leaseMs, autoExtend };
    return (original, instance, args) => {
      let name: string;
      try {
        name = this.lockName(method.key(args));
      } catch (error) {
        return Promise.reject(error);
      }
      const timedOut = (error: HikariError): undefined => {
        if (onTimeout === 'throw') throw new LockTimeoutException(name, waitMs, error);
        logger.debug?.(`${method.where} skipped: lock ${name} not acquired within ${waitMs} ms`);
        return undefined;
      };
      return this.hold<unknown>(name, acquire, () => original.apply(instance, args), timedOut);
    };
  }

  /**
   * Runs `fn` holding lock `name` (already prefixed); `timedOut` answers a LOCK_TIMEOUT of the
   * acquire (null: it is thrown). Reentrant through the lock context (see the head comment).
   */
  private async hold<T>(name: string, acquire: AcquireOptions, fn: (grant: LockGrant) => Promise<T> | T, timedOut: ((error: HikariError) => T) | null): Promise<T> {
    const driver = this.driver;
    const held = heldGrant(driver, name);
    if (held !== undefined) {
      if (held.mode === 'shared' && (acquire.mode ?? 'exclusive') === 'exclusive') {
        throw HikariError.invalidArgument('mode', `lock ${name} is held shared by the calling code: an exclusive acquire inside it would wait for itself`);
      }
      return fn(held);
    }
    let grant: LockGrant;
    try {
      grant = await driver.acquire(name, acquire);
    } catch (error) {
      if (timedOut !== null && HikariError.is(error, ErrorCode.LOCK_TIMEOUT)) return timedOut(error);
      throw error;
    }
    // An async function, so that `fn` throwing at once is a rejection like any other (the grant is released).
    const run = runHolding(driver, grant, async () => fn(grant));
    let result: T;
    try {
      result = await run.result;
    } catch (error) {
      run.release();
      await driver.release(grant).catch(() => undefined);
      throw error;
    }
    run.release();
    await driver.release(grant);
    return result;
  }

  /** Why a lease option cannot apply here (the cluster driver has no lease per lock), or null. */
  private leaseProblem(options: { leaseMs?: number; autoExtend?: boolean }): string | null {
    if (this.kind === 'redis' || (options.leaseMs === undefined && options.autoExtend === undefined)) return null;
    return "`leaseMs` and `autoExtend` are for driver 'redis': a cluster lock has no lease of its own, it lasts as long as the session that holds it (`sessionTimeoutMs`)";
  }

  private withDefaults(options: AcquireOptions): AcquireOptions {
    const { mode, waitMs } = this.connection.options.locks;
    return { ...options, mode: options.mode ?? mode, waitMs: options.waitMs ?? waitMs };
  }
}
