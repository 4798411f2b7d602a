/**
 * Errors of the Raft core, each with a stable code. Errors that a caller is expected to handle
 * (NOT_LEADER, PROPOSAL_DROPPED, ...) are thrown by the RawNode API; INVARIANT is thrown when the
 * core finds its own state broken: assertions stay on, because limping on would corrupt the log.
 */
export enum RaftErrorCode {
  /** The requested index is below the first index of the log (it was compacted into a snapshot). */
  COMPACTED = 'COMPACTED',
  /** The requested index is past the end of the log. */
  UNAVAILABLE = 'UNAVAILABLE',
  SNAPSHOT_OUT_OF_DATE = 'SNAPSHOT_OUT_OF_DATE',
  /** This node is not the leader; `leader` on the error names the known leader (0 if none). */
  NOT_LEADER = 'NOT_LEADER',
  /** The proposal cannot be accepted now (leadership transfer in progress, uncommitted log full). */
  PROPOSAL_DROPPED = 'PROPOSAL_DROPPED',
  /** A membership change is already pending (not yet applied); only one at a time. */
  CONF_CHANGE_PENDING = 'CONF_CHANGE_PENDING',
  INVALID_ARGUMENT = 'INVALID_ARGUMENT',
  TOO_LARGE = 'TOO_LARGE',
  /** A broken invariant inside the core: a bug, never an expected condition. */
  INVARIANT = 'INVARIANT',
}

export class RaftError extends Error {
  constructor(
    readonly code: RaftErrorCode,
    message: string,
    /** For NOT_LEADER: the leader this node knows of, or 0. */
    readonly leader: number = 0,
  ) {
    super(`${code}: ${message}`);
    this.name = 'RaftError';
  }
}

/** An assertion that stays on in production: throws RaftError(INVARIANT). */
export function invariant(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new RaftError(RaftErrorCode.INVARIANT, typeof message === 'function' ? message() : message);
  }
}
