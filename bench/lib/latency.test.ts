import { BUCKET_COUNT, bucketHighestValue, bucketOf, LatencyRecorder, SUB_BUCKET_BITS } from './latency';

describe('LatencyRecorder (log-linear histogram)', () => {
  test('buckets are contiguous and ordered: every value lands in a bucket whose range contains it', () => {
    const values = [0, 1, 127, 128, 129, 255, 256, 257, 1023, 1024, 999_999, 1_000_000, 2 ** 31 - 1, 2 ** 31, 2 ** 39 + 12345];
    for (let e = SUB_BUCKET_BITS; e < 40; e++) values.push(2 ** e - 1, 2 ** e, 2 ** e + 1);
    for (const v of values) {
      const b = bucketOf(v);
      expect(b).toBeGreaterThanOrEqual(0);
      expect(b).toBeLessThan(BUCKET_COUNT);
      expect(bucketHighestValue(b)).toBeGreaterThanOrEqual(v);
      if (b > 0) expect(bucketHighestValue(b - 1)).toBeLessThan(v);
    }
  });

  test('a bucket is at most 1/128 of its values wide', () => {
    for (let b = 1 << SUB_BUCKET_BITS; b < BUCKET_COUNT; b += 37) {
      const low = bucketHighestValue(b - 1) + 1;
      const high = bucketHighestValue(b);
      expect((high - low + 1) / low).toBeLessThanOrEqual(1 / 128);
    }
  });

  test('percentiles of a uniform 1..100,000 µs sample are within 1 % and ordered p50 ≤ p99 ≤ p999 ≤ max', () => {
    const r = new LatencyRecorder();
    for (let us = 1; us <= 100_000; us++) r.record(us * 1000);
    const s = r.summary();
    expect(s.count).toBe(100_000);
    expect(s.p50Ms).toBeGreaterThanOrEqual(50);
    expect(s.p50Ms).toBeLessThanOrEqual(50 * 1.01);
    expect(s.p99Ms).toBeGreaterThanOrEqual(99);
    expect(s.p99Ms).toBeLessThanOrEqual(99 * 1.01);
    expect(s.p999Ms).toBeGreaterThanOrEqual(99.9);
    expect(s.p999Ms).toBeLessThanOrEqual(100);
    expect(s.maxMs).toBe(100);
    expect(s.minMs).toBe(0.001);
    expect(s.meanMs).toBeCloseTo(50.0005, 3);
  });

  test('one slow outlier in 1,000 shows at p999 and max but not at p99', () => {
    const r = new LatencyRecorder();
    for (let i = 0; i < 999; i++) r.record(1_000_000);
    r.record(250_000_000);
    const s = r.summary();
    expect(s.p99Ms).toBeCloseTo(1, 1);
    expect(s.p999Ms).toBeCloseTo(1, 1);
    r.record(250_000_000);
    expect(r.summary().p999Ms).toBe(250);
    expect(r.summary().maxMs).toBe(250);
  });

  test('merge gives the same summary as recording everything in one', () => {
    const a = new LatencyRecorder();
    const b = new LatencyRecorder();
    const all = new LatencyRecorder();
    for (let i = 0; i < 5000; i++) {
      const v = (i * 7919) % 3_000_000;
      (i % 2 ? a : b).record(v);
      all.record(v);
    }
    a.merge(b);
    expect(a.summary()).toEqual(all.summary());
  });

  test('an empty recorder summarises to zeros; reset empties it', () => {
    const r = new LatencyRecorder();
    expect(r.summary()).toEqual({ count: 0, minMs: 0, meanMs: 0, p50Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0 });
    r.record(5);
    r.reset();
    expect(r.count).toBe(0);
    expect(r.quantileNs(0.5)).toBe(0);
  });
});
