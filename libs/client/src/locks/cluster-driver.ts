/**
 * ClusterLockDriver: the `LockDriver` of HikariKeeper itself, over the servers' lock queues (see the
 * protocol's ops/lock.ts). The client builds it, as `client.locks`, and `client.lock(name)`,
 * `client.withLock` and `client.election` stand on it; users do not construct it.
 *
 * An acquire, step by step:
 * 1. `lock.acquire` (a write, with its seq): granted at once (→ the grant), refused (`wait: false`:
 *    tryAcquire → null, waitMs 0 → LOCK_TIMEOUT), or queued with a `ticket`.
 * 2. Queued: `lock.wait {name, ticket}` until the ticket is granted (→ the grant). A call's deadline
 *    is bounded (TIMER_MS_MAX) and a wait may last for ever, so, lock.wait being idempotent, it goes
 *    in chunks of LOCK_WAIT_CHUNK_MS, sent again when one passes. After a reconnect the dispatcher
 *    sends it again to the new node, which answers it as well: tickets move through the log.
 * 3. Giving up (`waitMs` passed, `signal` aborted): `lock.cancel {name, ticket}` takes the ticket out
 *    of the queue, or releases the grant if it raced with the give-up; LOCK_TIMEOUT or CANCELLED
 *    follows once the cancel is applied (at most the client's `timeoutMs` later; the cancel goes on).
 *
 * The acquire write is never abandoned: applied unseen, its ticket would be granted later to nobody,
 * and the lock held until the session ends. It goes without a deadline of its own (retried across
 * reconnects until answered); a give-up while it is under way undoes its outcome when it comes (the
 * grant released, or the ticket cancelled), and rejects once that is done, or after the client's
 * `timeoutMs` at most (the undo goes on). Cancels and those releases go the same way.
 *
 * Sessions: grants and tickets belong to the client's session. When it ends (expired, or the client
 * closed), the server has released them all: every acquire under way fails (SESSION_EXPIRED; CANCELLED
 * on close) and its calls are abandoned rather than sent again on the next session, where a retried
 * write would be answered with its outcome on the dead one; every grant handed out becomes `lost` (its
 * `signal` aborts). A ticket the server drops (lock.wait answers LOCK_NOT_HELD) means the same:
 * SESSION_EXPIRED. Locks need a session: a client made with `session: false` gets SESSION_EXPIRED.
 */
import { setMaxListeners } from 'node:events';
import { ErrorCode, HikariError, LockInfoResult, LockMode, lockNameProblem, OpArgs, OpResult } from '@hikarikeeper/protocol';
import type { CallOptions } from '../dispatcher';
import { TIMER_MS_MAX } from '../options';
import type { AcquireOptions, LockDriver, LockGrant } from './types';

/** Deadline of one `lock.wait` call; a wait longer than this sends it again. */
export const LOCK_WAIT_CHUNK_MS = 60_000;

type LockOp = 'lock.acquire' | 'lock.wait' | 'lock.release' | 'lock.cancel' | 'lock.info';

/** A grant of the cluster driver: a `LockGrant`, plus where it comes from and whether it is known lost. */
export interface ClusterLockGrant extends LockGrant {
  /** The log index of the acquire that asked for it (what `lock.info` lists as `ticket`). */
  readonly ticket: number;
  /** The session that holds it. */
  readonly sessionId: string;
  /** Acquires of this grant the session held when it was granted (reentrant acquires; 1 otherwise). */
  readonly count: number;
  /**
   * True once the session that holds it has ended (expired, or the client closed): the server has
   * released it. False does not prove ownership: while the session is `suspended`, or past its timeout
   * by this process's clock (`client.session.state`), it may be gone already. Hence fencing tokens.
   */
  readonly lost: boolean;
  /** Aborted when the grant becomes `lost` (reason: a LOCK_NOT_HELD HikariError); pass it to the work done under the lock. */
  readonly signal: AbortSignal;
}

export interface LockInfoOptions extends CallOptions {
  /** Answer from the connected node's own state (maybe behind) rather than a linearizable read. */
  stale?: boolean;
}

/** What the driver needs from the client (internal: HikariClient provides it). */
export interface LockPort {
  call<O extends LockOp>(op: O, args: OpArgs<O>, options: CallOptions): Promise<OpResult<O>>;
  /** False for a client made with `session: false`. */
  readonly sessions: boolean;
  /** The id of the client's session (the current one, or the one just ended until the next opens). */
  sessionId(): string;
  /** The client's default call deadline: the longest a give-up waits for its cancel. */
  readonly timeoutMs: number;
  /** Deadline of one `lock.wait` call; default LOCK_WAIT_CHUNK_MS. */
  readonly waitChunkMs?: number;
}

/** The client's side of the driver (internal). */
export interface LockDriverHooks {
  /** The session ended: `expired` (the `expired` event), or `closed` (the client is closing). Synchronous. */
  sessionEnded(sessionId: string, how: 'expired' | 'closed'): void;
}

/** What is tied to one session: `signal` aborts (with the error to throw) when the session ends. */
interface Epoch {
  readonly controller: AbortController;
}

interface Prepared {
  readonly name: string;
  readonly mode: LockMode;
  readonly args: OpArgs<'lock.acquire'>;
  readonly waitMs: number | undefined;
  readonly signal: AbortSignal | undefined;
}

class Grant implements ClusterLockGrant {
  /** Made when `signal` is first read: most grants are released without anyone listening. */
  private controller: AbortController | null = null;
  private lostReason: HikariError | null = null;

  constructor(
    readonly name: string,
    readonly token: number,
    readonly mode: LockMode,
    readonly ticket: number,
    readonly sessionId: string,
    readonly count: number,
  ) {}

  get lost(): boolean {
    return this.lostReason !== null;
  }

  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.lostReason !== null) this.controller.abort(this.lostReason);
    }
    return this.controller.signal;
  }

  lose(reason: HikariError): void {
    if (this.lostReason !== null) return;
    this.lostReason = reason;
    this.controller?.abort(reason);
  }
}

export class ClusterLockDriver implements LockDriver {
  readonly kind = 'cluster' as const;
  private epoch: Epoch = { controller: sharedController() };
  /** Grants handed out and not released, to mark them lost when their session ends. */
  private readonly held = new Set<Grant>();

  private constructor(private readonly port: LockPort) {}

  /** Internal: a driver over `port`, and the hooks the client calls. */
  static open(port: LockPort): { driver: ClusterLockDriver; hooks: LockDriverHooks } {
    const driver = new ClusterLockDriver(port);
    return { driver, hooks: { sessionEnded: (sessionId, how) => driver.sessionEnded(sessionId, how) } };
  }

  /**
   * Waits for the lock (see AcquireOptions) and resolves with the grant. Rejects with LOCK_TIMEOUT
   * (details {name, waitMs}) past `waitMs`, CANCELLED on abort (in both cases the ticket has left the
   * queue), SESSION_EXPIRED when the session ends meanwhile, INVALID_ARGUMENT for bad options or a
   * `permits` / mode that disagrees with the lock's current users, TOO_LARGE when LOCK_WAITERS_MAX
   * tickets already wait or `value` exceeds LOCK_VALUE_BYTES_MAX, plus the errors of any call.
   */
  async acquire(name: string, options: AcquireOptions = {}): Promise<ClusterLockGrant> {
    const request = this.prepare(name, options, options?.waitMs, options?.signal);
    const grant = await this.run(request);
    if (grant === null) throw lockTimeout(name, 0);
    return grant;
  }

  /** The grant now, or null if the lock is taken or others wait for it (never queues: FIFO holds). */
  async tryAcquire(name: string, options: Omit<AcquireOptions, 'waitMs' | 'signal'> = {}): Promise<ClusterLockGrant | null> {
    return this.run(this.prepare(name, options, 0, undefined));
  }

  /**
   * Undoes one acquire of the grant (a reentrant grant stays held until its count reaches 0).
   * LOCK_NOT_HELD when this session does not hold it (released already, or its session ended);
   * FENCE_MISMATCH when a newer grant of the lock exists.
   */
  async release(grant: LockGrant): Promise<void> {
    checkGrant(grant);
    this.forget(grant);
    this.requireSessions();
    await this.port.call('lock.release', { name: grant.name, token: grant.token }, {});
  }

  /** The lock's holders (in grant order) and waiters (in queue order); linearizable unless `stale`. No session needed. */
  async info(name: string, options: LockInfoOptions = {}): Promise<LockInfoResult> {
    checkName(name);
    const { stale, ...call } = options;
    return this.port.call('lock.info', stale === undefined ? { name } : { name, stale }, call);
  }

  /** Checks everything it can before anything is sent. */
  private prepare(
    name: string,
    options: Omit<AcquireOptions, 'waitMs' | 'signal'>,
    waitMs: number | undefined,
    signal: AbortSignal | undefined,
  ): Prepared {
    if (typeof options !== 'object' || options === null) throw HikariError.invalidArgument('options', 'must be an object');
    checkName(name);
    if (waitMs !== undefined && (!Number.isSafeInteger(waitMs) || waitMs < 0 || waitMs > TIMER_MS_MAX)) {
      throw HikariError.invalidArgument('waitMs', `must be an integer in [0, ${TIMER_MS_MAX}]`);
    }
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw HikariError.invalidArgument('signal', 'must be an AbortSignal');
    const { mode = 'exclusive', permits, reentrant, value } = options;
    if (mode !== 'exclusive' && mode !== 'shared') throw HikariError.invalidArgument('mode', "must be 'exclusive' or 'shared'");
    const args: OpArgs<'lock.acquire'> = { name, mode };
    if (permits !== undefined) args.permits = permits; // checked by the protocol's validator, as are the others
    if (reentrant !== undefined) args.reentrant = reentrant;
    if (waitMs === 0) args.wait = false;
    if (value !== undefined) args.value = valueBytes(value);
    this.requireSessions();
    if (signal?.aborted === true) throw cancelled(name, signal.reason);
    return { name, mode, args, waitMs, signal };
  }

  /** The acquire itself: a grant, or null when refused without queueing (`wait: false`). */
  private async run(request: Prepared): Promise<ClusterLockGrant | null> {
    const epoch = this.epoch;
    const giveUp = new GiveUp(request.name, request.waitMs, request.signal);
    try {
      const acquiring = this.port.call('lock.acquire', request.args, { timeoutMs: TIMER_MS_MAX, signal: epoch.controller.signal });
      let outcome: OpResult<'lock.acquire'>;
      try {
        outcome = await giveUp.race(acquiring);
      } catch (error) {
        if (giveUp.aborted && error === giveUp.reason) {
          // The write goes on: undo what it did once it is answered, before saying so if that is soon.
          const undone = acquiring.then(
            (late) => this.undo(request.name, late, epoch),
            () => undefined,
          );
          await settledWithin(undone, this.port.timeoutMs);
        }
        throw this.sessionError(epoch, request.name) ?? error;
      }
      if (outcome.granted) return this.granted(request, epoch, outcome.token, outcome.ticket, outcome.count);
      if (outcome.ticket === undefined) return null;
      return await this.waitForGrant(request, epoch, giveUp, outcome.ticket);
    } finally {
      giveUp.dispose();
    }
  }

  /** Step 2: `lock.wait` until the ticket is granted, the caller gives up, or the session ends. */
  private async waitForGrant(request: Prepared, epoch: Epoch, giveUp: GiveUp, ticket: number): Promise<ClusterLockGrant> {
    const { name } = request;
    const timeoutMs = this.port.waitChunkMs ?? LOCK_WAIT_CHUNK_MS;
    // Either way out of the wait: the session ends, or the caller gives up.
    const stop = linkedSignal(epoch.controller.signal, giveUp.signal);
    try {
      for (;;) {
        let token: number;
        try {
          ({ token } = await this.port.call('lock.wait', { name, ticket }, { timeoutMs, signal: stop.signal }));
        } catch (error) {
          const ended = this.sessionError(epoch, name);
          if (ended !== null) throw ended;
          if (giveUp.aborted) {
            await settledWithin(this.cancel(name, ticket, epoch), this.port.timeoutMs);
            throw giveUp.reason;
          }
          if (HikariError.is(error, ErrorCode.TIMEOUT)) continue; // a chunk passed, or no node answered: still queued
          if (HikariError.is(error, ErrorCode.LOCK_NOT_HELD)) throw ticketDropped(name, ticket, this.port.sessionId(), error);
          void this.cancel(name, ticket, epoch); // anything else: leave the queue, and say why
          throw error;
        }
        return this.granted(request, epoch, token, ticket, 1);
      }
    } finally {
      stop.dispose();
    }
  }

  private granted(request: Prepared, epoch: Epoch, token: number, ticket: number, count: number): ClusterLockGrant {
    const ended = this.sessionError(epoch, request.name);
    if (ended !== null) throw ended; // granted to the session that just ended: released with it
    const grant = new Grant(request.name, token, request.mode, ticket, this.port.sessionId(), count);
    this.held.add(grant);
    return grant;
  }

  /** Cancels `ticket`, in the background if need be; never rejects. */
  private cancel(name: string, ticket: number, epoch: Epoch): Promise<void> {
    const options = { timeoutMs: TIMER_MS_MAX, signal: epoch.controller.signal };
    return this.port.call('lock.cancel', { name, ticket }, options).then(
      () => undefined,
      () => undefined, // the session ended (nothing left to cancel), or the client closed
    );
  }

  /** Undoes the outcome of an acquire given up on while it was under way; never rejects. */
  private async undo(name: string, outcome: OpResult<'lock.acquire'>, epoch: Epoch): Promise<void> {
    if (epoch !== this.epoch) return; // gone with its session
    if (outcome.granted) {
      const options = { timeoutMs: TIMER_MS_MAX, signal: epoch.controller.signal };
      // A release (not a cancel, which would end the whole grant): a reentrant acquire undoes one count.
      await this.port.call('lock.release', { name, token: outcome.token }, options).catch(() => undefined);
    } else if (outcome.ticket !== undefined) {
      await this.cancel(name, outcome.ticket, epoch);
    }
  }

  /** The error to throw if `epoch`'s session has ended, else null. */
  private sessionError(epoch: Epoch, name: string): HikariError | null {
    if (!epoch.controller.signal.aborted) return null;
    const reason = epoch.controller.signal.reason as HikariError;
    if (reason.code !== ErrorCode.SESSION_EXPIRED) return reason;
    const sessionId = reason.details.sessionId as string;
    return new HikariError(
      ErrorCode.SESSION_EXPIRED,
      { name, sessionId },
      { message: `session ${sessionId} expired while acquiring lock ${name}: its grants and tickets are gone`, cause: reason },
    );
  }

  private sessionEnded(sessionId: string, how: 'expired' | 'closed'): void {
    const ended = this.epoch;
    this.epoch = { controller: sharedController() };
    const reason =
      how === 'expired'
        ? new HikariError(ErrorCode.SESSION_EXPIRED, { sessionId }, { message: `session ${sessionId} expired: its locks are released` })
        : new HikariError(ErrorCode.CANCELLED, { reason: 'the client was closed' }, { message: 'the client was closed' });
    ended.controller.abort(reason);
    const grants = [...this.held];
    this.held.clear();
    for (const grant of grants) {
      grant.lose(
        new HikariError(
          ErrorCode.LOCK_NOT_HELD,
          { name: grant.name, token: grant.token, sessionId },
          { message: `lock ${grant.name} (token ${grant.token}) is lost: session ${sessionId} ${how === 'expired' ? 'expired' : 'was closed'}`, cause: reason },
        ),
      );
    }
  }

  private forget(grant: LockGrant): void {
    if (grant instanceof Grant) {
      this.held.delete(grant);
      return;
    }
    for (const each of this.held) {
      if (each.name === grant.name && each.token === grant.token) {
        this.held.delete(each);
        return;
      }
    }
  }

  private requireSessions(): void {
    if (this.port.sessions) return;
    throw new HikariError(
      ErrorCode.SESSION_EXPIRED,
      { reason: 'no session' },
      { message: 'locks belong to a session, and this client has none (it was connected with `session: false`)' },
    );
  }
}

/**
 * The caller's way out of a wait: `waitMs` passed (LOCK_TIMEOUT) or `signal` aborted (CANCELLED),
 * with that error as the reason. Plain fields, not an AbortController, on the hot path (an acquire
 * granted at once): the `signal` is made only for a ticket's wait, which hands it to its calls.
 */
class GiveUp {
  private readonly timer: NodeJS.Timeout | null = null;
  private detach: (() => void) | null = null;
  private why: HikariError | null = null;
  private controller: AbortController | null = null;
  /** The pending `race`'s rejection, called when the caller gives up. */
  private onGiveUp: ((reason: HikariError) => void) | null = null;

  constructor(name: string, waitMs: number | undefined, signal: AbortSignal | undefined) {
    if (waitMs !== undefined && waitMs > 0) {
      this.timer = setTimeout(() => this.giveUp(lockTimeout(name, waitMs)), waitMs);
    }
    if (signal !== undefined) {
      const onAbort = (): void => this.giveUp(cancelled(name, signal.reason));
      signal.addEventListener('abort', onAbort, { once: true });
      this.detach = () => signal.removeEventListener('abort', onAbort);
    }
  }

  get aborted(): boolean {
    return this.why !== null;
  }

  /** The error to throw once given up (null before). */
  get reason(): HikariError | null {
    return this.why;
  }

  /** Aborts (with `reason`) when the caller gives up. */
  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.why !== null) this.controller.abort(this.why);
    }
    return this.controller.signal;
  }

  /** `promise`, or a rejection with the reason as soon as the caller gives up (the promise goes on). One at a time. */
  race<T>(promise: Promise<T>): Promise<T> {
    if (this.why !== null) return Promise.reject(this.why);
    if (this.timer === null && this.detach === null) return promise; // nothing can give up
    return new Promise<T>((resolve, reject) => {
      this.onGiveUp = reject;
      promise.then(
        (value) => {
          this.onGiveUp = null;
          resolve(value);
        },
        (error: unknown) => {
          this.onGiveUp = null;
          reject(error);
        },
      );
    });
  }

  dispose(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.detach?.();
    this.detach = null;
    this.onGiveUp = null;
  }

  private giveUp(reason: HikariError): void {
    if (this.why !== null) return;
    this.why = reason;
    this.controller?.abort(reason);
    const reject = this.onGiveUp;
    this.onGiveUp = null;
    reject?.(reason);
  }
}

/** A signal aborted when either of two is (with its reason); `dispose` detaches it from them. */
function linkedSignal(a: AbortSignal, b: AbortSignal): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const fromA = (): void => controller.abort(a.reason);
  const fromB = (): void => controller.abort(b.reason);
  if (a.aborted) fromA();
  else if (b.aborted) fromB();
  a.addEventListener('abort', fromA, { once: true });
  b.addEventListener('abort', fromB, { once: true });
  return {
    signal: controller.signal,
    dispose: () => {
      a.removeEventListener('abort', fromA);
      b.removeEventListener('abort', fromB);
    },
  };
}

/** Resolves when `promise` settles or after `ms`, whichever comes first. */
function settledWithin(promise: Promise<void>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    void promise.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function checkName(name: string): void {
  if (typeof name !== 'string') throw HikariError.invalidArgument('name', 'must be a string');
  const problem = lockNameProblem(name);
  if (problem !== null) throw HikariError.invalidArgument('name', `must be a lock name, but it ${problem}`);
}

function checkGrant(grant: LockGrant): void {
  if (typeof grant !== 'object' || grant === null) throw HikariError.invalidArgument('grant', 'must be a LockGrant');
  checkName(grant.name);
  if (!Number.isSafeInteger(grant.token) || grant.token < 1) throw HikariError.invalidArgument('grant.token', 'must be a fencing token (a positive integer)');
}

function valueBytes(value: Uint8Array | string): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (value instanceof Uint8Array) return Buffer.from(value); // a copy: sent again as is if the write is retried
  throw HikariError.invalidArgument('value', 'must be a Uint8Array or a string');
}

function lockTimeout(name: string, waitMs: number): HikariError {
  const message = waitMs === 0 ? `lock ${name} is taken (waitMs 0: no wait)` : `timed out after ${waitMs} ms waiting for lock ${name}`;
  return new HikariError(ErrorCode.LOCK_TIMEOUT, { name, waitMs }, { message });
}

function cancelled(name: string, reason: unknown): HikariError {
  return new HikariError(ErrorCode.CANCELLED, { name, reason: 'aborted' }, { message: `waiting for lock ${name} was cancelled`, cause: reason });
}

function ticketDropped(name: string, ticket: number, sessionId: string, cause: HikariError): HikariError {
  return new HikariError(
    ErrorCode.SESSION_EXPIRED,
    { name, ticket, sessionId },
    { message: `ticket ${ticket} of lock ${name} was dropped by the server: the session that queued it has ended`, cause },
  );
}

/**
 * A controller whose signal every acquire under way listens to (the session's end): one listener per
 * acquire, removed when it settles, so the default limit of 10 listeners is no sign of a leak here.
 */
function sharedController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}
