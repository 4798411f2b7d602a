import { Entry, NodeId, RawNode } from '@hikarikeeper/raft';
import type { SimNode } from './sim-node';

/**
 * Raft's safety properties (Figure 3 of the paper), checked as the simulation runs:
 * - Election safety: at most one leader per term.
 * - State machine safety: every node applies the same entry at a given index.
 * - Leader completeness: a new leader's log holds every entry known to be committed.
 * - Log matching: two logs with the same term at an index hold the same entries up to it.
 * - Applied entries are never lost: the committed prefix only grows.
 * A violation is recorded (with the step it happened at), never thrown, so the run can report all.
 */
export class SafetyChecker {
  readonly violations: string[] = [];
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** Every entry applied by some node: index → term and payload. Applied implies committed. */
  private readonly committed = new Map<number, { term: number; data: string }>();
  maxCommitted = 0;

  constructor(private readonly now: () => number) {}

  private fail(what: string): void {
    if (this.violations.length < 20) this.violations.push(`step ${this.now()}: ${what}`);
  }

  onLeader(node: SimNode, term: number): void {
    const other = this.leaderOfTerm.get(term);
    if (other !== undefined && other !== node.id) {
      this.fail(`election safety: n${other} and n${node.id} are both leaders of term ${term}`);
    }
    this.leaderOfTerm.set(term, node.id);
    if (node.raw) this.checkLeaderCompleteness(node.id, node.raw, node.storage.firstIndex());
  }

  private checkLeaderCompleteness(id: NodeId, raw: RawNode, firstIndex: number): void {
    const last = raw.status().lastIndex;
    if (last < this.maxCommitted) {
      this.fail(`leader completeness: leader n${id} ends at ${last}, but ${this.maxCommitted} is committed`);
      return;
    }
    for (let i = Math.max(firstIndex, 1); i <= this.maxCommitted; i++) {
      const c = this.committed.get(i);
      if (c && raw.logTerm(i) !== c.term) {
        this.fail(`leader completeness: leader n${id} has term ${raw.logTerm(i)} at ${i}, committed term is ${c.term}`);
        return;
      }
    }
  }

  onApply(node: SimNode, e: Entry): void {
    const data = Buffer.from(e.data).toString('base64');
    const c = this.committed.get(e.index);
    if (!c) {
      this.committed.set(e.index, { term: e.term, data });
      if (e.index > this.maxCommitted) this.maxCommitted = e.index;
    } else if (c.term !== e.term || c.data !== data) {
      this.fail(`state machine safety: n${node.id} applied term ${e.term} at ${e.index}, another node applied term ${c.term}`);
    }
  }

  /** A node installed a snapshot: its state at `index` must be the committed prefix up to `index`. */
  onSnapshotInstalled(node: SimNode, index: number): void {
    if (index > this.maxCommitted + 0 && this.committed.size > 0 && !this.committed.has(index)) {
      // A snapshot can only be taken of applied (so committed) state; someone applied `index` then.
      this.fail(`snapshot safety: n${node.id} installed a snapshot at ${index} that no node applied`);
    }
  }

  /** Log matching over the durable logs of every pair of nodes. */
  checkLogMatching(nodes: readonly SimNode[]): void {
    for (let a = 0; a < nodes.length; a++) {
      for (let b = a + 1; b < nodes.length; b++) {
        const x = nodes[a].storage;
        const y = nodes[b].storage;
        const lo = Math.max(x.firstIndex(), y.firstIndex());
        const hi = Math.min(x.lastIndex(), y.lastIndex());
        // Find the highest index where the terms agree; everything below must agree too.
        let agreed = false;
        for (let i = hi; i >= lo; i--) {
          const tx = x.term(i);
          const ty = y.term(i);
          if (!agreed && tx === ty) agreed = true;
          if (agreed) {
            const ex = x.entries(i, i + 1, Infinity)[0];
            const ey = y.entries(i, i + 1, Infinity)[0];
            if (tx !== ty || Buffer.compare(Buffer.from(ex.data), Buffer.from(ey.data)) !== 0) {
              this.fail(`log matching: n${nodes[a].id} and n${nodes[b].id} differ at ${i} below a matching entry`);
              return;
            }
          }
        }
      }
    }
  }

  /** Every node's applied prefix agrees with the committed record (no committed entry lost). */
  checkCommittedPrefix(nodes: readonly SimNode[]): void {
    for (const n of nodes) {
      const lo = Math.max(n.storage.firstIndex(), 1);
      const hi = Math.min(n.storage.lastIndex(), n.sm.applied);
      for (let i = lo; i <= hi; i++) {
        const c = this.committed.get(i);
        if (c && n.storage.term(i) !== c.term) {
          this.fail(`durability: n${n.id} holds term ${n.storage.term(i)} at applied index ${i}, committed term is ${c.term}`);
          return;
        }
      }
    }
  }
}
