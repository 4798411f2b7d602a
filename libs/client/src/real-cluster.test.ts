/**
 * A real HikariKeeper cluster for integration tests: `server/dist/main.js` processes on free ports
 * with temporary data directories, driven only through the server's process contract (flags,
 * `GET /status`). Needs the build (`npx tsc -b`); `haveServer` says whether it is there.
 *
 * Named *.test.ts so that the build leaves it out of dist; its smoke test registers only when Jest
 * runs this file itself.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '@hikarikeeper/server';
import { HikariClient } from './client';
import type { HikariClientOptions } from './options';

export const SERVER_MAIN = resolve(__dirname, '../../../server/dist/main.js');

export interface ClusterNode {
  readonly id: number;
  readonly client: string;
  readonly peer: string;
  readonly admin: string;
  process: ChildProcess | null;
  /** The last lines the process printed, for failure messages. */
  readonly output: string[];
}

export interface NodeStatus {
  role: string;
  leader: number;
  leaderClient?: string | null;
}

export { freePort };

export class Cluster {
  private constructor(
    readonly nodes: ClusterNode[],
    private readonly dataDir: string,
    readonly clusterId: string,
  ) {}

  static async start(size: number, clusterId: string): Promise<Cluster> {
    const dataDir = mkdtempSync(join(tmpdir(), 'hikari-client-it-'));
    const nodes: ClusterNode[] = [];
    for (let id = 1; id <= size; id++) {
      const [client, peer, admin] = [await freePort(), await freePort(), await freePort()];
      nodes.push({
        id,
        client: `127.0.0.1:${client}`,
        peer: `127.0.0.1:${peer}`,
        admin: `127.0.0.1:${admin}`,
        process: null,
        output: [],
      });
    }
    const cluster = new Cluster(nodes, dataDir, clusterId);
    for (const node of nodes) cluster.spawn(node);
    return cluster;
  }

  get endpoints(): string[] {
    return this.nodes.map((node) => node.client);
  }

  node(id: number): ClusterNode {
    return this.nodes.find((node) => node.id === id)!;
  }

  /** SIGKILL: the node crashes, as a power cut would. */
  async kill(id: number): Promise<void> {
    const child = this.node(id).process;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGKILL');
    await exited;
  }

  async status(node: ClusterNode): Promise<NodeStatus | null> {
    try {
      const response = await fetch(`http://${node.admin}/status`, { signal: AbortSignal.timeout(1000) });
      return response.ok ? ((await response.json()) as NodeStatus) : null;
    } catch {
      return null;
    }
  }

  /** The leader the running nodes agree on (a majority of the cluster's size), once they do. */
  async waitForLeader(timeoutMs = 20_000): Promise<ClusterNode> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const running = this.nodes.filter((node) => node.process?.exitCode === null && node.process.signalCode === null);
      const statuses = await Promise.all(running.map((node) => this.status(node)));
      const leaders = statuses.filter((status) => status?.role === 'leader');
      if (leaders.length === 1) {
        const agreeing = statuses.filter((status) => status?.leader === leaders[0]!.leader).length;
        if (agreeing > this.nodes.length / 2) return this.node(leaders[0]!.leader);
      }
      if (Date.now() > deadline) {
        throw new Error(`no leader within ${timeoutMs} ms; last output:\n${this.nodes.map((n) => n.output.slice(-5).join('\n')).join('\n')}`);
      }
      await new Promise((done) => setTimeout(done, 100));
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => this.kill(node.id)));
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  private spawn(node: ClusterNode): void {
    const members = this.nodes.map((each) => `${each.id}=${each.peer}/${each.client}`).join(',');
    const args = [
      SERVER_MAIN,
      ...['--id', String(node.id), '--data-dir', join(this.dataDir, `node-${node.id}`)],
      ...['--client-address', node.client, '--peer-address', node.peer, '--admin-address', node.admin],
      ...['--cluster', members, '--cluster-id', this.clusterId, '--log-level', 'warn'],
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer): void => {
      node.output.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      node.output.splice(0, Math.max(0, node.output.length - 50));
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    node.process = child;
  }
}

export const haveServer = existsSync(SERVER_MAIN);

/**
 * One 3-node cluster for the enclosing `describe` (started in `beforeAll`, stopped in `afterAll`)
 * and `connect`, which opens a client to it (with `clusterId`) that is closed with the cluster.
 * Later `beforeAll` hooks of the block run once it is up.
 */
export function useRealCluster(clusterId: string): { readonly cluster: Cluster; connect(options?: Partial<HikariClientOptions>): Promise<HikariClient> } {
  let cluster: Cluster | null = null;
  const clients: HikariClient[] = [];
  beforeAll(async () => {
    cluster = await Cluster.start(3, clusterId);
    await cluster.waitForLeader();
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await cluster?.stop();
  });
  return {
    get cluster(): Cluster {
      if (cluster === null) throw new Error('the cluster starts in beforeAll');
      return cluster;
    },
    async connect(options: Partial<HikariClientOptions> = {}): Promise<HikariClient> {
      const client = await HikariClient.connect({ endpoints: this.cluster.endpoints, clusterId, ...options });
      clients.push(client);
      return client;
    },
  };
}

if (expect.getState().testPath?.endsWith('real-cluster.test.ts') === true) {
  describe('the real-cluster fixture itself', () => {
    test('freePort gives a port nothing listens on', async () => {
      const port = await freePort();
      expect(port).toBeGreaterThan(0);
      await new Promise<void>((done, fail) => {
        const server = createServer().once('error', fail);
        server.listen(port, '127.0.0.1', () => server.close(() => done()));
      });
    });
  });
}
