/**
 * Checks the shape of each operation's result before it reaches typed code. The envelope was checked
 * by the protocol package; its `r` is whatever the node sent. A result of the wrong shape fails that
 * one call with BAD_FRAME (the framing is intact, so the connection stays open).
 */
import { HikariError, isPlainObject, OpName, OpResult, Stat } from '@hikarikeeper/protocol';

type Check<O extends OpName> = (value: unknown) => OpResult<O>;
type Fields = Record<string, unknown>;

const STAT_NUMBERS = [
  'version',
  'cversion',
  'createdIndex',
  'modifiedIndex',
  'childrenCount',
  'dataLength',
  'createdAt',
  'modifiedAt',
] as const;

const MULTI_RESULT_OPS = ['check', 'create', 'set', 'delete', 'fence'];

class MalformedResult extends Error {}

function map(value: unknown, what: string): Fields {
  if (!isPlainObject(value)) throw new MalformedResult(`${what} must be a map`);
  return value;
}

function stat(value: unknown, what = 'stat'): Stat {
  const fields = map(value, what);
  for (const key of STAT_NUMBERS) {
    if (!Number.isSafeInteger(fields[key])) throw new MalformedResult(`${what}.${key} must be an integer`);
  }
  const owner = fields.ephemeralOwner;
  if (owner !== null && typeof owner !== 'string') {
    throw new MalformedResult(`${what}.ephemeralOwner must be a string or null`);
  }
  return fields as unknown as Stat;
}

function string(fields: Fields, key: string): string {
  if (typeof fields[key] !== 'string') throw new MalformedResult(`${key} must be a string`);
  return fields[key];
}

function integer(fields: Fields, key: string, min: number): number {
  const value = fields[key];
  if (!Number.isSafeInteger(value) || (value as number) < min) {
    throw new MalformedResult(`${key} must be an integer of at least ${min}`);
  }
  return value as number;
}

/** `session.open` and `session.resume` answer the same. */
function sessionResult(value: unknown): { sessionId: string; timeoutMs: number } {
  const fields = map(value, 'the result');
  const sessionId = string(fields, 'sessionId');
  if (sessionId === '') throw new MalformedResult('sessionId must not be empty');
  return { sessionId, timeoutMs: integer(fields, 'timeoutMs', 1) };
}

const CHECKS: { readonly [O in OpName]: Check<O> } = {
  hello: (value) => map(value, 'the result') as unknown as OpResult<'hello'>,
  ping: (value) => (map(value, 'the result'), {}),
  create: (value) => {
    const fields = map(value, 'the result');
    return { path: string(fields, 'path'), stat: stat(fields.stat) };
  },
  get: (value) => {
    const fields = map(value, 'the result');
    if (!(fields.data instanceof Uint8Array)) throw new MalformedResult('data must be bytes');
    return { data: fields.data, stat: stat(fields.stat) };
  },
  set: (value) => ({ stat: stat(map(value, 'the result').stat) }),
  delete: (value) => (map(value, 'the result'), {}),
  exists: (value) => (value === null ? null : { stat: stat(map(value, 'the result').stat) }),
  children: (value) => {
    const fields = map(value, 'the result');
    const { names, more } = fields;
    if (!Array.isArray(names) || !names.every((name) => typeof name === 'string')) {
      throw new MalformedResult('names must be an array of strings');
    }
    if (typeof more !== 'boolean') throw new MalformedResult('more must be a boolean');
    if (fields.children === undefined) return { names: names as string[], more, stat: stat(fields.stat) };
    if (!Array.isArray(fields.children)) throw new MalformedResult('children must be an array');
    const children = fields.children.map((item, i) => {
      const f = map(item, `children[${i}]`);
      if (!(f.data instanceof Uint8Array)) throw new MalformedResult(`children[${i}].data must be bytes`);
      return { name: string(f, 'name'), data: f.data, stat: stat(f.stat, `children[${i}].stat`) };
    });
    return { names: names as string[], more, stat: stat(fields.stat), children };
  },
  multi: (value) => {
    const { results } = map(value, 'the result');
    if (!Array.isArray(results)) throw new MalformedResult('results must be an array');
    results.forEach((item, index) => {
      const fields = map(item, `results[${index}]`);
      if (!MULTI_RESULT_OPS.includes(fields.op as string)) {
        throw new MalformedResult(`results[${index}].op must be one of ${MULTI_RESULT_OPS.join(', ')}`);
      }
      if (fields.op === 'create') string(fields, 'path');
      if (fields.op === 'create' || fields.op === 'set') stat(fields.stat, `results[${index}].stat`);
    });
    return { results } as OpResult<'multi'>;
  },
  sync: (value) => {
    const { index } = map(value, 'the result');
    if (!Number.isSafeInteger(index)) throw new MalformedResult('index must be an integer');
    return { index: index as number };
  },
  'session.open': sessionResult,
  'session.resume': sessionResult,
  'session.keepalive': (value) => {
    const fields = map(value, 'the result');
    const timeoutMs = integer(fields, 'timeoutMs', 1);
    if (fields.expired === undefined) return { timeoutMs };
    if (!Array.isArray(fields.expired) || !fields.expired.every((id) => typeof id === 'string')) throw new MalformedResult('expired must be an array of strings');
    return { timeoutMs, expired: fields.expired as string[] };
  },
  'session.close': (value) => (map(value, 'the result'), {}),
  watch: (value) => {
    const fields = map(value, 'the result');
    return { watchId: integer(fields, 'watchId', 1), index: integer(fields, 'index', 0) };
  },
  unwatch: (value) => (map(value, 'the result'), {}),
  'lock.acquire': (value) => {
    const fields = map(value, 'the result');
    if (fields.granted === true) {
      return { granted: true, token: integer(fields, 'token', 1), ticket: integer(fields, 'ticket', 1), count: integer(fields, 'count', 1) };
    }
    if (fields.granted !== false) throw new MalformedResult('granted must be a boolean');
    if (fields.ticket === undefined) return { granted: false };
    return { granted: false, ticket: integer(fields, 'ticket', 1), position: integer(fields, 'position', 0) };
  },
  'lock.wait': (value) => ({ token: integer(map(value, 'the result'), 'token', 1) }),
  'lock.release': (value) => ({ count: integer(map(value, 'the result'), 'count', 0) }),
  'lock.cancel': (value) => {
    const was = map(value, 'the result').was;
    if (was !== 'waiting' && was !== 'held' && was !== 'gone') throw new MalformedResult('was must be waiting, held or gone');
    return { was };
  },
  'lock.info': (value) => {
    const fields = map(value, 'the result');
    const holders = fields.holders;
    const waiters = fields.waiters;
    if (!Array.isArray(holders) || !Array.isArray(waiters)) throw new MalformedResult('holders and waiters must be arrays');
    holders.forEach((h, i) => {
      const f = map(h, `holders[${i}]`);
      integer(f, 'token', 1);
      string(f, 'session');
    });
    waiters.forEach((w, i) => string(map(w, `waiters[${i}]`), 'session'));
    return {
      name: string(fields, 'name'), permits: integer(fields, 'permits', 1), index: integer(fields, 'index', 0),
      holders: holders as OpResult<'lock.info'>['holders'], waiters: waiters as OpResult<'lock.info'>['waiters'],
    };
  },
};

/** The result of `op`, checked; throws BAD_FRAME naming the field at fault. */
export function checkResult<O extends OpName>(op: O, value: unknown): OpResult<O> {
  try {
    return (CHECKS[op] as Check<O>)(value);
  } catch (error) {
    if (!(error instanceof MalformedResult)) throw error;
    throw HikariError.badFrame(`malformed ${op} result: ${error.message}`, { op });
  }
}
