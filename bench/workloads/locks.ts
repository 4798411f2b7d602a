/**
 * `npm run bench -- locks`: W workers each acquire a lock, release it, and start again, for a
 * warm-up and a measured interval, in two scenarios:
 *
 *   A   keys = 10,000: little contention (throughput of the lock service itself)
 *   B   keys = 4: heavy contention (16 workers per lock: queueing, handoff, fairness)
 *
 * against HikariKeeper (a cluster of real server processes: server-side FIFO queues, fencing tokens
 * from the Raft log, every grant and release durable — fsync — on a majority) and, in the same run
 * with the same load generator, a real `redis-server` with the Redis lock most teams run today:
 * `SET key value NX PX` (+ an INCR fencing counter in the same Lua script), a compare-and-delete
 * Lua release, and a 1–3 ms random retry while the lock is taken (RedisLockDriver). Redis here does
 * not fsync (no AOF): it pays nothing for durability.
 *
 * One op is one acquire + release cycle; its latency is the cycle's, and the acquire's latency is
 * reported apart. Every worker has its own connection (HikariKeeper: its own client and session).
 *
 * Checked while running, for both systems: no two workers hold the same key at once (the load
 * generator sees every grant and release), and tokens strictly increase per key in grant order.
 */
import Redis from 'ioredis';
import { HikariClient, LockDriver, RedisLockDriver } from '@hikarikeeper/client';
import { formatCpu, PhaseResult, RAFT_LOOP_COLUMNS, runClosedLoop } from '../lib/closed-loop';
import { RaftMeter } from '../lib/raft-meter';
import { BenchCluster, withCluster } from '../lib/cluster';
import { CpuMeter, OTHER_LABEL, SELF_LABEL } from '../lib/cpu';
import { LatencyRecorder, LatencySummary } from '../lib/latency';
import { startRedis } from '../lib/peers/redis';
import { Column, formatCount, formatMs, makeTable } from '../lib/report';
import { BenchOptions, Workload, WorkloadContext, WorkloadResult } from '../lib/workload';

export interface LockScenario {
  readonly name: string;
  readonly keys: number;
}
export const LOCK_SCENARIOS: readonly LockScenario[] = [
  { name: 'A', keys: 10_000 },
  { name: 'B', keys: 4 },
];
/** Longest wait for one acquire: past it the op fails (LOCK_TIMEOUT) and counts as an error. */
export const LOCK_WAIT_MS = 10_000;

export type LockSystem = 'hikarikeeper' | 'redis';

export interface LockPhase extends PhaseResult {
  system: LockSystem;
  scenario: string;
  keys: number;
  acquire: LatencySummary;
}

/** Exclusion and token order as the load generator sees them. */
export class LockLedger {
  private readonly holders = new Map<string, number>();
  private readonly lastToken = new Map<string, number>();
  violations: string[] = [];
  grants = 0;

  granted(key: string, token: number): void {
    this.grants++;
    const holder = this.holders.get(key);
    if (holder !== undefined && this.violations.length < 20) this.violations.push(`${key}: granted to token ${token} while token ${holder} holds it`);
    const last = this.lastToken.get(key);
    if (last !== undefined && token <= last && this.violations.length < 20) this.violations.push(`${key}: token ${token} after ${last}`);
    this.holders.set(key, token);
    this.lastToken.set(key, token);
  }

  /** Called before the release is sent: once it is, the next holder may be told at any moment. */
  releasing(key: string, token: number): void {
    if (this.holders.get(key) === token) this.holders.delete(key);
  }
}

export interface LockRunOptions {
  workers: number;
  seconds: number;
  warmupSeconds: number;
  ctx: WorkloadContext;
  cpu?: CpuMeter;
  raft?: RaftMeter;
}

/** Runs every scenario with one driver per worker. */
export async function runLockScenarios(system: LockSystem, drivers: readonly LockDriver[], o: LockRunOptions, ledger: LockLedger): Promise<LockPhase[]> {
  const phases: LockPhase[] = [];
  for (const scenario of LOCK_SCENARIOS) {
    const acquire = new LatencyRecorder();
    const op = async (w: number, measured: boolean): Promise<void> => {
      const key = `bench:${scenario.name}:${Math.floor(Math.random() * scenario.keys)}`;
      const started = process.hrtime.bigint();
      const grant = await drivers[w].acquire(key, { waitMs: LOCK_WAIT_MS });
      if (measured) acquire.record(Number(process.hrtime.bigint() - started));
      ledger.granted(key, grant.token);
      ledger.releasing(key, grant.token);
      await drivers[w].release(grant);
    };
    const phase = await runClosedLoop({
      phase: `${system} ${scenario.name}`, workers: o.workers, warmupSeconds: o.warmupSeconds, seconds: o.seconds, op,
      progress: o.ctx.progress, cpu: o.cpu, raft: o.raft, label: 'locks',
    });
    phases.push({ ...phase, system, scenario: scenario.name, keys: scenario.keys, acquire: acquire.summary() });
  }
  return phases;
}

async function runHikari(ctx: WorkloadContext, cluster: BenchCluster, ledger: LockLedger): Promise<{ phases: LockPhase[]; leader: number }> {
  const { options } = ctx;
  const clients = await Promise.all(Array.from({ length: options.clients }, () => HikariClient.connect({ endpoints: cluster.endpoints, clusterId: cluster.clusterId })));
  try {
    const cpu = new CpuMeter(() => cluster.pids());
    const leader = await cluster.leader();
    const raft = new RaftMeter(() => cluster.processes.node(leader).admin);
    const phases = await runLockScenarios('hikarikeeper', clients.map((c) => c.locks), { workers: options.clients, seconds: options.seconds, warmupSeconds: options.warmupSeconds, ctx, cpu, raft }, ledger);
    return { phases, leader: await cluster.leader() };
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()));
  }
}

async function runRedis(ctx: WorkloadContext, ledger: LockLedger): Promise<LockPhase[]> {
  const { options } = ctx;
  const server = await startRedis();
  const connections = Array.from({ length: options.clients }, () => new Redis({ host: server.host, port: server.port, lazyConnect: true, maxRetriesPerRequest: 1 }));
  try {
    await Promise.all(connections.map((r) => r.connect()));
    const cpu = new CpuMeter(() => new Map([['redis', server.pid]]));
    return await runLockScenarios('redis', connections.map((r) => new RedisLockDriver(r)), { workers: options.clients, seconds: options.seconds, warmupSeconds: options.warmupSeconds, ctx, cpu }, ledger);
  } finally {
    connections.forEach((r) => r.disconnect());
    await server.stop();
  }
}

const COLUMNS: readonly Column<LockPhase & { ratio: string }>[] = [
  { header: 'scenario', align: 'left', value: (r) => `${r.scenario} (keys ${formatCount(r.keys)})` },
  { header: 'system', align: 'left', value: (r) => r.system },
  { header: 'workers', value: (r) => String(r.workers) },
  { header: 'ops/s', value: (r) => formatCount(r.opsPerSecond) },
  { header: 'acquire p50 ms', value: (r) => formatMs(r.acquire.p50Ms) },
  { header: 'acquire p99 ms', value: (r) => formatMs(r.acquire.p99Ms) },
  { header: 'acquire p999 ms', value: (r) => formatMs(r.acquire.p999Ms) },
  { header: 'cycle p99 ms', value: (r) => formatMs(r.latency.p99Ms) },
  { header: 'errors', value: (r) => formatCount(r.errors) },
  { header: 'HikariKeeper / Redis', value: (r) => r.ratio },
];

async function runWorkload(ctx: WorkloadContext, cluster: BenchCluster): Promise<WorkloadResult> {
  const ledger = new LockLedger();
  const hikari = await runHikari(ctx, cluster, ledger);
  const redisLedger = new LockLedger();
  const redis = await runRedis(ctx, redisLedger);
  const rows = LOCK_SCENARIOS.flatMap((s) => {
    const h = hikari.phases.find((p) => p.scenario === s.name)!;
    const r = redis.find((p) => p.scenario === s.name)!;
    const ratio = r.opsPerSecond > 0 ? `${(h.opsPerSecond / r.opsPerSecond).toFixed(2)}×` : '-';
    return [{ ...h, ratio }, { ...r, ratio: '' }];
  });
  const others = cluster.processes.nodes.map((n) => `n${n.id}`).filter((l) => l !== `n${hikari.leader}`);
  const cpuLabels = [`n${hikari.leader}`, ...others, 'redis', SELF_LABEL, OTHER_LABEL];
  const cpuTable = makeTable<LockPhase>([
    { header: 'scenario', align: 'left', value: (r) => r.scenario },
    { header: 'system', align: 'left', value: (r) => r.system },
    { header: `CPU % leader / followers / redis / bench / other`, value: (r) => formatCpu(r.cpuPercent, cpuLabels) },
  ], [...hikari.phases, ...redis], 'CPU during each measured interval (% of one core):');
  const errorNotes = [...hikari.phases, ...redis].filter((p) => p.errors > 0).map((p) => `${p.system} ${p.scenario}: errors by code ${JSON.stringify(p.errorCodes)}`);
  const violations = [...ledger.violations.map((v) => `hikarikeeper: ${v}`), ...redisLedger.violations.map((v) => `redis: ${v}`)];
  return {
    tables: [makeTable(COLUMNS, rows), cpuTable, makeTable(RAFT_LOOP_COLUMNS, hikari.phases, `HikariKeeper: the leader's Raft loop (n${hikari.leader}, from its /metrics):`)],
    records: rows.map(({ ratio: _ratio, acquire, latency, ...rest }) => ({
      ...rest, ...latency, acquireP50Ms: acquire.p50Ms, acquireP99Ms: acquire.p99Ms, acquireP999Ms: acquire.p999Ms, leader: rest.system === 'hikarikeeper' ? hikari.leader : undefined,
    })),
    notes: [
      'op = one acquire + release cycle; ops/s counts cycles. HikariKeeper: every grant and release is in the Raft log, fsynced by a majority of 3 nodes; Redis: in memory, no fsync, no replica.',
      `exclusion check: ${formatCount(ledger.grants)} HikariKeeper grants and ${formatCount(redisLedger.grants)} Redis grants seen, ${violations.length === 0 ? 'never two holders of one key at once, tokens strictly increasing per key' : `${violations.length} VIOLATIONS`}`,
      ...errorNotes,
    ],
    failures: violations,
  };
}

export const locksWorkload: Workload = {
  name: 'locks',
  summary: 'acquire + release loops (A: 10,000 keys, B: 4 keys) on HikariKeeper and on a real redis-server (SET NX PX + Lua release), same run',
  describe(o: BenchOptions): string {
    return `locks: ${o.clients} workers (one connection each, one acquire+release cycle at a time), scenarios ${LOCK_SCENARIOS.map((s) => `${s.name} = ${formatCount(s.keys)} keys`).join(', ')}; `
      + `HikariKeeper (${o.nodes} server processes) then redis-server, on loopback; ${o.warmupSeconds} s warm-up + ${o.seconds} s measured per scenario`;
  },
  run: (ctx) => withCluster(
    {
      nodes: ctx.options.nodes,
      cpuProfileDir: ctx.options.cpuProfileDir,
      onUnexpectedExit: (n, code, signal) => ctx.progress.print(`warning: n${n.id} exited during the run (code ${code}, signal ${signal})\n${n.logs.slice(-10).join('\n')}`),
    },
    (cluster) => runWorkload(ctx, cluster),
  ),
};
