/** Scenario tests of single-step membership changes: learners, promotion, removal (of the leader too). */
import { ConfChange, ConfChangeType } from './conf-change';
import { RaftError, RaftErrorCode } from './errors';
import { MessageType, NONE, Role } from './types';
import { bytes, Network } from './testing/network';

const E = 10;
const { AddVoter, AddLearner, Remove } = ConfChangeType;
const cc = (type: ConfChangeType, nodeId: number): ConfChange => ({ type, nodeId, context: `addr-${nodeId}` });

function cluster(n: number): Network {
  const net = Network.bootstrap(Array.from({ length: n }, (_, i) => i + 1));
  net.campaign(1);
  expect(net.leader()).toBe(1);
  return net;
}

function code(fn: () => unknown): RaftErrorCode | 'no error' {
  try {
    fn();
  } catch (e) {
    if (e instanceof RaftError) return e.code;
    throw e;
  }
  return 'no error';
}

function tickUntilLeader(net: Network, among: number[], max = 20 * E): number {
  for (let t = 0; t < max; t++) {
    const l = net.leader();
    if (l !== undefined && among.includes(l)) return l;
    net.tick(1);
  }
  throw new Error(`no leader among ${among}`);
}

describe('membership changes', () => {
  it('a learner receives the log but never votes nor counts toward commit', () => {
    const net = cluster(2);
    net.addNode(3);
    net.proposeConfChange(1, cc(AddLearner, 3));
    net.tick(2);
    for (const id of [1, 2, 3]) expect(net.node(id).confState).toEqual({ voters: [1, 2], learners: [3] });
    net.propose(1, 'x');
    expect(net.node(3).appliedData).toEqual(['x']);

    // With voter 2 gone, leader + learner is not a quorum of {1, 2}.
    net.crash(2);
    net.propose(1, 'y');
    net.tick(2);
    expect(net.node(3).storage.lastIndex()).toBe(net.raw(1).status().lastIndex); // the learner has it...
    expect(net.node(1).appliedData).toEqual(['x']); // ...but it does not commit

    // The learner never campaigns, even when it hears from no leader for a long time.
    net.crash(1);
    const mark = net.sent.length;
    net.tick(10 * E);
    expect(net.sentWhere({ from: 3 }, mark).filter((m) => m.type === MessageType.PreVote || m.type === MessageType.Vote)).toEqual([]);
    expect(net.raw(3).status().role).toBe(Role.Follower);
  });

  it("a learner's heartbeat answers do not confirm a read", () => {
    const net = cluster(2);
    net.addNode(3);
    net.proposeConfChange(1, cc(AddLearner, 3));
    net.tick(2);
    net.crash(2);
    const mark = net.sent.length;
    net.raw(1).readIndex('r');
    net.stabilize();
    expect(net.sentWhere({ type: MessageType.HeartbeatResp, from: 3, to: 1 }, mark)).toHaveLength(1);
    expect(net.node(1).readStates).toEqual([]);
    net.restart(2);
    net.tick(1); // the next round carries no read; the pending one is confirmed by a later read's round
    net.raw(1).readIndex('r2');
    net.stabilize();
    expect(net.node(1).readStates.map((r) => r.context)).toEqual(['r', 'r2']);
  });

  it('a promoted learner votes and counts toward commit', () => {
    const net = cluster(2);
    net.addNode(3);
    net.proposeConfChange(1, cc(AddLearner, 3));
    net.tick(2);
    net.proposeConfChange(1, cc(AddVoter, 3));
    net.tick(2);
    for (const id of [1, 2, 3]) expect(net.node(id).confState).toEqual({ voters: [1, 2, 3], learners: [] });
    net.crash(2);
    net.propose(1, 'x'); // leader + 3 of {1, 2, 3}
    expect(net.node(1).appliedData).toEqual(['x']);
    expect(net.node(3).appliedData).toEqual(['x']);
    // And it can lead.
    net.raw(1).transferLeadership(3);
    net.stabilize();
    expect(net.leader()).toBe(3);
  });

  it('a new voter added directly catches up from an empty log', () => {
    const net = cluster(3);
    net.propose(1, 'before');
    net.addNode(4);
    net.proposeConfChange(1, cc(AddVoter, 4));
    net.tick(2);
    expect(net.node(4).confState).toEqual({ voters: [1, 2, 3, 4], learners: [] });
    expect(net.node(4).appliedData).toEqual(['before']);
    net.propose(1, 'after');
    expect(net.node(4).appliedData).toEqual(['before', 'after']);
  });

  it('a removed follower gets nothing more, and the others commit without it', () => {
    const net = cluster(3);
    net.proposeConfChange(1, cc(Remove, 3));
    net.tick(1);
    for (const id of [1, 2]) expect(net.node(id).confState).toEqual({ voters: [1, 2], learners: [] });
    const mark = net.sent.length;
    net.propose(1, 'x');
    net.tick(2 * E);
    expect(net.sentWhere({ from: 1, to: 3 }, mark)).toEqual([]);
    expect(net.node(2).appliedData).toEqual(['x']);
    expect(net.node(3).appliedData).toEqual([]);
    // It learned of its removal, so it does not campaign either.
    expect(net.node(3).confState).toEqual({ voters: [1, 2], learners: [] });
    expect(net.sentWhere({ from: 3 }, mark)).toEqual([]);
  });

  it('a removed node that never learned of its removal does not disrupt the cluster', () => {
    const net = cluster(3);
    // Node 3 gets the change but never hears that it committed.
    net.filters.push((m) => !(m.to === 3 && m.commit > 4));
    net.proposeConfChange(1, cc(Remove, 3));
    net.tick(1);
    expect(net.node(3).confState).toEqual({ voters: [1, 2, 3], learners: [] });
    net.filters = [];
    net.tick(30 * E);
    expect(net.raw(3).status().role).toBe(Role.PreCandidate); // it keeps trying, in vain
    expect(net.leader()).toBe(1);
    for (const id of [1, 2, 3]) expect(net.raw(id).term()).toBe(2);
    net.propose(1, 'still fine');
    expect(net.node(2).appliedData).toEqual(['still fine']);
  });

  it('removing the LEADER: it steps down once the change applies, and the rest elect a leader and keep committing', () => {
    const net = cluster(3);
    const index = net.proposeConfChange(1, cc(Remove, 1));
    expect(net.node(1).appliedIndex).toBeGreaterThanOrEqual(index);
    expect(net.raw(1).status()).toMatchObject({ role: Role.Follower, leader: NONE });
    expect(net.raw(1).status().conf).toEqual({ voters: [2, 3], learners: [] });
    // The others learned that the change committed (the departing leader told them).
    for (const id of [2, 3]) expect(net.node(id).appliedIndex).toBeGreaterThanOrEqual(index);

    const leader = tickUntilLeader(net, [2, 3]);
    expect(net.raw(leader).term()).toBe(3);
    net.propose(leader, 'without 1');
    for (const id of [2, 3]) expect(net.node(id).appliedData).toEqual(['without 1']);
    // The old leader is out: it never campaigns and does not hold the new entries.
    net.tick(10 * E);
    expect(net.raw(1).status().role).toBe(Role.Follower);
    expect(net.node(1).appliedData).toEqual([]);
    expect(code(() => net.raw(1).propose(bytes('x')))).toBe(RaftErrorCode.NOT_LEADER);
  });

  it('only one membership change may be pending at a time (CONF_CHANGE_PENDING)', () => {
    const net = cluster(3);
    net.addNode(4);
    net.addNode(5);
    net.raw(1).proposeConfChange(cc(AddLearner, 4));
    expect(code(() => net.raw(1).proposeConfChange(cc(AddLearner, 5)))).toBe(RaftErrorCode.CONF_CHANGE_PENDING);
    // Committed but not yet applied is still pending.
    net.crash(4);
    net.crash(5);
    net.stabilize();
    expect(net.raw(1).status().conf.learners).toEqual([4]);
    expect(code(() => net.raw(1).proposeConfChange(cc(AddLearner, 5)))).toBe('no error');
  });

  it('a new leader accepts no membership change until the entries before its term are applied', () => {
    const net = cluster(3);
    net.filters.push((m) => !(m.type === MessageType.AppResp && m.to === 2)); // node 2's no-op cannot commit
    net.raw(1).transferLeadership(2);
    net.stabilize();
    expect(net.leader()).toBe(2);
    expect(code(() => net.raw(2).proposeConfChange(cc(AddLearner, 4)))).toBe(RaftErrorCode.CONF_CHANGE_PENDING);
    net.filters = [];
    net.tick(1);
    expect(code(() => net.raw(2).proposeConfChange(cc(AddLearner, 4)))).toBe('no error');
  });

  it.each([
    ['removing the last voter', 1, cc(Remove, 1)],
    ['demoting a voter to learner', 3, cc(AddLearner, 2)],
  ])('%s is refused with INVALID_ARGUMENT and nothing is appended', (_name, n, change) => {
    const net = cluster(n);
    const last = net.raw(1).status().lastIndex;
    expect(code(() => net.raw(1).proposeConfChange(change))).toBe(RaftErrorCode.INVALID_ARGUMENT);
    expect(net.raw(1).status().lastIndex).toBe(last);
    // And no change is pending: a valid one is accepted.
    expect(code(() => net.raw(1).proposeConfChange(cc(AddLearner, 9)))).toBe('no error');
  });

  it('a membership change proposed on a follower fails with NOT_LEADER', () => {
    const net = cluster(3);
    let err: RaftError | undefined;
    try {
      net.raw(2).proposeConfChange(cc(AddLearner, 4));
    } catch (e) {
      err = e as RaftError;
    }
    expect(err?.code).toBe(RaftErrorCode.NOT_LEADER);
    expect(err?.leader).toBe(1);
  });
});
