import { BenchCluster, startCluster } from './lib/cluster';
import { HikariKeeperKvDriver, openHikariKeeperKvDrivers } from './lib/drivers/hikarikeeper-kv';
import { Opened } from './lib/drivers/types';
import { RaftMeter } from './lib/raft-meter';
import { checkKv, KV_PARENT_PATHS, KV_PHASES, kvValue, KvRun, runKv } from './workloads/kv';

/**
 * The kv driver on a small run (4 clients, ~1 s per phase) against 3 real server processes: the
 * numbers it reports are sane, and what it believes was acknowledged is what the cluster holds.
 */
describe('kv workload driver on a 3-node cluster of real processes', () => {
  let cluster: BenchCluster;
  let run: KvRun;
  let opened: Opened<HikariKeeperKvDriver>;
  let reader: HikariKeeperKvDriver;

  beforeAll(async () => {
    cluster = await startCluster({ nodes: 3 });
    const leader = await cluster.leader();
    const raft = new RaftMeter(() => cluster.processes.node(leader).admin);
    opened = await openHikariKeeperKvDrivers(cluster, 5, KV_PARENT_PATHS);
    reader = opened.drivers[0];
    run = await runKv(opened.drivers.slice(1), { seconds: 1, warmupSeconds: 0.2, raft });
  });

  afterAll(async () => {
    await opened?.close();
    await cluster?.stop();
  });

  test('runs every phase in order, each with positive throughput, no errors, and p50 ≤ p99 ≤ p999 ≤ max', () => {
    expect(run.phases.map((p) => p.phase)).toEqual([...KV_PHASES]);
    for (const p of run.phases) {
      expect({ phase: p.phase, errors: p.errors, codes: p.errorCodes }).toEqual({ phase: p.phase, errors: 0, codes: {} });
      expect(p.workers).toBe(4);
      expect(p.ops).toBeGreaterThan(0);
      expect(p.seconds).toBeGreaterThanOrEqual(1);
      expect(p.seconds).toBeLessThan(3);
      expect(p.opsPerSecond).toBeGreaterThan(0);
      expect(p.latency.count).toBe(p.ops);
      expect(p.latency.p50Ms).toBeGreaterThan(0);
      expect(p.latency.p50Ms).toBeLessThanOrEqual(p.latency.p99Ms);
      expect(p.latency.p99Ms).toBeLessThanOrEqual(p.latency.p999Ms);
      expect(p.latency.p999Ms).toBeLessThanOrEqual(p.latency.maxMs);
    }
  });

  test("the leader's Raft loop is measured from its metrics: writes go through Readys that carry entries", () => {
    for (const p of run.phases) expect(p.raftLoop).not.toBeNull();
    const create = run.phases[0].raftLoop!;
    expect(create.readiesPerSecond).toBeGreaterThan(0);
    expect(create.entriesPerReady).toBeGreaterThan(0);
    expect(create.proposalsPerSecond).toBeGreaterThan(0);
    expect(create.loopBusyPercent).toBeGreaterThan(0);
    expect(run.phases[3].raftLoop!.proposalsPerSecond).toBeLessThan(create.proposalsPerSecond); // stale reads propose nothing
  });

  test('every acknowledged create exists and holds the value of its last acknowledged write (linearizable get)', async () => {
    const created = [...run.ledger.values()].filter((r) => r.acked !== null);
    // Warm-up creates are in the ledger too, so at least the measured ones are.
    expect(created.length).toBeGreaterThanOrEqual(run.phases[0].ops);
    // The set and mixed phases did overwrite created values (tags: c = create, s = set).
    expect(created.filter((r) => r.acked!.startsWith('s')).length).toBeGreaterThan(0);
    const check = await checkKv(reader, run.ledger);
    expect(check.mismatches).toEqual([]);
    expect(check.checked).toBe(created.length);
  });

  test('the check catches a key that was never created and a key whose value differs from the ledger', async () => {
    const [path, record] = [...run.ledger].find(([, r]) => r.acked !== null)!;
    const ledger = new Map([
      [path, { acked: kvValue('not-what-was-written'), maybe: [] }],
      ['/bench/p0/never-created', { acked: kvValue('x'), maybe: [] }],
    ]);
    const check = await checkKv(reader, ledger);
    expect(check.mismatchCount).toBe(2);
    expect(check.mismatches.map((m) => m.actual).sort()).toEqual(['NO_NODE', record.acked].sort());
  });
});
