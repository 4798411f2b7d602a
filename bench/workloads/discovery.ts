/**
 * `npm run bench -- discovery [--instances 10000] [--services 100] [--watchers 100] [--kills 30]
 * [--session-timeout 2000] [--clients 64] [--seconds 10]`: service discovery at scale, on a cluster of
 * real server processes (issue 6, "Performance").
 *
 * 1. Registry. N instances across S services (`svc-000` ...), each an ephemeral record
 *    `/services/<service>/<id>` (the SDK's record format) owned by a session of its own, as
 *    `client.discovery.register` leaves it. So that one process can hold 10,000 of them, they are
 *    detached sessions (10 s timeout, the SDK's default) opened over raw protocol connections to the
 *    leader, 100 per connection, each connection renewing its 100 with one `session.keepalive
 *    { sessionIds }` every 10/3 s; the records are written by a pool of other connections, each
 *    binding a session (`session.resume`) and creating its record, one after the other. These
 *    instances stay alive for the whole run.
 * 2. Watchers. W SDK clients (no session; each connected to a node of its choosing), each with a
 *    `ServiceCache` of each of WATCHED_SERVICES services spread over the S: W x 4 caches, each one
 *    recursive watch plus reads. An instance "dropped" means: no longer in a watcher's cache.
 * 3. kill -9. K real instances: child processes (lib/discovery-instance.js), each an SDK client with
 *    a session of `--session-timeout` (2 s by default) registering one instance of a watched service.
 *    Once every watcher lists all of them, they are killed with SIGKILL one at a time (250-750 ms
 *    apart, so kills fall at random points of their keepalive cycles), and each is timed from its kill
 *    until every watcher's cache has dropped it, split at the moment its record's deletion is seen
 *    (a raw recursive watch of /services). The session timeout bounds the first part.
 * 4. Session close and deregister. K SDK clients in this process register one instance each; every
 *    watcher sees them; each client is closed (`client.close()`, which ends its session and with it
 *    the record) in turn, timed from the call until every watcher dropped it. Then K instances of
 *    one client are deregistered (`handle.deregister()`) in turn, timed the same way.
 * 5. Queries. C clients (`--clients`, no session), one call at a time, each of a random service:
 *    `discovery.instances(service)` (linearizable), with `{ stale: true }`, and the admin HTTP API's
 *    `GET /v1/services/<service>` (linearizable; spread over every node), a warm-up then a measured
 *    interval each. Every answer must list exactly that service's instances.
 *
 * Checks, any failure of which fails the run: every killed, closed or deregistered instance is
 * dropped by every watcher (within 2 x timeout + 5 s); no watcher ever drops an instance that is
 * alive, and none lists again one it dropped; the background sessions never expire; at the end every
 * cache, a linearizable `instances()` of every service and `services()` list exactly the live
 * instances; every query answer has the right instance count.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  HikariClient,
  InstanceHandle,
  InstanceRecord,
  instancePath,
  RECORD_FORMAT,
  ServiceCache,
  servicePath,
  SERVICES_ROOT,
  ServiceUpdate,
} from '@hikarikeeper/client';
import { decodeEnvelope, encodeEnvelope, Envelope, FrameDecoder } from '@hikarikeeper/protocol';
import { formatCpu, phaseRecord, PhaseResult, PHASE_COLUMNS, runClosedLoop } from '../lib/closed-loop';
import { BenchCluster, withCluster } from '../lib/cluster';
import { CpuMeter, OTHER_LABEL, SELF_LABEL } from '../lib/cpu';
import { LatencyRecorder, LatencySummary } from '../lib/latency';
import { Column, formatCount, formatMs, makeTable } from '../lib/report';
import { BenchOptions, Workload, WorkloadContext, WorkloadResult } from '../lib/workload';

/** Session timeout of the long-lived instances (the SDK's default). */
export const BACKGROUND_SESSION_TIMEOUT_MS = 10_000;
/** Detached sessions (one per long-lived instance) per raw connection. */
export const SESSIONS_PER_CONNECTION = 100;
/** Connections writing the records (each binds a session, writes its record, and goes on to the next). */
const REGISTRATION_WRITERS = 400;
/** Connections opening their sessions at once (each opens SESSIONS_PER_CONNECTION at once). */
const CONNECTIONS_AT_ONCE = 5;
/** Services every watcher caches (spread evenly over the services); the killed / closed instances are in these. */
export const WATCHED_SERVICES = 4;
/** Instance processes alive at once: they are started, then killed one by one, then the next batch. */
const KILL_BATCH_MAX = 50;
/** Instance processes starting at once. */
const SPAWN_AT_ONCE = 10;
/** Pause before each kill: uniform in [min, min + jitter] ms. */
const KILL_SPACING_MS = { min: 250, jitter: 500 } as const;
/** Pause before each close / deregister. */
const CLOSE_SPACING_MS = { min: 150, jitter: 250 } as const;
/** Longest wait for every watcher to list a new instance. */
const APPEAR_WAIT_MS = 30_000;
/** Longest wait for an instance process to register. */
const SPAWN_WAIT_MS = 60_000;
/** Clients connecting at once. */
const CONNECT_AT_ONCE = 20;
/** How the SDK reads a listing's instances (discovery/reads.ts READ_CONCURRENCY), for the notes. */
const READ_CONCURRENCY_NOTE = '32 at a time';
/** Problems kept in a report. */
const KEPT_MAX = 20;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const spaced = (s: { min: number; jitter: number }) => sleep(s.min + Math.random() * s.jitter);
const msSince = (t: bigint, now = process.hrtime.bigint()) => Number(now - t) / 1e6;

// ---------------------------------------------------------------- raw protocol connection

/** A minimal protocol connection (as in sessions.ts): requests by id; a dropped connection fails what waits. */
class RawConn {
  private readonly decoder = new FrameDecoder();
  private readonly waiting = new Map<number, (e: Envelope) => void>();
  private nextId = 1;
  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk) => {
      for (const body of this.decoder.push(chunk)) {
        const e = decodeEnvelope(body);
        if (e.t === 2 || e.t === 3) {
          this.waiting.get(e.id)?.(e);
          this.waiting.delete(e.id);
        }
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      for (const resolve of this.waiting.values()) resolve({ t: 3, id: 0, e: { code: 'CONNECTION_LOSS', message: 'the server closed the connection' } });
      this.waiting.clear();
    });
  }

  static async open(address: string): Promise<RawConn> {
    const [host, port] = address.split(':');
    const conn = await new Promise<RawConn>((resolve, reject) => {
      const s = connect(Number(port), host, () => resolve(new RawConn(s)));
      s.once('error', reject);
    });
    await conn.ok('hello', { protocol: 1 });
    return conn;
  }

  call(op: string, a: Record<string, unknown>): Promise<Envelope> {
    return new Promise((resolve) => {
      const id = this.nextId++;
      this.waiting.set(id, resolve);
      this.socket.write(encodeEnvelope({ t: 1, id, op, a }));
    });
  }

  /** The result, or throws with the error's code. */
  async ok(op: string, a: Record<string, unknown>): Promise<Record<string, unknown>> {
    const r = await this.call(op, a);
    if (r.t === 2) return (r.r ?? {}) as Record<string, unknown>;
    const code = r.t === 3 ? r.e.code : 'UNEXPECTED';
    throw Object.assign(new Error(`${op} failed: ${r.t === 3 ? `${r.e.code} ${r.e.message}` : JSON.stringify(r)}`), { code });
  }
}

// ---------------------------------------------------------------- what the watchers see

/** A wait until every watcher lists (or no longer lists) one instance. */
interface Wait {
  readonly service: string;
  readonly id: string;
  readonly present: boolean;
  /** Watchers not there yet. */
  readonly left: Set<number>;
  /** When each watcher got there (hrtime ns; 0n: not yet). */
  readonly at: bigint[];
  /** Resolves with the moment the last watcher got there. */
  readonly done: Promise<bigint>;
  resolve(at: bigint): void;
}

/**
 * Every watcher's view of the watched services, from its caches' `change` events; checks that no
 * instance disappears unless it was meant to (`departing`) and that none comes back once dropped.
 */
class Fleet {
  private readonly views: Array<Map<string, Set<string>>>;
  private readonly waits = new Set<Wait>();
  /** `service/id` of instances that may disappear (killed, closed, deregistered). */
  readonly departing = new Set<string>();
  /** `service/id` of instances every watcher dropped: they must not come back. */
  readonly gone = new Set<string>();
  readonly violations: string[] = [];
  violationCount = 0;
  changes = 0;

  constructor(readonly watchers: number) {
    this.views = Array.from({ length: watchers }, () => new Map<string, Set<string>>());
  }

  attach(w: number, cache: ServiceCache): void {
    this.views[w]!.set(cache.service, new Set(cache.instances().map((i) => i.id)));
    cache.on('change', (update) => this.changed(w, update));
  }

  /** The ids watcher `w` lists for `service`. */
  view(w: number, service: string): ReadonlySet<string> {
    return this.views[w]!.get(service) ?? new Set();
  }

  private violation(text: string): void {
    this.violationCount++;
    if (this.violations.length < KEPT_MAX) this.violations.push(text);
  }

  private changed(w: number, update: ServiceUpdate): void {
    const now = process.hrtime.bigint();
    this.changes++;
    const ids = new Set(update.instances.map((i) => i.id));
    const before = this.views[w]!.get(update.service) ?? new Set<string>();
    for (const id of before) {
      if (!ids.has(id) && !this.departing.has(`${update.service}/${id}`)) this.violation(`watcher ${w} dropped ${update.service}/${id}, which is alive (index ${update.index})`);
    }
    for (const id of ids) {
      if (!before.has(id) && this.gone.has(`${update.service}/${id}`)) this.violation(`watcher ${w} lists ${update.service}/${id} again after dropping it (index ${update.index})`);
    }
    this.views[w]!.set(update.service, ids);
    for (const wait of this.waits) if (wait.service === update.service) this.check(wait, w, ids, now);
  }

  private check(wait: Wait, w: number, ids: ReadonlySet<string>, now: bigint): void {
    if (!wait.left.has(w) || ids.has(wait.id) !== wait.present) return;
    wait.left.delete(w);
    wait.at[w] = now;
    if (wait.left.size === 0) {
      this.waits.delete(wait);
      wait.resolve(now);
    }
  }

  /** A wait until every watcher lists `id` (present) or no longer lists it; already true for some of them, maybe. */
  waitFor(service: string, id: string, present: boolean): Wait {
    let resolve!: (at: bigint) => void;
    const done = new Promise<bigint>((r) => (resolve = r));
    const wait: Wait = { service, id, present, left: new Set(Array.from({ length: this.watchers }, (_, w) => w)), at: new Array<bigint>(this.watchers).fill(0n), done, resolve };
    this.waits.add(wait);
    const now = process.hrtime.bigint();
    for (let w = 0; w < this.watchers; w++) this.check(wait, w, this.view(w, service), now);
    return wait;
  }

  /** Stops waiting (a timeout). */
  abandon(wait: Wait): void {
    this.waits.delete(wait);
  }
}

/** `wait.done`, or null after `ms`. */
async function within(wait: Wait, ms: number): Promise<bigint | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((r) => (timer = setTimeout(() => r(null), ms)));
  try {
    return await Promise.race([wait.done, late]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------- instance processes

/** The instance processes this run started: killed (SIGKILL, by pid) if the benchmark exits first. */
const children = new Set<ChildProcess>();
const killChildren = (): void => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
};

interface InstanceProcess {
  readonly child: ChildProcess;
  readonly service: string;
  readonly id: string;
  readonly sessionId: string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
}

function instanceScript(): string {
  const script = join(__dirname, '..', 'lib', 'discovery-instance.js');
  if (!existsSync(script)) throw new Error(`${script} is missing: build the bench first (npx tsc -b)`);
  return script;
}

/** Starts an instance process and resolves once it has registered. */
function spawnInstance(cluster: BenchCluster, service: string, id: string, port: number, timeoutMs: number): Promise<InstanceProcess> {
  const child = spawn(process.execPath, [instanceScript(), cluster.endpoints.join(','), cluster.clusterId, service, id, String(port), String(timeoutMs)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  const exited = new Promise<void>((r) => child.once('exit', () => {
    children.delete(child);
    r();
  }));
  const stderr: string[] = [];
  child.stderr?.on('data', (c: Buffer) => stderr.push(c.toString('utf8')));
  return new Promise<InstanceProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`instance process ${service}/${id} did not register within ${SPAWN_WAIT_MS} ms`));
    }, SPAWN_WAIT_MS);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let said: { event?: string; sessionId?: string; code?: string; message?: string };
      try {
        said = JSON.parse(line) as typeof said;
      } catch {
        return;
      }
      if (said.event === 'registered' && typeof said.sessionId === 'string') {
        clearTimeout(timer);
        resolve({ child, service, id, sessionId: said.sessionId, exited });
      } else if (said.event === 'fatal') {
        clearTimeout(timer);
        reject(new Error(`instance process ${service}/${id} failed: ${said.code} ${said.message}`));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`instance process ${service}/${id} exited (code ${code}, signal ${signal}) before registering\n${stderr.join('').slice(-2000)}`));
    });
  });
}

/** `fn` over `items`, `limit` at a time, results in order. */
async function inBatches<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>, onDone?: (done: number) => void): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
      onDone?.(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

// ---------------------------------------------------------------- the run

/** `svc-000`, `svc-001`, ... (at least 3 digits). */
export function serviceName(i: number, services: number): string {
  return `svc-${String(i).padStart(Math.max(3, String(services - 1).length), '0')}`;
}

/** The long-lived instance n's record (as the SDK writes it). */
function backgroundRecord(service: string, id: string, n: number): InstanceRecord {
  return {
    v: RECORD_FORMAT, service, id, host: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`, port: 8080, protocol: 'http',
    tags: ['bench', `zone-${n % 3}`], metadata: { version: '1.0.0' }, weight: 1, status: 'passing', registeredAt: Date.now(),
  };
}

async function metric(admin: string, name: string): Promise<number> {
  const text = await (await fetch(`http://${admin}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ').pop()) : NaN;
}

/** One row of the drop-latency table. */
interface DropRow {
  event: string;
  latency: LatencySummary;
  /** Of those, how many took longer than the session timeout + 1 s (kills only). */
  overTtl?: number;
}

/** One row of the query table. */
interface QueryRow extends PhaseResult {
  /** Server requests per call (SDK: one `children` with data per page of up to 1,000 instances; HTTP: 1). */
  requestsPerCall: number;
}

interface Group {
  conn: RawConn;
  readonly ids: string[];
}

interface Registry {
  /** Live ids by service (what every reader must list). */
  expected: Map<string, Set<string>>;
  /** Opening the sessions, then writing the records. */
  openSeconds: number;
  writeSeconds: number;
}

async function leaderClientAddress(cluster: BenchCluster): Promise<string> {
  return cluster.processes.node(await cluster.leader()).client;
}

/**
 * Opens the detached sessions, SESSIONS_PER_CONNECTION per connection (`keeper` renews each group from
 * the moment it is open), then writes their records through REGISTRATION_WRITERS other connections,
 * each binding a session (`session.resume`) and creating its record, one session after the other.
 */
async function registerBackground(ctx: WorkloadContext, cluster: BenchCluster, services: readonly string[], keeper: BackgroundKeeper): Promise<Registry> {
  const { instances } = ctx.options;
  const report = throttled(ctx);
  const expected = new Map<string, Set<string>>(services.map((s) => [s, new Set<string>()]));
  const setup = await RawConn.open(await leaderClientAddress(cluster));
  const parent = async (path: string) => {
    const r = await setup.call('create', { path, data: Buffer.alloc(0), mode: 'persistent' });
    if (r.t === 3 && r.e.code !== 'NODE_EXISTS') throw new Error(`create ${path} failed: ${r.e.code} ${r.e.message}`);
  };
  await parent(SERVICES_ROOT);
  await Promise.all(services.map((s) => parent(servicePath(s))));
  setup.socket.destroy();

  const started = Date.now();
  let opened = 0;
  const groupCount = Math.ceil(instances / SESSIONS_PER_CONNECTION);
  const groups = await inBatches(Array.from({ length: groupCount }, (_, g) => g), CONNECTIONS_AT_ONCE, async (g) => {
    const conn = await RawConn.open(await leaderClientAddress(cluster));
    const count = Math.min(SESSIONS_PER_CONNECTION, instances - g * SESSIONS_PER_CONNECTION);
    const ids = await Promise.all(Array.from({ length: count }, async () => {
      const id = String((await conn.ok('session.open', { timeoutMs: BACKGROUND_SESSION_TIMEOUT_MS, attach: false })).sessionId);
      opened++;
      return id;
    }));
    const group: Group = { conn, ids };
    keeper.add(group);
    report(`opening sessions: ${formatCount(opened)} / ${formatCount(instances)}`);
    return group;
  });
  const openSeconds = (Date.now() - started) / 1000;
  const writesStarted = Date.now();
  // Binding a session takes a read barrier: each writer binds and writes one session's record at a time.
  const jobs = groups.flatMap((group, g) => group.ids.map((sessionId, k) => ({ sessionId, n: g * SESSIONS_PER_CONNECTION + k })));
  let registered = 0;
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(REGISTRATION_WRITERS, jobs.length) }, async () => {
    const writer = await RawConn.open(await leaderClientAddress(cluster));
    try {
      while (next < jobs.length) {
        const { sessionId, n } = jobs[next++]!;
        const service = services[n % services.length]!;
        const id = `i-${n}`;
        await writer.ok('session.resume', { sessionId });
        await writer.ok('create', { path: instancePath(service, id), data: Buffer.from(JSON.stringify(backgroundRecord(service, id, n))), mode: 'ephemeral' });
        expected.get(service)!.add(id);
        registered++;
        report(`registering instances: ${formatCount(registered)} / ${formatCount(instances)}`);
      }
    } finally {
      writer.socket.destroy(); // the sessions are detached: they live on
    }
  }));
  return { expected, openSeconds, writeSeconds: (Date.now() - writesStarted) / 1000 };
}

/** Keeps the background sessions alive (every timeout/3, jittered), following the leader; counts what it sees. */
class BackgroundKeeper {
  readonly latency = new LatencyRecorder();
  readonly groups: Group[] = [];
  expired = 0;
  failures = 0;
  renewals = 0;
  private running = true;
  private wake!: () => void;
  private readonly stopped = new Promise<void>((r) => (this.wake = r));

  constructor(private readonly cluster: BenchCluster) {}

  /** Renews `g`'s sessions from now on. */
  add(g: Group): void {
    this.groups.push(g);
    void this.loop(g);
  }

  private pause(ms: number): Promise<void> {
    return Promise.race([sleep(ms), this.stopped]);
  }

  private async loop(g: Group): Promise<void> {
    const period = BACKGROUND_SESSION_TIMEOUT_MS / 3;
    await this.pause(Math.random() * period);
    while (this.running) {
      const started = process.hrtime.bigint();
      const r = await g.conn.call('session.keepalive', { sessionIds: g.ids });
      if (!this.running) return;
      if (r.t === 2) {
        this.latency.recordSince(started);
        const gone = (r.r as { expired?: string[] }).expired ?? [];
        this.expired += gone.length;
        this.renewals += g.ids.length - gone.length;
        await this.pause(period);
        continue;
      }
      // NOT_LEADER, a lost connection: go to the leader (the sessions live on: they are detached).
      this.failures++;
      g.conn.socket.destroy();
      for (;;) {
        if (!this.running) return;
        try {
          g.conn = await RawConn.open(await leaderClientAddress(this.cluster));
          if (!this.running) g.conn.socket.destroy();
          break;
        } catch {
          await this.pause(200);
        }
      }
    }
  }

  /** Stops renewing and closes the connections (the sessions expire by themselves, with the cluster). Idempotent. */
  stop(): void {
    this.running = false;
    this.wake();
    for (const g of this.groups) g.conn.socket.destroy();
  }
}

/** Progress updates at most every 250 ms (each is a line of its own when the output is not a terminal). */
function throttled(ctx: WorkloadContext): (line: string) => void {
  let last = 0;
  return (line) => {
    const now = Date.now();
    if (now - last < 250) return;
    last = now;
    ctx.progress.update(line);
  };
}

async function connectClients(cluster: BenchCluster, count: number, progress: (done: number) => void): Promise<HikariClient[]> {
  return inBatches(Array.from({ length: count }, (_, i) => i), CONNECT_AT_ONCE, () => HikariClient.connect({ endpoints: cluster.endpoints, clusterId: cluster.clusterId, session: false }), progress);
}

function perNode(cluster: BenchCluster, clients: readonly HikariClient[], leader: number): string {
  const counts = new Map<string, number>();
  for (const c of clients) {
    const id = c.endpoint === null ? null : cluster.nodeOf(c.endpoint);
    const label = id === null ? 'reconnecting' : `n${id}${id === leader ? ' (leader)' : ''}`;
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  return [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([l, n]) => `${l} ${n}`).join(', ');
}

/** Per-departure measurements of one kind (kill, close, deregister). */
class Departures {
  readonly all = new LatencyRecorder();
  readonly each = new LatencyRecorder();
  readonly toDeleted = new LatencyRecorder();
  readonly deletedToAll = new LatencyRecorder();
  readonly call = new LatencyRecorder();
  overTtl = 0;
  readonly timedOut: string[] = [];
}

async function runWorkload(ctx: WorkloadContext, cluster: BenchCluster): Promise<WorkloadResult> {
  const { options, progress } = ctx;
  const timeoutMs = options.sessionTimeoutMs;
  const dropWaitMs = 2 * timeoutMs + 5_000;
  const services = Array.from({ length: options.services }, (_, i) => serviceName(i, options.services));
  const watchedCount = Math.min(WATCHED_SERVICES, services.length);
  const watched = Array.from({ length: watchedCount }, (_, k) => services[Math.floor((k * services.length) / watchedCount)]!);
  const failures: string[] = [];
  const clientsToClose: HikariClient[] = [];
  const report = throttled(ctx);

  // Sessions are opened on the leader: wait until the first election has settled.
  let leaderId = await cluster.leader();
  for (let stable = 0; stable < 3;) {
    await sleep(500);
    const now = await cluster.leader();
    stable = now === leaderId ? stable + 1 : 0;
    leaderId = now;
  }
  const leaderAtStart = leaderId;
  const admin = cluster.processes.node(leaderAtStart).admin;
  const heapBefore = await metric(admin, 'nodejs_heap_size_used_bytes');
  const rssBefore = await metric(admin, 'process_resident_memory_bytes');

  // 1. The registry.
  const keeper = new BackgroundKeeper(cluster);
  let registry: Registry;
  try {
    registry = await registerBackground(ctx, cluster, services, keeper);
  } catch (e) {
    keeper.stop();
    throw e;
  }
  const registrySeconds = registry.openSeconds + registry.writeSeconds;
  progress.print(`registered ${formatCount(options.instances)} instances, one detached session each, in ${registrySeconds.toFixed(1)} s (sessions opened in ${registry.openSeconds.toFixed(1)} s, records written in ${registry.writeSeconds.toFixed(1)} s)`);
  try {
    const heapAt = await metric(admin, 'nodejs_heap_size_used_bytes');
    const rssAt = await metric(admin, 'process_resident_memory_bytes');

    // 2. The watchers.
    const cachesStarted = Date.now();
    const fleet = new Fleet(options.watchers);
    const watchers = await connectClients(cluster, options.watchers, (n) => report(`connecting watchers: ${n} / ${options.watchers}`));
    clientsToClose.push(...watchers);
    let cachesOpen = 0;
    const cacheJobs = watchers.flatMap((client, w) => watched.map((service) => ({ client, w, service })));
    await inBatches(cacheJobs, CONNECT_AT_ONCE, async ({ client, w, service }) => {
      const cache = await client.discovery.cache(service, { waitMs: 120_000 });
      fleet.attach(w, cache);
      cachesOpen++;
    }, () => report(`opening caches: ${cachesOpen} / ${cacheJobs.length}`));
    const cachesSeconds = (Date.now() - cachesStarted) / 1000;
    for (let w = 0; w < watchers.length; w++) {
      for (const service of watched) {
        const listed = fleet.view(w, service).size;
        const want = registry.expected.get(service)!.size;
        if (listed !== want) failures.push(`watcher ${w} lists ${listed} instances of ${service} at first, not ${want}`);
      }
    }
    progress.print(`${formatCount(cacheJobs.length)} caches open (${options.watchers} watchers x ${watchedCount} services) in ${cachesSeconds.toFixed(1)} s; watchers per node: ${perNode(cluster, watchers, leaderAtStart)}`);

    // The moment each record's deletion is seen (a raw recursive watch; the first node to tell).
    const observer = await HikariClient.connect({ endpoints: cluster.endpoints, clusterId: cluster.clusterId, session: false });
    clientsToClose.push(observer);
    const deletedAt = new Map<string, bigint>();
    const rawWatch = observer.watch(SERVICES_ROOT, { kind: 'recursive' });
    rawWatch.on('event', (e) => {
      if (e.type === 'deleted' && !deletedAt.has(e.path)) deletedAt.set(e.path, process.hrtime.bigint());
    });
    await rawWatch.ready;

    /** Times one departure: `act` makes it happen; resolves when every watcher dropped it (or timed out). */
    const depart = async (d: Departures, service: string, id: string, act: () => Promise<void> | void): Promise<void> => {
      const key = `${service}/${id}`;
      fleet.departing.add(key);
      const wait = fleet.waitFor(service, id, false);
      const t0 = process.hrtime.bigint();
      const acted = Promise.resolve(act()).then(() => d.call.record(Number(process.hrtime.bigint() - t0)));
      const at = await within(wait, dropWaitMs);
      await acted;
      if (at === null) {
        fleet.abandon(wait);
        d.timedOut.push(`${key}: still listed by ${wait.left.size} of ${options.watchers} watchers ${dropWaitMs} ms after it left`);
        return;
      }
      fleet.gone.add(key);
      registry.expected.get(service)?.delete(id);
      d.all.record(Number(at - t0));
      if (msSince(t0, at) > timeoutMs + 1000) d.overTtl++;
      for (const each of wait.at) d.each.record(Number(each - t0));
      const deleted = deletedAt.get(instancePath(service, id));
      if (deleted !== undefined) {
        d.toDeleted.record(Number(deleted - t0));
        d.deletedToAll.record(Number(at > deleted ? at - deleted : 0n));
      }
    };

    const appear = async (service: string, id: string): Promise<void> => {
      const wait = fleet.waitFor(service, id, true);
      if ((await within(wait, APPEAR_WAIT_MS)) === null) {
        fleet.abandon(wait);
        throw new Error(`${service}/${id} registered, but ${wait.left.size} watchers did not list it within ${APPEAR_WAIT_MS} ms`);
      }
    };

    // 3. kill -9.
    const kills = new Departures();
    let killed = 0;
    let port = 20_000;
    for (let k = 0; k < options.kills;) {
      const batch = Math.min(KILL_BATCH_MAX, options.kills - k);
      const procs = await inBatches(Array.from({ length: batch }, (_, j) => k + j), SPAWN_AT_ONCE, async (n) => {
        const service = watched[n % watched.length]!;
        const id = `kill-${n}`;
        const p = await spawnInstance(cluster, service, id, port++, timeoutMs);
        registry.expected.get(service)!.add(id);
        await appear(service, id);
        return p;
      }, (n) => report(`starting instance processes: ${n} / ${batch} registered and seen by every watcher`));
      const drops: Array<Promise<void>> = [];
      for (const p of procs) {
        await spaced(KILL_SPACING_MS);
        drops.push(depart(kills, p.service, p.id, () => {
          p.child.kill('SIGKILL');
        }).then(() => {
          killed++;
          progress.update(`kill -9: ${killed} / ${options.kills} dropped by every watcher`);
        }));
      }
      await Promise.all(drops);
      await Promise.all(procs.map((p) => p.exited));
      k += batch;
    }

    // 4. Session close: one client per instance, closed in turn.
    const closes = new Departures();
    const closers = await inBatches(Array.from({ length: options.kills }, (_, n) => n), CONNECT_AT_ONCE, async (n) => {
      const client = await HikariClient.connect({ endpoints: cluster.endpoints, clusterId: cluster.clusterId, session: { timeoutMs } });
      clientsToClose.push(client);
      const service = watched[n % watched.length]!;
      const id = `close-${n}`;
      await client.discovery.register({ service, id, host: '127.0.0.1', port: 30_000 + n, protocol: 'http' });
      registry.expected.get(service)!.add(id);
      return { client, service, id };
    }, (n) => report(`session close: ${n} / ${options.kills} instances registered`));
    for (const c of closers) await appear(c.service, c.id);
    const closeDrops: Array<Promise<void>> = [];
    for (const [n, c] of closers.entries()) {
      await spaced(CLOSE_SPACING_MS);
      closeDrops.push(depart(closes, c.service, c.id, () => c.client.close()));
      progress.update(`session close: ${n + 1} / ${closers.length} closed`);
    }
    await Promise.all(closeDrops);

    // 5. Deregister: instances of one client (its session lives on), deregistered in turn.
    const deregs = new Departures();
    const owner = await HikariClient.connect({ endpoints: cluster.endpoints, clusterId: cluster.clusterId, session: { timeoutMs } });
    clientsToClose.push(owner);
    const handles: InstanceHandle[] = [];
    for (let n = 0; n < options.kills; n++) {
      const service = watched[n % watched.length]!;
      const id = `dereg-${n}`;
      handles.push(await owner.discovery.register({ service, id, host: '127.0.0.1', port: 40_000 + n, protocol: 'http' }));
      registry.expected.get(service)!.add(id);
    }
    for (const h of handles) await appear(h.service, h.id);
    const deregDrops: Array<Promise<void>> = [];
    for (const [n, h] of handles.entries()) {
      await spaced(CLOSE_SPACING_MS);
      deregDrops.push(depart(deregs, h.service, h.id, () => h.deregister()));
      progress.update(`deregister: ${n + 1} / ${handles.length}`);
    }
    await Promise.all(deregDrops);

    // 6. Queries.
    const queryClients = await connectClients(cluster, options.clients, (n) => report(`connecting query clients: ${n} / ${options.clients}`));
    clientsToClose.push(...queryClients);
    const leader = await cluster.leader();
    const admins = cluster.processes.nodes.map((n) => n.admin);
    const cpu = new CpuMeter(() => cluster.pids());
    const wrong: string[] = [];
    let wrongCount = 0;
    const expectCount = (service: string, listed: number, how: string) => {
      const want = registry.expected.get(service)!.size;
      if (listed === want) return;
      wrongCount++;
      if (wrong.length < KEPT_MAX) wrong.push(`${how} ${service}: ${listed} instances, expected ${want}`);
      throw Object.assign(new Error('wrong instance count'), { code: 'WRONG_COUNT' });
    };
    const randomService = () => services[Math.floor(Math.random() * services.length)]!;
    const perService = options.instances / services.length;
    const queries: QueryRow[] = [];
    const phase = async (name: string, requestsPerCall: number, op: (w: number) => Promise<void>) => {
      const r = await runClosedLoop({ phase: name, workers: options.clients, warmupSeconds: options.warmupSeconds, seconds: options.seconds, op, progress, cpu, label: 'discovery' });
      queries.push({ ...r, requestsPerCall });
    };
    await phase('instances()', Math.ceil(perService / 1000), async (w) => {
      const service = randomService();
      expectCount(service, (await queryClients[w]!.discovery.instances(service)).length, 'instances()');
    });
    await phase('instances() stale', Math.ceil(perService / 1000), async (w) => {
      const service = randomService();
      expectCount(service, (await queryClients[w]!.discovery.instances(service, { stale: true })).length, 'instances({ stale })');
    });
    await phase('HTTP GET /v1/services/<name>', 1, async (w) => {
      const service = randomService();
      const res = await fetch(`http://${admins[w % admins.length]}/v1/services/${service}`);
      if (res.status !== 200) throw Object.assign(new Error(`HTTP ${res.status}`), { code: `HTTP_${res.status}` });
      const body = (await res.json()) as { instances?: unknown[] };
      expectCount(service, body.instances?.length ?? -1, 'GET /v1/services/');
    });

    // Final checks: every cache, a linearizable read of every service, services().
    const checker = queryClients[0]!;
    await sleep(500); // the last deregistration's events have settled everywhere by now; give stragglers a moment
    let cacheMismatches = 0;
    for (let w = 0; w < watchers.length; w++) {
      for (const service of watched) {
        const view = fleet.view(w, service);
        const want = registry.expected.get(service)!;
        if (view.size !== want.size || [...want].some((id) => !view.has(id))) {
          cacheMismatches++;
          if (cacheMismatches <= 5) failures.push(`at the end watcher ${w} lists ${view.size} instances of ${service}, expected ${want.size}`);
        }
      }
    }
    let readMismatches = 0;
    await inBatches(services, 8, async (service) => {
      const ids = (await checker.discovery.instances(service)).map((i) => i.id);
      const want = registry.expected.get(service)!;
      if (ids.length !== want.size || ids.some((id) => !want.has(id))) {
        readMismatches++;
        if (readMismatches <= 5) failures.push(`at the end instances(${service}) lists ${ids.length}, expected ${want.size}`);
      }
    }, (n) => report(`checking: ${n} / ${services.length} services read back`));
    const summaries = await checker.discovery.services();
    const summaryWrong = summaries.length !== services.length || summaries.some((s) => s.instances !== registry.expected.get(s.service)?.size);
    if (summaryWrong) failures.push(`services() lists ${summaries.length} services (${summaries.slice(0, 3).map((s) => `${s.service}: ${s.instances}`).join(', ')} ...), expected ${services.length} with their counts`);
    const leaderAtEnd = await cluster.leader();

    keeper.stop();
    rawWatch.close();
    if (keeper.expired > 0) failures.push(`${keeper.expired} long-lived (kept alive) sessions expired`);
    if (fleet.violationCount > 0) failures.push(`${fleet.violationCount} wrong drops or returns seen by the watchers`, ...fleet.violations);
    for (const [what, d] of [['kill -9', kills], ['session close', closes], ['deregister', deregs]] as const) {
      if (d.timedOut.length > 0) failures.push(`${what}: ${d.timedOut.length} instances not dropped by every watcher`, ...d.timedOut.slice(0, KEPT_MAX));
    }
    if (wrongCount > 0) failures.push(`${wrongCount} query answers with a wrong instance count`, ...wrong);

    // Tables.
    const dropRows: DropRow[] = [
      { event: `kill -9 → dropped by every watcher (${options.watchers})`, latency: kills.all.summary(), overTtl: kills.overTtl },
      { event: '  kill -9 → record deleted (first watch event)', latency: kills.toDeleted.summary() },
      { event: '  record deleted → dropped by every watcher', latency: kills.deletedToAll.summary() },
      { event: 'kill -9 → dropped by each watcher', latency: kills.each.summary() },
      { event: `session close → dropped by every watcher (${options.watchers})`, latency: closes.all.summary() },
      { event: '  client.close() call', latency: closes.call.summary() },
      { event: '  record deleted → dropped by every watcher', latency: closes.deletedToAll.summary() },
      { event: `deregister → dropped by every watcher (${options.watchers})`, latency: deregs.all.summary() },
      { event: '  handle.deregister() call', latency: deregs.call.summary() },
    ];
    const dropTable = makeTable<DropRow>([
      { header: 'departure', align: 'left', value: (r) => r.event },
      { header: 'samples', value: (r) => formatCount(r.latency.count) },
      { header: 'p50 ms', value: (r) => formatMs(r.latency.p50Ms) },
      { header: 'p99 ms', value: (r) => formatMs(r.latency.p99Ms) },
      { header: 'min ms', value: (r) => formatMs(r.latency.minMs) },
      { header: 'max ms', value: (r) => formatMs(r.latency.maxMs) },
    ], dropRows);
    const others = cluster.processes.nodes.map((n) => `n${n.id}`).filter((l) => l !== `n${leader}`);
    const cpuLabels = [`n${leader}`, ...others, SELF_LABEL, OTHER_LABEL];
    const queryColumns: Column<QueryRow>[] = [
      ...PHASE_COLUMNS,
      { header: 'requests/call', value: (r) => formatCount(r.requestsPerCall) },
      { header: `CPU % leader / ${others.length > 0 ? 'followers / ' : ''}bench / other`, value: (r) => formatCpu(r.cpuPercent, cpuLabels) },
    ];
    const mb = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
    const ka = keeper.latency.summary();
    const setupRows = [
      { measure: `sessions opened (${formatCount(options.instances)} detached, ${SESSIONS_PER_CONNECTION} per connection, ${BACKGROUND_SESSION_TIMEOUT_MS / 1000} s timeout)`, value: `${registry.openSeconds.toFixed(1)} s (${formatCount(options.instances / registry.openSeconds)}/s)` },
      { measure: `records written (session.resume + create, ${REGISTRATION_WRITERS} connections)`, value: `${registry.writeSeconds.toFixed(1)} s (${formatCount(options.instances / registry.writeSeconds)}/s)` },
      { measure: `caches opened (${options.watchers} watchers x ${watchedCount} services of ${formatCount(perService)} instances)`, value: `${formatCount(cacheJobs.length)} in ${cachesSeconds.toFixed(1)} s` },
      { measure: 'leader heap used: empty → with the registry', value: `${mb(heapBefore)} → ${mb(heapAt)}` },
      { measure: 'leader resident memory: empty → with the registry', value: `${mb(rssBefore)} → ${mb(rssAt)}` },
      { measure: 'background keepalives (100 renewals each) p50 / p99', value: `${formatMs(ka.p50Ms)} / ${formatMs(ka.p99Ms)} ms over ${formatCount(ka.count)} calls; ${keeper.failures} failed, ${keeper.expired} sessions expired` },
      { measure: 'cache changes seen by the watchers', value: formatCount(fleet.changes) },
    ];
    const setupTable = makeTable<{ measure: string; value: string }>([
      { header: 'setup', align: 'left', value: (r) => r.measure },
      { header: 'value', align: 'left', value: (r) => r.value },
    ], setupRows);

    const notes = [
      `${formatCount(options.instances)} instances in ${services.length} services (${formatCount(perService)} each) on a ${options.nodes}-node cluster; ${options.watchers} watcher clients (no session) each cache ${watchedCount} services (${watched.join(', ')}), ${formatCount(cacheJobs.length)} ServiceCaches (debounce 50 ms, linearizable reads); watchers per node: ${perNode(cluster, watchers, leaderAtStart)}.`,
      `kill -9: ${options.kills} instance processes (one SDK client and one instance each, session timeout ${timeoutMs} ms, keepalives every ${Math.round(timeoutMs / 3)} ms), killed ${KILL_SPACING_MS.min}-${KILL_SPACING_MS.min + KILL_SPACING_MS.jitter} ms apart. Its expiry is due timeout - (time since the last keepalive) after the kill, i.e. between ${Math.round((timeoutMs * 2) / 3)} and ${timeoutMs} ms, found by the leader's expiry scan (every 250 ms) and committed; then every watcher's cache reads the change. ${kills.overTtl} of ${kills.all.count} took longer than timeout + 1 s.`,
      `session close / deregister: ${options.kills} SDK clients in this process each close()d in turn (ending the session removes its record), then ${options.kills} instances of one client deregister()ed in turn; timed from the call. Samples are few: p99 is close to the max.`,
      `queries: ${options.clients} clients (no session), one call at a time, each of a random service; instances() is one children read plus one get per instance (${READ_CONCURRENCY_NOTE}), so it costs ${formatCount(1 + perService)} requests; the HTTP API answers a service in one request (reads spread over every node's admin port).`,
      `CPU %: of one core, during each measured query interval: leader n${leader}, ${others.join(', ')}, the load generator, the rest of the machine (high values there spoil the run).`,
      leaderAtEnd !== leaderAtStart ? `warning: the leader changed during the run (n${leaderAtStart} → n${leaderAtEnd})` : `leader: n${leaderAtStart} throughout`,
      `checks: every killed / closed / deregistered instance dropped by every watcher (${kills.all.count + closes.all.count + deregs.all.count} of ${options.kills * 3}); ${fleet.violationCount === 0 ? 'no watcher dropped a live instance or listed a dropped one again' : `${fleet.violationCount} WRONG DROPS`}; ${keeper.expired === 0 ? 'no long-lived session expired' : `${keeper.expired} LONG-LIVED SESSIONS EXPIRED`}; at the end every cache, instances() of every service and services() list exactly the live instances${cacheMismatches + readMismatches + (summaryWrong ? 1 : 0) === 0 ? '' : ' — NOT SO'}; query answers with a wrong count: ${wrongCount}.`,
    ];
    const errorNotes = queries.filter((q) => q.errors > 0).map((q) => `${q.phase}: errors by code ${JSON.stringify(q.errorCodes)}`);
    return {
      tables: [dropTable, makeTable(queryColumns, queries, 'queries (closed loop):'), setupTable],
      records: [
        ...dropRows.map((r) => ({ table: 'drop', event: r.event.trim(), watchers: options.watchers, sessionTimeoutMs: timeoutMs, ...r.latency, overTtlPlus1s: r.overTtl })),
        ...queries.map((q) => ({ table: 'query', leader, ...phaseRecord(q) })),
      ],
      notes: [...notes, ...errorNotes],
      failures,
    };
  } finally {
    keeper.stop();
    killChildren();
    await Promise.allSettled(clientsToClose.map((c) => c.close()));
  }
}

export const discoveryWorkload: Workload = {
  name: 'discovery',
  summary: 'N instances / S services: kill -9, session close and deregister → every watcher\'s cache drops it; instances() and HTTP query ops/s',
  describe(o: BenchOptions): string {
    return `discovery: ${formatCount(o.instances)} instances in ${formatCount(o.services)} services, ${o.watchers} watchers x ${Math.min(WATCHED_SERVICES, o.services)} services, `
      + `${o.kills} kill -9 / close / deregister each (session timeout ${o.sessionTimeoutMs} ms), queries by ${o.clients} clients `
      + `(${o.warmupSeconds} s warm-up + ${o.seconds} s measured per phase), against a ${o.nodes}-node HikariKeeper cluster`;
  },
  run: (ctx) => {
    process.on('exit', killChildren);
    return withCluster(
      {
        nodes: ctx.options.nodes,
        cpuProfileDir: ctx.options.cpuProfileDir,
        onUnexpectedExit: (n, code, signal) => ctx.progress.print(`warning: n${n.id} exited during the run (code ${code}, signal ${signal})\n${n.logs.slice(-10).join('\n')}`),
      },
      (cluster) => runWorkload(ctx, cluster),
    ).finally(() => {
      killChildren();
      process.off('exit', killChildren);
    });
  },
};
