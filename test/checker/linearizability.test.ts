import {
  checkOperations,
  HistoryRecorder,
  registerModel,
  type CheckOptions,
  type CheckResult,
  type Operation,
  type RegisterInput,
  type RegisterOutput,
} from './index';

type Op = Operation<RegisterInput, RegisterOutput>;

// ---------------------------------------------------------------------------------------------
// Helpers to build histories by hand. `ret = Infinity` makes an indeterminate operation.

function write(key: string, value: string, call: number, ret: number, clientId = 0): Op {
  return { clientId, input: { op: 'write', key, value }, call, output: undefined, return: ret };
}

function read(key: string, value: string | null, call: number, ret: number, clientId = 0): Op {
  return { clientId, input: { op: 'read', key }, call, output: { value }, return: ret };
}

function cas(
  key: string,
  expected: string | null,
  value: string,
  ok: boolean,
  call: number,
  ret: number,
  clientId = 0,
): Op {
  return { clientId, input: { op: 'cas', key, expected, value }, call, output: { ok }, return: ret };
}

/** An indeterminate operation: outcome unknown, return = Infinity, output not observed. */
function lost(op: Op): Op {
  return { ...op, output: undefined, return: Infinity };
}

function check(history: readonly Op[], opts?: CheckOptions): CheckResult<RegisterInput, RegisterOutput> {
  return checkOperations(registerModel, history, opts);
}

// ---------------------------------------------------------------------------------------------
// Seeded randomness: reproducible failures, unlike Math.random.

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randInt(rng: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

function pick<T>(rng: () => number, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)] as T;
}

interface GenOptions {
  clients: number;
  ops: number;
  keys: number;
  values: number;
  /** Probability that an operation's outcome is lost (recorded as indeterminate). */
  indeterminateRate: number;
  /** Maximum operation duration; longer means more overlap. */
  maxDuration: number;
}

/**
 * A random history that is linearizable by construction: every operation gets a linearization
 * point inside its [call, return] interval (integer timestamps, so ties happen), operations are
 * applied to a real Map in linearization-point order, and outputs are what that produced.
 * Indeterminate operations took effect (at a point after their call) or not, at random.
 */
function generateLinearizable(seed: number, o: GenOptions): Op[] {
  const rng = mulberry32(seed);
  const keys = Array.from({ length: o.keys }, (_, i) => `k${i}`);
  const values = Array.from({ length: o.values }, (_, i) => `v${i}`);
  const clock = new Array<number>(o.clients).fill(0);
  interface Planned {
    clientId: number;
    input: RegisterInput;
    call: number;
    ret: number;
    point: number;
    indeterminate: boolean;
    applied: boolean;
    output?: RegisterOutput;
  }
  const planned: Planned[] = [];
  for (let i = 0; i < o.ops; i++) {
    const clientId = randInt(rng, 0, o.clients - 1);
    const call = (clock[clientId] as number) + randInt(rng, 0, 3);
    const ret = call + randInt(rng, 0, o.maxDuration);
    clock[clientId] = ret + 1; // a client's operations are sequential
    const key = pick(rng, keys);
    const kind = rng();
    const input: RegisterInput =
      kind < 0.45
        ? { op: 'read', key }
        : kind < 0.8
          ? { op: 'write', key, value: pick(rng, values) }
          : { op: 'cas', key, expected: rng() < 0.2 ? null : pick(rng, values), value: pick(rng, values) };
    const indeterminate = rng() < o.indeterminateRate;
    // An indeterminate op's effect may land late: up to a while after its would-be return.
    const span = indeterminate ? ret - call + 20 : ret - call;
    planned.push({
      clientId,
      input,
      call,
      ret,
      point: call + rng() * span,
      indeterminate,
      applied: !indeterminate || rng() < 0.5,
    });
  }

  const state = new Map<string, string>();
  for (const p of [...planned].sort((a, b) => a.point - b.point)) {
    if (!p.applied) continue;
    const current = state.get(p.input.key) ?? null;
    switch (p.input.op) {
      case 'read':
        p.output = { value: current };
        break;
      case 'write':
        state.set(p.input.key, p.input.value);
        p.output = undefined;
        break;
      case 'cas': {
        const ok = current === p.input.expected;
        if (ok) state.set(p.input.key, p.input.value);
        p.output = { ok };
        break;
      }
    }
  }

  return planned.map((p) => ({
    clientId: p.clientId,
    input: p.input,
    call: p.call,
    output: p.indeterminate ? undefined : p.output,
    return: p.indeterminate ? Infinity : p.ret,
  }));
}

/**
 * Reference checker for tiny histories: tries every order that respects real time, with no
 * linked list and no memoization, and an independent implementation of the register semantics.
 */
function bruteForceLinearizable(ops: readonly Op[]): boolean {
  const done = new Array<boolean>(ops.length).fill(false);
  const mustPlace = ops.filter((op) => op.return !== Infinity).length;
  const search = (state: ReadonlyMap<string, string>, placed: number): boolean => {
    if (placed === mustPlace) return true; // remaining indeterminate ops never happened
    for (let j = 0; j < ops.length; j++) {
      const op = ops[j] as Op;
      if (done[j]) continue;
      // op can go next only if no pending op finished strictly before it was called.
      if (ops.some((other, i) => !done[i] && i !== j && other.return < op.call)) continue;
      const current = state.get(op.input.key) ?? null;
      const unobserved = op.return === Infinity || op.output === undefined;
      let next: ReadonlyMap<string, string> = state;
      const input = op.input;
      if (input.op === 'read') {
        if (!unobserved && op.output !== undefined && 'value' in op.output && op.output.value !== current) continue;
      } else if (input.op === 'write') {
        next = new Map(state).set(input.key, input.value);
      } else {
        const swapped = current === input.expected;
        if (!unobserved && op.output !== undefined && 'ok' in op.output && op.output.ok !== swapped) continue;
        if (swapped) next = new Map(state).set(input.key, input.value);
      }
      done[j] = true;
      const found = search(next, placed + (op.return === Infinity ? 0 : 1));
      done[j] = false;
      if (found) return true;
    }
    return false;
  };
  return search(new Map(), 0);
}

/** A tiny random history, linearizable or not, with integer timestamps so that ties are common. */
function generateTiny(seed: number): Op[] {
  const rng = mulberry32(seed);
  const n = randInt(rng, 1, 7);
  const keys = ['x', 'y'];
  const values = ['a', 'b', 'c'];
  const ops: Op[] = [];
  for (let i = 0; i < n; i++) {
    const key = rng() < 0.75 ? 'x' : pick(rng, keys);
    const call = randInt(rng, 0, 8);
    const ret = call + randInt(rng, 0, 4);
    const kind = rng();
    let op: Op;
    if (kind < 0.45) op = read(key, rng() < 0.25 ? null : pick(rng, values), call, ret, i);
    else if (kind < 0.8) op = write(key, pick(rng, values), call, ret, i);
    else op = cas(key, rng() < 0.3 ? null : pick(rng, values), pick(rng, values), rng() < 0.5, call, ret, i);
    ops.push(rng() < 0.15 ? lost(op) : op);
  }
  return ops;
}

// ---------------------------------------------------------------------------------------------

describe('checkOperations with the register model: linearizable histories', () => {
  it('accepts the empty history', () => {
    expect(check([])).toEqual({ result: 'ok', partitions: 0, steps: 0 });
  });

  it('accepts a sequential history', () => {
    const h = [
      read('x', null, 0, 1),
      write('x', 'a', 2, 3),
      read('x', 'a', 4, 5),
      write('x', 'b', 6, 7),
      read('x', 'b', 8, 9),
    ];
    expect(check(h).result).toBe('ok');
  });

  it('accepts a read seeing either of two overlapping writes', () => {
    for (const seen of ['a', 'b']) {
      const h = [write('x', 'a', 0, 10, 1), write('x', 'b', 1, 9, 2), read('x', seen, 11, 12, 3)];
      expect(check(h).result).toBe('ok');
    }
  });

  it('accepts a read concurrent with a write seeing the old or the new value', () => {
    for (const seen of [null, 'a']) {
      expect(check([write('x', 'a', 0, 10, 1), read('x', seen, 2, 3, 2)]).result).toBe('ok');
    }
  });

  it('treats equal return and call timestamps as concurrent', () => {
    // The read is called exactly when the write returns: it may still be ordered first.
    expect(check([write('x', 'a', 0, 5, 1), read('x', null, 5, 6, 2)]).result).toBe('ok');
    // One tick later it is strictly after the write and must see it.
    expect(check([write('x', 'a', 0, 5, 1), read('x', null, 6, 7, 2)]).result).toBe('illegal');
  });

  it('accepts a cas chain', () => {
    const h = [
      cas('x', null, 'a', true, 0, 1),
      cas('x', 'a', 'b', true, 2, 3),
      cas('x', 'a', 'c', false, 4, 5),
      read('x', 'b', 6, 7),
      cas('x', 'b', 'c', true, 8, 9),
      read('x', 'c', 10, 11),
    ];
    expect(check(h).result).toBe('ok');
  });

  it('accepts concurrent cas races with exactly one winner, rejects two winners', () => {
    const race = (okX: boolean, okY: boolean, seen: string): Op[] => [
      cas('k', null, 'x', okX, 0, 10, 1),
      cas('k', null, 'y', okY, 1, 9, 2),
      read('k', seen, 11, 12, 3),
    ];
    expect(check(race(true, false, 'x')).result).toBe('ok');
    expect(check(race(false, true, 'y')).result).toBe('ok');
    expect(check(race(true, false, 'y')).result).toBe('illegal');
    expect(check(race(true, true, 'y')).result).toBe('illegal');
  });

  it('accepts two concurrent readers seeing a write in different orders when they overlap', () => {
    // Contrast with the new-old inversion below: here reader B is concurrent with reader A.
    const h = [
      write('x', '1', 0, 1, 0),
      write('x', '2', 2, 10, 1),
      read('x', '2', 3, 4, 2),
      read('x', '1', 3.5, 6, 3),
    ];
    expect(check(h).result).toBe('ok');
  });

  it('checks keys independently and reports the partition count', () => {
    const h = [write('x', 'a', 0, 1), write('y', 'b', 0, 1, 1), read('x', 'a', 2, 3), read('y', 'b', 2, 3, 1)];
    expect(check(h)).toMatchObject({ result: 'ok', partitions: 2 });
  });
});

describe('checkOperations with the register model: non-linearizable histories', () => {
  it('rejects a read of a value never written', () => {
    const result = check([write('x', 'a', 0, 1), read('x', 'b', 2, 3)]);
    expect(result.result).toBe('illegal');
    expect(result.failingPartition).toBe(0);
  });

  it('rejects a read of a value written only to another key', () => {
    expect(check([write('y', 'a', 0, 1), read('x', 'a', 2, 3)]).result).toBe('illegal');
  });

  it('rejects a stale read after a write completed', () => {
    const h = [write('x', 'a', 0, 1), write('x', 'b', 2, 3), read('x', 'a', 4, 5)];
    expect(check(h).result).toBe('illegal');
  });

  it('rejects the new-old inversion', () => {
    // write(1) completes; write(2) is concurrent with both reads; reader A sees 2, then reader B,
    // called strictly after A returned, sees 1.
    const h = [
      write('x', '1', 0, 1, 0),
      write('x', '2', 2, 10, 1),
      read('x', '2', 3, 4, 2),
      read('x', '1', 5, 6, 3),
    ];
    expect(check(h).result).toBe('illegal');
  });

  it('reports the failing partition and the longest linearizable prefix', () => {
    const h = [
      write('ok-key', 'a', 0, 1),
      read('ok-key', 'a', 2, 3),
      write('bad-key', 'a', 0, 1, 1),
      read('bad-key', 'a', 2, 3, 1),
      read('bad-key', 'zzz', 4, 5, 1),
    ];
    const result = check(h);
    expect(result.result).toBe('illegal');
    expect(result.partitions).toBe(2);
    expect(result.failingPartition).toBe(1); // partitions are in order of first appearance
    const prefix = result.longestPrefix ?? [];
    expect(prefix.map((op) => registerModel.describeOperation?.(op.input, op.output))).toEqual([
      'write("bad-key", "a")',
      'read("bad-key") -> "a"',
    ]);
  });

  it('rejects a cas that reports success on a value that was never there', () => {
    expect(check([write('x', 'a', 0, 1), cas('x', 'b', 'c', true, 2, 3)]).result).toBe('illegal');
  });
});

describe('indeterminate operations', () => {
  it('accepts an indeterminate write that is seen', () => {
    const h = [write('x', 'a', 0, 1), lost(write('x', 'b', 2, 3, 1)), read('x', 'b', 4, 5, 2)];
    expect(check(h).result).toBe('ok');
  });

  it('accepts an indeterminate write that is never seen', () => {
    const h = [
      write('x', 'a', 0, 1),
      lost(write('x', 'b', 2, 3, 1)),
      read('x', 'a', 4, 5, 2),
      read('x', 'a', 100, 101, 2),
    ];
    expect(check(h).result).toBe('ok');
  });

  it('accepts an indeterminate write that takes effect long after its would-be return', () => {
    const h = [lost(write('x', 'b', 0, 1, 1)), read('x', null, 50, 51, 2), read('x', 'b', 60, 61, 2)];
    expect(check(h).result).toBe('ok');
  });

  it('rejects an indeterminate write seen and then unseen', () => {
    const h = [
      write('x', 'a', 0, 1),
      lost(write('x', 'b', 2, 3, 1)),
      read('x', 'b', 4, 5, 2),
      read('x', 'a', 6, 7, 2),
    ];
    expect(check(h).result).toBe('illegal');
  });

  it('rejects an indeterminate write seen before it was called', () => {
    const h = [read('x', 'b', 0, 1, 2), lost(write('x', 'b', 5, 6, 1))];
    expect(check(h).result).toBe('illegal');
  });

  it('applies an indeterminate cas only if its expectation held', () => {
    const base = [write('x', 'a', 0, 1)];
    expect(check([...base, lost(cas('x', 'a', 'b', true, 2, 3, 1)), read('x', 'b', 4, 5, 2)]).result).toBe('ok');
    expect(check([...base, lost(cas('x', 'a', 'b', true, 2, 3, 1)), read('x', 'a', 4, 5, 2)]).result).toBe('ok');
    expect(check([...base, lost(cas('x', 'c', 'b', true, 2, 3, 1)), read('x', 'b', 4, 5, 2)]).result).toBe(
      'illegal',
    );
  });

  it('ignores the recorded output of an indeterminate operation', () => {
    const h: Op[] = [{ ...read('x', 'never-written', 0, 1), return: Infinity }];
    expect(check(h).result).toBe('ok');
    // The cas must have succeeded for the read to see b, whatever its stale output says.
    const c: Op = { ...cas('x', 'a', 'b', false, 2, 3, 1), return: Infinity };
    expect(check([write('x', 'a', 0, 1), c, read('x', 'b', 4, 5, 2)]).result).toBe('ok');
  });

  it('accepts a completed read whose value was not observed', () => {
    const unobserved: Op = { clientId: 2, input: { op: 'read', key: 'x' }, call: 2, output: {}, return: 3 };
    expect(check([write('x', 'a', 0, 1), unobserved, read('x', 'a', 4, 5)]).result).toBe('ok');
  });

  it('accepts a history made only of indeterminate operations', () => {
    expect(check([lost(write('x', 'a', 0, 1)), lost(read('x', 'b', 0, 1))]).result).toBe('ok');
  });

  it('handles several overlapping indeterminate writes where only one order explains the reads', () => {
    const h = [
      lost(write('x', 'a', 0, 1, 1)),
      lost(write('x', 'b', 0, 1, 2)),
      lost(write('x', 'c', 0, 1, 3)),
      read('x', 'c', 10, 11, 4),
      read('x', 'a', 12, 13, 4),
      read('x', 'b', 14, 15, 4),
    ];
    expect(check(h).result).toBe('ok');
    // After b is visible, a cannot come back: each write happens at most once.
    expect(check([...h, read('x', 'a', 16, 17, 4)]).result).toBe('illegal');
  });
});

describe('input validation and budget', () => {
  it('rejects a malformed history', () => {
    expect(() => check([write('x', 'a', 5, 4)])).toThrow(RangeError);
    expect(() => check([write('x', 'a', Infinity, Infinity)])).toThrow(RangeError);
    expect(() => check([write('x', 'a', 0, NaN)])).toThrow(RangeError);
  });

  /**
   * Twenty fully concurrent writes and a read of a value none of them wrote: proving this
   * illegal means visiting every (subset of writes, last write) configuration, ~10 million.
   */
  function hardHistory(key: string): Op[] {
    const h = Array.from({ length: 20 }, (_, i) => write(key, `v${i}`, 0, 100, i));
    h.push(read(key, 'nope', 0, 100, 99));
    return h;
  }

  it("returns 'unknown' when the step budget runs out", () => {
    const result = check(hardHistory('x'), { maxSteps: 10_000 });
    expect(result.result).toBe('unknown');
    expect(result.steps).toBe(10_000);
    expect(result.failingPartition).toBe(0);
    expect(result.longestPrefix?.length).toBeGreaterThan(0);
  });

  it("returns 'unknown' when the timeout runs out", () => {
    const started = Date.now();
    const result = check(hardHistory('x'), { maxSteps: Infinity, timeoutMs: 50 });
    expect(result.result).toBe('unknown');
    // Not a performance assertion: only that the timeout, not the search, ended the check.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("still finds an illegal partition when another one is 'unknown'", () => {
    const h = [...hardHistory('hard'), write('easy', 'a', 0, 1), read('easy', 'b', 2, 3)];
    const result = check(h, { maxSteps: 10_000 });
    expect(result.result).toBe('illegal');
    expect(result.failingPartition).toBe(1);
  });
});

describe('register model', () => {
  const w = (key: string, value: string): RegisterInput => ({ op: 'write', key, value });

  it('does not mutate the state it is given', () => {
    const s0 = registerModel.init();
    const s1 = registerModel.step(s0, w('x', 'a'), undefined).state;
    const s2 = registerModel.step(s1, { op: 'cas', key: 'x', expected: 'a', value: 'b' }, { ok: true }).state;
    expect(registerModel.step(s0, { op: 'read', key: 'x' }, { value: null }).ok).toBe(true);
    expect(registerModel.step(s1, { op: 'read', key: 'x' }, { value: 'a' })).toEqual({ ok: true, state: s1 });
    expect(registerModel.step(s2, { op: 'read', key: 'x' }, { value: 'b' }).ok).toBe(true);
  });

  it('hashes and compares states by content', () => {
    const s0 = registerModel.init();
    const xa = registerModel.step(s0, w('x', 'a'), undefined).state;
    const xaAgain = registerModel.step(registerModel.step(s0, w('x', 'z'), undefined).state, w('x', 'a'), undefined).state;
    const xb = registerModel.step(s0, w('x', 'b'), undefined).state;
    expect(registerModel.equal(xa, xaAgain)).toBe(true);
    expect(registerModel.hash(xa)).toBe(registerModel.hash(xaAgain));
    expect(registerModel.equal(xa, xb)).toBe(false);
    expect(registerModel.hash(xa)).not.toBe(registerModel.hash(xb));
    expect(registerModel.equal(s0, xa)).toBe(false);
    // Length prefixes keep states apart whose plain concatenations would collide ("abc").
    const h1 = registerModel.hash(registerModel.step(s0, w('a', 'bc'), undefined).state);
    const h2 = registerModel.hash(registerModel.step(s0, w('ab', 'c'), undefined).state);
    expect(h1).not.toBe(h2);
  });

  it('partitions by key', () => {
    const h = [write('x', 'a', 0, 1), write('y', 'a', 0, 1), read('x', 'a', 2, 3)];
    expect(registerModel.partition?.(h)).toEqual([[h[0], h[2]], [h[1]]]);
  });
});

describe('HistoryRecorder', () => {
  it('records completed, indeterminate and failed operations', () => {
    const rec = new HistoryRecorder<RegisterInput, RegisterOutput>();
    const w = rec.invoke(1, { op: 'write', key: 'x', value: 'a' }, 0);
    const lostWrite = rec.invoke(2, { op: 'write', key: 'x', value: 'b' }, 1);
    const failed = rec.invoke(3, { op: 'write', key: 'x', value: 'c' }, 1);
    rec.ok(w, undefined, 2);
    rec.unknown(lostWrite);
    rec.fail(failed);
    const r = rec.invoke(1, { op: 'read', key: 'x' }, 3);
    expect(rec.pendingCount()).toBe(1);
    rec.ok(r, { value: 'b' }, 4);

    const ops = rec.operations();
    expect(ops).toEqual([
      { clientId: 1, input: { op: 'write', key: 'x', value: 'a' }, call: 0, output: undefined, return: 2 },
      { clientId: 2, input: { op: 'write', key: 'x', value: 'b' }, call: 1, output: undefined, return: Infinity },
      { clientId: 1, input: { op: 'read', key: 'x' }, call: 3, output: { value: 'b' }, return: 4 },
    ]);
    expect(checkOperations(registerModel, ops).result).toBe('ok');
  });

  it('rejects resolving an operation twice or returning before the call', () => {
    const rec = new HistoryRecorder<RegisterInput, RegisterOutput>();
    const h = rec.invoke(1, { op: 'read', key: 'x' }, 5);
    expect(() => rec.ok(h, { value: null }, 4)).toThrow(RangeError);
    rec.ok(h, { value: null }, 6);
    expect(() => rec.unknown(h)).toThrow(/already resolved/);
  });

  it('treats still-pending operations as indeterminate unless asked to omit them', () => {
    const rec = new HistoryRecorder<RegisterInput, RegisterOutput>();
    rec.invoke(1, { op: 'write', key: 'x', value: 'a' }, 0);
    expect(rec.operations()).toHaveLength(1);
    expect(rec.operations()[0]?.return).toBe(Infinity);
    expect(rec.operations({ pending: 'omit' })).toHaveLength(0);
  });
});

describe('randomized', () => {
  it('agrees with a brute-force checker on 3000 tiny histories', () => {
    let ok = 0;
    let illegal = 0;
    for (let seed = 1; seed <= 3000; seed++) {
      const h = generateTiny(seed);
      const expected = bruteForceLinearizable(h) ? 'ok' : 'illegal';
      const actual = check(h).result;
      if (actual !== expected) {
        throw new Error(`seed ${seed}: checker says ${actual}, brute force says ${expected}\n${JSON.stringify(h)}`);
      }
      if (expected === 'ok') ok++;
      else illegal++;
    }
    // Both verdicts must be well represented, or the comparison proves little.
    expect(ok).toBeGreaterThan(500);
    expect(illegal).toBeGreaterThan(500);
  });

  const gen: GenOptions = { clients: 5, ops: 60, keys: 3, values: 4, indeterminateRate: 0.1, maxDuration: 12 };

  it('accepts 300 random histories that are linearizable by construction', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const result = check(generateLinearizable(seed, gen));
      if (result.result !== 'ok') throw new Error(`seed ${seed}: expected ok, got ${JSON.stringify(result)}`);
    }
  });

  it('rejects them once a read returns a value never written to its key', () => {
    let mutated = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const h = generateLinearizable(seed, gen);
      const victims = h.flatMap((op, i) => (op.input.op === 'read' && op.return !== Infinity ? [i] : []));
      if (victims.length === 0) continue;
      const i = pick(mulberry32(seed * 7919), victims);
      const victim = h[i] as Op;
      h[i] = { ...victim, output: { value: 'never-written' } };
      const result = check(h);
      if (result.result !== 'illegal') throw new Error(`seed ${seed}: expected illegal, got ${result.result}`);
      mutated++;
    }
    expect(mutated).toBeGreaterThan(290);
  });

  it('rejects them once a cas claims to have matched a value never written', () => {
    let mutated = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const h = generateLinearizable(seed, gen);
      const victims = h.flatMap((op, i) => (op.input.op === 'cas' && op.return !== Infinity ? [i] : []));
      if (victims.length === 0) continue;
      const i = pick(mulberry32(seed * 104729), victims);
      const victim = h[i] as Op;
      if (victim.input.op !== 'cas') continue;
      h[i] = { ...victim, input: { ...victim.input, expected: 'never-written' }, output: { ok: true } };
      expect(check(h).result).toBe('illegal');
      mutated++;
    }
    expect(mutated).toBeGreaterThan(250);
  });
});

describe('performance', () => {
  it('checks 2,000 operations over 10 keys and 8 clients', () => {
    const opts: GenOptions = { clients: 8, ops: 2000, keys: 10, values: 5, indeterminateRate: 0, maxDuration: 15 };
    const h = generateLinearizable(42, opts);
    const started = Date.now();
    const result = check(h);
    const elapsed = Date.now() - started;
    console.log(`2,000 ops / 10 keys / 8 clients: ${result.result} in ${elapsed} ms, ${result.steps} steps`);
    expect(result.result).toBe('ok');
  });

  it('checks 3,000 operations on a single key with 8 clients, and finds a planted anomaly', () => {
    const opts: GenOptions = { clients: 8, ops: 3000, keys: 1, values: 5, indeterminateRate: 0, maxDuration: 30 };
    const h = generateLinearizable(7, opts);
    let started = Date.now();
    const result = check(h);
    console.log(`3,000 ops / 1 key / 8 clients: ${result.result} in ${Date.now() - started} ms, ${result.steps} steps`);
    expect(result.result).toBe('ok');

    // A read in the middle returns a value never written: proving that needs exhausting every
    // configuration before it, the expensive direction.
    const i = h.findIndex((op, j) => j > h.length / 2 && op.input.op === 'read');
    h[i] = { ...(h[i] as Op), output: { value: 'never-written' } };
    started = Date.now();
    const bad = check(h);
    console.log(`3,000 ops / 1 key, planted anomaly: ${bad.result} in ${Date.now() - started} ms, ${bad.steps} steps`);
    expect(bad.result).toBe('illegal');
  });

  it('checks 2,000 operations with 2% indeterminate ones', () => {
    const opts: GenOptions = { clients: 8, ops: 2000, keys: 10, values: 5, indeterminateRate: 0.02, maxDuration: 15 };
    const h = generateLinearizable(43, opts);
    const started = Date.now();
    const result = check(h);
    const elapsed = Date.now() - started;
    console.log(`2,000 ops (2% indeterminate): ${result.result} in ${elapsed} ms, ${result.steps} steps`);
    expect(result.result).toBe('ok');
  });
});
