/**
 * History types shared by the deterministic simulator (test/sim) and the chaos harness.
 *
 * A history is a flat list of operations, each with the logical time its call was issued and
 * the logical time its response was received. We deliberately do not model the history as a
 * stream of call/return events: every producer we have knows both ends of an operation, and
 * pairing events back up is a classic source of harness bugs.
 */

/**
 * One client operation.
 *
 * `call` and `return` are logical timestamps on a single clock shared by all clients (the
 * simulator's virtual clock, or the harness's monotonic clock). Operation A is ordered before
 * operation B in real time only if `A.return < B.call`; equal timestamps mean "concurrent",
 * because a shared clock with coarse ticks cannot tell which happened first.
 *
 * An operation whose outcome is unknown (timeout, lost connection, crash of the client) is
 * *indeterminate*: its `return` is `+Infinity` and its `output` is ignored (conventionally
 * `undefined`). It may have taken effect at any moment after its call, or never, and the
 * checker explores both.
 */
export interface Operation<I, O> {
  /** Who issued it. Only informative: the checker relies on timestamps, not on client ids. */
  readonly clientId: number;
  readonly input: I;
  /** Logical time the call was issued. Must be finite. */
  readonly call: number;
  /**
   * What the client observed. `undefined` means "not observed"; it is what the recorder
   * stores for indeterminate operations, and models must treat it as "any outcome".
   */
  readonly output: O | undefined;
  /** Logical time the response arrived; `Infinity` for an indeterminate operation. */
  readonly return: number;
}

/** True when the operation's outcome is unknown: it may or may not have taken effect. */
export function isIndeterminate<I, O>(op: Operation<I, O>): boolean {
  return op.return === Infinity;
}

/** Opaque handle returned by {@link HistoryRecorder.invoke}; a branded number, not an index to rely on. */
export type OperationHandle = number & { readonly __brand: 'OperationHandle' };

interface PendingOperation<I, O> {
  clientId: number;
  input: I;
  call: number;
  output: O | undefined;
  return: number;
  /** 'pending' until resolved; 'failed' ops are dropped from the history. */
  status: 'pending' | 'ok' | 'unknown' | 'failed';
}

/**
 * Collects operations as a test drives a system. Each `invoke` must be resolved exactly once
 * with `ok`, `unknown` or `fail`; resolving twice throws, because it almost always means the
 * harness mixed up two requests, and a silently wrong history makes the checker's verdict
 * meaningless.
 */
export class HistoryRecorder<I, O> {
  private readonly ops: PendingOperation<I, O>[] = [];

  /** Records the call of an operation at logical time `now`. */
  invoke(clientId: number, input: I, now: number): OperationHandle {
    if (!Number.isFinite(now)) throw new RangeError(`call time must be finite, got ${now}`);
    this.ops.push({ clientId, input, call: now, output: undefined, return: Infinity, status: 'pending' });
    return (this.ops.length - 1) as OperationHandle;
  }

  /** The operation definitely completed with `output`, observed at logical time `now`. */
  ok(handle: OperationHandle, output: O, now: number): void {
    const op = this.pending(handle);
    if (!Number.isFinite(now) || now < op.call) {
      throw new RangeError(`return time ${now} must be finite and >= call time ${op.call}`);
    }
    op.output = output;
    op.return = now;
    op.status = 'ok';
  }

  /**
   * The outcome is unknown (e.g. timeout): the operation may or may not have taken effect.
   * It stays in the history with `return = Infinity`.
   */
  unknown(handle: OperationHandle): void {
    const op = this.pending(handle);
    op.status = 'unknown';
  }

  /**
   * The operation definitely did not take effect (e.g. rejected before being proposed): it is
   * dropped from the history. Only use this when non-effect is certain; when in doubt, use
   * `unknown`, which is always sound, whereas a wrong `fail` produces false 'illegal' verdicts.
   */
  fail(handle: OperationHandle): void {
    const op = this.pending(handle);
    op.status = 'failed';
  }

  /** Number of invoked operations not resolved yet. */
  pendingCount(): number {
    return this.ops.reduce((n, op) => n + (op.status === 'pending' ? 1 : 0), 0);
  }

  /**
   * The recorded history in invocation order, without failed operations.
   *
   * Operations still pending are included as indeterminate (`return = Infinity`): at the end
   * of a run an unanswered request may well have been applied, and treating it as indeterminate
   * is the only interpretation that cannot produce a false 'illegal' verdict. Pass
   * `{ pending: 'omit' }` to leave them out instead.
   */
  operations(opts: { pending?: 'indeterminate' | 'omit' } = {}): Operation<I, O>[] {
    const omitPending = opts.pending === 'omit';
    const out: Operation<I, O>[] = [];
    for (const op of this.ops) {
      if (op.status === 'failed' || (op.status === 'pending' && omitPending)) continue;
      out.push({
        clientId: op.clientId,
        input: op.input,
        call: op.call,
        output: op.status === 'ok' ? op.output : undefined,
        return: op.status === 'ok' ? op.return : Infinity,
      });
    }
    return out;
  }

  private pending(handle: OperationHandle): PendingOperation<I, O> {
    const op = this.ops[handle];
    if (op === undefined) throw new RangeError(`unknown operation handle ${handle}`);
    if (op.status !== 'pending') throw new Error(`operation ${handle} already resolved as '${op.status}'`);
    return op;
  }
}
