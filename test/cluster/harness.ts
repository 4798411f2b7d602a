import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ProcessCluster } from '../../server/src/tools/process-cluster';
import type { AdminClientOptions } from '../../server/src/admin/admin-client';
import { connect, Socket } from 'node:net';
import { connect as tlsConnect, ConnectionOptions as TlsOptions } from 'node:tls';
import { ErrorCode, HikariClient, HikariClientOptions, HikariError } from '@hikarikeeper/client';
import { decodeEnvelope, encodeEnvelope, Envelope, FrameDecoder } from '@hikarikeeper/protocol';

/** The built server (npm test runs `tsc -b` first). */
export const SERVER_SCRIPT = resolve(__dirname, '..', '..', 'server', 'dist', 'main.js');

export interface TestCluster {
  cluster: ProcessCluster;
  clusterId: string;
  /** A client of the cluster (with the cluster's `client` options; `options` override them). */
  client(endpoints?: string[], options?: Partial<HikariClientOptions>): Promise<HikariClient>;
  /** Kills every process and removes the data (call in afterAll/afterEach). */
  destroy(): Promise<void>;
}

export interface TestClusterOptions {
  /** Environment variables of every node (HIKARI_ADMIN_TOKEN, ...). */
  env?: Record<string, string>;
  /** How the harness reaches the admin ports (TLS, token). */
  admin?: AdminClientOptions;
  /** Options of every client `client()` makes (token, TLS). */
  client?: Partial<HikariClientOptions>;
}

/**
 * A cluster of real `hikari-server` processes with data in a temporary folder, on free loopback
 * ports. `extraArgs` go to every node (e.g. a small --snapshot-every).
 */
export async function startTestCluster(size: number, extraArgs: string[] = [], options: TestClusterOptions = {}): Promise<TestCluster> {
  if (!existsSync(SERVER_SCRIPT)) throw new Error(`${SERVER_SCRIPT} is missing: run \`npx tsc -b\` first`);
  const baseDir = mkdtempSync(join(tmpdir(), 'hk-cluster-'));
  const clusterId = `test-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  const cluster = await ProcessCluster.create({ size, baseDir, clusterId, serverScript: SERVER_SCRIPT, extraArgs, env: options.env, admin: options.admin });
  cluster.startAll();
  await cluster.waitForLeader(30_000);
  const clients: HikariClient[] = [];
  return {
    cluster,
    clusterId,
    async client(endpoints = cluster.endpoints, overrides = {}) {
      const c = await HikariClient.connect({ endpoints, clusterId, ...options.client, ...overrides });
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

/** A raw protocol connection: sends exactly the bytes a test wants, collects what the server answers. */
export class RawConnection {
  readonly received: Envelope[] = [];
  closed = false;
  private readonly decoder = new FrameDecoder();
  private constructor(readonly socket: Socket) {
    socket.on('data', (c) => {
      for (const b of this.decoder.push(c)) this.received.push(decodeEnvelope(b));
    });
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }
  /** A connection to `address`, over TLS with `tls`. */
  static open(address: string, tls?: TlsOptions): Promise<RawConnection> {
    const [host, port] = address.split(':');
    return new Promise((resolve, reject) => {
      const s: Socket = tls === undefined
        ? connect(Number(port), host, () => resolve(new RawConnection(s)))
        : tlsConnect({ host, port: Number(port), ...tls }, () => resolve(new RawConnection(s)));
      s.once('error', reject);
    });
  }
  request(id: number, op: string, a: unknown): void {
    this.socket.write(encodeEnvelope({ t: 1, id, op, a: a as Record<string, unknown> }));
  }
  async answer(id: number, timeoutMs = 10_000): Promise<Envelope> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = this.received.find((x) => 'id' in x && x.id === id);
      if (e) return e;
      if (Date.now() > deadline) throw new Error(`no answer to request ${id}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  /** Sends a request and waits for its answer. */
  async call(id: number, op: string, a: unknown, timeoutMs?: number): Promise<Envelope> {
    this.request(id, op, a);
    return this.answer(id, timeoutMs);
  }
  /** Server-pushed events of `kind` received so far. */
  events(kind: string): unknown[] {
    return this.received.filter((e) => e.t === 4 && e.k === kind).map((e) => (e as { d: unknown }).d);
  }
  async untilClosed(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }
}

