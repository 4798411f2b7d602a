import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { RawNode, SeededRandom } from '@hikarikeeper/raft';
import { RocksRaftStorage } from './raft-storage';
import { RocksStore, WriteBatch } from './rocks';

/**
 * The storage under the real core: a single-node RawNode driven through the Ready contract (one
 * batch per Ready, synced when `mustSync`), snapshots and compaction, and restarts from disk.
 */

let dir: string;
let stores: RocksStore[];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hk-raft-rawnode-'));
  stores = [];
});

afterEach(async () => {
  for (const s of stores) {
    expect(s.openIteratorCount).toBe(0);
    await s.close();
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Node {
  store: RocksStore;
  storage: RocksRaftStorage;
  node: RawNode;
  applied: string[];
}

async function start(): Promise<Node> {
  const store = await RocksStore.open(dir);
  stores.push(store);
  const storage = await RocksRaftStorage.open(store);
  if (storage.lastIndex() === 0 && storage.initialState().confState.voters.length === 0) {
    await storage.bootstrap({ voters: [1], learners: [] });
  }
  const node = new RawNode({ id: 1, storage, random: new SeededRandom(7), applied: storage.appliedIndex() });
  return { store, storage, node, applied: [] };
}

/** The driver loop: persist (one batch), then apply, then advance, until nothing is ready. */
async function drain(n: Node): Promise<void> {
  while (n.node.hasReady()) {
    const rd = n.node.ready();
    const batch = new WriteBatch();
    n.storage.stage(batch, { snapshot: rd.snapshot?.metadata ?? null, entries: rd.entries, hardState: rd.hardState });
    for (const e of rd.committedEntries) if (e.data.length > 0) n.applied.push(Buffer.from(e.data).toString());
    if (rd.committedEntries.length > 0) {
      n.storage.stage(batch, { applied: rd.committedEntries[rd.committedEntries.length - 1].index });
    }
    await n.storage.persist(batch, { sync: rd.mustSync });
    n.node.advance();
  }
}

async function elect(n: Node): Promise<void> {
  n.node.campaign();
  await drain(n);
  expect(n.node.isLeader()).toBe(true);
}

async function propose(n: Node, values: string[]): Promise<void> {
  for (const v of values) n.node.propose(Buffer.from(v));
  await drain(n);
}

describe('RocksRaftStorage under a RawNode', () => {
  it('commits, compacts and restarts with the log, term and applied index intact', async () => {
    let n = await start();
    await elect(n);
    await propose(n, ['a', 'b', 'c']);
    expect(n.applied).toEqual(['a', 'b', 'c']);
    const commit = n.node.status().commit;
    expect(n.storage.appliedIndex()).toBe(commit);

    // The server's compaction policy: snapshot at the applied index, keep one entry behind it.
    const batch = new WriteBatch();
    n.storage.createSnapshot(batch, commit, n.storage.initialState().confState);
    n.storage.compact(batch, commit - 1);
    await n.storage.persist(batch, { sync: true });
    expect(n.storage.firstIndex()).toBe(commit);

    await n.store.close();
    n = await start();
    const status = n.node.status();
    expect(status.commit).toBe(commit);
    expect(status.applied).toBe(commit);
    expect(status.firstIndex).toBe(commit);
    await elect(n);
    expect(n.node.term()).toBe(2);
    await propose(n, ['d']);
    expect(n.applied).toEqual(['d']); // nothing applied before the restart is handed out again

    await n.store.close();
    n = await start();
    expect(n.node.status().commit).toBe(n.storage.lastIndex());
    expect(n.storage.initialState().hardState.term).toBe(2);
  });
});
