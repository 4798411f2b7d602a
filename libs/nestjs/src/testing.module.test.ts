/**
 * HikariTestingModule: real Nest applications built with @nestjs/testing over the in-process
 * MemoryCluster, as a user's unit tests would build them. What is checked: locked methods, fenced
 * writes and lock timeouts; a real @nestjs/schedule cron with @LeaderOnly firing in one of three
 * applications and moving when that one closes; registration found by another application and gone
 * when it closes; the `expired` path (HikariTesting.expireSession): the lock lost under a running
 * method, leadership lost and won again, the registration written again on the new session; the
 * health indicator; and swapping it in for an application's HikariModule (overrideModule).
 */
import 'reflect-metadata';
import { DynamicModule, Inject, Injectable, Module, Type } from '@nestjs/common';
import { Cron, Interval, ScheduleModule } from '@nestjs/schedule';
import { Test, TestingModule } from '@nestjs/testing';
import { ErrorCode, HikariClientApi, HikariError, ServiceInstance } from '@hikarikeeper/client';
import {
  currentFence,
  currentLock,
  currentSignal,
  DistributedLock,
  HikariConfigError,
  HikariDiscovery,
  HikariElection,
  HikariHealthIndicator,
  HikariModule,
  HikariTesting,
  HikariTestingModule,
  HikariTestingModuleOptions,
  InjectHikari,
  LeaderOnly,
  LeadershipChange,
  LockTimeoutException,
  MemoryCluster,
} from './index';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

const APP = Symbol('app name');
const modules: TestingModule[] = [];

afterEach(async () => {
  await Promise.allSettled(modules.splice(0).map((moduleRef) => moduleRef.close()));
});

/** A testing module importing HikariTestingModule.forRoot(`options`) (and `imports`), with `providers`, initialised. */
async function app(name: string, providers: Type[], options: HikariTestingModuleOptions = {}, imports: Array<Type | DynamicModule> = []): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule({
    imports: [HikariTestingModule.forRoot({ logger: false, instanceId: name, ...options }), ...imports],
    providers: [...providers, { provide: APP, useValue: name }],
  }).compile();
  modules.push(moduleRef);
  await moduleRef.init();
  return moduleRef;
}

@Injectable()
class Orders {
  constructor(@InjectHikari() private readonly hikari: HikariClientApi) {}

  @DistributedLock('orders:{0}', { waitMs: 100 })
  async pay(id: string): Promise<number> {
    await this.hikari.set(`/orders/${id}`, 'paid', { fence: currentLock()! });
    return currentFence();
  }

  /** Holds the lock until `release` resolves; says what `currentSignal()` was. */
  @DistributedLock('orders:{0}')
  async hold(_id: string, release: Promise<void>, seen: { signal?: AbortSignal }): Promise<string> {
    seen.signal = currentSignal();
    await release;
    return 'done';
  }
}

@Injectable()
class Billing {
  static runs: string[] = [];
  constructor(@Inject(APP) private readonly app: string) {}

  @Cron('* * * * * *') // every second, in every application; runs in the leader only
  @LeaderOnly('billing')
  async bill(): Promise<void> {
    Billing.runs.push(this.app);
  }
}

@Injectable()
class Sweeper {
  static runs: string[] = [];
  constructor(@Inject(APP) private readonly app: string) {}

  @LeaderOnly('sweeper') // above @Interval this time: the metadata is kept either way
  @Interval(40)
  sweep(): void {
    Sweeper.runs.push(this.app);
  }
}

@Injectable()
class SessionEvents {
  readonly expired: string[] = [];
  readonly connected: Array<string | null> = [];
  constructor(@InjectHikari() hikari: HikariClientApi) {
    hikari.on('expired', ({ sessionId }) => this.expired.push(sessionId));
    hikari.on('connected', ({ sessionId }) => this.connected.push(sessionId));
  }
}

describe('HikariTestingModule', () => {
  test('locked methods run under the lock with a fencing token; fenced writes apply; a lock held elsewhere times out with 409', async () => {
    const moduleRef = await app('orders-1', [Orders]);
    const testing = moduleRef.get(HikariTesting);
    await testing.client.create('/orders', '');
    await testing.client.create('/orders/1', 'new');
    const orders = moduleRef.get(Orders);
    const first = await orders.pay('1');
    expect((await testing.client.get('/orders/1')).data.toString()).toBe('paid');

    const other = await testing.connect(); // another process of the service
    const grant = await other.locks.acquire('orders:1');
    const error = await orders.pay('1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockTimeoutException);
    expect((error as LockTimeoutException).getStatus()).toBe(409);
    await other.set('/orders/1', 'theirs', { fence: grant });
    await other.locks.release(grant);
    expect(await orders.pay('1')).toBeGreaterThan(grant.token);
    expect(grant.token).toBeGreaterThan(first);
    // A stale token is refused by the fenced write, as by the cluster.
    await expect(other.set('/orders/1', 'late', { fence: grant })).rejects.toMatchObject({ code: ErrorCode.FENCE_MISMATCH });
  });

  test('applications sharing a cluster exclude each other: their critical sections never overlap, tokens grow', async () => {
    const cluster = new MemoryCluster();
    const [a, b] = await Promise.all([app('a', [Orders], { cluster }), app('b', [Orders], { cluster })]);
    await a.get(HikariTesting).client.create('/orders', '');
    await a.get(HikariTesting).client.create('/orders/9', '');
    let inside = 0;
    let overlaps = 0;
    const tokens: number[] = [];
    @Injectable()
    class Counter {
      @DistributedLock('count')
      async bump(): Promise<void> {
        if (inside++ > 0) overlaps++;
        tokens.push(currentFence());
        await sleep(1);
        inside--;
      }
    }
    const [c1, c2] = await Promise.all([app('c1', [Counter], { cluster }), app('c2', [Counter], { cluster })]);
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? c1 : c2).get(Counter).bump()));
    expect(overlaps).toBe(0);
    expect(tokens).toHaveLength(20);
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]!).toBeGreaterThan(tokens[i - 1]!);
    expect(await a.get(Orders).pay('9')).toBeGreaterThan(0);
    expect(await b.get(Orders).pay('9')).toBeGreaterThan(0);
  });

  test('a @Cron @LeaderOnly job fires in exactly one of three applications, and in another once that one closes', async () => {
    Billing.runs = [];
    Sweeper.runs = [];
    const cluster = new MemoryCluster();
    const names = ['billing-1', 'billing-2', 'billing-3'];
    const apps = await Promise.all(names.map((name) => app(name, [Billing, Sweeper], { cluster }, [ScheduleModule.forRoot()])));
    await until('two cron runs', () => Billing.runs.length >= 2, 5_000);
    const leader = Billing.runs[0]!;
    expect(new Set(Billing.runs)).toEqual(new Set([leader]));
    expect(apps[names.indexOf(leader)]!.get(HikariElection).isLeader('billing')).toBe(true);
    await until('interval runs', () => Sweeper.runs.length >= 3);
    expect(new Set(Sweeper.runs).size).toBe(1);

    const closing = apps[names.indexOf(leader)]!;
    await closing.close();
    modules.splice(modules.indexOf(closing), 1);
    const before = Billing.runs.length;
    await until('a cron run elsewhere', () => Billing.runs.length >= before + 2, 5_000);
    const after = Billing.runs.slice(before);
    expect(after).not.toContain(leader);
    expect(new Set(after).size).toBe(1);
  });

  test('a registered application is found by another one sharing the cluster, and leaves when it closes', async () => {
    const cluster = new MemoryCluster();
    const orders = await app('orders-7', [], { cluster, registration: { service: 'orders', port: 3000, host: '10.0.0.7', tags: ['v1'] } });
    const gateway = await app('gateway', [], { cluster });
    await orders.get(HikariDiscovery).registered();
    const discovery = gateway.get(HikariDiscovery);
    const [instance] = await discovery.instances('orders');
    expect(instance).toMatchObject({ id: 'orders-7', address: '10.0.0.7:3000', tags: ['v1'], status: 'passing' });
    const picked = await discovery.pick('orders');
    expect(picked?.instance.id).toBe('orders-7');
    picked?.release();
    await orders.close();
    modules.splice(modules.indexOf(orders), 1);
    expect(await discovery.instances('orders')).toEqual([]);
  });

  test('expireSession: the lock under a running method is lost, leadership is lost and won again, the registration is written again', async () => {
    const moduleRef = await app('exp-1', [Orders, Billing, SessionEvents], { registration: { service: 'billing', port: 4000, host: '10.0.0.9' } });
    const testing = moduleRef.get(HikariTesting);
    const elections = moduleRef.get(HikariElection);
    const discovery = moduleRef.get(HikariDiscovery);
    await until('leadership', () => elections.isLeader('billing'));
    const changes: LeadershipChange[] = [];
    elections.changes$.subscribe((change) => changes.push(change));
    const handle = await discovery.registered();
    const firstToken = elections.token('billing')!;

    let release!: () => void;
    const seen: { signal?: AbortSignal } = {};
    const holding = moduleRef.get(Orders).hold('h', new Promise<void>((resolve) => (release = resolve)), seen);
    await until('the method to hold its lock', () => seen.signal !== undefined);
    expect(seen.signal!.aborted).toBe(false);

    const expired = testing.expireSession();
    expect(seen.signal!.aborted).toBe(true); // the method can stop its work at once
    release();
    const error = await holding.catch((e: unknown) => e);
    expect(HikariError.is(error, ErrorCode.LOCK_NOT_HELD) || HikariError.is(error, ErrorCode.FENCE_MISMATCH)).toBe(true); // its work may not have been exclusive

    const events = moduleRef.get(SessionEvents);
    expect(events.expired).toEqual([expired]);
    expect(events.connected).toEqual([testing.client.session!.id]);
    await until('leadership again', () => elections.isLeader('billing'));
    expect(changes.map((c) => [c.leader, c.reason])).toEqual([[false, 'expired'], [true, 'elected']]);
    expect(elections.token('billing')!).toBeGreaterThan(firstToken);
    let instances: ServiceInstance[] = [];
    await until('the registration on the new session', async () => {
      instances = await discovery.instances('billing');
      return instances[0]?.sessionId === testing.client.session!.id;
    });
    expect(instances).toHaveLength(1);
    expect(handle.state).toBe('registered');
  });

  test('the health indicator is up with the details, and down once the application shuts down', async () => {
    const moduleRef = await app('health-1', [Billing], { registration: { service: 'billing', port: 4000 } });
    const indicator = moduleRef.get(HikariHealthIndicator);
    await until('leadership', () => moduleRef.get(HikariElection).isLeader('billing'));
    await moduleRef.get(HikariDiscovery).registered();
    const { hikari } = await indicator.isHealthy();
    expect(hikari).toMatchObject({
      status: 'up',
      driver: 'cluster',
      endpoint: 'memory',
      clusterId: 'memory',
      session: { id: moduleRef.get(HikariTesting).client.session!.id, state: 'connected' },
      leading: ['billing'],
      registration: { service: 'billing', id: 'health-1', state: 'registered' },
    });
    expect(hikari.index).toBeGreaterThan(0);
    await moduleRef.close();
    modules.splice(modules.indexOf(moduleRef), 1);
    const { hikari: after } = await indicator.isHealthy();
    expect(after).toMatchObject({ status: 'down', error: { code: ErrorCode.CANCELLED } });
  });

  test("swaps in for an application's HikariModule with overrideModule: nothing connects to the configured endpoints", async () => {
    const hikari = HikariModule.forRoot({ endpoints: ['127.0.0.1:1'], logger: false, client: { timeoutMs: 60_000 } });
    @Module({ imports: [hikari], providers: [Orders] })
    class AppModule {}
    const started = Date.now();
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
      .overrideModule(hikari)
      .useModule(HikariTestingModule.forRoot({ logger: false }))
      .compile();
    modules.push(moduleRef);
    await moduleRef.init();
    expect(Date.now() - started).toBeLessThan(5_000);
    await moduleRef.get(HikariTesting).client.create('/orders', '');
    await moduleRef.get(HikariTesting).client.create('/orders/2', '');
    expect(await moduleRef.get(Orders).pay('2')).toBeGreaterThan(0);
  });

  test('wrong options fail the start with HikariConfigError; a lease on a cluster lock too, naming the method', async () => {
    await expect(app('bad-1', [], { endpoints: ['127.0.0.1:7701'] } as HikariTestingModuleOptions)).rejects.toThrow(/`endpoints` is HikariModule's/);
    await expect(app('bad-2', [], { cluster: {} as MemoryCluster })).rejects.toThrow(HikariConfigError);
    @Injectable()
    class Leased {
      @DistributedLock('leased', { leaseMs: 5_000 })
      async run(): Promise<void> {}
    }
    await expect(app('bad-3', [Leased])).rejects.toThrow(/Leased.run: `leaseMs` and `autoExtend` are for driver 'redis'/);
  });
});
