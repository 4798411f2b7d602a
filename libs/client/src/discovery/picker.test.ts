/**
 * ServicePicker on its own: strategies, down instances, outstanding picks, with a scripted clock and
 * random source.
 */
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { DOWN_ENTRIES_MAX, PickStrategy, ServicePicker } from './picker';
import type { ServiceInstance } from './record';

function instance(id: string, fields: Partial<ServiceInstance> = {}): ServiceInstance {
  return {
    service: 'api', id, host: '127.0.0.1', port: 8000, address: '127.0.0.1:8000', protocol: null, tags: [], metadata: {},
    weight: 1, status: 'passing', registeredAt: 0, sessionId: 's', createdIndex: 1, modifiedIndex: 1, ...fields,
  };
}

/** A clock the test moves, and a random source that returns the scripted values in turn. */
function scripted(randoms: number[] = []) {
  const state = { now: 1_000_000, randoms: [...randoms] };
  return {
    state,
    clock: { now: () => state.now, random: () => state.randoms.shift() ?? 0 },
  };
}

function ids(picker: ServicePicker, count: number, strategy: PickStrategy): string[] {
  return Array.from({ length: count }, () => picker.pick({ strategy })?.instance.id ?? 'none');
}

describe('strategies', () => {
  const three = [instance('a'), instance('b'), instance('c')];

  test('round-robin takes each in turn, and follows the list as it changes', () => {
    let list = three;
    const picker = new ServicePicker(() => list, {}, scripted().clock);
    expect(ids(picker, 4, 'round-robin')).toEqual(['a', 'b', 'c', 'a']);
    list = [instance('a'), instance('c')];
    expect(ids(picker, 2, 'round-robin')).toEqual(['a', 'c']);
    expect(picker.pick()?.instance.id).toBe('a'); // round-robin is the default
  });

  test('random picks by the random source', () => {
    const { clock } = scripted([0.99, 0, 0.5]);
    expect(ids(new ServicePicker(() => three, {}, clock), 3, 'random')).toEqual(['c', 'a', 'b']);
  });

  test('weighted picks in proportion to weights', () => {
    const weighted = [instance('a', { weight: 1 }), instance('b', { weight: 3 }), instance('c', { weight: 6 })];
    // total 10: [0,1) → a, [1,4) → b, [4,10) → c
    const { clock } = scripted([0, 0.099, 0.1, 0.399, 0.4, 0.999]);
    expect(ids(new ServicePicker(() => weighted, {}, clock), 6, 'weighted')).toEqual(['a', 'a', 'b', 'b', 'c', 'c']);
  });

  test('weighted: over many picks, shares follow the weights', () => {
    const weighted = [instance('a', { weight: 1 }), instance('b', { weight: 9 })];
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const picker = new ServicePicker(() => weighted, {}, { now: Date.now, random });
    const counts = { a: 0, b: 0 };
    for (let i = 0; i < 10_000; i++) counts[picker.pick({ strategy: 'weighted' })!.instance.id as 'a' | 'b']++;
    expect(counts.a).toBeGreaterThan(700);
    expect(counts.a).toBeLessThan(1300);
  });

  test('least-outstanding picks the instance with the fewest unreleased picks, ties in turn', () => {
    const picker = new ServicePicker(() => three, {}, scripted().clock);
    const first = picker.pick({ strategy: 'least-outstanding' })!;
    const second = picker.pick({ strategy: 'least-outstanding' })!;
    const third = picker.pick({ strategy: 'least-outstanding' })!;
    expect([first, second, third].map((p) => p.instance.id).sort()).toEqual(['a', 'b', 'c']);
    second.release();
    second.release(); // idempotent
    expect(picker.outstandingOf(second.instance.id)).toBe(0);
    expect(picker.pick({ strategy: 'least-outstanding' })!.instance.id).toBe(second.instance.id);
    expect(picker.outstandingOf(second.instance.id)).toBe(1);
    expect(picker.outstandingOf(first.instance.id)).toBe(1);
    first.release();
    third.release();
    const busy = picker.pick({ strategy: 'least-outstanding' })!; // a tie again: all at most 1
    expect(busy.instance.id).not.toBe(second.instance.id);
  });

  test('tags filter the candidates; no candidate → null', () => {
    const tagged = [instance('a', { tags: ['v1'] }), instance('b', { tags: ['v2', 'canary'] })];
    const picker = new ServicePicker(() => tagged, {}, scripted().clock);
    expect(picker.pick({ tags: ['v2'] })?.instance.id).toBe('b');
    expect(picker.pick({ tags: ['v2', 'canary'] })?.instance.id).toBe('b');
    expect(picker.pick({ tags: ['v3'] })).toBeNull();
    expect(new ServicePicker(() => []).pick()).toBeNull();
  });

  test('a bad strategy or option is INVALID_ARGUMENT', () => {
    const picker = new ServicePicker(() => three);
    expect(() => picker.pick({ strategy: 'fastest' as PickStrategy })).toThrow(HikariError);
    expect(() => new ServicePicker(() => three, { downForMs: 0 })).toThrow(/downForMs/);
    expect(() => new ServicePicker(() => three, { failuresBeforeDown: 101 })).toThrow(/failuresBeforeDown/);
    expect(() => picker.reportFailure(instance('a'), { forMs: -5 })).toThrow(/forMs/);
    let refused: unknown;
    try {
      picker.reportFailure({} as ServiceInstance);
    } catch (error) {
      refused = error;
    }
    expect(HikariError.is(refused, ErrorCode.INVALID_ARGUMENT)).toBe(true);
  });
});

describe('down instances (DownInstancePolicy)', () => {
  const three = [instance('a'), instance('b'), instance('c')];

  test('a reported instance is skipped for downForMs, then picked again', () => {
    const { state, clock } = scripted();
    const picker = new ServicePicker(() => three, { downForMs: 5_000 }, clock);
    picker.reportFailure(three[1]!);
    expect(picker.isDown('b')).toBe(true);
    for (const strategy of ['round-robin', 'random', 'weighted', 'least-outstanding'] as const) {
      expect(ids(picker, 6, strategy)).not.toContain('b');
    }
    state.now += 4_999;
    expect(picker.isDown('b')).toBe(true);
    state.now += 1;
    expect(picker.isDown('b')).toBe(false);
    expect(ids(picker, 3, 'round-robin')).toContain('b');
  });

  test('forMs overrides the duration; reportSuccess lifts it at once', () => {
    const { state, clock } = scripted();
    const picker = new ServicePicker(() => three, { downForMs: 5_000 }, clock);
    picker.reportFailure('a', { forMs: 60_000 });
    state.now += 30_000;
    expect(picker.isDown('a')).toBe(true);
    picker.reportSuccess('a');
    expect(picker.isDown('a')).toBe(false);
  });

  test('with failuresBeforeDown, only that many failures within downForMs make it down', () => {
    const { state, clock } = scripted();
    const picker = new ServicePicker(() => three, { downForMs: 1_000, failuresBeforeDown: 3 }, clock);
    picker.reportFailure('a');
    picker.reportFailure('a');
    expect(picker.isDown('a')).toBe(false);
    state.now += 1_000; // the first two are too old now
    picker.reportFailure('a');
    expect(picker.isDown('a')).toBe(false);
    picker.reportFailure('a');
    picker.reportFailure('a');
    expect(picker.isDown('a')).toBe(true);
  });

  test('every instance down → null, until one is back', () => {
    const { state, clock } = scripted();
    const picker = new ServicePicker(() => three, { downForMs: 100 }, clock);
    for (const each of three) picker.reportFailure(each);
    expect(picker.pick()).toBeNull();
    state.now += 100;
    expect(picker.pick()).not.toBeNull();
  });

  test('the failure memory is bounded', () => {
    const picker = new ServicePicker(() => three, { downForMs: 1_000 }, scripted().clock);
    for (let i = 0; i <= DOWN_ENTRIES_MAX; i++) picker.reportFailure(`x${i}`);
    expect(picker.isDown(`x${DOWN_ENTRIES_MAX}`)).toBe(true);
    expect(picker.isDown('x0')).toBe(false); // the oldest was forgotten to make room
    expect(picker.isDown('x1')).toBe(true);
  });
});
