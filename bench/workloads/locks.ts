/**
 * `npm run bench -- locks`: W workers each acquire a lock, release it, and start again, for a
 * warm-up and a measured interval, in scenarios of K keys (--keys; by default):
 *
 *   A   keys = 10,000: little contention (throughput of the lock service itself)
 *   B   keys = 4: heavy contention (16 workers per lock: queueing, handoff, fairness)
 *
 * against each system of --systems in turn, from the same load generator, each with its own idiomatic
 * lock (lib/systems/*.ts): HikariKeeper's `client.locks` on a cluster of real server processes;
 * Redis's SET NX PX + Lua release (RedisLockDriver, no fsync, no replica); etcd's server-side Lock API
 * under a lease; ZooKeeper's lock recipe. Every worker has its own connection (and its own session or
 * lease where the system has them).
 *
 * One op is one acquire + release cycle; its latency is the cycle's, and the acquire's latency is
 * reported apart.
 *
 * Checked while running, for every system: no two workers hold the same key at once (the load
 * generator sees every grant and release), and fencing tokens strictly increase per key in grant order.
 */
import { Chart } from '../lib/chart';
import { PhaseResult, RAFT_LOOP_COLUMNS, runClosedLoop } from '../lib/closed-loop';
import { byRound, countsText, cpuTable, durabilityNotes, firstRound, forEachSystem, medianLatency, medianPhase, pairedRatioText, present, rangeText, SystemRun, withRound } from '../lib/comparison';
import { CpuMeter } from '../lib/cpu';
import { BenchLockDriver } from '../lib/drivers/types';
import { LatencyRecorder, LatencySummary } from '../lib/latency';
import { RaftMeter } from '../lib/raft-meter';
import { Column, formatCount, formatMs, makeTable, Table } from '../lib/report';
import { systemNamed } from '../lib/systems';
import { RunningSystem, SystemName } from '../lib/systems/types';
import { BenchOptions, Workload, WorkloadContext, WorkloadResult } from '../lib/workload';

export interface LockScenario {
  readonly name: string;
  readonly keys: number;
}

/** The scenarios for `--keys`: A, B, C, ... in order. */
export function lockScenarios(keys: readonly number[]): LockScenario[] {
  return keys.map((k, i) => ({ name: String.fromCharCode(65 + i), keys: k }));
}

/** Longest wait for one acquire: past it the op fails (LOCK_TIMEOUT) and counts as an error. */
export const LOCK_WAIT_MS = 10_000;

export interface LockPhase extends PhaseResult {
  system: SystemName;
  label: string;
  scenario: string;
  keys: number;
  acquire: LatencySummary;
  /** The server that led (HikariKeeper: from the Raft meter), for the CPU column. */
  leader?: string;
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

/** The key of a lock op in scenario `s`: one of its keys at random. */
export function lockKey(s: LockScenario): string {
  return `bench:${s.name}:${Math.floor(Math.random() * s.keys)}`;
}

/**
 * One acquire + release cycle on `driver`, recorded in `ledger`; resolves with the acquire's latency
 * (ns) and the time the grant arrived (hrtime).
 */
export async function lockCycle(driver: BenchLockDriver, key: string, ledger: LockLedger): Promise<{ acquireNs: number; grantedAt: bigint }> {
  const started = process.hrtime.bigint();
  const grant = await driver.acquire(key, { waitMs: LOCK_WAIT_MS });
  const grantedAt = process.hrtime.bigint();
  ledger.granted(key, grant.token);
  ledger.releasing(key, grant.token);
  await driver.release(grant);
  return { acquireNs: Number(grantedAt - started), grantedAt };
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
export async function runLockScenarios(
  system: { name: SystemName; label: string },
  drivers: readonly BenchLockDriver[],
  scenarios: readonly LockScenario[],
  o: LockRunOptions,
  ledger: LockLedger,
): Promise<LockPhase[]> {
  const phases: LockPhase[] = [];
  for (const scenario of scenarios) {
    const acquire = new LatencyRecorder();
    const op = async (w: number, measured: boolean): Promise<void> => {
      const cycle = await lockCycle(drivers[w], lockKey(scenario), ledger);
      if (measured) acquire.record(cycle.acquireNs);
    };
    const phase = await runClosedLoop({
      phase: `${system.label} ${scenario.name}`, workers: o.workers, warmupSeconds: o.warmupSeconds, seconds: o.seconds, op,
      progress: o.ctx.progress, cpu: o.cpu, raft: o.raft, label: 'locks',
    });
    phases.push({ ...phase, system: system.name, label: system.label, scenario: scenario.name, keys: scenario.keys, acquire: acquire.summary() });
  }
  return phases;
}

interface SystemLocks {
  phases: LockPhase[];
  ledger: LockLedger;
}

async function runSystem(ctx: WorkloadContext, running: RunningSystem): Promise<SystemLocks> {
  const { options } = ctx;
  const ledger = new LockLedger();
  const { drivers, close } = await running.openLockDrivers(options.clients);
  try {
    const cpu = new CpuMeter(() => running.pids());
    const raft = running.raftMeter ? await running.raftMeter() : undefined;
    const phases = await runLockScenarios(running, drivers, lockScenarios(options.keys), {
      workers: options.clients, seconds: options.seconds, warmupSeconds: options.warmupSeconds, ctx, cpu, raft: raft?.meter,
    }, ledger);
    return { phases: phases.map((p) => ({ ...p, leader: raft?.leader })), ledger };
  } finally {
    await close();
  }
}

/** One scenario of one system: the median of its rounds (see medianPhase), with the range and the paired ratios. */
type Row = LockPhase & { opsRange: string; opsRatio: string; p99Ratio: string; hikari: boolean };

function rowsOf(runs: ReadonlyArray<SystemRun<SystemLocks>>, scenarios: readonly LockScenario[], rounds: number): Row[] {
  return scenarios.flatMap((s) => {
    const phasesOf = (system: string) => byRound(runs, system, rounds, (r) => r.phases.find((x) => x.scenario === s.name));
    const hikari = phasesOf('hikarikeeper');
    return firstRound(runs).map((r) => {
      const own = r.system.name === 'hikarikeeper';
      const mine = present(phasesOf(r.system.name));
      const phase = medianPhase(mine);
      const acquire = medianLatency(mine.map((p) => p.acquire));
      const paired = (f: (p: LockPhase) => number) => pairedRatioText(hikari.map((p) => (p ? f(p) : undefined)), phasesOf(r.system.name).map((p) => (p ? f(p) : NaN)), own);
      return {
        ...phase, acquire, hikari: own,
        opsRange: rangeText(mine.map((p) => p.opsPerSecond), formatCount),
        opsRatio: paired((p) => p.opsPerSecond),
        p99Ratio: paired((p) => p.acquire.p99Ms),
      };
    });
  });
}

function columns(rounds: number): Column<Row>[] {
  return [
    { header: 'scenario', align: 'left', value: (r) => `${r.scenario} (keys ${formatCount(r.keys)})` },
    { header: 'system', align: 'left', value: (r) => r.label },
    { header: 'workers', value: (r) => String(r.workers) },
    { header: 'ops/s', value: (r) => formatCount(r.opsPerSecond) },
    ...(rounds > 1 ? [{ header: 'ops/s range', value: (r: Row) => r.opsRange }] : []),
    { header: 'acquire p50 ms', value: (r) => formatMs(r.acquire.p50Ms) },
    { header: 'acquire p99 ms', value: (r) => formatMs(r.acquire.p99Ms) },
    { header: 'acquire p999 ms', value: (r) => formatMs(r.acquire.p999Ms) },
    { header: 'cycle p99 ms', value: (r) => formatMs(r.latency.p99Ms) },
    { header: 'errors', value: (r) => formatCount(r.errors) },
    { header: 'HikariKeeper / this: ops/s', value: (r) => r.opsRatio },
    { header: 'acquire p99', value: (r) => r.p99Ratio },
  ];
}

function chartOf(rows: readonly Row[], scenarios: readonly LockScenario[], rounds: number): Chart {
  const groups = (value: (r: Row) => number) => scenarios.map((s) => ({
    label: `${s.name} (${formatCount(s.keys)} keys)`,
    values: rows.filter((r) => r.scenario === s.name).map((r) => ({ system: r.label, value: value(r) })),
  }));
  return {
    title: `locks: ${rows[0]?.workers ?? 0} workers, acquire + release cycles${rounds > 1 ? `, median of ${rounds} rounds` : ''}`,
    panels: [
      { title: 'lock cycles per second (higher is better)', format: formatCount, groups: groups((r) => r.opsPerSecond) },
      { title: 'acquire p99, ms (lower is better)', format: formatMs, groups: groups((r) => r.acquire.p99Ms) },
    ],
  };
}

async function runWorkload(ctx: WorkloadContext): Promise<WorkloadResult> {
  const { rounds } = ctx.options;
  const scenarios = lockScenarios(ctx.options.keys);
  const runs = await forEachSystem(ctx, (running) => runSystem(ctx, running));
  const rows = rowsOf(runs, scenarios, rounds);
  // Every round's phases (the records), and the same named by their round when there are several (the CPU and Raft loop tables).
  const perRound = runs.flatMap((r) => r.result.phases.map((p) => ({ ...p, round: r.round })));
  const all = perRound.map((p) => ({ ...p, scenario: withRound(p.scenario, p.round, rounds), phase: withRound(p.phase, p.round, rounds) }));
  const tables: Table[] = [
    makeTable(columns(rounds), rows, rounds > 1 ? `Median of ${rounds} rounds (every system once per round, interleaved, on fresh servers); "ops/s range": lowest–highest round; ratios: the median of the rounds' ratios, each round's HikariKeeper over that round's peer (their range):` : undefined),
    cpuTable<LockPhase>({ header: 'scenario', align: 'left', value: (r) => r.scenario }, all),
  ];
  const hikari = all.filter((p) => p.system === 'hikarikeeper');
  if (hikari.length > 0) tables.push(makeTable(RAFT_LOOP_COLUMNS, hikari, `HikariKeeper: the leader's Raft loop (${hikari[0]?.leader ?? '?'}${rounds > 1 ? ' in round 1' : ''}, from its /metrics):`));
  const violations = runs.flatMap((r) => r.result.ledger.violations.map((v) => `${withRound(r.system.label, r.round, rounds)}: ${v}`));
  const errorNotes = all.filter((p) => p.errors > 0).map((p) => `${p.label} ${p.scenario}: errors by code ${JSON.stringify(p.errorCodes)}`);
  const grants = firstRound(runs).map((r) => ({ label: r.system.label, count: runs.filter((x) => x.system.name === r.system.name).reduce((a, x) => a + x.result.ledger.grants, 0) }));
  return {
    tables,
    records: perRound.map(({ acquire, latency, cpuPercent, ...rest }) => ({
      ...rest, ...latency, acquireP50Ms: acquire.p50Ms, acquireP99Ms: acquire.p99Ms, acquireP999Ms: acquire.p999Ms, cpuPercent,
    })),
    notes: [
      `op = one acquire + release cycle; ops/s counts cycles. "HikariKeeper / this": HikariKeeper's ops/s (resp. acquire p99) divided by this system's, same scenario, same ${rounds > 1 ? 'round' : 'run'}.`,
      'Who pays for durability:',
      ...durabilityNotes(firstRound(runs)),
      'Locks:',
      ...firstRound(runs).map((r) => `- ${r.system.label}: ${r.system.lock}.`),
      `exclusion check: ${countsText(grants, 'grants')} seen${rounds > 1 ? ` over ${rounds} rounds` : ''}; ${violations.length === 0 ? 'never two holders of one key at once, tokens strictly increasing per key' : `${violations.length} VIOLATIONS`}`,
      ...errorNotes,
    ],
    failures: violations,
    chart: chartOf(rows, scenarios, rounds),
  };
}

export const locksWorkload: Workload = {
  name: 'locks',
  summary: 'acquire + release loops (A: 10,000 keys, B: 4 keys) on HikariKeeper, redis-server, etcd and ZooKeeper, each with its own lock, same run',
  describe(o: BenchOptions): string {
    return `locks: ${o.clients} workers (one connection each, one acquire+release cycle at a time), scenarios ${lockScenarios(o.keys).map((s) => `${s.name} = ${formatCount(s.keys)} keys`).join(', ')}; `
      + `${o.systems.map((s) => systemNamed(s).label).join(', then ')}, on loopback; ${o.warmupSeconds} s warm-up + ${o.seconds} s measured per scenario`;
  },
  run: (ctx) => runWorkload(ctx),
};

