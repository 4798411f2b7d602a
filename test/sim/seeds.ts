import { runSimulation, SimOptions } from './simulation';

/** Runs seeds [from, to] and returns the failures as readable lines (seed, violations, replay command). */
export function failingSeeds(from: number, to: number, extra: Partial<SimOptions> = {}): string[] {
  const failures: string[] = [];
  for (let seed = from; seed <= to; seed++) {
    const r = runSimulation({ ...extra, seed });
    if (r.violations.length > 0) failures.push(`seed ${seed}: ${r.violations.join('; ')} (replay: npm run sim -- --seed ${seed})`);
  }
  return failures;
}
