/**
 * The short chaos run of `npm test`: a 3-node cluster of real processes behind the link proxies,
 * every workload, a few nemeses from a fixed seed for 30 s, then heal and final checks. The bounds
 * (recovery, session expiry) are generous: this is about correctness on a loaded machine, not
 * speed. A failure prints the folder it left (history, timeline, server logs) and the replay command.
 */
import { replayCommand } from './report';
import { DEFAULT_OPTIONS, runChaos } from './run';

jest.setTimeout(300_000);

test('30 s of kills, pauses, partitions, crashes at failpoints and a paused lock holder: no violation, and the cluster recovers', async () => {
  const lines: string[] = [];
  const options = {
    ...DEFAULT_OPTIONS, seed: 20260101, durationS: 30, recoveryMs: 90_000,
    nemeses: ['kill', 'pause', 'partition', 'crash-after-save', 'crash-before-reply', 'pause-holder'] as const,
    log: (line: string) => lines.push(line),
  };
  const result = await runChaos(options);
  const explain = [...lines, ...result.failures, ...result.reports.flatMap((r) => r.violations.map((v) => `${r.workload}: ${v}`)),
    `folder: ${result.dir}`, `replay: ${replayCommand(options)}`].join('\n');
  if (!result.ok) console.error(explain);
  expect(result.failures).toEqual([]);
  expect(result.reports.flatMap((r) => r.violations)).toEqual([]);
  expect(result.ok).toBe(true);
  // The run did something: faults happened and every workload checked operations.
  expect(result.faults.length).toBeGreaterThanOrEqual(3);
  for (const r of result.reports) expect(r.checked).toBeGreaterThan(0);
});
