/**
 * The one catalogue of errors shared by the server and the SDK (in the manner of fastify's error
 * codes). Clients switch on `code`, never on the message: codes are stable, messages may be reworded.
 * Each code has a message template, a `retryable` flag and an `indeterminate` flag (see ErrorSpec).
 */
import { isJsonValue, isPlainObject, JsonObject } from './json';
import { ERROR_CODE_CHARS_MAX, ERROR_DETAILS_DEPTH_MAX, QUOTED_CHARS_MAX } from './limits';

export enum ErrorCode {
  /** The node at `details.path` does not exist (for `create`: its parent does not). */
  NO_NODE = 'NO_NODE',
  /** A node already exists at `details.path`. */
  NODE_EXISTS = 'NODE_EXISTS',
  /** The node at `details.path` is not at the version `details.expected` the request was conditioned on. */
  BAD_VERSION = 'BAD_VERSION',
  /** The node at `details.path` has children, so it cannot be deleted. */
  NOT_EMPTY = 'NOT_EMPTY',
  /** The parent `details.path` is ephemeral; ephemeral nodes cannot have children. */
  NO_CHILDREN_FOR_EPHEMERALS = 'NO_CHILDREN_FOR_EPHEMERALS',
  /** `details.path` breaks the path rules; `details.reason` says which one. */
  INVALID_PATH = 'INVALID_PATH',
  /** The argument `details.field` is wrong (type, range, unknown field); `details.reason` says how. */
  INVALID_ARGUMENT = 'INVALID_ARGUMENT',
  /** `details.what` measures `details.size`, over `details.limit` (a frame, a data value, a multi). */
  TOO_LARGE = 'TOO_LARGE',
  /** The request names an operation `details.op` that this node does not know (an older server?). */
  UNKNOWN_OPERATION = 'UNKNOWN_OPERATION',
  /** A frame could not be decoded or its envelope is malformed; the connection is closed after it. */
  BAD_FRAME = 'BAD_FRAME',
  /** `hello` asked for protocol `details.requested`; the node speaks `details.supported`. */
  UNSUPPORTED_PROTOCOL = 'UNSUPPORTED_PROTOCOL',
  /** The session expired: its ephemeral nodes and locks are gone. Start a new session. */
  SESSION_EXPIRED = 'SESSION_EXPIRED',
  /** The session has been attached to another connection since; this connection no longer speaks for it. */
  SESSION_MOVED = 'SESSION_MOVED',
  /** This node cannot serve the request as a follower; `details.leader` ('host:port') names the leader if known. */
  NOT_LEADER = 'NOT_LEADER',
  /** The cluster has no leader right now (an election is under way). Retry after a short backoff. */
  NO_LEADER = 'NO_LEADER',
  /** This node cannot serve now (starting, catching up, no quorum); the request was not accepted. */
  UNAVAILABLE = 'UNAVAILABLE',
  /** No answer in time. A write may or may not have been applied: retry it with the same `seq`. */
  TIMEOUT = 'TIMEOUT',
  /** The caller cancelled the request. A write that was already sent may or may not be applied. */
  CANCELLED = 'CANCELLED',
  /** The connection closed before the answer. A write may or may not have been applied. */
  CONNECTION_LOSS = 'CONNECTION_LOSS',
  /** This node is shutting down and refused the request; another node can take it. */
  SHUTTING_DOWN = 'SHUTTING_DOWN',
  /** Over the in-flight limit (`details.limit`) of the connection; the request was not accepted. */
  TOO_MANY_REQUESTS = 'TOO_MANY_REQUESTS',
  /**
   * The node refused the connection: over its limit of connections (`details.limit`), in total or
   * from one address (`details.what`). Sent once, then the connection is closed; another node may accept.
   */
  TOO_MANY_CONNECTIONS = 'TOO_MANY_CONNECTIONS',
  /** The lock `details.name` is not held by this session (released, expired or never acquired). */
  LOCK_NOT_HELD = 'LOCK_NOT_HELD',
  /** The fencing token presented for `details.name` is not the current one: a newer holder exists. */
  FENCE_MISMATCH = 'FENCE_MISMATCH',
  /** Waiting for the lock `details.name` took longer than `details.waitMs`; the caller left the queue. */
  LOCK_TIMEOUT = 'LOCK_TIMEOUT',
  /** A watch asked to resume from an index that was compacted away: read again, then watch again. */
  WATCH_HISTORY_COMPACTED = 'WATCH_HISTORY_COMPACTED',
  /** The node belongs to another cluster than the one the client expects (`details.clusterId`). */
  CLUSTER_MISMATCH = 'CLUSTER_MISMATCH',
  /**
   * The authenticated client may not do this: its role lacks `details.access` on `details.scope`
   * `details.resource` (for a multi, `details.opIndex` names the op). Nothing was changed.
   */
  PERMISSION_DENIED = 'PERMISSION_DENIED',
  /** The connection has not authenticated, or its credentials were rejected or revoked (`details.reason`). */
  UNAUTHENTICATED = 'UNAUTHENTICATED',
  /** A bug or an unexpected failure; also what an unknown code from the wire becomes (`details.originalCode`). */
  INTERNAL = 'INTERNAL',
}

export interface ErrorSpec {
  /** Message template; `{name}` is replaced by `details.name`. */
  readonly message: string;
  /** May the SDK send the same request again (to this or another node) and expect a useful answer? */
  readonly retryable: boolean;
  /** Did a write that got this error perhaps take effect? Then its outcome is unknown until read back. */
  readonly indeterminate: boolean;
}

const spec = (message: string, retryable = false, indeterminate = false): ErrorSpec => ({
  message,
  retryable,
  indeterminate,
});

export const ERRORS: { readonly [C in ErrorCode]: ErrorSpec } = {
  NO_NODE: spec('node {path} does not exist'),
  NODE_EXISTS: spec('node {path} already exists'),
  BAD_VERSION: spec('node {path} is not at version {expected}'),
  NOT_EMPTY: spec('node {path} has children'),
  NO_CHILDREN_FOR_EPHEMERALS: spec('node {path} is ephemeral and cannot have children'),
  INVALID_PATH: spec('invalid path {path}: {reason}'),
  INVALID_ARGUMENT: spec('invalid argument {field}: {reason}'),
  TOO_LARGE: spec('{what} is too large: {size} > {limit}'),
  UNKNOWN_OPERATION: spec('unknown operation {op}'),
  BAD_FRAME: spec('malformed frame: {reason}'),
  UNSUPPORTED_PROTOCOL: spec('protocol {requested} is not supported (this node speaks {supported})'),
  SESSION_EXPIRED: spec('the session has expired'),
  SESSION_MOVED: spec('the session is attached to another connection'),
  NOT_LEADER: spec('this node is not the leader', true),
  NO_LEADER: spec('the cluster has no leader at the moment', true),
  UNAVAILABLE: spec('this node cannot serve requests now', true),
  // Retrying after a timeout is safe because writes carry a sequence number and are applied once.
  TIMEOUT: spec('the request timed out', true, true),
  CANCELLED: spec('the request was cancelled', false, true),
  CONNECTION_LOSS: spec('the connection was lost before the answer', true, true),
  SHUTTING_DOWN: spec('this node is shutting down', true),
  TOO_MANY_REQUESTS: spec('too many requests in flight on this connection', true),
  TOO_MANY_CONNECTIONS: spec('too many connections ({what}): the limit is {limit}', true),
  LOCK_NOT_HELD: spec('the lock is not held by this session'),
  FENCE_MISMATCH: spec('the fencing token is not the current one'),
  LOCK_TIMEOUT: spec('timed out waiting for lock {name}'),
  WATCH_HISTORY_COMPACTED: spec('the watch history was compacted past the requested index'),
  CLUSTER_MISMATCH: spec('this node belongs to another cluster'),
  PERMISSION_DENIED: spec('permission denied'),
  UNAUTHENTICATED: spec('not authenticated'),
  // Indeterminate: when the server failed unexpectedly, nobody can say whether a write was applied.
  INTERNAL: spec('internal error', false, true),
};

/** Extra facts about an error: a plain, JSON-able record (it travels on the wire). */
export type ErrorDetails = JsonObject;

/** How an error travels in an error envelope (`{ t: 3, id, e }`). */
export interface WireError {
  code: string;
  message: string;
  details?: ErrorDetails;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERRORS, value);
}

/** Shortens text quoted from a request, so that an error about a huge input stays small. */
export function clipText(text: string, charsMax: number = QUOTED_CHARS_MAX): string {
  return text.length <= charsMax ? text : `${text.slice(0, charsMax)}…`;
}

export function formatErrorMessage(code: ErrorCode, details: ErrorDetails): string {
  return ERRORS[code].message.replace(/\{(\w+)\}/g, (placeholder, key: string) =>
    Object.hasOwn(details, key) ? formatDetail(details[key]) : placeholder,
  );
}

function formatDetail(value: ErrorDetails[string]): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export class HikariError extends Error {
  override readonly name = 'HikariError';
  readonly retryable: boolean;
  readonly indeterminate: boolean;

  constructor(
    readonly code: ErrorCode,
    readonly details: ErrorDetails = {},
    options: { message?: string; cause?: unknown } = {},
  ) {
    super(options.message ?? formatErrorMessage(code, details), { cause: options.cause });
    this.retryable = ERRORS[code].retryable;
    this.indeterminate = ERRORS[code].indeterminate;
  }

  override toString(): string {
    return `${this.name} [${this.code}]: ${this.message}`;
  }

  /** Type guard, optionally for one code: `if (HikariError.is(e, ErrorCode.NO_NODE)) ...`. */
  static is(error: unknown, code?: ErrorCode): error is HikariError {
    return error instanceof HikariError && (code === undefined || error.code === code);
  }

  static noNode(path: string): HikariError {
    return new HikariError(ErrorCode.NO_NODE, { path: clipText(path) });
  }
  static nodeExists(path: string): HikariError {
    return new HikariError(ErrorCode.NODE_EXISTS, { path: clipText(path) });
  }
  static badVersion(path: string, expected: number): HikariError {
    return new HikariError(ErrorCode.BAD_VERSION, { path: clipText(path), expected });
  }
  static notEmpty(path: string): HikariError {
    return new HikariError(ErrorCode.NOT_EMPTY, { path: clipText(path) });
  }
  static noChildrenForEphemerals(parentPath: string): HikariError {
    return new HikariError(ErrorCode.NO_CHILDREN_FOR_EPHEMERALS, { path: clipText(parentPath) });
  }
  /** `field` names the argument that held the path, when there is one (`ops[2].path`). */
  static invalidPath(path: string, reason: string, field?: string): HikariError {
    const details: ErrorDetails = { path: clipText(path), reason };
    if (field !== undefined) details.field = field;
    return new HikariError(ErrorCode.INVALID_PATH, details);
  }
  static invalidArgument(field: string, reason: string): HikariError {
    return new HikariError(ErrorCode.INVALID_ARGUMENT, { field: clipText(field), reason });
  }
  static tooLarge(what: string, size: number, limit: number): HikariError {
    return new HikariError(ErrorCode.TOO_LARGE, { what, size, limit });
  }
  static unknownOperation(op: string): HikariError {
    return new HikariError(ErrorCode.UNKNOWN_OPERATION, { op: clipText(op) });
  }
  static badFrame(reason: string, extra: ErrorDetails = {}): HikariError {
    return new HikariError(ErrorCode.BAD_FRAME, { ...extra, reason });
  }
  /** `leader` is the leader's client address ('host:port'), or null when this node does not know it. */
  static notLeader(leader: string | null): HikariError {
    return new HikariError(ErrorCode.NOT_LEADER, leader === null ? {} : { leader });
  }
}

/**
 * The wire form of any thrown value. A HikariError keeps its code, message and details; anything
 * else is a bug on this side and becomes INTERNAL with a fixed message, so that internals (paths on
 * disk, stack traces) never leak to clients. The caller logs the original.
 */
export function errorToWire(error: unknown): WireError {
  if (!(error instanceof HikariError)) return { code: ErrorCode.INTERNAL, message: ERRORS.INTERNAL.message };
  const wire: WireError = { code: error.code, message: error.message };
  if (Object.keys(error.details).length > 0) wire.details = error.details;
  return wire;
}

/**
 * The HikariError for a wire error. Never throws: a code this version does not know (a newer peer)
 * becomes INTERNAL with `details.originalCode`; a malformed object becomes INTERNAL too.
 */
export function errorFromWire(wire: unknown): HikariError {
  if (!isPlainObject(wire) || typeof wire.code !== 'string') {
    return new HikariError(ErrorCode.INTERNAL, { reason: 'malformed error from the wire' });
  }
  const details: ErrorDetails =
    isPlainObject(wire.details) && isJsonValue(wire.details, ERROR_DETAILS_DEPTH_MAX) ? wire.details : {};
  const message = typeof wire.message === 'string' ? wire.message : undefined;
  if (isErrorCode(wire.code)) return new HikariError(wire.code, details, { message });
  const originalCode = clipText(wire.code, ERROR_CODE_CHARS_MAX);
  return new HikariError(ErrorCode.INTERNAL, { ...details, originalCode }, { message });
}
