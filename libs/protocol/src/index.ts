/**
 * @hikarikeeper/protocol: the client wire format shared by the server and the SDK.
 *
 * frame.ts (length-prefixed frames) → codec.ts (msgpack bodies) → messages.ts (the envelope) →
 * operations.ts (the typed operation catalogue, with ops/*), alongside errors.ts (the one error
 * catalogue), limits.ts (every bound) and path.ts (node paths).
 */
export * from './errors';
export * from './limits';
export * from './json';
export * from './path';
export * from './frame';
export * from './codec';
export * from './messages';
export { DEFAULT_REQUEST_LIMITS, type RequestLimits, requestLimits } from './args';
export * from './operations';
export { TOKEN_PATTERN, type HelloArgs, type HelloResult, type PingArgs, type PingResult } from './ops/handshake';
export {
  ANY_VERSION,
  CREATE_MODES,
  isEphemeralMode,
  isSequentialMode,
  type ChildData,
  type ChildrenArgs,
  type ChildrenResult,
  type CreateArgs,
  type CreateFields,
  type CreateMode,
  type CreateResult,
  type DeleteArgs,
  type DeleteFields,
  type DeleteResult,
  type ExistsArgs,
  type ExistsResult,
  type GetArgs,
  type GetResult,
  type SetArgs,
  type SetFields,
  type SetResult,
  type Stat,
  type SyncArgs,
  type SyncResult,
  type WriteArgs,
} from './ops/namespace';
export type {
  CheckOp,
  CreateOp,
  DeleteOp,
  MultiArgs,
  MultiOp,
  MultiOpName,
  MultiOpResult,
  MultiResult,
  SetOp,
} from './ops/multi';
export type {
  SessionOpenArgs, SessionOpenResult, SessionResumeArgs, SessionResumeResult, SessionKeepaliveResult, SessionEvent,
} from './ops/session';
export type { WatchArgs, WatchResult, WatchKind, WatchEvent, ChangeType, UnwatchArgs } from './ops/watch';
export { WATCH_KINDS } from './ops/watch';
export {
  LOCK_MODES,
  lockNameProblem,
  type FenceOp,
  type LockAcquireArgs,
  type LockAcquireResult,
  type LockCancelArgs,
  type LockCancelResult,
  type LockHolderInfo,
  type LockInfoArgs,
  type LockInfoResult,
  type LockMode,
  type LockReleaseArgs,
  type LockReleaseResult,
  type LockWaiterInfo,
  type LockWaitArgs,
  type LockWaitResult,
} from './ops/lock';
