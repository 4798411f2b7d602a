import { encodeBody } from './codec';
import { ErrorCode, HikariError } from './errors';
import { FrameDecoder } from './frame';
import { decodeEnvelope, encodeEnvelope, Envelope, errorEnvelope, parseEnvelope } from './messages';
import { rejection } from './testing/rejection';

describe('parseEnvelope accepts', () => {
  test.each<[string, Envelope]>([
    ['a request', { t: 1, id: 0, op: 'get', a: { path: '/a' } }],
    ['a request with a dotted op and the largest id', { t: 1, id: Number.MAX_SAFE_INTEGER, op: 'lock.acquire', a: {} }],
    ['a response', { t: 2, id: 7, r: { stat: null } }],
    ['a null response', { t: 2, id: 7, r: null }],
    ['an error', { t: 3, id: 7, e: { code: 'NO_NODE', message: 'node /a does not exist' } }],
    ['an error with details', { t: 3, id: 7, e: { code: 'NO_NODE', message: 'm', details: { path: '/a' } } }],
    ['an error with a code this version does not know', { t: 3, id: 7, e: { code: 'FUTURE_CODE', message: 'm' } }],
    ['an event', { t: 4, k: 'watch', d: { path: '/a', type: 'changed' } }],
    ['an event of a kind this version does not know', { t: 4, k: 'discovery', d: null }],
  ])('%s', (_name, envelope) => {
    expect(parseEnvelope(envelope)).toEqual(envelope);
    expect(decodeEnvelope(encodeBody(envelope))).toEqual(envelope);
  });

  test('the error envelope of a thrown error', () => {
    expect(errorEnvelope(3, HikariError.noNode('/x'))).toEqual({
      t: 3,
      id: 3,
      e: { code: 'NO_NODE', message: 'node /x does not exist', details: { path: '/x' } },
    });
    expect(errorEnvelope(4, new TypeError('oops')).e.code).toBe(ErrorCode.INTERNAL);
  });

  test('encodeEnvelope writes a frame that FrameDecoder and decodeEnvelope read back', () => {
    const envelope: Envelope = { t: 1, id: 1, op: 'set', a: { path: '/a', data: Buffer.from('hi') } };
    const [body] = new FrameDecoder().push(encodeEnvelope(envelope));
    expect(decodeEnvelope(body!)).toEqual(envelope);
  });
});

describe('parseEnvelope rejects with BAD_FRAME', () => {
  test.each<[string, unknown, string]>([
    ['a non-map body', [1, 2], 'the body is not a map'],
    ['null', null, 'the body is not a map'],
    ['a Date', new Date(0), 'the body is not a map'],
    ['a missing t', { id: 1 }, 'missing t'],
    ['an unknown t', { t: 9, id: 1 }, 'unknown message type t'],
    ['a string t', { t: '1', id: 1, op: 'get', a: {} }, 'unknown message type t'],
    ['a missing id', { t: 1, op: 'get', a: {} }, 'missing id'],
    ['a negative id', { t: 1, id: -1, op: 'get', a: {} }, 'id must be a safe non-negative integer'],
    ['a fractional id', { t: 2, id: 1.5, r: null }, 'id must be a safe non-negative integer'],
    ['an unsafe id', { t: 2, id: 2 ** 53, r: null }, 'id must be a safe non-negative integer'],
    ['a string id', { t: 3, id: '1', e: { code: 'X', message: '' } }, 'id must be a safe non-negative integer'],
    ['a missing op', { t: 1, id: 1, a: {} }, 'missing op'],
    ['a missing a', { t: 1, id: 1, op: 'get' }, 'missing a'],
    ['an extra field', { t: 1, id: 1, op: 'get', a: {}, x: 1 }, "unexpected field 'x'"],
    ['an id on an event', { t: 4, id: 1, k: 'watch', d: null }, "unexpected field 'id'"],
    ['an empty op', { t: 1, id: 1, op: '', a: {} }, 'op must be an identifier of at most 64 characters'],
    ['a long op', { t: 1, id: 1, op: 'x'.repeat(65), a: {} }, 'op must be an identifier of at most 64 characters'],
    ['an op with a control character', { t: 1, id: 1, op: 'get\n', a: {} }, 'op must be an identifier of at most 64 characters'],
    ['a numeric op', { t: 1, id: 1, op: 5, a: {} }, 'op must be an identifier of at most 64 characters'],
    ['arguments that are an array', { t: 1, id: 1, op: 'get', a: [] }, 'a (the arguments) must be a map'],
    ['arguments that are bytes', { t: 1, id: 1, op: 'get', a: Buffer.from('x') }, 'a (the arguments) must be a map'],
    ['a missing r', { t: 2, id: 1 }, 'missing r'],
    ['an error that is a string', { t: 3, id: 1, e: 'NO_NODE' }, 'e (the error) must be a map'],
    ['an error without message', { t: 3, id: 1, e: { code: 'NO_NODE' } }, 'missing e.message'],
    ['an error with an extra field', { t: 3, id: 1, e: { code: 'X', message: '', stack: 's' } }, "unexpected field 'e.stack'"],
    ['an error with an empty code', { t: 3, id: 1, e: { code: '', message: '' } }, 'e.code must be a string of 1 to 64 characters'],
    ['an error with a huge message', { t: 3, id: 1, e: { code: 'X', message: 'm'.repeat(5000) } }, 'e.message must be a string of at most 4096 characters'],
    ['error details that are a list', { t: 3, id: 1, e: { code: 'X', message: '', details: [] } }, 'e.details must be a map of JSON values'],
    ['error details holding bytes', { t: 3, id: 1, e: { code: 'X', message: '', details: { b: Buffer.from('x') } } }, 'e.details must be a map of JSON values'],
    ['a missing k', { t: 4, d: null }, 'missing k'],
    ['a bad k', { t: 4, k: 'Watch!', d: null }, 'k must be an identifier of at most 64 characters'],
    ['a missing d', { t: 4, k: 'watch' }, 'missing d'],
  ])('%s', (_name, decoded, reason) => {
    const error = rejection(() => parseEnvelope(decoded));
    expect(error.code).toBe(ErrorCode.BAD_FRAME);
    expect(error.details.reason).toBe(reason);
  });

  test('the request id is in the details once it is known, so the server can answer that request', () => {
    expect(rejection(() => parseEnvelope({ t: 1, id: 42, op: 'get', a: 1 })).details).toEqual({
      id: 42,
      reason: 'a (the arguments) must be a map',
    });
  });

  test('a __proto__ field from the wire is an unexpected field, not a prototype', () => {
    // msgpackr renames a `__proto__` key to `__proto_`, which the strict check then refuses.
    const body = Buffer.concat([
      Buffer.from('85 a174 01 a26964 01 a26f70 a3676574 a161 80 a9'.replace(/ /g, ''), 'hex'), // {t:1,id:1,op:'get',a:{},
      Buffer.from('__proto__'),
      Buffer.from([0x80]), // : {}}
    ]);
    const error = rejection(() => decodeEnvelope(body));
    expect(error.code).toBe(ErrorCode.BAD_FRAME);
    expect(error.details.reason).toBe("unexpected field '__proto_'");
  });
});
