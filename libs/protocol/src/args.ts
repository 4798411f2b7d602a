/**
 * Strict reading of operation arguments decoded from the wire. Every failure names the field
 * (`ops[3].version`) and has a stable code: INVALID_ARGUMENT for a wrong type, range or unknown
 * field, INVALID_PATH for a path, TOO_LARGE for a value over its limit.
 *
 * Unknown fields are rejected rather than ignored: a client that sends a field this server does not
 * know expects a behaviour it will not get (a condition, a TTL), and failing loudly beats silently
 * doing something else. New optional fields therefore come with a protocol version.
 *
 * A field whose value is `undefined` counts as absent; `null` is a value, and a wrong one.
 */
import { HikariError } from './errors';
import { isPlainObject } from './json';
import { DATA_BYTES_MAX_CEILING, DATA_BYTES_MAX_DEFAULT } from './limits';
import { nameProblem, pathProblem, sequentialPathProblem } from './path';

/** Limits that a server may configure; validators take them as a parameter. */
export interface RequestLimits {
  readonly dataBytesMax: number;
}

export const DEFAULT_REQUEST_LIMITS: RequestLimits = { dataBytesMax: DATA_BYTES_MAX_DEFAULT };

/** Request limits with `overrides` applied; throws INVALID_ARGUMENT for a value that cannot work. */
export function requestLimits(overrides: Partial<RequestLimits> = {}): RequestLimits {
  const dataBytesMax = overrides.dataBytesMax ?? DATA_BYTES_MAX_DEFAULT;
  if (!Number.isSafeInteger(dataBytesMax) || dataBytesMax < 0 || dataBytesMax > DATA_BYTES_MAX_CEILING) {
    throw HikariError.invalidArgument('dataBytesMax', `must be an integer in [0, ${DATA_BYTES_MAX_CEILING}]`);
  }
  return { dataBytesMax };
}

/**
 * Reads the fields of one argument map. The one-parameter readers are arrow functions, so that they
 * can be passed as they are: `r.optional('stale', r.boolean)`.
 */
export class ArgReader {
  private constructor(
    private readonly map: Record<string, unknown>,
    private readonly prefix: string,
  ) {}

  /** A reader for `value`, which must be a map whose fields are all in `fields`. */
  static of(value: unknown, fields: readonly string[], prefix = ''): ArgReader {
    const where = prefix === '' ? 'arguments' : prefix.replace(/\.$/, '');
    if (!isPlainObject(value)) throw HikariError.invalidArgument(where, 'must be a map');
    for (const key of Object.keys(value)) {
      if (!fields.includes(key)) throw HikariError.invalidArgument(prefix + key, 'is not a known field');
    }
    return new ArgReader(value, prefix);
  }

  /** The field's full name in error details. */
  field(key: string): string {
    return this.prefix + key;
  }

  /** The value of an optional field, or undefined when it is absent. */
  optional<T>(key: string, read: (key: string) => T): T | undefined {
    return this.get(key) === undefined ? undefined : read(key);
  }

  readonly path = (key: string): string => {
    const value = this.string(key);
    const problem = pathProblem(value);
    if (problem !== null) throw HikariError.invalidPath(value, problem, this.field(key));
    return value;
  };

  /** A path for a sequential create: the prefix the server appends the counter to. */
  readonly sequentialPath = (key: string): string => {
    const value = this.string(key);
    const problem = sequentialPathProblem(value);
    if (problem !== null) throw HikariError.invalidPath(value, problem, this.field(key));
    return value;
  };

  /** A node name: one path segment. */
  readonly nodeName = (key: string): string => {
    const value = this.string(key);
    const problem = nameProblem(value);
    if (problem !== null) throw this.invalid(key, `must be a node name, but it ${problem}`);
    return value;
  };

  readonly string = (key: string): string => {
    const value = this.required(key);
    if (typeof value !== 'string') throw this.invalid(key, 'must be a string');
    return value;
  };

  /** A string matching `pattern` (which bounds its length), described as `what` in errors. */
  readonly token = (key: string, pattern: RegExp, what: string): string => {
    const value = this.string(key);
    if (!pattern.test(value)) throw this.invalid(key, `must be ${what}`);
    return value;
  };

  readonly boolean = (key: string): boolean => {
    const value = this.required(key);
    if (typeof value !== 'boolean') throw this.invalid(key, 'must be a boolean');
    return value;
  };

  /** A safe integer in [min, max]. */
  integer(key: string, min: number, max: number): number {
    const value = this.required(key);
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      throw this.invalid(key, `must be an integer in [${min}, ${max}]`);
    }
    return value;
  }

  /** A byte string (msgpack `bin`) of at most `bytesMax` bytes; over it is TOO_LARGE. */
  bytes(key: string, bytesMax: number): Uint8Array {
    const value = this.required(key);
    if (!(value instanceof Uint8Array)) throw this.invalid(key, 'must be bytes (msgpack bin), not a string or array');
    if (value.length > bytesMax) throw HikariError.tooLarge(this.field(key), value.length, bytesMax);
    return value;
  }

  oneOf<T extends string>(key: string, values: readonly T[]): T {
    const value = this.required(key);
    if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) {
      throw this.invalid(key, `must be one of ${values.join(', ')}`);
    }
    return value as T;
  }

  /** An array of 1 to `countMax` items; more is TOO_LARGE. */
  array(key: string, countMax: number): unknown[] {
    const value = this.required(key);
    if (!Array.isArray(value)) throw this.invalid(key, 'must be an array');
    if (value.length === 0) throw this.invalid(key, 'must not be empty');
    if (value.length > countMax) throw HikariError.tooLarge(this.field(key), value.length, countMax);
    return value;
  }

  /** The field's value; INVALID_ARGUMENT when it is absent. */
  private required(key: string): unknown {
    const value = this.get(key);
    if (value === undefined) throw this.invalid(key, 'is required');
    return value;
  }

  // Own fields only: `constructor` or `toString` must not be found on the prototype.
  private get(key: string): unknown {
    return Object.hasOwn(this.map, key) ? this.map[key] : undefined;
  }

  invalid(key: string, reason: string): HikariError {
    return HikariError.invalidArgument(this.field(key), reason);
  }
}
