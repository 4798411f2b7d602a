/** Scenario tests of log replication: commit, fast backtracking, pipelining, batching, flow control. */
import { RaftError, RaftErrorCode } from './errors';
import { entrySize, Message, MessageType, Role } from './types';
import { bytes, msg, Network, NetworkOptions, storageWith, text } from './testing/network';

const E = 10;

function cluster(n: number, options: NetworkOptions = {}): Network {
  const net = Network.bootstrap(
    Array.from({ length: n }, (_, i) => i + 1),
    options,
  );
  net.campaign(1);
  expect(net.leader()).toBe(1);
  return net;
}

function errorOf(fn: () => unknown): RaftError {
  try {
    fn();
  } catch (e) {
    if (e instanceof RaftError) return e;
    throw e;
  }
  throw new Error('expected a RaftError');
}

/** App messages from the leader to `to` that carry entries, sent since `from` (an index in net.sent). */
function appsTo(net: Network, to: number, from = 0): Message[] {
  return net.sentWhere({ type: MessageType.App, from: 1, to }, from).filter((m) => m.entries.length > 0);
}

describe('log replication', () => {
  it('proposals on the leader are committed and applied by every member, in order', () => {
    const net = cluster(3);
    const indexes = ['a', 'b', 'c'].map((v) => net.propose(1, v));
    expect(indexes).toEqual([5, 6, 7]); // after 3 bootstrap entries and the no-op
    for (const id of [1, 2, 3]) {
      expect(net.node(id).appliedData).toEqual(['a', 'b', 'c']);
      expect(net.raw(id).status()).toMatchObject({ commit: 7, applied: 7, lastIndex: 7 });
    }
  });

  it('a proposal on a follower fails with NOT_LEADER naming the leader; with no leader known, naming nobody', () => {
    const net = cluster(3);
    const e = errorOf(() => net.raw(2).propose(bytes('x')));
    expect(e.code).toBe(RaftErrorCode.NOT_LEADER);
    expect(e.leader).toBe(1);
    const fresh = Network.bootstrap([1, 2, 3]);
    const e2 = errorOf(() => fresh.raw(2).propose(bytes('x')));
    expect(e2.code).toBe(RaftErrorCode.NOT_LEADER);
    expect(e2.leader).toBe(0);
    expect(net.raw(2).status().lastIndex).toBe(4);
  });

  it('a minority cannot commit; the entries commit once the majority is back', () => {
    const net = cluster(5);
    for (const id of [3, 4, 5]) net.crash(id);
    net.propose(1, 'x');
    net.tick(2);
    expect(net.raw(1).status().commit).toBe(6);
    expect(net.node(1).appliedData).toEqual([]);
    net.restart(3);
    net.tick(2);
    expect(net.raw(1).status().commit).toBe(7);
    expect(net.node(1).appliedData).toEqual(['x']);
  });

  it('proposeBatch appends one entry per element and returns the first index', () => {
    const net = cluster(3);
    const first = net.raw(1).proposeBatch(['p', 'q', 'r'].map(bytes));
    net.stabilize();
    expect(first).toBe(5);
    expect(net.node(3).appliedData).toEqual(['p', 'q', 'r']);
    expect(errorOf(() => net.raw(1).proposeBatch([])).code).toBe(RaftErrorCode.INVALID_ARGUMENT);
  });
});

describe('crash and restart', () => {
  it('a crashed leader restarts as a follower with its durable log and catches up with the new leader', () => {
    const net = cluster(3);
    net.propose(1, 'a');
    net.crash(1);
    net.tick(3 * E); // the others elect a leader among themselves
    const l = net.leader()!;
    expect([2, 3]).toContain(l);
    net.propose(l, 'b');
    net.restart(1);
    expect(net.raw(1).status()).toMatchObject({ role: Role.Follower, term: 2, commit: 5, applied: 5, lastIndex: 5 });
    net.tick(2);
    expect(net.raw(1).status()).toMatchObject({ leader: l, term: 3 });
    expect(net.node(1).appliedData).toEqual(['a', 'b']);
  });

  it('a restarted follower that lost its unpersisted Ready is repaired by the leader', () => {
    const net = cluster(3);
    // Node 3 receives the append but crashes before handling the Ready: nothing of it is durable.
    net.filters.push((m) => {
      if (m.type === MessageType.App && m.to === 3 && m.entries.length > 0) {
        net.raw(3).step(m);
        net.crash(3);
        return false;
      }
      return true;
    });
    net.propose(1, 'x');
    expect(net.node(3).storage.lastIndex()).toBe(4);
    net.filters = [];
    net.restart(3);
    net.tick(2);
    expect(net.node(3).appliedData).toEqual(['x']);
  });
});

describe('fast backtracking', () => {
  /**
   * Leader 1 and node 3 share a log; node 2 diverges after a common prefix. Node 1 wins (node 3 votes
   * for it) and repairs node 2. Returns how many append rejections node 2 sent.
   */
  function repair(leaderTerms: number[], followerTerms: number[]): { net: Network; rejections: number } {
    const net = new Network();
    const term = Math.max(...leaderTerms, ...followerTerms);
    net.addNode(1, storageWith([1, 2, 3], leaderTerms, { term, commit: 1 }));
    net.addNode(2, storageWith([1, 2, 3], followerTerms, { term, commit: 1 }));
    net.addNode(3, storageWith([1, 2, 3], leaderTerms, { term, commit: 1 }));
    net.stabilize();
    net.campaign(1);
    expect(net.leader()).toBe(1);
    const rejections = net.sentWhere({ type: MessageType.AppResp, from: 2, reject: true }).length;
    const last = net.raw(1).status().lastIndex;
    expect(net.raw(2).status().lastIndex).toBe(last);
    for (let i = 1; i <= last; i++) expect(net.raw(2).logTerm(i)).toBe(net.raw(1).logTerm(i));
    return { net, rejections };
  }

  const run = (term: number, n: number): number[] => Array<number>(n).fill(term);

  it.each([
    ['a long divergent tail of an old term', [1, ...run(3, 5)], [1, ...run(2, 100)], 1],
    ['a much shorter log', [1, ...run(3, 100)], [1], 1],
    ['divergence spread over two terms', [1, ...run(2, 50), ...run(4, 50)], [1, ...run(2, 30), ...run(3, 80)], 2],
    ['a longer log of a newer, unknown-to-the-leader term', [1, ...run(2, 10), ...run(5, 3)], [1, ...run(2, 10), ...run(4, 60)], 1],
  ])('%s is repaired in few round trips', (_name, leaderTerms, followerTerms, maxRejections) => {
    const { rejections } = repair(leaderTerms, followerTerms);
    expect(rejections).toBeGreaterThan(0);
    expect(rejections).toBeLessThanOrEqual(maxRejections);
  });
});

describe('pipelining', () => {
  it('with maxInflightMsgs=4, at most 4 appends are in flight to one follower before it acknowledges', () => {
    // maxMsgBytes = 1: each append carries one entry.
    const net = cluster(3, { config: { maxInflightMsgs: 4, maxMsgBytes: 1 } });
    const held: Message[] = [];
    net.filters.push((m) => {
      if (m.type === MessageType.App && m.to === 2) {
        held.push(m);
        return false;
      }
      return true;
    });
    net.raw(1).proposeBatch(Array.from({ length: 10 }, (_, i) => bytes(`e${i}`)));
    net.stabilize();
    expect(held).toHaveLength(4);
    expect(held.map((m) => m.entries.map((e) => e.index))).toEqual([[5], [6], [7], [8]]);
    // Node 3 is not held back: it got all ten, and they committed with it.
    expect(net.node(3).appliedData).toHaveLength(10);

    // Deliver what was held, one at a time: each ack frees a slot, never more than 4 outstanding.
    let rounds = 0;
    while (net.node(2).appliedData.length < 10 && rounds++ < 50) {
      const batch = held.splice(0);
      expect(batch.length).toBeLessThanOrEqual(4);
      for (const m of batch) net.raw(2).step(m); // past the filter that holds them
      net.stabilize();
    }
    expect(net.node(2).appliedData).toEqual(Array.from({ length: 10 }, (_, i) => `e${i}`));
  });

  it("an acknowledgement that frees no slot of a full window does not overflow it", () => {
    // Messages to node 2 of 2 entries each, window of 2. An AppResp for the middle of the first
    // message (as a follower sends when answering a duplicated old append with its commit index)
    // moves match but frees no slot: the leader must not send a third append.
    const net = cluster(3, { config: { maxInflightMsgs: 2, maxMsgBytes: 2 * entrySize({ term: 0, index: 0, type: 0, data: bytes('e0') }) } });
    const held: Message[] = [];
    net.filters.push((m) => (m.type === MessageType.App && m.to === 2 ? (held.push(m), false) : true));
    net.raw(1).proposeBatch(Array.from({ length: 8 }, (_, i) => bytes(`e${i}`)));
    net.stabilize();
    expect(held.map((m) => m.entries.map((e) => e.index))).toEqual([[5, 6], [7, 8]]);
    net.raw(1).step(msg({ type: MessageType.AppResp, from: 2, to: 1, term: 2, index: 5 }));
    net.stabilize();
    expect(held).toHaveLength(2);
    expect(net.raw(1).status().progress.get(2)).toMatchObject({ match: 5, state: 'replicate' });
  });
});

describe('batching', () => {
  const payload = (i: number): Uint8Array => bytes(`v${String(i).padStart(3, '0')}`); // 4 bytes each

  it('100 proposals between two Readys reach each follower in ONE append', () => {
    const net = cluster(3);
    const mark = net.sent.length;
    for (let i = 0; i < 100; i++) net.raw(1).propose(payload(i));
    net.stabilize();
    for (const id of [2, 3]) {
      const apps = appsTo(net, id, mark);
      expect(apps).toHaveLength(1);
      expect(apps[0].entries).toHaveLength(100);
      expect(net.node(id).appliedData).toHaveLength(100);
    }
  });

  it('when maxMsgBytes is smaller, they go in several appends, each within the limit', () => {
    const per = entrySize({ term: 0, index: 0, type: 0, data: payload(0) });
    const net = cluster(3, { config: { maxMsgBytes: 10 * per } });
    const mark = net.sent.length;
    for (let i = 0; i < 100; i++) net.raw(1).propose(payload(i));
    net.stabilize();
    for (const id of [2, 3]) {
      const apps = appsTo(net, id, mark);
      expect(apps).toHaveLength(10);
      for (const m of apps) expect(m.entries.reduce((n, e) => n + entrySize(e), 0)).toBeLessThanOrEqual(10 * per);
      expect(apps.flatMap((m) => m.entries.map((e) => e.index))).toEqual(Array.from({ length: 100 }, (_, i) => 5 + i));
      expect(net.node(id).appliedData).toHaveLength(100);
    }
  });
});

describe('flow control of proposals', () => {
  it('proposals are dropped while too many bytes are uncommitted, and accepted again after commit', () => {
    const net = cluster(3, { config: { maxUncommittedBytes: 200, maxEntryBytes: 100 } });
    net.crash(2);
    net.crash(3);
    const data = bytes('x'.repeat(50)); // 74 bytes with the overhead
    net.raw(1).propose(data);
    net.raw(1).propose(data);
    const e = errorOf(() => net.raw(1).propose(data));
    expect(e.code).toBe(RaftErrorCode.PROPOSAL_DROPPED);
    expect(net.raw(1).status().lastIndex).toBe(6);
    net.restart(2);
    net.tick(2);
    expect(net.raw(1).status().commit).toBe(6);
    net.raw(1).propose(data);
    net.stabilize();
    expect(net.node(2).appliedData).toHaveLength(3);
  });

  it('an entry over maxEntryBytes, or too many entries at once, is refused with TOO_LARGE', () => {
    const net = cluster(3, { config: { maxEntryBytes: 10, maxProposalEntries: 3 } });
    expect(errorOf(() => net.raw(1).propose(new Uint8Array(11))).code).toBe(RaftErrorCode.TOO_LARGE);
    expect(errorOf(() => net.raw(1).proposeBatch([1, 2, 3, 4].map(() => new Uint8Array(1)))).code).toBe(RaftErrorCode.TOO_LARGE);
    expect(net.raw(1).status().lastIndex).toBe(4);
  });

  it('committed and applied empty proposals do not use up the uncommitted budget', () => {
    const net = cluster(3, { config: { maxUncommittedBytes: 100, maxEntryBytes: 50 } });
    for (let i = 0; i < 20; i++) {
      net.raw(1).propose(new Uint8Array(0));
      net.stabilize();
    }
    expect(net.raw(1).status().commit).toBe(24);
  });
});

describe('commit index propagation', () => {
  it('a follower learns the commit index from heartbeats, never beyond what it holds', () => {
    const net = cluster(3);
    net.filters.push((m) => !(m.type === MessageType.App && m.to === 3));
    net.propose(1, 'x');
    net.tick(1);
    // Node 3 holds nothing new: heartbeats must not make it commit past its log.
    expect(net.raw(3).status()).toMatchObject({ commit: 4, lastIndex: 4 });
    const hbs = net.sentWhere({ type: MessageType.Heartbeat, to: 3 });
    expect(hbs.every((m) => m.commit <= 4)).toBe(true);
    net.filters = [];
    net.tick(1);
    expect(net.raw(3).status()).toMatchObject({ commit: 5, lastIndex: 5 });
    expect(net.node(3).appliedData).toEqual(['x']);
    expect(net.raw(3).status().role).toBe(Role.Follower);
    expect(text(net.node(3).applied[4].data)).toBe('x');
  });
});

