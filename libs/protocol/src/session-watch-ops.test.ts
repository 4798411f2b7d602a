import { ErrorCode, HikariError } from './errors';
import { validateRequest } from './operations';

function code(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (e instanceof HikariError) return e.code;
    throw e;
  }
}

describe('session and watch operations', () => {
  test('session.open takes an optional timeout within the protocol bounds', () => {
    expect(validateRequest('session.open', {})).toMatchObject({ kind: 'session', args: { timeoutMs: undefined } });
    expect(validateRequest('session.open', { timeoutMs: 5000 }).args).toEqual({ timeoutMs: 5000 });
    expect(code(() => validateRequest('session.open', { timeoutMs: 999 }))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(code(() => validateRequest('session.open', { timeoutMs: 600_001 }))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(code(() => validateRequest('session.open', { timeoutMs: 5000, extra: 1 }))).toBe(ErrorCode.INVALID_ARGUMENT);
  });

  test('session.resume needs a well-formed session id', () => {
    expect(validateRequest('session.resume', { sessionId: 'abc123' }).args).toEqual({ sessionId: 'abc123' });
    for (const bad of [{}, { sessionId: '' }, { sessionId: 'a-b' }, { sessionId: 'x'.repeat(65) }, { sessionId: 7 }]) {
      expect(code(() => validateRequest('session.resume', bad))).toBe(ErrorCode.INVALID_ARGUMENT);
    }
  });

  test('keepalive and close take no arguments', () => {
    expect(validateRequest('session.keepalive', {}).args).toEqual({});
    expect(code(() => validateRequest('session.close', { now: true }))).toBe(ErrorCode.INVALID_ARGUMENT);
  });

  test('watch takes a valid path, a known kind and an optional index', () => {
    expect(validateRequest('watch', { path: '/a', kind: 'recursive', fromIndex: 12 }).args).toEqual({ path: '/a', kind: 'recursive', fromIndex: 12 });
    expect(code(() => validateRequest('watch', { path: 'a', kind: 'data' }))).toBe(ErrorCode.INVALID_PATH);
    expect(code(() => validateRequest('watch', { path: '/a', kind: 'everything' }))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(code(() => validateRequest('watch', { path: '/a', kind: 'data', fromIndex: -1 }))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(code(() => validateRequest('unwatch', { watchId: 0 }))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(validateRequest('unwatch', { watchId: 3 }).args).toEqual({ watchId: 3 });
  });
});
