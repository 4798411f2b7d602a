/**
 * `npm run fuzz -- [--runs N] [--seed S] [--frames F]`: the protocol fuzz test (protocol-fuzz.ts)
 * for longer than `npm test` runs it. Prints the counts and exits 1 on a failure (with fast-check's
 * counterexample and the seed to replay it).
 */
import { resolve } from 'node:path';
import { fuzzCluster } from './protocol-fuzz';

function parseArgs(argv: string[]): { runs: number; seed: number; frames: number } {
  const out = { runs: 2_000, seed: Date.now() % 2 ** 31, frames: 12 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${flag} needs a non-negative integer`);
      return v;
    };
    if (flag === '--runs') out.runs = value();
    else if (flag === '--seed') out.seed = value();
    else if (flag === '--frames') out.frames = value();
    else if (flag === '--help' || flag === '-h') {
      console.log('usage: npm run fuzz -- [--runs N] [--seed S] [--frames F]');
      process.exit(0);
    } else throw new Error(`unknown flag ${flag}`);
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  console.log(`fuzzing a 3-node cluster: ${args.runs} connections of up to ${args.frames} frames, seed ${args.seed}`);
  const started = Date.now();
  const report = await fuzzCluster({
    seed: args.seed, runs: args.runs, framesMax: args.frames,
    serverScript: resolve(__dirname, '..', '..', '..', 'server', 'dist', 'main.js'),
    log: (line) => console.log(line),
  });
  const codes = Object.entries(report.codes).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ');
  console.log(`answers by code: ${codes}`);
  console.log(`ok: seed ${args.seed}, ${report.runs} connections, ${report.frames} frames, ${report.disconnects} disconnects, ${Math.round((Date.now() - started) / 1000)} s`);
}

main().then(() => process.exit(0), (e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  if (e instanceof Error && e.cause !== undefined) console.error(`cause: ${e.cause instanceof Error ? e.cause.message : String(e.cause)}`);
  process.exit(1);
});
