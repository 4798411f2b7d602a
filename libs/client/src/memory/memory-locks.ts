/**
 * The lock queues of a MemoryCluster: what the server's lock rules do (server/src/coordination/
 * lock-rules.ts, with locks.ts and locks/ticket-waits.ts), on plain maps.
 *
 * - A lock has holders and a FIFO queue of waiters. An exclusive grant is possible while every
 *   holder is exclusive and fewer than `permits` hold it (1: a mutex; N: a semaphore); a shared one
 *   while every holder is shared. A new acquire is granted at once only if nobody waits; after every
 *   release, cancel or session end, the head of the queue is granted while it can be. Nobody
 *   overtakes.
 * - Every grant takes a fresh fencing token from one counter: tokens strictly grow per name.
 * - A queued ticket's `lock.wait` is answered with the token once granted, LOCK_NOT_HELD once it
 *   leaves the queue without a grant (cancelled, or its session ended).
 * - The sessions that end at one index release their grants and leave the queues before any queue
 *   moves, so that none of them is granted anything.
 *
 * It is checked against the cluster by the lock contract suite (testing/lock-contract.ts), run on both.
 */
import {
  ErrorCode,
  HikariError,
  LOCK_HOLDERS_MAX,
  LOCK_WAITERS_MAX,
  LockAcquireArgs,
  LockAcquireResult,
  LockCancelResult,
  LockHolderInfo,
  LockInfoResult,
  LockMode,
  LockReleaseResult,
  LockWaiterInfo,
} from '@hikarikeeper/protocol';
import type { MemoryChange } from './memory-namespace';

/** A holder and a waiter as `lock.info` lists them (the server keeps the same fields). */
type Holder = LockHolderInfo;
type Waiter = LockWaiterInfo;

interface LockQueue {
  readonly permits: number;
  holders: Holder[];
  waiters: Waiter[];
}

interface TicketWait {
  resolve(token: number): void;
  reject(error: HikariError): void;
}

export class MemoryLocks {
  private readonly queues = new Map<string, LockQueue>();
  /** Pending `lock.wait`s: lock name → ticket → waits. */
  private readonly waits = new Map<string, Map<number, Set<TicketWait>>>();
  private lastToken = 0;

  /** `lock.acquire` by `session` at `index` (which is the ticket when it queues). */
  acquire(args: LockAcquireArgs, session: string, index: number, changes: MemoryChange[]): LockAcquireResult {
    const { name, mode = 'exclusive' } = args;
    const queue = this.queues.get(name) ?? { permits: args.permits ?? 1, holders: [], waiters: [] };
    if (args.permits !== undefined && args.permits !== queue.permits) {
      throw HikariError.invalidArgument('permits', `lock ${name} is in use with permits ${queue.permits}, not ${args.permits}`);
    }
    if (mode === 'shared' && queue.permits > 1) {
      throw HikariError.invalidArgument('mode', `lock ${name} is a semaphore (permits ${queue.permits}): only exclusive acquires`);
    }
    if (args.reentrant === true) {
      const mine = queue.holders.find((holder) => holder.session === session && holder.mode === 'exclusive');
      if (mine !== undefined) {
        mine.count++;
        return { granted: true, token: mine.token, ticket: mine.ticket, count: mine.count };
      }
    }
    const waiter: Waiter = { ticket: index, session, mode, value: args.value ?? null };
    if (queue.waiters.length === 0 && canGrant(queue, mode)) {
      const holder = this.grant(name, queue, waiter, index);
      changes.push(lockChange(name, index));
      return { granted: true, token: holder.token, ticket: holder.ticket, count: 1 };
    }
    if (args.wait === false) return { granted: false };
    if (queue.waiters.length >= LOCK_WAITERS_MAX) throw HikariError.tooLarge(`the queue of lock ${name}`, queue.waiters.length + 1, LOCK_WAITERS_MAX);
    queue.waiters.push(waiter);
    this.queues.set(name, queue);
    return { granted: false, ticket: index, position: queue.waiters.length - 1 };
  }

  /**
   * `lock.wait`: the token once `ticket` (of `session`) is granted; LOCK_NOT_HELD once it is not
   * queued (any more). `stop` aborting ends the wait with its reason.
   */
  wait(name: string, ticket: number, session: string, stop: AbortSignal): Promise<number> {
    const queue = this.queues.get(name);
    const held = queue?.holders.find((holder) => holder.ticket === ticket && holder.session === session);
    if (held !== undefined) return Promise.resolve(held.token);
    if (queue?.waiters.some((waiter) => waiter.ticket === ticket && waiter.session === session) !== true) return Promise.reject(gone(name, ticket));
    return new Promise<number>((resolve, reject) => {
      const byTicket = this.waits.get(name) ?? new Map<number, Set<TicketWait>>();
      this.waits.set(name, byTicket);
      const set = byTicket.get(ticket) ?? new Set<TicketWait>();
      byTicket.set(ticket, set);
      const onStop = (): void => done(null, stop.reason as HikariError);
      const wait: TicketWait = { resolve: (token) => done(token, null), reject: (error) => done(null, error) };
      const done = (token: number | null, error: HikariError | null): void => {
        stop.removeEventListener('abort', onStop);
        set.delete(wait);
        if (set.size === 0) byTicket.delete(ticket);
        if (byTicket.size === 0) this.waits.delete(name);
        if (error === null) resolve(token!);
        else reject(error);
      };
      set.add(wait);
      stop.addEventListener('abort', onStop, { once: true });
    });
  }

  /** `lock.release` of the grant with `token` by `session`: one reentrant acquire undone, or the grant ends and the queue moves. */
  release(name: string, token: number, session: string, index: number, changes: MemoryChange[]): LockReleaseResult {
    const queue = this.queues.get(name);
    const holder = queue?.holders.find((each) => each.token === token);
    if (queue === undefined || holder === undefined || holder.session !== session) {
      if (queue !== undefined && holder === undefined && queue.holders.some((each) => each.token > token)) {
        throw new HikariError(ErrorCode.FENCE_MISMATCH, { name, token }, { message: `token ${token} of lock ${name} is stale: a newer grant holds the lock` });
      }
      throw new HikariError(ErrorCode.LOCK_NOT_HELD, { name, token }, { message: `lock ${name} is not held by this session with token ${token}` });
    }
    if (holder.count > 1) return { count: --holder.count };
    queue.holders = queue.holders.filter((each) => each !== holder);
    this.promote(name, queue, index);
    changes.push(lockChange(name, index));
    return { count: 0 };
  }

  /** `lock.cancel`: the ticket leaves the queue if it waits, or its grant is released (fully) if it was granted meanwhile. */
  cancel(name: string, ticket: number, session: string, index: number, changes: MemoryChange[]): LockCancelResult {
    const queue = this.queues.get(name);
    if (queue === undefined) return { was: 'gone' };
    const waiter = queue.waiters.find((each) => each.ticket === ticket && each.session === session);
    if (waiter !== undefined) {
      queue.waiters = queue.waiters.filter((each) => each !== waiter);
      this.answer(name, ticket, null);
      // The head may have been blocking compatible waiters behind it.
      if (this.promote(name, queue, index)) changes.push(lockChange(name, index));
      return { was: 'waiting' };
    }
    const holder = queue.holders.find((each) => each.ticket === ticket && each.session === session);
    if (holder === undefined) return { was: 'gone' };
    queue.holders = queue.holders.filter((each) => each !== holder);
    this.promote(name, queue, index);
    changes.push(lockChange(name, index));
    return { was: 'held' };
  }

  /** `lock.info`: holders in grant order, waiters in queue order. */
  info(name: string, index: number): LockInfoResult {
    const queue = this.queues.get(name);
    return {
      name,
      permits: queue?.permits ?? 1,
      holders: (queue?.holders ?? []).map(({ token, ticket, session, mode, count, since, value }) => ({ token, ticket, session, mode, count, since, value: copy(value) })),
      waiters: (queue?.waiters ?? []).map(({ ticket, session, mode, value }) => ({ ticket, session, mode, value: copy(value) })),
      index,
    };
  }

  /** Is `token` a current grant of `name` (the check of a fenced write)? */
  holdsToken(name: string, token: number): boolean {
    return this.queues.get(name)?.holders.some((holder) => holder.token === token) === true;
  }

  /** Sessions ended at `index`: their grants and tickets go, all of them before any queue moves. */
  dropSessions(sessions: ReadonlySet<string>, index: number, changes: MemoryChange[]): void {
    for (const name of [...this.queues.keys()].sort()) {
      const queue = this.queues.get(name)!;
      const dropped = queue.waiters.filter((waiter) => sessions.has(waiter.session));
      const before = queue.holders.length;
      queue.holders = queue.holders.filter((holder) => !sessions.has(holder.session));
      queue.waiters = queue.waiters.filter((waiter) => !sessions.has(waiter.session));
      for (const waiter of dropped) this.answer(name, waiter.ticket, null);
      const granted = this.promote(name, queue, index);
      if (granted || queue.holders.length !== before) changes.push(lockChange(name, index));
    }
  }

  /** Grants the head of the queue while it can be granted (says whether it did); forgets the lock once idle. */
  private promote(name: string, queue: LockQueue, index: number): boolean {
    let granted = false;
    while (queue.waiters.length > 0 && canGrant(queue, queue.waiters[0]!.mode)) {
      const holder = this.grant(name, queue, queue.waiters.shift()!, index);
      this.answer(name, holder.ticket, holder.token);
      granted = true;
    }
    if (queue.holders.length === 0 && queue.waiters.length === 0) this.queues.delete(name);
    return granted;
  }

  private grant(name: string, queue: LockQueue, waiter: Waiter, index: number): Holder {
    const holder: Holder = { ticket: waiter.ticket, token: ++this.lastToken, session: waiter.session, mode: waiter.mode, count: 1, since: index, value: waiter.value };
    queue.holders.push(holder);
    this.queues.set(name, queue);
    return holder;
  }

  /** Answers the waits of `ticket`: its token, or LOCK_NOT_HELD (null: it left the queue). */
  private answer(name: string, ticket: number, token: number | null): void {
    const set = this.waits.get(name)?.get(ticket);
    if (set === undefined) return;
    for (const wait of [...set]) {
      if (token === null) wait.reject(gone(name, ticket));
      else wait.resolve(token);
    }
  }
}

function canGrant(queue: LockQueue, mode: LockMode): boolean {
  if (mode === 'shared') return queue.holders.length < LOCK_HOLDERS_MAX && queue.holders.every((holder) => holder.mode === 'shared');
  return queue.holders.length < queue.permits && queue.holders.every((holder) => holder.mode === 'exclusive');
}

/** The change a lock watch sees: the holders of lock `name` changed at `index`. */
const lockChange = (name: string, index: number): MemoryChange => ({ index, path: name, type: 'changed', scope: 'lock' });

function gone(name: string, ticket: number): HikariError {
  return new HikariError(ErrorCode.LOCK_NOT_HELD, { name, ticket }, { message: `ticket ${ticket} of lock ${name} is no longer queued: it was cancelled, or its session ended` });
}

const copy = (value: Uint8Array | null): Uint8Array | null => (value === null ? null : Buffer.from(value));
