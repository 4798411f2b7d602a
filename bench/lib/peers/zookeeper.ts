/**
 * A real ZooKeeper ensemble for a benchmark or a test: N servers (Debian's zookeeper package, 3.8,
 * on its Java 17; installed with apt-get if missing), each a JVM running the server class
 * (`org.apache.zookeeper.server.quorum.QuorumPeerMain`) directly with a generated zoo.cfg and myid in a
 * fresh temporary folder, on loopback ports of its own (client, quorum, election). The system's
 * zookeeper service and /etc/zookeeper are not used.
 *
 * Settings: ZooKeeper's defaults (tickTime 2,000 ms, initLimit 10, syncLimit 5, forceSync=yes: the
 * transaction log is fsynced before a write is acknowledged) except: the addresses; `maxClientCnxns=0`
 * (the default caps connections per client address at 60, and every benchmark client comes from
 * 127.0.0.1); the admin HTTP server off (it would take port 8080); the `srvr` four-letter command
 * allowed (how the leader is found); a 1,000 MB heap (as zkServer.sh sets); logs at WARN to stderr.
 * One server alone runs standalone.
 *
 * For failover: `leader()`, `kill(server)` (SIGKILL), `restart(server)`, `ready()`.
 * Only the processes started here are ever signalled (peer-process.ts guards them).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDebianFile, findBinary } from './debian';
import { PeerGroup, PeerProcess, waitFor } from './peer-process';
import { PEER_HOST, withFreePorts } from './ports';

/** The server's jar from Debian's zookeeper package (its manifest names its dependencies' jars). */
export const ZOOKEEPER_JAR = '/usr/share/java/zookeeper.jar';
/** slf4j's simple binding (a dependency of the package): the servers' logs go to stderr. */
const SLF4J_SIMPLE_JAR = '/usr/share/java/slf4j-simple.jar';
export const ZOOKEEPER_MAIN = 'org.apache.zookeeper.server.quorum.QuorumPeerMain';
/** Heap of each server, as zkServer.sh's default. */
export const ZOOKEEPER_HEAP_MB = 1_000;
/** Time for started JVMs to form a quorum and serve. */
export const ZOOKEEPER_START_TIMEOUT_MS = 60_000;
/** Timeout of one `srvr` probe. */
const PROBE_TIMEOUT_MS = 1_000;

export type ZooKeeperMode = 'leader' | 'follower' | 'standalone' | 'observer';

export interface ZooKeeperServer {
  /** 1, 2, 3, ... (its myid). */
  readonly id: number;
  /** 'zk1', 'zk2', ...: its label in CPU tables. */
  readonly name: string;
  /** Client address, 'host:port'. */
  readonly endpoint: string;
  readonly clientPort: number;
  readonly process: PeerProcess;
}

export interface ZooKeeperEnsemble {
  readonly servers: readonly ZooKeeperServer[];
  /** 'host:port,host:port,...': what a client connects to. */
  readonly connectionString: string;
  /** "ZooKeeper 3.8.0" (the server's own `srvr` answer). */
  readonly version: string;
  readonly dataDir: string;
  pids(): Map<string, number>;
  server(name: string): ZooKeeperServer;
  /** Waits until exactly one running server is the leader (or the standalone one) and a majority serves; returns it. */
  leader(timeoutMs?: number): Promise<ZooKeeperServer>;
  /** Waits until every running server serves (its `srvr` answers a mode). */
  ready(timeoutMs?: number): Promise<void>;
  kill(name: string): Promise<void>;
  restart(name: string): void;
  stop(): Promise<void>;
}

export interface ZooKeeperEnsembleOptions {
  /** Default 3. */
  servers?: number;
}

export async function startZooKeeper(opts: ZooKeeperEnsembleOptions = {}): Promise<ZooKeeperEnsemble> {
  const size = opts.servers ?? 3;
  if (!Number.isInteger(size) || size < 1 || size > 7) throw new Error(`a ZooKeeper ensemble of ${size} servers is not supported (1 to 7)`);
  ensureDebianFile(ZOOKEEPER_JAR, 'zookeeper');
  const java = findBinary('java');
  if (java === null) throw new Error('java is not on PATH although the zookeeper package is installed (it depends on a Java runtime)');
  return withFreePorts(3 * size, (ports) => startOnce(java, size, ports));
}

/** zoo.cfg of one server of the ensemble (see the header for what differs from the defaults). */
export function zooConfig(dataDir: string, clientPort: number, quorum: Array<{ id: number; quorumPort: number; electionPort: number }>): string {
  return [
    'tickTime=2000',
    'initLimit=10',
    'syncLimit=5',
    `dataDir=${dataDir}`,
    `clientPort=${clientPort}`,
    `clientPortAddress=${PEER_HOST}`,
    'maxClientCnxns=0',
    'admin.enableServer=false',
    '4lw.commands.whitelist=srvr',
    ...(quorum.length > 1 ? quorum.map((q) => `server.${q.id}=${PEER_HOST}:${q.quorumPort}:${q.electionPort}`) : []),
    '',
  ].join('\n');
}

async function startOnce(java: string, size: number, ports: number[]): Promise<ZooKeeperEnsemble> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hk-zookeeper-'));
  const group = new PeerGroup('ZooKeeper ensemble', dataDir, true);
  const quorum = Array.from({ length: size }, (_, i) => ({ id: i + 1, clientPort: ports[3 * i], quorumPort: ports[3 * i + 1], electionPort: ports[3 * i + 2] }));
  const servers: ZooKeeperServer[] = quorum.map((q) => {
    const dir = join(dataDir, `zk${q.id}`);
    mkdirSync(join(dir, 'data'), { recursive: true });
    writeFileSync(join(dir, 'data', 'myid'), `${q.id}\n`);
    writeFileSync(join(dir, 'zoo.cfg'), zooConfig(join(dir, 'data'), q.clientPort, quorum));
    const process = group.add(`zk${q.id}`, java, [
      `-Xmx${ZOOKEEPER_HEAP_MB}m`, '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn', `-Dzookeeper.log.dir=${dir}`,
      '-cp', `${ZOOKEEPER_JAR}:${SLF4J_SIMPLE_JAR}`, ZOOKEEPER_MAIN, join(dir, 'zoo.cfg'),
    ], { cwd: dir });
    return { id: q.id, name: `zk${q.id}`, endpoint: `${PEER_HOST}:${q.clientPort}`, clientPort: q.clientPort, process };
  });

  const server = (name: string) => {
    const s = servers.find((x) => x.name === name);
    if (s === undefined) throw new Error(`no ZooKeeper server ${name}`);
    return s;
  };
  const running = () => servers.filter((s) => s.process.running);
  const modes = () => Promise.all(running().map((s) => srvr(s.clientPort)));
  let version = 'ZooKeeper';
  const ensemble: ZooKeeperEnsemble = {
    servers,
    connectionString: servers.map((s) => s.endpoint).join(','),
    get version() {
      return version;
    },
    dataDir,
    pids: () => group.pids(),
    server,
    async leader(timeoutMs = ZOOKEEPER_START_TIMEOUT_MS) {
      return waitFor('ZooKeeper leader', async () => {
        const live = running();
        const answers = await Promise.all(live.map((s) => srvr(s.clientPort)));
        const serving = answers.filter((a) => a !== null).length;
        const leaders = live.filter((_, i) => answers[i]?.mode === 'leader' || answers[i]?.mode === 'standalone');
        return leaders.length === 1 && serving > size / 2 ? leaders[0] : null;
      }, timeoutMs);
    },
    async ready(timeoutMs = ZOOKEEPER_START_TIMEOUT_MS) {
      await waitFor('ZooKeeper servers serving', async () => ((await modes()).every((a) => a !== null) ? true : null), timeoutMs);
    },
    kill: (name) => server(name).process.kill('SIGKILL'),
    restart: (name) => server(name).process.start(),
    stop: () => group.stop(),
  };

  const answers = await group.startAll((failed) => waitFor('ZooKeeper ensemble start', async () => {
    const all = await Promise.all(servers.map((s) => srvr(s.clientPort)));
    return all.every((a) => a !== null) && all.some((a) => a!.mode === 'leader' || a!.mode === 'standalone') ? all : null;
  }, ZOOKEEPER_START_TIMEOUT_MS, failed));
  version = answers[0]!.version;
  return ensemble;
}

/** The `srvr` four-letter command: the server's mode and version, or null while it does not serve. */
export function srvr(port: number): Promise<{ mode: ZooKeeperMode; version: string } | null> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: PEER_HOST, port });
    let answer = '';
    const done = () => {
      socket.destroy();
      const mode = /^Mode: (\w+)/m.exec(answer)?.[1];
      const version = /^Zookeeper version: ([\d.]+)/im.exec(answer)?.[1];
      resolve(mode === 'leader' || mode === 'follower' || mode === 'standalone' || mode === 'observer' ? { mode, version: `ZooKeeper ${version ?? '(unknown version)'}` } : null);
    };
    socket.setTimeout(PROBE_TIMEOUT_MS, done);
    socket.once('error', done);
    socket.once('connect', () => socket.write('srvr'));
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.once('end', done);
  });
}
