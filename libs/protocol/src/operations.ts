/**
 * The operation catalogue: every `op` a request may name, with its kind, its argument validator and
 * (in OpTypes) its argument and result types. It grows by area: sessions, watches, locks and
 * discovery add a file under ops/ and their entries here, and nothing else changes.
 *
 * Kinds tell the server how to route: `read` is served after a ReadIndex (or locally when stale),
 * `write` goes through the Raft log on the leader, `session` concerns the connection's session,
 * `admin` is for cluster management.
 */
import { DEFAULT_REQUEST_LIMITS, RequestLimits } from './args';
import { HikariError } from './errors';
import { HelloArgs, HelloResult, PingArgs, PingResult, validateHello, validatePing } from './ops/handshake';
import { MultiArgs, MultiResult, validateMulti } from './ops/multi';
import {
  SessionCloseArgs, SessionCloseResult, SessionKeepaliveArgs, SessionKeepaliveResult, SessionOpenArgs, SessionOpenResult,
  SessionResumeArgs, SessionResumeResult, validateSessionClose, validateSessionKeepalive, validateSessionOpen, validateSessionResume,
} from './ops/session';
import {
  LockAcquireArgs, LockAcquireResult, LockCancelArgs, LockCancelResult, LockInfoArgs, LockInfoResult, LockReleaseArgs,
  LockReleaseResult, LockWaitArgs, LockWaitResult, validateLockAcquire, validateLockCancel, validateLockInfo,
  validateLockRelease, validateLockWait,
} from './ops/lock';
import { UnwatchArgs, UnwatchResult, validateUnwatch, validateWatch, WatchArgs, WatchResult } from './ops/watch';
import {
  ChildrenArgs,
  ChildrenResult,
  CreateArgs,
  CreateResult,
  DeleteArgs,
  DeleteResult,
  ExistsArgs,
  ExistsResult,
  GetArgs,
  GetResult,
  SetArgs,
  SetResult,
  SyncArgs,
  SyncResult,
  validateChildren,
  validateCreate,
  validateDelete,
  validateExists,
  validateGet,
  validateSet,
  validateSync,
} from './ops/namespace';

export type OperationKind = 'read' | 'write' | 'session' | 'admin';

/** Argument and result types of every operation, by name. */
export interface OpTypes {
  hello: { args: HelloArgs; result: HelloResult };
  ping: { args: PingArgs; result: PingResult };
  create: { args: CreateArgs; result: CreateResult };
  get: { args: GetArgs; result: GetResult };
  set: { args: SetArgs; result: SetResult };
  delete: { args: DeleteArgs; result: DeleteResult };
  exists: { args: ExistsArgs; result: ExistsResult };
  children: { args: ChildrenArgs; result: ChildrenResult };
  multi: { args: MultiArgs; result: MultiResult };
  sync: { args: SyncArgs; result: SyncResult };
  'session.open': { args: SessionOpenArgs; result: SessionOpenResult };
  'session.resume': { args: SessionResumeArgs; result: SessionResumeResult };
  'session.keepalive': { args: SessionKeepaliveArgs; result: SessionKeepaliveResult };
  'session.close': { args: SessionCloseArgs; result: SessionCloseResult };
  watch: { args: WatchArgs; result: WatchResult };
  unwatch: { args: UnwatchArgs; result: UnwatchResult };
  'lock.acquire': { args: LockAcquireArgs; result: LockAcquireResult };
  'lock.wait': { args: LockWaitArgs; result: LockWaitResult };
  'lock.release': { args: LockReleaseArgs; result: LockReleaseResult };
  'lock.cancel': { args: LockCancelArgs; result: LockCancelResult };
  'lock.info': { args: LockInfoArgs; result: LockInfoResult };
}

export type OpName = keyof OpTypes;
export type OpArgs<O extends OpName> = OpTypes[O]['args'];
export type OpResult<O extends OpName> = OpTypes[O]['result'];

export interface OperationSpec<Args> {
  readonly kind: OperationKind;
  /**
   * The arguments as a fresh object of the right shape, or throws INVALID_ARGUMENT (naming the
   * field), INVALID_PATH, TOO_LARGE or UNSUPPORTED_PROTOCOL. Unknown fields are rejected.
   */
  validate(args: unknown, limits: RequestLimits): Args;
}

export const OPERATIONS: { readonly [O in OpName]: OperationSpec<OpArgs<O>> } = {
  hello: { kind: 'session', validate: validateHello },
  ping: { kind: 'session', validate: validatePing },
  create: { kind: 'write', validate: validateCreate },
  get: { kind: 'read', validate: validateGet },
  set: { kind: 'write', validate: validateSet },
  delete: { kind: 'write', validate: validateDelete },
  exists: { kind: 'read', validate: validateExists },
  children: { kind: 'read', validate: validateChildren },
  multi: { kind: 'write', validate: validateMulti },
  sync: { kind: 'read', validate: validateSync },
  'session.open': { kind: 'session', validate: validateSessionOpen },
  'session.resume': { kind: 'session', validate: validateSessionResume },
  'session.keepalive': { kind: 'session', validate: validateSessionKeepalive },
  'session.close': { kind: 'session', validate: validateSessionClose },
  watch: { kind: 'read', validate: validateWatch },
  unwatch: { kind: 'read', validate: validateUnwatch },
  'lock.acquire': { kind: 'write', validate: validateLockAcquire },
  // Served by any node once it has applied the acquire; waits for the grant (no write, no seq).
  'lock.wait': { kind: 'read', validate: validateLockWait },
  'lock.release': { kind: 'write', validate: validateLockRelease },
  'lock.cancel': { kind: 'write', validate: validateLockCancel },
  'lock.info': { kind: 'read', validate: validateLockInfo },
};

/** Own keys only: `toString` or `__proto__` must not pass for operations. */
export function isOpName(op: string): op is OpName {
  return Object.hasOwn(OPERATIONS, op);
}

/** A validated request, discriminated by `op`: `switch (request.op)` narrows `args`. */
export type ValidatedRequest = { [O in OpName]: { op: O; kind: OperationKind; args: OpArgs<O> } }[OpName];

/** Throws UNKNOWN_OPERATION for an op not in the catalogue, then whatever its validator throws. */
export function validateRequest(
  op: string,
  args: unknown,
  limits: RequestLimits = DEFAULT_REQUEST_LIMITS,
): ValidatedRequest {
  if (!isOpName(op)) throw HikariError.unknownOperation(op);
  const spec: OperationSpec<unknown> = OPERATIONS[op];
  // The cast restates what the table's type guarantees: OPERATIONS[op] validates OpArgs<op>.
  return { op, kind: spec.kind, args: spec.validate(args, limits) } as ValidatedRequest;
}
