import type { Operation } from '../history';

/** Splits a history into one part per `input.key`, in first-seen order (for models of independent keys). */
export function partitionByKey<I extends { readonly key: string }, O>(history: readonly Operation<I, O>[]): Operation<I, O>[][] {
  const byKey = new Map<string, Operation<I, O>[]>();
  for (const op of history) {
    const list = byKey.get(op.input.key);
    if (list === undefined) byKey.set(op.input.key, [op]);
    else list.push(op);
  }
  return [...byKey.values()];
}
