/**
 * Shared pieces of the drivers' tests against real peers (etcd, ZooKeeper): whether the peer can run
 * here (installed, or installable with apt-get), and the exclusion check with a shared counter.
 */
import { BenchLockDriver, BenchLockGrant } from '../drivers/types';
import { LockLedger } from '../../workloads/locks';

/**
 * `ensure()` (which installs the peer with apt-get if it is missing) as a describe block's guard: the
 * describe to use, and why it is skipped. Only a peer that cannot be installed skips its tests, with
 * the installer's error printed.
 */
export function describeIfInstallable(what: string, ensure: () => unknown): jest.Describe {
  try {
    ensure();
    return describe;
  } catch (e) {
    // eslint-disable-next-line no-console
    console.warn(`SKIPPED: the ${what} tests need ${what}, which cannot be installed here: ${e instanceof Error ? e.message : String(e)}`);
    return describe.skip;
  }
}

export interface ExclusionRun {
  /** Grants seen. */
  grants: number;
  /** Times a worker found the key's counter not at 0 when granted, or not at 1 before releasing. */
  overlaps: number;
  /** The ledger's violations (two holders, tokens not increasing). */
  violations: string[];
  /** Most holders of one key seen at once (1 when the lock works). */
  maxHolders: number;
}

/**
 * `cycles` acquire + release cycles per driver on `keys` keys, all drivers at once, each holding the
 * lock for a random 0–2 ms: a shared counter per key (incremented after the grant, decremented before
 * the release) must never exceed 1; the ledger checks token order.
 */
export async function runExclusion(drivers: readonly BenchLockDriver[], keys: readonly string[], cycles: number): Promise<ExclusionRun> {
  const counters = new Map<string, number>(keys.map((k) => [k, 0]));
  const ledger = new LockLedger();
  let overlaps = 0;
  let maxHolders = 0;
  await Promise.all(drivers.map(async (driver) => {
    for (let i = 0; i < cycles; i++) {
      const key = keys[Math.floor(Math.random() * keys.length)];
      const grant: BenchLockGrant = await driver.acquire(key, { waitMs: 20_000 });
      ledger.granted(key, grant.token);
      const holders = counters.get(key)! + 1;
      counters.set(key, holders);
      maxHolders = Math.max(maxHolders, holders);
      if (holders !== 1) overlaps++;
      await new Promise((r) => setTimeout(r, Math.random() * 2));
      if (counters.get(key) !== 1) overlaps++;
      counters.set(key, counters.get(key)! - 1);
      ledger.releasing(key, grant.token);
      await driver.release(grant);
    }
  }));
  return { grants: ledger.grants, overlaps, violations: ledger.violations, maxHolders };
}
