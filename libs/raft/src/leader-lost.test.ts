/**
 * `reportLeaderLost`: a follower told that the connection to its leader broke campaigns within
 * electionTicks/2 ticks instead of a whole election timeout, and stops honouring the leader's lease.
 * It must be harmless when the leader lives (a transient drop, a wrong report): the pre-election then
 * fails and nothing changes.
 */
import { MessageType, Role } from './types';
import { Network } from './testing/network';

const E = 10;

/** Ticks everyone until a leader other than `not` leads; the ticks it took, or null past `max`. */
function ticksUntilNewLeader(net: Network, not: number, max: number): number | null {
  for (let t = 0; t <= max; t++) {
    const l = net.leader();
    if (l !== undefined && l !== not) return t;
    net.tick(1);
  }
  return null;
}

describe('reportLeaderLost', () => {
  it('after the leader crashes, followers told of it elect a new leader, for every seed (liveness; the next test times it)', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const net = Network.bootstrap([1, 2, 3], { seed });
      net.campaign(1);
      net.tick(3); // heartbeats: the followers are in the leader's lease
      net.crash(1);
      for (const id of [2, 3]) net.raw(id).reportLeaderLost(1);
      const ticks = ticksUntilNewLeader(net, 1, 4 * E);
      expect(ticks).not.toBeNull();
      // At most E/2, plus a retry after a split vote (both survivors may campaign in the same tick).
      expect(ticks!).toBeLessThan(E / 2 + 2 * E);
    }
  });

  it('(control) without the report a crashed leader is replaced only after an election timeout', () => {
    const net = Network.bootstrap([1, 2, 3], { seed: 7 });
    net.campaign(1);
    net.tick(3);
    net.crash(1);
    expect(ticksUntilNewLeader(net, 1, 4 * E)!).toBeGreaterThanOrEqual(E - 3);
  });

  it('most elections after a reported crash are won within electionTicks/2 + 1 ticks', () => {
    let fast = 0;
    for (let seed = 1; seed <= 50; seed++) {
      const net = Network.bootstrap([1, 2, 3], { seed });
      net.campaign(1);
      net.tick(3);
      net.crash(1);
      for (const id of [2, 3]) net.raw(id).reportLeaderLost(1);
      if (ticksUntilNewLeader(net, 1, 4 * E)! <= E / 2 + 1) fast++;
    }
    expect(fast).toBeGreaterThanOrEqual(35); // split votes retry after a full timeout: a minority
  });

  it('a wrong report while the leader lives changes nothing: the pre-election fails, the term stays, the leader keeps leading', () => {
    const net = Network.bootstrap([1, 2, 3], { seed: 3 });
    net.campaign(1);
    net.tick(3);
    const term = net.raw(1).term();
    net.raw(2).reportLeaderLost(1);
    net.tick(3 * E);
    expect(net.leader()).toBe(1);
    for (const id of [1, 2, 3]) expect(net.raw(id).status()).toMatchObject({ term, leader: 1 });
    net.propose(1, 'after');
    net.stabilize();
    expect(net.node(2).appliedData).toContain('after');
  });

  it('a wrong report from a follower cut off from a live leader does not disturb the others (they are in the lease)', () => {
    const net = Network.bootstrap([1, 2, 3], { seed: 5 });
    net.campaign(1);
    net.tick(3);
    const term = net.raw(1).term();
    net.cut(1, 2); // 2 hears nothing from the leader, 3 does
    net.raw(2).reportLeaderLost(1);
    net.tick(E / 2 + 2);
    expect(net.leader()).toBe(1);
    expect(net.raw(3).status()).toMatchObject({ term, leader: 1, role: Role.Follower });
    expect(net.raw(1).term()).toBe(term);
  });

  it('does nothing for an id that is not the leader, or on the leader itself', () => {
    const net = Network.bootstrap([1, 2, 3], { seed: 9 });
    net.campaign(1);
    net.tick(3);
    const term = net.raw(1).term();
    net.cut(1, 2); // 2 no longer hears heartbeats: only its own election timer runs
    net.raw(2).reportLeaderLost(3); // not its leader: its timer must keep its full timeout
    net.raw(1).reportLeaderLost(1); // the leader itself
    net.raw(1).reportLeaderLost(2);
    const sentBefore = net.sentWhere({ type: MessageType.PreVote }).length;
    net.tick(E - 4); // less than an election timeout: nobody campaigns
    expect(net.sentWhere({ type: MessageType.PreVote }).length).toBe(sentBefore);
    net.heal();
    for (const id of [1, 2, 3]) expect(net.raw(id).status()).toMatchObject({ term, leader: 1 });
  });
});
