import { BenchLockDriver } from '../drivers/types';
import { runExclusion } from './peer-tests';

describe('runExclusion (the drivers\' exclusion check)', () => {
  test('catches a "lock" that grants everyone at once, and tokens that do not increase', async () => {
    let token = 0;
    const broken: BenchLockDriver = {
      acquire: async (name) => ({ name, token: token++ % 3 }),
      release: async () => undefined,
    };
    const run = await runExclusion([broken, broken, broken, broken], ['k'], 10);
    expect(run.overlaps).toBeGreaterThan(0);
    expect(run.maxHolders).toBeGreaterThan(1);
    expect(run.violations.length).toBeGreaterThan(0);
  });
});
