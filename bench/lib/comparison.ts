/**
 * What the comparison workloads (locks, kv, failover) share: running each chosen system in turn
 * with the same load generator (in interleaved rounds, for locks and kv), the ratio to HikariKeeper,
 * the CPU of each system's processes, and the notes on who pays for durability.
 */
import { PhaseResult } from './closed-loop';
import { CpuShares, OTHER_LABEL, SELF_LABEL } from './cpu';
import { LatencySummary } from './latency';
import { Column, formatCount, makeTable, Table } from './report';
import { systemNamed } from './systems';
import { BenchSystem, RunningSystem, withSystem } from './systems/types';
import { WorkloadContext } from './workload';

export interface SystemRun<T> {
  system: BenchSystem;
  /** "3 etcd 3.4.23 members". */
  description: string;
  /** 1 for the first round (see forEachSystem). */
  round: number;
  result: T;
}

/**
 * Starts each system of `--systems` in turn (one at a time: they do not share the machine), runs
 * `body`, stops it; with `--rounds N`, does all of that N times, the systems interleaved (round 1: A,
 * B, C; round 2: A, B, C; ...), each round on fresh servers with fresh data. Runs come back in that
 * order. Interleaving matters on a machine whose speed drifts over minutes: the systems of one round
 * ran close together, so their ratio within the round is a fairer comparison than one run of each.
 */
export async function forEachSystem<T>(ctx: WorkloadContext, body: (running: RunningSystem) => Promise<T>): Promise<Array<SystemRun<T>>> {
  const runs: Array<SystemRun<T>> = [];
  const { rounds } = ctx.options;
  for (let round = 1; round <= rounds; round++) {
    for (const name of ctx.options.systems) {
      const system = systemNamed(name);
      const which = rounds > 1 ? `${system.label} (round ${round} of ${rounds})` : system.label;
      ctx.progress.update(`starting ${which} ...`);
      const startedAt = Date.now();
      const run = await withSystem(system, { nodes: ctx.options.nodes, cpuProfileDir: ctx.options.cpuProfileDir, warn: (l) => ctx.progress.print(l) }, async (running) => {
        ctx.progress.print(`${which}: ${running.description} up in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
        return { system, description: running.description, round, result: await body(running) };
      });
      runs.push(run);
    }
  }
  return runs;
}

/** The runs of the first round: one per system, in `--systems` order (the notes need one of each). */
export function firstRound<T>(runs: ReadonlyArray<SystemRun<T>>): Array<SystemRun<T>> {
  return runs.filter((r) => r.round === 1);
}

// ---------------------------------------------------------------- rounds

/** The middle value; the mean of the two middle ones for an even count; NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** "1,850–2,010": the lowest and highest of `values`; '' for fewer than two. */
export function rangeText(values: readonly number[], format: (n: number) => string): string {
  if (values.length < 2) return '';
  return `${format(Math.min(...values))}–${format(Math.max(...values))}`;
}

function ratioNumber(r: number): string {
  return r >= 10 ? r.toFixed(1) : r.toFixed(2);
}

function ratio(r: number): string {
  return `${ratioNumber(r)}×`;
}

/**
 * HikariKeeper's value divided by the peer's, paired by round (index i of both lists is round i + 1):
 * the median of the rounds' ratios, and with several rounds their range, "0.15× (0.13–0.17×)". A
 * round where either value is missing or the peer's is not positive is left out; '-' when none is
 * left, '' on HikariKeeper's own row.
 */
export function pairedRatioText(hikari: ReadonlyArray<number | undefined>, peer: readonly number[], ownRow: boolean): string {
  if (ownRow) return '';
  const ratios: number[] = [];
  peer.forEach((p, i) => {
    const h = hikari[i];
    if (h !== undefined && p > 0) ratios.push(h / p);
  });
  if (ratios.length === 0) return '-';
  const range = ratios.length > 1 ? ` (${rangeText(ratios, ratioNumber)}×)` : '';
  return `${ratio(median(ratios))}${range}`;
}

/**
 * One phase's results over the rounds, as one: ops/s and each latency figure the median of the
 * rounds' (so "p99" is the median of the rounds' p99s), counts (ops, errors, seconds) summed, error
 * codes merged. One round gives that round back unchanged.
 */
export function medianPhase<P extends PhaseResult>(rounds: readonly P[]): P {
  if (rounds.length === 1) return rounds[0];
  if (rounds.length === 0) throw new Error('medianPhase: no rounds');
  const errorCodes: Record<string, number> = {};
  for (const p of rounds) for (const [code, n] of Object.entries(p.errorCodes)) errorCodes[code] = (errorCodes[code] ?? 0) + n;
  const sum = (f: (p: P) => number) => rounds.reduce((a, p) => a + f(p), 0);
  return {
    ...rounds[0],
    ops: sum((p) => p.ops),
    errors: sum((p) => p.errors),
    errorCodes,
    seconds: sum((p) => p.seconds),
    opsPerSecond: Math.round(median(rounds.map((p) => p.opsPerSecond))),
    latency: medianLatency(rounds.map((p) => p.latency)),
  };
}

/** Latency summaries of several rounds as one: each quantile and the mean the rounds' median; count summed; min and max over all. */
export function medianLatency(rounds: readonly LatencySummary[]): LatencySummary {
  if (rounds.length === 1) return rounds[0];
  const m = (f: (l: LatencySummary) => number) => median(rounds.map(f));
  return {
    count: rounds.reduce((a, l) => a + l.count, 0),
    minMs: Math.min(...rounds.map((l) => l.minMs)),
    meanMs: m((l) => l.meanMs),
    p50Ms: m((l) => l.p50Ms),
    p99Ms: m((l) => l.p99Ms),
    p999Ms: m((l) => l.p999Ms),
    maxMs: Math.max(...rounds.map((l) => l.maxMs)),
  };
}

/**
 * The rounds of one system, each as `pick` finds it in that round's result, indexed by round - 1
 * (undefined for a round without it).
 */
export function byRound<T, P>(runs: ReadonlyArray<SystemRun<T>>, system: string, rounds: number, pick: (result: T) => P | undefined): Array<P | undefined> {
  const out: Array<P | undefined> = Array.from({ length: rounds }, () => undefined);
  for (const r of runs) if (r.system.name === system) out[r.round - 1] = pick(r.result);
  return out;
}

/** The defined values of `list`. */
export function present<P>(list: ReadonlyArray<P | undefined>): P[] {
  return list.filter((p): p is P => p !== undefined);
}

/** Names a per-round row ("A, round 2") when there are several rounds; the name alone otherwise. */
export function withRound(name: string, round: number, rounds: number): string {
  return rounds > 1 ? `${name}, round ${round}` : name;
}

/** HikariKeeper's value divided by the peer's: "0.12×"; '' on HikariKeeper's own row, '-' when undefined. */
export function ratioText(hikari: number | undefined, peer: number, ownRow: boolean): string {
  if (ownRow) return '';
  if (hikari === undefined || !(peer > 0)) return '-';
  return ratio(hikari / peer);
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
