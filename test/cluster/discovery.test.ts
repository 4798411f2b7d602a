/**
 * Service discovery across real processes: a 3-node cluster of `hikari-server` processes, service
 * instances in child processes on the BUILT SDK (fixtures/discovery-instance.js), killed with
 * SIGKILL or stopped with SIGSTOP; watchers, a cache with pickers, and the HTTP read API in this
 * process. Build first: `npx tsc -b`.
 *
 * One cluster for the file; every test uses a service of its own; the last one restarts a node. The only timing assertion is the
 * product's liveness promise (a crashed instance leaves every watcher's view within its session
 * timeout + 1 s), not a performance figure.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { HikariClient, PickStrategy, ServiceCache, ServicePicker, ServiceUpdate } from '@hikarikeeper/client';
import { startTestCluster, TestCluster } from './harness';

const INSTANCE = resolve(__dirname, 'fixtures', 'discovery-instance.js');
const TTL_MS = 2_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Line = Record<string, unknown>;

async function until(what: string | (() => string), cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(20);
  }
}

/** A service instance process (fixtures/discovery-instance.js) and what it said. */
class InstanceProcess {
  readonly lines: Line[] = [];
  private pending = '';

  private constructor(
    readonly id: string,
    readonly child: ChildProcess,
  ) {
    child.stdout!.on('data', (chunk: Buffer) => {
      this.pending += chunk.toString();
      let nl: number;
      while ((nl = this.pending.indexOf('\n')) >= 0) {
        this.lines.push(JSON.parse(this.pending.slice(0, nl)) as Line);
        this.pending = this.pending.slice(nl + 1);
      }
    });
    child.stdin!.on('error', () => undefined); // killed: nobody reads its stdin
  }

  static start(t: TestCluster, service: string, id: string, port: number): InstanceProcess {
    const args = [INSTANCE, t.cluster.endpoints.join(','), t.clusterId, service, id, String(port), String(TTL_MS)];
    return new InstanceProcess(id, spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] }));
  }

  /** The `registered` events so far. */
  get registrations(): Line[] {
    return this.lines.filter((l) => l.event === 'registered');
  }

  async waitFor(what: string, pred: (l: Line) => boolean, timeoutMs: number): Promise<Line> {
    let found: Line | undefined;
    await until(() => `${this.id}: ${what}; it said ${JSON.stringify(this.lines)}`, () => {
      found = this.lines.find(pred);
      return found !== undefined || this.lines.some((l) => l.event === 'fatal');
    }, timeoutMs);
    if (found === undefined) throw new Error(`${this.id} failed while waiting for ${what}: ${JSON.stringify(this.lines)}`);
    return found;
  }

  async destroy(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGCONT');
    this.child.kill('SIGKILL');
    await exited;
  }
}

/** A watch of `service`, remembering every list with the time it came. */
function follow(client: HikariClient, service: string): { updates: Array<ServiceUpdate & { at: number }>; close(): void; latest(): string[] } {
  const watch = client.discovery.watch(service, { debounceMs: 50 });
  const updates: Array<ServiceUpdate & { at: number }> = [];
  watch.on('update', (update) => updates.push({ ...update, at: Date.now() }));
  return {
    updates,
    close: () => watch.close(),
    latest: () => (updates.at(-1)?.instances ?? []).map((instance) => instance.id),
  };
}

describe('service discovery across real instance processes', () => {
  let t: TestCluster;
  const clients: HikariClient[] = [];
  const instances: InstanceProcess[] = [];

  async function connect(): Promise<HikariClient> {
    const client = await HikariClient.connect({ endpoints: t.cluster.endpoints, clusterId: t.clusterId, session: false });
    clients.push(client);
    return client;
  }

  function startInstance(service: string, id: string, port: number): InstanceProcess {
    const instance = InstanceProcess.start(t, service, id, port);
    instances.push(instance);
    return instance;
  }

  beforeAll(async () => {
    // Snapshots every 200 entries: the last test makes a follower catch up by one.
    t = await startTestCluster(3, ['--snapshot-every', '200']);
  });
  afterAll(async () => {
    await Promise.allSettled(instances.map((each) => each.destroy()));
    await Promise.allSettled(clients.map((client) => client.close()));
    await t.destroy();
  });

  test('kill -9 of one of 3 instances: every watcher drops it within its session timeout + 1 s; pick never returns it after; a blocking HTTP query wakes', async () => {
    const service = 'payments';
    const procs = ['p1', 'p2', 'p3'].map((id, i) => startInstance(service, id, 9001 + i));
    const registered = await Promise.all(procs.map((p) => p.waitFor('its registration', (l) => l.event === 'registered', 20_000)));
    const timeoutMs = registered[1]!.timeoutMs as number; // as the server granted it
    const [w1, w2] = [await connect(), await connect()];
    const watchers = [follow(w1, service), follow(w2, service)];
    const cache: ServiceCache = await w1.discovery.cache(service);
    await until('both watchers and the cache to list p1, p2, p3', () =>
      watchers.every((w) => w.latest().join() === 'p1,p2,p3') && cache.instances({ status: 'passing' }).length === 3, 10_000);
    expect(cache.instances().find((each) => each.id === 'p2')).toMatchObject({ address: '127.0.0.1:9002', metadata: { pid: procs[1]!.child.pid } });

    // Picks from the cache's passing instances, all strategies in turn, from before the kill on.
    const picker = new ServicePicker(() => cache.instances({ status: 'passing' }));
    const strategies: PickStrategy[] = ['round-robin', 'random', 'weighted', 'least-outstanding'];
    const picks: Array<{ id: string; at: number }> = [];
    let picking = true;
    const pickLoop = (async () => {
      for (let i = 0; picking; i++) {
        const picked = picker.pick({ strategy: strategies[i % strategies.length] });
        if (picked !== null) picks.push({ id: picked.instance.id, at: Date.now() });
        picked?.release();
        await sleep(2);
      }
    })();
    // When the cache dropped p2, in time and as a position in the pick list: picks and change events
    // run on the same thread, so every pick from that position on saw the cache without p2 (a time in
    // milliseconds cannot say that: a pick in the same millisecond may come just before the event).
    let cacheDroppedAt = 0;
    let picksBeforeDrop = -1;
    cache.on('change', (update) => {
      if (cacheDroppedAt === 0 && !update.instances.some((each) => each.id === 'p2')) {
        cacheDroppedAt = Date.now();
        picksBeforeDrop = picks.length;
      }
    });

    // A blocking query on a follower's admin port, from the current index.
    const leader = await t.cluster.waitForLeader();
    const admin = t.cluster.nodes.find((node) => node.id !== leader)!.admin;
    const current = await fetch(`http://${admin}/v1/services/${service}`);
    const index = Number(current.headers.get('x-hikari-index'));
    const blocking = fetch(`http://${admin}/v1/services/${service}?index=${index}&wait=60s`).then(async (res) => ({
      at: Date.now(),
      index: Number(res.headers.get('x-hikari-index')),
      body: (await res.json()) as { instances: Array<{ id: string }> },
    }));
    await sleep(300);

    procs[1]!.child.kill('SIGKILL');
    const killedAt = Date.now();
    await until(() => `the watchers to drop p2: ${watchers.map((w) => w.latest().join()).join(' | ')}`, () =>
      watchers.every((w) => w.latest().join() === 'p1,p3') && cacheDroppedAt > 0, timeoutMs + 10_000);
    for (const watcher of watchers) {
      const droppedAt = watcher.updates.find((update) => update.at >= killedAt && !update.instances.some((each) => each.id === 'p2'))!.at;
      // The liveness promise: the session expires within its timeout of the last keepalive (sent at
      // most timeout/3 before the kill); the deletion reaches watchers in the same log entry.
      expect(droppedAt - killedAt).toBeLessThanOrEqual(timeoutMs + 1_000);
    }
    expect(cacheDroppedAt - killedAt).toBeLessThanOrEqual(timeoutMs + 1_000);

    const woken = await blocking;
    expect(woken.index).toBeGreaterThan(index);
    expect(woken.body.instances.map((each) => each.id)).toEqual(['p1', 'p3']);

    await sleep(500); // picks go on after the drop
    picking = false;
    await pickLoop;
    const after = picks.slice(picksBeforeDrop);
    expect(after.length).toBeGreaterThan(50);
    expect(after.filter((pick) => pick.id === 'p2')).toEqual([]);
    expect(new Set(after.map((pick) => pick.id))).toEqual(new Set(['p1', 'p3']));
    expect(picks.some((pick) => pick.id === 'p2' && pick.at < killedAt)).toBe(true); // it was picked while alive
    expect((await w2.discovery.instances(service)).map((each) => each.id)).toEqual(['p1', 'p3']);
    expect(await w2.discovery.services()).toEqual(expect.arrayContaining([{ service, instances: 2 }]));
    for (const watcher of watchers) watcher.close();
    cache.close();
  });

  test('an instance restarted with the same id before its old session expired replaces the stale record, which stays after that expiry', async () => {
    const service = 'restarts';
    const first = startInstance(service, 'r1', 9101);
    const old = await first.waitFor('its registration', (l) => l.event === 'registered', 20_000);
    const client = await connect();
    const watcher = follow(client, service);
    await until('the watcher to list r1', () => watcher.latest().join() === 'r1', 10_000);

    first.child.kill('SIGKILL'); // its session lives on for up to its timeout
    const second = startInstance(service, 'r1', 9101);
    const fresh = await second.waitFor('its registration', (l) => l.event === 'registered', 20_000);
    expect(fresh.sessionId).not.toBe(old.sessionId);
    const [record] = await client.discovery.instances(service);
    expect(record).toMatchObject({ id: 'r1', sessionId: fresh.sessionId, metadata: { pid: second.child.pid } });

    await sleep((old.timeoutMs as number) + 1_500); // the old session has expired by now
    const [still] = await client.discovery.instances(service);
    expect(still).toMatchObject({ sessionId: fresh.sessionId, createdIndex: record!.createdIndex });
    expect(watcher.latest()).toEqual(['r1']);
    expect(watcher.updates.at(-1)!.instances[0]!.sessionId).toBe(fresh.sessionId);
    expect(second.registrations).toHaveLength(1); // nothing had to be registered again
    watcher.close();
  });

  test('an instance stopped past its session timeout drops out, and registers again by itself once it runs', async () => {
    const service = 'stopped';
    const proc = startInstance(service, 's1', 9201);
    const first = await proc.waitFor('its registration', (l) => l.event === 'registered', 20_000);
    const client = await connect();
    const watcher = follow(client, service);
    await until('the watcher to list s1', () => watcher.latest().join() === 's1', 10_000);

    proc.child.kill('SIGSTOP');
    await until('the watcher to drop s1', () => watcher.latest().length === 0, (first.timeoutMs as number) + 10_000);
    proc.child.kill('SIGCONT');
    const again = await proc.waitFor('its re-registration', (l) => l.event === 'registered' && l.reason === 'session-expired', 20_000);
    expect(again.sessionId).not.toBe(first.sessionId);
    expect(proc.lines.some((l) => l.event === 'expired' && l.sessionId === first.sessionId)).toBe(true);
    await until('the watcher to list s1 again', () => watcher.latest().join() === 's1', 10_000);
    expect(watcher.updates.at(-1)!.instances[0]!.sessionId).toBe(again.sessionId);
    watcher.close();
  });

  test('a blocking HTTP query with nothing changing answers after its wait, with the same index', async () => {
    const admin = t.cluster.nodes[0]!.admin;
    const current = await fetch(`http://${admin}/v1/services/quiet`);
    const index = Number(current.headers.get('x-hikari-index'));
    const started = Date.now();
    const res = await fetch(`http://${admin}/v1/services/quiet?index=${index}&wait=1s&stale`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(res.status).toBe(200);
    expect(Number(res.headers.get('x-hikari-index'))).toBe(index);
    expect(await res.json()).toEqual({ service: 'quiet', index, instances: [] });
  });

  test('a node that catches up by a snapshot serves the HTTP API, and its blocking queries wake on later changes', async () => {
    const client = await HikariClient.connect({ endpoints: t.cluster.endpoints, clusterId: t.clusterId });
    clients.push(client);
    const handle = await client.discovery.register({ service: 'snap', id: 'n1', host: '127.0.0.1', port: 9301 });
    const leader = await t.cluster.waitForLeader();
    const follower = t.cluster.nodes.find((node) => node.id !== leader)!;
    await t.cluster.kill(follower.id);
    for (let i = 0; i < 500; i++) await handle.update({ metadata: { round: i } });
    const status = await t.cluster.status(leader);
    expect(status!.firstIndex).toBeGreaterThan(status!.commitIndex - 500); // the follower's entries are compacted away

    t.cluster.start(follower.id);
    await t.cluster.waitForApplied(status!.commitIndex, 30_000, [follower.id]);
    if (!follower.logs.some((line) => line.includes('"snapshot installed"'))) {
      throw new Error(`node ${follower.id} installed no snapshot; its last lines:\n${t.cluster.tail(follower.id, 20)}`);
    }
    const base = `http://${follower.admin}/v1/services/snap`;
    const first = await fetch(`${base}?stale`);
    const index = Number(first.headers.get('x-hikari-index'));
    expect(((await first.json()) as { instances: Array<{ metadata: { round: number } }> }).instances[0]!.metadata.round).toBe(499);
    const blocking = fetch(`${base}?index=${index}&wait=30s&stale`);
    await sleep(200);
    await handle.update({ status: 'warning' });
    const woken = await blocking;
    expect(Number(woken.headers.get('x-hikari-index'))).toBeGreaterThan(index);
    expect(((await woken.json()) as { instances: Array<{ status: string }> }).instances[0]!.status).toBe('warning');
    await handle.deregister();
  });
});
