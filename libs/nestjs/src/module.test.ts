/**
 * HikariModule without a cluster: the decorators, the explorer and the lock service over the Redis
 * driver on ioredis-mock (an in-process Redis; each test gets a "server" of its own, on a port no
 * other test uses, and two applications of one test share it as two processes would), in real Nest
 * application contexts, and HTTP applications on the example's node:http platform.
 *
 * Mutual exclusion is checked by counting the calls inside each critical section (never more than
 * one per lock name); the same count proves that calls of different names do run together, so the
 * check would see an overlap if there were one. Elections, registration and the cluster driver are
 * in cluster.integration.test.ts.
 */
import 'reflect-metadata';
import {
  Body,
  Controller,
  DynamicModule,
  Get,
  HttpException,
  Inject,
  Injectable,
  INestApplicationContext,
  Module,
  OnModuleInit,
  Param,
  Post,
  SetMetadata,
  Type,
} from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { APP_FILTER, NestFactory } from '@nestjs/core';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import type Redis from 'ioredis';
import RedisMock from 'ioredis-mock';
import { ErrorCode, HikariError, LockGrant, RedisLockDriver } from '@hikarikeeper/client';
import { NodeHttpAdapter } from '../../../examples/nestjs/node-http-adapter';
import {
  currentFence,
  currentLock,
  currentSignal,
  DistributedLock,
  HIKARI_CLIENT,
  HIKARI_METHODS_METADATA,
  HikariClusterRequiredError,
  HikariConfigError,
  HikariDiscovery,
  HikariElection,
  HikariExceptionFilter,
  HikariLockService,
  HikariModule,
  HikariModuleOptions,
  HikariNotReadyError,
  HikariOptionsFactory,
  InjectHikari,
  LeaderOnly,
  LockTimeoutException,
} from './index';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

let nextPort = 47_100;
const redisClients: Redis[] = [];
const apps: INestApplicationContext[] = [];

/** A client of a fresh mock Redis server (or of the server on `port`). */
function redis(port = nextPort++): Redis {
  const client = new RedisMock({ port });
  redisClients.push(client);
  return client;
}

afterEach(async () => {
  await Promise.allSettled(apps.splice(0).map((app) => app.close()));
  for (const client of redisClients.splice(0)) client.disconnect();
});

function redisOptions(client: Redis, extra: Partial<HikariModuleOptions> = {}): HikariModuleOptions {
  return { driver: 'redis', redis: { client }, logger: false, ...extra };
}

/** An application context of a module importing HikariModule.forRoot(`options`) and providing `providers`. */
async function boot(options: HikariModuleOptions, providers: Array<Type | { provide: unknown; useValue: unknown }>, imports: Array<Type | DynamicModule> = []): Promise<INestApplicationContext> {
  @Module({ imports: [HikariModule.forRoot(options), ...imports], providers: providers as Type[] })
  class AppModule {}
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false, abortOnError: false });
  apps.push(app);
  return app;
}

/** Counts the calls inside each critical section, by lock name, and overall. */
class Tracker {
  private readonly active = new Map<string, number>();
  readonly maxActive = new Map<string, number>();
  private running = 0;
  maxRunning = 0;
  /** Each entry: the key and the fencing token it ran with, in the order they entered. */
  readonly entries: Array<{ key: string; token: number }> = [];

  async section(key: string, ms: number): Promise<number> {
    const token = currentFence();
    const now = (this.active.get(key) ?? 0) + 1;
    this.active.set(key, now);
    this.maxActive.set(key, Math.max(now, this.maxActive.get(key) ?? 0));
    this.maxRunning = Math.max(++this.running, this.maxRunning);
    this.entries.push({ key, token });
    await sleep(ms);
    this.active.set(key, this.active.get(key)! - 1);
    this.running--;
    return token;
  }

  tokens(key: string): number[] {
    return this.entries.filter((entry) => entry.key === key).map((entry) => entry.token);
  }
}

function expectIncreasing(tokens: number[]): void {
  for (let i = 1; i < tokens.length; i++) {
    if (tokens[i]! <= tokens[i - 1]!) throw new Error(`tokens do not strictly increase at #${i}: ${tokens.join(', ')}`);
  }
}

@Injectable()
class Worker {
  calls = 0;
  constructor(@Inject(Tracker) private readonly tracker: Tracker) {}

  @DistributedLock('jobs:{0}')
  async run(key: string, ms: number): Promise<number> {
    this.calls++;
    return this.tracker.section(key, ms);
  }

  @DistributedLock('jobs:{key}', { waitMs: 50 })
  async impatient(key: string): Promise<string> {
    this.calls++;
    return `ran ${key}`;
  }

  @DistributedLock((key: string) => `jobs:${key}`, { waitMs: 50, onTimeout: 'skip' })
  async optional(key: string): Promise<string> {
    this.calls++;
    return `ran ${key}`;
  }

  @DistributedLock('jobs:{job.id}')
  async nested(job: { id: string }): Promise<{ outer: number; inner: number }> {
    const outer = currentFence();
    const inner = await this.inner(job.id); // the same lock: runs under this grant, not behind it
    this.leftover = sleep(30).then(() => currentLock() !== undefined); // still running after the release
    return { outer, inner };
  }
  leftover: Promise<boolean> = Promise.resolve(false);

  @DistributedLock('jobs:{0}')
  async inner(_id: string): Promise<number> {
    return currentFence();
  }

  @DistributedLock('jobs:{0}')
  async fails(_key: string): Promise<never> {
    throw new Error('boom');
  }

  @DistributedLock('jobs:{0}')
  failsAtOnce(_key: string): number {
    throw new Error('sync boom');
  }

  @DistributedLock('jobs:{0}')
  sync(key: string): string {
    return `${key}:${currentFence()}`;
  }
}

/** Leader-only methods (which need the cluster to be set up: see cluster.integration.test.ts). */
class Ticker {
  @LeaderOnly('workers')
  tick(): string {
    return 'ticked';
  }

  @LeaderOnly('workers')
  async tickAsync(): Promise<string> {
    return 'ticked';
  }
}

describe('@DistributedLock over the Redis driver', () => {
  test('calls with one lock name never overlap and get increasing tokens; other names run meanwhile', async () => {
    const tracker = new Tracker();
    const app = await boot(redisOptions(redis()), [Worker, { provide: Tracker, useValue: tracker }]);
    const worker = app.get(Worker);
    const calls: Promise<number>[] = [];
    for (let i = 0; i < 8; i++) calls.push(worker.run('a', 10), worker.run('b', 10));
    await Promise.all(calls);
    expect(tracker.maxActive.get('a')).toBe(1);
    expect(tracker.maxActive.get('b')).toBe(1);
    expect(tracker.maxRunning).toBe(2); // 'a' and 'b' did run together: an overlap would have been seen
    expect(tracker.tokens('a')).toHaveLength(8);
    expectIncreasing(tracker.tokens('a'));
    expectIncreasing(tracker.tokens('b'));
  });

  test('two applications on one Redis exclude each other', async () => {
    const tracker = new Tracker();
    const port = nextPort++;
    const one = await boot(redisOptions(redis(port)), [Worker, { provide: Tracker, useValue: tracker }]);
    const two = await boot(redisOptions(redis(port)), [Worker, { provide: Tracker, useValue: tracker }]);
    const [w1, w2] = [one.get(Worker), two.get(Worker)];
    expect(w1).not.toBe(w2);
    const calls: Promise<number>[] = [];
    for (let i = 0; i < 6; i++) calls.push(w1.run('shared', 5), w2.run('shared', 5));
    await Promise.all(calls);
    expect(tracker.maxActive.get('shared')).toBe(1);
    expect(w1.calls).toBe(6);
    expect(w2.calls).toBe(6);
    expectIncreasing(tracker.tokens('shared'));
  });

  test('waitMs: LockTimeoutException (409) without calling the method, or a skip with onTimeout: skip', async () => {
    const app = await boot(redisOptions(redis()), [Worker, { provide: Tracker, useValue: new Tracker() }]);
    const worker = app.get(Worker);
    const locks = app.get(HikariLockService);
    const held = await locks.acquire('jobs:busy');
    const started = Date.now();
    const error = await worker.impatient('busy').then(
      () => null,
      (e: unknown) => e,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(error).toBeInstanceOf(LockTimeoutException);
    expect(error).toBeInstanceOf(HttpException);
    expect((error as LockTimeoutException).getStatus()).toBe(409);
    expect((error as LockTimeoutException).lock).toBe('jobs:busy');
    expect(HikariError.is((error as Error).cause, ErrorCode.LOCK_TIMEOUT)).toBe(true);
    await expect(worker.optional('busy')).resolves.toBeUndefined();
    expect(worker.calls).toBe(0);
    await locks.release(held);
    await expect(worker.impatient('busy')).resolves.toBe('ran busy');
    await expect(worker.optional('busy')).resolves.toBe('ran busy');
    expect(worker.calls).toBe(2);
  });

  test("the module's defaults: key prefix, waitMs and onTimeout", async () => {
    const client = redis();
    const options = redisOptions(client, { locks: { keyPrefix: 'app:', waitMs: 30, onTimeout: 'skip' } });
    const app = await boot(options, [Worker, { provide: Tracker, useValue: new Tracker() }]);
    const worker = app.get(Worker);
    const driver = app.get(HikariLockService).driver as RedisLockDriver;
    const running = worker.run('x', 100);
    await sleep(20);
    expect(await client.exists(driver.lockKey('app:jobs:x'))).toBe(1); // the prefix is in the lock's name
    await expect(worker.run('x', 0)).resolves.toBeUndefined(); // skipped after 30 ms, as the module says
    await running;
    expect(worker.calls).toBe(1);
    expect(await client.exists(driver.lockKey('app:jobs:x'))).toBe(0);
  });

  test('currentFence: the grant inside, the same grant in a nested call, none outside or after the release', async () => {
    const app = await boot(redisOptions(redis()), [Worker, { provide: Tracker, useValue: new Tracker() }]);
    const worker = app.get(Worker);
    const locks = app.get(HikariLockService);
    const { outer, inner } = await worker.nested({ id: 'n' });
    expect(inner).toBe(outer);
    expect(await worker.leftover).toBe(false); // work left running after the release holds no lock
    expect(() => currentFence()).toThrow(/not running under a lock/);
    expect(currentLock()).toBeUndefined();
    const later = await worker.inner('n');
    expect(later).toBeGreaterThan(outer);
    // The service's withLock gives the same context, and nests with the decorator.
    const seen = await locks.withLock('jobs:w', async (grant: LockGrant) => {
      expect(currentFence()).toBe(grant.token);
      expect(currentFence('jobs:w')).toBe(grant.token);
      expect(await worker.inner('w')).toBe(grant.token);
      expect(() => currentFence('jobs:other')).toThrow(/lock jobs:other/);
      return grant.token;
    });
    expect(seen).toBeGreaterThan(0);
  });

  test('the lock is released when the method throws; a synchronous method answers a Promise', async () => {
    const app = await boot(redisOptions(redis()), [Worker, { provide: Tracker, useValue: new Tracker() }]);
    const worker = app.get(Worker);
    const locks = app.get(HikariLockService);
    await expect(worker.fails('f')).rejects.toThrow('boom');
    const atOnce: unknown = worker.failsAtOnce('g'); // a rejection, not a throw
    await expect(atOnce).rejects.toThrow('sync boom');
    for (const name of ['jobs:f', 'jobs:g']) {
      const grant = await locks.tryAcquire(name);
      expect(grant).not.toBeNull();
      await locks.release(grant!);
    }
    const answer: unknown = worker.sync('s');
    expect(answer).toBeInstanceOf(Promise);
    expect(await answer).toMatch(/^s:\d+$/);
  });

  test('a key that cannot be built rejects with INVALID_ARGUMENT, before any lock is taken', async () => {
    const app = await boot(redisOptions(redis()), [Worker, { provide: Tracker, useValue: new Tracker() }]);
    const worker = app.get(Worker);
    const error = await worker.nested({} as { id: string }).catch((e: unknown) => e);
    expect(HikariError.is(error, ErrorCode.INVALID_ARGUMENT)).toBe(true);
    expect((error as Error).message).toContain('{job.id}');
  });
});

describe('the lease (driver redis)', () => {
  @Injectable()
  class Leases {
    static signal: AbortSignal | null = null;

    @DistributedLock('lease:short', { leaseMs: 150, autoExtend: false })
    async short(ms: number): Promise<boolean> {
      const signal = (Leases.signal = currentSignal());
      await sleep(ms);
      return signal.aborted;
    }

    @DistributedLock('lease:kept', { leaseMs: 150 })
    async kept(ms: number): Promise<boolean> {
      const signal = currentSignal();
      await sleep(ms);
      return signal.aborted;
    }
  }

  test('a lease without extension lapses under a long method: its signal aborts, another takes the lock, the call rejects', async () => {
    const port = nextPort++;
    const app = await boot(redisOptions(redis(port)), [Leases]);
    const other = await boot(redisOptions(redis(port)), []);
    const running = app.get(Leases).short(400);
    await sleep(250); // past the 150 ms lease
    const taken = await other.get(HikariLockService).tryAcquire('lease:short');
    expect(taken).not.toBeNull();
    expect(Leases.signal!.aborted).toBe(true); // the method could have stopped there
    const error = await running.catch((e: unknown) => e);
    expect(HikariError.is(error, ErrorCode.FENCE_MISMATCH) || HikariError.is(error, ErrorCode.LOCK_NOT_HELD)).toBe(true);
    await other.get(HikariLockService).release(taken!);
  });

  test('an extended lease keeps the lock for as long as the method runs', async () => {
    const port = nextPort++;
    const app = await boot(redisOptions(redis(port)), [Leases]);
    const other = await boot(redisOptions(redis(port)), []);
    const running = app.get(Leases).kept(400);
    await sleep(250);
    expect(await other.get(HikariLockService).tryAcquire('lease:kept')).toBeNull();
    await expect(running).resolves.toBe(false); // the signal never aborted
  });

  test('HikariLockService.withLock takes the same lease options; bad ones are refused before anything is taken', async () => {
    const client = redis();
    const app = await boot(redisOptions(client), []);
    const locks = app.get(HikariLockService);
    const driver = locks.driver as RedisLockDriver;
    await locks.withLock('lease:w', async () => {
      expect(await client.pttl(driver.lockKey('lease:w'))).toBeLessThanOrEqual(2_000);
    }, { leaseMs: 2_000 });
    await expect(locks.withLock('lease:w', async () => undefined, { leaseMs: 1 })).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    expect(() => DistributedLock('x', { leaseMs: 0 })).toThrow(/leaseMs/);
    expect(() => DistributedLock('x', { autoExtend: 1 as unknown as boolean })).toThrow(/autoExtend/);
  });
});

describe('decorators and other metadata', () => {
  @Controller('orders')
  class OrdersController {
    @Get(':id')
    @DistributedLock('orders:{id}')
    @SetMetadata('roles', ['clerk'])
    async find(@Param('id') id: string): Promise<{ id: string; fence: number }> {
      return { id, fence: currentFence() };
    }
  }

  test('metadata of decorators applied before and after it is on the method; name and length kept', () => {
    const method = OrdersController.prototype.find;
    expect(Reflect.getMetadata(PATH_METADATA, method)).toBe(':id');
    expect(Reflect.getMetadata(METHOD_METADATA, method)).toBe(0); // RequestMethod.GET
    expect(Reflect.getMetadata('roles', method)).toEqual(['clerk']);
    expect(Reflect.getMetadata(HIKARI_METHODS_METADATA, method)).toEqual([expect.objectContaining({ kind: 'lock', keySource: 'orders:{id}', where: 'OrdersController.find' })]);
    expect(method.name).toBe('find');
    expect(method.length).toBe(1);
  });

  test('both decorators on one method: both are recorded; @LeaderOnly without a cluster fails the start', async () => {
    @Injectable()
    class Both {
      @LeaderOnly('both')
      @DistributedLock('both:{0}')
      async run(_key: string): Promise<number> {
        return currentFence();
      }
    }
    expect(Reflect.getMetadata(HIKARI_METHODS_METADATA, Both.prototype.run).map((m: { kind: string }) => m.kind)).toEqual(['lock', 'leader']);
    // @LeaderOnly needs the cluster: without one the application does not start, naming it.
    await expect(boot(redisOptions(redis()), [Both])).rejects.toThrow(HikariClusterRequiredError);
  });

  test('@nestjs/schedule finds a locked @Interval method and its runs take the lock', async () => {
    const tokens: number[] = [];
    @Injectable()
    class Ticker {
      @Interval(30)
      @DistributedLock('tick')
      async tick(): Promise<void> {
        tokens.push(currentFence());
      }
    }
    await boot(redisOptions(redis()), [Ticker], [ScheduleModule.forRoot()]);
    await sleep(200);
    expect(tokens.length).toBeGreaterThanOrEqual(2);
    expectIncreasing(tokens);
  });

  test('misuse fails when the class is defined', () => {
    expect(() => {
      class Static {
        @DistributedLock('x')
        static run(): void {}
      }
      return Static;
    }).toThrow(/instance methods, not static/);
    expect(() => DistributedLock('x', { waitMs: -1 })).toThrow(/waitMs/);
    expect(() => DistributedLock('x', { onTimeout: 'wait' as 'skip' })).toThrow(/onTimeout/);
    expect(() => LeaderOnly('')).toThrow(/non-empty/);
    expect(() => {
      class Unknown {
        @DistributedLock('orders:{orderId}')
        async run(id: string): Promise<string> {
          return id;
        }
      }
      return Unknown;
    }).toThrow(/Unknown.run: the key 'orders:\{orderId\}' names the parameter 'orderId'.*its parameters: id/);
  });
});

describe('HTTP routes', () => {
  @Injectable()
  class Orders {
    constructor(private readonly locks: HikariLockService) {}
    /** Resolves once the lock is held; it is released `ms` later. */
    holdFor(id: string, ms: number): Promise<void> {
      return new Promise<void>((held) => void this.locks.withLock(`orders:${id}`, () => (held(), sleep(ms))));
    }
  }

  @Controller('orders')
  class OrdersController {
    active = 0;
    maxActive = 0;
    constructor(
      private readonly locks: HikariLockService,
      private readonly orders: Orders,
    ) {}

    @Get(':id')
    @DistributedLock('orders:{id}')
    async find(@Param('id') id: string): Promise<{ id: string; fence: number }> {
      this.maxActive = Math.max(this.maxActive, ++this.active);
      await sleep(20);
      this.active--;
      return { id, fence: currentFence() };
    }

    @DistributedLock('orders:{dto.id}', { waitMs: 20 }) // above @Post: Nest reads the route from the stub
    @Post()
    async create(@Body() dto: { id: string }): Promise<{ created: string }> {
      return { created: dto.id };
    }

    @Post('hold/:id')
    async hold(@Param('id') id: string): Promise<void> {
      await this.orders.holdFor(id, 300); // answers once the lock is held
    }

    @Get('raw/timeout/:id')
    async rawTimeout(@Param('id') id: string): Promise<void> {
      await this.locks.acquire(`orders:${id}`, { waitMs: 0 }); // a HikariError LOCK_TIMEOUT, not the Nest exception
    }

    @Get('raw/fence')
    rawFence(): void {
      throw new HikariError(ErrorCode.FENCE_MISMATCH, { token: 1, seen: 2 });
    }

    @Get('raw/other')
    rawOther(): void {
      throw HikariError.noNode('/nothing');
    }
  }

  async function listen(filter: boolean | 423) {
    const filters = filter === 423 ? [HikariExceptionFilter.provide({ lockTimeoutStatus: 423 })] : filter ? [{ provide: APP_FILTER, useClass: HikariExceptionFilter }] : [];
    @Module({
      imports: [HikariModule.forRoot(redisOptions(redis()))],
      controllers: [OrdersController],
      providers: [Orders, ...filters],
    })
    class HttpModule {}
    const app = await NestFactory.create(HttpModule, new NodeHttpAdapter(), { logger: false, abortOnError: false });
    apps.push(app);
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as { port: number };
    return { app, base: `http://127.0.0.1:${port}` };
  }

  test('a route with @DistributedLock routes, and its requests run under the lock', async () => {
    const { app, base } = await listen(false);
    const answers = await Promise.all([1, 2, 3, 4, 5].map(() => fetch(`${base}/orders/42`)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    const bodies = (await Promise.all(answers.map((a) => a.json()))) as Array<{ id: string; fence: number }>;
    expect(bodies.every((b) => b.id === '42')).toBe(true);
    expect(new Set(bodies.map((b) => b.fence)).size).toBe(5);
    expect(app.get(OrdersController).maxActive).toBe(1);
    const created = await fetch(`${base}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: '7' }) });
    expect(await created.json()).toEqual({ created: '7' });
  });

  test('a lock wait that times out answers 409', async () => {
    const { base } = await listen(false);
    expect((await fetch(`${base}/orders/hold/9`, { method: 'POST' })).status).toBe(201);
    const busy = await fetch(`${base}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: '9' }) });
    expect(busy.status).toBe(409);
    expect(await busy.json()).toMatchObject({ statusCode: 409, code: 'LOCK_TIMEOUT', lock: 'orders:9' });
    // Without the filter, the SDK's own errors are unknown errors to Nest.
    expect((await fetch(`${base}/orders/raw/timeout/9`)).status).toBe(500);
  });

  test("HikariExceptionFilter answers the SDK's LOCK_TIMEOUT and FENCE_MISMATCH with 409", async () => {
    const { base } = await listen(true);
    await fetch(`${base}/orders/hold/5`, { method: 'POST' });
    const timeout = await fetch(`${base}/orders/raw/timeout/5`);
    expect(timeout.status).toBe(409);
    expect(await timeout.json()).toMatchObject({ code: 'LOCK_TIMEOUT', lock: 'orders:5' });
    const fence = await fetch(`${base}/orders/raw/fence`);
    expect(fence.status).toBe(409);
    expect(await fence.json()).toMatchObject({ code: 'FENCE_MISMATCH' });
    expect((await fetch(`${base}/orders/raw/other`)).status).toBe(500);
  });

  test('with lockTimeoutStatus 423, every lock timeout answers 423 Locked; a fence mismatch still 409', async () => {
    const { base } = await listen(423);
    await fetch(`${base}/orders/hold/6`, { method: 'POST' });
    const busy = await fetch(`${base}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: '6' }) });
    expect(busy.status).toBe(423);
    expect(await busy.json()).toMatchObject({ statusCode: 423, error: 'Locked', code: 'LOCK_TIMEOUT', lock: 'orders:6' });
    const raw = await fetch(`${base}/orders/raw/timeout/6`);
    expect(raw.status).toBe(423);
    expect(await raw.json()).toMatchObject({ statusCode: 423, code: 'LOCK_TIMEOUT' });
    expect((await fetch(`${base}/orders/raw/fence`)).status).toBe(409);
    expect(() => new HikariExceptionFilter(undefined, { lockTimeoutStatus: 500 as 423 })).toThrow(HikariConfigError);
  });
});

describe('readiness', () => {
  test('an instance HikariModule has not set up rejects with HikariNotReadyError', async () => {
    const worker = new Worker(new Tracker());
    await expect(worker.run('a', 0)).rejects.toThrow(HikariNotReadyError);
    await expect(worker.run('a', 0)).rejects.toThrow(/Worker.run \(@DistributedLock\('jobs:\{0\}'\)\) cannot run: HikariModule has not set up this instance/);
    const detached = worker.run;
    await expect(detached('a', 0)).rejects.toThrow(/without its instance/);
    const ticker = new Ticker();
    expect(() => ticker.tick()).toThrow(HikariNotReadyError); // synchronous: thrown
    await expect(ticker.tickAsync()).rejects.toThrow(/Ticker.tickAsync \(@LeaderOnly\('workers'\)\) cannot run/);
    expect(worker.calls).toBe(0);
  });

  test('after the application shut down, calls reject', async () => {
    const app = await boot(redisOptions(redis()), [Worker, { provide: Tracker, useValue: new Tracker() }]);
    const worker = app.get(Worker);
    await expect(worker.run('a', 0)).resolves.toBeGreaterThan(0);
    await app.close();
    await expect(worker.run('a', 0)).rejects.toThrow(/its application has shut down/);
  });

  test("a module initialised before HikariModule can call locked methods from its onModuleInit", async () => {
    const seen: number[] = [];
    @Injectable()
    class Early implements OnModuleInit {
      constructor(private readonly worker: Worker) {}
      async onModuleInit(): Promise<void> {
        seen.push(await this.worker.inner('early'));
      }
    }
    @Module({ providers: [Worker, { provide: Tracker, useValue: new Tracker() }, Early] })
    class DeepModule {}
    @Module({ imports: [DeepModule] })
    class FeatureModule {}
    // Deeper modules are initialised first: DeepModule (distance 2) before HikariModule (distance 1).
    await boot(redisOptions(redis()), [], [FeatureModule]);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeGreaterThan(0);
  });

  test('an application created but not initialised yet serves its locked methods', async () => {
    @Module({ imports: [HikariModule.forRoot(redisOptions(redis()))], providers: [Worker, { provide: Tracker, useValue: new Tracker() }] })
    class Uninitialised {}
    const app = await NestFactory.create(Uninitialised, new NodeHttpAdapter(), { logger: false, abortOnError: false });
    apps.push(app);
    await expect(app.get(Worker).inner('x')).resolves.toBeGreaterThan(0);
  });
});

describe('configuration', () => {
  test('forRootAsync with imports, useFactory and inject', async () => {
    const client = redis();
    @Module({ providers: [{ provide: 'REDIS', useValue: client }], exports: ['REDIS'] })
    class ConfigModule {}
    @Module({
      imports: [
        HikariModule.forRootAsync({
          imports: [ConfigModule],
          inject: ['REDIS'],
          useFactory: async (injected: Redis) => redisOptions(injected, { locks: { keyPrefix: 'async:' } }),
        }),
      ],
      providers: [Worker, { provide: Tracker, useValue: new Tracker() }],
    })
    class AsyncModule {}
    const app = await NestFactory.createApplicationContext(AsyncModule, { logger: false, abortOnError: false });
    apps.push(app);
    expect(app.get(HikariLockService).lockName('x')).toBe('async:x');
    await expect(app.get(Worker).inner('x')).resolves.toBeGreaterThan(0);
  });

  test('forRootAsync with useClass; isGlobal makes the services injectable without importing the module again', async () => {
    const client = redis();
    @Injectable()
    class Options implements HikariOptionsFactory {
      createHikariOptions(): HikariModuleOptions {
        return redisOptions(client, { locks: { keyPrefix: 'class:' } });
      }
    }
    @Injectable()
    class Consumer {
      constructor(
        readonly locks: HikariLockService,
        @InjectHikari() readonly client: unknown,
      ) {}
    }
    @Module({ providers: [Consumer] })
    class Elsewhere {}
    @Module({ imports: [HikariModule.forRootAsync({ useClass: Options, isGlobal: true }), Elsewhere] })
    class GlobalModule {}
    const app = await NestFactory.createApplicationContext(GlobalModule, { logger: false, abortOnError: false });
    apps.push(app);
    const consumer = app.get(Consumer);
    expect(consumer.locks.lockName('x')).toBe('class:x');
    expect(consumer.client).toBeNull(); // driver 'redis' without endpoints: no cluster client
  });

  test('forRootAsync with useExisting: an options factory the imported module provides', async () => {
    const client = redis();
    @Injectable()
    class Settings implements HikariOptionsFactory {
      createHikariOptions(): HikariModuleOptions {
        return redisOptions(client, { locks: { keyPrefix: 'existing:' } });
      }
    }
    @Module({ providers: [Settings], exports: [Settings] })
    class SettingsModule {}
    @Module({ imports: [HikariModule.forRootAsync({ imports: [SettingsModule], useExisting: Settings })] })
    class ExistingModule {}
    const app = await NestFactory.createApplicationContext(ExistingModule, { logger: false, abortOnError: false });
    apps.push(app);
    expect(app.get(HikariLockService).lockName('x')).toBe('existing:x');
  });

  test('without isGlobal, a module that does not import HikariModule cannot inject its services', async () => {
    @Injectable()
    class Consumer {
      constructor(readonly locks: HikariLockService) {}
    }
    @Module({ providers: [Consumer] })
    class Elsewhere {}
    @Module({ imports: [HikariModule.forRoot(redisOptions(redis())), Elsewhere] })
    class LocalModule {}
    await expect(NestFactory.createApplicationContext(LocalModule, { logger: false, abortOnError: false })).rejects.toThrow(/HikariLockService/);
  });

  test('wrong options fail the start with HikariConfigError naming the option', async () => {
    await expect(boot({ logger: false }, [])).rejects.toThrow(new HikariConfigError("HikariModule: `endpoints` is required with driver 'cluster' (the default): the client addresses of the cluster's nodes, e.g. ['127.0.0.1:7701']"));
    await expect(boot({ driver: 'redis', logger: false }, [])).rejects.toThrow(/`redis.client` is required with driver 'redis'/);
    await expect(boot(redisOptions(redis(), { registration: { service: 'api' } }), [])).rejects.toThrow(/`registration` needs the cluster/);
    await expect(boot(redisOptions(redis(), { locks: { waitMs: -5 } }), [])).rejects.toThrow(/`locks.waitMs`/);
    await expect(boot({ endpoints: [], logger: false }, [])).rejects.toThrow(/`endpoints` must be a non-empty array/);
  });

  test('without a cluster, elections and discovery say that they need one', async () => {
    const app = await boot(redisOptions(redis()), []);
    expect(app.get(HIKARI_CLIENT)).toBeNull();
    const elections = app.get(HikariElection);
    expect(() => elections.campaign('x')).toThrow(HikariClusterRequiredError);
    expect(() => elections.campaign('x')).toThrow(/Elections needs the HikariKeeper cluster/);
    expect(elections.isLeader('x')).toBe(false);
    expect(() => app.get(HikariDiscovery).instances('api')).toThrow(/Service discovery needs the HikariKeeper cluster/);
    await expect(app.get(HikariDiscovery).registered()).rejects.toThrow(/no `registration` option/);
    expect(app.get(HikariLockService).kind).toBe('redis');
  });
});
