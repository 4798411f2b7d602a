import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { backoffDelayMs, EndpointPool, parseEndpoint, tryParseEndpoint } from './endpoints';

describe('parseEndpoint', () => {
  test.each([
    ['127.0.0.1:7701', '127.0.0.1', 7701],
    ['node-1.example:1', 'node-1.example', 1],
    ['[::1]:65535', '::1', 65535],
  ])('reads %s', (address, host, port) => {
    expect(parseEndpoint(address)).toEqual({ host, port, address });
  });

  test.each(['', '127.0.0.1', ':7701', 'host:0', 'host:65536', 'host:port', '::1:7701', 'a b:1', 'host:7701/x'])(
    'rejects %j with INVALID_ARGUMENT naming the field',
    (address) => {
      let error: unknown;
      try {
        parseEndpoint(address, 'endpoints[2]');
      } catch (thrown) {
        error = thrown;
      }
      expect(HikariError.is(error, ErrorCode.INVALID_ARGUMENT)).toBe(true);
      expect((error as HikariError).details.field).toBe('endpoints[2]');
    },
  );

  test('tryParseEndpoint returns null for anything that is not host:port', () => {
    expect(tryParseEndpoint(undefined)).toBeNull();
    expect(tryParseEndpoint(42)).toBeNull();
    expect(tryParseEndpoint('nope')).toBeNull();
    expect(tryParseEndpoint('h:1')).toEqual({ host: 'h', port: 1, address: 'h:1' });
  });
});

describe('EndpointPool', () => {
  const endpoints = ['a:1', 'b:1', 'c:1'].map((address) => parseEndpoint(address));
  const backoff = { initialMs: 100, maxMs: 1000 };
  const top = (): number => 0.999999; // jitter at the top of the step: waits equal the step

  test('starts at the endpoint the random draw picks, then goes round', () => {
    const pool = new EndpointPool(endpoints, backoff, () => 0.5);
    expect([1, 2, 3, 4].map(() => pool.next(0))).toEqual(
      ['b:1', 'c:1', 'a:1', 'b:1'].map((address) => ({ endpoint: parseEndpoint(address), delayMs: 0 })),
    );
  });

  test('a draw at the top of [0, 1) stays in range', () => {
    expect(new EndpointPool(endpoints, backoff, () => 0.9999999).next(0).endpoint.address).toBe('c:1');
  });

  test('passes over an endpoint cooling down after a failure, and tries it again once it has cooled', () => {
    const pool = new EndpointPool(endpoints, backoff, () => 0);
    pool.failed('b:1', 1000, false); // random 0: the wait is half the step, 50 ms
    expect(pool.isCoolingDown('b:1', 1049)).toBe(true);
    expect(pool.isCoolingDown('b:1', 1050)).toBe(false);
    expect([1, 2, 3].map(() => pool.next(1010).endpoint.address)).toEqual(['a:1', 'c:1', 'a:1']);
    expect(pool.next(1050).endpoint.address).toBe('b:1');
  });

  test('an endpoint that keeps failing waits twice as long each time; one success resets it', () => {
    const pool = new EndpointPool([endpoints[0]!], backoff, top);
    const waits = [1, 2, 3, 4, 5].map(() => {
      pool.failed('a:1', 0);
      return pool.next(0).delayMs;
    });
    expect(waits).toEqual([100, 200, 400, 800, 1000]);
    pool.succeeded('a:1');
    expect(pool.next(0).delayMs).toBe(0);
  });

  test('after a healthy spell, a failure costs one short step, however many came before', () => {
    const pool = new EndpointPool([endpoints[0]!], backoff, top);
    for (let i = 0; i < 5; i++) pool.failed('a:1', 0);
    pool.failed('a:1', 0, true);
    expect(pool.next(0).delayMs).toBe(100);
  });

  test('when every endpoint is cooling down, the one ready first is chosen, with the wait until then', () => {
    const pool = new EndpointPool(endpoints, backoff, top);
    pool.failed('a:1', 0);
    pool.failed('a:1', 0); // ready at 200
    pool.failed('b:1', 0); // ready at 100
    pool.failed('c:1', 0);
    pool.failed('c:1', 0);
    pool.failed('c:1', 0); // ready at 400
    expect(pool.next(30)).toEqual({ endpoint: parseEndpoint('b:1'), delayMs: 70 });
  });
});

describe('backoffDelayMs', () => {
  const options = { initialMs: 50, maxMs: 2000 };

  test('waits nothing before the first failure', () => {
    expect(backoffDelayMs(0, options, () => 0.5)).toBe(0);
  });

  test('doubles from the initial step, within the upper half of each step (equal jitter)', () => {
    for (const [failures, step] of [
      [1, 50],
      [2, 100],
      [3, 200],
      [6, 1600],
    ] as const) {
      expect(backoffDelayMs(failures, options, () => 0)).toBe(step / 2);
      expect(backoffDelayMs(failures, options, () => 0.999999)).toBe(step);
    }
  });

  test('never exceeds the largest step, even after very many failures', () => {
    expect(backoffDelayMs(7, options, () => 0.999999)).toBe(2000);
    expect(backoffDelayMs(10_000, options, () => 0.999999)).toBe(2000);
    expect(backoffDelayMs(10_000, options, () => 0)).toBe(1000);
  });
});
