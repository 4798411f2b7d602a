/**
 * Sequential specification of a replicated map of string keys to string values, seen as one
 * independent register per key. An absent key reads as `null`.
 */
import type { Model } from '../model';
import { partitionByKey, tuplesEqual } from './partition';

export type RegisterInput =
  | { readonly op: 'read'; readonly key: string }
  | { readonly op: 'write'; readonly key: string; readonly value: string }
  /** Sets `value` iff the current value is `expected` (`null` = "only if absent"). */
  | { readonly op: 'cas'; readonly key: string; readonly expected: string | null; readonly value: string };

/**
 * Outputs, by input kind:
 * - read: `{ value }`, `null` meaning absent. A missing `value` means "not observed" and
 *   accepts anything, like an `undefined` output.
 * - cas: `{ ok }`, whether the swap happened.
 * - write: nothing (`undefined`); any output is ignored.
 */
export type RegisterOutput = { readonly value?: string | null } | { readonly ok: boolean } | undefined;

/**
 * Model state: the present keys and their values, as `[key, value]` pairs sorted by key.
 * Immutable (copied on write), because the checker keeps old states for backtracking. With
 * per-key partitioning it holds at most one pair, so a small sorted array beats a Map or an
 * object (no hashing, no dictionary-mode objects, trivial to compare), and the model stays
 * correct on an unpartitioned history.
 */
export type RegisterState = readonly (readonly [key: string, value: string])[];

const EMPTY: RegisterState = Object.freeze([]);

function get(state: RegisterState, key: string): string | null {
  for (const [k, v] of state) if (k === key) return v;
  return null;
}

function set(state: RegisterState, key: string, value: string): RegisterState {
  let i = 0;
  while (i < state.length && (state[i] as readonly [string, string])[0] < key) i++;
  const existing = state[i];
  if (existing !== undefined && existing[0] === key) {
    if (existing[1] === value) return state;
    return [...state.slice(0, i), [key, value], ...state.slice(i + 1)];
  }
  return [...state.slice(0, i), [key, value], ...state.slice(i)];
}

function readValue(output: RegisterOutput): string | null | undefined {
  return output !== undefined && 'value' in output ? output.value : undefined;
}

function casOk(output: RegisterOutput): boolean | undefined {
  return output !== undefined && 'ok' in output ? output.ok : undefined;
}

export const registerModel: Model<RegisterState, RegisterInput, RegisterOutput> = {
  init: () => EMPTY,

  step(state, input, output) {
    const current = get(state, input.key);
    switch (input.op) {
      case 'read': {
        const seen = readValue(output);
        return { ok: seen === undefined || seen === current, state };
      }
      case 'write':
        return { ok: true, state: set(state, input.key, input.value) };
      case 'cas': {
        const swapped = current === input.expected;
        const reported = casOk(output);
        if (reported !== undefined && reported !== swapped) return { ok: false, state };
        return { ok: true, state: swapped ? set(state, input.key, input.value) : state };
      }
    }
  },

  partition: partitionByKey,

  isReadOnly: (input) => input.op === 'read',

  equal: tuplesEqual,

  hash(state) {
    // Length-prefixed pairs (already in key order): unambiguous whatever characters keys and
    // values contain, and much cheaper than JSON on the checker's hot path.
    let out = '';
    for (const [k, v] of state) out += `${k.length}:${k}${v.length}:${v}`;
    return out;
  },

  describeOperation(input, output) {
    const show = (v: string | null | undefined): string => (v === undefined ? '?' : JSON.stringify(v));
    switch (input.op) {
      case 'read':
        return `read(${JSON.stringify(input.key)}) -> ${show(readValue(output))}`;
      case 'write':
        return `write(${JSON.stringify(input.key)}, ${JSON.stringify(input.value)})`;
      case 'cas': {
        const ok = casOk(output);
        return `cas(${JSON.stringify(input.key)}, ${show(input.expected)} -> ${JSON.stringify(input.value)}) -> ${ok === undefined ? '?' : String(ok)}`;
      }
    }
  },
};
