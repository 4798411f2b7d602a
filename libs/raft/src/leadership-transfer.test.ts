/** Scenario tests of leadership transfer (Raft thesis §3.10): TimeoutNow, catch-up, abort. */
import { ConfChangeType } from './conf-change';
import { RaftError, RaftErrorCode } from './errors';
import { Message, MessageType, NONE, Role } from './types';
import { bytes, Network } from './testing/network';

const E = 10;

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

describe('leadership transfer', () => {
  it('to an up-to-date follower: TimeoutNow, the follower wins the next term at once, the old leader follows', () => {
    const net = cluster(3);
    const mark = net.sent.length;
    net.raw(1).transferLeadership(2);
    net.stabilize();
    expect(net.sentWhere({ type: MessageType.TimeoutNow, from: 1, to: 2 }, mark)).toHaveLength(1);
    // Node 2 campaigned without a pre-vote (there is a live leader: a pre-vote would be refused).
    expect(net.sentWhere({ type: MessageType.PreVote }, mark)).toEqual([]);
    expect(net.leader()).toBe(2);
    for (const id of [1, 2, 3]) expect(net.raw(id).status()).toMatchObject({ term: 3, leader: 2 });
    net.propose(2, 'after');
    expect(net.node(1).appliedData).toEqual(['after']);
  });

  it('asked on a follower, the request is forwarded to the leader', () => {
    const net = cluster(3);
    net.raw(3).transferLeadership(2);
    net.stabilize();
    expect(net.leader()).toBe(2);
  });

  it('proposals are dropped with PROPOSAL_DROPPED while the transfer is in progress', () => {
    const net = cluster(3);
    net.filters.push((m) => m.type !== MessageType.TimeoutNow);
    net.raw(1).transferLeadership(2);
    net.stabilize();
    expect(net.raw(1).status()).toMatchObject({ role: Role.Leader, leadTransferee: 2 });
    const before = net.raw(1).status().lastIndex;
    let err: RaftError | undefined;
    try {
      net.raw(1).propose(bytes('x'));
    } catch (e) {
      err = e as RaftError;
    }
    expect(err?.code).toBe(RaftErrorCode.PROPOSAL_DROPPED);
    expect(err?.leader).toBe(2);
    expect(code(() => net.raw(1).proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 9, context: '' }))).toBe(RaftErrorCode.PROPOSAL_DROPPED);
    expect(net.raw(1).status().lastIndex).toBe(before);
  });

  it('to a lagging follower: the leader first catches it up, then sends TimeoutNow', () => {
    const net = cluster(3);
    net.isolate(3);
    for (let i = 0; i < 5; i++) net.propose(1, `v${i}`);
    net.heal();
    const leaderLast = net.raw(1).status().lastIndex;
    expect(net.raw(3).status().lastIndex).toBeLessThan(leaderLast);
    let lastAtTimeoutNow = -1;
    net.filters.push((m: Message) => {
      if (m.type === MessageType.TimeoutNow) lastAtTimeoutNow = net.raw(3).status().lastIndex;
      return true;
    });
    net.raw(1).transferLeadership(3);
    net.stabilize();
    for (let t = 0; t < E - 1 && net.leader() !== 3; t++) net.tick(1);
    expect(net.leader()).toBe(3);
    expect(lastAtTimeoutNow).toBe(leaderLast);
    expect(net.node(3).appliedData).toEqual(['v0', 'v1', 'v2', 'v3', 'v4']);
  });

  it('is abandoned after an election timeout if the target is down; proposals are accepted again', () => {
    const net = cluster(3);
    net.crash(3);
    net.raw(1).transferLeadership(3);
    net.stabilize();
    expect(net.raw(1).status().leadTransferee).toBe(3);
    expect(code(() => net.raw(1).propose(bytes('x')))).toBe(RaftErrorCode.PROPOSAL_DROPPED);
    net.tick(E);
    expect(net.raw(1).status()).toMatchObject({ role: Role.Leader, leadTransferee: NONE, term: 2 });
    net.propose(1, 'y');
    expect(net.node(2).appliedData).toEqual(['y']);
  });

  it.each([
    ['itself', 1],
    ['a node that is not a member', 9],
  ])('a transfer to %s is ignored', (_name, target) => {
    const net = cluster(3);
    net.raw(1).transferLeadership(target);
    net.stabilize();
    expect(net.raw(1).status()).toMatchObject({ role: Role.Leader, leadTransferee: NONE, term: 2 });
    net.propose(1, 'ok');
  });

  it('asking a follower to transfer leadership to the current leader changes nothing', () => {
    const net = cluster(3);
    net.raw(2).transferLeadership(1);
    net.stabilize();
    expect(net.raw(1).status()).toMatchObject({ role: Role.Leader, leadTransferee: NONE, term: 2 });
  });

  it.each([0, -1, 1.5, NaN])('transferLeadership(%s) is refused with INVALID_ARGUMENT, on the leader and on a follower', (bad) => {
    const net = cluster(3);
    expect(code(() => net.raw(1).transferLeadership(bad))).toBe(RaftErrorCode.INVALID_ARGUMENT);
    expect(code(() => net.raw(2).transferLeadership(bad))).toBe(RaftErrorCode.INVALID_ARGUMENT);
    net.stabilize();
    expect(net.leader()).toBe(1);
    expect(net.raw(1).status().leadTransferee).toBe(NONE);
  });

  it('a second request for the same target does not restart the transfer; a request for another target replaces it', () => {
    const net = cluster(3);
    net.crash(3);
    net.raw(1).transferLeadership(3);
    net.stabilize();
    net.tick(E - 2);
    net.raw(1).transferLeadership(3); // same target: the deadline is kept
    net.tick(2);
    expect(net.raw(1).status().leadTransferee).toBe(NONE);

    net.raw(1).transferLeadership(3);
    net.stabilize();
    net.raw(1).transferLeadership(2);
    net.stabilize();
    expect(net.leader()).toBe(2);
  });
});
