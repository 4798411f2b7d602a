import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { HikariClientOptions, resolveOptions, WRITE_DEDUP_WINDOW, WRITES_IN_FLIGHT_MAX } from './options';

function fieldAtFault(options: HikariClientOptions): unknown {
  try {
    resolveOptions(options);
  } catch (error) {
    if (HikariError.is(error, ErrorCode.INVALID_ARGUMENT)) return error.details.field;
    throw error;
  }
  throw new Error('expected INVALID_ARGUMENT');
}

describe('resolveOptions', () => {
  test('fills in the defaults and a random UUID client id', () => {
    const resolved = resolveOptions({ endpoints: ['127.0.0.1:7701'] });
    expect(resolved).toMatchObject({
      endpoints: [{ host: '127.0.0.1', port: 7701, address: '127.0.0.1:7701' }],
      clusterId: undefined,
      timeoutMs: 10_000,
      connectTimeoutMs: 3_000,
      backoff: { initialMs: 50, maxMs: 2_000 },
      pendingRequestsMax: 10_000,
      writesInFlightMax: 128,
      session: { timeoutMs: 10_000 },
    });
    expect(resolved.clientId).toMatch(/^[0-9a-f-]{36}$/);
    expect(resolveOptions({ endpoints: ['h:1'] }).clientId).not.toBe(resolved.clientId);
  });

  test('sessions are on by default, with the timeout asked for, and off with `session: false`', () => {
    expect(resolveOptions({ endpoints: ['h:1'], session: { timeoutMs: 30_000 } }).session).toEqual({ timeoutMs: 30_000 });
    expect(resolveOptions({ endpoints: ['h:1'], session: {} }).session).toEqual({ timeoutMs: 10_000 });
    expect(resolveOptions({ endpoints: ['h:1'], session: false }).session).toBeNull();
  });

  test('a token and TLS settings are checked and kept; plain TCP and no token by default', () => {
    expect(resolveOptions({ endpoints: ['h:1'] })).toMatchObject({ token: undefined, tls: null });
    const resolved = resolveOptions({ endpoints: ['h:1'], token: 'abc.def', tls: { ca: 'PEM', cert: Buffer.from('c'), key: 'k' } });
    expect(resolved.token).toBe('abc.def');
    expect(resolved.tls).toMatchObject({ ca: 'PEM', key: 'k', minVersion: 'TLSv1.2' });
    expect(fieldAtFault({ endpoints: ['h:1'], token: 'has space' })).toBe('token');
    expect(fieldAtFault({ endpoints: ['h:1'], token: 'x'.repeat(257) })).toBe('token');
    expect(fieldAtFault({ endpoints: ['h:1'], tls: { cert: 'c' } })).toBe('tls.cert');
    expect(fieldAtFault({ endpoints: ['h:1'], tls: { ca: 42 } as never })).toBe('tls.ca');
    expect(fieldAtFault({ endpoints: ['h:1'], tls: { rejectUnauthorized: false } as never })).toBe('tls.rejectUnauthorized');
  });

  test('keeps at most half the server dedup window of writes in flight', () => {
    expect(WRITES_IN_FLIGHT_MAX * 2).toBeLessThanOrEqual(WRITE_DEDUP_WINDOW);
  });

  test.each<[string, HikariClientOptions]>([
    ['endpoints', { endpoints: [] }],
    ['endpoints[1]', { endpoints: ['h:1', 'h'] }],
    ['clientId', { endpoints: ['h:1'], clientId: 'has space' }],
    ['clusterId', { endpoints: ['h:1'], clusterId: '' }],
    ['timeoutMs', { endpoints: ['h:1'], timeoutMs: 0 }],
    ['timeoutMs', { endpoints: ['h:1'], timeoutMs: 2 ** 31 }],
    ['connectTimeoutMs', { endpoints: ['h:1'], connectTimeoutMs: 1.5 }],
    ['writesInFlightMax', { endpoints: ['h:1'], writesInFlightMax: 129 }],
    ['pendingRequestsMax', { endpoints: ['h:1'], pendingRequestsMax: 0 }],
    ['backoffMaxMs', { endpoints: ['h:1'], backoffInitialMs: 100, backoffMaxMs: 50 }],
    ['session.timeoutMs', { endpoints: ['h:1'], session: { timeoutMs: 999 } }],
    ['session.timeoutMs', { endpoints: ['h:1'], session: { timeoutMs: 600_001 } }],
    ['session', { endpoints: ['h:1'], session: true as unknown as false }],
  ])('rejects a bad %s', (field, options) => {
    expect(fieldAtFault(options)).toBe(field);
  });
});
