import type { Operation } from './history';

/** Result of applying one operation to a model state. */
export interface StepResult<S> {
  /** Whether the observed output is a possible outcome of the input in that state. */
  readonly ok: boolean;
  /** The state after the operation (meaningless when `ok` is false). */
  readonly state: S;
}

/**
 * A sequential specification of the system under test.
 *
 * The checker backtracks, so it keeps old states around and compares them: `step` must be pure
 * and never mutate `state` (return a new object when something changes; returning the same
 * object when nothing changes is fine and cheap).
 */
export interface Model<S, I, O> {
  /** The state before any operation. */
  init(): S;

  /**
   * Applies `input` to `state` and says whether `output` could have been observed.
   *
   * `output` is `undefined` when the outcome was not observed, in particular for every
   * indeterminate operation (`return = Infinity`): the model must then accept and apply
   * whatever effect the input would have had in `state` (for a deterministic model, simply
   * apply it and return `ok: true`).
   */
  step(state: S, input: I, output: O | undefined): StepResult<S>;

  /**
   * Splits a history into independent sub-histories (e.g. one per key) that can be checked
   * separately. A history is linearizable iff each part is (P-compositionality), and checking
   * parts is exponentially cheaper than checking the whole. Every operation must land in
   * exactly one part, and the model's state must be correct for a part on its own.
   */
  partition?(history: readonly Operation<I, O>[]): Operation<I, O>[][];

  /**
   * True if `input` never changes the state (a read). Optional, purely an optimization: an
   * indeterminate read-only operation constrains nothing, so the checker drops it before the
   * search instead of carrying it along as an always-concurrent candidate.
   */
  isReadOnly?(input: I): boolean;

  /** State equality, used to confirm a memoization hit after `hash` matched. */
  equal(a: S, b: S): boolean;

  /** A string that is equal for equal states (collisions are allowed, just slower). */
  hash(state: S): string;

  /** Human-readable rendering of an operation for failure reports. */
  describeOperation?(input: I, output: O | undefined): string;
}
