/**
 * One chaos run: a cluster behind link proxies, the workloads, then three phases —
 *   faults  nemeses drawn from the seed, one after another, while the workloads run;
 *   heal    every fault undone (links healed, paused nodes resumed, dead nodes restarted); the
 *           cluster must elect a leader and bring every member up to date within the recovery
 *           bound, and the workloads go on a few seconds on a healthy cluster;
 *   final   final reads (each workload's liveness checks), replicas compared, histories checked.
 * A failing run (or any run with `keep`) leaves its folder: the seed and options, the history,
 * the check reports, the server logs and an HTML timeline.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HikariClient } from '@hikarikeeper/client';
import { SeededRandom } from '@hikarikeeper/raft';
import { ChaosCluster } from './cluster';
import { Journal } from './journal';
import { NemesisContext, NemesisName, NEMESES, runNemesis } from './nemeses';
import { FaultNet } from './net/fault-net';
import { writeReport } from './report';
import { now, sleep } from './time';
import { LockWorkload } from './workloads/locks';
import { RegisterWorkload } from './workloads/register';
import { SessionWorkload } from './workloads/sessions';
import { WatchWorkload } from './workloads/watches';
import { CheckReport, Workload, WorkloadContext } from './workloads/workload';

export const WORKLOADS = ['register', 'locks', 'sessions', 'watches'] as const;
export type WorkloadName = (typeof WORKLOADS)[number];

/** Unsafe variants that a run can turn on, to prove that its checks catch what they should. */
export const UNSAFE = {
  /** The server serves linearizable reads without a read index (failpoint read-skip-read-index). */
  'stale-reads': 'the servers answer linearizable reads from local state (failpoint read-skip-read-index)',
  /** The lock workload's fenced resource accepts any token. */
  resource: 'the fenced resource of the lock workload does not check tokens',
  /** The watchers lose one event in 40 (a broken client). */
  'watch-loss': 'the watch workload\'s watchers lose one event in 40, as a broken client would',
  /** Live owners' ephemeral nodes get deleted behind their backs (a server that deletes them early). */
  'ephemeral-delete': 'a live owner\'s ephemeral node is deleted now and then, as a server that expires too early would',
} as const;
export type UnsafeName = keyof typeof UNSAFE;

export interface ChaosOptions {
  seed: number;
  /** Length of the fault phase (s). */
  durationS: number;
  nodes: 3 | 5;
  nemeses: readonly NemesisName[];
  workloads: readonly WorkloadName[];
  /** Session timeout of the workloads' clients (ms). */
  sessionTtlMs: number;
  /** Deadline of one client call (ms). */
  callTimeoutMs: number;
  /** Time allowed for the cluster to recover after the heal (ms), and for each final step. */
  recoveryMs: number;
  /** --snapshot-every of the servers: small, so that snapshots happen. */
  snapshotEvery: number;
  /** --client-retention-ms of the servers (short: idle clients are forgotten during the run); null: the default. */
  clientRetentionMs: number | null;
  /** Pause between two nemeses (ms): drawn in [gap, 2·gap]. */
  gapMs: number;
  unsafe: readonly UnsafeName[];
  /** Where the run's folder goes (a fresh temporary folder when absent). */
  dir?: string;
  /** Keep the folder even when the run passes. */
  keep: boolean;
  log(line: string): void;
}

export const DEFAULT_OPTIONS: Omit<ChaosOptions, 'log'> = {
  seed: 1, durationS: 60, nodes: 3, nemeses: NEMESES, workloads: WORKLOADS, sessionTtlMs: 3000, callTimeoutMs: 5000,
  recoveryMs: 60_000, snapshotEvery: 200, clientRetentionMs: null, gapMs: 1000, unsafe: [], keep: false,
};

export interface ChaosResult {
  readonly ok: boolean;
  readonly seed: number;
  readonly dir: string;
  /** Whether the folder was kept. */
  readonly kept: boolean;
  readonly reports: CheckReport[];
  /** Cluster-level failures: no recovery, diverging replicas, a nemesis that could not finish. */
  readonly failures: string[];
  readonly faults: { name: string; detail: string }[];
  readonly checked: number;
  readonly wallMs: number;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const started = now();
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), `hikari-chaos-${options.seed}-`));
  mkdirSync(dir, { recursive: true });
  const journal = new Journal();
  const net = new FaultNet(options.seed);
  const random = new SeededRandom(options.seed);
  const failures: string[] = [];
  const log = options.log;
  log(`chaos: seed ${options.seed}, ${options.nodes} nodes, ${options.durationS} s of faults (${options.nemeses.join(', ')}), workloads ${options.workloads.join(', ')}; folder ${dir}`);

  let cluster: ChaosCluster;
  try {
    cluster = await ChaosCluster.start({
      size: options.nodes, dir, clusterId: `chaos-${options.seed}`, net, snapshotEvery: options.snapshotEvery, clientRetentionMs: options.clientRetentionMs,
      failpoints: options.unsafe.includes('stale-reads') ? 'read-skip-read-index=on' : '',
    });
  } catch (e) {
    const failures = [`the cluster did not start: ${e instanceof Error ? e.message : String(e)}`];
    return { ok: false, seed: options.seed, dir, kept: true, reports: [], failures, faults: [], checked: 0, wallMs: now() - started };
  }
  const deadClients = new Set<string>();
  const ctxFor = (salt: number): WorkloadContext => ({
    endpoints: cluster.endpoints, clusterId: cluster.clusterId, journal, net, memberNames: () => cluster.memberNames, deadClients,
    sessionTtlMs: options.sessionTtlMs, callTimeoutMs: options.callTimeoutMs, recoveryMs: options.recoveryMs,
    random: new SeededRandom(options.seed * 31 + salt), unsafe: new Set(options.unsafe),
  });
  const workloads: Workload[] = [];
  let locks: LockWorkload | null = null;
  let reports: CheckReport[] = [];
  const faults: { name: string; detail: string }[] = [];
  const paused = new Set<number>();
  try {
    for (const name of options.workloads) {
      const ctx = ctxFor(workloads.length + 1);
      const w = name === 'register' ? new RegisterWorkload(ctx, 3, options.nodes) : name === 'locks' ? (locks = new LockWorkload(ctx, 4)) : name === 'sessions' ? new SessionWorkload(ctx) : new WatchWorkload(ctx);
      workloads.push(w);
      await w.start();
    }

    // Faults.
    journal.mark('faults');
    log(`faults for ${options.durationS} s`);
    const nemesis: NemesisContext = { cluster, net, journal, random, sessionTtlMs: options.sessionTtlMs, locks, paused, log };
    const faultsEnd = now() + options.durationS * 1000;
    await sleep(Math.min(2000, options.gapMs * 2));
    while (options.nemeses.length > 0 && now() < faultsEnd) {
      const name = options.nemeses[random.nextInt(options.nemeses.length)]!;
      try {
        const f = await runNemesis(name, nemesis);
        faults.push({ name, detail: f.detail });
      } catch (e) {
        failures.push(`nemesis ${name} could not complete: ${e instanceof Error ? e.message : String(e)}`);
        log(`nemesis ${name} failed: ${e instanceof Error ? e.message : String(e)}`);
        break;
      }
      await sleep(options.gapMs + random.nextInt(options.gapMs + 1));
    }
    if (options.nemeses.length === 0) await sleep(Math.max(0, faultsEnd - now()));

    // Heal.
    journal.mark('heal');
    log('heal');
    await heal(cluster, net, deadClients, paused);
    const recovered = await recover(cluster, options.recoveryMs);
    if (recovered !== null) failures.push(recovered);
    await sleep(3000); // the workloads go on, on a healthy cluster
    await Promise.all(workloads.map((w) => w.stop()));

    // Final reads, replicas, checks.
    journal.mark('final');
    log('final reads');
    await Promise.all(workloads.map(async (w) => {
      const t = now();
      await w.final();
      log(`final ${w.name}: ${Math.round(now() - t)} ms`);
    }));
    if (recovered === null) {
      const diverged = await compareReplicas(cluster, options.recoveryMs);
      if (diverged !== null) failures.push(diverged);
    }
    log('checking');
    reports = workloads.map((w) => w.check());
  } catch (e) {
    failures.push(`the run broke: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  } finally {
    await Promise.allSettled(workloads.map((w) => w.close()));
    await cluster.destroy();
  }

  const violations = reports.reduce((n, r) => n + r.violations.length, 0);
  const ok = failures.length === 0 && violations === 0;
  const checked = reports.reduce((n, r) => n + r.checked, 0);
  const result: ChaosResult = { ok, seed: options.seed, dir, kept: !ok || options.keep, reports, failures, faults, checked, wallMs: now() - started };
  if (result.kept) writeReport(dir, options, result, journal, workloads);
  else rmSync(dir, { recursive: true, force: true });
  return result;
}

/** Undoes every fault: links, paused and stopped nodes, armed failpoints (a restart disarms them). */
async function heal(cluster: ChaosCluster, net: FaultNet, deadClients: ReadonlySet<string>, paused: Set<number>): Promise<void> {
  net.heal();
  for (const c of deadClients) net.setAround(c, cluster.memberNames, { cut: true });
  for (const id of cluster.members) {
    cluster.resume(id);
    paused.delete(id);
    if (!cluster.isRunning(id)) cluster.restart(id);
    else {
      for (const point of ['raft-after-save', 'apply-before-reply']) await cluster.failpoint(id, point, 'off').catch(() => undefined);
    }
  }
}

/** A leader, and every member applied up to its commit index, within `timeoutMs`; null when so, else why not. */
async function recover(cluster: ChaosCluster, timeoutMs: number): Promise<string | null> {
  const deadline = now() + timeoutMs;
  try {
    for (;;) {
      const leader = await cluster.leader(Math.max(1, deadline - now()));
      const commit = (await cluster.status(leader))?.commitIndex;
      const statuses = await Promise.all(cluster.members.map((id) => cluster.status(id)));
      if (commit !== undefined && statuses.every((s) => s !== null && s.appliedIndex >= commit)) return null;
      if (now() > deadline) {
        return `the cluster did not recover within ${timeoutMs} ms of the heal: ${JSON.stringify(statuses.map((s) => s && { id: s.id, role: s.role, term: s.term, applied: s.appliedIndex, commit: s.commitIndex }))}`;
      }
      await sleep(200);
    }
  } catch (e) {
    return `the cluster did not recover within ${timeoutMs} ms of the heal: ${e instanceof Error ? e.message : String(e)}`;
  }
}

/** Paths whose content every replica must agree on at the end. */
const COMPARED_ROOTS = ['/chaos-register', '/chaos-locks', '/chaos-sessions', '/chaos-watch'];

/**
 * Each member, once it has applied everything the leader had committed, serves the same state:
 * every node under the workloads' roots, read locally (stale) from each member. Null when equal.
 */
async function compareReplicas(cluster: ChaosCluster, timeoutMs: number): Promise<string | null> {
  const leader = await cluster.leader(timeoutMs);
  const commit = (await cluster.status(leader))?.commitIndex ?? 0;
  const deadline = now() + timeoutMs;
  while (!(await Promise.all(cluster.members.map((id) => cluster.status(id)))).every((s) => s !== null && s.appliedIndex >= commit)) {
    if (now() > deadline) return `not every member applied index ${commit} within ${timeoutMs} ms`;
    await sleep(200);
  }
  const states: { id: number; state: string }[] = [];
  for (const slot of cluster.slots) {
    const client = await HikariClient.connect({ endpoints: [slot.client.address], clusterId: cluster.clusterId, session: false, clientId: `compare:${slot.nodeId}` });
    try {
      const lines: string[] = [];
      for (const root of COMPARED_ROOTS) {
        const root_ = await client.exists(root, { stale: true });
        if (root_ === null) continue;
        for await (const name of client.listChildren(root, { stale: true })) {
          const path = `${root}/${name}`;
          const node = await client.get(path, { stale: true }).catch(() => null);
          // Ephemeral nodes of sessions may still be expiring: compare what is durable.
          if (node !== null && node.stat.ephemeralOwner === null) lines.push(`${path}=${node.data.toString('utf8')}@v${node.stat.version}`);
        }
      }
      states.push({ id: slot.nodeId, state: lines.join('\n') });
    } finally {
      await client.close();
    }
  }
  const differing = states.filter((s) => s.state !== states[0]!.state);
  if (differing.length === 0) return null;
  return `replicas differ after the heal: node ${states[0]!.id} and node(s) ${differing.map((d) => d.id).join(', ')} (first difference: ${firstDifference(states[0]!.state, differing[0]!.state)})`;
}

function firstDifference(a: string, b: string): string {
  const x = a.split('\n');
  const y = b.split('\n');
  for (let i = 0; i < Math.max(x.length, y.length); i++) if (x[i] !== y[i]) return `${x[i] ?? '(none)'} vs ${y[i] ?? '(none)'}`;
  return '?';
}
