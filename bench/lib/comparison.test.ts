import { PhaseResult } from './closed-loop';
import { byRound, median, medianPhase, pairedRatioText, present, rangeText, SystemRun, withRound } from './comparison';
import { systemNamed } from './systems';

function phase(opsPerSecond: number, p99Ms: number, extra: Partial<PhaseResult> = {}): PhaseResult {
  return {
    phase: 'A', workers: 64, ops: opsPerSecond * 10, errors: 0, errorCodes: {}, seconds: 10, opsPerSecond,
    latency: { count: opsPerSecond * 10, minMs: 1, meanMs: p99Ms / 4, p50Ms: p99Ms / 3, p99Ms, p999Ms: p99Ms * 2, maxMs: p99Ms * 3 },
    cpuPercent: {}, raftLoop: null, ...extra,
  };
}

describe('comparison rounds', () => {
  test('median: the middle value, the mean of the two middle ones for an even count, NaN for none', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([])).toBeNaN();
  });

  test('rangeText: lowest–highest, nothing for a single round', () => {
    expect(rangeText([2_010, 1_850, 1_990], (n) => n.toLocaleString('en-US'))).toBe('1,850–2,010');
    expect(rangeText([5], String)).toBe('');
  });

  test('pairedRatioText pairs rounds: the median of the per-round ratios, not the ratio of the medians', () => {
    // Round 1 ran on a slow machine (both halved), round 3 on a fast one: pairing cancels the drift.
    const hikari = [1_000, 2_000, 3_000];
    const peer = [500, 1_000, 1_000];
    expect(pairedRatioText(hikari, peer, false)).toBe('2.00× (2.00–3.00×)');
    expect(pairedRatioText([2_000], [1_000], false)).toBe('2.00×');
    expect(pairedRatioText([2_000], [1_000], true)).toBe('');
    // A round without HikariKeeper, or with a peer at zero, is left out; none left is '-'.
    expect(pairedRatioText([undefined, 300], [100, 100], false)).toBe('3.00×');
    expect(pairedRatioText([undefined], [100], false)).toBe('-');
    expect(pairedRatioText([100], [0], false)).toBe('-');
    expect(pairedRatioText([2_500, 100], [100, 100], false)).toBe('13.0× (1.00–25.0×)');
  });

  test('medianPhase: ops/s and latency figures are the rounds\' medians, counts summed, error codes merged', () => {
    const rounds = [
      phase(1_000, 40, { errors: 1, errorCodes: { TIMEOUT: 1 } }),
      phase(3_000, 10),
      phase(2_000, 30, { errors: 2, errorCodes: { TIMEOUT: 1, NOT_LEADER: 1 } }),
    ];
    const m = medianPhase(rounds);
    expect(m.opsPerSecond).toBe(2_000);
    expect(m.latency.p99Ms).toBe(30);
    expect(m.latency.p50Ms).toBe(10);
    expect(m.latency.maxMs).toBe(120);
    expect(m.latency.minMs).toBe(1);
    expect(m.ops).toBe(60_000);
    expect(m.seconds).toBe(30);
    expect(m.errors).toBe(3);
    expect(m.errorCodes).toEqual({ TIMEOUT: 2, NOT_LEADER: 1 });
    const one = phase(5, 5);
    expect(medianPhase([one])).toBe(one);
    expect(() => medianPhase([])).toThrow(/no rounds/);
  });

  test('byRound indexes a system\'s runs by round; withRound names rows only when there are several', () => {
    const run = (name: 'hikarikeeper' | 'redis', round: number, ops: number): SystemRun<{ ops: number }> => ({ system: systemNamed(name), description: '', round, result: { ops } });
    const runs = [run('hikarikeeper', 1, 10), run('redis', 1, 20), run('redis', 2, 40), run('hikarikeeper', 3, 30)];
    expect(byRound(runs, 'hikarikeeper', 3, (r) => r.ops)).toEqual([10, undefined, 30]);
    expect(present(byRound(runs, 'redis', 3, (r) => r.ops))).toEqual([20, 40]);
    expect(withRound('A', 2, 3)).toBe('A, round 2');
    expect(withRound('A', 1, 1)).toBe('A');
  });
});
