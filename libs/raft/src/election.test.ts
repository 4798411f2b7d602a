/** Scenario tests of elections, CheckQuorum, PreVote and the leader lease, on the in-memory network. */
import { CAMPAIGN_TRANSFER } from './raft';
import { MessageType, NONE, Role } from './types';
import { msg, Network, NetworkOptions, storageWith } from './testing/network';

const E = 10;

function cluster(n: number, options: NetworkOptions = {}): Network {
  return Network.bootstrap(
    Array.from({ length: n }, (_, i) => i + 1),
    options,
  );
}

/** Ticks everyone until some node leads (at most `max` ticks); returns the leader. */
function tickUntilLeader(net: Network, max = 20 * E): number {
  for (let t = 0; t < max; t++) {
    const l = net.leader();
    if (l !== undefined) return l;
    net.tick(1);
  }
  throw new Error('no leader elected');
}

describe('elections', () => {
  it.each([3, 5])('a %i-node cluster elects the node that campaigns, and every member follows it', (n) => {
    const net = cluster(n);
    net.campaign(1);
    expect(net.leader()).toBe(1);
    for (const id of net.ids) {
      expect(net.raw(id).status()).toMatchObject({ term: 2, leader: 1, role: id === 1 ? Role.Leader : Role.Follower });
      // The new leader's no-op (after the n bootstrap entries) is committed and applied everywhere.
      expect(net.node(id).appliedIndex).toBe(n + 1);
      expect(net.node(id).applied[n]).toMatchObject({ index: n + 1, term: 2, data: new Uint8Array() });
    }
  });

  it.each([3, 5])('a %i-node cluster elects exactly one leader by itself (timeouts only)', (n) => {
    for (let seed = 1; seed <= 20; seed++) {
      const net = cluster(n, { seed });
      const leader = tickUntilLeader(net);
      net.tick(3 * E);
      expect(net.leader()).toBe(leader); // stable: nobody else campaigns while it leads
      const term = net.raw(leader).term();
      const leaders = net.ids.filter((id) => net.raw(id).isLeader());
      expect(leaders).toEqual([leader]);
      for (const id of net.ids) expect(net.raw(id).status()).toMatchObject({ term, leader });
    }
  });

  it('a 5-node cluster elects a leader with two members down, but not with three', () => {
    const net = cluster(5);
    net.crash(4);
    net.crash(5);
    expect([1, 2, 3]).toContain(tickUntilLeader(net));

    const net2 = cluster(5);
    for (const id of [3, 4, 5]) net2.crash(id);
    net2.tick(20 * E);
    expect(net2.leader()).toBeUndefined();
    // With PreVote, the failed attempts did not inflate anybody's term.
    for (const id of [1, 2]) expect(net2.raw(id).term()).toBe(1);
  });

  it('a node that is not in its own configuration never campaigns', () => {
    const net = new Network();
    net.addNode(4, storageWith([1, 2, 3], [1], { term: 1, commit: 1 }));
    net.stabilize();
    net.raw(4).campaign();
    net.tick(20 * E);
    expect(net.sent).toEqual([]);
    expect(net.raw(4).status()).toMatchObject({ role: Role.Follower, term: 1 });
  });

  it('a node does not campaign while it has committed but unapplied membership changes', () => {
    // Bootstrap entries are committed; until they are applied the node does not know its membership.
    const storage = cluster(3).node(1).storage.clone(); // membership [1, 2, 3] saved, commit 3
    const net = new Network();
    net.addNode(1, storage); // restarts with applied 0: the three AddVoter entries are unapplied
    net.raw(1).campaign();
    expect(net.raw(1).status().role).toBe(Role.Follower);
    net.stabilize(); // applies them
    net.raw(1).campaign();
    expect(net.raw(1).status().role).toBe(Role.PreCandidate);
  });
});

describe('CheckQuorum', () => {
  it('a leader cut off from a majority steps down within two election timeouts; the majority elects a new one', () => {
    const net = cluster(3);
    net.campaign(1);
    net.isolate(1);
    net.tick(2 * E + 1);
    expect(net.raw(1).status()).toMatchObject({ role: Role.Follower, leader: NONE, term: 2 });
    const l = net.leader();
    expect([2, 3]).toContain(l);
    expect(net.raw(l!).term()).toBe(3);
    net.heal();
    net.tick(2);
    expect(net.raw(1).status()).toMatchObject({ role: Role.Follower, leader: l, term: 3 });
  });

  it('(control) without CheckQuorum, the cut-off leader keeps believing it leads', () => {
    const net = cluster(3, { config: { checkQuorum: false } });
    net.campaign(1);
    net.isolate(1);
    net.tick(5 * E, [1]);
    expect(net.raw(1).status().role).toBe(Role.Leader);
  });

  it('a leader that hears from a majority stays leader even when a minority is gone', () => {
    const net = cluster(5);
    net.campaign(1);
    net.crash(4);
    net.crash(5);
    net.tick(10 * E);
    expect(net.leader()).toBe(1);
    expect(net.raw(1).term()).toBe(2);
  });
});

describe('PreVote', () => {
  it('a node partitioned away for a long time rejoins without raising the term or disrupting the leader', () => {
    const net = cluster(3);
    net.campaign(1);
    net.isolate(3);
    net.tick(50 * E);
    // Its pre-elections all failed: it never took a new term.
    expect(net.raw(3).status()).toMatchObject({ term: 2, role: Role.PreCandidate });
    net.propose(1, 'while 3 was away');
    net.heal();
    net.tick(3 * E);
    expect(net.leader()).toBe(1);
    for (const id of [1, 2, 3]) expect(net.raw(id).status()).toMatchObject({ term: 2, leader: 1 });
    expect(net.node(3).appliedData).toEqual(['while 3 was away']);
  });

  it('(control) without PreVote and CheckQuorum, the rejoining node forces a new election with its inflated term', () => {
    const net = cluster(3, { config: { preVote: false, checkQuorum: false } });
    net.campaign(1);
    net.isolate(3);
    net.tick(50 * E);
    const inflated = net.raw(3).term();
    expect(inflated).toBeGreaterThan(10);
    net.heal();
    net.tick(3 * E);
    expect(net.raw(1).term()).toBeGreaterThanOrEqual(inflated);
  });
});

describe('leader lease', () => {
  function withLeader(): Network {
    const net = cluster(3);
    net.campaign(1);
    net.tick(2); // heartbeats: the followers heard from the leader recently
    return net;
  }

  it.each([MessageType.Vote, MessageType.PreVote])('a follower inside the lease ignores a %s for a higher term', (type) => {
    const net = withLeader();
    const before = net.sent.length;
    net.raw(2).step(msg({ type, from: 3, to: 2, term: 9, index: 100, logTerm: 9 }));
    net.stabilize();
    expect(net.sentWhere({ from: 2, to: 3 }, before)).toEqual([]);
    expect(net.raw(2).status()).toMatchObject({ term: 2, vote: 1, leader: 1 });
  });

  it('the leader itself ignores a disruptive vote request', () => {
    const net = withLeader();
    net.raw(1).step(msg({ type: MessageType.Vote, from: 3, to: 1, term: 9, index: 100, logTerm: 9 }));
    net.stabilize();
    expect(net.raw(1).status()).toMatchObject({ term: 2, role: Role.Leader });
  });

  it('a follower inside the lease still grants a vote for a leadership transfer', () => {
    const net = withLeader();
    const before = net.sent.length;
    net.filters.push((m) => m.to !== 3); // keep the answer from reaching node 3
    net.raw(2).step(msg({ type: MessageType.Vote, from: 3, to: 2, term: 3, index: 100, logTerm: 9, context: CAMPAIGN_TRANSFER }));
    net.stabilize();
    expect(net.sentWhere({ type: MessageType.VoteResp, from: 2, to: 3 }, before)).toEqual([expect.objectContaining({ reject: false, term: 3 })]);
    expect(net.raw(2).status()).toMatchObject({ term: 3, vote: 3 });
  });

  it('after an election timeout without the leader, a follower grants votes again', () => {
    const net = withLeader();
    net.crash(1);
    net.tick(E, [2]);
    const before = net.sent.length;
    net.filters.push((m) => m.to !== 3);
    net.raw(2).step(msg({ type: MessageType.Vote, from: 3, to: 2, term: 3, index: 100, logTerm: 9 }));
    net.stabilize();
    expect(net.sentWhere({ type: MessageType.VoteResp, from: 2 }, before)).toEqual([expect.objectContaining({ reject: false })]);
  });
});
