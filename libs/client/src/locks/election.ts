/**
 * Leader election over the lock queues (Curator's LeaderLatch, etcd's Election): the candidates of
 * election `name` queue for the exclusive lock `election:<name>`, each with its value (an address, an
 * id); the holder is the leader, the queue's FIFO order the succession, and the grant's fencing token
 * the leadership's term. Leadership belongs to the candidate's session: it ends with `resign()`, or
 * when the session ends (expired, or the client closed), at which point the next candidate in the
 * queue is elected in the same log entry.
 *
 * ```ts
 * const election = client.election('scheduler');
 * election.on('lost', ({ reason }) => stopScheduling(reason)); // 'resigned' | 'expired' | 'closed'
 * const { token } = await election.campaign('host-a:8080'); // resolves once elected
 * startScheduling(token); // fence the leader's writes with it
 * for await (const leader of client.election('scheduler').observe()) console.log(leader?.value.toString());
 * ```
 *
 * What `isLeader` can promise: true means this candidate was elected, has not resigned, its session
 * has not been reported ended, and the session is `connected` right now. It turns false as soon as
 * the session is `suspended` (it may still be alive: leadership comes back with `reconnected`, no event
 * in between) or past its timeout by this process's clock, and for good, with a `lost` event, when the
 * server says the session expired. A paused process cannot know it lost leadership while paused: give
 * the token to what the leader writes (`fence`), so that a deposed leader's late writes are refused.
 *
 * After `lost` (reason 'expired'), the client is already on a new session: campaign again to stand.
 */
import { ErrorCode, HikariError, LockInfoResult, lockNameProblem } from '@hikarikeeper/protocol';
import type { SessionInfo } from '../session-keeper';
import type { Watch } from '../watch';
import type { ClusterLockDriver, ClusterLockGrant, LockInfoOptions } from './cluster-driver';
import { TypedEmitter } from '../typed-emitter';

/** An election `name` uses the lock `election:<name>`. */
export const ELECTION_LOCK_PREFIX = 'election:';

/** Longest wait between two attempts of `observe()` to read the leader while the cluster does not answer. */
const OBSERVE_RETRY_MS_MAX = 2_000;

/** The leader, as `lock.info` shows the election lock's holder. */
export interface LeaderInfo {
  /** The value it campaigned with (a copy the caller owns). */
  readonly value: Buffer;
  /** Its fencing token: every later leader's is greater. */
  readonly token: number;
  /** The session that holds the leadership. */
  readonly sessionId: string;
  /** The log index at which it was elected. */
  readonly since: number;
}

export interface CampaignOptions {
  /** Aborting withdraws the candidate: the campaign rejects with CANCELLED (a grant that raced is released). */
  signal?: AbortSignal;
  /** Longest wait to be elected (ms): past it, LOCK_TIMEOUT and the candidate leaves the queue. Default: for ever. */
  waitMs?: number;
}

export interface ObserveOptions {
  /** Aborting ends the iteration (without an error). */
  signal?: AbortSignal;
}

export interface ElectedEvent {
  /** The leadership's fencing token. */
  token: number;
}

export interface LostEvent {
  /** The token of the leadership that ended. */
  token: number;
  /**
   * 'resigned': `resign()`; 'expired': the session expired (the server released the leadership, and
   * may have elected someone else before this process heard of it); 'closed': the client was closed.
   */
  reason: 'resigned' | 'expired' | 'closed';
}

export interface ElectionEvents {
  /** This candidate is the leader (`campaign` resolves just after). */
  elected: ElectedEvent;
  /** This candidate's leadership ended. */
  lost: LostEvent;
}

export type ElectionEventName = keyof ElectionEvents;

/** What an election needs from the client (internal: HikariClient provides it). */
export interface ElectionPort {
  readonly locks: ClusterLockDriver;
  /** A watch of kind 'lock' on `lockName`. */
  watchLock(lockName: string, signal: AbortSignal | undefined): Watch;
  /** The client's session now. */
  session(): SessionInfo | null;
}

type State = 'idle' | 'campaigning' | 'leader';

export class Election extends TypedEmitter<ElectionEvents> {
  /** The lock the candidates queue for: `election:<name>`. */
  readonly lockName: string;
  private state: State = 'idle';
  private grant: ClusterLockGrant | null = null;
  private withdraw: AbortController | null = null;
  /** The campaign under way, settled once its outcome is in `state`. */
  private campaigning: Promise<void> | null = null;
  private detachLost: (() => void) | null = null;

  /** Use `client.election(name)`. Throws INVALID_ARGUMENT when `election:<name>` is not a lock name. */
  constructor(
    private readonly port: ElectionPort,
    readonly name: string,
  ) {
    super();
    if (typeof name !== 'string' || name.length === 0) throw HikariError.invalidArgument('name', 'must be a non-empty string');
    this.lockName = ELECTION_LOCK_PREFIX + name;
    const problem = lockNameProblem(this.lockName);
    if (problem !== null) throw HikariError.invalidArgument('name', `${this.lockName} must be a lock name, but it ${problem}`);
  }

  /** See the head comment: elected, not resigned, not lost, and the session connected right now. */
  get isLeader(): boolean {
    return this.state === 'leader' && !this.grant!.lost && this.port.session()?.state === 'connected';
  }

  /** The leadership's fencing token while this candidate holds it (even if `isLeader` is false for a while); null otherwise. */
  get token(): number | null {
    return this.grant?.token ?? null;
  }




  /**
   * Stands for election with `value` (shown to everyone by `leader()` and `observe()`); resolves once
   * elected, after the `elected` event. Rejects with INVALID_ARGUMENT if this object is already
   * campaigning or leading; CANCELLED when aborted or withdrawn by `resign()`; LOCK_TIMEOUT past
   * `waitMs`; SESSION_EXPIRED when the session ends meanwhile (it left the queue with it).
   */
  campaign(value: string | Uint8Array, options: CampaignOptions = {}): Promise<{ token: number }> {
    if (this.state !== 'idle') {
      const doing = this.state === 'leader' ? 'the leader' : 'campaigning';
      return Promise.reject(HikariError.invalidArgument('campaign', `this candidate of election ${this.name} is already ${doing}: resign first`));
    }
    if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
      return Promise.reject(HikariError.invalidArgument('value', 'must be a string or a Uint8Array'));
    }
    const run = this.run(value, options ?? {});
    this.campaigning = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /**
   * Leaves the election: releases the leadership (then `lost`, reason 'resigned'), or withdraws a
   * campaign still waiting (it rejects with CANCELLED). Nothing to do otherwise. If the release fails
   * (TIMEOUT: the cluster did not answer), this candidate is still the leader: call `resign` again.
   */
  async resign(): Promise<void> {
    if (this.state === 'campaigning') {
      this.withdraw?.abort(new HikariError(ErrorCode.CANCELLED, { reason: 'resigned' }, { message: `the candidate resigned from election ${this.name}` }));
      await this.campaigning; // elected meanwhile (the grant raced with the withdrawal): resign that below
    }
    const grant = this.grant;
    if (this.state !== 'leader' || grant === null) return;
    try {
      await this.port.locks.release(grant);
    } catch (error) {
      // Not held any more (its session ended): resigned all the same.
      if (!HikariError.is(error, ErrorCode.LOCK_NOT_HELD) && !HikariError.is(error, ErrorCode.FENCE_MISMATCH)) throw error;
    }
    this.lose(grant, 'resigned');
  }

  /**
   * The leader now (the election lock's holder), or null when there is none; linearizable unless
   * `stale`. Throws BAD_FRAME if the node's answer does not describe a holder.
   */
  async leader(options: LockInfoOptions = {}): Promise<LeaderInfo | null> {
    return leaderOf(await this.port.locks.info(this.lockName, options));
  }

  /**
   * The leader now, then each change of leader (null while there is none), for as long as the loop
   * runs or until `signal` aborts. Built on a watch of kind 'lock' on the election lock, which
   * resumes across reconnects, and a linearizable read of the leader after each change; changes
   * that come close together may show as one (the latest), and a value is never given twice in a
   * row. Reads that fail with a retryable error (the cluster out of reach) are tried again.
   */
  observe(options: ObserveOptions = {}): AsyncIterableIterator<LeaderInfo | null> {
    return this.observing(options?.signal);
  }

  private async run(value: string | Uint8Array, options: CampaignOptions): Promise<{ token: number }> {
    const { signal, waitMs } = options;
    const withdraw = new AbortController();
    const onAbort = (): void => withdraw.abort(signal!.reason);
    if (signal?.aborted === true) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    this.state = 'campaigning';
    this.withdraw = withdraw;
    let grant: ClusterLockGrant;
    try {
      grant = await this.port.locks.acquire(this.lockName, { mode: 'exclusive', value, waitMs, signal: withdraw.signal });
    } catch (error) {
      this.state = 'idle';
      throw error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.withdraw = null;
    }
    this.state = 'leader';
    this.grant = grant;
    const onLost = (): void => {
      const cause = (grant.signal.reason as HikariError | undefined)?.cause;
      this.lose(grant, HikariError.is(cause, ErrorCode.SESSION_EXPIRED) ? 'expired' : 'closed');
    };
    grant.signal.addEventListener('abort', onLost, { once: true });
    this.detachLost = () => grant.signal.removeEventListener('abort', onLost);
    this.emit('elected', { token: grant.token });
    if (grant.lost) onLost(); // lost before the listener was there (a listener of `elected` closed the client)
    return { token: grant.token };
  }

  private lose(grant: ClusterLockGrant, reason: LostEvent['reason']): void {
    if (this.grant !== grant) return; // said already
    this.grant = null;
    this.state = 'idle';
    this.detachLost?.();
    this.detachLost = null;
    this.emit('lost', { token: grant.token, reason });
  }

  private async *observing(signal: AbortSignal | undefined): AsyncGenerator<LeaderInfo | null, void, undefined> {
    if (aborted(signal)) return;
    const watch = this.port.watchLock(this.lockName, signal);
    const changes = watch[Symbol.asyncIterator]();
    try {
      try {
        await watch.ready; // registered: a change after this point wakes the loop, so the reads below miss none
      } catch (error) {
        if (aborted(signal)) return;
        throw error;
      }
      let last: LeaderInfo | null | undefined; // undefined: nothing given yet
      for (;;) {
        const current = await this.readLeader(watch, signal);
        if (current === undefined) return; // aborted
        if (last === undefined || (last?.token ?? null) !== (current?.token ?? null)) {
          last = current;
          yield current;
        }
        const change = await changes.next(); // a grant or release, or a resync: read again either way
        if (change.done === true) return;
      }
    } finally {
      watch.close();
    }
  }

  /** The leader, read again until it answers; undefined once `signal` aborted or the watch closed. */
  private async readLeader(watch: Watch, signal: AbortSignal | undefined): Promise<LeaderInfo | null | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.leader({ signal });
      } catch (error) {
        if (aborted(signal) || watch.closed) return undefined;
        if (!HikariError.is(error) || !error.retryable) throw error;
        await sleep(Math.min(OBSERVE_RETRY_MS_MAX, 50 * 2 ** attempt), signal);
      }
    }
  }

}

/** The leader in a `lock.info` result of an election lock: its first (only) holder. */
export function leaderOf(info: LockInfoResult): LeaderInfo | null {
  const holder: unknown = info.holders[0];
  if (holder === undefined) return null;
  const { token, session, since, value } = holder as Record<string, unknown>;
  if (!Number.isSafeInteger(token) || (token as number) < 1) throw malformed('holders[0].token must be a positive integer');
  if (typeof session !== 'string') throw malformed('holders[0].session must be a string');
  if (!Number.isSafeInteger(since) || (since as number) < 0) throw malformed('holders[0].since must be a log index');
  if (value !== null && value !== undefined && !(value instanceof Uint8Array)) throw malformed('holders[0].value must be bytes or null');
  return {
    value: value instanceof Uint8Array ? Buffer.from(value) : Buffer.alloc(0),
    token: token as number,
    sessionId: session,
    since: since as number,
  };
}

function malformed(reason: string): HikariError {
  return HikariError.badFrame(`malformed lock.info result: ${reason}`, { op: 'lock.info' });
}

/** A function, so that TypeScript does not keep a narrowing of `signal.aborted` across awaits. */
function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}
