/** Scenario tests of log compaction and snapshot transfer. */
import { ConfChangeType } from './conf-change';
import { chunkSnapshot, SnapshotAssembler } from './snapshot-chunks';
import { Message, MessageType, Role, Snapshot } from './types';
import { bytes, drain, msg, Network, rawNode, storageWith, text } from './testing/network';

const E = 10;

function cluster(n: number): Network {
  const net = Network.bootstrap(Array.from({ length: n }, (_, i) => i + 1));
  net.campaign(1);
  expect(net.leader()).toBe(1);
  return net;
}

/** Takes a snapshot of node `id`'s applied state (its applied data, as JSON) and compacts its log. */
function snapshotAndCompact(net: Network, id: number): Snapshot {
  const node = net.node(id);
  const snap = node.storage.createSnapshot(node.appliedIndex, node.confState, bytes(JSON.stringify(node.appliedData)));
  node.storage.compact(node.appliedIndex);
  return snap;
}

/** Node 3 misses 10 proposals while down; the leader then compacts its whole log. */
function followerBehindCompaction(): { net: Network; snap: Snapshot } {
  const net = cluster(3);
  net.crash(3);
  for (let i = 0; i < 10; i++) net.propose(1, `v${i}`);
  const snap = snapshotAndCompact(net, 1);
  expect(snap.metadata).toMatchObject({ index: 14, term: 2, confState: { voters: [1, 2, 3], learners: [] } });
  expect(net.raw(1).status().firstIndex).toBe(15);
  return { net, snap };
}

const snaps = (net: Network, from = 0): Message[] => net.sentWhere({ type: MessageType.Snap, from: 1, to: 3 }, from);

describe('snapshots', () => {
  it('a follower that was down while the leader compacted catches up through a snapshot', () => {
    const { net, snap } = followerBehindCompaction();
    net.tick(3 * E);
    expect(snaps(net)).toEqual([]); // nothing is sent to a member the leader has not heard from
    net.restart(3);
    net.tick(2);
    expect(snaps(net)).toHaveLength(1);
    expect(snaps(net)[0].snapshot).toBe(snap);
    const n3 = net.node(3);
    expect(n3.snapshotsInstalled.map((s) => s.metadata.index)).toEqual([14]);
    expect(JSON.parse(text(n3.snapshotsInstalled[0].data))).toHaveLength(10);
    expect(n3.storage.firstIndex()).toBe(15);
    // The rest of the log follows by ordinary appends, and replication goes on.
    net.propose(1, 'after');
    expect(n3.appliedData).toEqual(['after']);
    expect(net.raw(3).status()).toMatchObject({ commit: 15, applied: 15, lastIndex: 15 });
    expect(net.raw(1).status().progress.get(3)).toMatchObject({ match: 15, state: 'replicate' });
  });

  it('reportSnapshot(false) makes the leader send the snapshot again later; until then it waits', () => {
    const { net } = followerBehindCompaction();
    let dropFirst = true;
    net.filters.push((m) => {
      if (m.type !== MessageType.Snap || !dropFirst) return true;
      dropFirst = false;
      return false;
    });
    net.restart(3);
    net.tick(2);
    expect(snaps(net)).toHaveLength(1);
    expect(net.node(3).snapshotsInstalled).toEqual([]);
    expect(net.raw(1).status().progress.get(3)?.state).toBe('snapshot');
    net.tick(3 * E); // no report: the leader keeps waiting instead of flooding snapshots
    expect(snaps(net)).toHaveLength(1);

    net.raw(1).reportSnapshot(3, false);
    expect(net.raw(1).status().progress.get(3)?.state).toBe('probe');
    net.stabilize();
    expect(snaps(net)).toHaveLength(1); // not at once: it waits for the next heartbeat response
    net.tick(1);
    expect(snaps(net)).toHaveLength(2);
    expect(net.node(3).snapshotsInstalled.map((s) => s.metadata.index)).toEqual([14]);
    expect(net.raw(1).status().progress.get(3)).toMatchObject({ state: 'replicate', match: 14 });
  });

  it('reportSnapshot(true) resumes probing right after the snapshot, without sending it again', () => {
    const { net } = followerBehindCompaction();
    // Once the snapshot went out, node 3's answers are lost: the leader learns of the outcome only
    // from the transport's report.
    let snapSent = false;
    net.filters.push((m) => {
      if (m.type === MessageType.Snap) snapSent = true;
      return !(snapSent && m.type === MessageType.AppResp && m.from === 3);
    });
    net.restart(3);
    net.tick(2);
    expect(net.node(3).snapshotsInstalled).toHaveLength(1);
    expect(net.raw(1).status().progress.get(3)?.state).toBe('snapshot');
    net.raw(1).reportSnapshot(3, true);
    expect(net.raw(1).status().progress.get(3)).toMatchObject({ state: 'probe', next: 15 });
    net.filters = [];
    net.tick(2);
    expect(snaps(net)).toHaveLength(1);
    expect(net.raw(1).status().progress.get(3)).toMatchObject({ state: 'replicate', match: 14 });
  });

  it('a snapshot streamed in chunks and reassembled is installed like a whole one', () => {
    const { net, snap } = followerBehindCompaction();
    const assembler = new SnapshotAssembler(1 << 20, 7);
    let chunks = 0;
    net.filters.push((m) => {
      if (m.type !== MessageType.Snap) return true;
      for (const c of chunkSnapshot(m.snapshot!, 7)) {
        chunks++;
        const r = assembler.accept(c);
        if (r.status === 'complete') net.raw(m.to).step({ ...m, snapshot: r.snapshot });
      }
      return false;
    });
    net.restart(3);
    net.tick(2);
    expect(chunks).toBe(Math.ceil(snap.data.length / 7));
    const installed = net.node(3).snapshotsInstalled;
    expect(installed).toHaveLength(1);
    expect(installed[0].data).toEqual(snap.data);
    expect(installed[0].data).not.toBe(snap.data);
  });

  it('a follower restarted after installing a snapshot resumes from it', () => {
    const { net } = followerBehindCompaction();
    net.restart(3);
    net.tick(2);
    net.crash(3);
    net.restart(3);
    expect(net.raw(3).status()).toMatchObject({ firstIndex: 15, lastIndex: 14, commit: 14, applied: 14 });
    net.tick(2);
    net.propose(1, 'later');
    expect(net.node(3).appliedData).toEqual(['later']);
  });

  it('a member added after compaction joins through a snapshot that carries the membership', () => {
    const net = cluster(3);
    net.propose(1, 'a');
    snapshotAndCompact(net, 1);
    net.addNode(4);
    net.proposeConfChange(1, { type: ConfChangeType.AddLearner, nodeId: 4, context: '' });
    net.tick(2);
    const n4 = net.node(4);
    expect(n4.snapshotsInstalled).toHaveLength(1);
    expect(n4.snapshotsInstalled[0].metadata.confState).toEqual({ voters: [1, 2, 3], learners: [] });
    expect(net.raw(4).status().conf).toEqual({ voters: [1, 2, 3], learners: [4] });
  });

  describe('a follower receiving a snapshot', () => {
    const snapshotAt = (index: number, term: number): Snapshot => ({
      metadata: { index, term, confState: { voters: [1, 2, 3], learners: [] } },
      data: bytes('state'),
    });

    it('ignores one that is not newer than its commit index, answering with its commit index', () => {
      const storage = storageWith([1, 2, 3], [1, 1, 1, 1], { term: 1, commit: 3 });
      const raw = rawNode(1, storage);
      drain(raw, storage);
      raw.step(msg({ type: MessageType.Snap, from: 2, to: 1, term: 1, snapshot: snapshotAt(2, 1) }));
      const out = drain(raw, storage);
      expect(out.messages).toEqual([expect.objectContaining({ type: MessageType.AppResp, index: 3, reject: false })]);
      expect(storage.snapshot().metadata.index).toBe(0);
      expect(raw.status()).toMatchObject({ firstIndex: 1, lastIndex: 4, commit: 3 });
    });

    it('that already holds the snapshot\'s last entry only moves its commit index', () => {
      const storage = storageWith([1, 2, 3], [1, 1, 1, 1], { term: 1, commit: 1 });
      const raw = rawNode(1, storage);
      drain(raw, storage);
      raw.step(msg({ type: MessageType.Snap, from: 2, to: 1, term: 1, snapshot: snapshotAt(3, 1) }));
      const out = drain(raw, storage);
      expect(storage.snapshot().metadata.index).toBe(0);
      expect(out.committed.map((e) => e.index)).toEqual([2, 3]);
      expect(raw.status()).toMatchObject({ firstIndex: 1, lastIndex: 4, commit: 3 });
    });

    it('whose log conflicts with it replaces its log and membership', () => {
      const storage = storageWith([1, 2, 3], [1, 1, 1, 1], { term: 1, commit: 1 });
      const raw = rawNode(1, storage);
      drain(raw, storage);
      const snap = { ...snapshotAt(6, 2), metadata: { index: 6, term: 2, confState: { voters: [1, 2], learners: [3] } } };
      raw.step(msg({ type: MessageType.Snap, from: 2, to: 1, term: 2, snapshot: snap }));
      const rd = raw.ready();
      expect(rd.snapshot).toBe(snap);
      expect(rd.committedEntries).toEqual([]);
      expect(rd.mustSync).toBe(true);
      expect(rd.messages).toEqual([expect.objectContaining({ type: MessageType.AppResp, index: 6 })]);
      storage.applySnapshot(rd.snapshot!);
      storage.setHardState(rd.hardState!);
      raw.advance();
      expect(raw.status()).toMatchObject({ firstIndex: 7, lastIndex: 6, commit: 6, applied: 6, term: 2, leader: 2, role: Role.Follower });
      expect(raw.status().conf).toEqual({ voters: [1, 2], learners: [3] });
    });
  });
});
