import fc from 'fast-check';
import { encodeBody, ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { Entry, EntryType, isLocalMessage, Message, message, MessageType } from '@hikarikeeper/raft';
import { decodeHello, decodeSnapshotAck, decodeSnapshotFrame, encodeHello, encodeSnapshotChunk } from './control-frames';
import { decodeBatch, encodeBatch, encodeMessage, encodeMessages, messageToWire } from './peer-codec';

const NETWORK_TYPES = Object.values(MessageType).filter((t): t is MessageType => typeof t === 'number' && !isLocalMessage(t));

/** Comparable form: byte arrays as hex (Buffer and Uint8Array compare alike). */
function plain(m: Message): unknown {
  return {
    ...m,
    entries: m.entries.map((e) => ({ ...e, data: Buffer.from(e.data).toString('hex') })),
    snapshot: m.snapshot && { ...m.snapshot, data: Buffer.from(m.snapshot.data).toString('hex') },
  };
}

function expectBadFrame(body: Uint8Array): HikariError {
  try {
    decodeBatch(body);
  } catch (error) {
    expect(HikariError.is(error, ErrorCode.BAD_FRAME)).toBe(true);
    return error as HikariError;
  }
  throw new Error('decodeBatch accepted a malformed batch');
}

const entries: Entry[] = [
  { term: 3, index: 11, type: EntryType.Normal, data: Buffer.from('hello') },
  { term: 3, index: 12, type: EntryType.ConfChange, data: new Uint8Array([1, 2, 3]) },
  { term: 4, index: 13, type: EntryType.Normal, data: new Uint8Array(0) },
];

function sample(type: MessageType): Message {
  return message({
    type, from: 1, to: 2, term: 4, logTerm: 3, index: 10, commit: 9, reject: type === MessageType.AppResp,
    rejectHint: 7, logTermHint: 2, context: type === MessageType.ReadIndex ? 'read-42' : '',
    entries: type === MessageType.App ? entries : [],
    snapshot: type === MessageType.Snap
      ? { metadata: { index: 100, term: 4, confState: { voters: [1, 2, 3], learners: [4] } }, data: Buffer.from('state') }
      : null,
  });
}

describe('peer codec', () => {
  test.each(NETWORK_TYPES.map((t) => [MessageType[t], t] as const))('round-trips a %s message', (_name, type) => {
    const m = sample(type);
    const [decoded] = decodeBatch(encodeMessages([m]));
    expect(plain(decoded!)).toEqual(plain(m));
  });

  test('a batch keeps the order of its messages', () => {
    const ms = NETWORK_TYPES.map(sample);
    expect(decodeBatch(encodeMessages(ms)).map(plain)).toEqual(ms.map(plain));
  });

  test('array headers for 15, 16, 65535 and 65536 messages', () => {
    const part = encodeMessage(sample(MessageType.Heartbeat));
    for (const n of [15, 16, 65_535, 65_536]) {
      expect(decodeBatch(encodeBatch(new Array(n).fill(part)))).toHaveLength(n);
    }
  });

  test('a local message type is refused at encoding', () => {
    expect(() => encodeMessage(message({ type: MessageType.Hup, to: 1 }))).toThrow(HikariError);
  });

  test('rejects malformed batches with BAD_FRAME', () => {
    const good = messageToWire(sample(MessageType.App)) as unknown[];
    const with_ = (i: number, v: unknown): unknown[] => good.map((x, j) => (j === i ? v : x));
    const cases: unknown[] = [
      null, 42, 'batch', {}, [], // not a non-empty array
      [good.slice(0, 12)], [[...good, 0]], // wrong field counts
      [with_(0, 2)], [with_(0, 99)], [with_(0, '10')], // local, unknown, string type
      [with_(1, -1)], [with_(3, 1.5)], [with_(5, 2 ** 60)], [with_(6, '9')], // bad numbers
      [with_(7, 1)], [with_(10, 7)], [with_(11, {})], // reject, context, entries
      [with_(11, [[1, 2, 0]])], [with_(11, [[1, 2, 0, 'text']])], [with_(11, [[1, 2, 5, Buffer.alloc(1)]])],
      [with_(12, [1, 2, [], []])], [with_(12, [1, 2, [1, 'x'], [], Buffer.alloc(0)])], [with_(12, [1, 2, [], [], 'x'])],
    ];
    for (const value of cases) expectBadFrame(encodeBody(value));
  });

  test('rejects undecodable bytes with BAD_FRAME', () => {
    const body = encodeMessages([sample(MessageType.App)]);
    expectBadFrame(body.subarray(0, body.length - 3)); // truncated
    expectBadFrame(Buffer.from([0xc1])); // never-used msgpack byte
    expectBadFrame(Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0x01])); // huge array, no data
  });

  test('round-trips arbitrary well-formed messages (property)', () => {
    const uint = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
    const entry = fc.record({
      term: uint, index: uint, type: fc.constantFrom(EntryType.Normal, EntryType.ConfChange), data: fc.uint8Array({ maxLength: 64 }),
    });
    const snapshot = fc.record({
      metadata: fc.record({ index: uint, term: uint, confState: fc.record({ voters: fc.array(uint), learners: fc.array(uint) }) }),
      data: fc.uint8Array({ maxLength: 64 }),
    });
    const msg = fc.record({
      type: fc.constantFrom(...NETWORK_TYPES), from: uint, to: uint, term: uint, logTerm: uint, index: uint, commit: uint,
      reject: fc.boolean(), rejectHint: uint, logTermHint: uint, context: fc.string(), entries: fc.array(entry, { maxLength: 5 }),
      snapshot: fc.option(snapshot, { nil: null }),
    });
    fc.assert(
      fc.property(fc.array(msg, { minLength: 1, maxLength: 5 }), (ms) => {
        expect(decodeBatch(encodeMessages(ms)).map(plain)).toEqual(ms.map(plain));
      }),
    );
  });

  test('any bytes or any msgpack value decode to messages or BAD_FRAME, never another error (fuzz)', () => {
    const check = (body: Uint8Array): void => {
      try {
        decodeBatch(body);
      } catch (error) {
        expect(HikariError.is(error, ErrorCode.BAD_FRAME)).toBe(true);
      }
    };
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 256 }), check), { numRuns: 2000 });
    fc.assert(fc.property(fc.anything(), (v) => check(encodeBody(v))), { numRuns: 1000 });
    // Mutations of a valid batch: one byte changed.
    const valid = encodeMessages(NETWORK_TYPES.map(sample));
    fc.assert(
      fc.property(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 }), (at, byte) => {
        const mutated = Buffer.from(valid);
        mutated[at] = byte;
        check(mutated);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('control frames', () => {
  test('hello round-trips and rejects bad shapes', () => {
    const hello = { cluster: 'c1', from: 1, to: 2, version: 1, kind: 'raft' as const };
    expect(decodeHello(encodeHello(hello))).toEqual(hello);
    for (const bad of [{ ...hello, cluster: '' }, { ...hello, cluster: 'x'.repeat(65) }, { ...hello, from: -1 }, { ...hello, kind: 'x' }, [1]]) {
      expect(() => decodeHello(encodeBody(bad))).toThrow(expect.objectContaining({ code: ErrorCode.BAD_FRAME }));
    }
  });

  test('snapshot frames and acks reject bad shapes', () => {
    const chunk = { snap: 1, offset: 0, data: Buffer.from('ab'), last: false };
    expect(decodeSnapshotFrame(encodeSnapshotChunk(chunk))).toEqual(chunk);
    expect(() => decodeSnapshotFrame(encodeBody({ ...chunk, data: 'ab' }))).toThrow(expect.objectContaining({ code: ErrorCode.BAD_FRAME }));
    expect(() => decodeSnapshotFrame(encodeBody({ snap: 1, message: [1] }))).toThrow(expect.objectContaining({ code: ErrorCode.BAD_FRAME }));
    expect(() => decodeSnapshotAck(encodeBody({ snap: 1, ok: 'yes' }))).toThrow(expect.objectContaining({ code: ErrorCode.BAD_FRAME }));
    expect(decodeSnapshotAck(encodeBody({ snap: 1, ok: false, error: { code: 'NOPE', message: 'x' } })).error?.code).toBe(ErrorCode.INTERNAL);
  });
});
