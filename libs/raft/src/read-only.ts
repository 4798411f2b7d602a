import { NodeId } from './types';
import { invariant } from './errors';

/** A linearizable read waiting for a quorum to confirm that the leader still leads. */
export interface PendingRead {
  readonly context: string;
  /** The commit index when the read arrived: the read may be served once this is applied. */
  readonly index: number;
  /** Who asked: the leader itself, or a follower that forwarded the read. */
  readonly from: NodeId;
  readonly acks: Set<NodeId>;
}

/**
 * The ReadIndex queue (Raft thesis §6.4). Reads are batched: all reads queued before a heartbeat
 * round carrying context C are confirmed together when a quorum acknowledges C, because that round
 * started after each of them arrived.
 */
export class ReadOnlyQueue {
  private readonly pending = new Map<string, PendingRead>();
  private queue: PendingRead[] = [];
  /** The context of the newest read not yet carried by a heartbeat round. */
  unsentContext = '';

  constructor(readonly maxPending: number) {}

  get size(): number {
    return this.queue.length;
  }

  has(context: string): boolean {
    return this.pending.has(context);
  }

  add(context: string, index: number, from: NodeId): void {
    invariant(context.length > 0, 'a read index context must not be empty');
    if (this.pending.has(context)) return;
    const read: PendingRead = { context, index, from, acks: new Set() };
    this.pending.set(context, read);
    this.queue.push(read);
    this.unsentContext = context;
  }

  /** Records that `id` answered the heartbeat round of `context`; returns who acknowledged it. */
  recvAck(id: NodeId, context: string): ReadonlySet<NodeId> | undefined {
    const read = this.pending.get(context);
    if (!read) return undefined;
    read.acks.add(id);
    return read.acks;
  }

  /** Removes and returns every read up to and including `context`. */
  advance(context: string): PendingRead[] {
    const at = this.queue.findIndex((r) => r.context === context);
    if (at < 0) return [];
    const done = this.queue.slice(0, at + 1);
    this.queue = this.queue.slice(at + 1);
    for (const r of done) this.pending.delete(r.context);
    if (this.queue.length === 0) this.unsentContext = '';
    return done;
  }
}
