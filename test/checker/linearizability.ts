/**
 * Linearizability checker (Wing & Gong's search with Lowe's memoization, as in
 * anishathalye/porcupine), used by the deterministic simulator and the chaos harness.
 *
 * ## Algorithm
 *
 * 1. The model may split the history into independent partitions (e.g. one per key). A history
 *    is linearizable iff every partition is (P-compositionality, Horn & Kroening), and the search
 *    below is exponential in the concurrency of what it is given, so this is the biggest win.
 *    Partitions are checked smallest first, so a huge one cannot eat the whole budget before a
 *    small one has had a chance to be found illegal.
 *
 * 2. Each partition becomes a doubly linked list of call and return entries sorted by time.
 *    Real-time order is strict: A precedes B only if `A.return < B.call`. So on equal timestamps
 *    call entries sort before return entries, which makes "A returns at t, B is called at t"
 *    concurrent (B's call is reached before A's return, so B may be linearized first).
 *
 * 3. Depth-first search over the list. Walking from the head:
 *    - at a call entry, try to linearize that operation now: apply it to the current model
 *      state; if the model accepts the observed output and the resulting configuration
 *      (set of linearized operations, model state) has not been explored before, push
 *      (entry, previous state) on a stack, *lift* the operation's call and return entries out
 *      of the list, and restart from the head. Otherwise move on to the next entry.
 *    - at a return entry, the corresponding operation has not been linearized, yet every
 *      candidate that could come before it has been tried: backtrack by popping the stack,
 *      restoring the state, *unlifting* the entries back into place (O(1) thanks to the
 *      doubly linked list, which is the point of the data structure) and continuing with the
 *      entry after the popped call. An empty stack means no linearization exists: 'illegal'.
 *    The search succeeds when every determinate operation has been linearized.
 *
 * 4. Memoization (Lowe): the cache holds every configuration (bitset of linearized operations,
 *    model state) reached so far. Reaching one again means the subtree below it was already
 *    explored (and failed, otherwise we would have stopped), so it is pruned. This turns the
 *    factorial search into one bounded by the number of distinct configurations. The bitset is
 *    a Uint32Array; its hash is maintained incrementally (Zobrist hashing: XOR of a random
 *    64-bit value per operation), so a step does not cost O(n / 32) just to hash it. Hash
 *    collisions only cost a comparison: a hit is confirmed with a full bitset comparison and
 *    `model.equal`.
 *
 * ## Indeterminate operations
 *
 * An operation with `return = Infinity` (timeout, crash) may have taken effect at any point
 * after its call, or never. It gets a call entry but *no* return entry: the search can
 * linearize it whenever its call entry is reachable (i.e. after every operation that returned
 * before it was called, never before), but it never forces a backtrack, and the search stops
 * as soon as all determinate operations are linearized, so any indeterminate operation not
 * linearized by then is simply omitted ("never happened"). Its recorded output is ignored: the
 * model is stepped with `output = undefined` and must accept whatever effect the input has.
 *
 * The cost: each indeterminate operation stays concurrent with everything after its call, so
 * each one that is still open can double the configurations to explore. Two sound reductions:
 * indeterminate operations the model declares read-only (`model.isReadOnly`) are dropped up
 * front, and an indeterminate operation that would leave the state unchanged where it is tried
 * (e.g. a lost cas whose expectation does not hold) is not linearized there, since omitting it
 * reaches the same state with one fewer constraint. Proving a history *illegal* with many open
 * indeterminate writes on one key can still exhaust the budget ('unknown').
 *
 * ## Budget
 *
 * The search is exponential in the worst case, so it is bounded by a step budget (one step =
 * one visit of a list entry) and an optional wall-clock timeout, shared by all partitions.
 * Running out yields 'unknown', never a guess.
 */
import type { Operation } from './history';
import type { Model } from './model';

export interface CheckOptions {
  /**
   * Maximum number of search steps over all partitions before giving up with 'unknown'.
   * Also bounds memory: the cache grows by at most one entry per step.
   */
  maxSteps?: number;
  /** Wall-clock budget in milliseconds over all partitions; none by default. */
  timeoutMs?: number;
}

export type CheckVerdict = 'ok' | 'illegal' | 'unknown';

export interface CheckResult<I = unknown, O = unknown> {
  result: CheckVerdict;
  /** Number of partitions the model split the history into. */
  partitions: number;
  /**
   * Index (in `model.partition`'s output) of the partition proven non-linearizable, or, for
   * 'unknown', of the first partition (in checking order: smallest first) left undecided.
   */
  failingPartition?: number;
  /**
   * For 'illegal' and 'unknown': the longest sequence of operations of `failingPartition` that
   * the search managed to linearize, in linearization order. The operation that could not be
   * placed next is usually the culprit (or the one just before it).
   */
  longestPrefix?: Operation<I, O>[];
  /** Search steps spent over all partitions. */
  steps: number;
}

/**
 * Default step budget. Measured on single-key register histories of 3,000 operations: with 8
 * concurrent clients an 'ok' takes ~0.1M steps and an 'illegal' proof ~0.8M; with 12 clients
 * an 'ok' takes up to ~1.8M. The search runs at roughly 0.5-1M steps/s, and the cache costs up
 * to ~170 bytes per step on such partitions (each entry copies the bitset), so this cap means
 * a few seconds and a few hundred megabytes at worst.
 */
export const DEFAULT_MAX_STEPS = 3_000_000;

/** How often (in steps) to look at the clock: Date.now() is too slow to call on every step. */
const CLOCK_CHECK_INTERVAL = 1024;

/**
 * Checks whether `history` is linearizable with respect to `model`.
 *
 * Throws a RangeError for malformed histories (non-finite call time, return before call),
 * because a verdict on a broken history would be misleading.
 */
export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  opts: CheckOptions = {},
): CheckResult<I, O> {
  for (const op of history) validateOperation(op);

  const parts: readonly (readonly Operation<I, O>[])[] = model.partition ? model.partition(history) : [history];
  const total = parts.reduce((n, p) => n + p.length, 0);
  if (total !== history.length) {
    // A partition function that drops or duplicates operations would silently weaken the check.
    throw new Error(`model.partition returned ${total} operations for a history of ${history.length}`);
  }

  const budget: Budget = {
    steps: 0,
    maxSteps: opts.maxSteps ?? DEFAULT_MAX_STEPS,
    deadline: opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs,
  };

  const order = parts.map((_, i) => i).sort((a, b) => (parts[a]?.length ?? 0) - (parts[b]?.length ?? 0) || a - b);
  let firstUnknown: { index: number; prefix: Operation<I, O>[] } | undefined;
  const isReadOnly = model.isReadOnly?.bind(model);
  for (const index of order) {
    // Indeterminate read-only operations constrain nothing: leave them out of the search.
    const part = (parts[index] ?? []).filter((op) => !(op.return === Infinity && isReadOnly?.(op.input)));
    const outcome = checkPartition(model, part, budget);
    if (outcome.verdict === 'illegal') {
      return {
        result: 'illegal',
        partitions: parts.length,
        failingPartition: index,
        longestPrefix: outcome.longest.map((i) => part[i] as Operation<I, O>),
        steps: budget.steps,
      };
    }
    // Keep going after an 'unknown': another partition may still be proven illegal.
    if (outcome.verdict === 'unknown' && firstUnknown === undefined) {
      firstUnknown = { index, prefix: outcome.longest.map((i) => part[i] as Operation<I, O>) };
    }
  }

  if (firstUnknown !== undefined) {
    return {
      result: 'unknown',
      partitions: parts.length,
      failingPartition: firstUnknown.index,
      longestPrefix: firstUnknown.prefix,
      steps: budget.steps,
    };
  }
  return { result: 'ok', partitions: parts.length, steps: budget.steps };
}

function validateOperation<I, O>(op: Operation<I, O>): void {
  if (!Number.isFinite(op.call)) {
    throw new RangeError(`operation call time must be finite, got ${op.call} (client ${op.clientId})`);
  }
  // `!(a >= b)` rather than `a < b` so that NaN is rejected too.
  if (!(op.return >= op.call)) {
    throw new RangeError(
      `operation return time ${op.return} is before its call time ${op.call} (client ${op.clientId})`,
    );
  }
}

interface Budget {
  steps: number;
  readonly maxSteps: number;
  readonly deadline: number;
}

/** A call or return entry of the linked list. */
interface Entry {
  /** Index of the operation in its partition. */
  readonly id: number;
  /** Call entries point at their return entry; `null` for returns and for indeterminate calls. */
  readonly match: Entry | null;
  readonly isCall: boolean;
  prev: Entry | null;
  next: Entry | null;
}

interface Frame<S> {
  readonly entry: Entry;
  /** Model state before this operation was applied, restored on backtrack. */
  readonly state: S;
}

interface CacheEntry<S> {
  readonly bits: Uint32Array;
  readonly state: S;
  /** `model.hash(state)`, compared before the (possibly costly) `model.equal`. */
  readonly stateHash: string;
}

interface PartitionOutcome {
  verdict: CheckVerdict;
  /** Longest linearized prefix seen, as operation indices in linearization order. */
  longest: number[];
}

function checkPartition<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  budget: Budget,
): PartitionOutcome {
  const head = buildList(ops);
  let remaining = 0; // determinate operations not linearized yet
  for (const op of ops) if (op.return !== Infinity) remaining++;
  if (remaining === 0) return { verdict: 'ok', longest: [] };

  const bits = new Uint32Array((ops.length + 31) >>> 5);
  const zobrist = zobristTable(ops.length);
  let hashLo = 0;
  let hashHi = 0;
  const cache = new Map<number, CacheEntry<S>[]>();
  const stack: Frame<S>[] = [];
  let longest: number[] = [];
  let state = model.init();
  let entry = head.next;

  for (;;) {
    if (budget.steps >= budget.maxSteps) return giveUp();
    budget.steps++;
    if (budget.deadline !== Infinity && budget.steps % CLOCK_CHECK_INTERVAL === 0 && Date.now() > budget.deadline) {
      return giveUp();
    }
    if (entry === null) {
      // Unreachable: while a determinate operation is unlinearized its return entry is ahead.
      throw new Error('linearizability checker: walked off the end of the entry list');
    }

    if (entry.isCall) {
      const op = ops[entry.id] as Operation<I, O>;
      const indeterminate = entry.match === null;
      const result = model.step(state, op.input, indeterminate ? undefined : op.output);
      // An indeterminate operation that changes nothing here (a lost read, a failed cas) is
      // never worth linearizing: omitting it reaches the same states with one fewer constraint.
      // Skipping it keeps each such operation from doubling the configuration space.
      if (result.ok && !(indeterminate && model.equal(result.state, state))) {
        const id = entry.id;
        const word = id >>> 5;
        const mask = 1 << (id & 31);
        bits[word] = (bits[word] as number) | mask;
        hashLo ^= zobrist[2 * id] as number;
        hashHi ^= zobrist[2 * id + 1] as number;
        // 53-bit numeric key from the Zobrist hash: cheaper to look up than a string.
        const key = (hashHi & 0x1fffff) * 0x1_0000_0000 + (hashLo >>> 0);
        const stateHash = model.hash(result.state);
        let bucket = cache.get(key);
        const seen = bucket?.some(
          (c) => c.stateHash === stateHash && bitsEqual(c.bits, bits) && model.equal(c.state, result.state),
        );
        if (seen !== true) {
          if (bucket === undefined) cache.set(key, (bucket = []));
          bucket.push({ bits: bits.slice(), state: result.state, stateHash });
          stack.push({ entry, state });
          state = result.state;
          lift(entry);
          if (!indeterminate) {
            remaining--;
            if (remaining === 0) return { verdict: 'ok', longest: [] };
          }
          entry = head.next;
          continue;
        }
        // Explored before: undo the tentative bit and try the next candidate.
        bits[word] = (bits[word] as number) & ~mask;
        hashLo ^= zobrist[2 * id] as number;
        hashHi ^= zobrist[2 * id + 1] as number;
      }
      entry = entry.next;
    } else {
      // A return entry whose operation is not linearized: nothing else can go first. Backtrack.
      if (stack.length > longest.length) longest = stack.map((f) => f.entry.id);
      const top = stack.pop();
      if (top === undefined) return { verdict: 'illegal', longest };
      const id = top.entry.id;
      bits[id >>> 5] = (bits[id >>> 5] as number) & ~(1 << (id & 31));
      hashLo ^= zobrist[2 * id] as number;
      hashHi ^= zobrist[2 * id + 1] as number;
      state = top.state;
      unlift(top.entry);
      if (top.entry.match !== null) remaining++;
      entry = top.entry.next;
    }
  }

  function giveUp(): PartitionOutcome {
    if (stack.length > longest.length) longest = stack.map((f) => f.entry.id);
    return { verdict: 'unknown', longest };
  }
}

/** Builds the sorted doubly linked list of entries and returns its (sentinel) head. */
function buildList<I, O>(ops: readonly Operation<I, O>[]): Entry {
  interface Timed {
    readonly time: number;
    readonly entry: Entry;
  }
  const timed: Timed[] = [];
  ops.forEach((op, id) => {
    const ret: Entry | null =
      op.return === Infinity ? null : { id, match: null, isCall: false, prev: null, next: null };
    timed.push({ time: op.call, entry: { id, match: ret, isCall: true, prev: null, next: null } });
    if (ret !== null) timed.push({ time: op.return, entry: ret });
  });
  // Calls before returns on equal times: equal timestamps mean concurrent (see header).
  // Then by operation index, only so that the search order is deterministic.
  const rank = (e: Entry): number => (e.isCall ? 0 : 1);
  timed.sort((a, b) => a.time - b.time || rank(a.entry) - rank(b.entry) || a.entry.id - b.entry.id);

  const head: Entry = { id: -1, match: null, isCall: false, prev: null, next: null };
  let last = head;
  for (const { entry } of timed) {
    entry.prev = last;
    last.next = entry;
    last = entry;
  }
  return head;
}

/** Removes a call entry and its return entry (if any) from the list; they keep their links. */
function lift(call: Entry): void {
  unlink(call);
  if (call.match !== null) unlink(call.match);
}

/** Exact inverse of {@link lift}: reinserts in reverse order, using the links the entries kept. */
function unlift(call: Entry): void {
  if (call.match !== null) relink(call.match);
  relink(call);
}

function unlink(e: Entry): void {
  // Every list entry has a predecessor (at least the sentinel head).
  (e.prev as Entry).next = e.next;
  if (e.next !== null) e.next.prev = e.prev;
}

function relink(e: Entry): void {
  (e.prev as Entry).next = e;
  if (e.next !== null) e.next.prev = e;
}

function bitsEqual(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Two random 32-bit words per operation for Zobrist hashing of the linearized set. Seeded
 * (splitmix32) so that runs are reproducible; the quality only affects cache bucket sizes.
 */
function zobristTable(n: number): Int32Array {
  const table = new Int32Array(2 * n);
  let seed = 0x9e3779b9;
  for (let i = 0; i < table.length; i++) {
    seed = (seed + 0x9e3779b9) | 0;
    let z = seed;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    table[i] = z ^ (z >>> 16);
  }
  return table;
}
