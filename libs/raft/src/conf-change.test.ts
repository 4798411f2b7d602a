import { applyToConfState, ConfChange, ConfChangeType, decodeConfChange, encodeConfChange } from './conf-change';
import { RaftError, RaftErrorCode } from './errors';
import { ConfState } from './types';

function code(fn: () => unknown): RaftErrorCode | 'no error' {
  try {
    fn();
  } catch (e) {
    if (e instanceof RaftError) return e.code;
    throw e;
  }
  return 'no error';
}

const cs = (voters: number[], learners: number[] = []): ConfState => ({ voters, learners });
const cc = (type: ConfChangeType, nodeId: number, context = ''): ConfChange => ({ type, nodeId, context });
const { AddVoter, AddLearner, Remove } = ConfChangeType;

describe('applyToConfState', () => {
  it.each([
    ['add a voter', cs([1, 2]), cc(AddVoter, 3), cs([1, 2, 3])],
    ['add a voter keeps ids sorted', cs([2, 5]), cc(AddVoter, 3), cs([2, 3, 5])],
    ['add an existing voter is a no-op', cs([1, 2]), cc(AddVoter, 2), cs([1, 2])],
    ['add a learner', cs([1]), cc(AddLearner, 2), cs([1], [2])],
    ['add an existing learner is a no-op', cs([1], [2]), cc(AddLearner, 2), cs([1], [2])],
    ['promote a learner', cs([1], [2, 3]), cc(AddVoter, 2), cs([1, 2], [3])],
    ['remove a voter', cs([1, 2, 3]), cc(Remove, 2), cs([1, 3])],
    ['remove a learner', cs([1], [2]), cc(Remove, 2), cs([1])],
    ['remove a stranger is a no-op', cs([1, 2]), cc(Remove, 9), cs([1, 2])],
    ['remove the last voter while a learner remains is refused', cs([1], [2]), cc(Remove, 1), RaftErrorCode.INVALID_ARGUMENT],
    ['remove the last voter is refused', cs([1]), cc(Remove, 1), RaftErrorCode.INVALID_ARGUMENT],
    ['demote a voter to learner is refused', cs([1, 2]), cc(AddLearner, 2), RaftErrorCode.INVALID_ARGUMENT],
  ])('%s', (_name, before, change, want) => {
    const snapshot = JSON.stringify(before);
    if (typeof want === 'string') expect(code(() => applyToConfState(before, change))).toBe(want);
    else expect(applyToConfState(before, change)).toEqual(want);
    expect(JSON.stringify(before)).toBe(snapshot); // the input is never modified
  });
});

describe('encodeConfChange / decodeConfChange', () => {
  it.each([
    cc(AddVoter, 1),
    cc(AddLearner, 42, 'host-42:7000'),
    cc(Remove, Number.MAX_SAFE_INTEGER, 'ünïcödé ✓'),
  ])('round trips %j', (change) => {
    expect(decodeConfChange(encodeConfChange(change))).toEqual(change);
  });

  it.each([
    ['not JSON', 'not json'],
    ['empty', ''],
    ['JSON null', 'null'],
    ['a JSON number', '5'],
    ['a JSON array', '[1,2]'],
    ['unknown type', JSON.stringify({ t: 'add-witness', n: 1, c: '' })],
    ['missing id', JSON.stringify({ t: 'add-voter', c: '' })],
    ['id 0', JSON.stringify({ t: 'add-voter', n: 0, c: '' })],
    ['negative id', JSON.stringify({ t: 'remove', n: -1, c: '' })],
    ['fractional id', JSON.stringify({ t: 'remove', n: 1.5, c: '' })],
    ['id as a string', JSON.stringify({ t: 'remove', n: '1', c: '' })],
  ])('decoding garbage (%s) throws INVALID_ARGUMENT', (_name, raw) => {
    expect(code(() => decodeConfChange(new TextEncoder().encode(raw)))).toBe(RaftErrorCode.INVALID_ARGUMENT);
  });

  it('decoding invalid UTF-8 throws INVALID_ARGUMENT', () => {
    expect(code(() => decodeConfChange(new Uint8Array([0xff, 0xfe, 0x00])))).toBe(RaftErrorCode.INVALID_ARGUMENT);
  });

  it('refuses to encode an invalid change', () => {
    expect(code(() => encodeConfChange(cc(AddVoter, 0)))).toBe(RaftErrorCode.INVALID_ARGUMENT);
    expect(code(() => encodeConfChange(cc('bogus' as ConfChangeType, 1)))).toBe(RaftErrorCode.INVALID_ARGUMENT);
    expect(code(() => encodeConfChange(cc(AddVoter, 1, 'x'.repeat(5000))))).toBe(RaftErrorCode.TOO_LARGE);
  });
});
