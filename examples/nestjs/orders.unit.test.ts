/**
 * Unit tests of the example's services with HikariTestingModule: no cluster, no network. This is
 * the README's example of testing a Nest application's HikariKeeper code (section "Testing without a
 * cluster: HikariTestingModule").
 */
import { Test, TestingModule } from '@nestjs/testing';
import { filter, firstValueFrom } from 'rxjs';
import { HikariDiscovery, HikariElection, HikariHealthIndicator, HikariTesting, HikariTestingModule, LockTimeoutException, MemoryCluster } from '@hikarikeeper/nestjs';
import { BillingJob, OrdersService } from './orders';

describe('OrdersService, with HikariTestingModule', () => {
  let moduleRef: TestingModule;

  beforeEach(async () => {
    moduleRef = await Test.createTestingModule({
      imports: [HikariTestingModule.forRoot({ instanceId: 'orders-test', locks: { waitMs: 200 }, logger: false })],
      providers: [OrdersService, BillingJob],
    }).compile();
    await moduleRef.init(); // connects to the in-process cluster, sets up @DistributedLock and @LeaderOnly
  });

  afterEach(async () => {
    await moduleRef.close();
  });

  it('pays an order once, under its lock, with a growing fencing token', async () => {
    const orders = moduleRef.get(OrdersService);
    const created = await orders.create({ id: '42', amount: 30 });
    const paid = await Promise.all([orders.pay('42'), orders.pay('42'), orders.pay('42')]);
    expect(paid.map((order) => order.charges)).toEqual([1, 1, 1]);
    expect(paid[0]!.fence).toBeGreaterThan(created.fence);
  });

  it('answers 409 while another instance holds the order', async () => {
    const orders = moduleRef.get(OrdersService);
    await orders.create({ id: '7', amount: 10 });
    const other = await moduleRef.get(HikariTesting).connect(); // another process's client
    const grant = await other.locks.acquire('orders:7');
    await expect(orders.pay('7')).rejects.toBeInstanceOf(LockTimeoutException);
    await other.locks.release(grant);
    await expect(orders.pay('7')).resolves.toMatchObject({ status: 'paid' });
  });

  it('bills in the leader only, and stands again after its session expired', async () => {
    const billing = moduleRef.get(BillingJob);
    const elections = moduleRef.get(HikariElection);
    await elections.campaign('billing'); // the module campaigns at bootstrap; this resolves once elected
    await billing.bill();
    expect(billing.runs).toBe(1);

    moduleRef.get(HikariTesting).expireSession(); // as if the process had stalled past its session
    expect(elections.isLeader('billing')).toBe(false);
    await billing.bill(); // skipped: not the leader now
    expect(billing.runs).toBe(1);
    await firstValueFrom(elections.leadership$('billing').pipe(filter(Boolean))); // the module stands again by itself
    await billing.bill();
    expect(billing.runs).toBe(2);
  });
});

describe('two instances sharing one in-process cluster', () => {
  it('find each other through discovery, and one leads', async () => {
    const cluster = new MemoryCluster();
    const start = async (id: string, port: number) => {
      const moduleRef = await Test.createTestingModule({
        imports: [HikariTestingModule.forRoot({ cluster, instanceId: id, registration: { service: 'orders', port, host: '127.0.0.1' }, logger: false })],
        providers: [OrdersService, BillingJob],
      }).compile();
      await moduleRef.init();
      return moduleRef;
    };
    const [a, b] = await Promise.all([start('orders-a', 3001), start('orders-b', 3002)]);
    try {
      await Promise.all([a.get(HikariDiscovery).registered(), b.get(HikariDiscovery).registered()]);
      const instances = await a.get(HikariDiscovery).instances('orders');
      expect(instances.map((instance) => instance.address)).toEqual(['127.0.0.1:3001', '127.0.0.1:3002']);
      await Promise.race([a.get(HikariElection).campaign('billing'), b.get(HikariElection).campaign('billing')]);
      expect([a, b].filter((app) => app.get(HikariElection).isLeader('billing'))).toHaveLength(1);
      const { hikari } = await a.get(HikariHealthIndicator).isHealthy();
      expect(hikari).toMatchObject({ status: 'up', endpoint: 'memory', registration: { service: 'orders', state: 'registered' } });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
