import { ErrorCode, ERRORS, HikariError } from '@hikarikeeper/protocol';
import { parseEndpoint } from './endpoints';
import { isResendable, planRetry, planSessionRetry } from './retry';

const here = parseEndpoint('10.0.0.1:7701');

describe('planRetry', () => {
  test.each(Object.values(ErrorCode).filter((code) => !ERRORS[code].retryable))(
    'fails at once on %s, which the catalogue says is not retryable',
    (code) => {
      expect(planRetry(new HikariError(code), 'write', here, true)).toEqual({ action: 'fail' });
    },
  );

  test('a NOT_LEADER naming the leader switches to it', () => {
    const plan = planRetry(HikariError.notLeader('10.0.0.2:7701'), 'write', here, true);
    expect(plan).toEqual({ action: 'switch', leader: parseEndpoint('10.0.0.2:7701') });
  });

  test.each([
    ['no leader', HikariError.notLeader(null)],
    ['a malformed leader', new HikariError(ErrorCode.NOT_LEADER, { leader: 'not an address' })],
    ['the node that answered', HikariError.notLeader('10.0.0.1:7701')],
  ])('a NOT_LEADER naming %s switches to the next endpoint', (_name, error) => {
    expect(planRetry(error, 'write', here, true)).toEqual({ action: 'switch', leader: null });
  });

  test.each([ErrorCode.NO_LEADER, ErrorCode.UNAVAILABLE, ErrorCode.SHUTTING_DOWN])(
    '%s switches to the next endpoint',
    (code) => {
      expect(planRetry(new HikariError(code), 'read', here, true)).toEqual({ action: 'switch', leader: null });
    },
  );

  test.each([ErrorCode.TOO_MANY_REQUESTS, ErrorCode.TIMEOUT])('%s waits and resends on the same connection', (code) => {
    expect(planRetry(new HikariError(code), 'write', here, true)).toEqual({ action: 'wait' });
  });

  test('CONNECTION_LOSS resends on the next connection when the connection closed, waits when a node sent it', () => {
    const loss = new HikariError(ErrorCode.CONNECTION_LOSS);
    expect(planRetry(loss, 'write', here, false)).toEqual({ action: 'resend' });
    expect(planRetry(loss, 'write', here, true)).toEqual({ action: 'wait' });
  });

  test('only reads and writes are resent; other kinds fail even on a retryable error', () => {
    expect(isResendable('read')).toBe(true);
    expect(isResendable('write')).toBe(true);
    expect(isResendable('session')).toBe(false);
    expect(planRetry(new HikariError(ErrorCode.CONNECTION_LOSS), 'session', here, false)).toEqual({ action: 'fail' });
  });

  test('session operations opt in through planSessionRetry, with the same table; SESSION_EXPIRED is never retried', () => {
    expect(planSessionRetry(HikariError.notLeader('10.0.0.2:7701'), here, true)).toEqual({
      action: 'switch',
      leader: parseEndpoint('10.0.0.2:7701'),
    });
    expect(planSessionRetry(new HikariError(ErrorCode.CONNECTION_LOSS), here, false)).toEqual({ action: 'resend' });
    expect(planSessionRetry(new HikariError(ErrorCode.NO_LEADER), here, true)).toEqual({ action: 'switch', leader: null });
    expect(planSessionRetry(new HikariError(ErrorCode.TOO_MANY_REQUESTS), here, true)).toEqual({ action: 'wait' });
    expect(planSessionRetry(new HikariError(ErrorCode.SESSION_EXPIRED), here, true)).toEqual({ action: 'fail' });
  });
});
