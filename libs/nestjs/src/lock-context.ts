/**
 * The locks the running code holds, through AsyncLocalStorage: a @DistributedLock method (or a
 * `HikariLockService.withLock` callback) runs inside a context naming its grant, and everything it
 * awaits or calls sees it.
 *
 * ```ts
 * @DistributedLock('orders:{0}')
 * async ship(orderId: string) {
 *   await this.db.update(orderId, { status: 'shipped' }, { fence: currentFence() }); // refuse stale holders there
 * }
 * ```
 *
 * - `currentFence(name?)`: the fencing token of the innermost lock held (or of lock `name`); throws
 *   outside a locked method, where there is no token to give.
 * - `currentLock(name?)`: the grant itself, or undefined.
 * - `currentSignal(name?)`: an AbortSignal that aborts if that lock is lost while the code runs (the
 *   session that holds it expired; on Redis, its lease lapsed): pass it to the work done under the
 *   lock. Throws outside a locked method, as `currentFence` does.
 *
 * Contexts outlive their locks when work started under a lock is left running (a promise not
 * awaited, a timer): once the lock is released, its context no longer counts, so such work sees no
 * grant rather than a stale one. The same context makes nested calls reentrant: a locked method that
 * calls another with the same lock name (on the same driver) runs it at once under the grant it
 * holds, instead of queueing behind itself.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { LockDriver, LockGrant } from '@hikarikeeper/client';

interface Held {
  readonly grant: LockGrant;
  readonly driver: LockDriver;
  readonly parent: Held | undefined;
  released: boolean;
}

const storage = new AsyncLocalStorage<Held>();

/** The grant of the innermost lock held (or of lock `name`, as the driver knows it: with the module's keyPrefix). */
export function currentLock(name?: string): LockGrant | undefined {
  for (let held = storage.getStore(); held !== undefined; held = held.parent) {
    if (!held.released && (name === undefined || held.grant.name === name)) return held.grant;
  }
  return undefined;
}

/**
 * The fencing token of the innermost lock held (or of lock `name`). Throws when the code is not
 * running under that lock: outside a @DistributedLock method or withLock callback, or after its release.
 */
export function currentFence(name?: string): number {
  return heldOrThrow('currentFence', name).token;
}

/**
 * Aborts if the innermost lock held (or lock `name`) is lost while the code runs: its session
 * expired (cluster), or its lease lapsed (Redis). Throws when the code is not running under that lock.
 */
export function currentSignal(name?: string): AbortSignal {
  // Both drivers' grants carry the signal (ClusterLockGrant, RedisLockGrant); a driver of another kind may not.
  return (heldOrThrow('currentSignal', name) as { signal?: AbortSignal }).signal ?? new AbortController().signal;
}

/** The grant `currentLock(name)` finds; throws, naming `caller`, when there is none. */
function heldOrThrow(caller: string, name: string | undefined): LockGrant {
  const grant = currentLock(name);
  if (grant !== undefined) return grant;
  const which = name === undefined ? 'a lock' : `lock ${name}`;
  throw new Error(`${caller}(): not running under ${which}: call it inside a @DistributedLock method or a HikariLockService.withLock callback`);
}

/** The grant of lock `name` that the running code holds through `driver`, if any (for reentrant calls). */
export function heldGrant(driver: LockDriver, name: string): LockGrant | undefined {
  for (let held = storage.getStore(); held !== undefined; held = held.parent) {
    if (!held.released && held.driver === driver && held.grant.name === name) return held.grant;
  }
  return undefined;
}

/**
 * Runs `fn` in a context holding `grant`; the context stops counting once `fn` has settled (call
 * `release` of the result then, once the grant is released).
 */
export function runHolding<T>(driver: LockDriver, grant: LockGrant, fn: () => T): { result: T; release(): void } {
  const held: Held = { grant, driver, parent: storage.getStore(), released: false };
  const result = storage.run(held, fn);
  return {
    result,
    release: () => {
      held.released = true;
    },
  };
}
