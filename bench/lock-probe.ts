/**
 * `npm run bench:probe`: where a lock cycle's CPU goes, for comparing two commits. A 3-node cluster of
 * this checkout's build, W workers each acquiring and releasing locks on K names in a loop (the
 * `locks` workload of `npm run bench`, HikariKeeper only), and for the measured interval:
 *
 * - lock cycles per second (one cycle: an acquire and its release);
 * - CPU microseconds per cycle of each server and of this load generator, split by thread: `main`
 *   (the JavaScript event loop), `pool` (the other threads Node names 'node': libuv's thread pool,
 *   where RocksDB's reads and writes and their fsync run, and V8's compiler and GC helpers), `rocksdb`
 *   (its flushes and compactions), `other` (the profiler and anything else);
 * - the leader's Raft loop (Readys per second, entries per Ready, apply and storage write per Ready).
 *
 * CPU per cycle varies less than cycles per second from run to run, but both vary (about ±10 % and
 * ±20 % here): compare two commits by interleaving several runs of each (two checkouts, each built,
 * each running its own `bench/dist/lock-probe.js`, in turn).
 *
 * Options: --workers W (64), --keys K (10,000), --seconds S measured (15), --warmup S (10),
 * --cpu-prof DIR (every server writes DIR/n<id>.cpuprofile when it stops).
 * Thread figures come from /proc (Linux only).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { HikariClient } from '@hikarikeeper/client';
import { withCluster } from './lib/cluster';
import { statTicks, ticksPerSecond } from './lib/cpu';
import { RaftMeter } from './lib/raft-meter';
import { integer } from './lib/options';
import { formatCount, makeTable, renderTable } from './lib/report';

interface Options {
  workers: number;
  keys: number;
  seconds: number;
  warmup: number;
  cpuProf: string | null;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      workers: { type: 'string' }, keys: { type: 'string' }, seconds: { type: 'string' }, warmup: { type: 'string' },
      'cpu-prof': { type: 'string' },
    },
  });
  const int = (name: string, v: string | undefined, fallback: number, max: number): number => integer(name, v, fallback, 1, max);
  return {
    workers: int('workers', values.workers, 64, 1_000),
    keys: int('keys', values.keys, 10_000, 1_000_000),
    seconds: int('seconds', values.seconds, 15, 3_600),
    warmup: int('warmup', values.warmup, 10, 3_600),
    cpuProf: values['cpu-prof'] ?? null,
  };
}

type ThreadKind = 'main' | 'pool' | 'rocksdb' | 'other';

/** CPU ticks of each thread of `pid` so far, by thread id, with the thread's kind. */
function threadTicks(pid: number): Map<string, { kind: ThreadKind; ticks: number }> {
  const out = new Map<string, { kind: ThreadKind; ticks: number }>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      // libuv's pool threads (and V8's helpers) keep the process's name ('node'); RocksDB names its own 'rocksdb:...'.
      const kind: ThreadKind = tid === String(pid) ? 'main' : name === 'node' ? 'pool' : name.startsWith('rocksdb') ? 'rocksdb' : 'other';
      out.set(tid, { kind, ticks: statTicks(stat) });
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** CPU ticks used between two readings, by thread kind. */
function ticksByKind(before: Map<string, { kind: ThreadKind; ticks: number }>, after: Map<string, { kind: ThreadKind; ticks: number }>): Record<ThreadKind, number> {
  const sums: Record<ThreadKind, number> = { main: 0, pool: 0, rocksdb: 0, other: 0 };
  for (const [tid, a] of after) sums[a.kind] += Math.max(0, a.ticks - (before.get(tid)?.ticks ?? 0));
  return sums;
}

interface Row {
  process: string;
  total: number;
  main: number;
  pool: number;
  rocksdb: number;
  other: number;
  cpuPercent: number;
}

async function main(): Promise<void> {
  const o = options();
  await withCluster({ nodes: 3, cpuProfileDir: o.cpuProf }, async (cluster) => {
    const leaderId = await cluster.leader();
    const clients: HikariClient[] = [];
    try {
      for (let i = 0; i < o.workers; i++) clients.push(await HikariClient.connect({ endpoints: cluster.endpoints, clusterId: cluster.clusterId }));
      let cycles = 0;
      let measuring = false;
      let stop = false;
      const loops = clients.map(async (client, i) => {
        let n = i + 1;
        while (!stop) {
          n = (n * 1103515245 + 12345) % 2147483647;
          const grant = await client.locks.acquire(`k${n % o.keys}`, { waitMs: 10_000 });
          await client.locks.release(grant);
          if (measuring) cycles++;
        }
      });
      process.stdout.write(`lock probe: ${o.workers} workers, ${formatCount(o.keys)} keys; warming up ${o.warmup} s, then measuring ${o.seconds} s\n`);
      await new Promise((r) => setTimeout(r, o.warmup * 1000));
      const pids = [...cluster.pids(), ['bench', process.pid] as const];
      const before = new Map(pids.map(([label, pid]) => [label, threadTicks(pid)]));
      const meter = new RaftMeter(() => cluster.processes.nodes.find((n) => n.id === leaderId)!.admin);
      meter.begin();
      measuring = true;
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, o.seconds * 1000));
      measuring = false;
      const seconds = (performance.now() - t0) / 1000;
      const after = new Map(pids.map(([label, pid]) => [label, threadTicks(pid)]));
      const loop = await meter.end();
      stop = true;
      await Promise.allSettled(loops);

      const us = (ticks: number) => Math.round((ticks / ticksPerSecond() / Math.max(1, cycles)) * 1e6);
      const rows: Row[] = pids.map(([label]) => {
        const t = ticksByKind(before.get(label)!, after.get(label)!);
        const total = t.main + t.pool + t.rocksdb + t.other;
        const name = label === `n${leaderId}` ? `${label} (leader)` : label;
        return { process: name, total: us(total), main: us(t.main), pool: us(t.pool), rocksdb: us(t.rocksdb), other: us(t.other), cpuPercent: Math.round((total / ticksPerSecond() / seconds) * 100) };
      });
      const sum = (f: (r: Row) => number) => rows.reduce((a, r) => a + f(r), 0);
      rows.push({ process: 'all', total: sum((r) => r.total), main: sum((r) => r.main), pool: sum((r) => r.pool), rocksdb: sum((r) => r.rocksdb), other: sum((r) => r.other), cpuPercent: sum((r) => r.cpuPercent) });
      process.stdout.write(`\n${formatCount(Math.round(cycles / seconds))} cycles/s over ${seconds.toFixed(1)} s\n\n`);
      const table = makeTable<Row>([
        { header: 'process', align: 'left', value: (r) => r.process },
        { header: 'CPU µs / cycle', value: (r) => String(r.total) },
        { header: 'main', value: (r) => String(r.main) },
        { header: 'pool', value: (r) => String(r.pool) },
        { header: 'rocksdb', value: (r) => String(r.rocksdb) },
        { header: 'other', value: (r) => String(r.other) },
        { header: 'CPU % of a core', value: (r) => String(r.cpuPercent) },
      ], rows);
      for (const line of renderTable(table)) process.stdout.write(line + '\n');
      if (loop !== null) {
        process.stdout.write(`\nleader's Raft loop: ${loop.readiesPerSecond} Readys/s, ${loop.entriesPerReady} entries each; ` +
          `per Ready: ${loop.readyMs} ms handled, ${loop.applyMs} ms apply, ${loop.storageWriteMs} ms storage write; loop busy ${loop.loopBusyPercent} %\n`);
      }
    } finally {
      await Promise.allSettled(clients.map((c) => c.close()));
    }
  });
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
