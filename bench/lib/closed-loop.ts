/**
 * A closed-loop load phase: W workers, each running one operation at a time, back to back, for a
 * warm-up and then a measured interval. Throughput is what the system sustains at that concurrency
 * (not an offered rate), and each operation's latency is timed from its call to its settlement.
 *
 * Counting: an operation counts in the measurement when it STARTS inside the measured interval; the
 * interval ends when the last of those settles (at most one operation per worker runs over), and ops/s
 * is measured ops over that duration. Failed operations are counted by error code, not timed.
 */
import { CpuMeter, CpuShares } from './cpu';
import { LatencyRecorder, LatencySummary } from './latency';
import { RaftLoopStats, RaftMeter } from './raft-meter';
import { Column, formatCount, formatMs, Progress } from './report';

/** How often the progress line is redrawn. */
export const PROGRESS_INTERVAL_MS = 1_000;
/** Pause after a failed operation, so that a failing target does not turn the loop into a busy spin. */
export const ERROR_PAUSE_MS = 10;
/** Error codes kept per phase (the rest count under 'other'). */
const ERROR_CODES_MAX = 16;

export interface ClosedLoopOptions {
  /** Names the phase in progress lines and results. */
  phase: string;
  workers: number;
  warmupSeconds: number;
  seconds: number;
  /** One operation of worker `worker` (0-based); a rejection counts as an error. `measured`: it counts in the results. */
  op(worker: number, measured: boolean): Promise<void>;
  progress?: Progress;
  /** Measures the processes' CPU use over the measured interval. */
  cpu?: CpuMeter;
  /** Measures a server's Raft loop (the leader's, usually) over the measured interval. */
  raft?: RaftMeter;
  /** Prefix of progress lines, e.g. 'kv'. */
  label?: string;
}

export interface PhaseResult {
  phase: string;
  workers: number;
  /** Operations that succeeded in the measured interval. */
  ops: number;
  errors: number;
  /** Failed operations by error code (HikariError code, or the error's name). */
  errorCodes: Record<string, number>;
  /** Length of the measured interval. */
  seconds: number;
  opsPerSecond: number;
  latency: LatencySummary;
  /** CPU use during the measured interval, % of one core, by process label. */
  cpuPercent: CpuShares;
  /** The watched server's Raft loop over the measured interval (null: not watched, or not readable). */
  raftLoop: RaftLoopStats | null;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function errorCode(e: unknown): string {
  if (typeof e === 'object' && e !== null) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    if (e instanceof Error) return e.name;
  }
  return 'unknown';
}

export async function runClosedLoop(o: ClosedLoopOptions): Promise<PhaseResult> {
  const latency = new LatencyRecorder();
  const window = new LatencyRecorder(); // the last progress interval, for the live line
  const errorCodes: Record<string, number> = {};
  let errors = 0;
  let windowErrors = 0;
  const t0 = process.hrtime.bigint();
  const measureStart = t0 + BigInt(Math.round(o.warmupSeconds * 1e9));
  const measureEnd = measureStart + BigInt(Math.round(o.seconds * 1e9));
  let measuring = o.warmupSeconds <= 0;
  let lastSettled = measureStart;
  const beginMeasuring = () => {
    o.cpu?.begin();
    o.raft?.begin();
  };
  if (measuring) beginMeasuring();

  const worker = async (w: number): Promise<void> => {
    for (;;) {
      const started = process.hrtime.bigint();
      if (started >= measureEnd) return;
      if (!measuring && started >= measureStart) {
        measuring = true;
        beginMeasuring();
      }
      const counted = started >= measureStart;
      try {
        await o.op(w, counted);
        const ns = Number(process.hrtime.bigint() - started);
        window.record(ns);
        if (counted) latency.record(ns);
      } catch (e) {
        windowErrors++;
        if (counted) {
          errors++;
          const code = Object.keys(errorCodes).length < ERROR_CODES_MAX || errorCode(e) in errorCodes ? errorCode(e) : 'other';
          errorCodes[code] = (errorCodes[code] ?? 0) + 1;
        }
        await sleep(ERROR_PAUSE_MS);
      }
      if (counted) {
        const now = process.hrtime.bigint();
        if (now > lastSettled) lastSettled = now;
      }
    }
  };

  const ticker = setInterval(() => {
    const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    const stage = elapsed < o.warmupSeconds
      ? `warm-up ${elapsed.toFixed(0)}/${o.warmupSeconds}s`
      : `measuring ${(elapsed - o.warmupSeconds).toFixed(0)}/${o.seconds}s`;
    const rate = window.count / (PROGRESS_INTERVAL_MS / 1000);
    const p99 = window.count > 0 ? formatMs(window.quantileNs(0.99) / 1e6) : '-';
    const errs = windowErrors > 0 ? `  errors ${windowErrors}` : '';
    o.progress?.update(`${o.label ? `${o.label} ` : ''}${o.phase.padEnd(10)} ${stage}  ${formatCount(rate)} ops/s  p99 ${p99} ms${errs}`);
    window.reset();
    windowErrors = 0;
  }, PROGRESS_INTERVAL_MS);
  try {
    await Promise.all(Array.from({ length: o.workers }, (_, w) => worker(w)));
  } finally {
    clearInterval(ticker);
    o.progress?.clear();
  }
  const cpuPercent = measuring ? (o.cpu?.end() ?? {}) : {};
  const raftLoop = measuring && o.raft ? await o.raft.end() : null;
  const seconds = Number(lastSettled - measureStart) / 1e9;
  const summary = latency.summary();
  return {
    phase: o.phase,
    workers: o.workers,
    ops: summary.count,
    errors,
    errorCodes,
    seconds: Math.round(seconds * 1000) / 1000,
    opsPerSecond: seconds > 0 ? Math.round(summary.count / seconds) : 0,
    latency: summary,
    cpuPercent,
    raftLoop,
  };
}

// ---------------------------------------------------------------- showing phases

/** The JSON-line fields of a phase (latency flattened, ms). */
export function phaseRecord(r: PhaseResult): Record<string, unknown> {
  const { latency, ...rest } = r;
  return { ...rest, ...latency };
}

/** CPU % of the processes, in the order of `labels`, e.g. "97 / 31 / 30 / 62". */
export function formatCpu(cpu: CpuShares, labels: readonly string[]): string {
  return labels.map((l) => (cpu[l] === undefined ? '-' : cpu[l].toFixed(0))).join(' / ');
}

/** Columns of a second table: what the watched server's Raft loop did in each phase. */
export const RAFT_LOOP_COLUMNS: readonly Column<PhaseResult>[] = [
  { header: 'phase', align: 'left', value: (r) => r.phase },
  { header: 'Readys/s', value: (r) => (r.raftLoop ? formatCount(r.raftLoop.readiesPerSecond) : '-') },
  { header: 'entries/Ready', value: (r) => (r.raftLoop ? r.raftLoop.entriesPerReady.toFixed(1) : '-') },
  { header: 'Ready ms', value: (r) => (r.raftLoop ? formatMs(r.raftLoop.readyMs) : '-') },
  { header: 'storage write ms', value: (r) => (r.raftLoop ? formatMs(r.raftLoop.storageWriteMs) : '-') },
  { header: 'apply ms', value: (r) => (r.raftLoop ? formatMs(r.raftLoop.applyMs) : '-') },
  { header: 'loop busy %', value: (r) => (r.raftLoop ? r.raftLoop.loopBusyPercent.toFixed(0) : '-') },
];

/** The usual columns: phase, ops/s, p50/p99/p999/max (ms), errors. */
export const PHASE_COLUMNS: readonly Column<PhaseResult>[] = [
  { header: 'phase', align: 'left', value: (r) => r.phase },
  { header: 'clients', value: (r) => String(r.workers) },
  { header: 'ops/s', value: (r) => formatCount(r.opsPerSecond) },
  { header: 'p50 ms', value: (r) => formatMs(r.latency.p50Ms) },
  { header: 'p99 ms', value: (r) => formatMs(r.latency.p99Ms) },
  { header: 'p999 ms', value: (r) => formatMs(r.latency.p999Ms) },
  { header: 'max ms', value: (r) => formatMs(r.latency.maxMs) },
  { header: 'errors', value: (r) => formatCount(r.errors) },
];
