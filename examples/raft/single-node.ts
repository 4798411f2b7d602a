/**
 * The README's Raft example: a single-voter cluster driven by hand. Run with
 * `npx tsc -b && node examples/raft/dist/single-node.js`, or through its test.
 */
import { decodeConfChange, EntryType, MemoryStorage, RawNode, SeededRandom } from '@hikarikeeper/raft';

export function runSingleNodeExample(log: (line: string) => void = console.log): number {
  const storage = new MemoryStorage();
  storage.bootstrap([1]); // a brand-new single-voter cluster
  const node = new RawNode({ id: 1, storage, random: new SeededRandom(42) });

  function drive(): void {
    while (node.hasReady()) {
      const rd = node.ready();
      // 1. persist: entries and hard state, atomically (synced when rd.mustSync)
      storage.append(rd.entries);
      if (rd.hardState) storage.setHardState(rd.hardState);
      // 2. send rd.messages to peers (none here)
      // 3. apply committed entries in order
      for (const e of rd.committedEntries) {
        if (e.type === EntryType.ConfChange) storage.setConfState(node.applyConfChange(decodeConfChange(e.data)));
        else if (e.data.length > 0) log(`applied ${new TextDecoder().decode(e.data)} at ${e.index}`);
      }
      node.advance();
    }
  }

  drive(); // applies the bootstrap membership
  node.campaign(); // or call node.tick() until it elects itself
  drive();
  const index = node.propose(new TextEncoder().encode('hello'));
  drive(); // prints "applied hello at 3"
  return index;
}

if (require.main === module) runSingleNodeExample();
