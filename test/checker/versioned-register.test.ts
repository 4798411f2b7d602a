/**
 * The versioned-register model (HikariKeeper's nodes: set increments the version, compare-and-set
 * by version) under the linearizability checker: legal and illegal histories, versions checked as
 * well as values, indeterminate writes.
 */
import { checkOperations, Operation, VersionedInput, VersionedOutput, versionedRegisterModel } from './index';

type Op = Operation<VersionedInput, VersionedOutput>;
const model = versionedRegisterModel('');

const read = (value: string, version: number, call: number, ret: number): Op => ({ clientId: 0, input: { op: 'read', key: 'k' }, call, output: { value, version }, return: ret });
const write = (value: string, made: number | undefined, call: number, ret: number): Op => ({
  clientId: 1, input: { op: 'write', key: 'k', value }, call, output: made === undefined ? undefined : { version: made }, return: made === undefined ? Infinity : ret,
});
const cas = (version: number, value: string, outcome: VersionedOutput, call: number, ret: number): Op => ({ clientId: 2, input: { op: 'cas', key: 'k', version, value }, call, output: outcome, return: ret });
const verdict = (h: Op[]) => checkOperations(model, h).result;

describe('versioned register model', () => {
  test('a key starts at the initial value, version 0; writes and successful cas increment the version', () => {
    expect(verdict([read('', 0, 0, 1), write('a', 1, 2, 3), cas(1, 'b', { ok: true, version: 2 }, 4, 5), read('b', 2, 6, 7)])).toBe('ok');
  });

  test('a cas at the wrong version fails and changes nothing', () => {
    expect(verdict([write('a', 1, 0, 1), cas(0, 'b', { ok: false }, 2, 3), read('a', 1, 4, 5)])).toBe('ok');
    expect(verdict([write('a', 1, 0, 1), cas(0, 'b', { ok: true, version: 2 }, 2, 3)])).toBe('illegal');
    expect(verdict([write('a', 1, 0, 1), cas(1, 'b', { ok: false }, 2, 3)])).toBe('illegal');
  });

  test('versions are checked, not only values', () => {
    expect(verdict([write('a', 2, 0, 1)])).toBe('illegal'); // the first write makes version 1
    expect(verdict([write('a', 1, 0, 1), read('a', 3, 2, 3)])).toBe('illegal');
    expect(verdict([write('a', 1, 0, 1), cas(1, 'b', { ok: true, version: 3 }, 2, 3)])).toBe('illegal');
  });

  test('stale reads are illegal; concurrent ones may see either side', () => {
    expect(verdict([write('a', 1, 0, 1), read('', 0, 2, 3)])).toBe('illegal');
    expect(verdict([write('a', 1, 0, 10), read('', 0, 2, 3), read('a', 1, 4, 5)])).toBe('ok');
    expect(verdict([write('a', 1, 0, 10), read('a', 1, 2, 3), read('', 0, 4, 5)])).toBe('illegal');
  });

  test('an indeterminate write may apply (once) or not, and counts in the versions when it does', () => {
    expect(verdict([write('a', undefined, 0, 0), read('', 0, 5, 6)])).toBe('ok');
    expect(verdict([write('a', undefined, 0, 0), read('a', 1, 5, 6), write('b', 2, 7, 8)])).toBe('ok');
    expect(verdict([write('a', undefined, 0, 0), read('a', 1, 5, 6), write('b', 1, 7, 8)])).toBe('illegal');
    expect(verdict([write('a', undefined, 0, 0), read('a', 1, 5, 6), read('', 0, 7, 8)])).toBe('illegal');
  });

  test('keys are independent', () => {
    const other: Op = { clientId: 3, input: { op: 'read', key: 'other' }, call: 2, output: { value: '', version: 0 }, return: 3 };
    expect(checkOperations(model, [write('a', 1, 0, 1), other]).result).toBe('ok');
    expect(checkOperations(model, [write('a', 1, 0, 1), other]).partitions).toBe(2);
  });
});
