/**
 * Sequential specification of HikariKeeper's nodes seen as registers with versions, one per key:
 * every key exists from the start with `initial` data at version 0; `set` replaces the data and
 * increments the version; `set` with an expected version (compare-and-set) applies only at that
 * version (BAD_VERSION otherwise). Reads and writes report the version they saw or made, so the
 * checker verifies versions too, not just values.
 */
import type { Model } from '../model';
import { partitionByKey, tuplesEqual } from './partition';

export type VersionedInput =
  | { readonly op: 'read'; readonly key: string }
  | { readonly op: 'write'; readonly key: string; readonly value: string }
  /** Sets `value` iff the key is at `version`. */
  | { readonly op: 'cas'; readonly key: string; readonly version: number; readonly value: string };

/**
 * Outputs, by input kind (`undefined`: not observed, anything goes):
 * - read: `{ value, version }`;
 * - write: `{ version }`, the version the write made;
 * - cas: `{ ok: true, version }` (the version made) or `{ ok: false }` (BAD_VERSION).
 */
export type VersionedOutput =
  | { readonly value: string; readonly version: number }
  | { readonly version: number }
  | { readonly ok: true; readonly version: number }
  | { readonly ok: false }
  | undefined;

/** One key's register: `[key, value, version]`, sorted by key; an absent key is at (initial, 0). */
export type VersionedState = readonly (readonly [key: string, value: string, version: number])[];

type Slot = readonly [string, string, number];

/** A versioned-register model whose keys start with data `initial` at version 0. */
export function versionedRegisterModel(initial = ''): Model<VersionedState, VersionedInput, VersionedOutput> {
  const EMPTY: VersionedState = Object.freeze([]);
  const get = (state: VersionedState, key: string): { value: string; version: number } => {
    for (const [k, value, version] of state) if (k === key) return { value, version };
    return { value: initial, version: 0 };
  };
  const put = (state: VersionedState, key: string, value: string, version: number): VersionedState => {
    let i = 0;
    while (i < state.length && (state[i] as Slot)[0] < key) i++;
    const replace = state[i] !== undefined && (state[i] as Slot)[0] === key ? 1 : 0;
    return [...state.slice(0, i), [key, value, version], ...state.slice(i + replace)];
  };
  return {
    init: () => EMPTY,

    step(state, input, output) {
      const current = get(state, input.key);
      switch (input.op) {
        case 'read': {
          const seen = output as { value?: string; version?: number } | undefined;
          const ok = seen === undefined || (seen.value === current.value && seen.version === current.version);
          return { ok, state };
        }
        case 'write': {
          const made = (output as { version?: number } | undefined)?.version;
          if (made !== undefined && made !== current.version + 1) return { ok: false, state };
          return { ok: true, state: put(state, input.key, input.value, current.version + 1) };
        }
        case 'cas': {
          const swapped = current.version === input.version;
          const seen = output as { ok?: boolean; version?: number } | undefined;
          if (seen !== undefined && seen.ok !== undefined && seen.ok !== swapped) return { ok: false, state };
          if (!swapped) return { ok: true, state };
          if (seen?.version !== undefined && seen.version !== current.version + 1) return { ok: false, state };
          return { ok: true, state: put(state, input.key, input.value, current.version + 1) };
        }
      }
    },

    partition: partitionByKey,

    isReadOnly: (input) => input.op === 'read',

    equal: tuplesEqual,

    hash(state) {
      let out = '';
      for (const [k, v, n] of state) out += `${k.length}:${k}${v.length}:${v}${n};`;
      return out;
    },

    describeOperation(input, output) {
      const o = output as { value?: string; version?: number; ok?: boolean } | undefined;
      const made = o?.version === undefined ? '?' : `v${o.version}`;
      switch (input.op) {
        case 'read':
          return `read(${JSON.stringify(input.key)}) -> ${o === undefined ? '?' : `${JSON.stringify(o.value)}@v${o.version}`}`;
        case 'write':
          return `write(${JSON.stringify(input.key)}, ${JSON.stringify(input.value)}) -> ${made}`;
        case 'cas':
          return `cas(${JSON.stringify(input.key)}, @v${input.version} -> ${JSON.stringify(input.value)}) -> ${o?.ok === undefined ? '?' : o.ok ? `ok ${made}` : 'BAD_VERSION'}`;
      }
    },
  };
}
