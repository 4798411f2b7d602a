import { chunkSnapshot, Message, MessageType, NodeId, SeededRandom } from '@hikarikeeper/raft';
import type { SnapshotChunk } from '@hikarikeeper/raft';

export interface NetworkFaults {
  /** Probability that a message is lost. */
  dropRate: number;
  /** Probability that a message is delivered twice. */
  duplicateRate: number;
  /** Delivery delay in steps, uniform in [delayMin, delayMax]: different delays reorder messages. */
  delayMin: number;
  delayMax: number;
}

export const CALM: NetworkFaults = { dropRate: 0, duplicateRate: 0, delayMin: 1, delayMax: 4 };

export type Delivery =
  | { readonly kind: 'message'; readonly m: Message }
  | { readonly kind: 'chunk'; readonly from: NodeId; readonly to: NodeId; readonly term: number; readonly chunk: SnapshotChunk }
  | { readonly kind: 'snapshot-status'; readonly leader: NodeId; readonly follower: NodeId; readonly ok: boolean };

/** Snapshot bytes per chunk in the simulator: small, so that snapshots take several chunks. */
export const SIM_CHUNK_BYTES = 512;

/**
 * The simulated network: every message is delayed, and may be dropped, duplicated or blocked by a
 * partition (a set of cut directed links, so partitions can be asymmetric). Snapshots travel as an
 * ordered stream of chunks, as over one TCP connection: a lost chunk fails the whole transfer, and
 * the sender learns the outcome (success or failure) as a transport would.
 */
export class SimNetwork {
  faults: NetworkFaults = CALM;
  private readonly cut = new Set<string>();
  private readonly queue = new Map<number, Delivery[]>();
  sent = 0;
  dropped = 0;

  constructor(private readonly rng: SeededRandom) {}

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut.has(`${from}>${to}`);
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}>${to}`);
  }

  healAll(): void {
    this.cut.clear();
  }

  /** Splits the nodes into groups that cannot talk to each other (symmetric). */
  partition(groups: NodeId[][]): void {
    for (const a of groups) {
      for (const b of groups) {
        if (a === b) continue;
        for (const x of a) for (const y of b) this.cutLink(x, y);
      }
    }
  }

  private delay(): number {
    const { delayMin, delayMax } = this.faults;
    return delayMin + this.rng.nextInt(delayMax - delayMin + 1);
  }

  private schedule(at: number, d: Delivery): void {
    const bucket = this.queue.get(at);
    if (bucket) bucket.push(d);
    else this.queue.set(at, [d]);
  }

  send(m: Message, now: number): void {
    this.sent++;
    if (m.type === MessageType.Snap && m.snapshot) {
      this.sendSnapshot(m, now);
      return;
    }
    if (this.isCut(m.from, m.to) || this.rng.chance(this.faults.dropRate)) {
      this.dropped++;
      return;
    }
    this.schedule(now + this.delay(), { kind: 'message', m });
    if (this.rng.chance(this.faults.duplicateRate)) this.schedule(now + this.delay(), { kind: 'message', m });
  }

  private sendSnapshot(m: Message, now: number): void {
    const chunks = chunkSnapshot(m.snapshot!, SIM_CHUNK_BYTES);
    let at = now;
    for (const chunk of chunks) {
      at += this.delay();
      if (this.isCut(m.from, m.to) || this.rng.chance(this.faults.dropRate)) {
        // The stream broke: the receiver has a partial snapshot, the sender learns of the failure.
        this.dropped++;
        this.schedule(at, { kind: 'snapshot-status', leader: m.from, follower: m.to, ok: false });
        return;
      }
      this.schedule(at, { kind: 'chunk', from: m.from, to: m.to, term: m.term, chunk });
    }
    this.schedule(at + this.delay(), { kind: 'snapshot-status', leader: m.from, follower: m.to, ok: true });
  }

  /** Removes and returns what is delivered at step `now`. */
  take(now: number): Delivery[] {
    const bucket = this.queue.get(now);
    if (!bucket) return [];
    this.queue.delete(now);
    return bucket;
  }
}
