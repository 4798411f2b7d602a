/** Scenario tests of linearizable reads (ReadIndex, Raft thesis §6.4). */
import { RaftError, RaftErrorCode } from './errors';
import { Message, MessageType } from './types';
import { Network } from './testing/network';

function cluster(n: number): Network {
  const net = Network.bootstrap(Array.from({ length: n }, (_, i) => i + 1));
  net.campaign(1);
  expect(net.leader()).toBe(1);
  return net;
}

/** Leadership moves from `from` to `to` (a transfer: the followers' lease does not stand in the way). */
function handOver(net: Network, from: number, to: number): void {
  net.raw(from).transferLeadership(to);
  net.stabilize();
  expect(net.leader()).toBe(to);
}

/** Holds back every message matching `match` (the test delivers them itself). */
function hold(net: Network, match: (m: Message) => boolean): Message[] {
  const held: Message[] = [];
  net.filters.push((m) => {
    if (!match(m)) return true;
    held.push(m);
    return false;
  });
  return held;
}

describe('ReadIndex', () => {
  it('on the leader: a read is answered with the commit index once a heartbeat round confirms leadership', () => {
    const net = cluster(3);
    net.propose(1, 'x');
    const commit = net.raw(1).status().commit;
    net.raw(1).readIndex('r1');
    net.stabilize();
    expect(net.node(1).readStates).toEqual([{ index: commit, context: 'r1' }]);
    expect(net.node(1).appliedIndex).toBeGreaterThanOrEqual(commit);
  });

  it('on a follower: the read is forwarded to the leader and the answer comes back to the follower', () => {
    const net = cluster(3);
    net.propose(1, 'x');
    const mark = net.sent.length;
    net.raw(2).readIndex('f1');
    net.stabilize();
    expect(net.sentWhere({ type: MessageType.ReadIndex, from: 2, to: 1 }, mark)).toHaveLength(1);
    expect(net.sentWhere({ type: MessageType.ReadIndexResp, from: 1, to: 2 }, mark)).toHaveLength(1);
    expect(net.node(2).readStates).toEqual([{ index: 5, context: 'f1' }]);
    expect(net.node(1).readStates).toEqual([]);
  });

  it('a read on a follower that knows no leader fails with NOT_LEADER', () => {
    const net = Network.bootstrap([1, 2, 3]);
    let err: unknown;
    try {
      net.raw(2).readIndex('r');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RaftError);
    expect((err as RaftError).code).toBe(RaftErrorCode.NOT_LEADER);
  });

  it('an empty context is refused', () => {
    const net = cluster(3);
    expect(() => net.raw(1).readIndex('')).toThrow(expect.objectContaining({ code: RaftErrorCode.INVALID_ARGUMENT }));
  });

  it('a single-node cluster answers at once from its commit index', () => {
    const net = Network.bootstrap([1]);
    net.campaign(1);
    net.raw(1).readIndex('solo');
    net.stabilize();
    expect(net.node(1).readStates).toEqual([{ index: 2, context: 'solo' }]);
    expect(net.sent).toEqual([]);
  });

  it("reads on a new leader wait until it commits its no-op, then use the no-op's index", () => {
    const net = cluster(3);
    net.propose(1, 'old');
    // Node 2 takes over, but no append response reaches it yet: its no-op (index 6) stays uncommitted.
    const acks = hold(net, (m) => m.type === MessageType.AppResp && m.to === 2);
    handOver(net, 1, 2);
    expect(net.raw(2).status()).toMatchObject({ commit: 5, lastIndex: 6 });
    const mark = net.sent.length;
    net.raw(2).readIndex('early');
    net.stabilize();
    expect(net.node(2).readStates).toEqual([]);
    // No heartbeat round is started for it yet.
    expect(net.sentWhere({ type: MessageType.Heartbeat, from: 2 }, mark).filter((m) => m.context !== '')).toEqual([]);

    net.filters = [];
    for (const m of acks.splice(0)) net.deliver(m);
    net.stabilize();
    expect(net.raw(2).status().commit).toBe(6);
    expect(net.node(2).readStates).toEqual([{ index: 6, context: 'early' }]);
  });

  it('10 reads between two Readys share ONE heartbeat round', () => {
    const net = cluster(3);
    const mark = net.sent.length;
    for (let i = 0; i < 10; i++) net.raw(1).readIndex(`r${i}`);
    net.stabilize();
    const beats = net.sentWhere({ type: MessageType.Heartbeat, from: 1 }, mark);
    expect(beats).toHaveLength(2); // one per follower
    expect(beats.map((m) => m.context)).toEqual(['r9', 'r9']);
    expect(net.node(1).readStates).toEqual(Array.from({ length: 10 }, (_, i) => ({ index: 4, context: `r${i}` })));
  });

  it('reads are released only once a quorum acknowledged the heartbeat round', () => {
    const net = cluster(5);
    const acks = hold(net, (m) => m.type === MessageType.HeartbeatResp);
    net.raw(1).readIndex('q');
    net.stabilize();
    expect(acks.map((m) => m.from).sort()).toEqual([2, 3, 4, 5]);
    net.filters = [];
    net.deliver(acks[0]);
    net.stabilize();
    expect(net.node(1).readStates).toEqual([]); // leader + 1 of 5
    net.deliver(acks[1]);
    net.stabilize();
    expect(net.node(1).readStates).toEqual([{ index: 6, context: 'q' }]); // leader + 2 of 5
    net.deliver(acks[2]);
    net.deliver(acks[3]);
    net.stabilize();
    expect(net.node(1).readStates).toHaveLength(1); // answered once
  });

  it('a read issued after a round started waits for a later round', () => {
    const net = cluster(3);
    const acks = hold(net, (m) => m.type === MessageType.HeartbeatResp);
    net.raw(1).readIndex('a');
    net.stabilize(); // round for 'a' sent, answers held
    net.raw(1).readIndex('b');
    net.stabilize(); // round for 'b' sent, answers held
    expect(acks.map((m) => m.context)).toEqual(['a', 'a', 'b', 'b']);
    net.filters = [];
    net.deliver(acks[0]); // one 'a' ack: quorum for 'a' only
    net.stabilize();
    expect(net.node(1).readStates.map((r) => r.context)).toEqual(['a']);
    net.deliver(acks[2]);
    net.stabilize();
    expect(net.node(1).readStates.map((r) => r.context)).toEqual(['a', 'b']);
  });

  it('reads pending on a leader that loses leadership are never answered by it', () => {
    const net = cluster(3);
    const acks = hold(net, (m) => m.type === MessageType.HeartbeatResp);
    net.raw(1).readIndex('lost');
    net.stabilize();
    net.filters = [];
    handOver(net, 1, 2); // node 1 steps down before the answers arrive
    for (const m of acks) net.deliver(m);
    net.stabilize();
    expect(net.node(1).readStates).toEqual([]);
  });

  it('a read forwarded to a node that is no longer the leader is passed on, and answered to the node that asked', () => {
    const net = cluster(3);
    const held = hold(net, (m) => m.type === MessageType.ReadIndex);
    net.raw(3).readIndex('hop');
    net.stabilize();
    expect(held.map((m) => [m.from, m.to])).toEqual([[3, 1]]);
    net.filters = [];
    handOver(net, 1, 2);
    net.deliver(held[0]); // reaches node 1, now a follower of node 2
    net.stabilize();
    expect(net.node(3).readStates).toEqual([{ index: 5, context: 'hop' }]);
    expect(net.node(1).readStates).toEqual([]);
    expect(net.node(2).readStates).toEqual([]);
  });

  it('a read forwarded back to the node that asked, now the leader, is dropped without error', () => {
    const net = cluster(3);
    const held = hold(net, (m) => m.type === MessageType.ReadIndex);
    net.raw(2).readIndex('loop');
    net.stabilize();
    net.filters = [];
    handOver(net, 1, 2);
    net.deliver(held[0]); // node 1 would pass it on to node 2, which asked in the first place
    net.stabilize();
    expect(net.leader()).toBe(2);
    expect(net.node(2).readStates).toEqual([]); // the caller times out and retries
  });

  it('a follower read during the new leader\'s first moments waits for its no-op too', () => {
    const net = cluster(3);
    const acks = hold(net, (m) => m.type === MessageType.AppResp && m.to === 2);
    handOver(net, 1, 2);
    net.raw(3).readIndex('f');
    net.stabilize();
    expect(net.node(3).readStates).toEqual([]);
    net.filters = [];
    for (const m of acks.splice(0)) net.deliver(m);
    net.stabilize();
    expect(net.node(3).readStates).toEqual([{ index: 5, context: 'f' }]);
  });
});
