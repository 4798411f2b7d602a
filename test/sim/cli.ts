import { runSimulation, SimOptions, SimResult } from './simulation';

/**
 * `npm run sim -- --seeds N [--start S]` runs seeds S..S+N-1 and prints one summary line ending in
 * "N seeds, V violations"; `--seed S` replays one seed and prints its trace. Exit code 1 on any
 * violation, with the failing seeds in the output.
 */
function parseArgs(argv: string[]): { seeds: number; start: number; seed?: number; faultTicks?: number; quiet: boolean } {
  const out: { seeds: number; start: number; seed?: number; faultTicks?: number; quiet: boolean } = { seeds: 100, start: 1, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${flag} needs a non-negative integer`);
      return v;
    };
    if (flag === '--seeds') out.seeds = value();
    else if (flag === '--start') out.start = value();
    else if (flag === '--seed') out.seed = value();
    else if (flag === '--fault-ticks') out.faultTicks = value();
    else if (flag === '--quiet') out.quiet = true;
    else if (flag === '--help' || flag === '-h') {
      console.log('usage: npm run sim -- [--seeds N] [--start S] [--seed S] [--fault-ticks T] [--quiet]');
      process.exit(0);
    } else throw new Error(`unknown flag ${flag}`);
  }
  return out;
}

function summarize(r: SimResult): string {
  const s = r.stats;
  return `seed ${r.seed}: ${s.ticks} ticks (heal ${s.healTicks}), ${s.operations} ops (${s.gaveUp} gave up), ${s.committed} committed, ${s.leaders} leaders, ${s.crashes} crashes, ${s.partitions} partitions, ${s.confChanges} conf changes, ${s.snapshotsInstalled} snapshots, ${s.messages} msgs (${s.dropped} dropped), ${s.lockOps} lock ops (${s.lockGrants} grants, ${s.lockClientChecks} told to clients)`;
}

function main(): void {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(String((e as Error).message));
    process.exit(2);
  }
  const base: Omit<SimOptions, 'seed'> = { faultTicks: args.faultTicks };
  if (args.seed !== undefined) {
    const r = runSimulation({ ...base, seed: args.seed, trace: true });
    for (const line of r.trace) console.log(line);
    console.log(summarize(r));
    console.log(`1 seeds, ${r.violations.length > 0 ? 1 : 0} violations`);
    process.exit(r.violations.length > 0 ? 1 : 0);
  }
  const started = Date.now();
  const failed: SimResult[] = [];
  let ops = 0;
  let committed = 0;
  let lockOps = 0;
  let lockGrants = 0;
  let lockClientChecks = 0;
  for (let seed = args.start; seed < args.start + args.seeds; seed++) {
    const r = runSimulation({ ...base, seed });
    ops += r.stats.operations;
    committed += r.stats.committed;
    lockOps += r.stats.lockOps;
    lockGrants += r.stats.lockGrants;
    lockClientChecks += r.stats.lockClientChecks;
    if (r.violations.length > 0) {
      failed.push(r);
      console.log(`seed ${seed} FAILED:\n  ${r.violations.join('\n  ')}\n  replay: npm run sim -- --seed ${seed}`);
    } else if (!args.quiet && (seed - args.start) % 100 === 99) {
      console.log(`... ${seed - args.start + 1} seeds done (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    }
  }
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  const failing = failed.length > 0 ? ` (failing seeds: ${failed.map((r) => r.seed).join(', ')})` : '';
  console.log(`seeds ${args.start}..${args.start + args.seeds - 1} in ${secs} s, ${ops} client operations checked, ${lockOps} lock operations checked (${lockGrants} grants, ${lockClientChecks} grants/releases told to clients), ${committed} entries committed${failing}: ${args.seeds} seeds, ${failed.length} violations`);
  process.exit(failed.length > 0 ? 1 : 0);
}

main();
