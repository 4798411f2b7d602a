import { ConfState, Entry, HardState, Message, MessageType, message, NodeId, Ready, Role, SoftState } from './types';
import { invariant, RaftError, RaftErrorCode } from './errors';
import { Raft } from './raft';
import { RaftConfig } from './config';
import { ConfChange } from './conf-change';
import { validateMessage } from './validate';
import { Progress } from './progress';

export interface Status {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly firstIndex: number;
  readonly leader: NodeId;
  readonly role: Role;
  readonly leadTransferee: NodeId;
  readonly conf: ConfState;
  /** On a leader: every member's replication progress. */
  readonly progress: ReadonlyMap<NodeId, { match: number; next: number; state: string; recentActive: boolean }>;
}

/**
 * The application's handle on a Raft node (etcd's RawNode). Single-threaded and synchronous: feed it
 * input (`tick`, `step`, `propose`, `readIndex`, ...), then loop `while (hasReady()) { rd = ready();
 * persist, send, apply; advance(); }`. Exactly one Ready may be outstanding: `ready()` may not be
 * called again before `advance()`. Input may still be given between `ready()` and `advance()`.
 */
export class RawNode {
  private readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  private outstanding: Ready | null = null;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.prevSoft = this.softState();
    this.prevHard = this.raft.hardState();
  }

  get id(): NodeId {
    return this.raft.id;
  }

  /** Advances logical time by one tick (election and heartbeat timers are counted in ticks). */
  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (as if the election timeout had passed). */
  campaign(): void {
    this.raft.campaignNow();
  }

  /**
   * Feeds a message received from a peer. Malformed messages (a field out of range, misnumbered
   * entries, a local message type, a wrong recipient) throw RaftError(INVALID_ARGUMENT) and change
   * nothing.
   */
  step(m: Message): void {
    const problem = validateMessage(m, this.raft.id, this.raft.cfg.maxEntriesPerMsg);
    if (problem !== null) throw new RaftError(RaftErrorCode.INVALID_ARGUMENT, `message rejected: ${problem}`);
    this.raft.step(m);
  }

  /**
   * Proposes application entries (one entry per element). Returns the index of the first; the
   * proposal committed iff the entry applied at that index has the term `term()` had when proposing
   * (see ProposalTracker). Throws NOT_LEADER (with `leader`), PROPOSAL_DROPPED or TOO_LARGE.
   */
  propose(data: Uint8Array): number {
    return this.raft.propose([data]);
  }

  proposeBatch(datas: readonly Uint8Array[]): number {
    return this.raft.propose(datas);
  }

  /** Proposes a membership change (one pending at a time); returns its index. */
  proposeConfChange(cc: ConfChange): number {
    return this.raft.proposeConfChange(cc);
  }

  /** Applies a committed ConfChange entry; returns the membership to persist with the applied index. */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /**
   * Requests a linearizable read point. The answer is a ReadState with the same `context` in a later
   * Ready (or nothing, if leadership changes meanwhile: the caller times out and retries). Reads
   * issued between two Readys share one heartbeat round. Throws NOT_LEADER if no leader is known.
   */
  readIndex(context: string): void {
    this.raft.readIndex(context);
  }

  /** Asks the leader to hand leadership to `to` (a caught-up voter); proposals are refused meanwhile. */
  transferLeadership(to: NodeId): void {
    // `to` travels in the `from` field; NONE there would be read as "this node" when forwarded.
    if (!Number.isSafeInteger(to) || to <= 0) {
      throw new RaftError(RaftErrorCode.INVALID_ARGUMENT, `transferLeadership: ${to} is not a node id`);
    }
    this.raft.step(message({ type: MessageType.TransferLeader, to: this.raft.id, from: to }));
  }

  /** Tells the leader that a snapshot to `id` finished (ok) or failed. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.step(message({ type: MessageType.SnapStatus, to: this.raft.id, from: id, reject: !ok }));
  }

  /** Tells the leader that the last message to `id` could not be delivered. */
  reportUnreachable(id: NodeId): void {
    this.raft.step(message({ type: MessageType.Unreachable, to: this.raft.id, from: id }));
  }

  /**
   * The connection to `id` was lost (not merely a message dropped): a follower whose leader it is
   * campaigns soon instead of waiting out its election timeout (see Raft.leaderLost). Safe to call
   * for any id and in any role; it does nothing unless `id` leads this follower.
   */
  reportLeaderLost(id: NodeId): void {
    this.raft.leaderLost(id);
  }

  hasReady(): boolean {
    const r = this.raft;
    if (r.hasPendingFlush()) return true;
    if (r.msgs.length > 0 || r.readStates.length > 0) return true;
    const u = r.log.unstable;
    if (u.inProgress < u.entries.length || u.nextSnapshot() !== null) return true;
    if (this.outstanding === null && r.log.hasNextCommittedEntries()) return true;
    const soft = this.softState();
    if (soft.leader !== this.prevSoft.leader || soft.role !== this.prevSoft.role) return true;
    const hs = r.hardState();
    return !hardStateEqual(hs, this.prevHard);
  }

  /** Collects what the application must do now (see `Ready`). Call `advance()` when done. */
  ready(): Ready {
    invariant(this.outstanding === null, 'ready() called again before advance()');
    const r = this.raft;
    r.flush();
    const soft = this.softState();
    const hs = r.hardState();
    const entries = r.log.unstable.nextEntries();
    const snapshot = r.log.unstable.nextSnapshot();
    const committedEntries = r.log.nextCommittedEntries();
    const hardChanged = !hardStateEqual(hs, this.prevHard);
    const rd: Ready = {
      softState: soft.leader !== this.prevSoft.leader || soft.role !== this.prevSoft.role ? soft : null,
      hardState: hardChanged ? hs : null,
      entries,
      snapshot,
      committedEntries,
      messages: r.msgs,
      readStates: r.readStates,
      mustSync: entries.length > 0 || hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote || snapshot !== null,
    };
    r.msgs = [];
    r.readStates = [];
    r.log.unstable.acceptInProgress();
    if (committedEntries.length > 0) r.log.acceptApplying(committedEntries[committedEntries.length - 1].index);
    if (rd.softState) this.prevSoft = soft;
    if (hardChanged) this.prevHard = hs;
    this.outstanding = rd;
    return rd;
  }

  /** The application has persisted, sent and applied the last Ready. */
  advance(): void {
    const rd = this.outstanding;
    invariant(rd !== null, 'advance() without an outstanding ready()');
    this.outstanding = null;
    const r = this.raft;
    if (rd.snapshot) {
      const md = rd.snapshot.metadata;
      r.log.unstable.stableSnapTo(md.index);
      if (r.log.committed >= md.index && r.log.applied < md.index) r.log.appliedTo(md.index);
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      r.log.unstable.stableTo(last.index, last.term);
      r.onPersisted(last.index, last.term);
    }
    if (rd.committedEntries.length > 0) {
      const last: Entry = rd.committedEntries[rd.committedEntries.length - 1];
      r.log.appliedTo(last.index);
      r.onApplied(rd.committedEntries);
    }
  }

  /**
   * Pipelined persistence (instead of `advance()`): the application has sent the early messages,
   * applied the committed entries and handed the Ready's entries and hard state to storage, but they
   * are not durable yet. The next `ready()` may be taken at once; the new entries stay in the
   * unstable log (the node reads them from there) until `persisted()` says they are on disk. Nothing
   * durable is assumed before then: a leader counts itself for a commit only after `persisted()`,
   * and the application holds back the Ready's late messages (votes, append responses) until its
   * write is done. Writes must reach disk in Ready order. A Ready with a snapshot must use `advance()`.
   */
  advanceSubmitted(): void {
    const rd = this.outstanding;
    invariant(rd !== null, 'advanceSubmitted() without an outstanding ready()');
    invariant(rd.snapshot === null, 'a Ready with a snapshot must be persisted before advance()');
    this.outstanding = null;
    const r = this.raft;
    if (rd.committedEntries.length > 0) {
      const last: Entry = rd.committedEntries[rd.committedEntries.length - 1];
      r.log.appliedTo(last.index);
      r.onApplied(rd.committedEntries);
    }
  }

  /**
   * Entries up to `index` (of `term`), handed out by earlier Readys, are durable. An entry replaced
   * meanwhile (another term at `index`) is ignored: its replacement will be reported in turn.
   */
  persisted(index: number, term: number): void {
    const r = this.raft;
    r.log.unstable.stableTo(index, term);
    r.onPersisted(index, term);
  }

  /** The term this node is in now: a proposal made now carries it. */
  term(): number {
    return this.raft.term;
  }

  /** The term of the entry at `index` in this node's log (durable or not), or 0 if not held. */
  logTerm(index: number): number {
    return this.raft.log.term(index);
  }

  /** The commit index this node knows (cheap, unlike `status()`, which builds the leader's progress map). */
  commitIndex(): number {
    return this.raft.log.committed;
  }

  isLeader(): boolean {
    return this.raft.role === Role.Leader;
  }

  leader(): NodeId {
    return this.raft.lead;
  }

  status(): Status {
    const r = this.raft;
    const progress = new Map<NodeId, { match: number; next: number; state: string; recentActive: boolean }>();
    if (r.role === Role.Leader) {
      for (const [id, pr] of r.prs.progress) progress.set(id, describe(pr));
    }
    return {
      id: r.id, term: r.term, vote: r.vote, commit: r.log.committed, applied: r.log.applied,
      lastIndex: r.log.lastIndex(), firstIndex: r.log.firstIndex(), leader: r.lead, role: r.role,
      leadTransferee: r.leadTransferee, conf: r.prs.confState(), progress,
    };
  }

  private softState(): SoftState {
    return { leader: this.raft.lead, role: this.raft.role };
  }
}

function describe(pr: Progress): { match: number; next: number; state: string; recentActive: boolean } {
  return { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive };
}

function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
