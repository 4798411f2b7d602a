/**
 * One service instance, as its own process, for the discovery benchmark (workloads/discovery.ts): a
 * real SDK client with a session of the given timeout registers `service`/`id` at 127.0.0.1:<port>
 * and keeps its session alive (the SDK's keepalives) until the benchmark kills it with SIGKILL.
 *
 * It says on stdout, as JSON lines: `{"event":"registered","sessionId","index"}` once its record is
 * written, `{"event":"fatal","code","message"}` if it cannot (then it exits 1). It exits when its stdin
 * closes (the benchmark is gone), so that it never outlives the benchmark.
 *
 * Usage: node discovery-instance.js <endpoint,endpoint,...> <clusterId> <service> <id> <port> <sessionTimeoutMs>
 */
import { createInterface } from 'node:readline';
import { HikariClient } from '@hikarikeeper/client';

const [endpoints, clusterId, service, id, port, timeoutMs] = [
  (process.argv[2] ?? '').split(','), process.argv[3] ?? '', process.argv[4] ?? '', process.argv[5] ?? '', Number(process.argv[6]), Number(process.argv[7]),
];
const say = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

async function main(): Promise<void> {
  createInterface({ input: process.stdin }).on('close', () => process.exit(0));
  const client = await HikariClient.connect({ endpoints, clusterId, session: { timeoutMs } });
  const handle = await client.discovery.register({ service, id, host: '127.0.0.1', port, protocol: 'http', metadata: { pid: process.pid } });
  say({ event: 'registered', sessionId: handle.sessionId, index: handle.modifiedIndex });
}

main().catch((e: unknown) => {
  const code = typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : 'UNKNOWN';
  say({ event: 'fatal', code, message: e instanceof Error ? e.message : String(e) });
  process.exit(1);
});
