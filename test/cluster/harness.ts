import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ProcessCluster } from '../../server/src/tools/process-cluster';
import { ErrorCode, HikariClient, HikariError } from '@hikarikeeper/client';

/** The built server (npm test runs `tsc -b` first). */
export const SERVER_SCRIPT = resolve(__dirname, '..', '..', 'server', 'dist', 'main.js');

export interface TestCluster {
  cluster: ProcessCluster;
  clusterId: string;
  client(endpoints?: string[]): Promise<HikariClient>;
  /** Kills every process and removes the data (call in afterAll/afterEach). */
  destroy(): Promise<void>;
}

/**
 * A cluster of real `hikari-server` processes with data in a temporary folder, on free loopback
 * ports. `extraArgs` go to every node (e.g. a small --snapshot-every).
 */
export async function startTestCluster(size: number, extraArgs: string[] = []): Promise<TestCluster> {
  if (!existsSync(SERVER_SCRIPT)) throw new Error(`${SERVER_SCRIPT} is missing: run \`npx tsc -b\` first`);
  const baseDir = mkdtempSync(join(tmpdir(), 'hk-cluster-'));
  const clusterId = `test-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  const cluster = await ProcessCluster.create({ size, baseDir, clusterId, serverScript: SERVER_SCRIPT, extraArgs });
  cluster.startAll();
  await cluster.waitForLeader(30_000);
  const clients: HikariClient[] = [];
  return {
    cluster,
    clusterId,
    async client(endpoints = cluster.endpoints) {
      const c = await HikariClient.connect({ endpoints, clusterId });
      clients.push(c);
      return c;
    },
    async destroy() {
      await Promise.allSettled(clients.map((c) => c.close()));
      for (const n of cluster.nodes) {
        cluster.signal(n.id, 'SIGCONT');
        await cluster.kill(n.id, 'SIGKILL');
      }
      rmSync(baseDir, { recursive: true, force: true });
    },
  };
}

/** Writes keys `${prefix}/k<i>` in a loop until stopped; remembers which writes were acknowledged. */
export function startWriter(client: HikariClient, prefix: string): { stop(): Promise<{ acked: string[]; failed: number }> } {
  let running = true;
  const acked: string[] = [];
  let failed = 0;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const path = `${prefix}/k${String(i).padStart(6, '0')}`;
      try {
        await client.create(path, `v${i}`, { timeoutMs: 20_000 });
        acked.push(path);
      } catch (e) {
        if (HikariError.is(e, ErrorCode.CANCELLED)) break; // the client was closed (the test ended)
        failed++;
      }
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { acked, failed };
    },
  };
}

/** Every child name of `path`, read from the node the client is connected to (stale: local state). */
export async function allChildren(client: HikariClient, path: string, stale = false): Promise<string[]> {
  const names: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await client.children(path, { after, limit: 10_000, stale });
    names.push(...page.names);
    if (!page.more) return names;
    after = page.names[page.names.length - 1];
  }
}
