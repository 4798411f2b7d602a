/**
 * RedisLockDriver against ioredis-mock (an in-process Redis; it runs Lua through fengari): the
 * LockDriver contract, then what only this driver has — option checks, its keys and Lua scripts,
 * leases and their extension. ioredis-mock shares data between clients of the same host:port, so each
 * setup gets a port of its own: two clients of one fresh "server".
 * redis-driver.real.test.ts runs the same against a real redis-server.
 */
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import type Redis from 'ioredis';
import RedisMock from 'ioredis-mock';
import { describeLockContract } from '../testing/lock-contract';
import { DistributedLock } from './lock';
import {
  ACQUIRE_SCRIPT,
  EXTEND_SCRIPT,
  RedisLockDriver,
  RedisLockDriverOptions,
  RELEASE_SCRIPT,
  REDIS_KEY_PREFIX_DEFAULT,
  REDIS_LEASE_MS_DEFAULT,
} from './redis-driver';
import type { LockGrant } from './types';
import { rejection } from '../testing/errors';

let nextPort = 46_000;
const clientsToClose: Redis[] = [];

/** Two clients of a fresh mock server, closed after the test. */
function mockServer(): [Redis, Redis] {
  const port = nextPort++;
  const pair: [Redis, Redis] = [new RedisMock({ port }), new RedisMock({ port })];
  clientsToClose.push(...pair);
  return pair;
}

afterEach(() => {
  for (const client of clientsToClose.splice(0)) client.disconnect();
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `condition()` holds; fails after `ms`. */
async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}


function thrown(fn: () => unknown): HikariError {
  try {
    fn();
  } catch (error) {
    if (error instanceof HikariError) return error;
    throw error;
  }
  throw new Error('expected the call to throw');
}

describeLockContract(
  'RedisLockDriver (ioredis-mock)',
  async () => {
    const [a, b] = mockServer();
    // ioredis-mock runs each script in a fresh Lua VM, synchronously (~2 ms of CPU, ~10 ms under
    // jest): waiters polling every 1–3 ms would keep the event loop busy with failed attempts and
    // starve the holder's release. Hence slow retries and a smaller mutual exclusion test here; real
    // Redis (redis-driver.real.test.ts) takes the driver's defaults and the full-size test.
    const options = { retryMinMs: 50, retryMaxMs: 150 };
    const driver = new RedisLockDriver(a, options);
    return {
      driver,
      second: new RedisLockDriver(b, options),
      // As if the lease had run out: the key is gone; the holder finds out at its next extension.
      expireHolder: async (grant: LockGrant) => void (await a.del(driver.lockKey(grant.name))),
      teardown: async () => undefined, // clients are closed by the afterEach above
    };
  },
  { shared: false, semaphore: false, fifo: false, reentrant: false, expireHolder: true },
  { mutexWorkers: 4, mutexRounds: 10 },
);

describe('RedisLockDriver', () => {
  describe('options', () => {
    it('has the documented defaults', () => {
      const [redis] = mockServer();
      const driver = new RedisLockDriver(redis);
      expect(driver.kind).toBe('redis');
      expect(driver.keyPrefix).toBe(REDIS_KEY_PREFIX_DEFAULT);
      expect(REDIS_KEY_PREFIX_DEFAULT).toBe('hikari:lock:');
      expect(driver.leaseMs).toBe(REDIS_LEASE_MS_DEFAULT);
      expect(REDIS_LEASE_MS_DEFAULT).toBe(30_000);
      expect([driver.retryMinMs, driver.retryMaxMs]).toEqual([1, 3]);
      expect(driver.autoExtend).toBe(true);
      // A larger retryMinMs alone raises the default retryMaxMs with it.
      expect(new RedisLockDriver(redis, { retryMinMs: 10 }).retryMaxMs).toBe(10);
    });

    it.each<[string, RedisLockDriverOptions]>([
      ['leaseMs', { leaseMs: 0 }],
      ['leaseMs', { leaseMs: 9 }],
      ['leaseMs', { leaseMs: 100.5 }],
      ['leaseMs', { leaseMs: NaN }],
      ['leaseMs', { leaseMs: 2 ** 31 }],
      ['leaseMs', { leaseMs: '1000' as unknown as number }],
      ['retryMinMs', { retryMinMs: -1 }],
      ['retryMinMs', { retryMinMs: Infinity }],
      ['retryMaxMs', { retryMaxMs: NaN }],
      ['retryMaxMs', { retryMinMs: 5, retryMaxMs: 4 }],
      ['autoExtend', { autoExtend: 'yes' as unknown as boolean }],
      ['keyPrefix', { keyPrefix: 7 as unknown as string }],
    ])('refuses a bad %s: %p', (field, options) => {
      const [redis] = mockServer();
      const error = thrown(() => new RedisLockDriver(redis, options));
      expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
      expect(error.details.field).toBe(field);
    });

    it('refuses something that is not an ioredis client', () => {
      for (const redis of [null, undefined, {}, 'redis://localhost']) {
        const error = thrown(() => new RedisLockDriver(redis as unknown as Redis));
        expect(error.details.field).toBe('redis');
      }
    });

    it('checks acquire options: types, ranges, and what needs the cluster driver', async () => {
      const [redis] = mockServer();
      const driver = new RedisLockDriver(redis);
      const bad: [string, object][] = [
        ['waitMs', { waitMs: -1 }],
        ['waitMs', { waitMs: NaN }],
        ['waitMs', { waitMs: '10' }],
        ['signal', { signal: {} }],
        ['mode', { mode: 'read' }],
        ['mode', { mode: 'shared' }],
        ['permits', { permits: 0 }],
        ['permits', { permits: 1.5 }],
        ['permits', { permits: 2 }],
        ['reentrant', { reentrant: 'yes' }],
        ['reentrant', { reentrant: true }],
        ['value', { value: 12 }],
      ];
      for (const [field, options] of bad) {
        const error = await rejection(driver.acquire('opts', options));
        expect({ field, code: error.code, got: error.details.field }).toEqual({ field, code: ErrorCode.INVALID_ARGUMENT, got: field });
      }
      expect((await rejection(driver.acquire('opts', { mode: 'shared' }))).message).toMatch(/cluster driver/);
      expect((await rejection(driver.tryAcquire('opts', { permits: 5 }))).message).toMatch(/cluster driver/);
      // What it does support: the defaults spelt out, and a value (ignored).
      const grant = await driver.acquire('opts', { mode: 'exclusive', permits: 1, reentrant: false, value: 'me', waitMs: 0 });
      expect(await redis.get(driver.lockKey('opts'))).not.toContain('me');
      await driver.release(grant);
    });
  });

  describe('keys and scripts', () => {
    it('keeps the grant in <prefix>{<name>} with a lease, and the last token in <prefix>{<name>}:fence without one', async () => {
      const [redis] = mockServer();
      const driver = new RedisLockDriver(redis, { keyPrefix: 'app:', leaseMs: 5_000 });
      const grant = await driver.acquire('orders');
      expect(driver.lockKey('orders')).toBe('app:{orders}');
      expect(driver.fenceKey('orders')).toBe('app:{orders}:fence');
      expect(await redis.get('app:{orders}')).toMatch(new RegExp(`^[A-Za-z0-9_-]{16}:${grant.token}$`));
      const ttl = await redis.pttl('app:{orders}');
      expect(ttl).toBeGreaterThan(4_000);
      expect(ttl).toBeLessThanOrEqual(5_000);
      expect(await redis.get('app:{orders}:fence')).toBe(String(grant.token));
      expect(await redis.pttl('app:{orders}:fence')).toBe(-1);
      await driver.release(grant);
      expect(await redis.exists('app:{orders}')).toBe(0);
      expect(await redis.get('app:{orders}:fence')).toBe(String(grant.token)); // the counter stays
    });

    it('no lock name can collide with another lock or a fence counter', async () => {
      const [redis] = mockServer();
      const driver = new RedisLockDriver(redis);
      const names = ['x', 'x}:fence', 'x:fence', 'fence:x', '{x}', 'x}'];
      const grants = [];
      for (const name of names) grants.push(await driver.tryAcquire(name));
      expect(grants.map((g) => g?.token)).toEqual(names.map(() => 1));
      for (const grant of grants) await driver.release(grant!);
    });

    it('tokens continue from the counter (which survives the grants), even when the lock key expired', async () => {
      const [redis] = mockServer();
      const driver = new RedisLockDriver(redis);
      await redis.set(driver.fenceKey('resume'), '41');
      const grant = await driver.acquire('resume');
      expect(grant.token).toBe(42);
      await redis.del(driver.lockKey('resume'));
      const next = await driver.acquire('resume', { waitMs: 0 });
      expect(next.token).toBe(43);
      await driver.release(next);
    });

    it('ACQUIRE_SCRIPT: sets the key and counts only when the lock is free', async () => {
      const [redis] = mockServer();
      expect(await redis.eval(ACQUIRE_SCRIPT, 2, 'L', 'F', 'owner1', '1000')).toBe('1');
      expect(await redis.get('L')).toBe('owner1:1');
      expect(await redis.pttl('L')).toBeGreaterThan(500);
      expect(await redis.eval(ACQUIRE_SCRIPT, 2, 'L', 'F', 'owner2', '1000')).toBe(0);
      expect(await redis.get('F')).toBe('1'); // a refused attempt takes no token
      expect(await redis.get('L')).toBe('owner1:1');
      await redis.del('L');
      expect(await redis.eval(ACQUIRE_SCRIPT, 2, 'L', 'F', 'owner2', '1000')).toBe('2');
      expect(await redis.get('L')).toBe('owner2:2');
    });

    it('RELEASE_SCRIPT: deletes only its own value; otherwise answers what the key holds', async () => {
      const [redis] = mockServer();
      await redis.set('L', 'owner1:7');
      expect(await redis.eval(RELEASE_SCRIPT, 1, 'L', 'owner0:6')).toBe('owner1:7');
      expect(await redis.get('L')).toBe('owner1:7');
      expect(await redis.eval(RELEASE_SCRIPT, 1, 'L', 'owner1:7')).toBe(1);
      expect(await redis.exists('L')).toBe(0);
      expect(await redis.eval(RELEASE_SCRIPT, 1, 'L', 'owner1:7')).toBe(0);
    });

    it('EXTEND_SCRIPT: sets the lease only of its own value', async () => {
      const [redis] = mockServer();
      await redis.set('L', 'owner1:7', 'PX', 1_000);
      expect(await redis.eval(EXTEND_SCRIPT, 1, 'L', 'owner0:6', '60000')).toBe(0);
      expect(await redis.pttl('L')).toBeLessThanOrEqual(1_000);
      expect(await redis.eval(EXTEND_SCRIPT, 1, 'L', 'owner1:7', '60000')).toBe(1);
      expect(await redis.pttl('L')).toBeGreaterThan(50_000);
      await redis.del('L');
      expect(await redis.eval(EXTEND_SCRIPT, 1, 'L', 'owner1:7', '60000')).toBe(0);
      expect(await redis.exists('L')).toBe(0);
    });

    it('sends a script with EVAL once, when Redis does not know it (NOSCRIPT), then by its SHA', async () => {
      const [redis] = mockServer();
      const driver = new RedisLockDriver(redis, { autoExtend: false });
      const evalCalls = jest.spyOn(redis, 'eval');
      const evalshaCalls = jest.spyOn(redis, 'evalsha');
      for (let i = 0; i < 3; i++) await driver.release(await driver.acquire('sha'));
      expect(evalCalls).toHaveBeenCalledTimes(2); // acquire and release scripts, once each
      expect(evalshaCalls).toHaveBeenCalledTimes(6);
    });

    it('a counter that is not a token (written by someone else) fails the acquire with INTERNAL and leaves the lock free', async () => {
      const [redis] = mockServer();
      const driver = new RedisLockDriver(redis);
      await redis.set(driver.fenceKey('big'), String(Number.MAX_SAFE_INTEGER));
      expect((await rejection(driver.acquire('big'))).code).toBe(ErrorCode.INTERNAL);
      expect(await redis.exists(driver.lockKey('big'))).toBe(0);
    });
  });

  describe('leases', () => {
    it('auto-extension keeps a held lock past several leases', async () => {
      const [a, b] = mockServer();
      const driver = new RedisLockDriver(a, { leaseMs: 300 });
      const other = new RedisLockDriver(b);
      const grant = await driver.acquire('kept');
      await sleep(1_000);
      expect(await other.tryAcquire('kept')).toBeNull();
      expect(grant.lost).toBe(false);
      expect(grant.signal.aborted).toBe(false);
      await driver.release(grant);
      expect(await other.tryAcquire('kept')).not.toBeNull();
    });

    it('without auto-extension the lease runs out: the grant is lost, another client gets the lock, the stale release fails with FENCE_MISMATCH', async () => {
      const [a, b] = mockServer();
      const driver = new RedisLockDriver(a, { leaseMs: 200, autoExtend: false });
      const other = new RedisLockDriver(b);
      const grant = await driver.acquire('lapsed');
      expect(grant.lost).toBe(false);
      await sleep(300);
      expect(grant.lost).toBe(true); // by this process's clock
      expect(grant.signal.aborted).toBe(true);
      expect((await rejection(driver.extend(grant))).code).toBe(ErrorCode.LOCK_NOT_HELD);
      const next = await other.tryAcquire('lapsed');
      expect(next).not.toBeNull();
      const error = await rejection(driver.release(grant));
      expect(error.code).toBe(ErrorCode.FENCE_MISMATCH);
      expect(error.details).toEqual({ name: 'lapsed', token: grant.token, current: next!.token });
      await other.release(next!);
    });

    it("an acquire's own lease overrides the driver's: a short lease without extension lapses, the driver's default is kept", async () => {
      const [a, b] = mockServer();
      const driver = new RedisLockDriver(a); // 30 s, extended
      const other = new RedisLockDriver(b);
      const short = await driver.acquire('own-lease', { leaseMs: 200, autoExtend: false });
      const long = await driver.acquire('default-lease');
      expect([short.leaseMs, short.autoExtend, long.leaseMs, long.autoExtend]).toEqual([200, false, 30_000, true]);
      expect(await a.pttl(driver.lockKey('own-lease'))).toBeLessThanOrEqual(200);
      await sleep(300);
      expect(short.lost).toBe(true);
      expect(long.lost).toBe(false);
      const next = await other.tryAcquire('own-lease');
      expect(next).not.toBeNull();
      expect(await other.tryAcquire('default-lease')).toBeNull();
      // extend without a lease renews the grant's own.
      const kept = await driver.tryAcquire('own-extend', { leaseMs: 5_000, autoExtend: false });
      await a.pexpire(driver.lockKey('own-extend'), 100);
      await driver.extend(kept!);
      expect(await a.pttl(driver.lockKey('own-extend'))).toBeGreaterThan(4_000);
      for (const options of [{ leaseMs: 5 }, { leaseMs: 1.5 }, { autoExtend: 'yes' as unknown as boolean }]) {
        const error = await rejection(driver.acquire('bad-lease', options));
        expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
        expect(await a.exists(driver.lockKey('bad-lease'))).toBe(0);
      }
      await Promise.all([other.release(next!), driver.release(long), driver.release(kept!)]);
    });

    it('an extension that finds the key taken marks the grant lost and aborts its signal', async () => {
      const [a, b] = mockServer();
      const driver = new RedisLockDriver(a, { leaseMs: 3_000 });
      const other = new RedisLockDriver(b);
      const grant = await driver.acquire('taken');
      await a.del(driver.lockKey('taken')); // the lease ran out, as far as Redis knows
      const next = await other.acquire('taken', { waitMs: 0 });
      // The next extension is due 1 s after the grant, long before the lease would run out locally.
      await until(() => grant.lost, 2_000, 'the extension to find the key taken');
      expect(grant.signal.aborted).toBe(true);
      expect(HikariError.is(grant.signal.reason, ErrorCode.LOCK_NOT_HELD)).toBe(true);
      expect(await driver.tryAcquire('taken')).toBeNull(); // the new holder kept it
      await other.release(next);
    });

    it('extend sets a new lease; after the lock is lost it fails with LOCK_NOT_HELD', async () => {
      const [redis] = mockServer();
      const driver = new RedisLockDriver(redis, { leaseMs: 1_000, autoExtend: false });
      const grant = await driver.acquire('ext');
      await driver.extend(grant, 60_000);
      expect(await redis.pttl(driver.lockKey('ext'))).toBeGreaterThan(50_000);
      expect((await rejection(driver.extend(grant, 5))).details.field).toBe('leaseMs');
      await redis.del(driver.lockKey('ext'));
      const error = await rejection(driver.extend(grant));
      expect(error.code).toBe(ErrorCode.LOCK_NOT_HELD);
      expect(error.details).toEqual({ name: 'ext', token: grant.token });
      expect(grant.lost).toBe(true);
      expect((await rejection(driver.release(grant))).code).toBe(ErrorCode.LOCK_NOT_HELD);
      expect((await rejection(driver.extend(grant))).code).toBe(ErrorCode.LOCK_NOT_HELD); // released now
    });

    it('release and extend refuse a grant this driver did not hand out', async () => {
      const [a, b] = mockServer();
      const driver = new RedisLockDriver(a);
      const other = new RedisLockDriver(b);
      const grant = await other.acquire('mine');
      const lookalike: LockGrant = { name: 'mine', token: grant.token, mode: 'exclusive' };
      for (const g of [grant, lookalike]) {
        expect((await rejection(driver.release(g))).code).toBe(ErrorCode.LOCK_NOT_HELD);
        expect((await rejection(driver.extend(g))).code).toBe(ErrorCode.LOCK_NOT_HELD);
      }
      expect(await a.exists(driver.lockKey('mine'))).toBe(1);
      await other.release(grant);
    });
  });

  describe('waiting', () => {
    it('LOCK_TIMEOUT names the lock and the wait', async () => {
      const [a, b] = mockServer();
      const holder = await new RedisLockDriver(a).acquire('busy');
      const error = await rejection(new RedisLockDriver(b).acquire('busy', { waitMs: 20 }));
      expect(error.code).toBe(ErrorCode.LOCK_TIMEOUT);
      expect(error.details).toEqual({ name: 'busy', waitMs: 20 });
      expect(holder.lost).toBe(false);
    });

    it('a waiter gets the lock soon after it is released (it keeps retrying)', async () => {
      const [a, b] = mockServer();
      const driver = new RedisLockDriver(a);
      const holder = await driver.acquire('handover');
      const waiting = new RedisLockDriver(b).acquire('handover', { waitMs: 5_000 });
      setTimeout(() => void driver.release(holder), 50);
      expect((await waiting).token).toBe(holder.token + 1);
    });

    it('an abort that races with a successful attempt gives the grant back', async () => {
      const [redis] = mockServer();
      const driver = new RedisLockDriver(redis);
      await driver.release(await driver.acquire('warm-up')); // the scripts are cached: acquire is one EVALSHA
      const controller = new AbortController();
      const evalsha = redis.evalsha.bind(redis);
      // The abort lands while the acquire script runs: the attempt succeeds, the call must still fail.
      jest.spyOn(redis, 'evalsha').mockImplementation(async (...args: Parameters<Redis['evalsha']>) => {
        const answer = await evalsha(...args);
        controller.abort();
        return answer;
      });
      expect((await rejection(driver.acquire('raced', { signal: controller.signal }))).code).toBe(ErrorCode.CANCELLED);
      expect(await redis.exists(driver.lockKey('raced'))).toBe(0);
      expect(await redis.get(driver.fenceKey('raced'))).toBe('1'); // it was granted, then released
    });
  });

  describe('conveniences', () => {
    it('lock(name) is a DistributedLock over the driver; bad names are refused at once', async () => {
      const [redis] = mockServer();
      const driver = new RedisLockDriver(redis);
      const lock = driver.lock('obj');
      expect(lock).toBeInstanceOf(DistributedLock);
      const token = await lock.acquire();
      expect(await redis.get(driver.lockKey('obj'))).toMatch(new RegExp(`:${token}$`));
      await lock.release();
      expect(thrown(() => driver.lock('')).code).toBe(ErrorCode.INVALID_ARGUMENT);
    });

    it('withLock(name, fn) holds the lock while fn runs and releases it after', async () => {
      const [redis] = mockServer();
      const driver = new RedisLockDriver(redis);
      const result = await driver.withLock('job', async (grant) => {
        expect(await redis.exists(driver.lockKey('job'))).toBe(1);
        return grant.token * 10;
      });
      expect(result).toBe(10);
      expect(await redis.exists(driver.lockKey('job'))).toBe(0);
    });
  });
});
