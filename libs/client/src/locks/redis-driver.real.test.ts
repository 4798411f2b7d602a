/**
 * RedisLockDriver against a real redis-server (bench/lib/peers/redis.ts starts one for the file, on a
 * free loopback port, without persistence; apt-get installs it if missing): the LockDriver contract
 * with the driver's default retry delays, then what ioredis-mock cannot show — the scripts under
 * real Redis Lua (5.1, integer replies, nil), real key expiry, EVALSHA after SCRIPT FLUSH, and a
 * Redis restart, which forgets every grant (what the driver does not guarantee, shown).
 */
import { ErrorCode } from '@hikarikeeper/protocol';
import Redis from 'ioredis';
import { RedisPeer, startRedis } from '../../../../bench/lib/peers/redis';
import { describeLockContract } from '../testing/lock-contract';
import { RedisLockDriver } from './redis-driver';
import type { LockGrant } from './types';
import { rejection } from '../testing/errors';

/** redis-server may have to be installed by apt-get first. */
const START_MS = 5 * 60_000;

let server: RedisPeer;
const opened: Redis[] = [];

beforeAll(async () => {
  server = await startRedis();
}, START_MS);

afterAll(async () => {
  await server?.stop();
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((r) => r.quit().catch(() => r.disconnect())));
});

/** A client of the test's server; closed after the test. */
async function connect(): Promise<Redis> {
  const redis = new Redis({ host: server.host, port: server.port, lazyConnect: true, maxRetriesPerRequest: 1 });
  opened.push(redis);
  await redis.connect();
  return redis;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));


describeLockContract(
  'RedisLockDriver (redis-server)',
  async () => {
    const [a, b] = await Promise.all([connect(), connect()]);
    const driver = new RedisLockDriver(a);
    return {
      driver,
      second: new RedisLockDriver(b),
      expireHolder: async (grant: LockGrant) => void (await a.del(driver.lockKey(grant.name))),
      teardown: async () => undefined, // clients are closed by the afterEach above
    };
  },
  { shared: false, semaphore: false, fifo: false, reentrant: false, expireHolder: true },
);

describe('RedisLockDriver against redis-server', () => {
  it('the scripts keep their contract under real Redis: tokens as exact strings, leases set, releases compare', async () => {
    const redis = await connect();
    const driver = new RedisLockDriver(redis, { keyPrefix: 'real:', leaseMs: 5_000 });
    // Past 1e14 Lua 5.1 would print a number as 1e+14: the token must come through exact.
    await redis.set(driver.fenceKey('big'), '123456789012345');
    const grant = await driver.acquire('big');
    expect(grant.token).toBe(123456789012346);
    expect(await redis.get('real:{big}')).toMatch(/:123456789012346$/);
    const ttl = await redis.pttl('real:{big}');
    expect(ttl).toBeGreaterThan(4_000);
    expect(ttl).toBeLessThanOrEqual(5_000);
    expect(await redis.pttl('real:{big}:fence')).toBe(-1);
    expect(await driver.tryAcquire('big')).toBeNull();
    await driver.release(grant);
    expect(await redis.exists('real:{big}')).toBe(0);
    expect((await rejection(driver.release(grant))).code).toBe(ErrorCode.LOCK_NOT_HELD);
  });

  it('a lease that runs out is enforced by Redis: another client gets the lock; auto-extension prevents it', async () => {
    const [a, b] = await Promise.all([connect(), connect()]);
    const lapsing = new RedisLockDriver(a, { leaseMs: 300, autoExtend: false });
    const kept = new RedisLockDriver(a, { leaseMs: 300 });
    const other = new RedisLockDriver(b);
    const lapsed = await lapsing.acquire('lapse');
    const held = await kept.acquire('kept');
    await sleep(800);
    const next = await other.acquire('lapse', { waitMs: 0 });
    expect(next.token).toBe(lapsed.token + 1);
    expect((await rejection(lapsing.release(lapsed))).code).toBe(ErrorCode.FENCE_MISMATCH);
    expect(await other.tryAcquire('kept')).toBeNull();
    expect(held.lost).toBe(false);
    await kept.release(held);
    await other.release(next);
  });

  it('goes on after SCRIPT FLUSH (EVALSHA falls back to EVAL)', async () => {
    const redis = await connect();
    const driver = new RedisLockDriver(redis);
    await driver.release(await driver.acquire('flush'));
    await redis.script('FLUSH');
    const grant = await driver.acquire('flush');
    expect(grant.token).toBe(2);
    await redis.script('FLUSH');
    await driver.release(grant);
    expect(await redis.exists(driver.lockKey('flush'))).toBe(0);
  });

  it('what it does not guarantee: a Redis restart without persistence forgets the grant and resets the tokens', async () => {
    // A server of this test's own: the others keep theirs.
    const own = await startRedis();
    const clients: Redis[] = [];
    const client = async (): Promise<Redis> => {
      // disconnectTimeout: ioredis's disconnect() of a connection the server closed leaves a timer of
      // that length behind, which would hold jest past the end of the run.
      const r = new Redis({ host: own.host, port: own.port, lazyConnect: true, maxRetriesPerRequest: 1, disconnectTimeout: 50 });
      clients.push(r);
      await r.connect();
      return r;
    };
    try {
      const holder = new RedisLockDriver(await client());
      const grant = await holder.acquire('restart');
      expect(grant.token).toBe(1);
      await own.stop();
      const again = await startRedis({ port: own.port });
      try {
        const other = new RedisLockDriver(await client());
        const second = await other.acquire('restart', { waitMs: 0 }); // granted twice at once
        expect(second.token).toBe(1); // and the fence went back: same token, another holder
        await other.release(second);
      } finally {
        await again.stop();
      }
    } finally {
      for (const r of clients) r.disconnect();
      await own.stop();
    }
  });
});
