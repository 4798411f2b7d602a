/**
 * The health probe: the real checks (HTTP GET, TCP connect) against local servers, and how
 * consecutive results make the verdict (with a scripted check).
 */
import { createServer as createHttpServer, Server as HttpServer } from 'node:http';
import { createServer, Server } from 'node:net';
import { eventually } from '../scripted-peer.test';
import { HealthProbe, ProbeResult, ProbeSpec, resolveProbe, runCheck } from './health-probe';

function listen(server: Server | HttpServer): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

function close(server: Server | HttpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('checks', () => {
  test('TCP: passes when a connection opens, fails when nothing listens', async () => {
    const server = createServer((socket) => socket.destroy());
    const port = await listen(server);
    expect(await runCheck(resolveProbe({ tcp: true }, '127.0.0.1', port))).toBeNull();
    await close(server);
    const failure = await runCheck(resolveProbe({ tcp: `127.0.0.1:${port}` }, 'unused', 1));
    expect(failure).toMatch(new RegExp(`^TCP connect to 127.0.0.1:${port} failed: .*ECONNREFUSED`));
  });

  test('HTTP: 2xx and 3xx pass, others fail; an unanswered GET fails at its timeout', async () => {
    let status = 200;
    const held: Array<() => void> = [];
    const server = createHttpServer((req, res) => {
      if (req.url === '/hang') {
        held.push(() => res.end());
        return;
      }
      res.writeHead(status, status === 302 ? { location: '/elsewhere' } : {});
      res.end('body');
    });
    const port = await listen(server);
    const spec = (path: string) => resolveProbe({ http: `http://127.0.0.1:${port}${path}`, intervalMs: 300 }, 'h', 1);
    expect(await runCheck(spec('/health'))).toBeNull();
    status = 302;
    expect(await runCheck(spec('/health'))).toBeNull();
    status = 500;
    expect(await runCheck(spec('/health'))).toBe(`GET http://127.0.0.1:${port}/health answered 500`);
    expect(await runCheck(spec('/hang'))).toBe(`GET http://127.0.0.1:${port}/hang unanswered within 300 ms`);
    for (const release of held) release();
    server.closeAllConnections();
    await close(server);
    expect(await runCheck(spec('/health'))).toMatch(/failed: .*ECONNREFUSED/);
  });
});

describe('verdicts', () => {
  const spec: ProbeSpec = {
    target: { kind: 'tcp', host: '127.0.0.1', port: 1 },
    intervalMs: 100,
    timeoutMs: 100,
    failuresBeforeCritical: 2,
    successesBeforePassing: 2,
  };

  test('the verdict changes after the thresholds of consecutive results, and not before', async () => {
    const script = [null, null, 'down', null, 'down', 'down', 'down', null, null];
    const results: ProbeResult[] = [];
    const probe: HealthProbe = new HealthProbe(spec, (result) => {
      results.push(result);
      if (results.length === script.length) probe.stop();
    }, async () => script[results.length] ?? null);
    probe.start();
    await eventually(() => results.length === script.length, 5000, 'the scripted checks');
    expect(results.map((result) => result.healthy)).toEqual([null, true, true, true, true, false, false, false, true]);
    expect(results[2]).toEqual({ healthy: true, failure: 'down' }); // one failure is not enough
  });

  test('stop() stops: no result after it', async () => {
    let checks = 0;
    const probe = new HealthProbe(spec, () => undefined, async () => {
      checks++;
      return null;
    });
    probe.start();
    await eventually(() => checks === 1);
    probe.stop();
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(checks).toBe(1);
  });
});
