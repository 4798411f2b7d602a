import { ErrorCode } from './errors';
import { validateRequest } from './operations';
import { outcomeCode } from './testing/rejection';
import { SESSION_IDS_PER_KEEPALIVE_MAX } from './limits';

const code = outcomeCode;

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

  test('keepalive and close: the bound session, or detached sessions by id', () => {
    expect(validateRequest('session.keepalive', {}).args).toEqual({});
    expect(validateRequest('session.close', {}).args).toEqual({});
    expect(code(() => validateRequest('session.close', { now: true }))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(validateRequest('session.open', { attach: false }).args).toEqual({ timeoutMs: undefined, attach: false });
    expect(validateRequest('session.keepalive', { sessionIds: ['a1', 'b2'] }).args).toEqual({ sessionIds: ['a1', 'b2'] });
    expect(validateRequest('session.close', { sessionId: 'a1' }).args).toEqual({ sessionId: 'a1' });
    expect(code(() => validateRequest('session.keepalive', { sessionIds: [] }))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(code(() => validateRequest('session.keepalive', { sessionIds: ['ok', 'no-t ok'] }))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(code(() => validateRequest('session.keepalive', { sessionIds: Array.from({ length: SESSION_IDS_PER_KEEPALIVE_MAX + 1 }, (_, i) => `s${i}`) }))).toBe(ErrorCode.TOO_LARGE);
    expect(code(() => validateRequest('session.open', { attach: 'no' }))).toBe(ErrorCode.INVALID_ARGUMENT);
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
