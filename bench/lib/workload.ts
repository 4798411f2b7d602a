/**
 * The contract between `bench/cli.ts` and a workload. The CLI parses the options, prints the header,
 * hands the workload a context, then prints the table it returns and appends its records to the
 * results file. A workload owns its targets (it starts and stops its clusters, e.g. with
 * `withCluster`), so that each can set them up as it needs (a failover workload kills nodes; a
 * comparison starts Redis or etcd next to HikariKeeper).
 */
import { Chart } from './chart';
import { Progress, Table } from './report';
import { SystemName } from './systems/types';

export interface BenchOptions {
  /** Concurrent clients, each with its own connection, one operation at a time. */
  clients: number;
  /** Measured seconds per phase. */
  seconds: number;
  /** Unmeasured seconds before each phase's measurement. */
  warmupSeconds: number;
  /** Server processes in the cluster under test. */
  nodes: number;
  /** JSON lines file the records are appended to. */
  out: string;
  /** When set, the servers run under the CPU profiler and write <dir>/n<id>.cpuprofile as they stop. */
  cpuProfileDir: string | null;
  /** Concurrent sessions (the sessions workload). */
  sessions: number;
  /** Watchers of one node (the sessions workload). */
  watchers: number;
  /** Sessions per connection (the sessions workload): more than 1 uses detached sessions, renewed by id. */
  sessionsPerConnection: number;
  /** Session timeout (the sessions workload; the discovery workload: its killed and closed instances'). */
  sessionTimeoutMs: number;
  /** Registered instances (the discovery workload). */
  instances: number;
  /** Services the instances are spread over (the discovery workload). */
  services: number;
  /** Instances killed with `kill -9`, and as many closed and deregistered (the discovery workload); leaders killed (failover). */
  kills: number;
  /** The systems compared, in order (locks, kv, failover). */
  systems: SystemName[];
  /** Keys of each lock scenario (A, B, ...), in order (locks; failover runs the first). */
  keys: number[];
  /** Rounds of the comparison (locks, kv): every system runs once per round, interleaved; tables show medians. */
  rounds: number;
}

export interface WorkloadContext {
  readonly options: BenchOptions;
  /** The status line; `progress.print` for a permanent line (a note, a warning). */
  readonly progress: Progress;
}

export interface WorkloadResult {
  /** The main table first (its rows are the records), then any detail tables. */
  tables: Table[];
  /** One JSON record per row of the main table (the CLI adds the run's metadata and parameters). */
  records: Record<string, unknown>[];
  /** Lines printed under the table (what the numbers mean, checks that ran). */
  notes: string[];
  /** What went wrong (a check that failed): printed, and the run exits 1 without appending records. */
  failures: string[];
  /** Drawn as an SVG next to the results file (`<out>.svg`). */
  chart?: Chart;
}

export interface Workload {
  readonly name: string;
  /** One line for the list of workloads. */
  readonly summary: string;
  /** The header's first line for these options: what runs against what. */
  describe(options: BenchOptions): string;
  run(ctx: WorkloadContext): Promise<WorkloadResult>;
}
