/**
 * A real etcd cluster for a benchmark or a test: N members (Debian's etcd-server, etcd 3.4, installed
 * with apt-get if missing), each its own process on loopback ports of its own (client + peer), data in
 * a fresh temporary folder removed at the end. Settings are etcd's defaults but for the addresses and
 * the logger (zap, warnings only, to stderr): every write is in the WAL, fsynced on a majority before
 * it is acknowledged; heartbeat 100 ms, election timeout 1,000 ms.
 *
 * For failover: `leader()` (from every running member's /metrics), `kill(member)` (SIGKILL: a crash),
 * `restart(member)` (same data folder and ports: it rejoins as the member it was), `ready()`.
 * Only the processes started here are ever signalled (peer-process.ts guards them).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDebianPackage } from './debian';
import { PeerGroup, PeerProcess, waitFor } from './peer-process';
import { PEER_HOST, withFreePorts } from './ports';

/** Time for a started cluster to elect a leader and answer /health. */
export const ETCD_START_TIMEOUT_MS = 30_000;
/** Timeout of one /metrics or /health probe. */
const PROBE_TIMEOUT_MS = 1_000;

export interface EtcdMember {
  /** 'etcd1', 'etcd2', ...: its etcd name and its label in CPU tables. */
  readonly name: string;
  /** Client address, 'host:port' (what etcd3 and gRPC clients dial). */
  readonly endpoint: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly process: PeerProcess;
}

export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  /** Every member's client address, 'host:port'. */
  readonly endpoints: string[];
  /** "etcd 3.4.23". */
  readonly version: string;
  readonly dataDir: string;
  /** Pids of the running members, by name. */
  pids(): Map<string, number>;
  /** Waits until exactly one running member says it leads and a majority of members are running; returns it. */
  leader(timeoutMs?: number): Promise<EtcdMember>;
  /** Waits until every running member answers /health with true (it has a leader and serves a quorum read). */
  ready(timeoutMs?: number): Promise<void>;
  member(name: string): EtcdMember;
  /** SIGKILL (a crash) and wait for the exit. */
  kill(name: string): Promise<void>;
  /** Starts a killed member again on its data and ports. */
  restart(name: string): void;
  /** Stops every member and removes the data; idempotent. */
  stop(): Promise<void>;
}

export interface EtcdClusterOptions {
  /** Default 3. */
  members?: number;
  /** The etcd program. Default: found on PATH (installed with apt-get from etcd-server if missing). */
  binary?: string;
}

export async function startEtcd(opts: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  const size = opts.members ?? 3;
  if (!Number.isInteger(size) || size < 1 || size > 7) throw new Error(`an etcd cluster of ${size} members is not supported (1 to 7)`);
  const binary = opts.binary ?? ensureDebianPackage('etcd', 'etcd-server');
  const version = etcdVersion(binary);
  return withFreePorts(2 * size, (ports) => startOnce(binary, version, size, ports));
}

function etcdVersion(binary: string): string {
  try {
    const out = execFileSync(binary, ['--version'], { encoding: 'utf8', timeout: 5_000 });
    return `etcd ${/etcd Version:\s*(\S+)/.exec(out)?.[1] ?? '(unknown version)'}`;
  } catch {
    return 'etcd (unknown version)';
  }
}

async function startOnce(binary: string, version: string, size: number, ports: number[]): Promise<EtcdCluster> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hk-etcd-'));
  const group = new PeerGroup('etcd cluster', dataDir, true);
  const specs = Array.from({ length: size }, (_, i) => ({
    name: `etcd${i + 1}`,
    clientUrl: `http://${PEER_HOST}:${ports[2 * i]}`,
    peerUrl: `http://${PEER_HOST}:${ports[2 * i + 1]}`,
    endpoint: `${PEER_HOST}:${ports[2 * i]}`,
  }));
  const initialCluster = specs.map((s) => `${s.name}=${s.peerUrl}`).join(',');
  const token = `hk-bench-${process.pid}-${Date.now().toString(36)}`;
  // etcd reads ETCD_* variables as flags: the benchmark's own environment must not configure it.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCD_')));
  const members: EtcdMember[] = specs.map((s) => {
    const dir = join(dataDir, s.name);
    mkdirSync(dir, { recursive: true });
    const process = group.add(s.name, binary, [
      '--name', s.name, '--data-dir', join(dir, 'data'),
      '--listen-client-urls', s.clientUrl, '--advertise-client-urls', s.clientUrl,
      '--listen-peer-urls', s.peerUrl, '--initial-advertise-peer-urls', s.peerUrl,
      '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', token,
      '--logger', 'zap', '--log-outputs', 'stderr', '--log-level', 'warn',
    ], { cwd: dir, env });
    return { ...s, process };
  });

  const member = (name: string) => {
    const m = members.find((x) => x.name === name);
    if (m === undefined) throw new Error(`no etcd member ${name}`);
    return m;
  };
  const running = () => members.filter((m) => m.process.running);
  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.endpoint),
    version,
    dataDir,
    pids: () => group.pids(),
    member,
    async leader(timeoutMs = ETCD_START_TIMEOUT_MS) {
      return waitFor('etcd leader', async () => {
        const live = running();
        if (live.length <= size / 2) return null;
        const metrics = await Promise.all(live.map((m) => leaderMetrics(m.clientUrl)));
        const leaders = live.filter((_, i) => metrics[i]?.isLeader === true);
        return leaders.length === 1 && metrics.every((x) => x?.hasLeader === true) ? leaders[0] : null;
      }, timeoutMs);
    },
    async ready(timeoutMs = ETCD_START_TIMEOUT_MS) {
      await waitFor('etcd members healthy', async () => ((await Promise.all(running().map((m) => healthy(m.clientUrl)))).every(Boolean) ? true : null), timeoutMs);
    },
    kill: (name) => member(name).process.kill('SIGKILL'),
    restart: (name) => member(name).process.start(),
    stop: () => group.stop(),
  };

  await group.startAll((failed) => waitFor('etcd cluster start', async () => ((await Promise.all(members.map((m) => healthy(m.clientUrl)))).every(Boolean) ? true : null), ETCD_START_TIMEOUT_MS, failed));
  return cluster;
}

/** `etcd_server_is_leader` and `etcd_server_has_leader` from a member's /metrics, or null if it does not answer. */
async function leaderMetrics(clientUrl: string): Promise<{ isLeader: boolean; hasLeader: boolean } | null> {
  try {
    const res = await fetch(`${clientUrl}/metrics`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    if (!res.ok) return null;
    const text = await res.text();
    const gauge = (name: string) => new RegExp(`^${name} 1$`, 'm').test(text);
    return { isLeader: gauge('etcd_server_is_leader'), hasLeader: gauge('etcd_server_has_leader') };
  } catch {
    return null;
  }
}

async function healthy(clientUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    return res.ok && ((await res.json()) as { health?: unknown }).health === 'true';
  } catch {
    return false;
  }
}
