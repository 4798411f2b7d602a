import { decodeBody, encodeBody } from './codec';
import { ErrorCode } from './errors';
import { rejection } from './testing/rejection';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s/g, ''), 'hex');

describe('encodeBody / decodeBody', () => {
  test('round-trips plain maps, arrays, numbers, strings and binary', () => {
    const value = { t: 1, id: 2 ** 40, op: 'get', a: { path: '/a', data: new Uint8Array([1, 2, 3]), n: -1.5, ok: true, x: null, list: ['é', 7] } };
    const back = decodeBody(encodeBody(value)) as typeof value;
    expect(back).toEqual({ ...value, a: { ...value.a, data: Buffer.from([1, 2, 3]) } });
    expect(back.a.data).toBeInstanceOf(Uint8Array);
  });

  test('writes standard msgpack any peer can read: a fixmap with string keys, no records', () => {
    expect(encodeBody({ a: 1 }).toString('hex')).toBe('81a16101');
    expect(encodeBody({ b: new Uint8Array([9]) }).toString('hex')).toBe('81a162c40109');
    // The same shape twice does not switch to msgpackr records.
    expect(encodeBody([{ a: 1 }, { a: 2 }]).toString('hex')).toBe('9281a1610181a16102');
  });

  test('leaves out fields set to undefined', () => {
    expect(encodeBody({ a: 1, b: undefined })).toEqual(encodeBody({ a: 1 }));
    expect(decodeBody(encodeBody([undefined]))).toEqual([null]);
  });

  test('reads 64-bit integers from other peers as numbers', () => {
    expect(decodeBody(hex('cf 0000 0000 0000 002a'))).toBe(42);
    expect(decodeBody(hex('d3 ffff ffff ffff ffff'))).toBe(-1);
  });

  test('an unencodable value is INVALID_ARGUMENT', () => {
    expect(rejection(() => encodeBody({ s: Symbol('x') })).code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(rejection(() => encodeBody(10n ** 30n)).code).toBe(ErrorCode.INVALID_ARGUMENT);
  });

  test.each([
    ['empty input', ''],
    ['a truncated string', 'a5 6162'],
    ['a truncated map', '82 a161 01'],
    ['trailing bytes after the value', 'c0 c0'],
    ['the reserved byte 0xc1 inside an array', '91 c1 c0'],
    ['an unknown extension type', 'd4 05 00'],
    ['a structured-clone pointer (cycles)', 'd6 70 00000001'],
    ['a structured-clone id (cycles)', 'd6 69 00000001 81 a161 c0'],
    ['an array claiming 4 billion items', 'dd ffffffff 01'],
    ['a map claiming 4 billion entries', 'df ffffffff a161 01'],
    ['a bin claiming 4 GB', 'c6 ffffffff 00'],
    ['a str claiming 4 GB', 'db ffffffff 61'],
  ])('garbage (%s) is BAD_FRAME', (_name, input) => {
    const error = rejection(() => decodeBody(hex(input)));
    expect(error.code).toBe(ErrorCode.BAD_FRAME);
    expect(String(error.details.reason)).toMatch(/^undecodable msgpack: /);
  });

  test('deep nesting is BAD_FRAME, not a crash', () => {
    const depth = 200_000;
    const input = Buffer.alloc(depth + 1, 0x91);
    input[depth] = 0xc0;
    expect(rejection(() => decodeBody(input)).code).toBe(ErrorCode.BAD_FRAME);
    // The decoder still works afterwards.
    expect(decodeBody(encodeBody({ ok: 1 }))).toEqual({ ok: 1 });
  });

  test('a __proto__ key cannot reach the prototype', () => {
    const decoded = decodeBody(hex('81 a9 5f5f70726f746f5f5f 81 a161 01')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).a).toBeUndefined();
  });
});
