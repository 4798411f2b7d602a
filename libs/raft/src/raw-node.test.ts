/** Tests of the RawNode API: input validation, the Ready/advance protocol, proposal outcomes. */
import { RaftError, RaftErrorCode } from './errors';
import { ProposalOutcome, ProposalTracker } from './proposal-tracker';
import { RawNode } from './raw-node';
import { SeededRandom } from './random';
import { MemoryStorage } from './storage';
import { Entry, EntryType, Message, MessageType, Role } from './types';
import { bytes, drain, entries, msg, Network, rawNode, storageWith } from './testing/network';

function code(fn: () => unknown): RaftErrorCode | 'no error' {
  try {
    fn();
  } catch (e) {
    if (e instanceof RaftError) return e.code;
    throw e;
  }
  return 'no error';
}

/** A follower (node 1 of 3) at term 2 with log 1@1 2@2, committed 1, that knows leader 2. */
function follower(): { raw: RawNode; storage: MemoryStorage } {
  const storage = storageWith([1, 2, 3], [1, 2], { term: 2, commit: 1 });
  const raw = rawNode(1, storage, { maxEntriesPerMsg: 100 });
  raw.step(msg({ type: MessageType.Heartbeat, from: 2, to: 1, term: 2, commit: 1 }));
  drain(raw, storage);
  return { raw, storage };
}

/** Everything observable about a node, to check that a refused input changed nothing. */
function observe(raw: RawNode, storage: MemoryStorage) {
  return { status: raw.status(), hasReady: raw.hasReady(), last: storage.lastIndex(), terms: [raw.logTerm(1), raw.logTerm(2), raw.logTerm(3)] };
}

const app = (fields: Partial<Message> = {}): Message =>
  msg({ type: MessageType.App, from: 2, to: 1, term: 2, index: 2, logTerm: 2, entries: entries(3, [2]), commit: 2, ...fields });

describe('RawNode.step refuses malformed input with INVALID_ARGUMENT and changes nothing', () => {
  const snapshot = { metadata: { index: 5, term: 2, confState: { voters: [1, 2, 3], learners: [] } }, data: new Uint8Array() };
  it.each<[string, Message]>([
    ['an unknown message type', { ...app(), type: 99 as MessageType }],
    ['a local type: Hup', msg({ type: MessageType.Hup, from: 2, to: 1, term: 2 })],
    ['a local type: Beat', msg({ type: MessageType.Beat, from: 2, to: 1, term: 2 })],
    ['a local type: Prop', msg({ type: MessageType.Prop, from: 2, to: 1, term: 2, entries: entries(3, [2]) })],
    ['a local type: SnapStatus', msg({ type: MessageType.SnapStatus, from: 2, to: 1, term: 2 })],
    ['a negative term', app({ term: -1 })],
    ['a NaN term', app({ term: NaN })],
    ['a fractional term', app({ term: 2.5 })],
    ['an infinite index', app({ index: Infinity })],
    ['a negative index', app({ index: -1 })],
    ['a fractional commit', app({ commit: 1.5 })],
    ['a NaN logTerm', app({ logTerm: NaN })],
    ['a term given as a string', app({ term: '2' as unknown as number })],
    ['term 0 on an append', app({ term: 0, entries: [] })],
    ['misnumbered entries (gap)', app({ entries: [entries(3, [2])[0], entries(5, [2])[0]] })],
    ['misnumbered entries (not after index)', app({ entries: entries(4, [2]) })],
    ['entries with a term above the message term', app({ entries: entries(3, [3]) })],
    ['entries whose terms go back', app({ index: 2, logTerm: 2, entries: entries(3, [1]) })],
    ['an entry of term 0', app({ entries: [{ ...entries(3, [2])[0], term: 0 }] })],
    ['an entry of unknown type', app({ entries: [{ ...entries(3, [2])[0], type: 7 as EntryType }] })],
    ['an entry whose data is not bytes', app({ entries: [{ ...entries(3, [2])[0], data: 'x' as unknown as Uint8Array }] })],
    ['entries on a heartbeat', msg({ type: MessageType.Heartbeat, from: 2, to: 1, term: 2, entries: entries(1, [1]) })],
    ['a recipient other than this node', app({ to: 3 })],
    ['a message from this node', app({ from: 1 })],
    ['a sender 0', app({ from: 0 })],
    ['a Snap without a snapshot', msg({ type: MessageType.Snap, from: 2, to: 1, term: 2 })],
    ['a snapshot on an append', app({ snapshot })],
    ['a snapshot newer than the message term', msg({ type: MessageType.Snap, from: 2, to: 1, term: 1, snapshot })],
    ['a snapshot at index 0', msg({ type: MessageType.Snap, from: 2, to: 1, term: 2, snapshot: { ...snapshot, metadata: { ...snapshot.metadata, index: 0 } } })],
    ['a snapshot with bad membership ids', msg({ type: MessageType.Snap, from: 2, to: 1, term: 2, snapshot: { ...snapshot, metadata: { ...snapshot.metadata, confState: { voters: [0], learners: [] } } } })],
    ['a reject flag that is not a boolean', app({ reject: 1 as unknown as boolean })],
    ['a context that is not a string', app({ context: 5 as unknown as string })],
    ['entries that are not an array', app({ entries: {} as unknown as Entry[] })],
    ['too many entries', app({ entries: entries(3, Array<number>(101).fill(2)) })],
  ])('%s', (_name, m) => {
    const { raw, storage } = follower();
    const before = observe(raw, storage);
    let err: unknown;
    try {
      raw.step(m);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RaftError);
    expect((err as RaftError).code).toBe(RaftErrorCode.INVALID_ARGUMENT);
    expect(observe(raw, storage)).toEqual(before);
  });

  it('(control) the well-formed append those cases are derived from is accepted', () => {
    const { raw, storage } = follower();
    raw.step(app());
    expect(drain(raw, storage).messages).toEqual([expect.objectContaining({ type: MessageType.AppResp, index: 3, reject: false })]);
    expect(raw.status()).toMatchObject({ lastIndex: 3, commit: 2 });
  });
});

describe('messages from nodes that are not members', () => {
  it('an append response from node 99 is ignored without error', () => {
    const net = Network.bootstrap([1, 2, 3]);
    net.campaign(1);
    const before = net.raw(1).status();
    net.raw(1).step(msg({ type: MessageType.AppResp, from: 99, to: 1, term: 2, index: 4 }));
    net.raw(1).step(msg({ type: MessageType.HeartbeatResp, from: 99, to: 1, term: 2 }));
    net.raw(1).step(msg({ type: MessageType.AppResp, from: 99, to: 1, term: 2, index: 1, reject: true, rejectHint: 0 }));
    expect(net.raw(1).hasReady()).toBe(false);
    expect(net.raw(1).status()).toEqual(before);
    expect(net.raw(1).status().progress.has(99)).toBe(false);
  });

  it('votes from node 99 do not count toward an election', () => {
    const storage = storageWith([1, 2, 3], [], {});
    const raw = rawNode(1, storage, { preVote: false });
    raw.campaign();
    drain(raw, storage);
    raw.step(msg({ type: MessageType.VoteResp, from: 99, to: 1, term: 1 }));
    raw.step(msg({ type: MessageType.VoteResp, from: 98, to: 1, term: 1 }));
    expect(raw.status().role).toBe(Role.Candidate);
  });
});

describe('the Ready protocol', () => {
  it('ready() twice without advance() is a broken invariant; so is advance() without ready()', () => {
    const net = Network.bootstrap([1, 2, 3]);
    const raw = net.raw(1);
    raw.campaign();
    expect(raw.hasReady()).toBe(true);
    raw.ready();
    expect(code(() => raw.ready())).toBe(RaftErrorCode.INVARIANT);
    raw.advance();
    expect(code(() => raw.advance())).toBe(RaftErrorCode.INVARIANT);
  });

  it('a quiescent node has no Ready', () => {
    const net = Network.bootstrap([1, 2, 3]);
    net.campaign(1);
    for (const id of [1, 2, 3]) expect(net.raw(id).hasReady()).toBe(false);
  });

  it('reports soft state changes, hard state changes, and mustSync only when term, vote or entries change', () => {
    const storage = storageWith([1], [], {});
    const raw = rawNode(1, storage);
    raw.campaign(); // a single voter wins at once
    const rd = raw.ready();
    expect(rd.softState).toEqual({ leader: 1, role: Role.Leader });
    expect(rd.hardState).toEqual({ term: 1, vote: 1, commit: 0 });
    expect(rd.entries.map((e) => [e.index, e.term])).toEqual([[1, 1]]);
    expect(rd.mustSync).toBe(true);
    storage.append(rd.entries);
    storage.setHardState(rd.hardState!);
    raw.advance();
    // The no-op is now durable on the only voter: it commits. Only the commit index changed.
    const rd2 = raw.ready();
    expect(rd2.softState).toBeNull();
    expect(rd2.hardState).toEqual({ term: 1, vote: 1, commit: 1 });
    expect(rd2.committedEntries.map((e) => e.index)).toEqual([1]);
    expect(rd2.entries).toEqual([]);
    expect(rd2.mustSync).toBe(false);
    raw.advance();
    expect(raw.hasReady()).toBe(false);
    expect(raw.status()).toMatchObject({ commit: 1, applied: 1 });
  });

  it('a leader commits its own entries only once they are durable on it', () => {
    const storage = storageWith([1], [], {});
    const raw = rawNode(1, storage);
    raw.campaign();
    drain(raw, storage);
    raw.propose(bytes('x'));
    const rd = raw.ready();
    expect(rd.entries.map((e) => e.index)).toEqual([2]);
    expect(rd.committedEntries).toEqual([]);
    expect(raw.status().commit).toBe(1); // not durable yet
    storage.append(rd.entries);
    raw.advance();
    expect(raw.status().commit).toBe(2);
  });

  it('input given between ready() and advance() shows up in the next Ready', () => {
    const storage = storageWith([1], [], {});
    const raw = rawNode(1, storage);
    raw.campaign();
    drain(raw, storage);
    expect(raw.hasReady()).toBe(false);
    raw.propose(bytes('a'));
    const rd1 = raw.ready();
    raw.propose(bytes('b')); // while rd1 is outstanding
    storage.append(rd1.entries);
    raw.advance();
    const rd2 = raw.ready();
    expect(rd1.entries.map((e) => e.index)).toEqual([2]);
    expect(rd2.entries.map((e) => e.index)).toEqual([3]);
    expect(rd2.committedEntries.map((e) => e.index)).toEqual([2]); // 2 became durable with rd1
    storage.append(rd2.entries);
    raw.advance();
    expect(drain(raw, storage).committed.map((e) => e.index)).toEqual([3]);
  });

  it('after a restart with `applied`, committed entries up to it are not handed out again', () => {
    const storage = storageWith([1], [1, 1, 1, 1], { term: 1, commit: 4 });
    const raw = new RawNode({ id: 1, storage, random: new SeededRandom(1), applied: 3 });
    const out = drain(raw, storage);
    expect(out.committed.map((e) => e.index)).toEqual([4]);
  });

  it('committed entries are handed out in bounded batches (maxApplyBytes)', () => {
    const storage = storageWith([1], [1, 1, 1, 1], { term: 1, commit: 4 });
    const raw = new RawNode({ id: 1, storage, random: new SeededRandom(1), maxApplyBytes: 1 });
    const sizes: number[] = [];
    while (raw.hasReady()) {
      const rd = raw.ready();
      sizes.push(rd.committedEntries.length);
      raw.advance();
    }
    expect(sizes).toEqual([1, 1, 1, 1]);
  });
});

describe('proposal outcomes', () => {
  it('a proposal made on a leader that is then cut off and replaced is Lost; one on the new leader is Committed', () => {
    const net = Network.bootstrap([1, 2, 3]);
    net.campaign(1);
    const trackers = new Map([1, 2, 3].map((id) => [id, new ProposalTracker<string>()]));
    const outcomes: Array<[string, ProposalOutcome]> = [];
    const done = (w: string, o: ProposalOutcome) => outcomes.push([w, o]);

    // Node 1 proposes, but is cut off before the entry gets anywhere.
    net.isolate(1);
    const index = net.raw(1).propose(bytes('doomed'));
    trackers.get(1)!.track(index, net.raw(1).term(), 'doomed');
    net.stabilize();

    // The others elect a new leader (once their lease ran out), which commits its own entries there.
    net.tick(30);
    const l = net.leader()!;
    expect([2, 3]).toContain(l);
    const index2 = net.raw(l).propose(bytes('winner'));
    trackers.get(l)!.track(index2, net.raw(l).term(), 'winner');
    net.stabilize();
    net.heal();
    net.tick(3);

    for (const id of [1, l]) for (const e of net.node(id).applied) trackers.get(id)!.applied(e, done);
    expect(index2).toBe(index + 1); // after the new leader's no-op, which took index `index`
    expect(net.node(1).applied.find((e) => e.index === index)?.term).toBe(3);
    expect(outcomes).toEqual(
      expect.arrayContaining([
        ['doomed', ProposalOutcome.Lost],
        ['winner', ProposalOutcome.Committed],
      ]),
    );
    expect(outcomes).toHaveLength(2);
    expect(net.node(1).appliedData).toEqual(['winner']);
  });
});

describe('internal invariants', () => {
  it('the INVARIANT error exists and the core throws it on a broken invariant (commit past the last index)', () => {
    const storage = storageWith([1], [1, 1], { term: 1 });
    const raw = rawNode(1, storage);
    const log = (raw as unknown as { raft: { log: { commitTo(i: number): void; committed: number } } }).raft.log;
    expect(code(() => log.commitTo(3))).toBe(RaftErrorCode.INVARIANT);
    expect(log.committed).toBe(0);
    const err = new RaftError(RaftErrorCode.INVARIANT, 'x');
    expect(err.message).toBe('INVARIANT: x');
    expect(err.name).toBe('RaftError');
  });

  it('a config that makes no sense is refused with INVALID_ARGUMENT', () => {
    const storage = new MemoryStorage();
    const random = new SeededRandom(1);
    for (const bad of [
      { id: 0 },
      { id: 1.5 },
      { id: 1, heartbeatTicks: 0 },
      { id: 1, electionTicks: 2, heartbeatTicks: 2 },
      { id: 1, maxInflightMsgs: 0 },
      { id: 1, maxMsgBytes: 0 },
      { id: 1, maxEntryBytes: 10, maxUncommittedBytes: 5 },
      { id: 1, maxPendingReads: 0 },
    ]) {
      expect(code(() => new RawNode({ storage, random, ...bad }))).toBe(RaftErrorCode.INVALID_ARGUMENT);
    }
  });
});
