/**
 * The SDK against a real 3-node cluster: `server/dist/main.js` processes on free ports with temporary
 * data directories, driven only through the server's process contract (flags, `GET /status`).
 * Needs the build (`npx tsc -b`); without `server/dist/main.js` the suite is skipped, and says so.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { HikariClient } from './client';
import { DisconnectedEvent } from './events';

const SERVER_MAIN = resolve(__dirname, '../../../server/dist/main.js');
const CLUSTER_ID = 'client-it';

interface ClusterNode {
  readonly id: number;
  readonly client: string;
  readonly peer: string;
  readonly admin: string;
  process: ChildProcess | null;
  /** The last lines the process printed, for failure messages. */
  readonly output: string[];
}

interface NodeStatus {
  role: string;
  leader: number;
  leaderClient?: string | null;
}

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

class Cluster {
  private constructor(
    readonly nodes: ClusterNode[],
    private readonly dataDir: string,
  ) {}

  static async start(size: number): Promise<Cluster> {
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
    const cluster = new Cluster(nodes, dataDir);
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
      ...['--cluster', members, '--cluster-id', CLUSTER_ID, '--log-level', 'warn'],
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

async function rejection(promise: Promise<unknown>): Promise<HikariError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof HikariError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

const haveServer = existsSync(SERVER_MAIN);
if (!haveServer) console.warn(`client.integration.test: skipped, ${SERVER_MAIN} is missing (run npx tsc -b)`);

(haveServer ? describe : describe.skip)('HikariClient against a real 3-node cluster', () => {
  let cluster: Cluster;
  const clients: HikariClient[] = [];

  async function connect(endpoints = cluster.endpoints): Promise<HikariClient> {
    const client = await HikariClient.connect({ endpoints, clusterId: CLUSTER_ID });
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    cluster = await Cluster.start(3);
    await cluster.waitForLeader();
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await cluster?.stop();
  });

  test('the typed API end to end: create, get, compare-and-set, exists, children, multi, sync, delete', async () => {
    const client = await connect();
    const { path, stat } = await client.create('/app', 'root');
    expect(path).toBe('/app');
    expect(stat.version).toBe(0);
    expect((await rejection(client.create('/app', 'again'))).code).toBe(ErrorCode.NODE_EXISTS);

    await client.create('/app/config', Buffer.from('v1'), { mode: 'persistent' });
    const read = await client.get('/app/config');
    expect(read.data.toString()).toBe('v1');
    expect((await client.get('/app/config', { stale: true })).stat.createdIndex).toBe(read.stat.createdIndex);

    const { stat: updated } = await client.set('/app/config', 'v2', { version: read.stat.version });
    expect(updated.version).toBe(1);
    const conflict = await rejection(client.set('/app/config', 'v3', { version: read.stat.version }));
    expect(conflict.code).toBe(ErrorCode.BAD_VERSION);
    expect((await client.get('/app/config')).data.toString()).toBe('v2');

    expect(await client.exists('/app/none')).toBeNull();
    expect((await client.exists('/app/config'))?.stat.version).toBe(1);
    expect((await rejection(client.get('/app/none'))).code).toBe(ErrorCode.NO_NODE);

    for (let i = 0; i < 5; i++) await client.create('/app/q-', '', { mode: 'persistent_sequential' });
    const page = await client.children('/app', { limit: 2 });
    expect(page).toMatchObject({ names: ['config', 'q-0000000000'], more: true });
    const names: string[] = [];
    for await (const name of client.listChildren('/app', { pageSize: 2 })) names.push(name);
    expect(names).toEqual(['config', ...[0, 1, 2, 3, 4].map((n) => `q-000000000${n}`)]);

    const failed = await rejection(
      client.multi([
        { op: 'create', path: '/app/m1', data: 'a' },
        { op: 'check', path: '/app/config', version: 0 },
      ]),
    );
    expect(failed.code).toBe(ErrorCode.BAD_VERSION);
    expect(failed.details.opIndex).toBe(1);
    expect(await client.exists('/app/m1')).toBeNull(); // atomic: the create did not apply either
    const { results } = await client.multi([
      { op: 'check', path: '/app/config', version: 1 },
      { op: 'create', path: '/app/m1', data: 'a' },
      { op: 'set', path: '/app/config', data: 'v3' },
    ]);
    expect(results.map((result) => result.op)).toEqual(['check', 'create', 'set']);

    const { index } = await client.sync();
    expect(index).toBeGreaterThan(0);
    expect((await rejection(client.delete('/app', {}))).code).toBe(ErrorCode.NOT_EMPTY);
    await client.delete('/app/m1');
    expect(await client.exists('/app/m1')).toBeNull();
  });

  test('a client connected to a follower moves to the leader for its writes', async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.nodes.find((node) => node.id !== leader.id)!;
    const client = await connect([follower.client]);
    expect(client.endpoint).toBe(follower.client);
    expect((await client.exists('/')) !== null).toBe(true); // reads are served by the follower
    expect(client.endpoint).toBe(follower.client);
    await client.create('/moved', 'x');
    expect(client.endpoint).toBe(leader.client);
  });

  test('killing the leader mid-load: writes continue on the new leader, each applied exactly once', async () => {
    const client = await connect();
    const disconnects: DisconnectedEvent[] = [];
    client.on('disconnected', (event) => disconnects.push(event));
    await client.create('/seq', '');
    const oldLeader = await cluster.waitForLeader();

    // Sequential creates are not idempotent: a retried write applied twice would leave an extra node.
    let acknowledged = 0;
    const failures: HikariError[] = [];
    let stop = false;
    const writer = async (): Promise<void> => {
      while (!stop) {
        try {
          await client.create('/seq/n-', '', { mode: 'persistent_sequential' });
          acknowledged++;
        } catch (error) {
          failures.push(error as HikariError);
        }
      }
    };
    const writers = Array.from({ length: 16 }, writer);
    await new Promise((done) => setTimeout(done, 500));
    const beforeKill = acknowledged;
    await cluster.kill(oldLeader.id);
    const newLeader = await cluster.waitForLeader();
    // Writes go on: well past the 16 that were in flight at the kill (and are answered by the new leader).
    const deadline = Date.now() + 15_000;
    while (acknowledged < beforeKill + 16 + 200 && failures.length === 0 && Date.now() < deadline) {
      await new Promise((done) => setTimeout(done, 20));
    }
    stop = true;
    await Promise.all(writers);

    expect(newLeader.id).not.toBe(oldLeader.id);
    expect(failures.map((error) => `${error.code}: ${error.message}`)).toEqual([]);
    expect(acknowledged).toBeGreaterThanOrEqual(beforeKill + 16 + 200);
    expect(disconnects.some((event) => event.endpoint === oldLeader.client)).toBe(true);
    expect(client.endpoint).toBe(newLeader.client);

    let created = 0;
    for await (const name of client.listChildren('/seq')) created += name.startsWith('n-') ? 1 : 0;
    expect(created).toBe(acknowledged);
  });
});
