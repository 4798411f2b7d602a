/**
 * Shared pieces of the drivers' tests against real peers (etcd, ZooKeeper): whether the peer can run
 * here (installed, or installable with apt-get), the exclusion check with a shared counter, and the
 * tests every lock and kv driver passes.
 */
import { errorCode } from '../closed-loop';
import { BenchLockDriver, BenchLockGrant, KvDriver, Opened } from '../drivers/types';
import { checkKv, KV_PARENT_PATHS, KV_PHASES, runKv } from '../../workloads/kv';
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

/**
 * The tests every peer's lock driver passes, registered in the caller's describe block: exclusion on a
 * few keys (8 workers), and a second acquire that queues until the holder releases.
 */
export function lockDriverTests(drivers: () => readonly BenchLockDriver[]): void {
  test('8 workers on 3 keys: never two holders of a key at once (shared counter), tokens strictly increasing per key', async () => {
    const run = await runExclusion(drivers().slice(0, 8), ['ex:a', 'ex:b', 'ex:c'], 25);
    expect(run).toEqual({ grants: 200, overlaps: 0, violations: [], maxHolders: 1 });
  });

  test('a second acquire waits until the holder releases, then gets a larger token', async () => {
    const [a, b] = drivers();
    const first = await a.acquire('queue', { waitMs: 5_000 });
    let granted = false;
    const second = b.acquire('queue', { waitMs: 5_000 }).then((g) => ((granted = true), g));
    await new Promise((r) => setTimeout(r, 300));
    expect(granted).toBe(false);
    await a.release(first);
    const g = await second;
    expect(g.token).toBeGreaterThan(first.token);
    await b.release(g);
  });
}

/**
 * The tests every peer's kv driver passes: create / set / get / getStale semantics, and a small run of
 * the kv workload's five phases whose acknowledged writes all read back. `open(n, parents)` opens n
 * drivers after creating the parents (where the system needs them).
 */
export function kvDriverTests(open: (n: number, parents: readonly string[]) => Promise<Opened<KvDriver>>): void {
  test('kv driver: create fails on an existing key, set overwrites, get (linearizable) and getStale read, null for a missing key', async () => {
    const { drivers: [kv], close } = await open(1, ['/t']);
    try {
      await kv.create('/t/a', 'one');
      expect(await kv.create('/t/a', 'two').then(() => 'created', errorCode)).toBe('NODE_EXISTS');
      await kv.set('/t/a', 'three');
      expect(await kv.get('/t/a')).toBe('three');
      expect(await kv.getStale('/t/a')).toBe('three');
      expect(await kv.get('/t/missing')).toBeNull();
    } finally {
      await close();
    }
  });

  test('a small kv run: every phase runs without errors and every acknowledged write reads back', async () => {
    const { drivers, close } = await open(5, KV_PARENT_PATHS);
    try {
      const run = await runKv(drivers.slice(1), { seconds: 0.3, warmupSeconds: 0 });
      expect(run.phases.map((p) => [p.phase, p.errors])).toEqual(KV_PHASES.map((p) => [p, 0]));
      for (const p of run.phases) expect(p.ops).toBeGreaterThan(0);
      const check = await checkKv(drivers[0], run.ledger);
      expect(check.mismatches).toEqual([]);
      expect(check.checked).toBeGreaterThanOrEqual(run.phases[0].ops);
    } finally {
      await close();
    }
  });
}
