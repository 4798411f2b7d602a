/**
 * `npm run bench -- kv`: the key-value basics against a cluster of real processes, through the SDK.
 * N clients (each its own HikariClient, so its own connection), each one operation at a time, run
 * five phases in order, each a warm-up then a measured interval:
 *
 *   create     fresh keys /bench/p<j mod 8>/w<client>-<j>, 100-byte values
 *   set        100-byte values over the keys the client created (each key has one writer)
 *   get        linearizable reads (a read index confirmed by the leader) of random created keys
 *   get-stale  reads answered by the connected node from its own state
 *   mixed      90 % linearizable get of a random key, 10 % set of one of the client's keys
 *
 * Every write's outcome goes in a ledger (path → last acknowledged value, plus the values of writes
 * that failed after it, which may or may not have applied), which `checkKv` compares with what
 * linearizable reads return at the end.
 */
import { cpus, tmpdir } from 'node:os';
import { ErrorCode, HikariClient, HikariError } from '@hikarikeeper/client';
import { formatCpu, phaseRecord, PhaseResult, PHASE_COLUMNS, RAFT_LOOP_COLUMNS, runClosedLoop } from '../lib/closed-loop';
import { BenchCluster, fileSystemType, withCluster } from '../lib/cluster';
import { CpuMeter, OTHER_LABEL, SELF_LABEL } from '../lib/cpu';
import { RaftMeter } from '../lib/raft-meter';
import { Column, formatCount, makeTable, Progress } from '../lib/report';
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

export interface KvTarget {
  endpoints: readonly string[];
  clusterId: string;
}

export interface KvRunOptions {
  clients: number;
  seconds: number;
  warmupSeconds: number;
  progress?: Progress;
  cpu?: CpuMeter;
  /** Watches the leader's Raft loop in each phase. */
  raft?: RaftMeter;
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
  /** The endpoint each client was connected to after connecting, and at the end (null: reconnecting). */
  connections: { atStart: Array<string | null>; atEnd: Array<string | null> };
}

interface Worker {
  client: HikariClient;
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

async function createParents(client: HikariClient): Promise<void> {
  for (const path of ['/bench', ...Array.from({ length: KV_PARENTS }, (_, i) => `/bench/p${i}`)]) {
    try {
      await client.create(path);
    } catch (e) {
      if (!HikariError.is(e, ErrorCode.NODE_EXISTS)) throw e;
    }
  }
}

/** Connects the clients, runs the five phases, closes the clients. */
export async function runKv(target: KvTarget, o: KvRunOptions): Promise<KvRun> {
  const clients = await Promise.all(
    Array.from({ length: o.clients }, () => HikariClient.connect({ session: false, endpoints: target.endpoints, clusterId: target.clusterId }).catch((e: unknown) => e)),
  );
  const failed = clients.find((c) => !(c instanceof HikariClient));
  if (failed !== undefined) {
    await Promise.allSettled(clients.map((c) => (c instanceof HikariClient ? c.close() : null)));
    throw failed;
  }
  const workers: Worker[] = (clients as HikariClient[]).map((client) => ({ client, keys: [], creates: 0, sets: 0, writes: 0 }));
  const ledger: KvLedger = new Map();
  const atStart = workers.map((w) => w.client.endpoint);
  try {
    await createParents(workers[0].client);
    let allKeys: string[] = [];
    const randomKey = () => allKeys[Math.floor(Math.random() * allKeys.length)];
    const set = async (w: number) => {
      const wk = workers[w];
      const path = wk.keys[wk.sets++ % wk.keys.length];
      const value = kvValue(`s${w}.${wk.writes++}`);
      await ledgered(ledger.get(path)!, value, () => wk.client.set(path, value));
    };
    const ops: Record<KvPhase, (w: number) => Promise<void>> = {
      create: async (w) => {
        const wk = workers[w];
        const j = wk.creates++;
        const path = kvPath(w, j);
        const value = kvValue(`c${w}.${wk.writes++}`);
        const record: KeyRecord = { acked: null, maybe: [] };
        ledger.set(path, record);
        await ledgered(record, value, () => wk.client.create(path, value));
        wk.keys.push(path);
      },
      set,
      get: async (w) => {
        await workers[w].client.get(randomKey());
      },
      'get-stale': async (w) => {
        await workers[w].client.get(randomKey(), { stale: true });
      },
      mixed: async (w) => {
        if (Math.random() < KV_MIXED_WRITE_SHARE) await set(w);
        else await workers[w].client.get(randomKey());
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
        phase, workers: workers.length, warmupSeconds: o.warmupSeconds, seconds: o.seconds, op: ops[phase],
        progress: o.progress, cpu: o.cpu, raft: o.raft, label: 'kv',
      }));
    }
    return { phases, ledger, connections: { atStart, atEnd: workers.map((w) => w.client.endpoint) } };
  } finally {
    await Promise.allSettled(workers.map((w) => w.client.close()));
  }
}

// ---------------------------------------------------------------- the check

export interface KvMismatch {
  path: string;
  /** Values the key may hold (the acknowledged one first). */
  expected: string[];
  /** What a linearizable get returned, or the error code. */
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
export async function checkKv(client: HikariClient, ledger: KvLedger, sample = Infinity): Promise<KvCheck> {
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
        actual = (await client.get(path)).data.toString('utf8');
      } catch (e) {
        if (!HikariError.is(e)) throw e;
        actual = e.code;
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

const cpuCores = () => cpus().length;

function clientsPerNode(endpoints: Array<string | null>, cluster: BenchCluster, leader: number): string {
  const counts = new Map<string, number>();
  for (const e of endpoints) {
    const id = e === null ? null : cluster.nodeOf(e);
    const label = id === null ? 'reconnecting' : `n${id}${id === leader ? ' (leader)' : ''}`;
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  return [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([l, n]) => `${l} ${n}`).join(', ');
}

async function runWorkload(ctx: WorkloadContext, cluster: BenchCluster): Promise<WorkloadResult> {
  const { options, progress } = ctx;
  const leaderAtStart = await cluster.leader();
  const cpu = new CpuMeter(() => cluster.pids());
  const raft = new RaftMeter(() => cluster.processes.node(leaderAtStart).admin);
  const run = await runKv(cluster, {
    clients: options.clients, seconds: options.seconds, warmupSeconds: options.warmupSeconds, progress, cpu, raft,
  });
  const leader = await cluster.leader();
  const checker = await HikariClient.connect({ session: false, endpoints: cluster.endpoints, clusterId: cluster.clusterId });
  let check: KvCheck;
  try {
    check = await checkKv(checker, run.ledger, KV_CHECK_SAMPLE);
  } finally {
    await checker.close();
  }
  const others = cluster.processes.nodes.map((n) => `n${n.id}`).filter((l) => l !== `n${leader}`);
  const cpuLabels = [`n${leader}`, ...others, SELF_LABEL, OTHER_LABEL];
  const columns: Column<PhaseResult>[] = [
    ...PHASE_COLUMNS,
    { header: `CPU % leader / ${others.length > 0 ? 'followers / ' : ''}bench / other`, value: (r) => formatCpu(r.cpuPercent, cpuLabels) },
  ];
  const notes = [
    `clients per node after connecting: ${clientsPerNode(run.connections.atStart, cluster, leaderAtStart)}; at the end: ${clientsPerNode(run.connections.atEnd, cluster, leader)}`,
    `CPU %: of one core (${cpuCores()} cores = ${cpuCores() * 100} %), during each measured interval: ${options.nodes > 1 ? `leader n${leader}, then ${others.join(', ')}, then ` : ''}the load generator, then everything else on the machine (other people's work: high values spoil the run)`,
    leader !== leaderAtStart ? `warning: the leader changed during the run (n${leaderAtStart} → n${leader})` : `leader: n${leader} throughout`,
    `check: ${formatCount(check.checked)} of ${formatCount(check.keys)} acknowledged keys read back (linearizable): ${check.mismatchCount === 0 ? 'all hold their last acknowledged value' : `${check.mismatchCount} MISMATCHES`}`,
  ];
  const failures = check.mismatches.map((m) => `${m.path}: expected ${JSON.stringify(m.expected.map((v) => v.replace(/\.+$/, '')))}, got ${JSON.stringify(m.actual.replace(/\.+$/, ''))}`);
  return {
    tables: [
      makeTable(columns, run.phases),
      makeTable(RAFT_LOOP_COLUMNS, run.phases, `the leader's Raft loop (n${leader}, from its /metrics) in each measured interval:`),
    ],
    records: run.phases.map((r) => ({ system: 'hikarikeeper', leader, ...phaseRecord(r) })),
    notes,
    failures,
  };
}

export const kvWorkload: Workload = {
  name: 'kv',
  summary: 'create / set / linearizable get / stale get / 90:10 mixed, through the SDK, 100-byte values',
  describe(o: BenchOptions): string {
    const fs = fileSystemType(tmpdir());
    return `kv: ${o.clients} clients (one connection each, one op at a time) against ${o.nodes} HikariKeeper server process${o.nodes === 1 ? '' : 'es'} on loopback `
      + `(RocksDB in ${tmpdir()}${fs ? `, ${fs}` : ''}), ${KV_VALUE_BYTES}-byte values, ${KV_PARENTS} parents; `
      + `${o.warmupSeconds} s warm-up + ${o.seconds} s measured per phase`;
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
