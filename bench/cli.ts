/**
 * `npm run bench -- <workload> [--clients 64] [--seconds 10] [--warmup 2] [--out FILE] [--nodes 3] [--cpu-prof DIR]`
 *
 * Prints a header (what runs, on what machine), a status line while the workload runs, then its
 * table and notes, and appends one JSON line per row to `--out` (bench/results/<workload>.jsonl by
 * default); a workload that compares systems also writes its chart next to it (`<out>.svg`, the
 * latest run's). Exit codes: 0 done, 1 the run failed (an error, a failed check), 2 bad command line.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { renderSvg } from './lib/chart';
import { parseCommand, USAGE } from './lib/options';
import { appendResults, describeMachine, Progress, renderTable, runMetadata } from './lib/report';
import { WORKLOADS } from './workloads';

function listWorkloads(): string {
  const width = Math.max(...WORKLOADS.map((w) => w.name.length));
  return `workloads:\n${WORKLOADS.map((w) => `  ${w.name.padEnd(width)}  ${w.summary}`).join('\n')}`;
}

async function main(argv: readonly string[]): Promise<number> {
  const command = parseCommand(argv);
  if (command.kind === 'help') {
    console.log(`${USAGE}\n${listWorkloads()}`);
    return 0;
  }
  if (command.kind === 'error') {
    console.error(`bench: ${command.message}\n${USAGE}\n${listWorkloads()}`);
    return 2;
  }
  const workload = WORKLOADS.find((w) => w.name === command.workload);
  if (!workload) {
    console.error(`bench: unknown workload '${command.workload}'\n${listWorkloads()}`);
    return 2;
  }
  const { options } = command;
  const meta = runMetadata();
  const sharing = meta.cores < options.nodes + 1
    ? `only ${meta.cores} cores: the ${options.nodes} server processes and the load generator share them`
    : `the ${options.nodes} server processes and the load generator share these ${meta.cores} cores`;
  console.log(workload.describe(options));
  console.log(`${describeMachine(meta)}; ${sharing}`);
  console.log('');
  const progress = new Progress();
  const result = await workload.run({ options, progress });
  progress.clear();
  for (const table of result.tables) {
    for (const line of renderTable(table)) console.log(line);
    console.log('');
  }
  for (const note of result.notes) console.log(note);
  if (result.failures.length > 0) {
    console.error(`\nFAILED (results not recorded):\n${result.failures.map((f) => `  ${f}`).join('\n')}`);
    return 1;
  }
  const { out, cpuProfileDir, ...params } = options;
  if (cpuProfileDir !== null) console.log(`CPU profiles of the servers: ${cpuProfileDir}/n<id>.cpuprofile (profiling slows the servers: numbers not recorded)`);
  else {
    appendResults(out, workload.name, meta, params, result.records);
    console.log(`results appended to ${out}`);
    if (result.chart !== undefined) {
      const svg = chartPath(out);
      mkdirSync(dirname(svg), { recursive: true });
      writeFileSync(svg, renderSvg({ ...result.chart, subtitle: result.chart.subtitle ?? `${describeMachine(meta)}, ${meta.at.slice(0, 10)}` }));
      console.log(`chart written to ${svg}`);
    }
  }
  return 0;
}

/** bench/results/locks.jsonl → bench/results/locks.svg. */
function chartPath(out: string): string {
  return `${out.replace(/\.jsonl?$/, '')}.svg`;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`\nbench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exit(1);
  },
);
