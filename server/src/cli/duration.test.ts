import { ErrorCode, HikariError } from '@hikarikeeper/client';
import { parseDuration } from './duration';

describe('parseDuration (the CLI\'s durations)', () => {
  it('reads a whole number and a unit, in milliseconds', () => {
    expect(parseDuration('500ms', 'ttl')).toBe(500);
    expect(parseDuration('45s', 'ttl')).toBe(45_000);
    expect(parseDuration('30m', 'ttl')).toBe(1_800_000);
    expect(parseDuration('12h', 'ttl')).toBe(43_200_000);
    expect(parseDuration('90d', 'ttl')).toBe(7_776_000_000);
    expect(parseDuration(' 1d ', 'ttl')).toBe(86_400_000);
  });

  it.each(['', '10', 'd', '1.5h', '-1d', '1w', '1 d', '999999999999d'])('refuses %j with INVALID_ARGUMENT naming the option', (text) => {
    let caught: unknown;
    try {
      parseDuration(text, '--ttl');
    } catch (e) {
      caught = e;
    }
    expect(HikariError.is(caught, ErrorCode.INVALID_ARGUMENT)).toBe(true);
    expect((caught as HikariError).details.field).toBe('--ttl');
  });
});
