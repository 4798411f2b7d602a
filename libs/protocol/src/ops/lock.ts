/**
 * Locks: server-side FIFO queues of holders and waiters, one per lock name, owned by sessions.
 *
 * - `lock.acquire` (a write, through the log) either grants at once — the answer carries the
 *   fencing token — or, unless `wait: false`, enqueues the caller and answers with a `ticket` (the
 *   log index of the acquire). The caller then sends `lock.wait` with that ticket: it is answered
 *   when the grant is applied on the node serving it (any node), with the token. No polling, no herd:
 *   a release grants the next waiter(s) in the same log entry.
 * - `lock.release` ends a grant, named by its token. `lock.cancel` removes a ticket from the queue
 *   (a wait that timed out or was aborted) — and if the grant happened meanwhile, releases it, so
 *   that a give-up never leaves a lock held.
 * - When the owning session ends (closed or expired), its grants are released and its tickets
 *   leave the queues, in the same log entry.
 *
 * Fencing tokens strictly increase per lock name across grants, leader changes and restarts: they
 * come from one replicated counter. Modes: `exclusive` (one holder; or up to `permits` holders, a
 * semaphore) and `shared` (any number of shared holders, no exclusive one: a read-write lock). The
 * queue is FIFO across modes: a new shared acquire waits behind a queued exclusive one, so writers
 * are not starved. `reentrant: true` lets a session that already holds an exclusive grant of the lock
 * take it again at once (same token, counted; each release undoes one acquire).
 *
 * Lock changes (a grant or a release) can be watched: `watch` with kind `lock` and the lock's name
 * as `path` (election `observe()` uses this).
 */
import { ArgReader } from '../args';
import { HikariError } from '../errors';
import { LOCK_NAME_BYTES_MAX, LOCK_PERMITS_MAX, LOCK_VALUE_BYTES_MAX } from '../limits';
import { readSeq, WriteArgs } from './namespace';

export type LockMode = 'exclusive' | 'shared';
export const LOCK_MODES: readonly LockMode[] = ['exclusive', 'shared'];

export interface LockAcquireArgs extends WriteArgs {
  name: string;
  /** Default 'exclusive'. */
  mode?: LockMode;
  /** Holders allowed at once in exclusive mode (a semaphore); default 1. Everyone using a name must agree. */
  permits?: number;
  /** If the session holds an exclusive grant of this lock already, take it again (counted). */
  reentrant?: boolean;
  /** false: grant now or answer `granted: false` without queueing (tryAcquire). Default true. */
  wait?: boolean;
  /** Kept with the grant and shown by `lock.info` (an election candidate's value). */
  value?: Uint8Array;
}

export type LockAcquireResult =
  /** `count`: how many times this session holds the grant (reentrant acquires; 1 otherwise). */
  | { granted: true; token: number; ticket: number; count: number }
  /** Queued (`ticket`: send `lock.wait`); or, with `wait: false`, refused (no ticket). */
  | { granted: false; ticket?: number; position?: number };

export interface LockWaitArgs {
  name: string;
  ticket: number;
}
export interface LockWaitResult {
  token: number;
}

export interface LockReleaseArgs extends WriteArgs {
  name: string;
  token: number;
}
/** `count`: acquires of a reentrant grant still held (0: released). */
export interface LockReleaseResult {
  count: number;
}

export interface LockCancelArgs extends WriteArgs {
  name: string;
  ticket: number;
}
/** What the cancel found: still queued (now removed), granted meanwhile (now released), or nothing. */
export interface LockCancelResult {
  was: 'waiting' | 'held' | 'gone';
}

export interface LockInfoArgs {
  name: string;
  stale?: boolean;
}
export interface LockHolderInfo {
  token: number;
  ticket: number;
  session: string;
  mode: LockMode;
  count: number;
  /** Log index of the grant. */
  since: number;
  value: Uint8Array | null;
}
export interface LockWaiterInfo {
  ticket: number;
  session: string;
  mode: LockMode;
  value: Uint8Array | null;
}
/** A lock nobody holds or waits for has `permits: 1` and empty lists. `index`: the node's applied index. */
export interface LockInfoResult {
  name: string;
  permits: number;
  holders: LockHolderInfo[];
  waiters: LockWaiterInfo[];
  index: number;
}

/** The condition of a fenced write (a `multi` op): `token` must be a current grant of `lock`. */
export interface FenceOp {
  op: 'fence';
  lock: string;
  token: number;
}

/** Why `name` is not a lock name, or null. Names are 1–LOCK_NAME_BYTES_MAX bytes of UTF-8 without control characters. */
export function lockNameProblem(name: string): string | null {
  if (name.length === 0) return 'is empty';
  if (Buffer.byteLength(name, 'utf8') > LOCK_NAME_BYTES_MAX) return `is longer than ${LOCK_NAME_BYTES_MAX} bytes`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'contains a control character';
  return null;
}

export const readLockName = (r: ArgReader, key: string): string => {
  const value = r.string(key);
  const problem = lockNameProblem(value);
  if (problem !== null) throw r.invalid(key, `must be a lock name, but it ${problem}`);
  return value;
};

const readToken = (r: ArgReader, key: string): number => r.integer(key, 1, Number.MAX_SAFE_INTEGER);

export function validateLockAcquire(args: unknown): LockAcquireArgs {
  const r = ArgReader.of(args, ['name', 'mode', 'permits', 'reentrant', 'wait', 'value', 'seq']);
  const out: LockAcquireArgs = {
    name: readLockName(r, 'name'),
    mode: r.optional('mode', (k) => r.oneOf(k, LOCK_MODES)),
    permits: r.optional('permits', (k) => r.integer(k, 1, LOCK_PERMITS_MAX)),
    reentrant: r.optional('reentrant', r.boolean),
    wait: r.optional('wait', r.boolean),
    value: r.optional('value', (k) => r.bytes(k, LOCK_VALUE_BYTES_MAX)),
    seq: readSeq(r),
  };
  if (out.mode === 'shared' && out.permits !== undefined && out.permits !== 1) {
    throw HikariError.invalidArgument('permits', 'shared mode takes no permits: a semaphore is exclusive mode with permits > 1');
  }
  if (out.mode === 'shared' && out.reentrant === true) {
    throw HikariError.invalidArgument('reentrant', 'only exclusive grants are reentrant');
  }
  return out;
}

export function validateLockWait(args: unknown): LockWaitArgs {
  const r = ArgReader.of(args, ['name', 'ticket']);
  return { name: readLockName(r, 'name'), ticket: readToken(r, 'ticket') };
}

export function validateLockRelease(args: unknown): LockReleaseArgs {
  const r = ArgReader.of(args, ['name', 'token', 'seq']);
  return { name: readLockName(r, 'name'), token: readToken(r, 'token'), seq: readSeq(r) };
}

export function validateLockCancel(args: unknown): LockCancelArgs {
  const r = ArgReader.of(args, ['name', 'ticket', 'seq']);
  return { name: readLockName(r, 'name'), ticket: readToken(r, 'ticket'), seq: readSeq(r) };
}

export function validateLockInfo(args: unknown): LockInfoArgs {
  const r = ArgReader.of(args, ['name', 'stale']);
  return { name: readLockName(r, 'name'), stale: r.optional('stale', r.boolean) };
}

/** Reads a `fence` op of a multi (fields op, lock, token). */
export function readFenceOp(r: ArgReader): FenceOp {
  return { op: 'fence', lock: readLockName(r, 'lock'), token: readToken(r, 'token') };
}
