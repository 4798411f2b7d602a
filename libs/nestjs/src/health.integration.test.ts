/**
 * HikariHealthIndicator in a real Terminus health endpoint (TerminusModule, HealthCheckService,
 * @HealthCheck: the example's HealthController) against a real 3-node cluster of its own (test/cluster/harness.ts), served over HTTP
 * by the example's node:http platform. Needs the build (`npx tsc -b`); without `server/dist/main.js`
 * the suite is skipped, and says so.
 *
 * The story: healthy (200, with the details); the whole cluster killed: unhealthy at once (503, the
 * session suspended), then, past the session's timeout, unhealthy because the session expired (by
 * the client's clock: it cannot count on it any more); the cluster restarted: healthy again, on a
 * live session.
 */
import { existsSync } from 'node:fs';
import { INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { NodeHttpAdapter } from '../../../examples/nestjs/node-http-adapter';
import { HealthController } from '../../../examples/nestjs/orders';
import { SERVER_SCRIPT, startTestCluster, TestCluster } from '../../../test/cluster/harness';
import { HikariModule } from './index';

const haveServer = existsSync(SERVER_SCRIPT);
if (!haveServer) console.warn(`health.integration.test: skipped, ${SERVER_SCRIPT} is missing (run npx tsc -b)`);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface HealthBody {
  status: 'ok' | 'error';
  details: { hikari: Record<string, unknown> & { status: string; session?: { id: string; state: string }; error?: { code: string } } };
}

(haveServer ? describe : describe.skip)('HikariHealthIndicator with Terminus against a real cluster', () => {
  let t: TestCluster;
  let app: INestApplication | null = null;

  beforeAll(async () => {
    t = await startTestCluster(3);
  });

  afterAll(async () => {
    await app?.close();
    await t?.destroy();
  });

  async function health(base: string): Promise<{ code: number; body: HealthBody }> {
    const answer = await fetch(`${base}/health`);
    return { code: answer.status, body: (await answer.json()) as HealthBody };
  }

  async function until(base: string, what: string, check: (h: { code: number; body: HealthBody }) => boolean, timeoutMs: number) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const h = await health(base);
      if (check(h)) return h;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last answer ${h.code} ${JSON.stringify(h.body)}`);
      await sleep(100);
    }
  }

  test('up with the details; down when the cluster is killed, then because the session expired; up again once it is back', async () => {
    @Module({
      imports: [
        TerminusModule.forRoot({ logger: false }),
        HikariModule.forRoot({ endpoints: t.cluster.endpoints, clusterId: t.clusterId, sessionTimeoutMs: 2_000, logger: false, instanceId: 'health-it' }),
      ],
      controllers: [HealthController],
    })
    class HealthModule {}
    app = await NestFactory.create(HealthModule, new NodeHttpAdapter(), { logger: false, abortOnError: false });
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as { port: number };
    const base = `http://127.0.0.1:${port}`;

    const up = await health(base);
    expect(up.code).toBe(200);
    expect(up.body.status).toBe('ok');
    const first = up.body.details.hikari;
    expect(first).toMatchObject({ status: 'up', driver: 'cluster', clusterId: t.clusterId, session: { state: 'connected', timeoutMs: 2_000 } });
    expect(t.cluster.endpoints).toContain(first.endpoint);
    expect(t.cluster.endpoints).toContain(first.leader); // the leader as the connected node knew it
    expect(typeof first.syncMs).toBe('number');
    const sessionId = first.session!.id;
    expect(sessionId.length).toBeGreaterThan(0);

    for (const node of t.cluster.nodes) await t.cluster.kill(node.id, 'SIGKILL');
    const down = await until(base, 'down', (h) => h.code === 503, 5_000);
    expect(down.body.status).toBe('error');
    expect(down.body.details.hikari.status).toBe('down');
    expect(down.body.details.hikari.error).toBeDefined();

    // Past the session's timeout without renewal, the client counts it expired.
    const expired = await until(base, 'the session to count as expired', (h) => h.body.details.hikari.session?.state === 'expired', 6_000);
    expect(expired.code).toBe(503);
    expect(expired.body.details.hikari).toMatchObject({ status: 'down', error: { code: 'SESSION_EXPIRED' } });

    for (const node of t.cluster.nodes) t.cluster.start(node.id);
    const back = await until(base, 'up again', (h) => h.code === 200, 30_000);
    expect(back.body.details.hikari).toMatchObject({ status: 'up', session: { state: 'connected' } });
    // The restarted cluster gave the sessions it had a fresh timeout (a new leader does, once): the
    // client may have its session back, or a new one if the cluster expired it meanwhile.
    expect(typeof back.body.details.hikari.session!.id).toBe('string');
  }, 60_000);
});
