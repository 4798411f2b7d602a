/**
 * `npm run bench:raft`: a 3-node cluster of Raft cores in one process, in-memory storage, messages
 * delivered in-process. Measures what the core itself costs: committed entries per second with
 * proposals batched B at a time, and how many entries each Ready carries. Everything (three nodes'
 * consensus, appends, applies) runs on one core, so the figure is per CPU core.
 *
 * Options: --seconds S (per row, default 3), --bytes N (payload per entry, default 64),
 * --out FILE (JSON lines, default bench/results/raft.jsonl).
 */
import { mkdirSync, appendFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { decodeConfChange, EntryType, MemoryStorage, Message, RawNode, SeededRandom } from '@hikarikeeper/raft';

interface Row {
  batch: number;
  entriesPerSecond: number;
  entriesPerReady: number;
  messagesPerSecond: number;
  seconds: number;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

function makeCluster(): { nodes: RawNode[]; stores: MemoryStorage[] } {
  const ids = [1, 2, 3];
  const stores = ids.map(() => {
    const s = new MemoryStorage();
    s.bootstrap(ids);
    return s;
  });
  const nodes = ids.map((id, i) => new RawNode({ id, storage: stores[i], random: new SeededRandom(id), maxMsgBytes: 4 << 20 }));
  return { nodes, stores };
}

function run(batch: number, seconds: number, payloadBytes: number): Row {
  const { nodes, stores } = makeCluster();
  const byId = new Map(nodes.map((n) => [n.id, n]));
  let inbox: Message[] = [];
  let applied = 0;
  let readies = 0;
  let readiesWithEntries = 0;
  let messages = 0;
  const drive = (): void => {
    for (let i = 0; i < nodes.length; i++) {
      const n = nodes[i];
      while (n.hasReady()) {
        const rd = n.ready();
        readies++;
        if (rd.snapshot) stores[i].applySnapshot(rd.snapshot);
        stores[i].append(rd.entries);
        if (rd.hardState) stores[i].setHardState(rd.hardState);
        for (const m of rd.messages) inbox.push(m);
        if (rd.committedEntries.length > 0) {
          readiesWithEntries++;
          if (n.isLeader()) applied += rd.committedEntries.length;
          for (const e of rd.committedEntries) if (e.type === EntryType.ConfChange) n.applyConfChange(decodeConfChange(e.data));
        }
        n.advance();
        const last = stores[i].lastIndex();
        // Keep memory flat: compact well behind the applied index.
        if (last - stores[i].firstIndex() > 200_000) stores[i].compact(last - 100_000);
      }
    }
    const batchOfMessages = inbox;
    inbox = [];
    messages += batchOfMessages.length;
    for (const m of batchOfMessages) byId.get(m.to)!.step(m);
  };
  drive(); // apply the bootstrap membership entries
  nodes[0].campaign();
  for (let i = 0; i < 50 && !nodes[0].isLeader(); i++) drive();
  for (let i = 0; i < 20; i++) drive();
  if (!nodes[0].isLeader()) throw new Error('no leader');
  const payload = new Uint8Array(payloadBytes).fill(7);
  const proposal = Array.from({ length: batch }, () => payload);
  applied = 0;
  readies = 0;
  readiesWithEntries = 0;
  messages = 0;
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(Math.round(seconds * 1e9));
  let now = started;
  while (now < deadline) {
    for (let k = 0; k < 16; k++) {
      nodes[0].proposeBatch(proposal);
      drive();
    }
    now = process.hrtime.bigint();
  }
  const secs = Number(now - started) / 1e9;
  return {
    batch,
    entriesPerSecond: Math.round(applied / secs),
    entriesPerReady: Math.round((applied / Math.max(1, readiesWithEntries / nodes.length)) * 10) / 10,
    messagesPerSecond: Math.round(messages / secs),
    seconds: Math.round(secs * 10) / 10,
  };
}

function main(): void {
  const seconds = Number(arg('seconds', '3'));
  const bytes = Number(arg('bytes', '64'));
  const out = arg('out', 'bench/results/raft.jsonl');
  const rows: Row[] = [];
  console.log(`raft core: 3 nodes in one process, in-memory storage, ${bytes}-byte entries, ${seconds}s per row`);
  console.log('batch | committed entries/s | entries/Ready | messages/s');
  console.log('----: | ------------------: | ------------: | ---------:');
  for (const batch of [1, 10, 100, 1000]) {
    const r = run(batch, seconds, bytes);
    rows.push(r);
    console.log(`${String(batch).padStart(5)} | ${r.entriesPerSecond.toLocaleString('en-US').padStart(19)} | ${String(r.entriesPerReady).padStart(13)} | ${r.messagesPerSecond.toLocaleString('en-US').padStart(10)}`);
  }
  mkdirSync(dirname(out), { recursive: true });
  const stamp = new Date().toISOString();
  for (const r of rows) appendFileSync(out, JSON.stringify({ bench: 'raft', at: stamp, node: process.version, bytes, ...r }) + '\n');
  console.log(`results appended to ${out}`);
}

main();
