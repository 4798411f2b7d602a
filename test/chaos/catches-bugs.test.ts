/**
 * A harness that cannot catch anything is worthless. With the servers answering linearizable reads
 * from local state (the unsafe failpoint read-skip-read-index) the register check must report a
 * non-linearizable history; with a fenced resource that does not check tokens the lock checks must
 * report the lost updates that follow a holder paused past its session; with watchers that lose
 * events the watch check must report the missed changes; with live owners' ephemeral nodes deleted
 * behind their backs the session check must report a node gone while its session lived. The same
 * nemeses on the safe system pass in chaos.test.ts.
 */
import { rmSync } from 'node:fs';
import { DEFAULT_OPTIONS, runChaos } from './run';

jest.setTimeout(400_000);

test('stale reads, an unfenced resource, lost watch events and early-deleted ephemeral nodes are caught (within 3 runs of 20 s)', async () => {
  const caught = new Set<string>();
  const lines: string[] = [];
  for (let seed = 1; seed <= 3 && caught.size < 4; seed++) {
    const result = await runChaos({
      ...DEFAULT_OPTIONS, seed, durationS: 20, recoveryMs: 90_000, gapMs: 500,
      nemeses: ['partition', 'pause-holder'], unsafe: ['stale-reads', 'resource', 'watch-loss', 'ephemeral-delete'],
      log: (line) => lines.push(line),
    });
    rmSync(result.dir, { recursive: true, force: true }); // a run that catches something keeps its folder
    expect(result.failures).toEqual([]);
    for (const r of result.reports) if (r.violations.length > 0) caught.add(r.workload);
    lines.push(`seed ${seed}: ${result.reports.map((r) => `${r.workload} ${r.violations.length} violations`).join(', ')}`);
  }
  if (caught.size < 4) console.error(lines.join('\n'));
  expect([...caught].sort()).toEqual(['locks', 'register', 'sessions', 'watches']);
});
