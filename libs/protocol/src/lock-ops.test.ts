import { ErrorCode } from './errors';
import { LOCK_NAME_BYTES_MAX, LOCK_PERMITS_MAX, LOCK_VALUE_BYTES_MAX } from './limits';
import { validateRequest } from './operations';
import { outcomeCode } from './testing/rejection';

const code = outcomeCode;

describe('lock operations', () => {
  test('lock.acquire: a name, and optional mode, permits, reentrant, wait, value, seq', () => {
    expect(validateRequest('lock.acquire', { name: 'orders:42' }).args).toMatchObject({ name: 'orders:42', mode: undefined });
    const full = { name: 'jobs/billing', mode: 'exclusive', permits: 3, reentrant: true, wait: false, value: new Uint8Array([1]), seq: 9 };
    expect(validateRequest('lock.acquire', full).args).toEqual(full);
    expect(validateRequest('lock.acquire', { name: 'ünïcode ok', mode: 'shared' }).args).toMatchObject({ mode: 'shared' });
  });

  test.each([
    [{}, ErrorCode.INVALID_ARGUMENT],
    [{ name: '' }, ErrorCode.INVALID_ARGUMENT],
    [{ name: 'a\u0000b' }, ErrorCode.INVALID_ARGUMENT],
    [{ name: 'tab\there' }, ErrorCode.INVALID_ARGUMENT],
    [{ name: 'x'.repeat(LOCK_NAME_BYTES_MAX + 1) }, ErrorCode.INVALID_ARGUMENT],
    [{ name: 'é'.repeat(LOCK_NAME_BYTES_MAX / 2 + 1) }, ErrorCode.INVALID_ARGUMENT],
    [{ name: 'L', mode: 'read' }, ErrorCode.INVALID_ARGUMENT],
    [{ name: 'L', permits: 0 }, ErrorCode.INVALID_ARGUMENT],
    [{ name: 'L', permits: LOCK_PERMITS_MAX + 1 }, ErrorCode.INVALID_ARGUMENT],
    [{ name: 'L', permits: 1.5 }, ErrorCode.INVALID_ARGUMENT],
    [{ name: 'L', mode: 'shared', permits: 2 }, ErrorCode.INVALID_ARGUMENT],
    [{ name: 'L', mode: 'shared', reentrant: true }, ErrorCode.INVALID_ARGUMENT],
    [{ name: 'L', value: 'text' }, ErrorCode.INVALID_ARGUMENT],
    [{ name: 'L', value: new Uint8Array(LOCK_VALUE_BYTES_MAX + 1) }, ErrorCode.TOO_LARGE],
    [{ name: 'L', ttl: 5 }, ErrorCode.INVALID_ARGUMENT],
  ])('lock.acquire refuses %j', (args, expected) => {
    expect(code(() => validateRequest('lock.acquire', args))).toBe(expected);
  });

  test('wait, release and cancel need a positive integer ticket or token; info may be stale', () => {
    expect(validateRequest('lock.wait', { name: 'L', ticket: 12 }).args).toEqual({ name: 'L', ticket: 12 });
    expect(validateRequest('lock.release', { name: 'L', token: 3, seq: 1 }).args).toEqual({ name: 'L', token: 3, seq: 1 });
    expect(validateRequest('lock.cancel', { name: 'L', ticket: 4 }).args).toEqual({ name: 'L', ticket: 4, seq: undefined });
    expect(validateRequest('lock.info', { name: 'L', stale: true }).args).toEqual({ name: 'L', stale: true });
    for (const bad of [{ name: 'L' }, { name: 'L', ticket: 0 }, { name: 'L', ticket: -1 }, { name: 'L', ticket: '1' }, { ticket: 1 }]) {
      expect(code(() => validateRequest('lock.wait', bad))).toBe(ErrorCode.INVALID_ARGUMENT);
    }
    expect(code(() => validateRequest('lock.release', { name: 'L', token: 2 ** 53 }))).toBe(ErrorCode.INVALID_ARGUMENT);
  });

  test('a multi may carry a fence; a lock watch names a lock, not a path', () => {
    const multi = validateRequest('multi', { ops: [{ op: 'fence', lock: 'L', token: 7 }, { op: 'delete', path: '/x' }] });
    expect(multi.args).toMatchObject({ ops: [{ op: 'fence', lock: 'L', token: 7 }, { op: 'delete', path: '/x' }] });
    expect(code(() => validateRequest('multi', { ops: [{ op: 'fence', lock: 'L' }] }))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(code(() => validateRequest('multi', { ops: [{ op: 'fence', lock: 'L', token: 1, path: '/x' }] }))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(validateRequest('watch', { path: 'election:billing', kind: 'lock' }).args).toMatchObject({ path: 'election:billing', kind: 'lock' });
    expect(code(() => validateRequest('watch', { path: 'not/a/path', kind: 'data' }))).toBe(ErrorCode.INVALID_PATH);
  });
});
