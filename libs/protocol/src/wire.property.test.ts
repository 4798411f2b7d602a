/**
 * Property tests of the whole receive path: frame → msgpack → envelope (→ request validation).
 * Two properties: what one side encodes, the other side reads back unchanged however TCP cuts the
 * stream; and no input whatsoever makes the receive path throw anything but a HikariError.
 */
import fc from 'fast-check';
import { decodeBody, encodeBody } from './codec';
import { ErrorCode, HikariError } from './errors';
import { encodeFrame, FrameDecoder } from './frame';
import { decodeEnvelope, encodeEnvelope, Envelope, parseEnvelope } from './messages';
import { OPERATIONS, validateRequest } from './operations';

// Plain values as msgpack carries them. Excluded on purpose: -0 (msgpack integers have no sign of
// zero), NaN (not equal to itself), lone surrogates (not encodable in UTF-8), and `__proto__` keys
// (renamed by the decoder so that they cannot reach a prototype).
const key = fc.string({ maxLength: 12 }).filter((k) => k !== '__proto__');
const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.maxSafeInteger(),
    fc.double({ noNaN: true }).filter((n) => !Object.is(n, -0)),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.uint8Array({ maxLength: 64 }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(key, tie('value'), { maxKeys: 5 }),
  ),
}));
const { json } = fc.letrec<{ json: unknown }>((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.string({ maxLength: 20 }),
    fc.array(tie('json'), { maxLength: 4 }),
    fc.dictionary(key, tie('json'), { maxKeys: 4 }),
  ),
}));

const identifier = fc.stringMatching(/^[a-z][A-Za-z0-9_.]{0,63}$/);
const id = fc.maxSafeNat();
const envelope: fc.Arbitrary<Envelope> = fc.oneof(
  fc.record({ t: fc.constant(1 as const), id, op: identifier, a: fc.dictionary(key, value, { maxKeys: 6 }) }),
  fc.record({ t: fc.constant(2 as const), id, r: value }),
  fc.record({
    t: fc.constant(3 as const),
    id,
    e: fc.record(
      {
        code: fc.oneof(fc.constantFrom(...Object.values(ErrorCode)), fc.stringMatching(/^[A-Z_]{1,64}$/)),
        message: fc.string({ maxLength: 100 }),
        details: fc.dictionary(key, json, { maxKeys: 4 }) as fc.Arbitrary<Record<string, never>>,
      },
      { requiredKeys: ['code', 'message'] },
    ),
  }),
  fc.record({ t: fc.constant(4 as const), k: identifier, d: value }),
);

/** Cuts `stream` at the given points (any order, duplicates allowed). */
function cut(stream: Buffer, points: number[]): Buffer[] {
  const sorted = [...new Set(points.map((p) => p % (stream.length + 1)))].sort((x, y) => x - y);
  return [0, ...sorted].map((start, i) => stream.subarray(start, sorted[i] ?? stream.length));
}

/** Runs the receive path on `chunks`; rethrows anything that is not a HikariError. */
function receive(chunks: Uint8Array[]): void {
  const decoder = new FrameDecoder();
  try {
    for (const chunk of chunks) {
      for (const body of decoder.push(chunk)) {
        try {
          const parsed = decodeEnvelope(body);
          if (parsed.t === 1) validateRequest(parsed.op, parsed.a);
        } catch (error) {
          if (!(error instanceof HikariError)) throw error;
        }
      }
    }
  } catch (error) {
    if (!(error instanceof HikariError)) throw error;
  }
}

describe('wire properties', () => {
  test('envelopes round-trip encode → frame → any chunking → decode → parse', () => {
    fc.assert(
      fc.property(fc.array(envelope, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 8 }), (envelopes, points) => {
        const stream = Buffer.concat(envelopes.map(encodeEnvelope));
        const decoder = new FrameDecoder();
        const bodies = cut(stream, points).flatMap((chunk) => decoder.push(chunk));
        expect(bodies.map(decodeEnvelope)).toEqual(envelopes);
        expect(decoder.bufferedBytes).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  test('random bytes into decoder and parser throw nothing but HikariError', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (chunks) => receive(chunks)),
      { numRuns: 1000 },
    );
  });

  test('well-framed random bodies throw nothing but HikariError (BAD_FRAME for garbage)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), (body) => {
        receive([encodeFrame(body)]);
        try {
          parseEnvelope(decodeBody(body));
        } catch (error) {
          expect(HikariError.is(error, ErrorCode.BAD_FRAME)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('any decoded value is parsed or refused with BAD_FRAME', () => {
    fc.assert(
      fc.property(fc.anything({ withBoxedValues: false }), (anything) => {
        try {
          parseEnvelope(decodeBody(encodeBody({ t: 1, id: 1, op: 'get', a: anything })));
          parseEnvelope(anything);
        } catch (error) {
          expect(HikariError.is(error, ErrorCode.BAD_FRAME)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  test('any arguments to any operation are validated or refused with a HikariError', () => {
    const ops = Object.keys(OPERATIONS);
    fc.assert(
      fc.property(fc.constantFrom(...ops), fc.oneof(value, fc.anything()), (op, args) => {
        try {
          validateRequest(op, decodeBody(encodeBody(args)));
        } catch (error) {
          expect(error).toBeInstanceOf(HikariError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
