/**
 * Length-prefixed frames: a 4-byte big-endian unsigned body length, then the body. A body is never
 * empty (a msgpack value takes at least one byte), so a zero length is a broken peer.
 */
import { ErrorCode, HikariError } from './errors';
import { FRAME_BYTES_MAX, FRAME_HEADER_BYTES } from './limits';

/**
 * Chunks shorter than this that continue a partial frame are copied into a staging buffer rather
 * than queued: a peer trickling one byte per packet would otherwise cost one Buffer object (about
 * 100 bytes of heap) per byte received. Larger chunks are queued as they are, without a copy.
 */
const COALESCE_BELOW_BYTES = 1024;
const STAGING_BYTES = 16 * 1024;

/** The frame for `body`: throws TOO_LARGE over `frameBytesMax`, BAD_FRAME for an empty body. */
export function encodeFrame(body: Uint8Array, frameBytesMax: number = FRAME_BYTES_MAX): Buffer {
  if (body.length === 0) throw HikariError.badFrame('empty frame body');
  if (body.length > frameBytesMax) throw HikariError.tooLarge('frame', body.length, frameBytesMax);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  frame.writeUInt32BE(body.length, 0);
  frame.set(body, FRAME_HEADER_BYTES);
  return frame;
}

export interface FrameDecoderOptions {
  /** Largest body accepted; default FRAME_BYTES_MAX. */
  frameBytesMax?: number;
}

/**
 * Cuts a byte stream (TCP chunks of any size) into frame bodies.
 *
 * Contract:
 * - `push` returns the bodies completed by this chunk, in order; it may return none.
 * - A returned body may be a view into a pushed chunk: do not modify a chunk after pushing it.
 * - The length is checked as soon as the 4 header bytes are in, before any of the body is kept,
 *   so a hostile length never causes an allocation.
 * - Bytes are copied at most once, when a frame spread over several chunks completes.
 * - On TOO_LARGE or BAD_FRAME, `push` throws, drops what it held (including bodies completed earlier
 *   in the same chunk) and throws the same error on every later call: the stream has lost its
 *   framing, and the connection must be closed.
 */
export class FrameDecoder {
  private readonly frameBytesMax: number;
  /** Received bytes not returned yet, oldest first. */
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Body length of the frame being received once its header is complete; -1 before. */
  private bodyBytes = -1;
  private staging: Buffer | null = null;
  private stagingUsed = 0;
  private failure: HikariError | null = null;

  constructor(options: FrameDecoderOptions = {}) {
    const frameBytesMax = options.frameBytesMax ?? FRAME_BYTES_MAX;
    if (!Number.isInteger(frameBytesMax) || frameBytesMax < 1 || frameBytesMax > 0xffff_ffff) {
      throw HikariError.invalidArgument('frameBytesMax', 'must be an integer in [1, 2^32 - 1]');
    }
    this.frameBytesMax = frameBytesMax;
  }

  /** Bytes received and not yet returned, header included (non-zero when a connection closes mid-frame). */
  get bufferedBytes(): number {
    return this.buffered + (this.bodyBytes < 0 ? 0 : FRAME_HEADER_BYTES);
  }

  push(chunk: Uint8Array): Buffer[] {
    if (this.failure !== null) throw this.failure;
    try {
      this.append(chunk);
      return this.drain();
    } catch (error) {
      this.failure = HikariError.is(error) ? error : new HikariError(ErrorCode.INTERNAL, {}, { cause: error });
      this.chunks = [];
      this.buffered = 0;
      this.bodyBytes = -1;
      this.staging = null;
      throw this.failure;
    }
  }

  private drain(): Buffer[] {
    const bodies: Buffer[] = [];
    for (;;) {
      if (this.bodyBytes < 0) {
        if (this.buffered < FRAME_HEADER_BYTES) return bodies;
        this.bodyBytes = this.checkedLength(this.take(FRAME_HEADER_BYTES).readUInt32BE(0));
      }
      if (this.buffered < this.bodyBytes) return bodies;
      bodies.push(this.take(this.bodyBytes));
      this.bodyBytes = -1;
    }
  }

  private checkedLength(length: number): number {
    if (length === 0) throw HikariError.badFrame('zero-length frame');
    if (length > this.frameBytesMax) throw HikariError.tooLarge('frame', length, this.frameBytesMax);
    return length;
  }

  private append(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const view = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    this.buffered += view.length;
    if (view.length >= COALESCE_BELOW_BYTES || this.chunks.length === 0) {
      this.chunks.push(view);
      return;
    }
    if (this.staging === null || this.stagingUsed + view.length > STAGING_BYTES) {
      this.staging = Buffer.allocUnsafeSlow(STAGING_BYTES); // its own memory: byteOffset 0
      this.stagingUsed = 0;
    }
    const start = this.stagingUsed;
    view.copy(this.staging, start);
    this.stagingUsed += view.length;
    const last = this.chunks[this.chunks.length - 1]!;
    const extendsLast = last.buffer === this.staging.buffer && last.byteOffset + last.length === start;
    const merged = this.staging.subarray(extendsLast ? last.byteOffset : start, this.stagingUsed);
    if (extendsLast) this.chunks[this.chunks.length - 1] = merged;
    else this.chunks.push(merged);
  }

  /** Removes and returns the first `n` buffered bytes (`n` <= buffered); copies only if they span chunks. */
  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0]!;
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let copied = 0;
    let used = 0;
    while (copied < n) {
      const chunk = this.chunks[used]!;
      const part = Math.min(chunk.length, n - copied);
      chunk.copy(out, copied, 0, part);
      copied += part;
      if (part === chunk.length) used++;
      else this.chunks[used] = chunk.subarray(part);
    }
    this.chunks.splice(0, used);
    return out;
  }
}
