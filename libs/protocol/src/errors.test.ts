import {
  clipText,
  ErrorCode,
  ERRORS,
  errorFromWire,
  errorToWire,
  formatErrorMessage,
  HikariError,
  isErrorCode,
} from './errors';
import { QUOTED_CHARS_MAX } from './limits';

const ALL_CODES = Object.values(ErrorCode);

describe('error catalogue', () => {
  test('every code has a spec, and every code is its own enum key (codes are stable strings)', () => {
    expect(Object.keys(ERRORS).sort()).toEqual([...ALL_CODES].sort());
    for (const code of ALL_CODES) {
      expect(ErrorCode[code as keyof typeof ErrorCode]).toBe(code);
      expect(ERRORS[code].message.length).toBeGreaterThan(0);
    }
  });

  test('contains the codes clients switch on', () => {
    for (const code of [
      'NO_NODE', 'NODE_EXISTS', 'BAD_VERSION', 'NOT_EMPTY', 'NO_CHILDREN_FOR_EPHEMERALS', 'INVALID_PATH',
      'INVALID_ARGUMENT', 'TOO_LARGE', 'UNKNOWN_OPERATION', 'BAD_FRAME', 'SESSION_EXPIRED', 'SESSION_MOVED',
      'NOT_LEADER', 'NO_LEADER', 'UNAVAILABLE', 'TIMEOUT', 'CANCELLED', 'CONNECTION_LOSS', 'SHUTTING_DOWN',
      'TOO_MANY_REQUESTS', 'LOCK_NOT_HELD', 'FENCE_MISMATCH', 'LOCK_TIMEOUT', 'WATCH_HISTORY_COMPACTED', 'CLUSTER_MISMATCH',
      'PERMISSION_DENIED', 'UNAUTHENTICATED', 'INTERNAL',
    ]) {
      expect(isErrorCode(code)).toBe(true);
    }
  });

  test.each([
    [ErrorCode.NOT_LEADER, true, false],
    [ErrorCode.NO_LEADER, true, false],
    [ErrorCode.UNAVAILABLE, true, false],
    [ErrorCode.SHUTTING_DOWN, true, false],
    [ErrorCode.TOO_MANY_REQUESTS, true, false],
    [ErrorCode.CONNECTION_LOSS, true, true],
    [ErrorCode.TIMEOUT, true, true],
    [ErrorCode.CANCELLED, false, true],
    [ErrorCode.NODE_EXISTS, false, false],
    [ErrorCode.NO_NODE, false, false],
    [ErrorCode.BAD_VERSION, false, false],
    [ErrorCode.SESSION_EXPIRED, false, false],
    [ErrorCode.INVALID_ARGUMENT, false, false],
  ])('%s: retryable=%s, indeterminate=%s', (code, retryable, indeterminate) => {
    const error = new HikariError(code);
    expect(error.retryable).toBe(retryable);
    expect(error.indeterminate).toBe(indeterminate);
  });

  test('isErrorCode ignores prototype keys', () => {
    expect(isErrorCode('toString')).toBe(false);
    expect(isErrorCode('__proto__')).toBe(false);
    expect(isErrorCode(42)).toBe(false);
  });
});

describe('HikariError', () => {
  test('fills the message template from details', () => {
    const error = HikariError.noNode('/a/b');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('HikariError');
    expect(error.code).toBe(ErrorCode.NO_NODE);
    expect(error.details).toEqual({ path: '/a/b' });
    expect(error.message).toBe('node /a/b does not exist');
    expect(String(error)).toBe('HikariError [NO_NODE]: node /a/b does not exist');
  });

  test('non-string details are rendered as JSON, missing ones stay as placeholders', () => {
    expect(formatErrorMessage(ErrorCode.TOO_LARGE, { what: 'frame', size: 5, limit: 4 })).toBe(
      'frame is too large: 5 > 4',
    );
    expect(formatErrorMessage(ErrorCode.NO_NODE, {})).toBe('node {path} does not exist');
  });

  test('helpers set the documented details', () => {
    expect(HikariError.notLeader('10.0.0.2:2181').details).toEqual({ leader: '10.0.0.2:2181' });
    expect(HikariError.notLeader(null).details).toEqual({});
    expect(HikariError.badVersion('/x', 3).details).toEqual({ path: '/x', expected: 3 });
    expect(HikariError.invalidArgument('ops[1].data', 'must be bytes').message).toBe(
      'invalid argument ops[1].data: must be bytes',
    );
    expect(HikariError.badFrame('missing id', { id: 7 }).details).toEqual({ id: 7, reason: 'missing id' });
  });

  test('quoted input is clipped, so a huge bad path makes a small error', () => {
    const error = HikariError.invalidPath(`/${'x'.repeat(5_000_000)}`, 'too long');
    expect((error.details.path as string).length).toBe(QUOTED_CHARS_MAX + 1);
    expect(clipText('short')).toBe('short');
  });

  test('is() checks the class and optionally the code', () => {
    expect(HikariError.is(HikariError.noNode('/a'))).toBe(true);
    expect(HikariError.is(HikariError.noNode('/a'), ErrorCode.NO_NODE)).toBe(true);
    expect(HikariError.is(HikariError.noNode('/a'), ErrorCode.NODE_EXISTS)).toBe(false);
    expect(HikariError.is(new Error('x'))).toBe(false);
  });
});

describe('errors on the wire', () => {
  test.each(ALL_CODES)('%s round-trips with code, message and details', (code) => {
    const original = new HikariError(code, { path: '/a', n: 1, nested: { list: [1, 'two', null] } });
    const back = errorFromWire(JSON.parse(JSON.stringify(errorToWire(original))));
    expect(back).toBeInstanceOf(HikariError);
    expect(back.code).toBe(code);
    expect(back.message).toBe(original.message);
    expect(back.details).toEqual(original.details);
    expect(back.retryable).toBe(original.retryable);
  });

  test('empty details are left out of the wire form', () => {
    expect(errorToWire(new HikariError(ErrorCode.TIMEOUT))).toEqual({
      code: 'TIMEOUT',
      message: 'the request timed out',
    });
  });

  test('a foreign error becomes INTERNAL without leaking its message', () => {
    expect(errorToWire(new Error('/var/lib/secret: EACCES'))).toEqual({ code: 'INTERNAL', message: 'internal error' });
    expect(errorToWire('thrown string')).toEqual({ code: 'INTERNAL', message: 'internal error' });
  });

  test('an unknown code becomes INTERNAL with the original code in details, never a crash', () => {
    const error = errorFromWire({ code: 'QUOTA_EXCEEDED', message: 'over quota', details: { quota: 10 } });
    expect(error.code).toBe(ErrorCode.INTERNAL);
    expect(error.message).toBe('over quota');
    expect(error.details).toEqual({ quota: 10, originalCode: 'QUOTA_EXCEEDED' });
  });

  test.each([
    ['null', null],
    ['a string', 'NO_NODE'],
    ['an array', ['NO_NODE']],
    ['a map without code', { message: 'x' }],
    ['a numeric code', { code: 5, message: 'x' }],
  ])('a malformed wire error (%s) becomes INTERNAL', (_name, wire) => {
    const error = errorFromWire(wire);
    expect(error.code).toBe(ErrorCode.INTERNAL);
    expect(error.details).toEqual({ reason: 'malformed error from the wire' });
  });

  test('a missing message falls back to the template; non-JSON details are dropped', () => {
    const error = errorFromWire({ code: 'NO_NODE', details: { path: new Date(0) } });
    expect(error.code).toBe(ErrorCode.NO_NODE);
    expect(error.details).toEqual({});
    expect(error.message).toBe('node {path} does not exist');
  });
});
