/**
 * `npm run fuzz -- [--runs N] [--seed S] [--frames F]`: the protocol fuzz test (protocol-fuzz.ts)
 * for longer than `npm test` runs it. Prints the counts and exits 1 on a failure (with fast-check's
 * counterexample and the seed to replay it).
 */
import { resolve } from 'node:path';
import { parseArgs as parseNodeArgs } from 'node:util';
import { fuzzCluster } from './protocol-fuzz';

function parseArgs(argv: string[]): { runs: number; seed: number; frames: number } {
  const { values } = parseNodeArgs({ args: argv, options: { runs: { type: 'string' }, seed: { type: 'string' }, frames: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help === true) {
    console.log('usage: npm run fuzz -- [--runs N] [--seed S] [--frames F]');
    process.exit(0);
  }
  const count = (name: string, text: string | undefined, fallback: number): number => {
    const n = text === undefined ? fallback : Number(text);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} needs a non-negative integer`);
    return n;
  };
  return { runs: count('runs', values.runs, 2_000), seed: count('seed', values.seed, Date.now() % 2 ** 31), frames: count('frames', values.frames, 12) };
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
