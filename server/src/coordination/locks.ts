/**
 * Lock commands applied to the state (the rules are in lock-rules.ts). A lock lives in one record
 * (key 0x1A + name), deleted when idle; each session indexes the locks it holds or awaits (0x1B),
 * so that its end releases them in the same entry; the fencing counter (0x1C) is one number.
 */
import { ErrorCode, HikariError, LockMode } from '@hikarikeeper/protocol';
import { fenceCounterKey, lockKey, sessionLockKey, sessionLockNameOf, sessionLockRange } from './keys';
import * as rules from './lock-rules';
import type { LockChange, LockHolder, LockRecord, LockWaiter, TicketEvent } from './lock-rules';
import type { ApplyPoint } from './namespace';
import type { Overlay } from './overlay';
import { pack, unpack } from './packer';
import { requireSession } from './sessions';

export type LockCommand =
  | { k: 'lock'; op: 'acquire'; name: string; mode: LockMode; permits?: number; reentrant?: boolean; wait?: boolean; value?: Uint8Array; c?: string; s?: number; t: number; sid?: string }
  | { k: 'lock'; op: 'release'; name: string; token: number; c?: string; s?: number; t: number; sid?: string }
  | { k: 'lock'; op: 'cancel'; name: string; ticket: number; c?: string; s?: number; t: number; sid?: string };

type HolderTuple = [number, number, string, 0 | 1, number, number, Uint8Array | null];
type WaiterTuple = [number, string, 0 | 1, Uint8Array | null];

const modeBit = (m: LockMode): 0 | 1 => (m === 'exclusive' ? 0 : 1);
const bitMode = (b: 0 | 1): LockMode => (b === 0 ? 'exclusive' : 'shared');

export function encodeLock(r: LockRecord): Buffer {
  const holders: HolderTuple[] = r.holders.map((h) => [h.ticket, h.token, h.session, modeBit(h.mode), h.count, h.since, h.value]);
  const waiters: WaiterTuple[] = r.waiters.map((w) => [w.ticket, w.session, modeBit(w.mode), w.value]);
  return pack([r.permits, holders, waiters]);
}

export function decodeLock(bytes: Uint8Array): LockRecord {
  const [permits, holders, waiters] = unpack<[number, HolderTuple[], WaiterTuple[]]>(bytes);
  return {
    permits,
    holders: holders.map(([ticket, token, session, mode, count, since, value]): LockHolder => ({ ticket, token, session, mode: bitMode(mode), count, since, value })),
    waiters: waiters.map(([ticket, session, mode, value]): LockWaiter => ({ ticket, session, mode: bitMode(mode), value })),
  };
}

export async function readLock(o: Overlay, name: string): Promise<LockRecord | null> {
  const bytes = await o.get(lockKey(name));
  return bytes ? decodeLock(bytes) : null;
}

/** The replicated fencing counter, read once per command and written back if it moved. */
class FenceCounter {
  private constructor(private last: number, private readonly start: number) {}

  static async load(o: Overlay): Promise<FenceCounter> {
    const bytes = await o.get(fenceCounterKey);
    const last = bytes ? unpack<number>(bytes) : 0;
    return new FenceCounter(last, last);
  }

  readonly next = (): number => ++this.last;

  save(o: Overlay): void {
    if (this.last !== this.start) o.put(fenceCounterKey, pack(this.last));
  }
}

/** Writes the outcome of a rule: the record, the session index entries, the counter, the events. */
function commit(o: Overlay, name: string, change: LockChange, sessions: Iterable<string>, fence: FenceCounter, at: ApplyPoint): void {
  if (change.record) o.put(lockKey(name), encodeLock(change.record));
  else o.del(lockKey(name));
  for (const s of new Set(sessions)) {
    if (rules.involves(change.record, s)) o.put(sessionLockKey(s, name), Buffer.alloc(0));
    else o.del(sessionLockKey(s, name));
  }
  fence.save(o);
  for (const w of change.dropped) at.tickets.push({ name, ticket: w.ticket, token: null });
  for (const h of change.granted) at.tickets.push({ name, ticket: h.ticket, token: h.token });
  if (change.holdersChanged) at.changes.push({ index: at.index, path: name, type: 'changed', scope: 'lock' });
}

/** Applies a lock command for the request's session; returns the wire result. */
export async function applyLock(o: Overlay, cmd: LockCommand, at: ApplyPoint): Promise<unknown> {
  const session = await requireSession(o, at.session, 'locks');
  const current = await readLock(o, cmd.name);
  const fence = await FenceCounter.load(o);
  switch (cmd.op) {
    case 'acquire': {
      const { change, outcome } = rules.acquire(current, cmd.name, {
        ticket: at.index, session, mode: cmd.mode, permits: cmd.permits, reentrant: cmd.reentrant === true,
        wait: cmd.wait !== false, value: cmd.value ?? null, index: at.index,
      }, fence.next);
      if (!outcome.granted && outcome.ticket === undefined) return outcome; // tryAcquire refused: nothing changed
      commit(o, cmd.name, change, [session, ...change.granted.map((h) => h.session)], fence, at);
      return outcome;
    }
    case 'release': {
      const { change, count } = rules.release(current, cmd.name, session, cmd.token, at.index, fence.next);
      commit(o, cmd.name, change, [session, ...change.granted.map((h) => h.session)], fence, at);
      return { count };
    }
    case 'cancel': {
      const { change, was } = rules.cancel(current, session, cmd.ticket, at.index, fence.next);
      if (was !== 'gone') commit(o, cmd.name, change, [session, ...change.granted.map((h) => h.session)], fence, at);
      return { was };
    }
  }
}

/**
 * Sessions ended in one entry: every lock they held is released and every ticket they had leaves
 * its queue — for all of them before any queue moves (a session expiring in this entry must not be
 * granted a lock another one frees). Locks are visited in name order: every replica alike.
 */
export async function dropSessionLocks(o: Overlay, sessions: readonly string[], at: ApplyPoint): Promise<void> {
  const names = new Set<string>();
  // All scans at once (see endSessions); then the index entries go.
  const indexed = await Promise.all(sessions.map((s) => o.scan(sessionLockRange(s).gte, sessionLockRange(s).lt)));
  sessions.forEach((session, i) => {
    for (const [key] of indexed[i]) {
      names.add(sessionLockNameOf(session, key));
      o.del(key);
    }
  });
  if (names.size === 0) return;
  const ending = new Set(sessions);
  const fence = await FenceCounter.load(o);
  for (const name of [...names].sort()) {
    const current = await readLock(o, name);
    if (!current) continue;
    const change = rules.dropSessions(current, ending, at.index, fence.next);
    commit(o, name, change, change.granted.map((h) => h.session), fence, at);
  }
}

/** The check of a fenced write: `token` must be a current grant of `lock`. */
export async function checkFence(o: Overlay, lock: string, token: number): Promise<void> {
  if (!rules.holdsToken(await readLock(o, lock), token)) {
    throw new HikariError(ErrorCode.FENCE_MISMATCH, { name: lock, token }, { message: `token ${token} is not a current grant of lock ${lock}` });
  }
}

export type { TicketEvent };
