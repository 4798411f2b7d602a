/**
 * The lock and watch checks on hand-made histories: each flags what it must (a double grant, a
 * grant while an older one was provably held, a stale token or a lost update accepted, a missed,
 * repeated or out-of-order event) and stays quiet on legitimate ones (a release that failed, a
 * resync gap that hides changes).
 */
import type { OpRecord } from '../journal';
import { FencedResource } from './fenced-resource';
import { checkExclusion, checkResource, checkTokens, Grant } from './locks';
import { checkComplete, checkInvented, checkOrder, WatcherRecord, WriteOp } from './watches';

let nextId = 0;
function op(call: number, ret: number | undefined, outcome: OpRecord['outcome']): OpRecord {
  return { id: nextId++, process: 'p', f: 'f', input: {}, call, return: ret, outcome };
}

function grant(process: string, token: number, acquired: [number, number], release?: [number, number, 'ok' | 'fail'], fenced: [number, number, 'ok' | 'fail'][] = []): Grant {
  return {
    process, lock: 'l', token, acquire: op(acquired[0], acquired[1], 'ok'),
    release: release === undefined ? undefined : op(release[0], release[1], release[2]),
    fencedWrites: fenced.map(([c, r, o]) => op(c, r, o)),
  };
}

describe('lock checks', () => {
  test('sequential grants with growing tokens pass', () => {
    const grants = [grant('a', 1, [0, 1], [5, 6, 'ok'], [[2, 3, 'ok']]), grant('b', 2, [4, 7], [8, 9, 'ok'])];
    expect([...checkTokens('l', grants), ...checkExclusion('l', grants)]).toEqual([]);
  });

  test('a token granted twice, or a smaller token after a grant that had ended, is flagged', () => {
    expect(checkTokens('l', [grant('a', 3, [0, 1]), grant('b', 3, [2, 3])])).toContain('lock l: token 3 granted twice (a and b)');
    expect(checkTokens('l', [grant('a', 5, [0, 1]), grant('b', 4, [2, 3])])).toHaveLength(1);
  });

  test('a grant acknowledged before an older grant\'s successful release or fenced write was issued is flagged', () => {
    expect(checkExclusion('l', [grant('a', 1, [0, 1], [10, 11, 'ok']), grant('b', 2, [2, 3])])).toHaveLength(1);
    expect(checkExclusion('l', [grant('a', 1, [0, 1], undefined, [[10, 11, 'ok']]), grant('b', 2, [2, 3])])).toHaveLength(1);
  });

  test('an older holder whose release and fenced writes failed (its session expired) is no proof of overlap', () => {
    const grants = [grant('a', 1, [0, 1], [10, 11, 'fail'], [[9, 10, 'fail']]), grant('b', 2, [2, 3], [4, 5, 'ok'])];
    expect(checkExclusion('l', grants)).toEqual([]);
  });

  test('the resource: fenced, a stale holder is refused and nothing is lost; unfenced, the lost update is flagged', () => {
    for (const unsafe of [false, true]) {
      const r = new FencedResource('l', unsafe);
      const stale = r.read('a', 1); // a reads under token 1, then pauses
      r.write('b', 2, r.read('b', 2) + 1); // b takes over with token 2
      try {
        r.write('a', 1, stale + 1);
      } catch {
        // refused: FENCE_MISMATCH
      }
      expect(checkResource(r).length > 0).toBe(unsafe);
      expect(r.value).toBe(1);
    }
  });
});

const events = (...list: [number, 'created' | 'changed' | 'deleted', string][]) => list.map(([index, type, path]) => ({ index, type, path, at: index }));
const watcher = (ev: WatcherRecord['events'], resyncs: WatcherRecord['resyncs'] = []): WatcherRecord => ({ name: 'w', startIndex: 0, readyAt: 0, events: ev, resyncs });
const write = (path: string, type: WriteOp['type'], index: number | null, call: number): WriteOp =>
  ({ path, type, call, outcome: 'ok', index, record: op(call, call + 1, 'ok') });

describe('watch checks', () => {
  const writes = [write('/x', 'created', 10, 1), write('/x', 'changed', 11, 2), write('/x', 'deleted', null, 3), write('/x', 'created', 13, 4)];

  test('every change, in order, once: nothing flagged', () => {
    const w = watcher(events([10, 'created', '/x'], [11, 'changed', '/x'], [12, 'deleted', '/x'], [13, 'created', '/x']));
    expect([...checkOrder(w), ...checkComplete(w, writes).violations, ...checkInvented(w, new Map(writes.filter((x) => x.index !== null).map((x) => [x.index!, x])))]).toEqual([]);
  });

  test('a missed change, a missed deletion, a repeat and a step back are flagged', () => {
    expect(checkComplete(watcher(events([10, 'created', '/x'], [12, 'deleted', '/x'], [13, 'created', '/x'])), writes).violations).toHaveLength(1);
    expect(checkComplete(watcher(events([10, 'created', '/x'], [11, 'changed', '/x'], [13, 'created', '/x'])), writes).violations).toHaveLength(1);
    expect(checkOrder(watcher(events([10, 'created', '/x'], [11, 'changed', '/x'], [11, 'changed', '/x'])))).not.toEqual([]);
    expect(checkOrder(watcher(events([11, 'changed', '/x'], [10, 'created', '/x'])))).not.toEqual([]);
    expect(checkOrder(watcher(events([10, 'created', '/x'], [12, 'deleted', '/x'], [13, 'changed', '/x'])))).toHaveLength(1);
  });

  test('an event naming another change than the write acknowledged at its index is flagged', () => {
    const byIndex = new Map([[11, writes[1]!]]);
    expect(checkInvented(watcher(events([11, 'changed', '/y'])), byIndex)).toHaveLength(1);
  });

  test('changes hidden by a resync gap are counted, not flagged, and the types may jump across it', () => {
    const w = watcher(events([10, 'created', '/x'], [13, 'created', '/x']), [{ after: 10, index: 12, at: 12.5 }]);
    expect(checkOrder(w)).toEqual([]);
    const complete = checkComplete(w, writes);
    expect(complete.violations).toEqual([]);
    expect(complete.inGaps).toBe(2);
  });
});
