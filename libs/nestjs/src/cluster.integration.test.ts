/**
 * HikariModule against a real 3-node cluster (test/cluster/harness.ts: `hikari-server` processes on
 * free loopback ports), one cluster for the file, with several Nest applications in this process,
 * built with @nestjs/testing, standing for instances of a service: each has a client and a session
 * of its own, as separate processes would. Needs the build (`npx tsc -b`); without `server/dist/main.js` the suite is
 * skipped, and says so.
 *
 * What is checked: a @DistributedLock method called concurrently in two applications never runs in
 * both at once, and its fencing tokens grow in the order the calls ran (each writes the cluster
 * fenced by its token); a @LeaderOnly method runs in exactly one of three applications, and moves to
 * another when that one closes (called by hand, and as a real @nestjs/schedule interval) (well within the session timeout: the handover comes from closing
 * the session, not from its expiry); an application registers once its HTTP server listens, with
 * the bound port, is found and called through another application's HikariDiscovery, and leaves
 * the registry when it closes; after a session expiry (the session ended from outside, as the leader
 * ends an expired one) the application is registered again and stands again in its elections.
 */
import { existsSync } from 'node:fs';
import { Controller, DynamicModule, Get, Injectable, INestApplicationContext, Module, OnApplicationShutdown, Param, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { firstValueFrom } from 'rxjs';
import type Redis from 'ioredis';
import RedisMock from 'ioredis-mock';
import { HikariClient, ServiceInstance, ServiceUpdate } from '@hikarikeeper/client';
import { NodeHttpAdapter } from '../../../examples/nestjs/node-http-adapter';
import { SERVER_SCRIPT, startTestCluster, TestCluster } from '../../../test/cluster/harness';
import { closeSession } from '../../client/src/testing/close-session';
import {
  currentFence,
  currentLock,
  DistributedLock,
  HIKARI_CLIENT,
  HikariConfigError,
  HikariDiscovery,
  HikariElection,
  HikariLockService,
  HikariModule,
  HikariModuleOptions,
  InjectHikari,
  LeaderOnly,
  LeadershipChange,
} from './index';

const haveServer = existsSync(SERVER_SCRIPT);
if (!haveServer) console.warn(`cluster.integration.test: skipped, ${SERVER_SCRIPT} is missing (run npx tsc -b)`);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** What a critical section saw: when it ran, and with which token. */
interface Section {
  readonly app: string;
  readonly token: number;
  readonly start: number;
  readonly end: number;
}

@Injectable()
class Jobs {
  static sections: Section[] = [];
  constructor(
    @InjectHikari() private readonly client: HikariClient,
    private readonly elections: HikariElection,
  ) {}

  @DistributedLock('it:jobs:{0}')
  async run(job: string, app: string): Promise<number> {
    const start = performance.now();
    const token = currentFence();
    // A fenced write: applied only while this grant is the lock's current one.
    await this.client.set(`/it-jobs/${job}`, `${app}:${token}`, { fence: currentLock()! });
    await sleep(5);
    Jobs.sections.push({ app, token, start, end: performance.now() });
    return token;
  }

  @LeaderOnly('it-billing')
  async bill(): Promise<string> {
    return `billed with leadership ${this.elections.token('it-billing')}`;
  }
}

/** A real @nestjs/schedule interval, leader-only: counts its runs per application. */
@Injectable()
class Ticker {
  static runs: string[] = [];
  constructor(@InjectHikari() private readonly client: HikariClient) {}

  @Interval(50)
  @LeaderOnly('it-billing')
  tick(): void {
    Ticker.runs.push(this.client.session!.id);
  }
}

@Injectable()
class PlainJobs {
  @DistributedLock('it:plain:{0}')
  async run(_job: string): Promise<number> {
    return currentFence();
  }
}

/**
 * Reads the registry while the application shuts down: after HikariModule's `beforeApplicationShutdown`
 * and the HTTP server's close, before HikariModule's `onApplicationShutdown` closes the session (Nest
 * runs shutdown hooks from the root module down: this one's before HikariModule's).
 */
@Injectable()
class ShutdownProbe implements OnApplicationShutdown {
  static discovery: HikariDiscovery | null = null;
  static seen: ServiceInstance[] | null = null;
  async onApplicationShutdown(): Promise<void> {
    ShutdownProbe.seen = await ShutdownProbe.discovery!.instances('it-orders');
  }
}

@Controller('orders')
class OrdersController {
  @Get(':id')
  @DistributedLock('it:orders:{id}')
  async find(@Param('id') id: string): Promise<{ id: string; fence: number }> {
    return { id, fence: currentFence() };
  }
}

(haveServer ? describe : describe.skip)('HikariModule against a real 3-node cluster', () => {
  let t: TestCluster;
  const apps: INestApplicationContext[] = [];

  beforeAll(async () => {
    t = await startTestCluster(3);
    const client = await t.client();
    await client.create('/it-jobs', '');
    await client.create('/it-jobs/j', '');
  });

  afterEach(async () => {
    await Promise.allSettled(apps.splice(0).map((app) => app.close())); // those a failed test left open
  });

  afterAll(async () => {
    await t?.destroy();
  });

  function options(instanceId: string, extra: Partial<HikariModuleOptions> = {}): HikariModuleOptions {
    return { endpoints: t.cluster.endpoints, clusterId: t.clusterId, instanceId, logger: false, ...extra };
  }

  async function context(instanceId: string, providers: Type[], extra: Partial<HikariModuleOptions> = {}, imports: DynamicModule[] = []): Promise<INestApplicationContext> {
    const moduleRef = await Test.createTestingModule({ imports: [HikariModule.forRoot(options(instanceId, extra)), ...imports], providers }).compile();
    moduleRef.useLogger(false);
    apps.push(moduleRef);
    await moduleRef.init();
    return moduleRef;
  }

  test('a @DistributedLock method called in two applications at once never overlaps; tokens grow in order', async () => {
    Jobs.sections = [];
    const [one, two] = await Promise.all([context('jobs-1', [Jobs]), context('jobs-2', [Jobs])]);
    const calls: Promise<number>[] = [];
    for (let i = 0; i < 12; i++) calls.push(one.get(Jobs).run('j', 'one'), two.get(Jobs).run('j', 'two'));
    const tokens = await Promise.all(calls);
    expect(new Set(tokens).size).toBe(24);
    const sections = [...Jobs.sections].sort((a, b) => a.start - b.start);
    expect(sections).toHaveLength(24);
    expect(new Set(sections.map((s) => s.app))).toEqual(new Set(['one', 'two']));
    for (let i = 1; i < sections.length; i++) {
      const [before, after] = [sections[i - 1]!, sections[i]!];
      if (after.start < before.end) throw new Error(`sections overlap: ${JSON.stringify(before)} and ${JSON.stringify(after)}`);
      if (after.token <= before.token) throw new Error(`token ${after.token} ran after ${before.token}`);
    }
    // The last fenced write is the last holder's.
    const last = sections[sections.length - 1]!;
    const reader = await t.client();
    expect((await reader.get('/it-jobs/j')).data.toString()).toBe(`${last.app}:${last.token}`);
    // The locks were released: nothing holds or waits.
    expect(await one.get(HikariLockService).driver.tryAcquire('it:jobs:j')).not.toBeNull();
    await Promise.all([one.close(), two.close()]);
  });

  test('a @LeaderOnly method runs in exactly one of three applications, and in another once that one closes', async () => {
    const ids = ['billing-1', 'billing-2', 'billing-3'];
    Ticker.runs = [];
    const running = await Promise.all(ids.map((id) => context(id, [Jobs, Ticker], {}, [ScheduleModule.forRoot()])));
    const changes: LeadershipChange[][] = running.map(() => []);
    running.forEach((app, i) => app.get(HikariElection).changes$.subscribe((change) => changes[i]!.push(change)));
    const leaders = (list: INestApplicationContext[]) => list.filter((app) => app.get(HikariElection).isLeader('it-billing'));
    await until('a leader of it-billing', () => leaders(running).length === 1);

    const billed = await Promise.all(running.map((app) => app.get(Jobs).bill()));
    expect(billed.filter((b) => b !== undefined)).toHaveLength(1);
    const first = running[billed.findIndex((b) => b !== undefined)]!;
    expect(first).toBe(leaders(running)[0]);
    // The interval fires in all three, and runs in the leader only.
    const leaderSession = first.get<HikariClient>(HIKARI_CLIENT).session!.id;
    await until('interval runs', () => Ticker.runs.length >= 3);
    expect(new Set(Ticker.runs)).toEqual(new Set([leaderSession]));
    const firstIndex = running.indexOf(first);
    const token = first.get(HikariElection).token('it-billing')!;
    expect(billed[firstIndex]).toBe(`billed with leadership ${token}`);
    expect(await firstValueFrom(first.get(HikariElection).leadership$('it-billing'))).toBe(true);
    // Everyone sees who leads: the value the leader campaigned with is its instanceId.
    const seen = await running[(firstIndex + 1) % 3]!.get(HikariElection).leader('it-billing');
    expect(seen?.value.toString()).toBe(ids[firstIndex]);

    const others = running.filter((app) => app !== first);
    const leadership: boolean[] = [];
    const subscriptions = others.map((app) => app.get(HikariElection).leadership$('it-billing').subscribe((leads) => leads && leadership.push(leads)));
    const closedAt = Date.now();
    await first.close();
    await until('a new leader of it-billing', () => leaders(others).length === 1, 5_000);
    expect(Date.now() - closedAt).toBeLessThan(5_000); // the session timeout is 10 s: this was the close, not an expiry
    const next = leaders(others)[0]!;
    expect(next.get(HikariElection).token('it-billing')!).toBeGreaterThan(token);
    expect(leadership).toEqual([true]);
    const nextIndex = running.indexOf(next);
    expect(changes[nextIndex]).toEqual([{ election: 'it-billing', leader: true, token: next.get(HikariElection).token('it-billing'), reason: 'elected' }]);
    expect(changes[firstIndex]!.at(-1)).toEqual({ election: 'it-billing', leader: false, token, reason: 'resigned' }); // resigned at shutdown
    const ticksBefore = Ticker.runs.length;
    await until('interval runs in the new leader', () => Ticker.runs.length >= ticksBefore + 3);
    expect(new Set(Ticker.runs.slice(ticksBefore))).toEqual(new Set([next.get<HikariClient>(HIKARI_CLIENT).session!.id]));
    const billedAgain = await Promise.all(others.map((app) => app.get(Jobs).bill()));
    expect(billedAgain.filter((b) => b !== undefined)).toHaveLength(1);
    expect(billedAgain[others.indexOf(next)]).toBeDefined();
    subscriptions.forEach((s) => s.unsubscribe());
    await Promise.all(others.map((app) => app.close()));
  });

  test('an HTTP application registers with its bound port, is found and called, and leaves when closed', async () => {
    @Module({
      imports: [HikariModule.forRoot(options('orders-1', { registration: { service: 'it-orders', host: '127.0.0.1', tags: ['v1'], metadata: { zone: 'a' } } }))],
      controllers: [OrdersController],
      providers: [ShutdownProbe],
    })
    class OrdersModule {}
    const http = await NestFactory.create(OrdersModule, new NodeHttpAdapter(), { logger: false, abortOnError: false });
    apps.push(http);
    const caller = await context('caller-1', []);
    const discovery = caller.get(HikariDiscovery);
    ShutdownProbe.discovery = discovery;
    const updates: ServiceUpdate[] = [];
    const subscription = discovery.watch('it-orders').subscribe((update) => updates.push(update));

    await http.listen(0, '127.0.0.1');
    const { port } = http.getHttpServer().address() as { port: number };
    const handle = await http.get(HikariDiscovery).registered();
    expect(http.get(HikariDiscovery).registration).toBe(handle);
    const instances = await discovery.instances('it-orders');
    expect(instances).toHaveLength(1);
    expect(instances[0]).toMatchObject({ id: 'orders-1', host: '127.0.0.1', port, protocol: 'http', tags: ['v1'], metadata: { zone: 'a' }, status: 'passing' });

    const picked = await discovery.pick('it-orders');
    expect(picked?.instance.address).toBe(`127.0.0.1:${port}`);
    const answer = await fetch(`http://${picked!.instance.address}/orders/17`);
    picked!.release();
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ id: '17', fence: expect.any(Number) });
    await until('the watch to list the instance', () => updates.some((u) => u.instances.length === 1));

    const closedAt = Date.now();
    await http.close();
    await until('the watch to see the instance leave', () => updates[updates.length - 1]!.instances.length === 0, 5_000);
    expect(Date.now() - closedAt).toBeLessThan(5_000); // deregistered, not expired (10 s)
    expect(ShutdownProbe.seen).toEqual([]); // deregistered before the session closed
    expect(await discovery.instances('it-orders')).toEqual([]);
    subscription.unsubscribe();
    await caller.close();
  });

  test('an application context registers with the configured port; without one it does not start', async () => {
    const worker = await context('worker-1', [], { registration: { service: 'it-workers', port: 9_000, host: '10.1.2.3' } });
    await worker.get(HikariDiscovery).registered();
    const [instance] = await worker.get(HikariDiscovery).instances('it-workers');
    expect(instance).toMatchObject({ id: 'worker-1', host: '10.1.2.3', port: 9_000, protocol: null });
    await worker.close();
    await expect(context('worker-2', [], { registration: { service: 'it-workers' } })).rejects.toThrow(HikariConfigError);
    await expect(context('worker-2', [], { registration: { service: 'it-workers' } })).rejects.toThrow(/`registration.port` is required/);
  });

  test('after a session expiry the application registers again and wins its election again, on the new session', async () => {
    const app = await context('expiry-1', [Jobs], { registration: { service: 'it-expiry', port: 9_100, host: '10.9.9.9' } });
    const elections = app.get(HikariElection);
    const discovery = app.get(HikariDiscovery);
    const client = app.get<HikariClient>(HIKARI_CLIENT);
    await discovery.registered();
    await until('leadership of it-billing', () => elections.isLeader('it-billing'));
    const token = elections.token('it-billing')!;
    const changes: LeadershipChange[] = [];
    elections.changes$.subscribe((change) => changes.push(change));
    const before = client.session!.id;
    const leader = await t.cluster.waitForLeader();
    await closeSession(t.cluster.node(leader).client, before, t.clusterId);
    await until('a new session', () => client.session?.id !== before && client.session?.state === 'connected');
    await until('the registration on the new session', async () => (await discovery.instances('it-expiry'))[0]?.sessionId === client.session!.id);
    expect(await discovery.instances('it-expiry')).toHaveLength(1);
    await until('leadership again', () => elections.isLeader('it-billing'));
    expect(elections.token('it-billing')!).toBeGreaterThan(token);
    expect(changes.map((c) => [c.leader, c.reason])).toEqual([[false, 'expired'], [true, 'elected']]);
    await app.close();
  });

  test("driver 'redis' with endpoints: locks on Redis, elections on the cluster", async () => {
    const redis: Redis = new RedisMock({ port: 47_900 });
    try {
      const app = await context('hybrid-1', [Jobs, PlainJobs], { driver: 'redis', redis: { client: redis } });
      expect(app.get(HikariLockService).kind).toBe('redis');
      await until('leadership of it-billing', () => app.get(HikariElection).isLeader('it-billing'));
      expect(await app.get(Jobs).bill()).toMatch(/^billed/);
      const token = await app.get(PlainJobs).run('hybrid');
      expect(await redis.get('hikari:lock:{it:plain:hybrid}:fence')).toBe(String(token));
      await app.close();
    } finally {
      redis.disconnect();
    }
  });
});
