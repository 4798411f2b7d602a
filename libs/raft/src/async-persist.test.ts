/**
 * Pipelined persistence (`advanceSubmitted` + `persisted`): the next Ready may be taken while the
 * previous one's entries are still being written, and nothing counts as durable before `persisted`.
 */
import { bytes, drain, msg, rawNode, storageWith } from './testing/network';
import { MessageType, Role } from './types';

/** A single-voter node elected leader, everything persisted. */
function soloLeader() {
  const storage = storageWith([1]);
  const raw = rawNode(1, storage);
  raw.campaign();
  drain(raw, storage);
  expect(raw.status().role).toBe(Role.Leader);
  return { raw, storage };
}

describe('pipelined persistence', () => {
  it('a leader does not count its own unwritten entries: the commit waits for persisted()', () => {
    const { raw, storage } = soloLeader();
    const commitBefore = raw.status().commit;
    raw.propose(bytes('a'));
    const rd1 = raw.ready();
    expect(rd1.entries.map((e) => e.index)).toEqual([commitBefore + 1]);
    storage.append(rd1.entries); // "handed to storage" (the write is in flight)
    raw.advanceSubmitted();
    raw.propose(bytes('b'));
    const rd2 = raw.ready(); // taken before rd1 is durable
    expect(rd2.entries.map((e) => e.index)).toEqual([commitBefore + 2]); // only the new entry
    expect(rd2.committedEntries).toEqual([]);
    storage.append(rd2.entries);
    raw.advanceSubmitted();
    expect(raw.status().commit).toBe(commitBefore); // nothing durable yet: nothing committed
    raw.persisted(rd1.entries[0].index, rd1.entries[0].term);
    expect(raw.status().commit).toBe(commitBefore + 1);
    const rd3 = raw.ready();
    expect(rd3.committedEntries.map((e) => e.index)).toEqual([commitBefore + 1]);
    raw.advanceSubmitted();
    raw.persisted(rd2.entries[0].index, rd2.entries[0].term);
    expect(raw.ready().committedEntries.map((e) => e.index)).toEqual([commitBefore + 2]);
  });

  it('a follower may take the next Ready while an append is in flight; a stale persisted() (replaced entry) is ignored', () => {
    const storage = storageWith([1, 2, 3], [1], { term: 1, commit: 1 });
    const raw = rawNode(1, storage);
    raw.step(msg({ type: MessageType.App, from: 2, to: 1, term: 2, index: 1, logTerm: 1, entries: [{ term: 2, index: 2, type: 0, data: bytes('x') }], commit: 1 }));
    const rd1 = raw.ready();
    expect(rd1.entries.map((e) => [e.index, e.term])).toEqual([[2, 2]]);
    const lateReply = rd1.messages.find((m) => m.type === MessageType.AppResp);
    expect(lateReply).toBeDefined(); // the application sends it only once the write is done
    storage.append(rd1.entries);
    raw.advanceSubmitted();
    // A new leader (term 3) replaces entry 2 before the first write finished.
    raw.step(msg({ type: MessageType.App, from: 3, to: 1, term: 3, index: 1, logTerm: 1, entries: [{ term: 3, index: 2, type: 0, data: bytes('y') }], commit: 1 }));
    const rd2 = raw.ready();
    expect(rd2.entries.map((e) => [e.index, e.term])).toEqual([[2, 3]]);
    storage.append(rd2.entries);
    raw.advanceSubmitted();
    raw.persisted(2, 2); // the first write completes: entry 2 of term 2 is no longer in the log
    expect(raw.logTerm(2)).toBe(3);
    raw.persisted(2, 3);
    expect(raw.logTerm(2)).toBe(3);
    expect(raw.hasReady()).toBe(false);
  });

  it('a Ready with a snapshot cannot be advanced before it is persisted', () => {
    const storage = storageWith([1, 2, 3], [1], { term: 1, commit: 1 });
    const raw = rawNode(1, storage);
    raw.step(msg({
      type: MessageType.Snap, from: 2, to: 1, term: 2,
      snapshot: { metadata: { index: 10, term: 2, confState: { voters: [1, 2, 3], learners: [] } }, data: new Uint8Array() },
    }));
    const rd = raw.ready();
    expect(rd.snapshot).not.toBeNull();
    expect(() => raw.advanceSubmitted()).toThrow(/snapshot/);
  });
});
