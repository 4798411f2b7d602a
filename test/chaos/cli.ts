/**
 * `npm run chaos -- [options]`: fault injection against real server processes. Prints what each
 * nemesis did and each workload's check; exits 1 on any violation, leaving the run's folder.
 */
import { Command, InvalidArgumentError } from 'commander';
import { NEMESES, NEMESIS_HELP, NemesisName } from './nemeses';
import { replayCommand } from './report';
import { ChaosOptions, ChaosResult, DEFAULT_OPTIONS, runChaos, UNSAFE, UnsafeName, WORKLOADS, WorkloadName } from './run';

function integer(min: number, max: number) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`an integer in [${min}, ${max}]`);
    return n;
  };
}

function list<T extends string>(known: readonly T[], allowNone: boolean) {
  return (text: string): T[] => {
    if (text === 'all') return [...known];
    if (allowNone && text === 'none') return [];
    const items = text.split(',').map((s) => s.trim()).filter(Boolean);
    for (const item of items) if (!known.includes(item as T)) throw new InvalidArgumentError(`'${item}' is not one of ${known.join(', ')}`);
    if (items.length === 0) throw new InvalidArgumentError('an empty list');
    return items as T[];
  };
}

async function main(): Promise<void> {
  const program = new Command('chaos')
    .description('Fault injection against a real HikariKeeper cluster (Jepsen-style): nemeses from a seed, workloads whose histories are checked.')
    .option('--seed <n>', 'seed of the faults and operations', integer(0, 2 ** 31 - 1), DEFAULT_OPTIONS.seed)
    .option('--seeds <n>', 'run this many seeds, from --seed on', integer(1, 10_000), 1)
    .option('--duration <s>', 'seconds of faults', integer(1, 86_400), DEFAULT_OPTIONS.durationS)
    .option('--nodes <n>', '3 or 5 server processes', integer(3, 5), DEFAULT_OPTIONS.nodes)
    .option('--nemesis <list>', `comma-separated, 'all' or 'none': ${NEMESES.join(', ')}`, list(NEMESES, true), [...NEMESES])
    .option('--workload <list>', `comma-separated or 'all': ${WORKLOADS.join(', ')}`, list(WORKLOADS, false), [...WORKLOADS])
    .option('--session-ttl <ms>', 'session timeout of the clients', integer(1000, 60_000), DEFAULT_OPTIONS.sessionTtlMs)
    .option('--recovery <ms>', 'time the cluster has to recover after the heal', integer(1000, 600_000), DEFAULT_OPTIONS.recoveryMs)
    .option('--snapshot-every <n>', 'the servers\' --snapshot-every', integer(10, 1_000_000), DEFAULT_OPTIONS.snapshotEvery)
    .option('--client-retention <ms>', 'the servers\' --client-retention-ms (default: theirs, 24 h)', integer(1000, 2_592_000_000))
    .option('--gap <ms>', 'pause between two nemeses (drawn in [gap, 2 gap])', integer(0, 60_000), DEFAULT_OPTIONS.gapMs)
    .option('--unsafe <list>', `break something on purpose, to see the checks catch it: ${Object.keys(UNSAFE).join(', ')}`, list(Object.keys(UNSAFE) as UnsafeName[], true), [])
    .option('--out <dir>', 'the run\'s folder (default: a new temporary folder)')
    .option('--keep', 'keep the folder even when the run passes', false)
    .addHelpText('after', `\nNemeses:\n${NEMESES.map((n) => `  ${n.padEnd(20)}${NEMESIS_HELP[n]}`).join('\n')}\n\nUnsafe variants:\n${Object.entries(UNSAFE).map(([k, v]) => `  ${k.padEnd(20)}${v}`).join('\n')}`);
  program.parse(process.argv);
  const o = program.opts<{
    seed: number; seeds: number; duration: number; nodes: number; nemesis: NemesisName[]; workload: WorkloadName[]; sessionTtl: number;
    recovery: number; snapshotEvery: number; clientRetention?: number; gap: number; unsafe: UnsafeName[]; out?: string; keep: boolean;
  }>();
  if (o.nodes !== 3 && o.nodes !== 5) throw new InvalidArgumentError('--nodes must be 3 or 5');
  let failed = 0;
  let checked = 0;
  const started = performance.now();
  for (let seed = o.seed; seed < o.seed + o.seeds; seed++) {
    const options: ChaosOptions = {
      ...DEFAULT_OPTIONS, seed, durationS: o.duration, nodes: o.nodes, nemeses: o.nemesis, workloads: o.workload, sessionTtlMs: o.sessionTtl,
      recoveryMs: o.recovery, snapshotEvery: o.snapshotEvery, clientRetentionMs: o.clientRetention ?? null, gapMs: o.gap, unsafe: o.unsafe, keep: o.keep,
      dir: o.out === undefined ? undefined : o.seeds > 1 ? `${o.out}/seed-${seed}` : o.out,
      log: (line) => console.log(`[${((performance.now() - started) / 1000).toFixed(1).padStart(7)} s] ${line}`),
    };
    const result = await runChaos(options);
    print(result, options);
    checked += result.checked;
    if (!result.ok) failed++;
  }
  console.log(`${o.seeds} run(s), ${checked} items checked, ${failed} failed, in ${Math.round((performance.now() - started) / 1000)} s`);
  process.exit(failed > 0 ? 1 : 0);
}

function print(result: ChaosResult, options: ChaosOptions): void {
  const byName = new Map<string, number>();
  for (const f of result.faults) byName.set(f.name, (byName.get(f.name) ?? 0) + 1);
  console.log(`\nseed ${result.seed}: ${result.ok ? 'OK' : 'FAILED'} in ${Math.round(result.wallMs / 1000)} s; faults: ${[...byName].map(([n, c]) => `${n} ×${c}`).join(', ') || 'none'}`);
  console.log(`  ${'workload'.padEnd(10)}${'checked'.padStart(9)}  violations  what`);
  for (const r of result.reports) {
    console.log(`  ${r.workload.padEnd(10)}${String(r.checked).padStart(9)}  ${String(r.violations.length).padStart(10)}  ${r.unit}; ${r.notes.join('; ')}`);
    for (const v of r.violations.slice(0, 10)) console.log(`      VIOLATION ${v}`);
  }
  for (const f of result.failures) console.log(`  FAILURE ${f}`);
  if (result.kept) console.log(`  folder: ${result.dir} (summary.json, history.jsonl, timeline.html, logs/)`);
  if (!result.ok) console.log(`  replay: ${replayCommand(options)}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(2);
});
