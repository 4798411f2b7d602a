import { requestLimits } from './args';
import { ErrorCode } from './errors';
import {
  CHILDREN_PAGE_MAX,
  DATA_BYTES_MAX_CEILING,
  DATA_BYTES_MAX_DEFAULT,
  MULTI_OPS_MAX,
  NODE_TTL_MS_MAX,
  SESSION_TIMEOUT_MS_MAX,
  SESSION_TIMEOUT_MS_MIN,
} from './limits';
import { OPERATIONS, validateRequest } from './operations';
import { rejection } from './testing/rejection';

const data = (size = 3): Uint8Array => new Uint8Array(size);

describe('the catalogue', () => {
  test('kinds route each operation', () => {
    const kinds = Object.fromEntries(Object.entries(OPERATIONS).map(([op, spec]) => [op, spec.kind]));
    expect(kinds).toEqual({
      hello: 'session', ping: 'session', create: 'write', get: 'read', set: 'write', delete: 'write',
      exists: 'read', children: 'read', multi: 'write', sync: 'read',
      'session.open': 'session', 'session.resume': 'session', 'session.keepalive': 'session', 'session.close': 'session',
      watch: 'read', unwatch: 'read',
      'lock.acquire': 'write', 'lock.wait': 'read', 'lock.release': 'write', 'lock.cancel': 'write', 'lock.info': 'read',
    });
  });

  test.each(['frobnicate', 'toString', '__proto__', 'constructor', 'hasOwnProperty'])(
    'an unknown op (%s) is UNKNOWN_OPERATION',
    (op) => {
      const error = rejection(() => validateRequest(op, {}));
      expect(error.code).toBe(ErrorCode.UNKNOWN_OPERATION);
      expect(error.details).toEqual({ op });
    },
  );

  test('returns the op, its kind and fresh validated arguments', () => {
    const args = { path: '/a', stale: true };
    const request = validateRequest('get', args);
    expect(request).toEqual({ op: 'get', kind: 'read', args });
    expect(request.args).not.toBe(args);
    if (request.op === 'get') expect(request.args.stale).toBe(true); // narrowing by op
  });
});

describe('valid requests', () => {
  test.each<[string, unknown]>([
    ['hello', { protocol: 1 }],
    ['hello', { protocol: 1, clientId: 'c-1f2e', sessionId: 'S:abc.def_1', sessionTimeoutMs: 30000, clusterId: 'prod-eu' }],
    ['hello', { protocol: 1, sessionTimeoutMs: SESSION_TIMEOUT_MS_MIN }],
    ['hello', { protocol: 1, token: 'Zx9_-id.secret-Part_of+base64/url=~' }],
    ['ping', {}],
    ['create', { path: '/a', data: data(), mode: 'persistent' }],
    ['create', { path: '/a', data: data(0), mode: 'ephemeral', seq: 0 }],
    ['create', { path: '/q/', data: data(), mode: 'persistent_sequential' }],
    ['create', { path: '/locks/lock-', data: data(), mode: 'ephemeral_sequential', seq: 12 }],
    ['create', { path: '/t', data: data(), mode: 'persistent', ttlMs: NODE_TTL_MS_MAX }],
    ['create', { path: '/big', data: data(DATA_BYTES_MAX_DEFAULT), mode: 'persistent' }],
    ['create', { path: '/b', data: Buffer.from('a Buffer is bytes'), mode: 'persistent' }],
    ['get', { path: '/' }],
    ['get', { path: '/a', stale: false }],
    ['get', { path: '/a', stale: undefined }],
    ['set', { path: '/a', data: data() }],
    ['set', { path: '/a', data: data(), version: -1 }],
    ['set', { path: '/a', data: data(), version: 0, seq: 9 }],
    ['delete', { path: '/a' }],
    ['delete', { path: '/a', version: 5, seq: 1 }],
    ['exists', { path: '/a' }],
    ['exists', { path: '/a', stale: true }],
    ['children', { path: '/' }],
    ['children', { path: '/a', after: 'lock-0000000001', limit: CHILDREN_PAGE_MAX, stale: true }],
    ['children', { path: '/a', limit: 1 }],
    ['children', { path: '/a', data: true }],
    ['multi', { ops: [{ op: 'check', path: '/a', version: -1 }] }],
    [
      'multi',
      {
        seq: 3,
        ops: [
          { op: 'check', path: '/a', version: 2 },
          { op: 'create', path: '/a/b', data: data(), mode: 'ephemeral' },
          { op: 'set', path: '/a', data: data(), version: 2 },
          { op: 'delete', path: '/a/c' },
        ],
      },
    ],
    ['multi', { ops: Array.from({ length: MULTI_OPS_MAX }, () => ({ op: 'delete', path: '/x' })) }],
    ['sync', {}],
  ])('%s %p', (op, args) => {
    expect(validateRequest(op, args).args).toEqual(args);
  });
});

describe('invalid requests', () => {
  const huge = data(DATA_BYTES_MAX_DEFAULT + 1);
  test.each<[string, string, unknown, ErrorCode, Record<string, unknown>]>([
    // any operation
    ['args not a map', 'get', [], ErrorCode.INVALID_ARGUMENT, { field: 'arguments', reason: 'must be a map' }],
    ['args null', 'ping', null, ErrorCode.INVALID_ARGUMENT, { field: 'arguments' }],
    ['unknown field (strict)', 'get', { path: '/a', watch: true }, ErrorCode.INVALID_ARGUMENT, { field: 'watch', reason: 'is not a known field' }],
    ['null for an optional field', 'get', { path: '/a', stale: null }, ErrorCode.INVALID_ARGUMENT, { field: 'stale', reason: 'must be a boolean' }],
    // hello
    ['hello without protocol', 'hello', {}, ErrorCode.INVALID_ARGUMENT, { field: 'protocol', reason: 'is required' }],
    ['hello with a string protocol', 'hello', { protocol: '1' }, ErrorCode.INVALID_ARGUMENT, { field: 'protocol' }],
    ['hello from the future', 'hello', { protocol: 2 }, ErrorCode.UNSUPPORTED_PROTOCOL, { requested: 2, supported: 1 }],
    ['hello from the future with new fields', 'hello', { protocol: 7, compression: 'zstd' }, ErrorCode.UNSUPPORTED_PROTOCOL, { requested: 7 }],
    ['hello with an empty clientId', 'hello', { protocol: 1, clientId: '' }, ErrorCode.INVALID_ARGUMENT, { field: 'clientId' }],
    ['hello with a token holding a space', 'hello', { protocol: 1, token: 'a b' }, ErrorCode.INVALID_ARGUMENT, { field: 'token' }],
    ['hello with an overlong token', 'hello', { protocol: 1, token: 'a'.repeat(257) }, ErrorCode.INVALID_ARGUMENT, { field: 'token' }],
    ['hello with a spaced sessionId', 'hello', { protocol: 1, sessionId: 'a b' }, ErrorCode.INVALID_ARGUMENT, { field: 'sessionId' }],
    ['hello with a long clusterId', 'hello', { protocol: 1, clusterId: 'c'.repeat(65) }, ErrorCode.INVALID_ARGUMENT, { field: 'clusterId' }],
    ['hello with a short timeout', 'hello', { protocol: 1, sessionTimeoutMs: SESSION_TIMEOUT_MS_MIN - 1 }, ErrorCode.INVALID_ARGUMENT, { field: 'sessionTimeoutMs' }],
    ['hello with a long timeout', 'hello', { protocol: 1, sessionTimeoutMs: SESSION_TIMEOUT_MS_MAX + 1 }, ErrorCode.INVALID_ARGUMENT, { field: 'sessionTimeoutMs' }],
    ['ping with arguments', 'ping', { now: 1 }, ErrorCode.INVALID_ARGUMENT, { field: 'now' }],
    // create
    ['create without path', 'create', { data: data(), mode: 'persistent' }, ErrorCode.INVALID_ARGUMENT, { field: 'path', reason: 'is required' }],
    ['create with a numeric path', 'create', { path: 1, data: data(), mode: 'persistent' }, ErrorCode.INVALID_ARGUMENT, { field: 'path', reason: 'must be a string' }],
    ['create with a relative path', 'create', { path: 'a', data: data(), mode: 'persistent' }, ErrorCode.INVALID_PATH, { field: 'path', path: 'a', reason: "must start with '/'" }],
    ['create with a trailing slash', 'create', { path: '/a/', data: data(), mode: 'persistent' }, ErrorCode.INVALID_PATH, { field: 'path' }],
    ['create with string data', 'create', { path: '/a', data: 'text', mode: 'persistent' }, ErrorCode.INVALID_ARGUMENT, { field: 'data' }],
    ['create with array data', 'create', { path: '/a', data: [1, 2], mode: 'persistent' }, ErrorCode.INVALID_ARGUMENT, { field: 'data' }],
    ['create without data', 'create', { path: '/a', mode: 'persistent' }, ErrorCode.INVALID_ARGUMENT, { field: 'data', reason: 'is required' }],
    ['create with data over the limit', 'create', { path: '/a', data: huge, mode: 'persistent' }, ErrorCode.TOO_LARGE, { what: 'data', size: DATA_BYTES_MAX_DEFAULT + 1, limit: DATA_BYTES_MAX_DEFAULT }],
    ['create with an unknown mode', 'create', { path: '/a', data: data(), mode: 'container' }, ErrorCode.INVALID_ARGUMENT, { field: 'mode' }],
    ['create without mode', 'create', { path: '/a', data: data() }, ErrorCode.INVALID_ARGUMENT, { field: 'mode', reason: 'is required' }],
    ['create ephemeral with a TTL', 'create', { path: '/a', data: data(), mode: 'ephemeral', ttlMs: 1000 }, ErrorCode.INVALID_ARGUMENT, { field: 'ttlMs' }],
    ['create with a zero TTL', 'create', { path: '/a', data: data(), mode: 'persistent', ttlMs: 0 }, ErrorCode.INVALID_ARGUMENT, { field: 'ttlMs' }],
    ['create with a TTL over the limit', 'create', { path: '/a', data: data(), mode: 'persistent', ttlMs: NODE_TTL_MS_MAX + 1 }, ErrorCode.INVALID_ARGUMENT, { field: 'ttlMs' }],
    ['create with a negative seq', 'create', { path: '/a', data: data(), mode: 'persistent', seq: -1 }, ErrorCode.INVALID_ARGUMENT, { field: 'seq' }],
    ['create with a fractional seq', 'create', { path: '/a', data: data(), mode: 'persistent', seq: 1.5 }, ErrorCode.INVALID_ARGUMENT, { field: 'seq' }],
    ['create sequential with a prefix too long for the suffix', 'create', { path: `/${'x'.repeat(250)}`, data: data(), mode: 'persistent_sequential' }, ErrorCode.INVALID_PATH, { field: 'path' }],
    // get, exists
    ['get without path', 'get', {}, ErrorCode.INVALID_ARGUMENT, { field: 'path' }],
    ['get with a string stale', 'get', { path: '/a', stale: 'yes' }, ErrorCode.INVALID_ARGUMENT, { field: 'stale' }],
    ['get with a .. segment', 'get', { path: '/a/../b' }, ErrorCode.INVALID_PATH, { reason: "segment 2 is '..'" }],
    ['exists with a NUL', 'exists', { path: '/a\u0000' }, ErrorCode.INVALID_PATH, { field: 'path' }],
    ['exists with a numeric stale', 'exists', { path: '/a', stale: 1 }, ErrorCode.INVALID_ARGUMENT, { field: 'stale' }],
    // set, delete
    ['set with version -2', 'set', { path: '/a', data: data(), version: -2 }, ErrorCode.INVALID_ARGUMENT, { field: 'version' }],
    ['set with a fractional version', 'set', { path: '/a', data: data(), version: 1.5 }, ErrorCode.INVALID_ARGUMENT, { field: 'version' }],
    ['set with a string version', 'set', { path: '/a', data: data(), version: '3' }, ErrorCode.INVALID_ARGUMENT, { field: 'version' }],
    ['set without data', 'set', { path: '/a' }, ErrorCode.INVALID_ARGUMENT, { field: 'data' }],
    ['set with data over the limit', 'set', { path: '/a', data: huge }, ErrorCode.TOO_LARGE, { what: 'data' }],
    ['delete of the root', 'delete', { path: '/' }, ErrorCode.INVALID_PATH, { reason: 'the root cannot be deleted' }],
    ['delete with version -2', 'delete', { path: '/a', version: -2 }, ErrorCode.INVALID_ARGUMENT, { field: 'version' }],
    ['delete with a ttl', 'delete', { path: '/a', ttlMs: 5 }, ErrorCode.INVALID_ARGUMENT, { field: 'ttlMs' }],
    // children
    ['children with limit 0', 'children', { path: '/a', limit: 0 }, ErrorCode.INVALID_ARGUMENT, { field: 'limit' }],
    ['children with limit over the page', 'children', { path: '/a', limit: CHILDREN_PAGE_MAX + 1 }, ErrorCode.INVALID_ARGUMENT, { field: 'limit', reason: `must be an integer in [1, ${CHILDREN_PAGE_MAX}]` }],
    ['children after an empty name', 'children', { path: '/a', after: '' }, ErrorCode.INVALID_ARGUMENT, { field: 'after', reason: 'must be a node name, but it is empty' }],
    ['children after a path', 'children', { path: '/a', after: 'b/c' }, ErrorCode.INVALID_ARGUMENT, { field: 'after' }],
    ['children after ..', 'children', { path: '/a', after: '..' }, ErrorCode.INVALID_ARGUMENT, { field: 'after' }],
    ['children with data as a string', 'children', { path: '/a', data: 'yes' }, ErrorCode.INVALID_ARGUMENT, { field: 'data' }],
    // multi
    ['multi without ops', 'multi', {}, ErrorCode.INVALID_ARGUMENT, { field: 'ops', reason: 'is required' }],
    ['multi with ops not a list', 'multi', { ops: {} }, ErrorCode.INVALID_ARGUMENT, { field: 'ops', reason: 'must be an array' }],
    ['multi with no op', 'multi', { ops: [] }, ErrorCode.INVALID_ARGUMENT, { field: 'ops', reason: 'must not be empty' }],
    ['multi with too many ops', 'multi', { ops: Array.from({ length: MULTI_OPS_MAX + 1 }, () => ({ op: 'delete', path: '/x' })) }, ErrorCode.TOO_LARGE, { what: 'ops', size: MULTI_OPS_MAX + 1, limit: MULTI_OPS_MAX }],
    ['multi with an op that is not a map', 'multi', { ops: ['delete'] }, ErrorCode.INVALID_ARGUMENT, { field: 'ops[0]', reason: 'must be a map' }],
    ['multi with an unknown op', 'multi', { ops: [{ op: 'check', path: '/a', version: 1 }, { op: 'get', path: '/a' }] }, ErrorCode.INVALID_ARGUMENT, { field: 'ops[1].op' }],
    ['multi check without version', 'multi', { ops: [{ op: 'check', path: '/a' }] }, ErrorCode.INVALID_ARGUMENT, { field: 'ops[0].version', reason: 'is required' }],
    ['multi with a bad nested path', 'multi', { ops: [{ op: 'delete', path: '/a' }, { op: 'delete', path: '/b' }, { op: 'set', path: 'rel', data: data() }] }, ErrorCode.INVALID_PATH, { field: 'ops[2].path' }],
    ['multi with nested data over the limit', 'multi', { ops: [{ op: 'create', path: '/a', data: huge, mode: 'persistent' }] }, ErrorCode.TOO_LARGE, { what: 'ops[0].data' }],
    ['multi with seq inside an op', 'multi', { ops: [{ op: 'delete', path: '/a', seq: 1 }] }, ErrorCode.INVALID_ARGUMENT, { field: 'ops[0].seq', reason: 'is not a known field' }],
    ['multi deleting the root', 'multi', { ops: [{ op: 'delete', path: '/' }] }, ErrorCode.INVALID_PATH, { field: 'ops[0].path' }],
    ['multi with an ephemeral TTL', 'multi', { ops: [{ op: 'create', path: '/a', data: data(), mode: 'ephemeral', ttlMs: 5 }] }, ErrorCode.INVALID_ARGUMENT, { field: 'ops[0].ttlMs' }],
    // sync
    ['sync with arguments', 'sync', { path: '/a' }, ErrorCode.INVALID_ARGUMENT, { field: 'path' }],
  ])('%s', (_name, op, args, code, details) => {
    const error = rejection(() => validateRequest(op, args));
    expect(error.code).toBe(code);
    expect(error.details).toMatchObject(details);
  });
});

describe('request limits', () => {
  test('a configured data limit applies to every data field', () => {
    const limits = requestLimits({ dataBytesMax: 10 });
    expect(() => validateRequest('set', { path: '/a', data: data(10) }, limits)).not.toThrow();
    expect(rejection(() => validateRequest('set', { path: '/a', data: data(11) }, limits)).code).toBe(ErrorCode.TOO_LARGE);
    const multi = { ops: [{ op: 'create', path: '/a', data: data(11), mode: 'persistent' }] };
    expect(rejection(() => validateRequest('multi', multi, limits)).code).toBe(ErrorCode.TOO_LARGE);
  });

  test('a data limit that could not fit a frame is refused', () => {
    expect(requestLimits({ dataBytesMax: DATA_BYTES_MAX_CEILING }).dataBytesMax).toBe(DATA_BYTES_MAX_CEILING);
    expect(rejection(() => requestLimits({ dataBytesMax: DATA_BYTES_MAX_CEILING + 1 })).code).toBe(
      ErrorCode.INVALID_ARGUMENT,
    );
  });
});
