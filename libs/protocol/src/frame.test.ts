import { ErrorCode } from './errors';
import { encodeFrame, FrameDecoder } from './frame';
import { FRAME_BYTES_MAX } from './limits';
import { rejection } from './testing/rejection';

const bytes = (...values: number[]): Buffer => Buffer.from(values);
const body = (size: number, seed: number): Buffer => Buffer.from(Array.from({ length: size }, (_, i) => (i * 31 + seed) & 0xff));

/** Pushes `chunks` in order and returns every body, as hex for readable comparisons. */
function decodeAll(chunks: Uint8Array[], decoder = new FrameDecoder()): string[] {
  return chunks.flatMap((chunk) => decoder.push(chunk)).map((frame) => Buffer.from(frame).toString('hex'));
}

describe('encodeFrame', () => {
  test('prefixes the body with its length, 4 bytes big-endian', () => {
    expect(encodeFrame(bytes(0xaa, 0xbb, 0xcc)).toString('hex')).toBe('00000003aabbcc');
    expect(encodeFrame(body(300, 1)).subarray(0, 4).toString('hex')).toBe('0000012c');
  });

  test('refuses an empty body (BAD_FRAME) and a body over the limit (TOO_LARGE)', () => {
    expect(rejection(() => encodeFrame(new Uint8Array(0))).code).toBe(ErrorCode.BAD_FRAME);
    const error = rejection(() => encodeFrame(new Uint8Array(FRAME_BYTES_MAX + 1)));
    expect(error.code).toBe(ErrorCode.TOO_LARGE);
    expect(error.details).toEqual({ what: 'frame', size: FRAME_BYTES_MAX + 1, limit: FRAME_BYTES_MAX });
    expect(encodeFrame(new Uint8Array(FRAME_BYTES_MAX)).length).toBe(FRAME_BYTES_MAX + 4);
  });
});

describe('FrameDecoder', () => {
  const bodies = [body(1, 1), body(5, 2), body(2000, 3), body(3, 4)];
  const stream = Buffer.concat(bodies.map((b) => encodeFrame(b)));
  const expected = bodies.map((b) => b.toString('hex'));

  test('returns every frame of a chunk holding many frames', () => {
    expect(decodeAll([stream])).toEqual(expected);
  });

  test('reassembles frames split at every byte boundary', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const decoder = new FrameDecoder();
      expect(decodeAll([stream.subarray(0, cut), stream.subarray(cut)], decoder)).toEqual(expected);
      expect(decoder.bufferedBytes).toBe(0);
    }
  });

  test('reassembles frames fed one byte at a time', () => {
    const chunks = Array.from(stream, (byte) => bytes(byte));
    expect(decodeAll(chunks)).toEqual(expected);
  });

  test('accepts plain Uint8Array chunks (not only Buffers)', () => {
    const chunks = [new Uint8Array(stream.subarray(0, 7)), new Uint8Array(stream.subarray(7))];
    expect(decodeAll(chunks)).toEqual(expected);
  });

  test('reports the bytes of an incomplete frame', () => {
    const decoder = new FrameDecoder();
    expect(decoder.push(stream.subarray(0, 16))).toHaveLength(2); // frames of 4+1 and 4+5 bytes
    expect(decoder.bufferedBytes).toBe(2); // half a header
    expect(decoder.push(stream.subarray(16, 20))).toHaveLength(0);
    expect(decoder.bufferedBytes).toBe(6); // a header and 2 bytes of body
  });

  test('a trickled frame is coalesced, not kept as one queued chunk per byte', () => {
    const frame = encodeFrame(body(200_000, 9));
    const decoder = new FrameDecoder();
    const queued = (): number => (decoder as unknown as { chunks: unknown[] }).chunks.length;
    let peak = 0;
    const out: Buffer[] = [];
    for (const byte of frame) {
      out.push(...decoder.push(bytes(byte)));
      peak = Math.max(peak, queued());
    }
    expect(out).toHaveLength(1);
    expect(out[0]!.equals(body(200_000, 9))).toBe(true);
    expect(peak).toBeLessThan(20); // 200 KB in 16 KiB staging buffers
  });

  test('a hostile length prefix throws TOO_LARGE on the 4-byte header alone, allocating nothing big', () => {
    const sizes: number[] = [];
    const spies = (['alloc', 'allocUnsafe', 'allocUnsafeSlow'] as const).map((name) => {
      const original = Buffer[name].bind(Buffer);
      return jest.spyOn(Buffer, name).mockImplementation(((size: number, ...rest: unknown[]) => {
        sizes.push(size);
        return (original as (...args: unknown[]) => Buffer)(size, ...rest);
      }) as never);
    });
    try {
      const decoder = new FrameDecoder();
      const error = rejection(() => decoder.push(bytes(0xff, 0xff, 0xff, 0xff)));
      expect(error.code).toBe(ErrorCode.TOO_LARGE);
      expect(error.details).toEqual({ what: 'frame', size: 0xffff_ffff, limit: FRAME_BYTES_MAX });
      expect(decoder.bufferedBytes).toBe(0);
      expect(Math.max(0, ...sizes)).toBeLessThanOrEqual(16 * 1024);
    } finally {
      spies.forEach((spy) => spy.mockRestore());
    }
  });

  test('a header split over chunks is checked as soon as it is complete', () => {
    const decoder = new FrameDecoder();
    const header = Buffer.alloc(4);
    header.writeUInt32BE(FRAME_BYTES_MAX + 1);
    expect(decoder.push(header.subarray(0, 2))).toEqual([]);
    expect(rejection(() => decoder.push(header.subarray(2))).code).toBe(ErrorCode.TOO_LARGE);
  });

  test('a frame of exactly frameBytesMax is accepted, one byte more is not', () => {
    const decoder = new FrameDecoder({ frameBytesMax: 16 });
    expect(decodeAll([encodeFrame(body(16, 5))], decoder)).toEqual([body(16, 5).toString('hex')]);
    expect(rejection(() => decoder.push(encodeFrame(body(17, 5)))).code).toBe(ErrorCode.TOO_LARGE);
  });

  test('a zero-length frame is BAD_FRAME', () => {
    const error = rejection(() => new FrameDecoder().push(bytes(0, 0, 0, 0)));
    expect(error.code).toBe(ErrorCode.BAD_FRAME);
    expect(error.details.reason).toBe('zero-length frame');
  });

  test('after an error the decoder is unusable and keeps throwing the same error', () => {
    const decoder = new FrameDecoder();
    const first = rejection(() => decoder.push(Buffer.concat([encodeFrame(bytes(1)), bytes(0, 0, 0, 0)])));
    expect(first.code).toBe(ErrorCode.BAD_FRAME);
    expect(rejection(() => decoder.push(encodeFrame(bytes(1))))).toBe(first);
    expect(decoder.bufferedBytes).toBe(0);
  });

  test('empty chunks are ignored', () => {
    expect(decodeAll([new Uint8Array(0), stream, new Uint8Array(0)])).toEqual(expected);
  });

  test('rejects a frameBytesMax the header cannot express', () => {
    expect(rejection(() => new FrameDecoder({ frameBytesMax: 2 ** 32 })).code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(rejection(() => new FrameDecoder({ frameBytesMax: 0 })).code).toBe(ErrorCode.INVALID_ARGUMENT);
  });
});
