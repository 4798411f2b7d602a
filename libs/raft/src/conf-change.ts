import { ConfState, NodeId } from './types';
import { RaftError, RaftErrorCode } from './errors';

export enum ConfChangeType {
  /** Add a voter, or promote a learner to voter. */
  AddVoter = 'add-voter',
  /** Add a non-voting member that receives the log (to catch up before promotion). */
  AddLearner = 'add-learner',
  Remove = 'remove',
}

export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
  /** Opaque to the core: typically the new member's address. */
  readonly context: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CONTEXT_BYTES_MAX = 4096;

export function encodeConfChange(cc: ConfChange): Uint8Array {
  validateConfChange(cc);
  return encoder.encode(JSON.stringify({ t: cc.type, n: cc.nodeId, c: cc.context }));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(data));
  } catch {
    throw new RaftError(RaftErrorCode.INVALID_ARGUMENT, 'conf change entry is not valid JSON');
  }
  if (typeof raw !== 'object' || raw === null) {
    throw new RaftError(RaftErrorCode.INVALID_ARGUMENT, 'conf change entry is not a JSON object');
  }
  const o = raw as { t?: unknown; n?: unknown; c?: unknown };
  const cc = { type: o.t as ConfChangeType, nodeId: o.n as number, context: typeof o.c === 'string' ? o.c : '' };
  validateConfChange(cc);
  return cc;
}

export function validateConfChange(cc: ConfChange): void {
  if (!Object.values(ConfChangeType).includes(cc.type)) {
    throw new RaftError(RaftErrorCode.INVALID_ARGUMENT, `unknown conf change type ${String(cc.type)}`);
  }
  if (!Number.isSafeInteger(cc.nodeId) || cc.nodeId <= 0) {
    throw new RaftError(RaftErrorCode.INVALID_ARGUMENT, `conf change node id must be a positive integer, got ${cc.nodeId}`);
  }
  if (cc.context.length > CONTEXT_BYTES_MAX) {
    throw new RaftError(RaftErrorCode.TOO_LARGE, `conf change context is over ${CONTEXT_BYTES_MAX} characters`);
  }
}

/**
 * The membership after `cc`, or a RaftError(INVALID_ARGUMENT) if the change is not allowed: removing
 * the last voter, or demoting a voter to learner (remove it, then add it as a learner). Adding a
 * member that is already there in the same role is a no-op.
 */
export function applyToConfState(cs: ConfState, cc: ConfChange): ConfState {
  const voters = cs.voters.filter((id) => id !== cc.nodeId);
  const learners = cs.learners.filter((id) => id !== cc.nodeId);
  switch (cc.type) {
    case ConfChangeType.AddVoter:
      voters.push(cc.nodeId);
      break;
    case ConfChangeType.AddLearner:
      if (cs.voters.includes(cc.nodeId)) {
        throw new RaftError(RaftErrorCode.INVALID_ARGUMENT, `node ${cc.nodeId} is a voter; remove it before adding it as a learner`);
      }
      learners.push(cc.nodeId);
      break;
    case ConfChangeType.Remove:
      if (voters.length === 0) {
        throw new RaftError(RaftErrorCode.INVALID_ARGUMENT, `removing node ${cc.nodeId} would leave no voter`);
      }
      break;
  }
  return { voters: voters.sort((a, b) => a - b), learners: learners.sort((a, b) => a - b) };
}
