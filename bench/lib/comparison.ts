/**
 * What the comparison workloads (locks, kv, failover) share: running each chosen system in turn
 * with the same load generator, the ratio to HikariKeeper, the CPU of each system's processes, and the
 * notes on who pays for durability.
 */
import { CpuShares, OTHER_LABEL, SELF_LABEL } from './cpu';
import { Column, formatCount, makeTable, Table } from './report';
import { systemNamed } from './systems';
import { BenchSystem, RunningSystem, withSystem } from './systems/types';
import { WorkloadContext } from './workload';

export interface SystemRun<T> {
  system: BenchSystem;
  /** "3 etcd 3.4.23 members". */
  description: string;
  result: T;
}

/** Starts each system of `--systems` in turn (one at a time: they do not share the machine), runs `body`, stops it. */
export async function forEachSystem<T>(ctx: WorkloadContext, body: (running: RunningSystem) => Promise<T>): Promise<Array<SystemRun<T>>> {
  const runs: Array<SystemRun<T>> = [];
  for (const name of ctx.options.systems) {
    const system = systemNamed(name);
    ctx.progress.update(`starting ${system.label} ...`);
    const startedAt = Date.now();
    const run = await withSystem(system, { nodes: ctx.options.nodes, cpuProfileDir: ctx.options.cpuProfileDir, warn: (l) => ctx.progress.print(l) }, async (running) => {
      ctx.progress.print(`${system.label}: ${running.description} up in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
      return { system, description: running.description, result: await body(running) };
    });
    runs.push(run);
  }
  return runs;
}

/** HikariKeeper's value divided by the peer's: "0.12×"; '' on HikariKeeper's own row, '-' when undefined. */
export function ratioText(hikari: number | undefined, peer: number, ownRow: boolean): string {
  if (ownRow) return '';
  if (hikari === undefined || !(peer > 0)) return '-';
  const r = hikari / peer;
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

/** The server processes' CPU (every label but the load generator's and the machine's rest): "etcd1 95 / etcd2 41 / etcd3 40". */
export function serverCpuText(cpu: CpuShares, leader?: string): string {
  const labels = Object.keys(cpu).filter((l) => l !== SELF_LABEL && l !== OTHER_LABEL).sort();
  if (labels.length === 0) return '-';
  return labels.map((l) => `${l}${l === leader ? '*' : ''} ${cpu[l].toFixed(0)}`).join(' / ');
}

function cpuOf(cpu: CpuShares, label: string): string {
  return cpu[label] === undefined ? '-' : cpu[label].toFixed(0);
}

/** The CPU table of a comparison: one row per measured interval, `first` naming it (scenario, phase). */
export function cpuTable<R extends { label: string; cpuPercent: CpuShares; leader?: string }>(first: Column<R>, rows: readonly R[]): Table {
  return makeTable<R>([
    first,
    { header: 'system', align: 'left', value: (r) => r.label },
    { header: 'CPU % of each server process', align: 'left', value: (r) => serverCpuText(r.cpuPercent, r.leader) },
    { header: 'bench', value: (r) => cpuOf(r.cpuPercent, SELF_LABEL) },
    { header: 'other', value: (r) => cpuOf(r.cpuPercent, OTHER_LABEL) },
  ], rows, 'CPU during each measured interval (% of one core; * = the leader; other = the rest of the machine):');
}

/** Who pays for durability, one line per system of the run. */
export function durabilityNotes(runs: ReadonlyArray<SystemRun<unknown>>): string[] {
  return runs.map((r) => `- ${r.system.durability} (${r.description}).`);
}

/** "12,345 HikariKeeper grants, 9,876 etcd grants". */
export function countsText(counts: ReadonlyArray<{ label: string; count: number }>, what: string): string {
  return counts.map((c) => `${formatCount(c.count)} ${c.label} ${what}`).join(', ');
}
