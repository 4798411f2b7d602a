/**
 * What a registration may contain (names, ids, address, tags, metadata, weight, status, probe), and
 * how readers parse records written by anyone.
 */
import { ErrorCode, HikariError, Stat } from '@hikarikeeper/protocol';
import { resolveProbe } from './health-probe';
import { recordFor, RegisterOptions } from './instance-handle';
import { encodeRecord, formatAddress, parseInstance } from './record';
import { checkMetadata, checkTags, METADATA_BYTES_MAX, serviceNameProblem, TAGS_MAX } from './validation';

function failure(fn: () => unknown): HikariError {
  try {
    fn();
  } catch (error) {
    if (error instanceof HikariError) return error;
    throw error;
  }
  throw new Error('expected a failure');
}

const base: RegisterOptions = { service: 'api', host: '10.0.0.5', port: 8080 };
const record = (options: Partial<RegisterOptions> = {}, id = 'api-1') => recordFor({ ...base, ...options }, id, 1_700_000_000_000);

function stat(overrides: Partial<Stat> = {}): Stat {
  return {
    version: 0, cversion: 0, createdIndex: 7, modifiedIndex: 9, childrenCount: 0, dataLength: 0,
    ephemeralOwner: 'session-1', createdAt: 0, modifiedAt: 0, ...overrides,
  };
}

describe('service names and instance ids', () => {
  test.each(['a', 'api', 'api-v2', 'API_2', 'x.y.z', '0', 'a'.repeat(63), 'b5d0c2e8-3f6c-4b8e-9d1a-5c0f2e7a9b31'])('%s is accepted', (name) => {
    expect(serviceNameProblem(name)).toBeNull();
    expect(record({ service: name }, name)).toMatchObject({ service: name, id: name });
  });

  test.each([
    ['', 'is empty'],
    ['a'.repeat(64), 'is 64 characters, over the limit of 63'],
    ['-api', 'must start with a letter or digit'],
    ['.', 'must start with a letter or digit'],
    ['api/v2', 'only letters, digits'],
    ['api v2', 'only letters, digits'],
    ['ápi', 'must start with a letter or digit'],
    ['api\u0000', 'only letters, digits'],
  ])('%j is refused: %s', (name, reason) => {
    expect(serviceNameProblem(name)).toContain(reason);
    const forService = failure(() => record({ service: name }));
    expect(forService.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(forService.details.field).toBe('service');
    expect(forService.message).toContain(reason);
    const forId = failure(() => record({}, name));
    expect(forId.details.field).toBe('id');
  });

  test('a name that is not a string is refused, naming the field', () => {
    expect(failure(() => record({ service: 42 as unknown as string })).message).toBe('invalid argument service: 42 is not a string');
  });
});

describe('address, protocol, weight, status', () => {
  test.each(['127.0.0.1', '::1', 'fe80::1', 'api.internal', 'localhost', 'node-1.example.com.'])('host %s is accepted', (host) => {
    expect(record({ host }).host).toBe(host);
  });

  test.each(['', 'has space', 'under_score.example', '-lead.example', 'a'.repeat(254), 'http://x'])('host %j is refused', (host) => {
    const error = failure(() => record({ host }));
    expect([error.code, error.details.field]).toEqual([ErrorCode.INVALID_ARGUMENT, 'host']);
  });

  test.each([0, -1, 65536, 1.5, NaN, '80'])('port %p is refused', (port) => {
    const error = failure(() => record({ port: port as number }));
    expect(error.details).toEqual({ field: 'port', reason: 'must be an integer in [1, 65535]' });
  });

  test('defaults: no protocol, no tags, empty metadata, weight 1, passing', () => {
    expect(record()).toEqual({
      v: 1, service: 'api', id: 'api-1', host: '10.0.0.5', port: 8080, protocol: null, tags: [], metadata: {},
      weight: 1, status: 'passing', registeredAt: 1_700_000_000_000,
    });
  });

  test('protocol, weight and status are checked', () => {
    expect(record({ protocol: 'grpc', weight: 1000, status: 'maintenance' })).toMatchObject({ protocol: 'grpc', weight: 1000, status: 'maintenance' });
    expect(failure(() => record({ protocol: 'http/2' })).details.field).toBe('protocol');
    expect(failure(() => record({ weight: 0 })).details).toEqual({ field: 'weight', reason: 'must be an integer in [1, 1000]' });
    expect(failure(() => record({ weight: 1001 })).details.field).toBe('weight');
    expect(failure(() => record({ status: 'up' as never })).details).toEqual({
      field: 'status', reason: 'must be one of passing, warning, critical, maintenance',
    });
  });
});

describe('tags and metadata', () => {
  test('tags: an array of distinct non-empty strings, within count and length', () => {
    expect(checkTags(['a', 'b'])).toEqual(['a', 'b']);
    expect(failure(() => checkTags('a')).details).toEqual({ field: 'tags', reason: 'must be an array of strings' });
    expect(failure(() => checkTags(['a', ''])).details.field).toBe('tags[1]');
    expect(failure(() => checkTags(['a', 'a'])).details).toEqual({ field: 'tags[1]', reason: 'repeats the tag "a"' });
    expect(failure(() => checkTags(['x'.repeat(129)])).details.field).toBe('tags[0]');
    expect(failure(() => checkTags(['tab\there'])).details.reason).toBe('contains a control character');
    const many = failure(() => checkTags(Array.from({ length: TAGS_MAX + 1 }, (_, i) => `t${i}`)));
    expect(many.code).toBe(ErrorCode.TOO_LARGE);
    expect(many.details).toEqual({ what: 'tags', size: TAGS_MAX + 1, limit: TAGS_MAX });
    expect(many.message).toBe(`tags has ${TAGS_MAX + 1} tags, over the limit of ${TAGS_MAX}`);
  });

  test('metadata: a JSON object, copied, at most 8 KiB as JSON', () => {
    const given = { zone: 'a', limits: { rps: 100 }, flags: [true, null] };
    const checked = checkMetadata(given);
    expect(checked).toEqual(given);
    expect(checked).not.toBe(given);
    expect(checkMetadata({ big: 'x'.repeat(METADATA_BYTES_MAX - 10) })).toBeDefined(); // {"big":"…"} is exactly 8 KiB
    const big = failure(() => checkMetadata({ big: 'x'.repeat(METADATA_BYTES_MAX) }));
    expect(big.code).toBe(ErrorCode.TOO_LARGE);
    expect(big.details).toEqual({ what: 'metadata', size: METADATA_BYTES_MAX + 10, limit: METADATA_BYTES_MAX });
    expect(big.message).toContain('over the limit of 8192');
  });

  test.each([
    ['an array', [1]],
    ['a string', 'zone=a'],
    ['a Date inside', { at: new Date() }],
    ['a function inside', { f: () => 1 }],
    ['NaN inside', { n: NaN }],
    ['undefined inside', { u: undefined }],
    ['too deep', { a: { b: { c: { d: { e: { f: { g: { h: { i: 1 } } } } } } } } }],
  ])('metadata that is %s is refused', (_what, metadata) => {
    const error = failure(() => checkMetadata(metadata));
    expect([error.code, error.details.field]).toEqual([ErrorCode.INVALID_ARGUMENT, 'metadata']);
  });
});

describe('health probe options', () => {
  test('exactly one of http and tcp; defaults; bounds', () => {
    expect(resolveProbe({ tcp: true }, '10.0.0.5', 8080)).toEqual({
      target: { kind: 'tcp', host: '10.0.0.5', port: 8080 }, intervalMs: 10_000, timeoutMs: 5_000, failuresBeforeCritical: 2, successesBeforePassing: 1,
    });
    expect(resolveProbe({ tcp: '[::1]:9000', intervalMs: 200 }, 'h', 1).target).toEqual({ kind: 'tcp', host: '::1', port: 9000 });
    expect(resolveProbe({ tcp: 'db:5432', intervalMs: 200 }, 'h', 1).timeoutMs).toBe(200);
    expect(resolveProbe({ http: 'http://127.0.0.1:8080/health' }, 'h', 1).target).toMatchObject({ kind: 'http' });
    expect(failure(() => resolveProbe({}, 'h', 1)).details).toEqual({ field: 'check', reason: 'must have exactly one of http and tcp' });
    expect(failure(() => resolveProbe({ http: 'x', tcp: true }, 'h', 1)).details.field).toBe('check');
    expect(failure(() => resolveProbe({ http: 'ftp://x/' }, 'h', 1)).details.field).toBe('check.http');
    expect(failure(() => resolveProbe({ tcp: 'nocolon' }, 'h', 1)).details.field).toBe('check.tcp');
    expect(failure(() => resolveProbe({ tcp: true, intervalMs: 50 }, 'h', 1)).details.field).toBe('check.intervalMs');
    expect(failure(() => resolveProbe({ tcp: true, intervalMs: 1000, timeoutMs: 2000 }, 'h', 1)).details.field).toBe('check.timeoutMs');
    expect(failure(() => resolveProbe({ tcp: true, failuresBeforeCritical: 0 }, 'h', 1)).details.field).toBe('check.failuresBeforeCritical');
  });
});

describe('reading records', () => {
  test('a record reads back as an instance, with its owner and indexes, frozen', () => {
    const written = record({ tags: ['v2'], metadata: { zone: 'a' }, weight: 3, protocol: 'http' });
    const instance = parseInstance('api', 'api-1', encodeRecord(written), stat());
    expect(instance).toEqual({
      service: 'api', id: 'api-1', host: '10.0.0.5', port: 8080, address: '10.0.0.5:8080', protocol: 'http', tags: ['v2'],
      metadata: { zone: 'a' }, weight: 3, status: 'passing', registeredAt: 1_700_000_000_000, sessionId: 'session-1',
      createdIndex: 7, modifiedIndex: 9,
    });
    expect(Object.isFrozen(instance)).toBe(true);
    expect(Object.isFrozen(instance!.tags)).toBe(true);
    expect(Object.isFrozen(instance!.metadata)).toBe(true);
  });

  test('the node name is the id, whatever the record says; IPv6 addresses get brackets', () => {
    const data = encodeRecord(record({ host: '::1' }, 'other'));
    expect(parseInstance('api', 'api-9', data, stat())).toMatchObject({ id: 'api-9', address: '[::1]:8080' });
    expect(formatAddress('h', 1)).toBe('h:1');
  });

  test('data that is not a record of this format is left out', () => {
    const bytes = (text: string) => Buffer.from(text);
    expect(parseInstance('api', 'a', bytes('not json'), stat())).toBeNull();
    expect(parseInstance('api', 'a', bytes('[1]'), stat())).toBeNull();
    expect(parseInstance('api', 'a', bytes('{"v":2,"host":"h","port":1}'), stat())).toBeNull();
    expect(parseInstance('api', 'a', bytes('{"v":1,"port":1}'), stat())).toBeNull();
    expect(parseInstance('api', 'a', bytes('{"v":1,"host":"h","port":0}'), stat())).toBeNull();
    expect(parseInstance('api', '-bad', bytes('{"v":1,"host":"h","port":1}'), stat())).toBeNull();
  });

  test('odd fields read leniently, and an unknown status is never passing', () => {
    const data = Buffer.from(JSON.stringify({ v: 1, host: 'h', port: 1, status: 'healthy', weight: 0, tags: ['ok', 7, ''], metadata: [1], protocol: 9 }));
    expect(parseInstance('api', 'a', data, stat())).toMatchObject({ status: 'critical', weight: 1, tags: ['ok'], metadata: {}, protocol: null, registeredAt: 0 });
    expect(parseInstance('api', 'a', Buffer.from('{"v":1,"host":"h","port":1}'), stat())?.status).toBe('passing'); // no status: no checks
  });
});
