import { ConfState, NodeId } from './types';
import { majorityCommitted, quorumActive, voteResult, VoteResult } from './quorum';
import { Progress } from './progress';

/** The membership and, on a leader, every member's replication progress; votes during elections. */
export class ProgressTracker {
  voters: NodeId[] = [];
  learners: NodeId[] = [];
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();

  constructor(
    readonly inflightCountMax: number,
    readonly inflightBytesMax: number,
  ) {}

  confState(): ConfState {
    return { voters: this.voters.slice().sort((a, b) => a - b), learners: this.learners.slice().sort((a, b) => a - b) };
  }

  isVoter(id: NodeId): boolean {
    return this.voters.includes(id);
  }

  isLearner(id: NodeId): boolean {
    return this.learners.includes(id);
  }

  isMember(id: NodeId): boolean {
    return this.progress.has(id);
  }

  /** Replaces the membership; progress of members that stay is kept, new members start at `next`. */
  setConfig(cs: ConfState, next: number): void {
    this.voters = cs.voters.slice();
    this.learners = cs.learners.slice();
    const members = new Set<NodeId>([...cs.voters, ...cs.learners]);
    for (const id of [...this.progress.keys()]) if (!members.has(id)) this.progress.delete(id);
    for (const id of members) {
      const learner = cs.learners.includes(id);
      const pr = this.progress.get(id);
      if (pr) pr.isLearner = learner;
      else {
        const fresh = new Progress(next, this.inflightCountMax, this.inflightBytesMax, learner);
        // A new member counts as recently active, or CheckQuorum could depose the leader before the
        // new member had a chance to answer.
        fresh.recentActive = true;
        this.progress.set(id, fresh);
      }
    }
  }

  committed(): number {
    return majorityCommitted(this.voters, (id) => this.progress.get(id)?.match ?? 0);
  }

  resetVotes(): void {
    this.votes.clear();
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): VoteResult {
    return voteResult(this.voters, this.votes);
  }

  quorumActive(): boolean {
    return quorumActive(this.voters, (id) => this.progress.get(id)?.recentActive ?? false);
  }
}
