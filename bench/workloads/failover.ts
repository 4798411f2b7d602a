/**
 * `npm run bench -- failover`: how long the lock service is gone when its leader crashes. For each
 * system of --systems in turn (HikariKeeper, etcd, ZooKeeper: 3 servers each by default), under the
 * load of the locks workload's scenario A (W workers, --keys' first value, acquire + release loop):
 *
 *   1. --warmup seconds of load, then --seconds of steady load;
 *   2. find the leader and kill -9 it (t0);
 *   3. wait until every worker has been granted a lock again — recovery is timed per worker, from t0
 *      to the grant of its first acquire *begun after* t0 that succeeds (an acquire in flight at t0 may
 *      fail, time out or succeed late: it is the worker's next one that shows the service answers);
 *      the overall recovery is the first such grant of any worker;
 *   4. restart the killed server on its data, wait until every server serves, and go to 1 (without
 *      the warm-up) until --kills leaders have been killed.
 *
 * The load goes on throughout; errors (connections to the dead server, timeouts) are counted by code.
 * The exclusion check of the locks workload runs all along, kills included.
 */
import { Chart } from '../lib/chart';
import { errorCode, ERROR_PAUSE_MS } from '../lib/closed-loop';
import { durabilityNotes, forEachSystem, ratioText, SystemRun } from '../lib/comparison';
import { BenchLockDriver } from '../lib/drivers/types';
import { LatencyRecorder, LatencySummary } from '../lib/latency';
import { Column, formatCount, formatMs, makeTable } from '../lib/report';
import { systemNamed } from '../lib/systems';
import { FailoverControl, RunningSystem } from '../lib/systems/types';
import { BenchOptions, Workload, WorkloadContext, WorkloadResult } from '../lib/workload';
import { lockCycle, lockKey, LockLedger, lockScenarios } from './locks';

/** Longest wait for every worker to be granted a lock after a kill; those still waiting count as not recovered. */
export const RECOVERY_TIMEOUT_MS = 30_000;
/** Longest wait for the restarted server to serve again. */
export const RESTART_TIMEOUT_MS = 60_000;
/** How often the progress line is redrawn. */
const PROGRESS_INTERVAL_MS = 1_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface KillResult {
  /** 1-based. */
  kill: number;
  /** The killed server's label ('n2', 'etcd1', 'zk3'). */
  leader: string;
  /** First grant of any worker after the kill, ms (null: none within the timeout). */
  overallMs: number | null;
  /** Each recovered worker's time, ms. */
  workerMs: number[];
  /** Workers with no grant within RECOVERY_TIMEOUT_MS. */
  notRecovered: number;
  /** Failed operations between the kill and the last worker's recovery. */
  errors: number;
  /** From the kill until the restarted server served again, ms. */
  restartMs: number;
}

export interface SystemFailover {
  kills: KillResult[];
  overall: LatencySummary;
  perWorker: LatencySummary;
  ledger: LockLedger;
  /** Lock cycles per second over the whole run (kills included). */
  opsPerSecond: number;
  errorCodes: Record<string, number>;
}

/** The load: W workers in a closed loop of lock cycles until `stop()`, noting each worker's first grant after the current kill. */
class LockLoad {
  private stopping = false;
  private readonly loops: Array<Promise<void>>;
  private killAt: bigint | null = null;
  /** Worker → ns from the kill to its first grant of an acquire begun after it. */
  readonly recovered = new Map<number, number>();
  errors = 0;
  readonly errorCodes: Record<string, number> = {};
  cycles = 0;
  readonly startedAt = process.hrtime.bigint();

  constructor(drivers: readonly BenchLockDriver[], keys: number, readonly ledger: LockLedger) {
    const scenario = lockScenarios([keys])[0];
    this.loops = drivers.map(async (driver, w) => {
      while (!this.stopping) {
        const started = process.hrtime.bigint();
        try {
          const { grantedAt } = await lockCycle(driver, lockKey(scenario), ledger);
          this.cycles++;
          const killAt = this.killAt;
          if (killAt !== null && started >= killAt && !this.recovered.has(w)) this.recovered.set(w, Number(grantedAt - killAt));
        } catch (e) {
          this.errors++;
          const code = errorCode(e);
          this.errorCodes[code] = (this.errorCodes[code] ?? 0) + 1;
          await sleep(ERROR_PAUSE_MS);
        }
      }
    });
  }

  /** Marks the kill: recovery is timed from now. */
  killed(): void {
    this.recovered.clear();
    this.killAt = process.hrtime.bigint();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }
}

async function killOnce(ctx: WorkloadContext, label: string, control: FailoverControl, load: LockLoad, kill: number, workers: number): Promise<KillResult> {
  const { options, progress } = ctx;
  const stage = `failover ${label} kill ${kill}/${options.kills}`;
  const steadyUntil = Date.now() + options.seconds * 1000;
  while (Date.now() < steadyUntil) {
    progress.update(`${stage}: steady load ${Math.ceil((steadyUntil - Date.now()) / 1000)} s, ${formatCount(load.cycles)} cycles so far`);
    await sleep(Math.min(PROGRESS_INTERVAL_MS, Math.max(0, steadyUntil - Date.now())));
  }
  const leader = await control.leader();
  const errorsBefore = load.errors;
  const killedAt = Date.now();
  load.killed();
  await control.kill(leader);
  const deadline = killedAt + RECOVERY_TIMEOUT_MS;
  while (load.recovered.size < workers && Date.now() < deadline) {
    progress.update(`${stage}: ${leader} killed ${((Date.now() - killedAt) / 1000).toFixed(0)} s ago, ${load.recovered.size}/${workers} workers granted again`);
    await sleep(20);
  }
  const workerMs = [...load.recovered.values()].map((ns) => ns / 1e6);
  const errors = load.errors - errorsBefore;
  progress.update(`${stage}: restarting ${leader} ...`);
  control.restart(leader);
  await control.ready(RESTART_TIMEOUT_MS);
  return {
    kill, leader, workerMs, errors,
    overallMs: workerMs.length > 0 ? Math.min(...workerMs) : null,
    notRecovered: workers - workerMs.length,
    restartMs: Date.now() - killedAt,
  };
}

async function runSystem(ctx: WorkloadContext, running: RunningSystem): Promise<SystemFailover> {
  const { options, progress } = ctx;
  const control = running.failover;
  if (control === null) throw new Error(`${running.label} has no leader to kill`);
  const ledger = new LockLedger();
  const { drivers, close } = await running.openLockDrivers(options.clients);
  const kills: KillResult[] = [];
  let load: LockLoad | null = null;
  try {
    load = new LockLoad(drivers, options.keys[0], ledger);
    progress.update(`failover ${running.label}: warm-up ${options.warmupSeconds} s`);
    await sleep(options.warmupSeconds * 1000);
    for (let k = 1; k <= options.kills; k++) kills.push(await killOnce(ctx, running.label, control, load, k, options.clients));
  } finally {
    await load?.stop();
    await close();
  }
  const overall = new LatencyRecorder();
  const perWorker = new LatencyRecorder();
  for (const k of kills) {
    if (k.overallMs !== null) overall.record(k.overallMs * 1e6);
    for (const ms of k.workerMs) perWorker.record(ms * 1e6);
  }
  const seconds = Number(process.hrtime.bigint() - load.startedAt) / 1e9;
  return { kills, overall: overall.summary(), perWorker: perWorker.summary(), ledger, opsPerSecond: Math.round(load.cycles / seconds), errorCodes: load.errorCodes };
}

type Row = SystemRun<SystemFailover> & { ratio: string };

const COLUMNS: readonly Column<Row>[] = [
  { header: 'system', align: 'left', value: (r) => r.system.label },
  { header: 'kills', value: (r) => String(r.result.kills.length) },
  { header: 'first grant p50 ms', value: (r) => formatMs(r.result.overall.p50Ms) },
  { header: 'first grant p99 ms', value: (r) => formatMs(r.result.overall.p99Ms) },
  { header: 'first grant max ms', value: (r) => formatMs(r.result.overall.maxMs) },
  { header: 'every worker p50 ms', value: (r) => formatMs(r.result.perWorker.p50Ms) },
  { header: 'every worker p99 ms', value: (r) => formatMs(r.result.perWorker.p99Ms) },
  { header: 'every worker max ms', value: (r) => formatMs(r.result.perWorker.maxMs) },
  { header: `not back in ${RECOVERY_TIMEOUT_MS / 1000} s`, value: (r) => formatCount(r.result.kills.reduce((n, k) => n + k.notRecovered, 0)) },
  { header: 'cycles/s (whole run)', value: (r) => formatCount(r.result.opsPerSecond) },
  { header: 'HikariKeeper / this: worker p99', value: (r) => r.ratio },
];

function chartOf(rows: readonly Row[], workers: number): Chart {
  const group = (label: string, value: (r: Row) => number) => ({ label, values: rows.map((r) => ({ system: r.system.label, value: value(r) })) });
  return {
    title: `failover: kill -9 of the leader under the lock load (${workers} workers)`,
    panels: [{
      title: 'time until the lock service grants again, ms (lower is better)',
      format: formatMs,
      groups: [
        group('first grant p50', (r) => r.result.overall.p50Ms),
        group('first grant p99', (r) => r.result.overall.p99Ms),
        group('every worker p50', (r) => r.result.perWorker.p50Ms),
        group('every worker p99', (r) => r.result.perWorker.p99Ms),
      ],
    }],
  };
}

async function runWorkload(ctx: WorkloadContext): Promise<WorkloadResult> {
  const runs = await forEachSystem(ctx, (running) => runSystem(ctx, running));
  const hikari = runs.find((r) => r.system.name === 'hikarikeeper');
  const rows: Row[] = runs.map((r) => ({ ...r, ratio: ratioText(hikari?.result.perWorker.p99Ms, r.result.perWorker.p99Ms, r.system.name === 'hikarikeeper') }));
  const detail = makeTable<{ label: string; k: KillResult }>([
    { header: 'system', align: 'left', value: (d) => d.label },
    { header: 'kill', value: (d) => String(d.k.kill) },
    { header: 'leader killed', align: 'left', value: (d) => d.k.leader },
    { header: 'first grant ms', value: (d) => (d.k.overallMs === null ? '-' : formatMs(d.k.overallMs)) },
    { header: 'last worker ms', value: (d) => (d.k.workerMs.length === 0 ? '-' : formatMs(Math.max(...d.k.workerMs))) },
    { header: 'not back', value: (d) => String(d.k.notRecovered) },
    { header: 'errors meanwhile', value: (d) => formatCount(d.k.errors) },
    { header: 'restarted and serving after ms', value: (d) => formatCount(d.k.restartMs) },
  ], runs.flatMap((r) => r.result.kills.map((k) => ({ label: r.system.label, k }))), 'Each kill:');
  const violations = runs.flatMap((r) => r.result.ledger.violations.map((v) => `${r.system.label}: ${v}`));
  const notRecovered = runs.filter((r) => r.result.kills.some((k) => k.notRecovered > 0));
  return {
    tables: [makeTable(COLUMNS, rows), detail],
    records: rows.map((r) => ({
      system: r.system.name, kills: r.result.kills.length, workers: ctx.options.clients, keys: ctx.options.keys[0],
      firstGrant: r.result.overall, everyWorker: r.result.perWorker, opsPerSecond: r.result.opsPerSecond, errorCodes: r.result.errorCodes,
      perKill: r.result.kills.map(({ workerMs, ...k }) => ({ ...k, lastWorkerMs: workerMs.length > 0 ? Math.max(...workerMs) : null })),
    })),
    notes: [
      'first grant: from the kill -9 to the first grant, to any worker, of an acquire begun after the kill; every worker: the same for each worker (its first acquire begun after the kill that succeeds), all kills pooled.',
      `With ${ctx.options.kills} kills a "first grant p99" is about the slowest kill. The servers run with their default failure detection: HikariKeeper's election timeout, etcd's 1,000 ms election timeout, ZooKeeper's tickTime 2,000 ms (sessions of 10 s for HikariKeeper, etcd leases and ZooKeeper).`,
      'Who pays for durability:',
      ...durabilityNotes(runs),
      ...runs.filter((r) => Object.keys(r.result.errorCodes).length > 0).map((r) => `${r.system.label}: errors by code over the run ${JSON.stringify(r.result.errorCodes)}`),
      `exclusion check (kills included): ${runs.map((r) => `${formatCount(r.result.ledger.grants)} ${r.system.label} grants`).join(', ')}; ${violations.length === 0 ? 'never two holders of one key at once, tokens strictly increasing per key' : `${violations.length} VIOLATIONS`}`,
      ...notRecovered.map((r) => `warning: ${r.system.label}: some workers were not granted a lock within ${RECOVERY_TIMEOUT_MS / 1000} s of a kill`),
    ],
    failures: violations,
    chart: chartOf(rows, ctx.options.clients),
  };
}

export const failoverWorkload: Workload = {
  name: 'failover',
  summary: 'kill -9 the leader under the lock load (scenario A), time until locks are granted again, restart, repeat; HikariKeeper, etcd, ZooKeeper',
  describe(o: BenchOptions): string {
    return `failover: ${o.clients} workers in acquire+release loops over ${formatCount(o.keys[0])} keys; ${o.systems.map((s) => systemNamed(s).label).join(', then ')} (${o.nodes} servers each, on loopback); `
      + `${o.warmupSeconds} s warm-up, then ${o.kills} × (${o.seconds} s steady load, kill -9 of the leader, wait for every worker to be granted again, restart the killed server)`;
  },
  run: (ctx) => runWorkload(ctx),
};
