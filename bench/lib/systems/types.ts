/**
 * The systems a workload compares, behind one interface: each starts its servers (`start`), opens
 * drivers for the load generator, tells which processes to measure, and — for the failover workload —
 * finds, kills and restarts its leader. hikarikeeper.ts, redis.ts, etcd.ts, zookeeper.ts; the list and
 * the `--systems` names in index.ts.
 */
import { BenchLockDriver, KvDriver, Opened } from '../drivers/types';
import { RaftMeter } from '../raft-meter';

export type SystemName = 'hikarikeeper' | 'redis' | 'etcd' | 'zookeeper';

/** What a system's start needs from the command line. */
export interface SystemStartOptions {
  /** Servers (HikariKeeper nodes, etcd members, ZooKeeper servers); Redis is always one. */
  nodes: number;
  /** HikariKeeper only: run the servers under the CPU profiler. */
  cpuProfileDir: string | null;
  /** A permanent line for the operator (a server that exited unexpectedly). */
  warn(line: string): void;
}

/** The failover workload's handle on the servers: members are named by their CPU labels ('n2', 'etcd1', 'zk3'). */
export interface FailoverControl {
  /** Waits for a leader the running members agree on; its label. */
  leader(timeoutMs?: number): Promise<string>;
  /** SIGKILL (a crash); resolves once the process has exited. */
  kill(member: string): Promise<void>;
  /** Starts a killed member again on its data. */
  restart(member: string): void;
  /** Waits until every running member serves again. */
  ready(timeoutMs?: number): Promise<void>;
}

export interface RunningSystem {
  readonly name: SystemName;
  /** 'HikariKeeper', 'Redis', 'etcd', 'ZooKeeper'. */
  readonly label: string;
  /** What runs: "3 etcd 3.4.23 members". */
  readonly description: string;
  /** Pids of the running server processes, by label. */
  pids(): Map<string, number>;
  openLockDrivers(n: number): Promise<Opened<BenchLockDriver>>;
  /** Null: the system is not part of the kv workload. */
  openKvDrivers: ((n: number, parents: readonly string[]) => Promise<Opened<KvDriver>>) | null;
  /** Null: the system has no leader to kill (a single Redis). */
  readonly failover: FailoverControl | null;
  /** HikariKeeper: the current leader's Raft loop (from its /metrics). */
  raftMeter?(): Promise<{ meter: RaftMeter; leader: string }>;
  stop(): Promise<void>;
}

export interface BenchSystem {
  readonly name: SystemName;
  readonly label: string;
  /** Who pays for durability: printed under the tables. */
  readonly durability: string;
  /** How its lock works (one line). */
  readonly lock: string;
  readonly kv: boolean;
  readonly failover: boolean;
  start(options: SystemStartOptions): Promise<RunningSystem>;
}

/** Starts `system`, runs `body`, stops the system however `body` ends. */
export async function withSystem<T>(system: BenchSystem, options: SystemStartOptions, body: (running: RunningSystem) => Promise<T>): Promise<T> {
  const running = await system.start(options);
  try {
    return await body(running);
  } finally {
    await running.stop();
  }
}
