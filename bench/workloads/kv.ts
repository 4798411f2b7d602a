/**
 * `npm run bench -- kv`: the key-value basics, each system of --systems in turn (HikariKeeper through
 * its SDK; etcd through etcd3; ZooKeeper through node-zookeeper-client: lib/drivers/*-kv.ts), from the
 * same load generator. N clients (each its own connection), each one operation at a time, run five
 * phases in order, each a warm-up then a measured interval:
 *
 *   create     fresh keys /bench/p<j mod 8>/w<client>-<j>, 100-byte values
 *   set        100-byte values over the keys the client created (each key has one writer)
 *   get        linearizable reads of random created keys (HikariKeeper: a read index confirmed by the
 *              leader; etcd: a linearizable Range; ZooKeeper: sync then getData)
 *   get-stale  reads answered by the connected server from its own state
 *   mixed      90 % linearizable get of a random key, 10 % set of one of the client's keys
 *
 * Every write's outcome goes in a ledger (path → last acknowledged value, plus the values of writes
 * that failed after it, which may or may not have applied), which `checkKv` compares with what
 * linearizable reads return at the end, for every system.
 */
import { tmpdir } from 'node:os';
import { Chart } from '../lib/chart';
import { errorCode, PhaseResult, PHASE_COLUMNS, phaseRecord, RAFT_LOOP_COLUMNS, runClosedLoop } from '../lib/closed-loop';
import { byRound, cpuTable, durabilityNotes, firstRound, forEachSystem, medianPhase, pairedRatioText, present, rangeText, SystemRun, withRound } from '../lib/comparison';
import { fileSystemType } from '../lib/cluster';
import { CpuMeter } from '../lib/cpu';
import { KvDriver } from '../lib/drivers/types';
import { RaftMeter } from '../lib/raft-meter';
import { Column, formatCount, formatMs, makeTable, Progress, Table } from '../lib/report';
import { systemNamed } from '../lib/systems';
import { RunningSystem, SystemName } from '../lib/systems/types';
import { BenchOptions, Workload, WorkloadContext, WorkloadResult } from '../lib/workload';

/** Parents the keys are spread under (children of one parent are one sorted set on the server). */
export const KV_PARENTS = 8;
export const KV_VALUE_BYTES = 100;
/** Share of writes in the mixed phase. */
export const KV_MIXED_WRITE_SHARE = 0.1;
/** Keys read back after a CLI run (all of them in the test). */
export const KV_CHECK_SAMPLE = 2_000;
/** Reads in flight while checking. */
const CHECK_CONCURRENCY = 32;
/** Mismatches kept in a check's report. */
const CHECK_MISMATCHES_KEPT = 20;

export type KvPhase = 'create' | 'set' | 'get' | 'get-stale' | 'mixed';
export const KV_PHASES: readonly KvPhase[] = ['create', 'set', 'get', 'get-stale', 'mixed'];

export interface KvRunOptions {
  seconds: number;
  warmupSeconds: number;
  progress?: Progress;
  cpu?: CpuMeter;
  /** Watches the leader's Raft loop in each phase. */
  raft?: RaftMeter;
  /** The system's name, in progress lines. */
  label?: string;
}

/** What is known of one key's value: the last acknowledged write, and writes that failed after it. */
export interface KeyRecord {
  /** The value of the last acknowledged create or set; null while the create is not acknowledged. */
  acked: string | null;
  /** Values of writes that failed (timed out, ...) after `acked`: they may have applied. */
  maybe: string[];
}

export type KvLedger = Map<string, KeyRecord>;

export interface KvRun {
  phases: PhaseResult[];
  ledger: KvLedger;
}

interface Worker {
  driver: KvDriver;
  /** Keys whose create was acknowledged, in order. */
  keys: string[];
  creates: number;
  sets: number;
  writes: number;
}

/** A KV_VALUE_BYTES-long value that names its writer and write. */
export function kvValue(tag: string): string {
  return tag.length >= KV_VALUE_BYTES ? tag.slice(0, KV_VALUE_BYTES) : tag + '.'.repeat(KV_VALUE_BYTES - tag.length);
}

export function kvPath(worker: number, j: number): string {
  return `/bench/p${j % KV_PARENTS}/w${worker}-${j}`;
}

/** Records a write's outcome in the ledger, then passes the outcome on. */
async function ledgered(record: KeyRecord, value: string, write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (e) {
    record.maybe.push(value);
    throw e;
  }
  record.acked = value;
  record.maybe = [];
}

/** The parents of the keys (for the systems that need them: HikariKeeper, ZooKeeper). */
export const KV_PARENT_PATHS: readonly string[] = ['/bench', ...Array.from({ length: KV_PARENTS }, (_, i) => `/bench/p${i}`)];

/** Runs the five phases with one driver per client (the caller opens and closes them). */
export async function runKv(drivers: readonly KvDriver[], o: KvRunOptions): Promise<KvRun> {
  const workers: Worker[] = drivers.map((driver) => ({ driver, keys: [], creates: 0, sets: 0, writes: 0 }));
  const ledger: KvLedger = new Map();
  let allKeys: string[] = [];
  const randomKey = () => allKeys[Math.floor(Math.random() * allKeys.length)];
  const set = async (w: number) => {
    const wk = workers[w];
    const path = wk.keys[wk.sets++ % wk.keys.length];
    const value = kvValue(`s${w}.${wk.writes++}`);
    await ledgered(ledger.get(path)!, value, () => wk.driver.set(path, value));
  };
  const ops: Record<KvPhase, (w: number) => Promise<void>> = {
    create: async (w) => {
      const wk = workers[w];
      const j = wk.creates++;
      const path = kvPath(w, j);
      const value = kvValue(`c${w}.${wk.writes++}`);
      const record: KeyRecord = { acked: null, maybe: [] };
      ledger.set(path, record);
      await ledgered(record, value, () => wk.driver.create(path, value));
      wk.keys.push(path);
    },
    set,
    get: async (w) => {
      await workers[w].driver.get(randomKey());
    },
    'get-stale': async (w) => {
      await workers[w].driver.getStale(randomKey());
    },
    mixed: async (w) => {
      if (Math.random() < KV_MIXED_WRITE_SHARE) await set(w);
      else await workers[w].driver.get(randomKey());
    },
  };
  const phases: PhaseResult[] = [];
  for (const phase of KV_PHASES) {
    if (phase === 'set') {
      const empty = workers.findIndex((w) => w.keys.length === 0);
      if (empty >= 0) throw new Error(`client ${empty} created no key in the create phase: nothing to set or read`);
      allKeys = workers.flatMap((w) => w.keys);
    }
    phases.push(await runClosedLoop({
      phase: o.label === undefined ? phase : `${o.label} ${phase}`, workers: workers.length, warmupSeconds: o.warmupSeconds, seconds: o.seconds, op: ops[phase],
      progress: o.progress, cpu: o.cpu, raft: o.raft, label: 'kv',
    }));
  }
  return { phases, ledger };
}

// ---------------------------------------------------------------- the check

export interface KvMismatch {
  path: string;
  /** Values the key may hold (the acknowledged one first). */
  expected: string[];
  /** What a linearizable get returned: the value, NO_NODE, or the error code. */
  actual: string;
}

export interface KvCheck {
  /** Keys whose create was acknowledged. */
  keys: number;
  checked: number;
  mismatches: KvMismatch[];
  mismatchCount: number;
}

/**
 * Reads back (linearizable `get`) every key whose create was acknowledged, or `sample` of them evenly
 * spread, and compares with the ledger: the key must exist and hold its last acknowledged value (or
 * the value of a write that failed after it, since such a write may have applied).
 */
export async function checkKv(driver: KvDriver, ledger: KvLedger, sample = Infinity): Promise<KvCheck> {
  const acked = [...ledger].filter(([, r]) => r.acked !== null);
  const n = Math.min(sample, acked.length);
  const targets = Array.from({ length: n }, (_, k) => acked[Math.floor((k * acked.length) / n)]);
  const mismatches: KvMismatch[] = [];
  let mismatchCount = 0;
  let next = 0;
  const reader = async () => {
    while (next < targets.length) {
      const [path, record] = targets[next++];
      const expected = [record.acked!, ...record.maybe];
      let actual: string;
      try {
        actual = (await driver.get(path)) ?? 'NO_NODE';
      } catch (e) {
        actual = errorCode(e);
      }
      if (!expected.includes(actual)) {
        mismatchCount++;
        if (mismatches.length < CHECK_MISMATCHES_KEPT) mismatches.push({ path, expected, actual });
      }
    }
  };
  await Promise.all(Array.from({ length: CHECK_CONCURRENCY }, reader));
  return { keys: acked.length, checked: targets.length, mismatches, mismatchCount };
}

// ---------------------------------------------------------------- the workload

interface SystemKv {
  phases: Array<PhaseResult & { label: string; system: SystemName; leader?: string }>;
  check: KvCheck;
}

async function runSystem(ctx: WorkloadContext, running: RunningSystem): Promise<SystemKv> {
  const { options, progress } = ctx;
  if (running.openKvDrivers === null) throw new Error(`${running.label} is not part of the kv workload`);
  const { drivers, close } = await running.openKvDrivers(options.clients + 1, KV_PARENT_PATHS);
  try {
    const raft = running.raftMeter ? await running.raftMeter() : undefined;
    const run = await runKv(drivers.slice(1), {
      seconds: options.seconds, warmupSeconds: options.warmupSeconds, progress, cpu: new CpuMeter(() => running.pids()), raft: raft?.meter, label: running.label,
    });
    progress.update(`kv ${running.label}: reading back ${formatCount(KV_CHECK_SAMPLE)} keys ...`);
    const check = await checkKv(drivers[0], run.ledger, KV_CHECK_SAMPLE);
    return { phases: run.phases.map((p) => ({ ...p, phase: p.phase.slice(running.label.length + 1), label: running.label, system: running.name, leader: raft?.leader })), check };
  } finally {
    await close();
  }
}

type KvPhaseResult = SystemKv['phases'][number];
/** One phase of one system: the median of its rounds (see medianPhase), with the range and the paired ratio. */
type Row = KvPhaseResult & { opsRange: string; ratio: string };

function chartOf(rows: readonly Row[], clients: number, rounds: number): Chart {
  const groups = (value: (r: Row) => number) => KV_PHASES.map((phase) => ({
    label: phase,
    values: rows.filter((r) => r.phase === phase).map((r) => ({ system: r.label, value: value(r) })),
  }));
  return {
    title: `kv: ${clients} clients, ${KV_VALUE_BYTES}-byte values${rounds > 1 ? `, median of ${rounds} rounds` : ''}`,
    panels: [
      { title: 'operations per second (higher is better)', format: formatCount, groups: groups((r) => r.opsPerSecond) },
      { title: 'p99 latency, ms (lower is better)', format: formatMs, groups: groups((r) => r.latency.p99Ms) },
    ],
  };
}

async function runWorkload(ctx: WorkloadContext): Promise<WorkloadResult> {
  const { rounds } = ctx.options;
  const runs: Array<SystemRun<SystemKv>> = await forEachSystem(ctx, (running) => runSystem(ctx, running));
  const rows: Row[] = KV_PHASES.flatMap((phase) => {
    const phasesOf = (system: string) => byRound(runs, system, rounds, (r) => r.phases.find((x) => x.phase === phase));
    const hikari = phasesOf('hikarikeeper');
    return firstRound(runs).map((r) => {
      const mine = phasesOf(r.system.name);
      const ops = present(mine).map((p) => p.opsPerSecond);
      return {
        ...medianPhase(present(mine)),
        opsRange: rangeText(ops, formatCount),
        ratio: pairedRatioText(hikari.map((p) => p?.opsPerSecond), mine.map((p) => p?.opsPerSecond ?? NaN), r.system.name === 'hikarikeeper'),
      };
    });
  });
  // Every round's phases (the records), and the same named by their round when there are several (the CPU and Raft loop tables).
  const perRound = runs.flatMap((r) => r.result.phases.map((p) => ({ ...p, round: r.round })));
  const named = perRound.map((p) => ({ ...p, phase: withRound(p.phase, p.round, rounds) }));
  const columns: Column<Row>[] = [
    PHASE_COLUMNS[0],
    { header: 'system', align: 'left', value: (r) => r.label },
    ...PHASE_COLUMNS.slice(1, 3),
    ...(rounds > 1 ? [{ header: 'ops/s range', value: (r: Row) => r.opsRange }] : []),
    ...PHASE_COLUMNS.slice(3),
    { header: 'HikariKeeper / this: ops/s', value: (r) => r.ratio },
  ];
  const tables: Table[] = [
    makeTable(columns, rows, rounds > 1 ? `Median of ${rounds} rounds (every system once per round, interleaved, on fresh servers); latencies: the rounds' median; "ops/s range": lowest–highest round; ratio: the median of the rounds' ratios, each round's HikariKeeper over that round's peer (their range):` : undefined),
    cpuTable<KvPhaseResult>({ header: 'phase', align: 'left', value: (r) => r.phase }, named),
  ];
  const hikari = named.filter((p) => p.system === 'hikarikeeper');
  if (hikari.length > 0) tables.push(makeTable(RAFT_LOOP_COLUMNS, hikari, `HikariKeeper: the leader's Raft loop (${hikari[0]?.leader ?? '?'}${rounds > 1 ? ' in round 1' : ''}, from its /metrics) in each measured interval:`));
  const failures = runs.flatMap((r) => r.result.check.mismatches.map((m) => `${withRound(r.system.label, r.round, rounds)}: ${m.path}: expected ${JSON.stringify(m.expected.map((v) => v.replace(/\.+$/, '')))}, got ${JSON.stringify(m.actual.replace(/\.+$/, ''))}`));
  const errorNotes = named.filter((p) => p.errors > 0).map((p) => `${p.label} ${p.phase}: errors by code ${JSON.stringify(p.errorCodes)}`);
  return {
    tables,
    records: perRound.map(({ label: _label, ...r }) => phaseRecord(r)),
    notes: [
      `"HikariKeeper / this": HikariKeeper's ops/s divided by this system's, same phase, same ${rounds > 1 ? 'round' : 'run'}. Linearizable get: HikariKeeper a read index confirmed by the leader; etcd a linearizable Range (its default); ZooKeeper sync() then getData. get-stale: HikariKeeper { stale: true }; etcd a serializable Range; ZooKeeper getData alone.`,
      'Who pays for durability:',
      ...durabilityNotes(firstRound(runs)),
      ...runs.map((r) => `check (${withRound(r.system.label, r.round, rounds)}): ${formatCount(r.result.check.checked)} of ${formatCount(r.result.check.keys)} acknowledged keys read back (linearizable): ${r.result.check.mismatchCount === 0 ? 'all hold their last acknowledged value' : `${r.result.check.mismatchCount} MISMATCHES`}`),
      ...errorNotes,
    ],
    failures,
    chart: chartOf(rows, ctx.options.clients, rounds),
  };
}

export const kvWorkload: Workload = {
  name: 'kv',
  summary: 'create / set / linearizable get / stale get / 90:10 mixed, 100-byte values, on HikariKeeper, etcd and ZooKeeper, same run',
  describe(o: BenchOptions): string {
    const fs = fileSystemType(tmpdir());
    return `kv: ${o.clients} clients (one connection each, one op at a time) against ${o.systems.map((s) => systemNamed(s).label).join(', then ')} (${o.nodes} servers each, on loopback, `
      + `data in ${tmpdir()}${fs ? `, ${fs}` : ''}), ${KV_VALUE_BYTES}-byte values, ${KV_PARENTS} parents; `
      + `${o.warmupSeconds} s warm-up + ${o.seconds} s measured per phase`;
  },
  run: (ctx) => runWorkload(ctx),
};
