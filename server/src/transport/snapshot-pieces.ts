/**
 * A snapshot stream is a byte stream: the transport cuts it into chunks of its own size (at most
 * SNAPSHOT_CHUNK_BYTES_MAX), so the receiver does not see the sender's pieces. A producer whose
 * pieces are self-contained units (a msgpack-packed batch of records, decoded one at a time) wraps
 * them with `framePieces` when sending and restores them with `unframePieces` when receiving: each
 * piece travels as a length-prefixed frame, and the receiver holds at most one piece in memory.
 */
import { encodeFrame, FrameDecoder, HikariError } from '@hikarikeeper/protocol';

/**
 * Largest piece. A piece holds at least one whole record: the largest node value a server may be
 * configured with (DATA_BYTES_MAX_CEILING, just under 4 MiB) plus its key and stat, with room.
 */
export const SNAPSHOT_PIECE_BYTES_MAX = 8 * 1024 * 1024;

/** The byte stream for `pieces` (empty pieces are skipped). Throws TOO_LARGE for a piece over the limit. */
export async function* framePieces(
  pieces: AsyncIterable<Uint8Array>,
  pieceBytesMax: number = SNAPSHOT_PIECE_BYTES_MAX,
): AsyncGenerator<Uint8Array> {
  for await (const piece of pieces) {
    if (piece.length > 0) yield encodeFrame(piece, pieceBytesMax);
  }
}

/**
 * The pieces framed by `framePieces`, whatever the chunk boundaries. Throws TOO_LARGE for a piece
 * over the limit and BAD_FRAME for a stream that ends inside a piece (or what `chunks` throws).
 */
export async function* unframePieces(
  chunks: AsyncIterable<Uint8Array>,
  pieceBytesMax: number = SNAPSHOT_PIECE_BYTES_MAX,
): AsyncGenerator<Uint8Array> {
  const decoder = new FrameDecoder({ frameBytesMax: pieceBytesMax });
  for await (const chunk of chunks) yield* decoder.push(chunk);
  if (decoder.bufferedBytes > 0) throw HikariError.badFrame(`the snapshot stream ends inside a piece (${decoder.bufferedBytes} bytes)`);
}
