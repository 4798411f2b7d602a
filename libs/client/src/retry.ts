/**
 * What to do with a call that failed: the retry rules, as one pure decision. The dispatcher acts on
 * the plan; the deadline (the call's timeout) bounds every retry loop.
 *
 * | error                                   | plan                                            |
 * |-----------------------------------------|-------------------------------------------------|
 * | not `retryable` in the catalogue        | fail: thrown to the caller at once              |
 * | any, for an op that is not read / write | fail (only reads and seq-carrying writes are known to be safe to send twice) |
 * | CONNECTION_LOSS, the connection closed  | resend on the next connection                   |
 * | NOT_LEADER                              | switch to `details.leader` (else the next endpoint), resend |
 * | NO_LEADER, UNAVAILABLE, SHUTTING_DOWN   | switch to the next endpoint, resend             |
 * | TOO_MANY_REQUESTS, TIMEOUT, other       | wait (backoff), resend on the same connection   |
 *
 * NO_LEADER moves on because a node cut off in a minority keeps saying it until the partition heals,
 * while another node may already know the new leader. TIMEOUT stays: the leader answers it when a
 * commit is slow, and moving away from the leader would only bring a NOT_LEADER back.
 */
import { ErrorCode, HikariError, OperationKind } from '@hikarikeeper/protocol';
import { Endpoint, tryParseEndpoint } from './endpoints';

export type RetryPlan =
  | { readonly action: 'fail' }
  /** The connection is gone: queue the call again; it goes out once a connection is up. */
  | { readonly action: 'resend' }
  /** Leave the connection that answered, for `leader` (null: the next endpoint), and resend there. */
  | { readonly action: 'switch'; readonly leader: Endpoint | null }
  /** Resend after a backoff, on whatever connection is current then. */
  | { readonly action: 'wait' };

/**
 * Reads are idempotent and writes carry their seq, so both may be sent again. Session operations opt
 * in through `planSessionRetry` (the session keeper sends them, one at a time, never the dispatcher).
 */
export function isResendable(kind: OperationKind): boolean {
  return kind === 'read' || kind === 'write';
}

/**
 * The plan for `error`, received for a call of `kind` on a connection at `endpoint`, which is
 * still open (`connectionOpen`) or closed (the error then is the local CONNECTION_LOSS).
 */
export function planRetry(
  error: HikariError,
  kind: OperationKind,
  endpoint: Endpoint,
  connectionOpen: boolean,
): RetryPlan {
  return isResendable(kind) ? planForError(error, endpoint, connectionOpen) : { action: 'fail' };
}

/**
 * The same table for session operations, which are safe to send again: `session.resume`,
 * `session.keepalive` and `session.close` are idempotent, and a `session.open` applied but unanswered
 * leaves a session that owns nothing and expires on its own. SESSION_EXPIRED is not retryable: the
 * keeper acts on it before asking for a plan.
 */
export function planSessionRetry(error: HikariError, endpoint: Endpoint, connectionOpen: boolean): RetryPlan {
  return planForError(error, endpoint, connectionOpen);
}

function planForError(error: HikariError, endpoint: Endpoint, connectionOpen: boolean): RetryPlan {
  if (!error.retryable) return { action: 'fail' };
  switch (error.code) {
    case ErrorCode.CONNECTION_LOSS:
      // A server that answers CONNECTION_LOSS on an open connection (it lost its own link onward)
      // is waited for like TIMEOUT: resending at once could loop as fast as it answers.
      return connectionOpen ? { action: 'wait' } : { action: 'resend' };
    case ErrorCode.NOT_LEADER:
      return { action: 'switch', leader: leaderHint(error, endpoint) };
    case ErrorCode.NO_LEADER:
    case ErrorCode.UNAVAILABLE:
    case ErrorCode.SHUTTING_DOWN:
      return { action: 'switch', leader: null };
    default:
      return { action: 'wait' };
  }
}

/** The leader named by a NOT_LEADER, unless absent, malformed, or the very node that answered. */
function leaderHint(error: HikariError, answeredBy: Endpoint): Endpoint | null {
  const leader = tryParseEndpoint(error.details.leader);
  return leader === null || leader.address === answeredBy.address ? null : leader;
}
