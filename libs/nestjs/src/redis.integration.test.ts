/**
 * HikariModule with driver 'redis' against a real redis-server (bench/lib/peers/redis.ts starts one
 * for the file on a free loopback port; apt-get installs it if missing), in applications built with
 * @nestjs/testing: the lock tests of module.test.ts (which run on ioredis-mock) on real Redis — two
 * applications' critical sections never overlap and their tokens grow; a wait past `waitMs` is a
 * LockTimeoutException; a lease that lapses under a long method (real key expiry) aborts its
 * `currentSignal()` — and the health indicator, which PINGs Redis: up, then down once it stops.
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { Test, TestingModule } from '@nestjs/testing';
import Redis from 'ioredis';
import { ErrorCode, HikariError, RedisLockDriver } from '@hikarikeeper/client';
import { RedisPeer, startRedis } from '../../../bench/lib/peers/redis';
import { currentFence, currentSignal, DistributedLock, HikariHealthIndicator, HikariLockService, HikariModule, LockTimeoutException } from './index';

/** redis-server may have to be installed by apt-get first. */
const START_MS = 5 * 60_000;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

let server: RedisPeer | null = null;
const clients: Redis[] = [];
const modules: TestingModule[] = [];

beforeAll(async () => {
  server = await startRedis();
}, START_MS);

afterEach(async () => {
  await Promise.allSettled(modules.splice(0).map((moduleRef) => moduleRef.close()));
  await Promise.all(clients.splice(0).map((redis) => redis.quit().catch(() => redis.disconnect())));
});

afterAll(async () => {
  await server?.stop();
});

interface Section {
  readonly token: number;
  readonly start: number;
  readonly end: number;
}

@Injectable()
class Payments {
  static sections: Section[] = [];
  static signal: AbortSignal | null = null;

  @DistributedLock('pay:{0}', { waitMs: 5_000 })
  async pay(_id: string): Promise<number> {
    const start = performance.now();
    const token = currentFence();
    await sleep(2);
    Payments.sections.push({ token, start, end: performance.now() });
    return token;
  }

  @DistributedLock('pay:{0}', { waitMs: 50 })
  async impatient(id: string): Promise<string> {
    return id;
  }

  @DistributedLock('lapse:{0}', { leaseMs: 200, autoExtend: false })
  async slow(_id: string, ms: number): Promise<void> {
    Payments.signal = currentSignal();
    await sleep(ms);
  }
}

async function app(): Promise<TestingModule> {
  const redis = new Redis({ host: server!.host, port: server!.port, maxRetriesPerRequest: 1 });
  clients.push(redis);
  const moduleRef = await Test.createTestingModule({
    imports: [HikariModule.forRoot({ driver: 'redis', redis: { client: redis }, logger: false })],
    providers: [Payments],
  }).compile();
  modules.push(moduleRef);
  await moduleRef.init();
  return moduleRef;
}

describe('HikariModule on a real redis-server', () => {
  test('two applications: critical sections never overlap, tokens grow in the order they ran; Redis keeps the last token', async () => {
    Payments.sections = [];
    const [one, two] = await Promise.all([app(), app()]);
    const calls: Promise<number>[] = [];
    for (let i = 0; i < 15; i++) calls.push(one.get(Payments).pay('p'), two.get(Payments).pay('p'));
    const tokens = await Promise.all(calls);
    expect(new Set(tokens).size).toBe(30);
    const sections = [...Payments.sections].sort((a, b) => a.start - b.start);
    for (let i = 1; i < sections.length; i++) {
      const [before, after] = [sections[i - 1]!, sections[i]!];
      if (after.start < before.end) throw new Error(`sections overlap: ${JSON.stringify(before)} and ${JSON.stringify(after)}`);
      if (after.token <= before.token) throw new Error(`token ${after.token} ran after ${before.token}`);
    }
    const driver = one.get(HikariLockService).driver as RedisLockDriver;
    expect(Number(await clients[0]!.get(driver.fenceKey('pay:p')))).toBe(Math.max(...tokens));
  });

  test('a wait past waitMs is a LockTimeoutException (409); a lease that lapses aborts currentSignal and fails the call', async () => {
    const [one, two] = await Promise.all([app(), app()]);
    const grant = await two.get(HikariLockService).acquire('pay:busy');
    await expect(one.get(Payments).impatient('busy')).rejects.toBeInstanceOf(LockTimeoutException);
    await two.get(HikariLockService).release(grant);
    await expect(one.get(Payments).impatient('busy')).resolves.toBe('busy');

    const slow = one.get(Payments).slow('s', 600);
    await sleep(400); // Redis expired the 200 ms lease
    expect(Payments.signal!.aborted).toBe(true);
    const taken = await two.get(HikariLockService).tryAcquire('lapse:s');
    expect(taken).not.toBeNull();
    const error = await slow.catch((e: unknown) => e);
    expect(HikariError.is(error, ErrorCode.FENCE_MISMATCH)).toBe(true); // a newer holder has the lock
    await two.get(HikariLockService).release(taken!);
  });

  test('the health indicator PINGs Redis: up, then down once Redis stops', async () => {
    const moduleRef = await app();
    const indicator = moduleRef.get(HikariHealthIndicator);
    expect((await indicator.isHealthy('locks')).locks).toMatchObject({ status: 'up', driver: 'redis', redis: 'up' });
    await server!.stop();
    server = null;
    const { locks } = await indicator.isHealthy('locks', { timeoutMs: 500 });
    expect(locks).toMatchObject({ status: 'down', driver: 'redis', redis: { code: expect.any(String) } });
    expect(locks.error).toEqual(locks.redis);
  });
});
