import type { INestApplication } from '@nestjs/common';
import type { AddressInfo } from 'node:net';
import { startTestCluster, TestCluster } from '../../test/cluster/harness';
import { startGateway, startOrders } from './main';
import type { Order } from './orders';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

function base(app: INestApplication): string {
  return `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
}

async function post(url: string, body?: unknown): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function billing(app: INestApplication): Promise<{ leader: boolean; runs: number }> {
  return (await (await fetch(`${base(app)}/billing`)).json()) as { leader: boolean; runs: number };
}

describe('the NestJS example', () => {
  let t: TestCluster;
  const apps: INestApplication[] = [];

  beforeAll(async () => {
    t = await startTestCluster(3);
  });
  afterAll(async () => {
    await Promise.allSettled(apps.map((app) => app.close()));
    await t?.destroy();
  });

  test('two orders instances and a gateway: one payment per order, billing in one instance, discovery', async () => {
    const endpoints = t.cluster.endpoints;
    const a = await startOrders({ endpoints, instanceId: 'orders-a', host: '127.0.0.1' }, 0);
    apps.push(a);
    const b = await startOrders({ endpoints, instanceId: 'orders-b', host: '127.0.0.1' }, 0);
    apps.push(b);
    const gateway = await startGateway(endpoints, 0);
    apps.push(gateway);
    const observer = await t.client();

    // Both instances register with the ports they listen on.
    await until('both instances registered', async () => (await observer.discovery.instances('orders')).length === 2);
    const registered = await observer.discovery.instances('orders');
    expect(registered.map((i) => [i.id, i.address]).sort()).toEqual([
      ['orders-a', base(a).slice('http://'.length)],
      ['orders-b', base(b).slice('http://'.length)],
    ]);

    // Ten payments of one order race across both instances: the lock lets one charge happen.
    expect((await post(`${base(a)}/orders`, { id: '42', amount: 30 })).status).toBe(201);
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => post(`${base(i % 2 === 0 ? a : b)}/orders/42/pay`)));
    expect(answers.map((r) => r.status)).toEqual(Array(10).fill(201));
    const orders = (await Promise.all(answers.map((r) => r.json()))) as Order[];
    expect(new Set(orders.map((o) => o.charges))).toEqual(new Set([1]));
    expect(new Set(orders.map((o) => o.status))).toEqual(new Set(['paid']));
    const read = (await (await fetch(`${base(b)}/orders/42`)).json()) as Order;
    expect(read).toMatchObject({ id: '42', status: 'paid', charges: 1 });
    expect(read.fence).toBeGreaterThan(0);

    // The gateway finds an instance through discovery and forwards the read.
    const viaGateway = (await (await fetch(`${base(gateway)}/orders/42`)).json()) as { servedBy: string; order: Order };
    expect(['orders-a', 'orders-b']).toContain(viaGateway.servedBy);
    expect(viaGateway.order).toEqual(read);

    // The health endpoint (Terminus + HikariHealthIndicator) reports the cluster and the session.
    const health = await fetch(`${base(a)}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', details: { hikari: { status: 'up', session: { state: 'connected' }, registration: { service: 'orders', id: 'orders-a' } } } });

    // Billing (a cron every 2 s) runs in the leader only, which records it fenced; closing it moves the job to the other instance.
    await until('a billing leader that has run', async () => (await billing(a)).runs + (await billing(b)).runs > 0, 10_000);
    const [stateA, stateB] = [await billing(a), await billing(b)];
    expect([stateA.leader, stateB.leader].filter(Boolean)).toHaveLength(1);
    const [leader, follower] = stateA.leader ? [a, b] : [b, a];
    expect((await billing(follower)).runs).toBe(0);
    await leader.close();
    apps.splice(apps.indexOf(leader), 1);
    await until('the other instance to bill', async () => (await billing(follower)).runs > 0, 6_000);
    expect((await billing(follower)).leader).toBe(true);
    expect((await observer.discovery.instances('orders')).map((i) => i.id)).toEqual([stateA.leader ? 'orders-b' : 'orders-a']);
    const record = JSON.parse((await observer.get('/billing')).data.toString()) as { token: number };
    expect(record.token).toBeGreaterThan(0); // written by a leader, fenced by its leadership token
  });
});
