/**
 * A latency histogram with bounded memory and bounded relative error: HdrHistogram's layout, reduced to
 * what a benchmark needs. Values are nanoseconds. Below 2^SUB_BUCKET_BITS every value has its own
 * bucket; above, each power of two [2^e, 2^(e+1)) is cut into 2^SUB_BUCKET_BITS equal buckets, so a
 * bucket is never wider than 1/128 (0.8 %) of the values in it. Memory is fixed (BUCKET_COUNT
 * counters, 35 KB) whatever the number of samples.
 *
 * Percentiles report the highest value of the bucket they fall in (as HdrHistogram does), capped at
 * the exact maximum, which is kept apart with the exact minimum and sum. So p50 ≤ p99 ≤ p999 ≤ max
 * always holds, and a percentile overstates by at most 0.8 %.
 */

export const SUB_BUCKET_BITS = 7;
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS;
/** Largest value with its own bucket (2^40 ns ≈ 18 minutes); larger values count in the last bucket. */
export const VALUE_BITS_MAX = 40;
export const BUCKET_COUNT = (VALUE_BITS_MAX - SUB_BUCKET_BITS + 1) * SUB_BUCKETS;

export interface LatencySummary {
  count: number;
  minMs: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

/** The bucket of value `ns` (a non-negative integer; fractions are dropped). */
export function bucketOf(ns: number): number {
  const v = Math.max(0, Math.floor(ns));
  if (v < SUB_BUCKETS) return v;
  if (v >= 2 ** VALUE_BITS_MAX) return BUCKET_COUNT - 1;
  let shift = Math.floor(Math.log2(v)) - SUB_BUCKET_BITS;
  let mantissa = Math.floor(v / 2 ** shift);
  // Math.log2 may round up just below a power of two; mantissa must land in [128, 256).
  if (mantissa >= 2 * SUB_BUCKETS) mantissa = Math.floor(v / 2 ** ++shift);
  else if (mantissa < SUB_BUCKETS) mantissa = Math.floor(v / 2 ** --shift);
  return shift * SUB_BUCKETS + mantissa;
}

/** The highest value that falls in bucket `index`. */
export function bucketHighestValue(index: number): number {
  if (index < SUB_BUCKETS) return index;
  const shift = Math.floor(index / SUB_BUCKETS) - 1;
  const mantissa = index - shift * SUB_BUCKETS;
  return (mantissa + 1) * 2 ** shift - 1;
}

export class LatencyRecorder {
  private readonly counts = new Float64Array(BUCKET_COUNT);
  private total = 0;
  private sumNs = 0;
  private minNs = Infinity;
  private maxNs = 0;

  get count(): number {
    return this.total;
  }

  record(ns: number): void {
    this.counts[bucketOf(ns)]++;
    this.total++;
    this.sumNs += ns;
    if (ns < this.minNs) this.minNs = ns;
    if (ns > this.maxNs) this.maxNs = ns;
  }

  /** Records the time elapsed since `startNs` (a `process.hrtime.bigint()` reading); returns it. */
  recordSince(startNs: bigint): number {
    const ns = Number(process.hrtime.bigint() - startNs);
    this.record(ns);
    return ns;
  }

  /** Adds `other`'s samples to this one (e.g. recorders of several load generators). */
  merge(other: LatencyRecorder): void {
    for (let i = 0; i < BUCKET_COUNT; i++) this.counts[i] += other.counts[i];
    this.total += other.total;
    this.sumNs += other.sumNs;
    this.minNs = Math.min(this.minNs, other.minNs);
    this.maxNs = Math.max(this.maxNs, other.maxNs);
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.sumNs = 0;
    this.minNs = Infinity;
    this.maxNs = 0;
  }

  /** The value at quantile `q` (0 < q ≤ 1) in ns; 0 when empty. */
  quantileNs(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKET_COUNT; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.max(this.minNs, Math.min(this.maxNs, bucketHighestValue(i)));
    }
    return this.maxNs;
  }

  summary(): LatencySummary {
    const ms = (ns: number) => Math.round(ns / 1e3) / 1e3; // µs resolution
    if (this.total === 0) return { count: 0, minMs: 0, meanMs: 0, p50Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0 };
    return {
      count: this.total,
      minMs: ms(this.minNs),
      meanMs: ms(this.sumNs / this.total),
      p50Ms: ms(this.quantileNs(0.5)),
      p99Ms: ms(this.quantileNs(0.99)),
      p999Ms: ms(this.quantileNs(0.999)),
      maxMs: ms(this.maxNs),
    };
  }
}
