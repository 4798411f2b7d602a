/**
 * The wire form of Raft messages between server nodes: compact positional msgpack arrays.
 *
 *   batch frame body = [message, message, ...]                     (at least one)
 *   message  = [type, from, to, term, logTerm, index, commit, reject, rejectHint, logTermHint,
 *               context, entries, snapshot | null]
 *   entry    = [term, index, type, data]                           (index kept: RawNode checks numbering)
 *   snapshot = [index, term, voters, learners, data]               (data empty when streamed apart)
 *
 * Messages are encoded one by one (`encodeMessage`), so their exact size is known when they are
 * queued, and a batch body is the array header followed by the encoded messages (`encodeBatch`).
 * Decoding checks shapes only (a number is a safe non-negative integer, bytes are bytes, an array is
 * an array of the right length, a type is a network message type); anything else is BAD_FRAME.
 * `RawNode.step` does the semantic checks (recipient, entry numbering, terms) afterwards.
 */
import { decodeBody, encodeBody, HikariError } from '@hikarikeeper/protocol';
import {
  ConfState,
  Entry,
  EntryType,
  isLocalMessage,
  Message,
  message,
  MessageType,
  NO_ENTRIES,
  Snapshot,
} from '@hikarikeeper/raft';
import { array, boolean, bytes, tuple, uint } from './wire-shapes';

const MESSAGE_FIELDS = 13;
const ENTRY_FIELDS = 4;
const SNAPSHOT_FIELDS = 5;

type WireEntry = [number, number, number, Uint8Array];
type WireSnapshot = [number, number, number[], number[], Uint8Array];
export type WireMessage = [
  number, number, number, number, number, number, number, boolean, number, number, string,
  WireEntry[], WireSnapshot | null,
];

const EMPTY_BYTES = new Uint8Array(0);

/** The positional form of `m` (see the file comment). With `withoutSnapshotData`, the snapshot's data is left out. */
export function messageToWire(m: Message, withoutSnapshotData = false): WireMessage {
  const entries: WireEntry[] = m.entries.map((e) => [e.term, e.index, e.type, e.data]);
  const s = m.snapshot;
  const snapshot: WireSnapshot | null =
    s === null
      ? null
      : [s.metadata.index, s.metadata.term, [...s.metadata.confState.voters], [...s.metadata.confState.learners],
         withoutSnapshotData ? EMPTY_BYTES : s.data];
  return [
    m.type, m.from, m.to, m.term, m.logTerm, m.index, m.commit, m.reject, m.rejectHint, m.logTermHint,
    m.context, entries, snapshot,
  ];
}

/** One message, encoded on its own: a part of a batch body. Throws INVALID_ARGUMENT for a local message. */
export function encodeMessage(m: Message): Buffer {
  if (!isNetworkType(m.type)) throw HikariError.invalidArgument('type', `${String(m.type)} is not a network message type`);
  return encodeBody(messageToWire(m));
}

/** A batch frame body made of messages encoded by `encodeMessage` (at least one). */
export function encodeBatch(parts: readonly Uint8Array[]): Buffer {
  if (parts.length === 0) throw HikariError.invalidArgument('parts', 'a batch holds at least one message');
  const header = arrayHeader(parts.length);
  return Buffer.concat([header, ...parts]);
}

/** Convenience for tests and small batches: the batch body for `messages`. */
export function encodeMessages(messages: readonly Message[]): Buffer {
  return encodeBatch(messages.map(encodeMessage));
}

/** The messages of a batch frame body. Throws HikariError(BAD_FRAME) on anything malformed; never anything else. */
export function decodeBatch(body: Uint8Array): Message[] {
  const value = decodeBody(body);
  if (!Array.isArray(value) || value.length === 0) throw HikariError.badFrame('a batch is a non-empty array of messages');
  const messages = new Array<Message>(value.length);
  for (let i = 0; i < value.length; i++) messages[i] = messageFromWire(value[i], `messages[${i}]`);
  return messages;
}

/** The message for a decoded positional array; `at` names it in errors. Throws BAD_FRAME. */
export function messageFromWire(value: unknown, at = 'message'): Message {
  const v = tuple(value, MESSAGE_FIELDS, at);
  const type = uint(v[0], `${at}.type`);
  if (!isNetworkType(type)) throw HikariError.badFrame(`${at}.type ${type} is not a network message type`);
  const context = v[10];
  if (typeof context !== 'string') throw HikariError.badFrame(`${at}.context is not a string`);
  const wireEntries = array(v[11], `${at}.entries`);
  const entries = wireEntries.length === 0 ? NO_ENTRIES : wireEntries.map((e, j) => entryFromWire(e, `${at}.entries[${j}]`));
  return message({
    type,
    from: uint(v[1], `${at}.from`),
    to: uint(v[2], `${at}.to`),
    term: uint(v[3], `${at}.term`),
    logTerm: uint(v[4], `${at}.logTerm`),
    index: uint(v[5], `${at}.index`),
    commit: uint(v[6], `${at}.commit`),
    reject: boolean(v[7], `${at}.reject`),
    rejectHint: uint(v[8], `${at}.rejectHint`),
    logTermHint: uint(v[9], `${at}.logTermHint`),
    context,
    entries,
    snapshot: v[12] === null ? null : snapshotFromWire(v[12], `${at}.snapshot`),
  });
}

function entryFromWire(value: unknown, at: string): Entry {
  const v = tuple(value, ENTRY_FIELDS, at);
  const type = uint(v[2], `${at}.type`);
  if (type !== EntryType.Normal && type !== EntryType.ConfChange) throw HikariError.badFrame(`${at}.type ${type} is unknown`);
  return { term: uint(v[0], `${at}.term`), index: uint(v[1], `${at}.index`), type, data: bytes(v[3], `${at}.data`) };
}

function snapshotFromWire(value: unknown, at: string): Snapshot {
  const v = tuple(value, SNAPSHOT_FIELDS, at);
  const confState: ConfState = {
    voters: array(v[2], `${at}.voters`).map((id, j) => uint(id, `${at}.voters[${j}]`)),
    learners: array(v[3], `${at}.learners`).map((id, j) => uint(id, `${at}.learners[${j}]`)),
  };
  return {
    metadata: { index: uint(v[0], `${at}.index`), term: uint(v[1], `${at}.term`), confState },
    data: bytes(v[4], `${at}.data`),
  };
}

const NETWORK_TYPES: ReadonlySet<number> = new Set(
  Object.values(MessageType).filter((t): t is MessageType => typeof t === 'number' && !isLocalMessage(t)),
);

function isNetworkType(type: number): type is MessageType {
  return NETWORK_TYPES.has(type);
}

/** The msgpack header of an array of `length` elements. */
function arrayHeader(length: number): Buffer {
  if (length < 16) return Buffer.from([0x90 | length]);
  if (length <= 0xffff) {
    const b = Buffer.allocUnsafe(3);
    b[0] = 0xdc;
    b.writeUInt16BE(length, 1);
    return b;
  }
  const b = Buffer.allocUnsafe(5);
  b[0] = 0xdd;
  b.writeUInt32BE(length, 1);
  return b;
}
