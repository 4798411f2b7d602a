/**
 * The envelope of the client protocol: every frame body is one of four maps, told apart by `t`.
 *
 * - request  `{ t: 1, id, op, a }`  client → server. `id` is chosen by the client, unique among its
 *   requests in flight on the connection; many may be in flight, and answers come in any order.
 * - response `{ t: 2, id, r }`      server → client, the result of request `id`.
 * - error    `{ t: 3, id, e }`      server → client, request `id` failed with `e` (see errors.ts).
 * - event    `{ t: 4, k, d }`       server → client, pushed (watch fired, session state, lock granted).
 *
 * `parseEnvelope` is strict: a missing or unexpected field is BAD_FRAME, after which the connection
 * is closed. Adding a field is therefore a protocol version change; new operations and event kinds
 * are not (an unknown op is answered UNKNOWN_OPERATION, an unknown event kind is for the SDK to skip).
 */
import { decodeBody, encodeBody } from './codec';
import { clipText, ErrorDetails, errorToWire, HikariError, WireError } from './errors';
import { encodeFrame } from './frame';
import { isJsonValue, isPlainObject } from './json';
import { ERROR_CODE_CHARS_MAX, ERROR_DETAILS_DEPTH_MAX, ERROR_MESSAGE_CHARS_MAX, OP_NAME_CHARS_MAX } from './limits';

export const MessageType = { REQUEST: 1, RESPONSE: 2, ERROR: 3, EVENT: 4 } as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export interface RequestEnvelope<Args extends object = Record<string, unknown>> {
  t: typeof MessageType.REQUEST;
  id: number;
  op: string;
  a: Args;
}
export interface ResponseEnvelope<Result = unknown> {
  t: typeof MessageType.RESPONSE;
  id: number;
  r: Result;
}
export interface ErrorEnvelope {
  t: typeof MessageType.ERROR;
  id: number;
  e: WireError;
}
/** Kinds defined so far; later work adds more, so the SDK must ignore kinds it does not know. */
export type EventKind = 'watch' | 'session' | 'lock' | (string & {});
export interface EventEnvelope<Data = unknown> {
  t: typeof MessageType.EVENT;
  k: EventKind;
  d: Data;
}
export type Envelope = RequestEnvelope | ResponseEnvelope | ErrorEnvelope | EventEnvelope;

/** The error envelope answering request `id` with any thrown value (non-HikariErrors become INTERNAL). */
export function errorEnvelope(id: number, error: unknown): ErrorEnvelope {
  return { t: MessageType.ERROR, id, e: errorToWire(error) };
}

/** The frame (header and body) carrying `envelope`. Throws TOO_LARGE over FRAME_BYTES_MAX. */
export function encodeEnvelope(envelope: Envelope): Buffer {
  return encodeFrame(encodeBody(envelope));
}

/** The envelope in a frame body, as returned by FrameDecoder. Throws BAD_FRAME. */
export function decodeEnvelope(body: Uint8Array): Envelope {
  return parseEnvelope(decodeBody(body));
}

const FIELDS: { readonly [T in MessageType]: readonly string[] } = {
  1: ['t', 'id', 'op', 'a'],
  2: ['t', 'id', 'r'],
  3: ['t', 'id', 'e'],
  4: ['t', 'k', 'd'],
};
// Operation names and event kinds: identifiers such as `create` or `lock.acquire`.
const IDENTIFIER = new RegExp(`^[a-z][A-Za-z0-9_.]{0,${OP_NAME_CHARS_MAX - 1}}$`);

/** The envelope in a decoded frame body, checked field by field. Throws BAD_FRAME with a precise reason. */
export function parseEnvelope(decoded: unknown): Envelope {
  if (!isPlainObject(decoded)) throw HikariError.badFrame('the body is not a map');
  const t = decoded.t;
  if (t !== 1 && t !== 2 && t !== 3 && t !== 4) {
    throw HikariError.badFrame(Object.hasOwn(decoded, 't') ? 'unknown message type t' : 'missing t');
  }
  if (t === MessageType.EVENT) {
    checkFields(decoded, FIELDS[t], {});
    return { t, k: identifier(decoded.k, 'k', {}), d: decoded.d };
  }
  const id = requestId(decoded.id);
  checkFields(decoded, FIELDS[t], { id });
  switch (t) {
    case MessageType.REQUEST:
      if (!isPlainObject(decoded.a)) throw HikariError.badFrame('a (the arguments) must be a map', { id });
      return { t, id, op: identifier(decoded.op, 'op', { id }), a: decoded.a };
    case MessageType.RESPONSE:
      return { t, id, r: decoded.r };
    case MessageType.ERROR:
      return { t, id, e: wireError(decoded.e, id) };
  }
}

function requestId(id: unknown): number {
  if (id === undefined) throw HikariError.badFrame('missing id');
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
    throw HikariError.badFrame('id must be a safe non-negative integer');
  }
  return id;
}

function checkFields(
  map: Record<string, unknown>,
  required: readonly string[],
  extra: ErrorDetails,
  optional: readonly string[] = [],
  prefix = '',
): void {
  for (const key of Object.keys(map)) {
    if (!required.includes(key) && !optional.includes(key)) {
      throw HikariError.badFrame(`unexpected field '${prefix}${clipText(key)}'`, extra);
    }
  }
  for (const field of required) {
    if (!Object.hasOwn(map, field)) throw HikariError.badFrame(`missing ${prefix}${field}`, extra);
  }
}

function identifier(value: unknown, field: string, extra: ErrorDetails): string {
  if (typeof value !== 'string' || !IDENTIFIER.test(value)) {
    throw HikariError.badFrame(`${field} must be an identifier of at most ${OP_NAME_CHARS_MAX} characters`, extra);
  }
  return value;
}

function wireError(e: unknown, id: number): WireError {
  if (!isPlainObject(e)) throw HikariError.badFrame('e (the error) must be a map', { id });
  checkFields(e, ['code', 'message'], { id }, ['details'], 'e.');
  const { code, message, details } = e;
  if (typeof code !== 'string' || code.length === 0 || code.length > ERROR_CODE_CHARS_MAX) {
    throw HikariError.badFrame(`e.code must be a string of 1 to ${ERROR_CODE_CHARS_MAX} characters`, { id });
  }
  if (typeof message !== 'string' || message.length > ERROR_MESSAGE_CHARS_MAX) {
    throw HikariError.badFrame(`e.message must be a string of at most ${ERROR_MESSAGE_CHARS_MAX} characters`, { id });
  }
  if (details === undefined) return { code, message };
  if (!isPlainObject(details) || !isJsonValue(details, ERROR_DETAILS_DEPTH_MAX)) {
    throw HikariError.badFrame('e.details must be a map of JSON values', { id });
  }
  return { code, message, details };
}
