import {
  ConfState, Entry, EntryType, entrySize, Message, message, MessageType, NodeId, NONE, ReadState, Role, Snapshot,
} from './types';
import { invariant, RaftError, RaftErrorCode } from './errors';
import { RaftLog } from './raft-log';
import { ProgressTracker } from './tracker';
import { Progress, ProgressState } from './progress';
import { ReadOnlyQueue } from './read-only';
import { VoteResult } from './quorum';
import { applyToConfState, ConfChange, encodeConfChange } from './conf-change';
import { RaftConfig, ResolvedConfig, resolveConfig } from './config';

/** The context of a vote request made on a leader's behalf (TimeoutNow): it bypasses the lease. */
export const CAMPAIGN_TRANSFER = 'transfer';

enum CampaignType {
  PreElection,
  Election,
  Transfer,
}

/**
 * The Raft state machine (etcd's `raft` struct). Not used directly by applications: `RawNode` wraps it
 * with the Ready/advance protocol. Everything here is synchronous and deterministic: input arrives via
 * `tick`, `step`, `propose*`, `readIndex`; output accumulates in `msgs` and `readStates` and the log.
 */
export class Raft {
  readonly id: NodeId;
  readonly cfg: ResolvedConfig;
  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  role = Role.Follower;
  readonly log: RaftLog;
  readonly prs: ProgressTracker;
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  isLearner = false;

  /** Ticks since the last election timeout reset (followers/candidates) or CheckQuorum round (leader). */
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  /** The member a leadership transfer is handing over to, or NONE. */
  leadTransferee: NodeId = NONE;
  /** Index of the latest membership change the leader appended; another waits until it is applied. */
  private pendingConfIndex = 0;
  /** Bytes of entries appended by this leader and not yet applied. */
  private uncommittedBytes = 0;
  private readOnly: ReadOnlyQueue;
  /** Proposals were appended and not yet sent to followers (see `flush`). */
  private appendsPending = false;
  /** Reads that arrived before this leader committed an entry of its own term. */
  private pendingReadsBeforeCommit: Array<{ context: string; from: NodeId }> = [];

  private stepRole: (m: Message) => void;
  private tickRole: () => void;

  constructor(config: RaftConfig) {
    this.cfg = resolveConfig(config);
    this.id = config.id;
    this.log = new RaftLog(config.storage, this.cfg.maxApplyBytes);
    this.prs = new ProgressTracker(this.cfg.maxInflightMsgs, this.cfg.maxInflightBytes);
    this.readOnly = new ReadOnlyQueue(this.cfg.maxPendingReads);
    const { hardState, confState } = config.storage.initialState();
    const snapshotConf = config.storage.snapshot().metadata.confState;
    const cs = confState.voters.length + confState.learners.length > 0 ? confState : snapshotConf;
    this.prs.setConfig(cs, this.log.lastIndex() + 1);
    this.isLearner = this.prs.isLearner(this.id);
    if (hardState.term > 0 || hardState.commit > 0) {
      invariant(
        hardState.commit >= this.log.committed && hardState.commit <= this.log.lastIndex(),
        () => `hard state commit ${hardState.commit} out of [${this.log.committed}, ${this.log.lastIndex()}]`,
      );
      this.log.committed = hardState.commit;
      this.term = hardState.term;
      this.vote = hardState.vote;
    }
    if (this.cfg.applied > 0) this.log.appliedTo(Math.min(this.cfg.applied, this.log.committed));
    this.stepRole = this.stepFollower;
    this.tickRole = this.tickElection;
    this.becomeFollower(this.term, NONE);
  }

  // ---------------------------------------------------------------- roles

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = NONE;
    this.prs.resetVotes();
    const next = this.log.lastIndex() + 1;
    for (const [id, pr] of this.prs.progress) {
      const fresh = new Progress(next, this.cfg.maxInflightMsgs, this.cfg.maxInflightBytes, pr.isLearner);
      if (id === this.id) fresh.match = this.persistedIndex();
      this.prs.progress.set(id, fresh);
    }
    this.pendingConfIndex = 0;
    this.uncommittedBytes = 0;
    this.readOnly = new ReadOnlyQueue(this.cfg.maxPendingReads);
    this.pendingReadsBeforeCommit = [];
  }

  /** The last index known durable here: everything before the unstable tail. */
  private persistedIndex(): number {
    if (this.log.unstable.snapshot) return this.log.storage.lastIndex();
    return Math.min(this.log.unstable.offset - 1, this.log.lastIndex());
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.stepRole = this.stepFollower;
    this.tickRole = this.tickElection;
    this.reset(term);
    this.lead = lead;
    this.role = Role.Follower;
  }

  private becomeCandidate(): void {
    invariant(this.role !== Role.Leader, 'a leader cannot become a candidate');
    this.stepRole = this.stepCandidate;
    this.tickRole = this.tickElection;
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = Role.Candidate;
  }

  private becomePreCandidate(): void {
    invariant(this.role !== Role.Leader, 'a leader cannot become a pre-candidate');
    // PreVote changes neither term nor vote: a node that cannot win disturbs nobody.
    this.stepRole = this.stepCandidate;
    this.tickRole = this.tickElection;
    this.prs.resetVotes();
    this.lead = NONE;
    this.role = Role.PreCandidate;
  }

  private becomeLeader(): void {
    invariant(this.role !== Role.Follower, 'a follower cannot become leader without an election');
    this.stepRole = this.stepLeader;
    this.tickRole = this.tickHeartbeat;
    this.reset(this.term);
    this.lead = this.id;
    this.role = Role.Leader;
    const self = this.prs.progress.get(this.id);
    if (self) {
      self.becomeReplicate();
      self.recentActive = true;
    }
    // The no-op entry: committing it commits every earlier entry (§5.4.2) and enables ReadIndex.
    const ok = this.appendEntries([{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) }], false);
    invariant(ok, 'the empty no-op entry must always be accepted');
    // No membership change until everything up to and including the no-op is applied: everything
    // before this term, and (Ongaro's fix for single-server changes) an entry of this term committed.
    this.pendingConfIndex = this.log.lastIndex();
  }

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.cfg.electionTicks + this.cfg.random.nextInt(this.cfg.electionTicks);
  }

  /** A voter that is in its own configuration may campaign. */
  private promotable(): boolean {
    const pr = this.prs.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.log.unstable.snapshot;
  }

  // ---------------------------------------------------------------- ticks

  tick(): void {
    this.tickRole();
  }

  private tickElection = (): void => {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(this.cfg.preVote ? CampaignType.PreElection : CampaignType.Election);
    }
  };

  private tickHeartbeat = (): void => {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) this.checkQuorum();
      // A transfer that has not finished within an election timeout is abandoned.
      if (this.role === Role.Leader && this.leadTransferee !== NONE) this.leadTransferee = NONE;
    }
    if (this.role !== Role.Leader) return;
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(this.readOnly.unsentContext);
      this.readOnly.unsentContext = '';
    }
  };

  /** CheckQuorum: a leader that has not heard from a majority within an election timeout steps down. */
  private checkQuorum(): void {
    if (this.role !== Role.Leader) return;
    const self = this.prs.progress.get(this.id);
    if (self) self.recentActive = true;
    if (!this.prs.quorumActive()) {
      this.becomeFollower(this.term, NONE);
      return;
    }
    for (const [id, pr] of this.prs.progress) if (id !== this.id) pr.recentActive = false;
  }

  // ---------------------------------------------------------------- elections

  /** Starts an election (the local MsgHup), unless this node may not or should not. */
  hup(type: CampaignType = this.cfg.preVote ? CampaignType.PreElection : CampaignType.Election): void {
    if (this.role === Role.Leader) return;
    if (!this.promotable()) return;
    // A node that has committed but unapplied membership changes does not know its true config yet.
    if (this.hasUnappliedConfChanges()) return;
    this.campaign(type);
  }

  campaignNow(): void {
    this.hup();
  }

  private hasUnappliedConfChanges(): boolean {
    if (this.log.applied >= this.log.committed) return false;
    let lo = Math.max(this.log.applied + 1, this.log.firstIndex());
    const hi = this.log.committed + 1;
    while (lo < hi) {
      const ents = this.log.slice(lo, hi, this.cfg.maxApplyBytes);
      for (const e of ents) if (e.type === EntryType.ConfChange) return true;
      lo += ents.length;
    }
    return false;
  }

  private campaign(type: CampaignType): void {
    let voteType: MessageType;
    let term: number;
    if (type === CampaignType.PreElection) {
      this.becomePreCandidate();
      voteType = MessageType.PreVote;
      term = this.term + 1; // the term it would campaign in
    } else {
      this.becomeCandidate();
      voteType = MessageType.Vote;
      term = this.term;
    }
    this.prs.recordVote(this.id, true);
    if (this.prs.tallyVotes() === VoteResult.Won) {
      // A single-voter cluster wins at once.
      if (type === CampaignType.PreElection) this.campaign(CampaignType.Election);
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.prs.voters) {
      if (id === this.id) continue;
      this.send(message({
        type: voteType, to: id, term, index: lastIndex, logTerm: lastTerm,
        context: type === CampaignType.Transfer ? CAMPAIGN_TRANSFER : '',
      }));
    }
  }

  /**
   * The connection to `id` broke (a transport's report, e.g. its TCP connection was closed by a
   * process that died). If `id` is this follower's leader, the follower stops honouring the leader's
   * lease — it grants pre-votes — and campaigns within 1 to electionTicks/2 ticks (randomized, so that
   * the survivors rarely split their votes) instead of after a whole election timeout. Harmless when
   * the leader lives: the pre-election needs a majority, and the leader and every follower still in
   * touch with it refuse (they are within its lease); hearing from the leader again resets the timer.
   */
  leaderLost(id: NodeId): void {
    if (this.role !== Role.Follower || id === NONE || this.lead !== id) return;
    const soon = 1 + this.cfg.random.nextInt(Math.max(1, Math.floor(this.cfg.electionTicks / 2)));
    this.electionElapsed = Math.max(this.electionElapsed, this.cfg.electionTicks);
    this.randomizedElectionTimeout = this.electionElapsed + soon;
  }

  // ---------------------------------------------------------------- step

  /** Feeds one message to the state machine. Network messages must be validated first. */
  step(m: Message): void {
    if (m.term === 0) {
      // Local message (or ReadIndex/TransferLeader forwarded with no term).
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = m.context === CAMPAIGN_TRANSFER;
        const inLease = this.cfg.checkQuorum && this.lead !== NONE && this.electionElapsed < this.cfg.electionTicks;
        // Within the lease, a node that hears from a live leader ignores disruptive candidates.
        if (!force && inLease) return;
      }
      if (m.type === MessageType.PreVote) {
        // Never change the term on a PreVote.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // The term is taken when the pre-election wins.
      } else if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.App)) {
        // A stale leader (e.g. after a partition healed) learns the newer term and steps down. Without
        // this, with PreVote the partitioned node could never rejoin.
        this.send(message({ type: MessageType.AppResp, to: m.from, term: this.term }));
      } else if (m.type === MessageType.PreVote) {
        this.send(message({ type: MessageType.PreVoteResp, to: m.from, term: this.term, reject: true }));
      }
      return;
    }

    switch (m.type) {
      case MessageType.Hup:
        this.hup();
        return;
      case MessageType.Vote:
      case MessageType.PreVote: {
        const faults = this.cfg.unsafeTestingFaults;
        const canVote =
          this.vote === m.from ||
          (this.vote === NONE && this.lead === NONE) ||
          (m.type === MessageType.PreVote && m.term > this.term) ||
          (faults.voteTwice === true && m.type === MessageType.Vote);
        const respType = m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp;
        if (canVote && (faults.skipLogCheckOnVote === true || this.log.isUpToDate(m.index, m.logTerm))) {
          // The response carries the request's term: for a PreVote that is the future term.
          this.send(message({ type: respType, to: m.from, term: m.term }));
          if (m.type === MessageType.Vote) {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          this.send(message({ type: respType, to: m.from, term: this.term, reject: true }));
        }
        return;
      }
      default:
        this.stepRole(m);
    }
  }

  private stepLeader = (m: Message): void => {
    switch (m.type) {
      case MessageType.Beat:
        this.bcastHeartbeat('');
        return;
      case MessageType.CheckQuorum:
        this.checkQuorum();
        return;
      case MessageType.ReadIndex:
        this.handleReadIndexAsLeader(m.context, m.from === NONE ? this.id : m.from);
        return;
    }
    const pr = this.prs.progress.get(m.from);
    if (!pr) return; // not a member: responses from strangers are ignored
    switch (m.type) {
      case MessageType.AppResp:
        this.handleAppendResponse(m, pr);
        return;
      case MessageType.HeartbeatResp:
        this.handleHeartbeatResponse(m, pr);
        return;
      case MessageType.SnapStatus:
        if (pr.state !== ProgressState.Snapshot) return;
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Wait for the next heartbeat response before probing again.
        pr.paused = true;
        return;
      case MessageType.Unreachable:
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        return;
      case MessageType.TransferLeader:
        this.handleTransferLeader(m.from, pr);
        return;
    }
  };

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      let nextProbe = m.rejectHint;
      if (m.logTermHint > 0) nextProbe = this.log.findConflictByTerm(m.rejectHint, m.logTermHint).index;
      if (pr.maybeDecrTo(m.index, nextProbe)) {
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === ProgressState.Probe)) {
      if (pr.state === ProgressState.Probe) {
        pr.becomeReplicate();
      } else if (pr.state === ProgressState.Snapshot && pr.match + 1 >= this.log.firstIndex()) {
        // The follower caught up past the snapshot (it may have received entries meanwhile).
        pr.becomeProbe();
        pr.becomeReplicate();
      } else if (pr.state === ProgressState.Replicate) {
        pr.inflights.freeLE(m.index);
      }
      if (this.maybeCommit()) {
        this.bcastAppend();
      } else if (wasPaused) {
        this.sendAppend(m.from);
      }
      // Pipelining: keep the window full while there is more to send.
      while (this.maybeSendAppend(m.from, false)) { /* send until paused or caught up */ }
      if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
        this.sendTimeoutNow(m.from);
      }
    }
  }

  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.paused = false;
    if (pr.state === ProgressState.Replicate && pr.inflights.isFull()) pr.inflights.freeFirstOne();
    if (pr.match < this.log.lastIndex() || pr.state === ProgressState.Probe) this.sendAppend(m.from);
    if (m.context === '') return;
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (!acks) return;
    let granted = 0;
    for (const id of this.prs.voters) if (acks.has(id)) granted++;
    if (granted < Math.floor(this.prs.voters.length / 2) + 1) return;
    for (const read of this.readOnly.advance(m.context)) this.respondToRead(read.context, read.index, read.from);
  }

  private handleTransferLeader(transferee: NodeId, pr: Progress): void {
    if (pr.isLearner) return;
    if (this.leadTransferee !== NONE) {
      if (this.leadTransferee === transferee) return;
      this.leadTransferee = NONE;
    }
    if (transferee === this.id) return;
    // The transfer must finish within an election timeout or it is abandoned (see tickHeartbeat).
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(transferee);
    else this.sendAppend(transferee);
  }

  private stepCandidate = (m: Message): void => {
    const myRespType = this.role === Role.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case myRespType: {
        if (!this.prs.isVoter(m.from)) return;
        this.prs.recordVote(m.from, !m.reject);
        const result = this.prs.tallyVotes();
        if (result === VoteResult.Won) {
          if (this.role === Role.PreCandidate) {
            this.campaign(CampaignType.Election);
          } else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === VoteResult.Lost) {
          // A lost pre-election leaves the term as it was; a lost election keeps the new term.
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
    }
  };

  private stepFollower = (m: Message): void => {
    switch (m.type) {
      case MessageType.App:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.TransferLeader:
        // A transfer to the current leader is a no-op (forwarded, it would reach the leader as a
        // message "from itself", which validation rejects).
        if (this.lead === NONE || m.from === this.lead) return;
        this.send(message({ type: MessageType.TransferLeader, to: this.lead, from: m.from }));
        return;
      case MessageType.TimeoutNow:
        // The leader hands over: campaign now, skipping PreVote and the lease of the other nodes.
        this.hup(CampaignType.Transfer);
        return;
      case MessageType.ReadIndex:
        // Keep the asker in `from` when passing on a read forwarded to us, so that the answer goes
        // to it; one that would go back to the asker, now the leader, is dropped (it retries).
        if (this.lead === NONE || m.from === this.lead) return;
        this.send(message({ type: MessageType.ReadIndex, to: this.lead, from: m.from, context: m.context }));
        return;
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index, context: m.context });
        return;
    }
  };

  // ---------------------------------------------------------------- follower handlers

  private handleAppendEntries(m: Message): void {
    if (m.index < this.log.committed) {
      this.send(message({ type: MessageType.AppResp, to: m.from, term: this.term, index: this.log.committed }));
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send(message({ type: MessageType.AppResp, to: m.from, term: this.term, index: lastNew }));
      return;
    }
    // Fast backtracking: point the leader at the last entry that can possibly match.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send(message({
      type: MessageType.AppResp, to: m.from, term: this.term, index: m.index, reject: true,
      rejectHint: hint.index, logTermHint: hint.term,
    }));
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send(message({ type: MessageType.HeartbeatResp, to: m.from, term: this.term, context: m.context }));
  }

  private handleSnapshot(m: Message): void {
    const snap = m.snapshot as Snapshot;
    if (this.restore(snap)) {
      this.send(message({ type: MessageType.AppResp, to: m.from, term: this.term, index: this.log.lastIndex() }));
    } else {
      this.send(message({ type: MessageType.AppResp, to: m.from, term: this.term, index: this.log.committed }));
    }
  }

  /** Installs a snapshot from the leader; false if it brings nothing new. */
  private restore(snap: Snapshot): boolean {
    const md = snap.metadata;
    if (md.index <= this.log.committed) return false;
    if (this.role !== Role.Follower) {
      // Only a leader of a newer term sends snapshots; a non-follower here is a broken invariant
      // elsewhere. Stepping down is the safe reaction.
      this.becomeFollower(this.term + 1, NONE);
      return false;
    }
    if (this.log.matchTerm(md.index, md.term)) {
      // We have the snapshot's last entry: just move the commit index.
      this.log.commitTo(md.index);
      return false;
    }
    this.log.restore(snap);
    this.prs.setConfig(md.confState, this.log.lastIndex() + 1);
    this.isLearner = this.prs.isLearner(this.id);
    return true;
  }

  // ---------------------------------------------------------------- leader: replication

  private send(m: Message): void {
    const from = m.from === NONE ? this.id : m.from;
    this.msgs.push(from === m.from ? m : { ...m, from });
  }

  /** Appends entries to the leader's log, numbering them; false if over the uncommitted limit. */
  private appendEntries(ents: Entry[], countSize: boolean): boolean {
    let last = this.log.lastIndex();
    let bytes = 0;
    const numbered: Entry[] = new Array(ents.length);
    for (let i = 0; i < ents.length; i++) {
      const e = ents[i];
      numbered[i] = { term: this.term, index: ++last, type: e.type, data: e.data };
      bytes += entrySize(e);
    }
    if (countSize) {
      if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.cfg.maxUncommittedBytes) return false;
      this.uncommittedBytes += bytes;
    }
    this.log.append(numbered);
    return true;
  }

  /** Called when entries up to (`index`, `term`) are durable on this node. */
  onPersisted(index: number, term: number): void {
    if (this.role !== Role.Leader || this.log.term(index) !== term) return;
    const self = this.prs.progress.get(this.id);
    if (!self) return;
    self.maybeUpdate(index);
    if (this.maybeCommit()) this.bcastAppend();
  }

  /** Forgets the size of applied entries in the uncommitted budget. */
  onApplied(ents: readonly Entry[]): void {
    if (this.role !== Role.Leader || this.uncommittedBytes === 0) return;
    let bytes = 0;
    // Every applied entry counts, empty ones included: a proposal of empty data was charged
    // entrySize() when appended. (The no-op, never charged, is over-subtracted; the clamp absorbs it.)
    for (const e of ents) bytes += entrySize(e);
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes - bytes);
  }

  private maybeCommit(): boolean {
    const wasInTerm = this.committedEntryInCurrentTerm();
    if (this.cfg.unsafeTestingFaults.commitOldTerm === true) {
      const index = Math.min(this.prs.committed(), this.log.lastIndex());
      if (index <= this.log.committed) return false;
      this.log.commitTo(index);
      return true;
    }
    if (!this.log.maybeCommit(this.prs.committed(), this.term)) return false;
    if (!wasInTerm && this.committedEntryInCurrentTerm()) this.releaseReadsBeforeCommit();
    return true;
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  bcastAppend(): void {
    for (const id of this.prs.progress.keys()) {
      if (id !== this.id) this.sendAppend(id);
    }
  }

  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends the next entries (or a snapshot) to `to` if its progress allows. With `sendIfEmpty` an
   * empty append is sent too (to carry the commit index or probe). Returns whether it sent.
   */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    if (pr.next < this.log.firstIndex()) return this.sendSnapshot(to, pr);
    const ents = this.log.entriesFrom(pr.next, this.cfg.maxMsgBytes);
    if (ents.length === 0 && !sendIfEmpty) return false;
    let bytes = 0;
    for (const e of ents) bytes += entrySize(e);
    this.send(message({
      type: MessageType.App, to, term: this.term, index: prevIndex, logTerm: this.log.term(prevIndex),
      entries: ents, commit: this.log.committed,
    }));
    pr.sentEntries(ents.length, bytes);
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    // Only a follower we heard from recently gets a (possibly large) snapshot.
    if (!pr.recentActive) return false;
    const snap = this.log.snapshot();
    invariant(snap.metadata.index > 0, 'a compacted log must have a snapshot');
    pr.becomeSnapshot(snap.metadata.index);
    this.send(message({ type: MessageType.Snap, to, term: this.term, snapshot: snap }));
    return true;
  }

  private bcastHeartbeat(context: string): void {
    for (const [id, pr] of this.prs.progress) {
      if (id === this.id) continue;
      // Never tell a follower a commit index past what it is known to hold.
      const commit = Math.min(pr.match, this.log.committed);
      this.send(message({ type: MessageType.Heartbeat, to: id, term: this.term, commit, context }));
    }
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(message({ type: MessageType.TimeoutNow, to, term: this.term }));
  }

  // ---------------------------------------------------------------- proposals

  /** Appends `datas` as normal entries; returns the index of the first. Throws if not accepted. */
  propose(datas: readonly Uint8Array[]): number {
    this.checkCanPropose();
    if (datas.length === 0) throw new RaftError(RaftErrorCode.INVALID_ARGUMENT, 'nothing to propose');
    if (datas.length > this.cfg.maxProposalEntries) {
      throw new RaftError(RaftErrorCode.TOO_LARGE, `${datas.length} entries in one proposal; the limit is ${this.cfg.maxProposalEntries}`);
    }
    const ents: Entry[] = new Array(datas.length);
    for (let i = 0; i < datas.length; i++) {
      const data = datas[i];
      if (data.length > this.cfg.maxEntryBytes) {
        throw new RaftError(RaftErrorCode.TOO_LARGE, `an entry of ${data.length} bytes; the limit is ${this.cfg.maxEntryBytes}`);
      }
      ents[i] = { term: 0, index: 0, type: EntryType.Normal, data };
    }
    const first = this.log.lastIndex() + 1;
    if (!this.appendEntries(ents, true)) {
      throw new RaftError(RaftErrorCode.PROPOSAL_DROPPED, 'too many uncommitted entries; retry later', this.lead);
    }
    // Sent at the next flush, so that all proposals until then share one message per follower.
    this.appendsPending = true;
    return first;
  }

  /** Appends a membership change; returns its index. Only one may be pending at a time. */
  proposeConfChange(cc: ConfChange): number {
    this.checkCanPropose();
    if (this.pendingConfIndex > this.log.applied) {
      throw new RaftError(RaftErrorCode.CONF_CHANGE_PENDING, `the change at ${this.pendingConfIndex} is not applied yet (applied ${this.log.applied})`);
    }
    applyToConfState(this.prs.confState(), cc); // throws INVALID_ARGUMENT for a change that cannot apply
    const data = encodeConfChange(cc);
    const index = this.log.lastIndex() + 1;
    if (!this.appendEntries([{ term: 0, index: 0, type: EntryType.ConfChange, data }], true)) {
      throw new RaftError(RaftErrorCode.PROPOSAL_DROPPED, 'too many uncommitted entries; retry later', this.lead);
    }
    this.pendingConfIndex = index;
    this.appendsPending = true;
    return index;
  }

  private checkCanPropose(): void {
    if (this.role !== Role.Leader) throw new RaftError(RaftErrorCode.NOT_LEADER, `node ${this.id} is not the leader`, this.lead);
    if (!this.prs.isMember(this.id)) throw new RaftError(RaftErrorCode.NOT_LEADER, `node ${this.id} was removed`, NONE);
    if (this.leadTransferee !== NONE) {
      throw new RaftError(RaftErrorCode.PROPOSAL_DROPPED, `leadership is being transferred to ${this.leadTransferee}`, this.leadTransferee);
    }
  }

  // ---------------------------------------------------------------- reads

  /** Asks for a linearizable read point; the answer arrives as a ReadState in a later Ready. */
  readIndex(context: string): void {
    if (context.length === 0) throw new RaftError(RaftErrorCode.INVALID_ARGUMENT, 'a read needs a non-empty context');
    if (this.role === Role.Leader) {
      this.handleReadIndexAsLeader(context, this.id);
      return;
    }
    if (this.lead === NONE) throw new RaftError(RaftErrorCode.NOT_LEADER, 'no leader known to confirm the read', NONE);
    this.send(message({ type: MessageType.ReadIndex, to: this.lead, context }));
  }

  private handleReadIndexAsLeader(context: string, from: NodeId): void {
    if (this.prs.voters.length === 1 && this.prs.isVoter(this.id)) {
      // A single voter is its own quorum; still wait for its first commit (below).
      if (this.committedEntryInCurrentTerm()) {
        this.respondToRead(context, this.log.committed, from);
        return;
      }
    }
    if (!this.committedEntryInCurrentTerm()) {
      // Until its no-op commits, a new leader does not know the latest commit index (§6.4 step 1).
      if (this.pendingReadsBeforeCommit.length >= this.cfg.maxPendingReads) return;
      this.pendingReadsBeforeCommit.push({ context, from });
      return;
    }
    if (this.readOnly.size >= this.cfg.maxPendingReads) return; // the caller times out and retries
    this.readOnly.add(context, this.log.committed, from);
    this.readOnly.recvAck(this.id, context);
  }

  private releaseReadsBeforeCommit(): void {
    const reads = this.pendingReadsBeforeCommit;
    this.pendingReadsBeforeCommit = [];
    for (const r of reads) this.handleReadIndexAsLeader(r.context, r.from);
  }

  private respondToRead(context: string, index: number, from: NodeId): void {
    if (from === this.id) this.readStates.push({ index, context });
    else this.send(message({ type: MessageType.ReadIndexResp, to: from, term: this.term, index, context }));
  }

  /**
   * The batching point, called before a Ready is collected: sends the appends for proposals made
   * since the last flush (one message per follower for all of them) and starts one heartbeat round
   * for all reads queued since the last round.
   */
  flush(): void {
    if (this.role !== Role.Leader) {
      this.appendsPending = false;
      return;
    }
    if (this.appendsPending) {
      this.appendsPending = false;
      for (const id of this.prs.progress.keys()) {
        if (id === this.id) continue;
        while (this.maybeSendAppend(id, false)) { /* until paused or caught up */ }
      }
    }
    if (this.readOnly.unsentContext !== '') {
      this.bcastHeartbeat(this.readOnly.unsentContext);
      this.readOnly.unsentContext = '';
    }
  }

  /** Whether `flush()` has anything to send. */
  hasPendingFlush(): boolean {
    return this.role === Role.Leader && (this.appendsPending || this.readOnly.unsentContext !== '');
  }

  // ---------------------------------------------------------------- membership

  /** Applies a committed membership change; returns the new membership to persist. */
  applyConfChange(cc: ConfChange): ConfState {
    let cs: ConfState;
    try {
      cs = applyToConfState(this.prs.confState(), cc);
    } catch (e) {
      // A change that cannot apply is a no-op on every replica alike (deterministic).
      if (e instanceof RaftError && e.code === RaftErrorCode.INVALID_ARGUMENT) return this.prs.confState();
      throw e;
    }
    this.switchToConfig(cs);
    return cs;
  }

  private switchToConfig(cs: ConfState): void {
    this.prs.setConfig(cs, this.log.lastIndex() + 1);
    this.isLearner = this.prs.isLearner(this.id);
    if (this.role !== Role.Leader) return;
    if (!this.prs.isVoter(this.id)) {
      // Removed (or demoted): tell the others the latest commit index, then step down so that the
      // remaining members elect a leader among themselves.
      this.bcastAppend();
      this.becomeFollower(this.term, NONE);
      return;
    }
    // The quorum changed: the commit index may move, and new members need their first append.
    if (this.maybeCommit()) this.bcastAppend();
    else for (const id of this.prs.progress.keys()) if (id !== this.id) this.maybeSendAppend(id, false);
    if (this.leadTransferee !== NONE && !this.prs.isVoter(this.leadTransferee)) this.leadTransferee = NONE;
  }

  // ---------------------------------------------------------------- introspection

  hardState(): { term: number; vote: NodeId; commit: number } {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  /** Ticks since the leader was last heard from (followers) — for lease checks by the application. */
  get ticksSinceLeaderContact(): number {
    return this.electionElapsed;
  }

  progressOf(id: NodeId): Progress | undefined {
    return this.prs.progress.get(id);
  }
}
