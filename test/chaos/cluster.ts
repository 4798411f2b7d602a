/**
 * The cluster under test: real `hikari-server` processes (ProcessCluster) on 127.0.0.1, each in a
 * *slot* with two link proxies in front of it (peer port and client port). The membership knows
 * every node by its slot's proxy addresses, so every peer link and every client link goes through
 * the FaultNet. A membership change replaces a slot's node by a fresh one (a new id: ids are never
 * reused) that keeps the slot's addresses, as a replaced machine keeps its IP.
 *
 * Every line a node prints goes to `<dir>/logs/node-<id>.log`.
 */
import { createWriteStream, existsSync, mkdirSync, rmSync, WriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { NodeStatus, ProcessCluster, ProcessNode } from '@hikarikeeper/server/dist/tools/process-cluster';
import { FaultNet, nodeName } from './net/fault-net';
import { LinkProxy } from './net/link-proxy';
import { sleep } from './time';

/** The built server: from test/chaos (Jest, on sources) or test/dist/chaos (the CLI, built). */
export const SERVER_SCRIPT = [resolve(__dirname, '..', '..', 'server', 'dist', 'main.js'), resolve(__dirname, '..', '..', '..', 'server', 'dist', 'main.js')]
  .find((p) => existsSync(p)) ?? resolve(__dirname, '..', '..', 'server', 'dist', 'main.js');

export interface Slot {
  readonly index: number;
  nodeId: number;
  readonly peer: LinkProxy;
  readonly client: LinkProxy;
}

export interface ChaosClusterOptions {
  size: 3 | 5;
  dir: string;
  clusterId: string;
  net: FaultNet;
  snapshotEvery: number;
  /** --client-retention-ms of the servers; null: their default. */
  clientRetentionMs: number | null;
  /** HIKARI_FAILPOINTS of every node: '' (on, none armed) unless an unsafe run arms one for good. */
  failpoints: string;
}

/** Admin HTTP answer. */
export interface AdminAnswer {
  status: number;
  json: Record<string, unknown>;
}

export class ChaosCluster {
  readonly slots: Slot[] = [];
  private readonly logs = new Map<number, WriteStream>();
  private processes!: ProcessCluster;

  private constructor(private readonly opts: ChaosClusterOptions) {}

  static async start(opts: ChaosClusterOptions): Promise<ChaosCluster> {
    const c = new ChaosCluster(opts);
    mkdirSync(join(opts.dir, 'logs'), { recursive: true });
    for (let i = 0; i < opts.size; i++) {
      const slot: Slot = {
        index: i, nodeId: i + 1,
        peer: new LinkProxy('peer', opts.net, () => c.target(slot, 'peer')),
        client: new LinkProxy('client', opts.net, () => c.target(slot, 'client')),
      };
      await slot.peer.listen();
      await slot.client.listen();
      c.slots.push(slot);
    }
    c.processes = await ProcessCluster.create({
      size: opts.size, baseDir: join(opts.dir, 'data'), clusterId: opts.clusterId, serverScript: SERVER_SCRIPT,
      extraArgs: ['--snapshot-every', String(opts.snapshotEvery), ...(opts.clientRetentionMs === null ? [] : ['--client-retention-ms', String(opts.clientRetentionMs)])],
      // Failpoints on (the admin port then takes PUT /failpoints/<name>), none armed unless unsafe.
      env: { HIKARI_FAILPOINTS: opts.failpoints },
      advertise: (node) => {
        const slot = c.slotOf(node.id);
        return { peer: slot.peer.address, client: slot.client.address };
      },
      onLine: (node, line) => c.log(node.id, line),
    });
    c.processes.startAll();
    try {
      await c.processes.waitForLeader(60_000);
    } catch (e) {
      await c.destroy();
      throw e;
    }
    return c;
  }

  /** The client addresses (proxies) of every slot: what workload clients are given. */
  get endpoints(): string[] {
    return this.slots.map((s) => s.client.address);
  }

  /** Ids of the nodes in the slots now. */
  get members(): number[] {
    return this.slots.map((s) => s.nodeId);
  }

  /** FaultNet names of the nodes in the slots now. */
  get memberNames(): string[] {
    return this.members.map(nodeName);
  }

  get clusterId(): string {
    return this.opts.clusterId;
  }

  slotOf(id: number): Slot {
    const slot = this.slots.find((s) => s.nodeId === id);
    if (slot === undefined) throw new Error(`node ${id} is in no slot`);
    return slot;
  }

  node(id: number): ProcessNode {
    return this.processes.node(id);
  }

  isRunning(id: number): boolean {
    return this.processes.isRunning(id);
  }

  status(id: number, timeoutMs = 2000): Promise<NodeStatus | null> {
    return this.processes.status(id, timeoutMs);
  }

  /** The leader the running members agree on, within `timeoutMs` (throws otherwise). */
  leader(timeoutMs = 30_000): Promise<number> {
    return this.processes.waitForLeader(timeoutMs, this.members);
  }

  /** The leader if one is agreed on now, else null. */
  async leaderNow(): Promise<number | null> {
    try {
      return await this.processes.waitForLeader(1, this.members);
    } catch {
      return null;
    }
  }

  async kill(id: number): Promise<void> {
    this.processes.signal(id, 'SIGCONT');
    await this.processes.kill(id, 'SIGKILL');
  }

  pause(id: number): void {
    this.processes.signal(id, 'SIGSTOP');
  }

  resume(id: number): void {
    this.processes.signal(id, 'SIGCONT');
  }

  /** Starts a node that is down (with its data). */
  restart(id: number): void {
    this.log(id, JSON.stringify({ harness: 'restart' }));
    this.processes.start(id);
  }

  /** Starts node `id` again and waits until its admin port answers (throws past `timeoutMs`). */
  async restartAndWait(id: number, timeoutMs = 60_000): Promise<void> {
    this.restart(id);
    const deadline = performance.now() + timeoutMs;
    while ((await this.status(id, 1000)) === null) {
      if (!this.isRunning(id)) throw new Error(`node ${id} exited while starting: ${this.tail(id, 5)}`);
      if (performance.now() > deadline) throw new Error(`node ${id} did not answer on its admin port within ${timeoutMs} ms of its restart`);
      await sleep(100);
    }
  }

  /** Waits for node `id`'s process to exit; false if it still runs after `timeoutMs`. */
  async waitExit(id: number, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (this.isRunning(id)) {
      if (performance.now() > deadline) return false;
      await sleep(50);
    }
    return true;
  }

  /** An admin request to node `id`. */
  async admin(id: number, method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<AdminAnswer> {
    const res = await fetch(`http://${this.node(id).admin}${path}`, {
      method, signal: AbortSignal.timeout(timeoutMs),
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      headers: { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' },
    });
    return { status: res.status, json: (await res.json().catch(() => ({}))) as Record<string, unknown> };
  }

  /**
   * A membership change on the leader, retried (new leader, a change still pending, a timeout)
   * until it is answered 200 or `timeoutMs` passes.
   */
  async changeMembers(method: 'POST' | 'DELETE', path: string, body: unknown, timeoutMs: number): Promise<AdminAnswer> {
    const deadline = performance.now() + timeoutMs;
    let last: unknown = null;
    while (performance.now() < deadline) {
      try {
        const leader = await this.leader(Math.max(1, deadline - performance.now()));
        const answer = await this.admin(leader, method, path, body);
        if (answer.status === 200) return answer;
        last = answer;
      } catch (e) {
        last = e instanceof Error ? e.message : e;
      }
      await sleep(300);
    }
    throw new Error(`${method} ${path} did not succeed within ${timeoutMs} ms: ${JSON.stringify(last)}`);
  }

  /**
   * Replaces the node of `slot` by a fresh one: removes it from the membership, kills it and wipes
   * its data, then adds a new node (new id, the slot's addresses) as a learner, starts it with
   * --join, waits until it has caught up and promotes it. Returns the new id.
   */
  async replace(slot: Slot, timeoutMs: number): Promise<{ removed: number; added: number }> {
    const old = slot.nodeId;
    const deadline = performance.now() + timeoutMs;
    const left = () => Math.max(1000, deadline - performance.now());
    await this.changeMembers('DELETE', `/members/${old}`, undefined, left());
    await this.kill(old);
    this.endLog(old);
    rmSync(this.node(old).dataDir, { recursive: true, force: true });
    this.processes.forget(old);
    const fresh = await this.processes.addNodeDefinition();
    slot.nodeId = fresh.id;
    await this.changeMembers('POST', '/members', { id: fresh.id, peer: slot.peer.address, client: slot.client.address }, left());
    this.processes.start(fresh.id, true);
    for (;;) {
      const leader = await this.leader(left());
      const target = (await this.status(leader))?.commitIndex ?? Infinity;
      const mine = (await this.status(fresh.id))?.appliedIndex ?? 0;
      if (mine >= target) break;
      if (performance.now() > deadline) throw new Error(`node ${fresh.id} did not catch up within ${timeoutMs} ms (applied ${mine} of ${target})`);
      await sleep(200);
    }
    await this.changeMembers('POST', '/members', { id: fresh.id, promote: true }, left());
    return { removed: old, added: fresh.id };
  }

  /** Arms failpoint `name` on node `id` with `term` (see server/src/failpoints.ts). */
  async failpoint(id: number, name: string, term: string): Promise<void> {
    const answer = await this.admin(id, 'PUT', `/failpoints/${name}`, term);
    if (answer.status !== 200) throw new Error(`failpoint ${name}=${term} on node ${id}: ${answer.status} ${JSON.stringify(answer.json)}`);
  }

  /** Appends a line to node `id`'s log file. */
  log(id: number, line: string): void {
    let stream = this.logs.get(id);
    if (stream === undefined) {
      stream = createWriteStream(join(this.opts.dir, 'logs', `node-${id}.log`), { flags: 'a' });
      this.logs.set(id, stream);
    }
    stream.write(`${line}\n`);
  }

  /** The last lines node `id` printed (kept in memory, bounded). */
  tail(id: number, lines = 40): string {
    return this.processes.tail(id, lines);
  }

  /** Kills every process, closes the proxies and the log files. */
  async destroy(): Promise<void> {
    for (const n of [...this.processes.nodes]) await this.kill(n.id);
    for (const s of this.slots) {
      await s.peer.close();
      await s.client.close();
    }
    await Promise.all([...this.logs.keys()].map((id) => this.endLog(id)));
  }

  private endLog(id: number): Promise<void> {
    const stream = this.logs.get(id);
    this.logs.delete(id);
    return stream === undefined ? Promise.resolve() : new Promise((r) => stream.end(() => r()));
  }

  private target(slot: Slot, kind: 'peer' | 'client'): { id: number; address: string } | null {
    try {
      const n = this.processes.node(slot.nodeId);
      return { id: n.id, address: kind === 'peer' ? n.peer : n.client };
    } catch {
      return null;
    }
  }
}
