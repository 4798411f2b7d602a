/**
 * Frame bodies are msgpack. The encoder is set up so that any msgpack implementation can read what
 * it writes: plain maps with string keys, no msgpackr records or shared structures, no extension
 * types, binary as `bin` (decoded as Buffer, a Uint8Array). Fields set to `undefined` are left out,
 * as JSON.stringify does, so an optional field is either present with a value or absent.
 *
 * The decoder is lenient in what it reads (msgpackr records from a msgpackr peer decode to plain
 * maps, within one body only) and strict in what it lets through: the envelope and argument
 * validators accept only plain maps, arrays, strings, numbers, booleans, null and binary.
 */
import { Options, Packr } from 'msgpackr';
import { clipText, ErrorCode, HikariError } from './errors';

// `skipValues` exists in msgpackr >= 1.10 but is missing from its type declarations.
const options: Options & { skipValues: unknown[] } = {
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: false,
  bundleStrings: false,
  // Hostile input could otherwise build cyclic object graphs with the structured-clone extension.
  structuredClone: false,
  // 64-bit integers from other peers (Go, Rust) decode as numbers; validators reject unsafe ones.
  int64AsType: 'number',
  encodeUndefinedAsNil: true,
  skipValues: [undefined],
};

const packr = new Packr(options);

/**
 * The msgpack encoding of `value`. The returned Buffer may share a larger allocation with other
 * results; it is never overwritten. Throws INVALID_ARGUMENT for a value msgpack cannot carry.
 */
export function encodeBody(value: unknown): Buffer {
  try {
    return packr.pack(value);
  } catch (error) {
    throw new HikariError(
      ErrorCode.INVALID_ARGUMENT,
      { field: 'body', reason: `cannot be encoded: ${String(error)}` },
      { cause: error },
    );
  }
}

/**
 * The value encoded in `bytes`, which must hold exactly one msgpack value. Any failure (truncated,
 * trailing bytes, unknown extension, ...) becomes BAD_FRAME. Binary values are views into `bytes`.
 */
export function decodeBody(bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes) as unknown;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new HikariError(ErrorCode.BAD_FRAME, { reason: `undecodable msgpack: ${clipText(reason)}` }, { cause: error });
  }
}
