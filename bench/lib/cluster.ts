/**
 * A HikariKeeper cluster of real server processes for a benchmark: the project's own build
 * (`server/dist/main.js`), free loopback ports, data in a fresh temporary folder (removed at the end).
 *
 * Only the processes started here are ever signalled. They are stopped by `stop()`, and also when the
 * benchmark is interrupted (SIGINT, SIGTERM: the clusters are stopped, then the process exits with
 * 128 + signal) or exits without stopping them (SIGKILL, synchronously, from the 'exit' handler).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ProcessCluster, ProcessNode } from '@hikarikeeper/server/dist/tools/process-cluster';
import { guard } from './exit-guard';

/** Time for the cluster to elect a leader after its processes start. */
export const LEADER_WAIT_MS = 30_000;
/** Time each server gets to stop gracefully (SIGTERM) before SIGKILL. */
export const STOP_GRACE_MS = 5_000;
/** Log lines of each node shown when the cluster fails to start or a node dies. */
const TAIL_LINES = 20;

export interface BenchClusterOptions {
  /** Number of server processes (voters). */
  nodes: number;
  /** Extra flags for every server, e.g. ['--snapshot-every', '100000']. */
  extraArgs?: string[];
  /**
   * Run every server under the CPU profiler (bench/dist/lib/profiled-server.js, so from the built
   * CLI only); each writes <dir>/n<id>.cpuprofile when it stops.
   */
  cpuProfileDir?: string | null;
  /** Told when a node exits while the cluster is meant to be running (a crash under load). */
  onUnexpectedExit?: (node: ProcessNode, code: number | null, signal: NodeJS.Signals | null) => void;
}

export interface BenchCluster {
  readonly processes: ProcessCluster;
  readonly clusterId: string;
  /** Client addresses, 'host:port', one per node. */
  readonly endpoints: string[];
  /** The temporary folder holding every node's data. */
  readonly dataDir: string;
  /** Waits for (and returns) the id of the node every running node agrees leads. */
  leader(timeoutMs?: number): Promise<number>;
  /** The node id whose client address is `endpoint`, or null. */
  nodeOf(endpoint: string): number | null;
  /** Pids of the running server processes, by label 'n<id>'. */
  pids(): Map<string, number>;
  /** Stops every process this cluster started and removes its data; idempotent. */
  stop(): Promise<void>;
}

/** The environment variable that tells profiled-server.ts where to write its profile. */
export const PROFILE_DIR_ENV = 'HIKARI_BENCH_CPU_PROF_DIR';

/** The server's entry point in this checkout's build. */
export function serverScript(): string {
  const script = join(dirname(require.resolve('@hikarikeeper/server/package.json')), 'dist', 'main.js');
  if (!existsSync(script)) throw new Error(`${script} is missing: build the project first (npx tsc -b)`);
  return script;
}

/** The file system type of `dir` ('ext4', 'tmpfs', ...), or null: fsync costs depend on it. */
export function fileSystemType(dir: string): string | null {
  const run = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2000 }).trim() || null;
    } catch {
      return null;
    }
  };
  // `stat -f` names ext4 'ext2/ext3' (same magic number); findmnt reads the mount table.
  return run('findmnt', ['-n', '-o', 'FSTYPE', '-T', dir]) ?? run('stat', ['-f', '-c', '%T', dir]);
}

/** The profiling entry point; the servers, started after this, inherit where to write. */
function profiledServerScript(dir: string): string {
  const script = join(__dirname, 'profiled-server.js');
  if (!existsSync(script)) throw new Error(`${script} is missing: CPU profiles need the built bench (npm run bench)`);
  mkdirSync(dir, { recursive: true });
  process.env[PROFILE_DIR_ENV] = resolve(dir);
  return script;
}

/** Starts the cluster and waits for a leader; on failure stops what it started and throws with the nodes' last log lines. */
export async function startCluster(opts: BenchClusterOptions): Promise<BenchCluster> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hk-bench-'));
  const clusterId = `bench-${process.pid}-${Date.now().toString(36)}`;
  let processes: ProcessCluster;
  try {
    const script = opts.cpuProfileDir ? profiledServerScript(opts.cpuProfileDir) : serverScript();
    processes = await ProcessCluster.create({ size: opts.nodes, baseDir: dataDir, clusterId, serverScript: script, extraArgs: opts.extraArgs });
  } catch (e) {
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  let stopping = false;
  let stopped: Promise<void> | null = null;
  const cluster: BenchCluster = {
    processes,
    clusterId,
    endpoints: processes.endpoints,
    dataDir,
    leader: (timeoutMs = LEADER_WAIT_MS) => processes.waitForLeader(timeoutMs),
    nodeOf: (endpoint) => processes.nodes.find((n) => n.client === endpoint)?.id ?? null,
    pids() {
      const pids = new Map<string, number>();
      for (const n of processes.nodes) if (n.process?.pid !== undefined && processes.isRunning(n.id)) pids.set(`n${n.id}`, n.process.pid);
      return pids;
    },
    stop() {
      stopping = true;
      stopped ??= (async () => {
        try {
          for (const n of processes.nodes) processes.signal(n.id, 'SIGCONT'); // a paused node cannot handle SIGTERM
          await processes.stopAll(STOP_GRACE_MS);
        } finally {
          unguard();
          rmSync(dataDir, { recursive: true, force: true });
        }
      })();
      return stopped;
    },
  };
  const unguard = guard({
    what: 'benchmark cluster',
    stop: () => cluster.stop(),
    killNow() {
      for (const n of processes.nodes) if (processes.isRunning(n.id)) n.process?.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    },
  });
  processes.startAll();
  for (const n of processes.nodes) {
    n.process?.once('exit', (code, signal) => {
      if (!stopping) opts.onUnexpectedExit?.(n, code, signal);
    });
  }
  try {
    await cluster.leader();
  } catch (e) {
    const tails = processes.nodes.map((n) => `--- n${n.id} ---\n${processes.tail(n.id, TAIL_LINES)}`).join('\n');
    await cluster.stop();
    throw new Error(`the cluster did not start: ${e instanceof Error ? e.message : String(e)}\n${tails}`);
  }
  return cluster;
}

/** Runs `body` with a started cluster, which is stopped however `body` ends. */
export async function withCluster<T>(opts: BenchClusterOptions, body: (cluster: BenchCluster) => Promise<T>): Promise<T> {
  const cluster = await startCluster(opts);
  try {
    return await body(cluster);
  } finally {
    await cluster.stop();
  }
}
