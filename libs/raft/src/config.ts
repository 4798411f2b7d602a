import { NodeId } from './types';
import { RaftError, RaftErrorCode } from './errors';
import { Storage } from './storage';
import { RandomSource } from './random';

export interface RaftConfig {
  /** This node's id: a positive integer, unique in the cluster and never reused. */
  id: NodeId;
  storage: Storage;
  /** Randomness for election timeouts (a seeded generator in the simulator). */
  random: RandomSource;
  /** A follower that hears no leader for a random time in [electionTicks, 2*electionTicks) campaigns. Default 10. */
  electionTicks?: number;
  /** A leader sends heartbeats every `heartbeatTicks`. Must be < electionTicks. Default 1. */
  heartbeatTicks?: number;
  /** PreVote (thesis §9.6): a node campaigns only if it could win. Default true. */
  preVote?: boolean;
  /** CheckQuorum: a leader that loses contact with a majority steps down; enables the leader lease
   *  that protects a healthy leader from a rejoining node. Default true. */
  checkQuorum?: boolean;
  /** Upper bound on the entry bytes in one AppendEntries message. Default 1 MiB. */
  maxMsgBytes?: number;
  /** Pipelining window: AppendEntries in flight to one follower. Default 256. */
  maxInflightMsgs?: number;
  /** Pipelining window in bytes (0 = no byte limit). Default 16 MiB. */
  maxInflightBytes?: number;
  /** Proposals are refused (PROPOSAL_DROPPED) while this many bytes are uncommitted. Default 64 MiB. */
  maxUncommittedBytes?: number;
  /** Upper bound on the committed entry bytes handed out in one Ready. Default 64 MiB. */
  maxApplyBytes?: number;
  /** Largest single entry payload accepted by `propose`. Default 4 MiB. */
  maxEntryBytes?: number;
  /** Most entries accepted by one `propose` call. Default 10,000. */
  maxProposalEntries?: number;
  /** Most reads waiting for a ReadIndex round; further reads are dropped (the caller retries). Default 65,536. */
  maxPendingReads?: number;
  /** Most entries accepted in one incoming AppendEntries. Default 100,000. */
  maxEntriesPerMsg?: number;
  /** The last index the application applied before a restart (it is not handed out again). Default 0. */
  applied?: number;
  /**
   * Deliberately broken behaviour, for proving that the simulator catches safety bugs. Never set
   * outside tests: each one breaks a rule of the Raft paper.
   */
  unsafeTestingFaults?: UnsafeTestingFaults;
}

export interface UnsafeTestingFaults {
  /** Grant a vote to any up-to-date candidate, even after voting for another in the same term (§5.2). */
  voteTwice?: boolean;
  /** Commit entries of earlier terms by counting replicas (the Figure 8 bug, §5.4.2). */
  commitOldTerm?: boolean;
  /** Grant votes without the "log at least as up-to-date" check (§5.4.1). */
  skipLogCheckOnVote?: boolean;
}

export type ResolvedConfig = Required<Omit<RaftConfig, 'id' | 'storage' | 'random' | 'unsafeTestingFaults'>> &
  Pick<RaftConfig, 'random'> & { unsafeTestingFaults: UnsafeTestingFaults };

export const DEFAULTS = {
  electionTicks: 10,
  heartbeatTicks: 1,
  preVote: true,
  checkQuorum: true,
  maxMsgBytes: 1 << 20,
  maxInflightMsgs: 256,
  maxInflightBytes: 16 << 20,
  maxUncommittedBytes: 64 << 20,
  maxApplyBytes: 64 << 20,
  maxEntryBytes: 4 << 20,
  maxProposalEntries: 10_000,
  maxPendingReads: 65_536,
  maxEntriesPerMsg: 100_000,
  applied: 0,
} as const;

export function resolveConfig(c: RaftConfig): ResolvedConfig {
  const r: ResolvedConfig = {
    random: c.random,
    electionTicks: c.electionTicks ?? DEFAULTS.electionTicks,
    heartbeatTicks: c.heartbeatTicks ?? DEFAULTS.heartbeatTicks,
    preVote: c.preVote ?? DEFAULTS.preVote,
    checkQuorum: c.checkQuorum ?? DEFAULTS.checkQuorum,
    maxMsgBytes: c.maxMsgBytes ?? DEFAULTS.maxMsgBytes,
    maxInflightMsgs: c.maxInflightMsgs ?? DEFAULTS.maxInflightMsgs,
    maxInflightBytes: c.maxInflightBytes ?? DEFAULTS.maxInflightBytes,
    maxUncommittedBytes: c.maxUncommittedBytes ?? DEFAULTS.maxUncommittedBytes,
    maxApplyBytes: c.maxApplyBytes ?? DEFAULTS.maxApplyBytes,
    maxEntryBytes: c.maxEntryBytes ?? DEFAULTS.maxEntryBytes,
    maxProposalEntries: c.maxProposalEntries ?? DEFAULTS.maxProposalEntries,
    maxPendingReads: c.maxPendingReads ?? DEFAULTS.maxPendingReads,
    maxEntriesPerMsg: c.maxEntriesPerMsg ?? DEFAULTS.maxEntriesPerMsg,
    applied: c.applied ?? DEFAULTS.applied,
    unsafeTestingFaults: c.unsafeTestingFaults ?? {},
  };
  const bad = (what: string) => new RaftError(RaftErrorCode.INVALID_ARGUMENT, `raft config: ${what}`);
  if (!Number.isSafeInteger(c.id) || c.id <= 0) throw bad(`id must be a positive integer, got ${c.id}`);
  if (!(r.heartbeatTicks >= 1)) throw bad('heartbeatTicks must be at least 1');
  if (!(r.electionTicks > r.heartbeatTicks)) throw bad('electionTicks must be greater than heartbeatTicks');
  if (!(r.maxInflightMsgs >= 1)) throw bad('maxInflightMsgs must be at least 1');
  if (!(r.maxMsgBytes >= 1)) throw bad('maxMsgBytes must be at least 1');
  if (!(r.maxEntryBytes <= r.maxUncommittedBytes)) throw bad('maxEntryBytes must not exceed maxUncommittedBytes');
  if (!(r.maxPendingReads >= 1)) throw bad('maxPendingReads must be at least 1');
  return r;
}
