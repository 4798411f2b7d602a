import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AdminClientOptions, adminRequest } from '../admin/admin-client';
import { freePort } from './free-port';

/** One node of a cluster of real server processes. */
export interface ProcessNode {
  readonly id: number;
  readonly dataDir: string;
  readonly client: string;
  readonly peer: string;
  readonly admin: string;
  process: ChildProcess | null;
  /** Log lines (pino JSON) the process printed, most recent last (bounded). */
  readonly logs: string[];
}

export interface ProcessClusterOptions {
  size: number;
  baseDir: string;
  clusterId: string;
  /** Fixed ports (client, peer, admin) per node index; free ephemeral ports when absent. */
  ports?: (index: number) => { client: number; peer: number; admin: number };
  host?: string;
  /** Extra flags for every node, e.g. ['--snapshot-every', '100']. */
  extraArgs?: string[];
  /** Called with every line a node prints. */
  onLine?: (node: ProcessNode, line: string) => void;
  serverScript?: string;
  /** How to reach the admin ports of a cluster with TLS or authentication on (CA, token). */
  admin?: AdminClientOptions;
  /**
   * The addresses a node is known by in the membership (what peers dial, what NOT_LEADER names),
   * when they are not the ones it listens on: a fault-injecting proxy in front of each node.
   */
  advertise?: (node: ProcessNode) => { peer: string; client: string };
  /** Extra environment variables for every node (HIKARI_ADMIN_TOKEN, HIKARI_FAILPOINTS, ...). */
  env?: Record<string, string>;
}
export { freePort };

const LOG_LINES_KEPT = 2000;


export interface NodeStatus {
  id: number;
  role: string;
  term: number;
  leader: number;
  commitIndex: number;
  appliedIndex: number;
  voters: number[];
  learners: number[];
  [key: string]: unknown;
}

/**
 * A cluster of real `hikari-server` processes on one machine: used by `npm start` (the local
 * development cluster) and by the multi-process tests. It starts, kills (any signal), restarts and
 * stops nodes, and reads their admin `/status`.
 */
export class ProcessCluster {
  readonly nodes: ProcessNode[] = [];
  private readonly script: string;
  private highestId = 0;

  private constructor(private readonly opts: ProcessClusterOptions) {
    this.script = opts.serverScript ?? resolve(__dirname, '..', 'main.js');
  }

  static async create(opts: ProcessClusterOptions): Promise<ProcessCluster> {
    const c = new ProcessCluster(opts);
    const host = opts.host ?? '127.0.0.1';
    for (let i = 0; i < opts.size; i++) {
      const p = opts.ports ? opts.ports(i) : { client: await freePort(host), peer: await freePort(host), admin: await freePort(host) };
      c.nodes.push({
        id: i + 1, dataDir: join(opts.baseDir, `node-${i + 1}`), client: `${host}:${p.client}`, peer: `${host}:${p.peer}`,
        admin: `${host}:${p.admin}`, process: null, logs: [],
      });
    }
    return c;
  }

  get clusterSpec(): string {
    return this.nodes.map((n) => {
      const a = this.advertised(n);
      return `${n.id}=${a.peer}/${a.client}`;
    }).join(',');
  }

  /** The addresses `node` is known by in the membership (its listen addresses unless `advertise`). */
  advertised(node: ProcessNode): { peer: string; client: string } {
    return this.opts.advertise?.(node) ?? { peer: node.peer, client: node.client };
  }

  get endpoints(): string[] {
    return this.nodes.map((n) => n.client);
  }

  node(id: number): ProcessNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  startAll(): void {
    for (const n of this.nodes) this.start(n.id);
  }

  /** Starts node `id` (a founder, unless `join`). */
  start(id: number, join = false): void {
    const n = this.node(id);
    if (n.process && n.process.exitCode === null && n.process.signalCode === null) return;
    mkdirSync(n.dataDir, { recursive: true });
    const args = [
      this.script, '--id', String(n.id), '--cluster-id', this.opts.clusterId, '--data-dir', n.dataDir,
      '--client-address', n.client, '--peer-address', n.peer, '--admin-address', n.admin,
      // A joining node is told the current members (as etcd's initial-cluster-state=existing), so
      // that it knows its peers before the log tells it; it does not bootstrap.
      ...(join ? ['--join'] : []), '--cluster', this.clusterSpec, ...(this.opts.extraArgs ?? []),
    ];
    // The node exits if this process dies (a crashed test runner must not leave servers behind).
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.opts.env, HIKARI_EXIT_WITH_PARENT: String(process.pid) } });
    n.process = child;
    let pending = '';
    const onData = (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        n.logs.push(line);
        if (n.logs.length > LOG_LINES_KEPT) n.logs.shift();
        this.opts.onLine?.(n, line);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
  }

  /** Adds a node definition (not started) for a membership change; returns it. */
  async addNodeDefinition(): Promise<ProcessNode> {
    const host = this.opts.host ?? '127.0.0.1';
    // Ids are never reused, even those of nodes forgotten since.
    const id = Math.max(this.highestId, ...this.nodes.map((n) => n.id)) + 1;
    this.highestId = id;
    const n: ProcessNode = {
      id, dataDir: join(this.opts.baseDir, `node-${id}`), client: `${host}:${await freePort(host)}`,
      peer: `${host}:${await freePort(host)}`, admin: `${host}:${await freePort(host)}`, process: null, logs: [],
    };
    this.nodes.push(n);
    return n;
  }

  /** Forgets a node that left the cluster (it must not be running): later `--cluster` lists no longer name it. */
  forget(id: number): void {
    if (this.isRunning(id)) throw new Error(`node ${id} is still running`);
    this.highestId = Math.max(this.highestId, id);
    this.nodes.splice(this.nodes.indexOf(this.node(id)), 1);
  }

  isRunning(id: number): boolean {
    const p = this.node(id).process;
    return p !== null && p.exitCode === null && p.signalCode === null;
  }

  /** Sends `signal` (SIGKILL by default: a crash) and waits for the process to exit. */
  async kill(id: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.node(id).process;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(signal);
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') return;
    await exited;
  }

  signal(id: number, signal: NodeJS.Signals): void {
    this.node(id).process?.kill(signal);
  }

  /** SIGTERM to every node (graceful), then SIGKILL after `graceMs`. */
  async stopAll(graceMs = 10_000): Promise<void> {
    await Promise.all(this.nodes.map(async (n) => {
      const p = n.process;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGCONT');
      p.kill('SIGTERM');
      const timer = setTimeout(() => p.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }));
  }

  async status(id: number, timeoutMs = 1000): Promise<NodeStatus | null> {
    try {
      const res = await adminRequest(this.node(id).admin, 'GET', '/status', this.opts.admin ?? {}, undefined, timeoutMs);
      return res.status === 200 ? (res.body as NodeStatus) : null;
    } catch {
      return null;
    }
  }

  /** Waits until the running nodes agree on one leader; returns its id. */
  async waitForLeader(timeoutMs = 20_000, among?: number[]): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ids = (among ?? this.nodes.map((n) => n.id)).filter((id) => this.isRunning(id));
      const statuses = await Promise.all(ids.map((id) => this.status(id)));
      const leaders = statuses.filter((s): s is NodeStatus => s !== null && s.role === 'leader');
      if (leaders.length === 1) {
        const leader = leaders[0];
        const agree = statuses.filter((s) => s !== null && s.leader === leader.id).length;
        if (agree > ids.length / 2) return leader.id;
      }
      if (Date.now() > deadline) throw new Error(`no leader within ${timeoutMs} ms: ${JSON.stringify(statuses.map((s) => s && { id: s.id, role: s.role, term: s.term, leader: s.leader }))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Waits until every running node has applied at least `index`. */
  async waitForApplied(index: number, timeoutMs = 20_000, ids?: number[]): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const targets = (ids ?? this.nodes.map((n) => n.id)).filter((id) => this.isRunning(id));
      const statuses = await Promise.all(targets.map((id) => this.status(id)));
      if (statuses.every((s) => s !== null && s.appliedIndex >= index)) return;
      if (Date.now() > deadline) throw new Error(`not every node applied ${index} within ${timeoutMs} ms: ${JSON.stringify(statuses.map((s) => s && { id: s.id, applied: s.appliedIndex }))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The last log lines of a node, for a failing test's message. */
  tail(id: number, lines = 30): string {
    return this.node(id).logs.slice(-lines).join('\n');
  }
}
