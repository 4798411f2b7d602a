/**
 * Tests tied to sentences of the Raft paper (Ongaro & Ousterhout, "In Search of an Understandable
 * Consensus Algorithm", extended version), in the spirit of etcd's raft_paper_test.go. Most drive one
 * RawNode by hand, playing the other members' part by stepping their messages into it.
 */
import { RawNode } from './raw-node';
import { MemoryStorage } from './storage';
import { Message, MessageType, NONE, Role } from './types';
import { drain, entries, msg, Network, NodeOptions, rawNode, storageWith } from './testing/network';

const E = 10; // election ticks used throughout

interface Single {
  raw: RawNode;
  storage: MemoryStorage;
  /** Runs the Ready loop; returns the messages produced. */
  out: () => Message[];
}

/** Node `id` of a cluster of `voters`, with a log of `terms` and a hard state. */
function single(id: number, voters: number[], opts: NodeOptions & { terms?: number[]; term?: number; vote?: number; commit?: number; seed?: number } = {}): Single {
  const { terms = [], term, vote, commit, seed, ...config } = opts;
  const storage = storageWith(voters, terms, { term, vote, commit });
  const raw = rawNode(id, storage, { electionTicks: E, ...config }, seed);
  const s: Single = { raw, storage, out: () => drain(raw, storage).messages };
  s.out();
  return s;
}

/** Ticks until the node sends a (Pre)Vote; returns the number of ticks and the messages. */
function tickUntilCampaign(s: Single, max = 100): { ticks: number; messages: Message[] } {
  for (let ticks = 1; ticks <= max; ticks++) {
    s.raw.tick();
    const messages = s.out();
    if (messages.some((m) => m.type === MessageType.Vote || m.type === MessageType.PreVote)) return { ticks, messages };
  }
  throw new Error(`no campaign within ${max} ticks`);
}

/** Makes node `s` the leader of its term by stepping granted votes from every other voter. */
function elect(s: Single, voters: number[]): Message[] {
  s.raw.campaign();
  for (let round = 0; round < 2 && !s.raw.isLeader(); round++) {
    const requests = s.out().filter((m) => m.type === MessageType.PreVote || m.type === MessageType.Vote);
    for (const r of requests) {
      const type = r.type === MessageType.PreVote ? MessageType.PreVoteResp : MessageType.VoteResp;
      if (voters.includes(r.to)) s.raw.step(msg({ type, from: r.to, to: r.from, term: r.term }));
    }
  }
  expect(s.raw.isLeader()).toBe(true);
  return s.out();
}

const types = (ms: Message[]): MessageType[] => ms.map((m) => m.type);
const to = (ms: Message[]): number[] => ms.map((m) => m.to).sort();

describe('§5.2 leader election', () => {
  it('§5.2 a follower that hears no leader within the election timeout becomes a candidate', () => {
    const s = single(1, [1, 2, 3], { preVote: false, terms: [1, 1], term: 1 });
    const { ticks, messages } = tickUntilCampaign(s);
    expect(ticks).toBeGreaterThanOrEqual(E);
    expect(ticks).toBeLessThan(2 * E);
    const st = s.raw.status();
    expect(st.role).toBe(Role.Candidate);
    expect(st.term).toBe(2);
    expect(st.vote).toBe(1); // votes for itself
    expect(s.storage.getHardState()).toEqual({ term: 2, vote: 1, commit: 0 }); // persisted before the requests go out
    expect(to(messages)).toEqual([2, 3]);
    for (const m of messages) {
      expect(m).toMatchObject({ type: MessageType.Vote, from: 1, term: 2, index: 2, logTerm: 1 });
    }
  });

  it('§9.6 with PreVote, a follower that hears no leader first asks whether it could win, without changing its term', () => {
    const s = single(1, [1, 2, 3], { preVote: true, terms: [1, 1], term: 1 });
    const { messages } = tickUntilCampaign(s);
    expect(s.raw.status()).toMatchObject({ role: Role.PreCandidate, term: 1, vote: NONE });
    expect(s.storage.getHardState().term).toBe(1);
    for (const m of messages) expect(m).toMatchObject({ type: MessageType.PreVote, term: 2, index: 2, logTerm: 1 });
  });

  it('§5.2 a follower that keeps hearing from the leader never campaigns', () => {
    const s = single(1, [1, 2, 3], { terms: [1], term: 1 });
    for (let t = 0; t < 10 * E; t++) {
      s.raw.tick();
      if (t % 3 === 0) s.raw.step(msg({ type: MessageType.Heartbeat, from: 2, to: 1, term: 1 }));
      s.out();
    }
    expect(s.raw.status()).toMatchObject({ role: Role.Follower, leader: 2, term: 1 });
  });

  it('§5.2 election timeouts are randomized within [E, 2E)', () => {
    const seen = new Set<number>();
    for (let seed = 1; seed <= 200; seed++) {
      const s = single(1, [1, 2, 3], { preVote: false, seed });
      const { ticks } = tickUntilCampaign(s);
      expect(ticks).toBeGreaterThanOrEqual(E);
      expect(ticks).toBeLessThan(2 * E);
      seen.add(ticks);
      // The next timeout (a candidate retrying) is drawn again from [E, 2E).
      const again = tickUntilCampaign(s);
      expect(again.ticks).toBeGreaterThanOrEqual(E);
      expect(again.ticks).toBeLessThan(2 * E);
    }
    expect(seen.size).toBeGreaterThanOrEqual(E - 2); // spread over (nearly) the whole range
  });

  it('§5.2 a candidate whose election times out starts a new election in a higher term', () => {
    const s = single(1, [1, 2, 3], { preVote: false });
    tickUntilCampaign(s);
    expect(s.raw.term()).toBe(1);
    const { messages } = tickUntilCampaign(s);
    expect(s.raw.status()).toMatchObject({ role: Role.Candidate, term: 2, vote: 1 });
    expect(types(messages)).toEqual([MessageType.Vote, MessageType.Vote]);
    expect(messages.every((m) => m.term === 2)).toBe(true);
  });

  describe('§5.2 a candidate wins with votes from a majority, loses with rejections from a majority, and waits otherwise', () => {
    it.each([
      [1, [], [], Role.Leader],
      [3, [2, 3], [], Role.Leader],
      [3, [2], [], Role.Leader],
      [5, [2, 3, 4, 5], [], Role.Leader],
      [5, [2, 3], [], Role.Leader],
      [3, [], [2, 3], Role.Follower],
      [5, [], [2, 3, 4, 5], Role.Follower],
      [5, [2], [3, 4, 5], Role.Follower],
      [3, [], [], Role.Candidate],
      [5, [2], [], Role.Candidate],
      [5, [], [2, 3], Role.Candidate],
      [4, [2], [], Role.Candidate], // 4 voters: 2 votes are not a majority
      [4, [2, 3], [], Role.Leader],
      [4, [], [2, 3], Role.Follower],
    ])('%i voters, granted by %j, rejected by %j -> %s', (n, granted, rejected, want) => {
      const voters = Array.from({ length: n }, (_, i) => i + 1);
      const s = single(1, voters, { preVote: false });
      s.raw.campaign();
      s.out();
      for (const id of granted) s.raw.step(msg({ type: MessageType.VoteResp, from: id, to: 1, term: 1 }));
      for (const id of rejected) s.raw.step(msg({ type: MessageType.VoteResp, from: id, to: 1, term: 1, reject: true }));
      s.out();
      expect(s.raw.status().role).toBe(want);
      expect(s.raw.term()).toBe(1); // losing keeps the new term
    });
  });

  it('§5.2 a candidate that hears from a leader of its own term becomes its follower', () => {
    const s = single(1, [1, 2, 3], { preVote: false });
    s.raw.campaign();
    s.out();
    s.raw.step(msg({ type: MessageType.App, from: 2, to: 1, term: 1, index: 0, logTerm: 0 }));
    expect(s.raw.status()).toMatchObject({ role: Role.Follower, leader: 2, term: 1, vote: 1 });
  });

  describe('§5.2 each server votes for at most one candidate in a given term, first come first served', () => {
    it.each([
      [NONE, 2, false],
      [NONE, 3, false],
      [2, 2, false], // a repeated request from the same candidate is granted again
      [3, 3, false],
      [2, 3, true],
      [3, 2, true],
    ])('voted for %i, asked by %i -> reject %s', (vote, candidate, reject) => {
      const s = single(1, [1, 2, 3], { preVote: false, terms: [1], term: 1, vote });
      s.raw.step(msg({ type: MessageType.Vote, from: candidate, to: 1, term: 1, index: 1, logTerm: 1 }));
      const resp = s.out().filter((m) => m.type === MessageType.VoteResp);
      expect(resp).toHaveLength(1);
      expect(resp[0]).toMatchObject({ to: candidate, term: 1, reject });
      expect(s.raw.status().vote).toBe(vote === NONE ? candidate : vote);
    });
  });

  it('at most one vote per term survives a restart (the vote is in the hard state)', () => {
    const storage = storageWith([1, 2, 3], [1], { term: 1 });
    let raw = rawNode(1, storage, { preVote: false });
    drain(raw, storage);
    raw.step(msg({ type: MessageType.Vote, from: 2, to: 1, term: 5, index: 1, logTerm: 1 }));
    const rd = raw.ready();
    // The grant travels in the same Ready as the hard state recording it, which must be synced first.
    expect(rd.messages).toEqual([expect.objectContaining({ type: MessageType.VoteResp, to: 2, term: 5, reject: false })]);
    expect(rd.hardState).toEqual({ term: 5, vote: 2, commit: 0 });
    expect(rd.mustSync).toBe(true);
    storage.setHardState(rd.hardState!);
    raw.advance();

    // Crash and restart from storage: another candidate of term 5 is refused, the same one again granted.
    raw = rawNode(1, storage, { preVote: false });
    expect(raw.status()).toMatchObject({ term: 5, vote: 2 });
    raw.step(msg({ type: MessageType.Vote, from: 3, to: 1, term: 5, index: 9, logTerm: 9 }));
    raw.step(msg({ type: MessageType.Vote, from: 2, to: 1, term: 5, index: 1, logTerm: 1 }));
    const resps = drain(raw, storage).messages;
    expect(resps.map((m) => [m.to, m.reject])).toEqual([
      [3, true],
      [2, false],
    ]);
    expect(storage.getHardState().vote).toBe(2);
  });

  it('§5.2 a leader sends heartbeats to every follower each heartbeat interval', () => {
    const s = single(1, [1, 2, 3], { heartbeatTicks: 3 });
    elect(s, [2, 3]);
    const beats: number[] = [];
    for (let t = 1; t <= 9; t++) {
      s.raw.tick();
      const hb = s.out().filter((m) => m.type === MessageType.Heartbeat);
      if (hb.length > 0) {
        expect(to(hb)).toEqual([2, 3]);
        beats.push(t);
      }
    }
    expect(beats).toEqual([3, 6, 9]);
  });
});

describe('§5.1 terms', () => {
  it('§5.1 a node with a stale term rejects an AppendEntries (telling the stale leader the newer term) and keeps its log', () => {
    const s = single(1, [1, 2, 3], { terms: [1, 3], term: 3 });
    s.raw.step(msg({ type: MessageType.App, from: 2, to: 1, term: 2, index: 1, logTerm: 1, entries: entries(2, [2]) }));
    const out = s.out();
    expect(out).toEqual([expect.objectContaining({ type: MessageType.AppResp, to: 2, term: 3 })]);
    expect(s.raw.status()).toMatchObject({ lastIndex: 2, term: 3, leader: NONE });
    expect(s.raw.logTerm(2)).toBe(3);
  });

  it('§5.1 a node with a stale term does not grant a vote', () => {
    const s = single(1, [1, 2, 3], { preVote: false, terms: [1], term: 3 });
    s.raw.step(msg({ type: MessageType.Vote, from: 2, to: 1, term: 2, index: 5, logTerm: 2 }));
    const out = s.out();
    expect(out.filter((m) => m.type === MessageType.VoteResp && !m.reject)).toEqual([]);
    expect(s.raw.status()).toMatchObject({ term: 3, vote: NONE });
  });

  it('§5.1 a stale heartbeat does not hold back an election', () => {
    const s = single(1, [1, 2, 3], { preVote: false, terms: [1], term: 3 });
    let ticks = 0;
    while (s.raw.status().role === Role.Follower && ticks < 100) {
      s.raw.step(msg({ type: MessageType.Heartbeat, from: 2, to: 1, term: 2 }));
      s.raw.tick();
      ticks++;
    }
    expect(ticks).toBeLessThan(2 * E);
    expect(s.raw.status().role).toBe(Role.Candidate);
  });

  it('§5.1 a stale leader that learns of a newer term steps down', () => {
    const s = single(1, [1, 2, 3], { preVote: false, checkQuorum: false });
    elect(s, [2, 3]);
    expect(s.raw.term()).toBe(1);
    s.raw.step(msg({ type: MessageType.AppResp, from: 2, to: 1, term: 4 }));
    expect(s.raw.status()).toMatchObject({ role: Role.Follower, term: 4, leader: NONE, vote: NONE });
  });

  describe('§5.1 a node that sees a larger term adopts it and becomes a follower', () => {
    it.each([
      [MessageType.App, 2],
      [MessageType.Heartbeat, 2],
      [MessageType.Vote, NONE],
      [MessageType.AppResp, NONE],
      [MessageType.VoteResp, NONE],
    ])('message type %s (the leader becomes %s)', (type, lead) => {
      for (const role of [Role.Follower, Role.Candidate, Role.Leader]) {
        const s = single(1, [1, 2, 3], { preVote: false, checkQuorum: false });
        if (role === Role.Candidate) s.raw.campaign();
        if (role === Role.Leader) elect(s, [2, 3]);
        s.out();
        expect(s.raw.status().role).toBe(role);
        s.raw.step(msg({ type, from: 2, to: 1, term: 7, index: type === MessageType.Vote ? 10 : 0, logTerm: type === MessageType.Vote ? 7 : 0 }));
        expect(s.raw.status()).toMatchObject({ role: Role.Follower, term: 7, leader: lead });
      }
    });
  });
});

describe('§5.3 log replication', () => {
  it('§5.3 a leader replicates a proposal and commits it once a majority stores it', () => {
    const s = single(1, [1, 2, 3, 4, 5], { preVote: false });
    const probes = elect(s, [2, 3, 4, 5]).filter((m) => m.type === MessageType.App);
    // The new leader's first append carries its no-op (1@1); every follower stores it.
    expect(to(probes)).toEqual([2, 3, 4, 5]);
    for (const m of probes) expect(m.entries.map((e) => [e.index, e.term])).toEqual([[1, 1]]);
    for (const id of [2, 3, 4, 5]) s.raw.step(msg({ type: MessageType.AppResp, from: id, to: 1, term: 1, index: 1 }));
    s.out();
    expect(s.raw.status().commit).toBe(1);

    const index = s.raw.propose(new TextEncoder().encode('x'));
    expect(index).toBe(2);
    const apps = s.out().filter((m) => m.type === MessageType.App);
    expect(to(apps)).toEqual([2, 3, 4, 5]);
    for (const m of apps) expect(m).toMatchObject({ index: 1, logTerm: 1, commit: 1, entries: [expect.objectContaining({ index: 2, term: 1 })] });
    s.raw.step(msg({ type: MessageType.AppResp, from: 2, to: 1, term: 1, index: 2 }));
    s.out();
    expect(s.raw.status().commit).toBe(1); // leader + 1 of 5
    s.raw.step(msg({ type: MessageType.AppResp, from: 3, to: 1, term: 1, index: 2 }));
    const rdOut = drain(s.raw, s.storage);
    expect(s.raw.status().commit).toBe(2); // leader + 2 of 5
    expect(rdOut.committed.map((e) => e.index)).toEqual([2]);
    // The new commit index goes out to every follower.
    const commits = rdOut.messages.filter((m) => m.type === MessageType.App);
    expect(to(commits)).toEqual([2, 3, 4, 5]);
    expect(commits.every((m) => m.commit === 2)).toBe(true);
  });

  describe('§5.3 a follower refuses entries whose previous entry it does not have, hinting where to retry', () => {
    it.each([
      // follower log 1@1 2@1 3@2 4@2; App(prevIndex, prevTerm) -> reject, hint index, hint term
      [4, 2, false, 0, 0],
      [4, 3, true, 4, 2], // term mismatch at 4: retry from the last entry of term <= 3
      [6, 3, true, 4, 2], // past our end: our last entry is the best guess
      [3, 1, true, 2, 1], // skips the whole term 2
      [2, 1, false, 0, 0],
      [0, 0, false, 0, 0],
    ])('App(prev %i, term %i) -> reject %s, hint (%i, %i)', (prevIndex, prevTerm, reject, hintIndex, hintTerm) => {
      const s = single(1, [1, 2, 3], { terms: [1, 1, 2, 2], term: 3 });
      s.raw.step(msg({ type: MessageType.App, from: 2, to: 1, term: 3, index: prevIndex, logTerm: prevTerm }));
      const [resp] = s.out().filter((m) => m.type === MessageType.AppResp);
      expect(resp).toMatchObject({ reject, to: 2, term: 3 });
      if (reject) expect(resp).toMatchObject({ index: prevIndex, rejectHint: hintIndex, logTermHint: hintTerm });
      expect(s.raw.status().lastIndex).toBe(4);
    });
  });

  it("§5.3 a follower's commit index follows the leader's, but never past the entries the leader sent", () => {
    const s = single(1, [1, 2, 3], { terms: [1], term: 1 });
    s.raw.step(msg({ type: MessageType.App, from: 2, to: 1, term: 1, index: 1, logTerm: 1, entries: entries(2, [1, 1]), commit: 9 }));
    const out = drain(s.raw, s.storage);
    expect(s.raw.status().commit).toBe(3);
    expect(out.committed.map((e) => e.index)).toEqual([1, 2, 3]);
    expect(out.messages).toEqual([expect.objectContaining({ type: MessageType.AppResp, index: 3, reject: false })]);
  });

  describe("§5.3 a follower's conflicting entries are replaced by the leader's (Figure 7)", () => {
    const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    it.each([
      ['(a) missing one entry', [1, 1, 1, 4, 4, 5, 5, 6, 6]],
      ['(b) missing many entries', [1, 1, 1, 4]],
      ['(c) one extra uncommitted entry', [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6]],
      ['(d) extra entries of a later term', [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7]],
      ['(e) missing and extra entries', [1, 1, 1, 4, 4, 4, 4]],
      ['(f) a whole divergent suffix from old terms', [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]],
      ['(empty log)', []],
    ])('%s', (_name, followerLog) => {
      // Node 3 holds the leader's log too, so node 1 can win even when node 2's log is "newer".
      const net = new Network();
      net.addNode(1, storageWith([1, 2, 3], leaderLog, { term: 8, commit: 3 }));
      net.addNode(2, storageWith([1, 2, 3], followerLog, { term: 8, commit: Math.min(3, followerLog.length) }));
      net.addNode(3, storageWith([1, 2, 3], leaderLog, { term: 8, commit: 3 }));
      net.stabilize();
      net.campaign(1);
      expect(net.leader()).toBe(1);
      const st1 = net.raw(1).status();
      const st2 = net.raw(2).status();
      expect(st2.lastIndex).toBe(st1.lastIndex);
      const termsOf = (id: number) => Array.from({ length: st1.lastIndex }, (_, i) => net.raw(id).logTerm(i + 1));
      expect(termsOf(2)).toEqual([...leaderLog, 9]);
      expect(st2.commit).toBe(11);
      expect(net.node(2).applied.map((e) => e.term)).toEqual([...leaderLog, 9]);
    });
  });
});

describe('§5.4 safety', () => {
  describe('§5.4.1 a node does not vote for a candidate whose log is less up to date', () => {
    it.each([
      // voter log terms, candidate last log term, candidate last index -> reject
      [[1], 1, 1, false],
      [[1], 1, 2, false],
      [[1, 1], 1, 1, true], // same last term, shorter log
      [[1], 2, 1, false], // higher last term
      [[1], 2, 2, false],
      [[1, 1], 2, 1, false], // higher last term wins even with a shorter log
      [[2], 1, 1, true], // lower last term
      [[2], 1, 2, true],
      [[2, 2], 1, 5, true], // lower last term loses even with a longer log
    ])('voter log %j, candidate (term %i, index %i) -> reject %s', (terms, logTerm, index, reject) => {
      for (const type of [MessageType.Vote, MessageType.PreVote]) {
        const s = single(1, [1, 2, 3], { terms, term: 2 });
        s.raw.step(msg({ type, from: 2, to: 1, term: 3, index, logTerm }));
        const [resp] = s.out();
        expect(resp).toMatchObject({
          type: type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp,
          to: 2,
          reject,
        });
        expect(s.raw.status().vote).toBe(type === MessageType.Vote && !reject ? 2 : NONE);
      }
    });
  });

  it('§5.4.1 a candidate whose log is behind a majority cannot become leader', () => {
    const net = new Network({ config: { preVote: false } });
    net.addNode(1, storageWith([1, 2, 3], [1, 1], { term: 1, commit: 1 }));
    net.addNode(2, storageWith([1, 2, 3], [1, 1, 1], { term: 1, commit: 1 }));
    net.addNode(3, storageWith([1, 2, 3], [1, 1, 1], { term: 1, commit: 1 }));
    net.stabilize();
    net.campaign(1);
    expect(net.leader()).toBeUndefined();
    expect(net.raw(1).status()).toMatchObject({ role: Role.Follower, term: 2 });
    net.campaign(2);
    expect(net.leader()).toBe(2);
    expect(net.raw(1).status().lastIndex).toBe(4);
  });

  /**
   * Figure 8: S1 leads term 2 and writes 2@2 to S2 only; S5 leads term 3 and writes 2@3 to itself only;
   * S1 leads again in term 4 and replicates 2@2 to a majority (S1, S2, S3, S4), but its own no-op 3@4
   * does not get out. Were S1 to commit 2@2 by counting replicas, S5 could still win term 5 (its last
   * term 3 beats everyone's 2) and overwrite index 2 with 2@3 on every node.
   */
  function figure8(faults: NodeOptions['unsafeTestingFaults'] = {}, hideCommit = false): Network {
    const net = new Network({ config: { preVote: false, checkQuorum: false, maxMsgBytes: 1 } });
    const voters = [1, 2, 3, 4, 5];
    net.addNode(1, storageWith(voters, [1, 2], { term: 3, commit: 1 }), { unsafeTestingFaults: faults });
    net.addNode(2, storageWith(voters, [1, 2], { term: 3, commit: 1 }));
    net.addNode(3, storageWith(voters, [1], { term: 3, commit: 1 }));
    net.addNode(4, storageWith(voters, [1], { term: 3, commit: 1 }));
    net.addNode(5, storageWith(voters, [1, 3], { term: 3, commit: 1 }));
    net.stabilize();
    // S1's appends carrying term-4 entries lose those entries on the way (they arrive empty). With
    // `hideCommit`, S1 also crashes before any follower learns a commit index past 1.
    net.filters.push((m) => {
      if (m.from !== 1 || (m.type !== MessageType.App && m.type !== MessageType.Heartbeat)) return true;
      const stripped = { ...m, entries: m.entries.filter((e) => e.term !== 4), commit: hideCommit ? Math.min(m.commit, 1) : m.commit };
      if (stripped.entries.length === m.entries.length && stripped.commit === m.commit) return true;
      net.node(m.to).raw.step(stripped);
      return false;
    });
    net.crash(5);
    net.campaign(1);
    expect(net.leader()).toBe(1);
    expect(net.raw(1).term()).toBe(4);
    for (const id of [2, 3, 4]) expect(net.raw(id).logTerm(2)).toBe(2);
    return net;
  }

  it('§5.4.2 a leader never commits an entry of a previous term by counting replicas (Figure 8)', () => {
    const net = figure8();
    net.tick(3 * E, [1]); // heartbeats and retries: still only 2@2 gets through
    expect(net.raw(1).status().commit).toBe(1);
    for (const id of [1, 2, 3, 4]) expect(net.node(id).appliedIndex).toBe(1);

    // S1 crashes; S5 comes back and wins term 5: overwriting index 2 everywhere is safe, as it never committed.
    net.crash(1);
    net.restart(5);
    net.filters = [];
    net.campaign(5); // term 4: S2..S4 already voted in term 4
    net.campaign(5); // term 5
    expect(net.leader()).toBe(5);
    for (const id of [2, 3, 4, 5]) {
      expect(net.raw(id).logTerm(2)).toBe(3);
      expect(net.node(id).applied.find((e) => e.index === 2)?.term).toBe(3);
    }
  });

  it('§5.4.2 committing an entry of the current term commits the earlier entries with it', () => {
    const net = figure8();
    net.filters = [];
    net.tick(1, [1]); // the next heartbeat round lets the no-op through
    expect(net.raw(1).status().commit).toBe(3);
    for (const id of [1, 2, 3, 4]) expect(net.node(id).applied.map((e) => e.term)).toEqual([1, 2, 4]);
  });

  it('§5.4.2 (control) a core that does count old-term replicas is caught applying two values at one index', () => {
    const net = figure8({ commitOldTerm: true }, true);
    net.tick(1, [1]);
    expect(net.node(1).applied.map((e) => [e.index, e.term])).toEqual([[1, 1], [2, 2]]); // the unsafe commit
    net.crash(1);
    net.restart(5);
    net.filters = [];
    expect(() => {
      net.campaign(5);
      net.campaign(5);
    }).toThrow(/applied \(2, term 3\) but another node applied term 2/);
  });
});
