/**
 * What one server's Raft loop did over a measured interval, from the deltas of its Prometheus
 * metrics (admin `GET /metrics`): how many Readys it handled, how many log entries each carried (the
 * group-commit size), how long a Ready took, and how much of the interval the loop was busy. The loop
 * handles one Ready at a time, so `loopBusyPercent` near 100 means the loop itself is the limit.
 */

export interface RaftLoopStats {
  readiesPerSecond: number;
  entriesPerReady: number;
  proposalsPerSecond: number;
  /** Mean time to handle one Ready (apply, storage write, sends), ms. */
  readyMs: number;
  /** Mean RocksDB batch write (synced when Raft requires it), ms. */
  storageWriteMs: number;
  /** Mean state-machine apply per Ready, ms. */
  applyMs: number;
  /** Share of the interval spent handling Readys. */
  loopBusyPercent: number;
}

/** Time allowed for one scrape. */
const SCRAPE_TIMEOUT_MS = 2_000;

const WANTED = [
  'hikari_raft_ready_entries_sum', 'hikari_raft_ready_entries_count', 'hikari_raft_ready_seconds_sum',
  'hikari_raft_ready_seconds_count', 'hikari_storage_write_seconds_sum', 'hikari_storage_write_seconds_count',
  'hikari_apply_seconds_sum', 'hikari_apply_seconds_count', 'hikari_raft_proposals_total',
] as const;

type Sample = Record<(typeof WANTED)[number], number>;

/** The unlabelled samples this meter needs from a Prometheus text page; null if one is missing. */
export function parseMetrics(text: string): Sample | null {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.includes('{')) continue;
    const space = line.lastIndexOf(' ');
    if (space > 0) values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  const sample: Partial<Sample> = {};
  for (const name of WANTED) {
    const v = values.get(name);
    if (v === undefined || !Number.isFinite(v)) return null;
    sample[name] = v;
  }
  return sample as Sample;
}

async function scrape(admin: string): Promise<{ at: number; sample: Sample } | null> {
  try {
    const res = await fetch(`http://${admin}/metrics`, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
    if (!res.ok) return null;
    const sample = parseMetrics(await res.text());
    return sample === null ? null : { at: performance.now(), sample };
  } catch {
    return null;
  }
}

export function loopStats(before: Sample, after: Sample, seconds: number): RaftLoopStats {
  const d = (name: keyof Sample) => after[name] - before[name];
  const mean = (sum: keyof Sample, count: keyof Sample, scale: number) => (d(count) > 0 ? (d(sum) / d(count)) * scale : 0);
  const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
  return {
    readiesPerSecond: Math.round(d('hikari_raft_ready_seconds_count') / seconds),
    entriesPerReady: round(mean('hikari_raft_ready_entries_sum', 'hikari_raft_ready_entries_count', 1), 1),
    proposalsPerSecond: Math.round(d('hikari_raft_proposals_total') / seconds),
    readyMs: round(mean('hikari_raft_ready_seconds_sum', 'hikari_raft_ready_seconds_count', 1000), 3),
    storageWriteMs: round(mean('hikari_storage_write_seconds_sum', 'hikari_storage_write_seconds_count', 1000), 3),
    applyMs: round(mean('hikari_apply_seconds_sum', 'hikari_apply_seconds_count', 1000), 3),
    loopBusyPercent: round((d('hikari_raft_ready_seconds_sum') / seconds) * 100, 1),
  };
}

/** Measures one node's Raft loop between `begin` and `end` (null when its metrics could not be read). */
export class RaftMeter {
  private started: { admin: string; scrape: Promise<{ at: number; sample: Sample } | null> } | null = null;

  /** `admin()` is read at `begin`: the admin address ('host:port') of the node to watch. */
  constructor(private readonly admin: () => string) {}

  begin(): void {
    const admin = this.admin();
    this.started = { admin, scrape: scrape(admin) };
  }

  async end(): Promise<RaftLoopStats | null> {
    const start = this.started;
    this.started = null;
    if (!start) return null;
    const before = await start.scrape;
    const after = await scrape(start.admin);
    if (!before || !after || after.at <= before.at) return null;
    return loopStats(before.sample, after.sample, (after.at - before.at) / 1000);
  }
}
