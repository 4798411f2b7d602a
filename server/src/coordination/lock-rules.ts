/**
 * The rules of lock queues, pure: a lock record in, a lock record and what happened out. No I/O, no
 * clock — the state machine (locks.ts) and the deterministic simulator apply the same rules.
 *
 * A lock record holds the current grants (`holders`) and the FIFO queue of tickets (`waiters`).
 * - A grant is possible in exclusive mode while every holder is exclusive and there are fewer than
 *   `permits` of them (1: a mutex; N: a semaphore), in shared mode while every holder is shared.
 * - FIFO across modes: a new acquire is granted at once only if nobody waits; otherwise it queues.
 *   After every release (or cancel, or session end) the head of the queue is granted while it can
 *   be: one exclusive waiter, or the run of shared waiters at the head. Nobody overtakes.
 * - Every grant takes a fresh fencing token from the replicated counter, so tokens strictly grow
 *   per name (and globally).
 */
import { ErrorCode, HikariError, LOCK_HOLDERS_MAX, LOCK_WAITERS_MAX, LockMode } from '@hikarikeeper/protocol';

export interface LockHolder {
  /** The log index of the acquire that asked for it (queued or not). */
  readonly ticket: number;
  readonly token: number;
  readonly session: string;
  readonly mode: LockMode;
  /** Reentrant acquires held (1 unless reentrant). */
  count: number;
  /** The log index of the grant. */
  readonly since: number;
  readonly value: Uint8Array | null;
}

export interface LockWaiter {
  readonly ticket: number;
  readonly session: string;
  readonly mode: LockMode;
  readonly value: Uint8Array | null;
}

export interface LockRecord {
  readonly permits: number;
  holders: LockHolder[];
  waiters: LockWaiter[];
}

/** A ticket's fate, for the requests waiting on it: granted with `token`, or gone (null). */
export interface TicketEvent {
  readonly name: string;
  readonly ticket: number;
  readonly token: number | null;
}

/** Hands out fencing tokens; the state machine's is backed by a replicated counter. */
export type NextToken = () => number;

export interface AcquireRequest {
  readonly ticket: number;
  readonly session: string;
  readonly mode: LockMode;
  readonly permits: number | undefined;
  readonly reentrant: boolean;
  readonly wait: boolean;
  readonly value: Uint8Array | null;
  /** The log index applying the request. */
  readonly index: number;
}

export type AcquireOutcome =
  | { granted: true; token: number; ticket: number; count: number }
  | { granted: false; ticket?: number; position?: number };

/** What a change did to a record: `record` null when the lock is idle (nobody holds or waits). */
export interface LockChange {
  readonly record: LockRecord | null;
  /** Grants made to queued tickets (the acquire's own immediate grant is in its outcome). */
  readonly granted: LockHolder[];
  /** Tickets that left the queue without a grant. */
  readonly dropped: LockWaiter[];
  /** Did the set of holders change (a grant or a release): what lock watches see. */
  readonly holdersChanged: boolean;
}

export function emptyLock(permits: number): LockRecord {
  return { permits, holders: [], waiters: [] };
}

function canGrant(r: LockRecord, mode: LockMode): boolean {
  if (mode === 'shared') return r.holders.length < LOCK_HOLDERS_MAX && r.holders.every((h) => h.mode === 'shared');
  return r.holders.length < r.permits && r.holders.every((h) => h.mode === 'exclusive');
}

function grant(r: LockRecord, w: LockWaiter, index: number, nextToken: NextToken): LockHolder {
  const holder: LockHolder = { ticket: w.ticket, token: nextToken(), session: w.session, mode: w.mode, count: 1, since: index, value: w.value };
  r.holders.push(holder);
  return holder;
}

/** Grants the head of the queue while it can be granted; returns the new holders. */
function promote(r: LockRecord, index: number, nextToken: NextToken): LockHolder[] {
  const granted: LockHolder[] = [];
  while (r.waiters.length > 0 && canGrant(r, r.waiters[0].mode)) {
    granted.push(grant(r, r.waiters.shift()!, index, nextToken));
  }
  return granted;
}

function settled(r: LockRecord, granted: LockHolder[], dropped: LockWaiter[], holdersChanged: boolean): LockChange {
  const idle = r.holders.length === 0 && r.waiters.length === 0;
  return { record: idle ? null : r, granted, dropped, holdersChanged };
}

function copy(r: LockRecord): LockRecord {
  return { permits: r.permits, holders: r.holders.map((h) => ({ ...h })), waiters: [...r.waiters] };
}

/**
 * An acquire: granted now (nobody waits and the mode fits), refused (`wait: false`), or queued.
 * Throws (changing nothing) on a permits mismatch or a full queue.
 */
export function acquire(
  current: LockRecord | null, name: string, req: AcquireRequest, nextToken: NextToken,
): { change: LockChange; outcome: AcquireOutcome } {
  const r = current ? copy(current) : emptyLock(req.permits ?? 1);
  if (req.permits !== undefined && req.permits !== r.permits) {
    throw HikariError.invalidArgument('permits', `lock ${name} is in use with permits ${r.permits}, not ${req.permits}`);
  }
  if (req.mode === 'shared' && r.permits > 1) {
    throw HikariError.invalidArgument('mode', `lock ${name} is a semaphore (permits ${r.permits}): only exclusive acquires`);
  }
  if (req.reentrant) {
    const mine = r.holders.find((h) => h.session === req.session && h.mode === 'exclusive');
    if (mine) {
      mine.count++;
      return { change: settled(r, [], [], false), outcome: { granted: true, token: mine.token, ticket: mine.ticket, count: mine.count } };
    }
  }
  const waiter: LockWaiter = { ticket: req.ticket, session: req.session, mode: req.mode, value: req.value };
  if (r.waiters.length === 0 && canGrant(r, req.mode)) {
    const h = grant(r, waiter, req.index, nextToken);
    return { change: settled(r, [], [], true), outcome: { granted: true, token: h.token, ticket: h.ticket, count: 1 } };
  }
  if (!req.wait) return { change: settled(r, [], [], false), outcome: { granted: false } };
  if (r.waiters.length >= LOCK_WAITERS_MAX) throw HikariError.tooLarge(`the queue of lock ${name}`, r.waiters.length + 1, LOCK_WAITERS_MAX);
  r.waiters.push(waiter);
  return { change: settled(r, [], [], false), outcome: { granted: false, ticket: req.ticket, position: r.waiters.length - 1 } };
}

/**
 * A release of the grant with `token` by `session`: one reentrant acquire undone, or the grant ends
 * and the queue moves. Refused (changing nothing) with FENCE_MISMATCH when a newer grant replaced
 * this token, LOCK_NOT_HELD when it is not a grant of this session.
 */
export function release(
  current: LockRecord | null, name: string, session: string, token: number, index: number, nextToken: NextToken,
): { change: LockChange; count: number } {
  const holder = current?.holders.find((h) => h.token === token);
  if (!current || !holder || holder.session !== session) {
    if (current && !holder && current.holders.some((h) => h.token > token)) {
      throw new HikariError(ErrorCode.FENCE_MISMATCH, { name, token }, { message: `token ${token} of lock ${name} is stale: a newer grant holds the lock` });
    }
    throw new HikariError(ErrorCode.LOCK_NOT_HELD, { name, token }, { message: `lock ${name} is not held by this session with token ${token}` });
  }
  const r = copy(current);
  const mine = r.holders.find((h) => h.token === token)!;
  if (mine.count > 1) {
    mine.count--;
    return { change: settled(r, [], [], false), count: mine.count };
  }
  r.holders = r.holders.filter((h) => h !== mine);
  return { change: settled(r, promote(r, index, nextToken), [], true), count: 0 };
}

/** A ticket given up by its session: out of the queue if waiting, released (fully) if granted meanwhile. */
export function cancel(
  current: LockRecord | null, session: string, ticket: number, index: number, nextToken: NextToken,
): { change: LockChange; was: 'waiting' | 'held' | 'gone' } {
  if (!current) return { change: settled(emptyLock(1), [], [], false), was: 'gone' };
  const r = copy(current);
  const w = r.waiters.find((x) => x.ticket === ticket && x.session === session);
  if (w) {
    r.waiters = r.waiters.filter((x) => x !== w);
    // The head may have been blocking compatible waiters behind it.
    const granted = promote(r, index, nextToken);
    return { change: settled(r, granted, [w], granted.length > 0), was: 'waiting' };
  }
  const h = r.holders.find((x) => x.ticket === ticket && x.session === session);
  if (h) {
    r.holders = r.holders.filter((x) => x !== h);
    return { change: settled(r, promote(r, index, nextToken), [], true), was: 'held' };
  }
  return { change: settled(r, [], [], false), was: 'gone' };
}

/**
 * Sessions ended (all those one entry ends, together): their grants are released and their tickets
 * leave the queue, and only then is the queue moved — so no ending session is granted anything.
 */
export function dropSessions(current: LockRecord, sessions: ReadonlySet<string>, index: number, nextToken: NextToken): LockChange {
  const r = copy(current);
  const dropped = r.waiters.filter((w) => sessions.has(w.session));
  const before = r.holders.length;
  r.holders = r.holders.filter((h) => !sessions.has(h.session));
  r.waiters = r.waiters.filter((w) => !sessions.has(w.session));
  const granted = promote(r, index, nextToken);
  return settled(r, granted, dropped, before !== r.holders.length || granted.length > 0);
}

/** Is `token` a current grant of the lock (the check of a fenced write)? */
export function holdsToken(r: LockRecord | null, token: number): boolean {
  return r !== null && r.holders.some((h) => h.token === token);
}

/** Does `session` still hold or wait for this lock (its session index entry must stay)? */
export function involves(r: LockRecord | null, session: string): boolean {
  return r !== null && (r.holders.some((h) => h.session === session) || r.waiters.some((w) => w.session === session));
}
