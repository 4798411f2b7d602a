/**
 * RedisLockDriver: the `LockDriver` interface over a single Redis server, for teams migrating from
 * Redis locks (or running without a HikariKeeper cluster in development). The caller passes its own
 * ioredis client; the SDK has no runtime dependency on ioredis.
 *
 * How it works, in short:
 * - acquire runs one Lua script: if the lock's key is free, INCR the lock's fence counter and
 *   `SET <key> <owner>:<token> PX leaseMs`; it answers the token (or 0 when taken). One round trip,
 *   atomic, so the token strictly increases per name across grants — as long as Redis keeps its data.
 *   While the key is taken, acquire tries again after a random delay (retryMinMs–retryMaxMs) until it
 *   gets the lock, `waitMs` passes (LOCK_TIMEOUT) or `signal` aborts (CANCELLED).
 * - release deletes the key only if it still holds this grant's owner value (compare-and-delete).
 * - While a grant is held, its lease is extended every leaseMs / 3 (compare-and-PEXPIRE), unless
 *   `autoExtend: false`. Both are the driver's options, and an acquire may set its own
 *   (RedisAcquireOptions: `leaseMs`, `autoExtend`). An extension that finds the key gone or someone else's marks the grant
 *   `lost` and aborts `grant.signal`; so does a lease that ran out (by this process's clock) without
 *   a successful extension, e.g. while Redis was unreachable.
 *
 * Keys: `<keyPrefix>{<name>}` holds the grant, `<keyPrefix>{<name>}:fence` the counter (never
 * expires). The braces keep all keys apart whatever the lock names (a lock key always ends with '}',
 * a counter key never does; a plain `<prefix><name>` / `<prefix>fence:<name>` layout would make
 * lock 'fence:x' and the counter of lock 'x' one key). They also give both keys of a lock the same hash
 * tag, as a script on a sharded Redis needs (unless the prefix holds braces or the name starts with '}').
 *
 * WHAT IT DOES NOT GUARANTEE, compared with the cluster driver:
 * - No FIFO and no fairness: waiters poll; whoever retries first after a release wins, and a waiter
 *   may lose many rounds in a row. No queue either: nothing is left behind by a waiter that gives up.
 * - No safety across a Redis failover or restart. A replica promoted before it received the latest
 *   SET grants the lock a second time; a restart without persistence forgets every grant. The fence
 *   counter can go back as well (lost with the data, or not yet replicated), so even tokens may repeat.
 * - Lease-based ownership: a holder paused (GC, swap, a stopped VM) for longer than `leaseMs` loses
 *   the lock without knowing it until it looks at `grant.lost`. Another client may be granted the
 *   lock meanwhile. This is why the protected resource must check the fencing token (`assertFence`).
 * - Exclusive locks only: shared (read-write) locks, semaphores (`permits` > 1) and reentrant
 *   acquires need the cluster driver and are refused here with INVALID_ARGUMENT. `value` is ignored
 *   (the cluster keeps it for `lock.info`; there is no such read here).
 *
 * Errors: invalid arguments → INVALID_ARGUMENT; a wait that times out → LOCK_TIMEOUT (details
 * { name, waitMs }); an aborted wait → CANCELLED (a grant that raced with the abort is released);
 * release of a grant that is gone → LOCK_NOT_HELD (details { name, token }), or FENCE_MISMATCH when
 * the key now holds a newer grant (details { name, token, current }), as `LockDriver.release` says.
 * Errors of Redis itself (connection closed, timeouts, ...) are passed through unchanged.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ErrorCode, HikariError, lockNameProblem } from '@hikarikeeper/protocol';
import type Redis from 'ioredis';
import { DistributedLock, withLock as withLockOn } from './lock';
import type { AcquireOptions, LockDriver, LockGrant } from './types';

export const REDIS_KEY_PREFIX_DEFAULT = 'hikari:lock:';
export const REDIS_LEASE_MS_DEFAULT = 30_000;
/** Shortest lease: an extension (every lease / 3) must fit a Redis round trip with room to spare. */
export const REDIS_LEASE_MS_MIN = 10;
/** Longest lease: setTimeout fires at once for delays over a signed 32-bit integer. */
export const REDIS_LEASE_MS_MAX = 2 ** 31 - 1;
export const REDIS_RETRY_MIN_MS_DEFAULT = 1;
export const REDIS_RETRY_MAX_MS_DEFAULT = 3;
/** Extensions per lease while a grant is held (autoExtend). */
export const REDIS_EXTENSIONS_PER_LEASE = 3;

export interface RedisLockDriverOptions {
  /** Prefix of every key the driver touches. Default 'hikari:lock:'. */
  keyPrefix?: string;
  /** The lease (PX) of a grant, ms: how long a holder that stopped extending keeps the lock. Default 30,000. */
  leaseMs?: number;
  /** Shortest random delay between two attempts while waiting (ms). Default 1. */
  retryMinMs?: number;
  /** Longest random delay between two attempts while waiting (ms). Default 3. */
  retryMaxMs?: number;
  /** Extend the lease of every held grant every leaseMs / 3 until it is released. Default true. */
  autoExtend?: boolean;
}

/** An acquire's options on the Redis driver: AcquireOptions, and the lease of this grant. */
export interface RedisAcquireOptions extends AcquireOptions {
  /** This grant's lease (ms). Default: the driver's `leaseMs`. */
  leaseMs?: number;
  /** Extend this grant's lease while it is held. Default: the driver's `autoExtend`. */
  autoExtend?: boolean;
}

/** A grant of the Redis driver: a `LockGrant`, plus whether the lease is known to be gone. */
export interface RedisLockGrant extends LockGrant {
  readonly mode: 'exclusive';
  /**
   * True once the lock is known to be lost: an extension found the key gone or someone else's, an
   * `extend` failed, or the lease ran out (this process's clock) without a successful extension.
   * False does not prove ownership — Redis may have lost the key a moment ago — hence fencing.
   */
  readonly lost: boolean;
  /** Aborted (reason: a LOCK_NOT_HELD HikariError) when the grant becomes `lost`; pass it to the work done under the lock. */
  readonly signal: AbortSignal;
  /** The grant's lease (ms), and whether it is extended while held. */
  readonly leaseMs: number;
  readonly autoExtend: boolean;
}

// ---------------------------------------------------------------- Lua scripts

/**
 * KEYS[1] lock key, KEYS[2] fence counter; ARGV[1] owner id, ARGV[2] lease (ms). Answers the token
 * as a string, or 0 when the lock is taken. The token is read back with GET rather than formatted
 * from INCR's number: Lua's number-to-string conversion would write 1e+15 for large values (and
 * ioredis-mock's Lua writes 1.0). The scripts never answer nil: ioredis-mock turns it into false,
 * Redis into null.
 */
export const ACQUIRE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('INCR', KEYS[2])
local token = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
return token
`;

/** KEYS[1] lock key; ARGV[1] owner value. Deletes the key if it is ours and answers 1; answers 0 if there is no key, else what it holds. */
export const RELEASE_SCRIPT = `
local value = redis.call('GET', KEYS[1])
if value == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
if value == false then return 0 end
return value
`;

/** KEYS[1] lock key; ARGV[1] owner value, ARGV[2] lease (ms). Answers 1 if the key was ours (and extended), 0 otherwise. */
export const EXTEND_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`;

interface Script {
  readonly source: string;
  readonly sha: string;
}

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex');

const script = (source: string): Script => ({ source, sha: sha1(source) });

const SCRIPTS = {
  acquire: script(ACQUIRE_SCRIPT),
  release: script(RELEASE_SCRIPT),
  extend: script(EXTEND_SCRIPT),
} as const;

// ---------------------------------------------------------------- grants

/**
 * The driver's record of one grant; the object handed out is the grant itself. Its timers are
 * unref'd: a held lock must not keep the process alive.
 */
class Grant implements RedisLockGrant {
  readonly mode = 'exclusive' as const;
  private readonly controller = new AbortController();
  private isLost = false;
  private isReleased = false;
  /** performance.now() past which the lease may have run out (no successful extension since). */
  private validUntil: number;
  /** Marks the grant lost at `validUntil`, unless an extension moved it on. */
  private expiryTimer: NodeJS.Timeout | null = null;
  /** The next automatic extension (autoExtend), or null. */
  extensionTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly name: string,
    readonly token: number,
    /** The value of the lock key while this grant holds it. */
    readonly owner: string,
    readonly key: string,
    startedAt: number,
    readonly leaseMs: number,
    readonly autoExtend: boolean,
  ) {
    this.validUntil = startedAt + leaseMs;
  }

  get lost(): boolean {
    return this.isLost || (!this.isReleased && performance.now() >= this.validUntil);
  }

  get released(): boolean {
    return this.isReleased;
  }

  /** Over once released or lost: no more extensions. */
  get over(): boolean {
    return this.isReleased || this.isLost;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The lease was set to `leaseMs` by a command sent at `startedAt` (performance.now()). */
  renewed(startedAt: number, leaseMs: number): void {
    if (this.over) return;
    this.validUntil = startedAt + leaseMs;
    this.watchExpiry();
  }

  markReleased(): void {
    this.isReleased = true;
    this.stopTimers();
  }

  markLost(why: string): void {
    if (this.over) return;
    this.isLost = true;
    this.stopTimers();
    this.controller.abort(notHeld(this.name, this.token, `lock ${this.name} (token ${this.token}) was lost: ${why}`));
  }

  private watchExpiry(): void {
    if (this.expiryTimer !== null) clearTimeout(this.expiryTimer);
    const check = () => {
      this.expiryTimer = null;
      if (this.over) return;
      const left = this.validUntil - performance.now();
      if (left <= 0) this.markLost('its lease ran out (by this process\'s clock) before an extension succeeded');
      else this.expiryTimer = setTimeout(check, Math.ceil(left)).unref(); // fired a little early
    };
    this.expiryTimer = setTimeout(check, Math.max(0, Math.ceil(this.validUntil - performance.now()))).unref();
  }

  private stopTimers(): void {
    if (this.expiryTimer !== null) clearTimeout(this.expiryTimer);
    if (this.extensionTimer !== null) clearTimeout(this.extensionTimer);
    this.expiryTimer = null;
    this.extensionTimer = null;
  }
}

// ---------------------------------------------------------------- the driver

interface Lease {
  readonly leaseMs: number;
  readonly autoExtend: boolean;
}

export class RedisLockDriver implements LockDriver {
  readonly kind = 'redis' as const;
  readonly keyPrefix: string;
  readonly leaseMs: number;
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
  readonly autoExtend: boolean;
  /** Grants handed out by this driver and not yet released: only those can be released or extended. */
  private readonly grants = new WeakSet<Grant>();

  constructor(
    private readonly redis: Redis,
    options: RedisLockDriverOptions = {},
  ) {
    if (typeof redis !== 'object' || redis === null || typeof (redis as Partial<Redis>).evalsha !== 'function') {
      throw HikariError.invalidArgument('redis', 'must be an ioredis client (new Redis(...))');
    }
    if (typeof options !== 'object' || options === null) throw HikariError.invalidArgument('options', 'must be an object');
    const { keyPrefix = REDIS_KEY_PREFIX_DEFAULT, leaseMs = REDIS_LEASE_MS_DEFAULT, autoExtend = true } = options;
    const { retryMinMs = REDIS_RETRY_MIN_MS_DEFAULT, retryMaxMs = Math.max(REDIS_RETRY_MAX_MS_DEFAULT, retryMinMs) } = options;
    if (typeof keyPrefix !== 'string') throw HikariError.invalidArgument('keyPrefix', 'must be a string');
    checkLeaseMs('leaseMs', leaseMs);
    if (!isDelay(retryMinMs)) throw HikariError.invalidArgument('retryMinMs', 'must be a finite number of ms ≥ 0');
    if (!isDelay(retryMaxMs)) throw HikariError.invalidArgument('retryMaxMs', 'must be a finite number of ms ≥ 0');
    if (retryMaxMs < retryMinMs) throw HikariError.invalidArgument('retryMaxMs', `must be ≥ retryMinMs (${retryMinMs})`);
    if (typeof autoExtend !== 'boolean') throw HikariError.invalidArgument('autoExtend', 'must be a boolean');
    this.keyPrefix = keyPrefix;
    this.leaseMs = leaseMs;
    this.retryMinMs = retryMinMs;
    this.retryMaxMs = retryMaxMs;
    this.autoExtend = autoExtend;
  }

  /** The key holding the grant of lock `name`. */
  lockKey(name: string): string {
    return `${this.keyPrefix}{${name}}`;
  }

  /** The key holding the fence counter of lock `name` (the last token granted). */
  fenceKey(name: string): string {
    return `${this.lockKey(name)}:fence`;
  }

  async acquire(name: string, options: RedisAcquireOptions = {}): Promise<RedisLockGrant> {
    checkName(name);
    checkAcquireOptions(options, true);
    const lease = this.leaseOf(options);
    const { waitMs, signal } = options;
    const started = performance.now();
    const deadline = waitMs === undefined ? Infinity : started + waitMs;
    const owner = newOwnerId();
    for (;;) {
      if (signal?.aborted) throw cancelled(name, signal);
      const grant = await this.attempt(name, owner, lease);
      if (grant !== null) {
        if (signal?.aborted) {
          // The grant raced with the abort: give it back, so that a give-up never leaves the lock held.
          await this.release(grant).catch(() => undefined);
          throw cancelled(name, signal);
        }
        return grant;
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new HikariError(ErrorCode.LOCK_TIMEOUT, { name, waitMs: waitMs ?? 0 }, { message: `timed out after ${waitMs} ms waiting for lock ${name}` });
      }
      // The last delay ends at the deadline, for one more attempt there.
      await sleep(Math.min(left, this.retryDelay()), signal);
    }
  }

  async tryAcquire(name: string, options: Omit<RedisAcquireOptions, 'waitMs' | 'signal'> = {}): Promise<RedisLockGrant | null> {
    checkName(name);
    checkAcquireOptions(options, false);
    return this.attempt(name, newOwnerId(), this.leaseOf(options));
  }

  /**
   * Ends a grant (compare-and-delete). LOCK_NOT_HELD if it was released already, is not a grant of
   * this driver, or its key is gone (lease expired); FENCE_MISMATCH if the key holds a newer grant.
   */
  async release(grant: LockGrant): Promise<void> {
    const g = this.ownGrant(grant, 'release');
    // Given up whatever Redis answers: if the script fails (Redis unreachable), the lease frees the lock.
    g.markReleased();
    this.grants.delete(g);
    const answer = await this.run(SCRIPTS.release, [g.key], [g.owner]);
    if (answer === 1) return;
    const current = typeof answer === 'string' ? tokenOf(answer) : null;
    if (current !== null && current > g.token) {
      throw new HikariError(
        ErrorCode.FENCE_MISMATCH,
        { name: g.name, token: g.token, current },
        { message: `lock ${g.name} is held by a newer grant (token ${current} > ${g.token}): this grant's lease had expired` },
      );
    }
    throw notHeld(g.name, g.token, `lock ${g.name} (token ${g.token}) is no longer held: its lease expired`);
  }

  /**
   * Sets the lease of a held grant to `leaseMs` from now (default: the grant's leaseMs), if the key
   * is still ours; LOCK_NOT_HELD otherwise (and the grant is then `lost`). Automatic extensions, if
   * on, go on at their usual pace.
   */
  async extend(grant: LockGrant, leaseMs?: number): Promise<void> {
    const g = this.ownGrant(grant, 'extend');
    leaseMs ??= g.leaseMs;
    checkLeaseMs('leaseMs', leaseMs);
    // Once lost, always lost (its signal has aborted): even if the key happens to be ours still.
    if (g.over) throw notHeld(g.name, g.token, `lock ${g.name} (token ${g.token}) was lost already`);
    const started = performance.now();
    const answer = await this.run(SCRIPTS.extend, [g.key], [g.owner, String(leaseMs)]);
    if (answer === 1) {
      g.renewed(started, leaseMs);
      return;
    }
    g.markLost('an extension found its key gone or taken');
    throw notHeld(g.name, g.token, `lock ${g.name} (token ${g.token}) is no longer held: its lease expired`);
  }

  /** A `DistributedLock` of `name` over this driver. */
  lock(name: string): DistributedLock {
    checkName(name);
    return new DistributedLock(this, name);
  }

  /** Runs `fn` holding lock `name`, released when `fn` returns or throws (see `withLock` in lock.ts). */
  withLock<T>(name: string, fn: (grant: LockGrant) => Promise<T> | T, options: AcquireOptions = {}): Promise<T> {
    return withLockOn(this, name, fn, options);
  }

  // ------------------------------------------------------------ internals

  /** An acquire's lease: its own, else the driver's. */
  private leaseOf(options: RedisAcquireOptions): Lease {
    const { leaseMs = this.leaseMs, autoExtend = this.autoExtend } = options;
    checkLeaseMs('leaseMs', leaseMs);
    if (typeof autoExtend !== 'boolean') throw HikariError.invalidArgument('autoExtend', 'must be a boolean');
    return { leaseMs, autoExtend };
  }

  /** One acquire attempt: the grant, or null when the lock is taken. */
  private async attempt(name: string, ownerId: string, lease: Lease): Promise<Grant | null> {
    const started = performance.now();
    const key = this.lockKey(name);
    const answer = await this.run(SCRIPTS.acquire, [key, this.fenceKey(name)], [ownerId, String(lease.leaseMs)]);
    if (answer === 0) return null;
    const token = typeof answer === 'string' && /^[0-9]+$/.test(answer) ? Number(answer) : NaN;
    const grant = new Grant(name, token, `${ownerId}:${answer}`, key, started, lease.leaseMs, lease.autoExtend);
    if (!Number.isSafeInteger(token) || token < 1) {
      // Only if someone else wrote the counter (or it passed 2^53): the key is ours, give it back.
      await this.run(SCRIPTS.release, [key], [grant.owner]).catch(() => undefined);
      throw new HikariError(ErrorCode.INTERNAL, { name, reason: 'bad fence counter' }, { message: `the fence counter of lock ${name} holds ${String(answer)}, not a token` });
    }
    this.grants.add(grant);
    grant.renewed(started, grant.leaseMs);
    if (grant.autoExtend) this.scheduleExtension(grant);
    return grant;
  }

  private scheduleExtension(grant: Grant): void {
    const every = Math.max(1, Math.floor(grant.leaseMs / REDIS_EXTENSIONS_PER_LEASE));
    grant.extensionTimer = setTimeout(() => void this.autoExtendOnce(grant), every).unref();
  }

  private async autoExtendOnce(grant: Grant): Promise<void> {
    grant.extensionTimer = null;
    if (grant.over) return;
    const started = performance.now();
    let answer: unknown;
    try {
      answer = await this.run(SCRIPTS.extend, [grant.key], [grant.owner, String(grant.leaseMs)]);
    } catch {
      // Redis unreachable: try again at the next tick. If this goes on, the lease runs out, and the
      // expiry timer marks the grant lost.
      if (!grant.over) this.scheduleExtension(grant);
      return;
    }
    if (grant.over) return; // released (or found lost) while the extension was in flight
    if (answer === 1) {
      grant.renewed(started, grant.leaseMs);
      this.scheduleExtension(grant);
    } else {
      grant.markLost('an extension found its key gone or taken');
    }
  }

  /** The driver's record of `grant`, if it is one of its grants still held; LOCK_NOT_HELD otherwise. */
  private ownGrant(grant: LockGrant, what: string): Grant {
    if (!(grant instanceof Grant) || !this.grants.has(grant)) {
      const name = typeof grant?.name === 'string' ? grant.name : '';
      const token = typeof grant?.token === 'number' ? grant.token : 0;
      const why = grant instanceof Grant && grant.released ? 'it was released already' : 'it is not a grant of this driver';
      throw notHeld(name, token, `cannot ${what} lock ${name} (token ${token}): ${why}`);
    }
    return grant;
  }

  /** EVALSHA, falling back to EVAL when Redis does not have the script cached (NOSCRIPT). */
  private async run(s: Script, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await this.redis.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return this.redis.eval(s.source, keys.length, ...keys, ...args);
    }
  }

  private retryDelay(): number {
    return this.retryMinMs + Math.random() * (this.retryMaxMs - this.retryMinMs);
  }
}

// ---------------------------------------------------------------- checks and helpers

function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string') throw HikariError.invalidArgument('name', 'must be a string');
  const problem = lockNameProblem(name);
  if (problem !== null) throw HikariError.invalidArgument('name', `must be a lock name, but it ${problem}`);
}

function checkAcquireOptions(options: AcquireOptions, waits: boolean): void {
  if (typeof options !== 'object' || options === null) throw HikariError.invalidArgument('options', 'must be an object');
  const { mode, permits, reentrant, value } = options;
  if (mode !== undefined && mode !== 'exclusive' && mode !== 'shared') throw HikariError.invalidArgument('mode', "must be 'exclusive' or 'shared'");
  if (mode === 'shared') throw HikariError.invalidArgument('mode', 'shared locks need the cluster driver: the Redis driver has exclusive locks only');
  if (permits !== undefined && (!Number.isSafeInteger(permits) || permits < 1)) throw HikariError.invalidArgument('permits', 'must be an integer ≥ 1');
  if (permits !== undefined && permits > 1) throw HikariError.invalidArgument('permits', 'semaphores (permits > 1) need the cluster driver: the Redis driver has one holder per lock');
  if (reentrant !== undefined && typeof reentrant !== 'boolean') throw HikariError.invalidArgument('reentrant', 'must be a boolean');
  if (reentrant === true) throw HikariError.invalidArgument('reentrant', 'reentrant locks need the cluster driver');
  if (value !== undefined && typeof value !== 'string' && !(value instanceof Uint8Array)) throw HikariError.invalidArgument('value', 'must be a string or a Uint8Array');
  if (!waits) return;
  const { waitMs, signal } = options;
  if (waitMs !== undefined && !isDelay(waitMs)) throw HikariError.invalidArgument('waitMs', 'must be a finite number of ms ≥ 0');
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw HikariError.invalidArgument('signal', 'must be an AbortSignal');
}

function checkLeaseMs(field: string, leaseMs: unknown): asserts leaseMs is number {
  if (!Number.isSafeInteger(leaseMs) || (leaseMs as number) < REDIS_LEASE_MS_MIN || (leaseMs as number) > REDIS_LEASE_MS_MAX) {
    throw HikariError.invalidArgument(field, `must be an integer number of ms in [${REDIS_LEASE_MS_MIN}, ${REDIS_LEASE_MS_MAX}]`);
  }
}

const isDelay = (ms: unknown): ms is number => typeof ms === 'number' && Number.isFinite(ms) && ms >= 0;

/** A fresh owner id: 96 random bits. The key's value is `<owner id>:<token>`. */
const newOwnerId = (): string => randomBytes(12).toString('base64url');

/** The token of an owner value written by ACQUIRE_SCRIPT, or null if `value` is not one. */
function tokenOf(value: string): number | null {
  const match = /:([0-9]+)$/.exec(value);
  const token = match === null ? NaN : Number(match[1]);
  return Number.isSafeInteger(token) ? token : null;
}

function notHeld(name: string, token: number, message: string): HikariError {
  return new HikariError(ErrorCode.LOCK_NOT_HELD, { name, token }, { message });
}

function cancelled(name: string, signal: AbortSignal): HikariError {
  return new HikariError(ErrorCode.CANCELLED, { name }, { message: `waiting for lock ${name} was cancelled`, cause: signal.reason });
}

/** Resolves after `ms`, or as soon as `signal` aborts (the caller checks `signal.aborted`). */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
