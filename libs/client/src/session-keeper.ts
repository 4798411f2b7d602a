/**
 * The client's session: opens it, binds it to every new connection, keeps it alive, notices when it
 * has expired, opens the next one, and closes it. Its requests go straight on the connection, one at
 * a time, ahead of any call (the dispatcher leaves them a slot): a keepalive never waits in a queue.
 *
 * States (`state`) and what moves between them; events are the hooks, in brackets:
 *
 * | from        | on                                                        | to          |
 * |-------------|-----------------------------------------------------------|-------------|
 * | (none)      | session.open answered, on the leader                      | connected [connected] |
 * | connected   | its connection closed (any reason)                        | suspended [suspended] |
 * | suspended   | session.resume on a new connection, then a keepalive OK   | connected [reconnected] |
 * | connected,  | the session's timeout passed since the last renewal was   | expired (a belief: no |
 * | suspended   | sent (process paused, cluster unreachable)                | event yet)  |
 * | expired     | a keepalive renews it after all (the server's word wins)  | connected [reconnected] |
 * | any         | SESSION_EXPIRED from resume, keepalive or a call; a       | expired [expired], then |
 * |             | `session` event; resume refused for good                  | a new session.open |
 * | any         | close()                                                   | closed      |
 *
 * Binding: on each new connection, `session.resume` (any node) binds the session; the gate then opens
 * and calls flow, and a keepalive goes at once, since a resume on a follower proves nothing about the
 * leader's view. That keepalive is what moves the client to the leader (NOT_LEADER), and what turns
 * `suspended` into `connected`. Keepalives then go every timeoutMs / 3 of the timeout the server
 * granted; a renewal counts from the moment its keepalive was sent.
 *
 * Retries follow retry.ts (planSessionRetry): NOT_LEADER moves to the named leader, NO_LEADER /
 * UNAVAILABLE / SHUTTING_DOWN to the next endpoint, TOO_MANY_REQUESTS / TIMEOUT wait a backoff, a
 * lost connection waits for the next. A request unanswered for timeoutMs / 3 (connectTimeoutMs for
 * an open) leaves that node as unresponsive.
 */
import { ErrorCode, HikariError, isPlainObject, OpResult } from '@hikarikeeper/protocol';
import { Connection } from './connection';
import { Connector } from './connector';
import { backoffDelayMs, Random } from './endpoints';
import { BackoffOptions } from './options';
import { checkResult } from './results';
import { planSessionRetry } from './retry';

export type SessionState = 'connected' | 'suspended' | 'expired' | 'closed';

/** What `HikariClient.session` shows. */
export interface SessionInfo {
  /** The session's id (during `expired`, the id of the session that is gone). */
  readonly id: string;
  /** The timeout the server granted (ms). */
  readonly timeoutMs: number;
  readonly state: SessionState;
}

export interface SessionKeeperOptions {
  /** The timeout to ask for. */
  readonly timeoutMs: number;
  /** How long a `session.open` may take on one node before the keeper leaves it. */
  readonly connectTimeoutMs: number;
  readonly backoff: BackoffOptions;
  readonly random?: Random;
  readonly now?: () => number;
}

/** Called synchronously; none is called once `close` has begun. */
export interface SessionKeeperHooks {
  /** The session is bound to `connection`: calls may go on it. */
  bound(connection: Connection): void;
  /** A new session is open (and bound to `connection`). */
  opened(connection: Connection, sessionId: string): void;
  /** The session is confirmed alive again, on `connection`. */
  reconnected(connection: Connection, sessionId: string): void;
  suspended(sessionId: string, error: HikariError): void;
  /** Called once per session, before the next one is opened. */
  expired(sessionId: string): void;
  /** No session could be opened, for a reason no retry fixes (before the first session only). */
  failed(error: HikariError): void;
}

type SessionOp = 'session.open' | 'session.resume' | 'session.keepalive' | 'session.close';

interface Pending {
  readonly connection: Connection;
  readonly op: SessionOp;
  readonly sentAt: number;
  readonly answerTimer: NodeJS.Timeout;
}

/** Keepalives per session timeout: one lost or slow keepalive still leaves time for two more. */
export const KEEPALIVES_PER_TIMEOUT = 3;

export function keepaliveIntervalMs(timeoutMs: number): number {
  return Math.max(1, Math.floor(timeoutMs / KEEPALIVES_PER_TIMEOUT));
}

export class SessionKeeper {
  /** The session in use (null before the first open, and between an expiry and the next open). */
  private session: { id: string; timeoutMs: number } | null = null;
  /** The session that expired last, shown while the next one opens. */
  private lastExpired: { id: string; timeoutMs: number } | null = null;
  private current: SessionState = 'suspended';
  /** The connection the session is bound to (it is then the connector's current one). */
  private boundTo: Connection | null = null;
  private pending: Pending | null = null;
  private keepaliveDue = false;
  /** Backoff waits since the last success. */
  private waits = 0;
  private opened = false;
  private closing: { readonly done: Promise<void>; finish(): void; finished: boolean } | null = null;
  private keepaliveTimer: NodeJS.Timeout | null = null;
  private deadlineTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly now: () => number;
  private readonly random: Random;

  constructor(
    private readonly options: SessionKeeperOptions,
    private readonly connector: Connector,
    private readonly hooks: SessionKeeperHooks,
  ) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  /** Null until the first session is open. */
  get info(): SessionInfo | null {
    const shown = this.session ?? this.lastExpired;
    return shown === null ? null : { id: shown.id, timeoutMs: shown.timeoutMs, state: this.current };
  }

  /** True when calls may go on `connection`: the session is bound to it. */
  isBound(connection: Connection): boolean {
    return this.boundTo === connection && connection.isOpen;
  }

  /** A new connection is up (handshake done). */
  connected(connection: Connection): void {
    this.step(connection);
  }

  /** A connection closed; `error` says why. Called before its requests are answered CONNECTION_LOSS. */
  disconnected(connection: Connection, error: HikariError): void {
    if (this.pending?.connection === connection) this.clearPending();
    if (this.boundTo !== connection) return;
    this.boundTo = null;
    if (this.closing !== null || this.current !== 'connected' || this.session === null) return;
    this.current = 'suspended';
    this.hooks.suspended(this.session.id, error);
  }

  /** A `session` event pushed on `connection`. */
  event(data: unknown): void {
    if (!isPlainObject(data) || data.state !== 'expired') return; // states this SDK does not know
    if (this.session !== null && data.sessionId === this.session.id) this.expire();
  }

  /** A call on `connection` was answered SESSION_EXPIRED. */
  callSaidExpired(connection: Connection): void {
    if (this.boundTo === connection) this.expire();
  }

  /**
   * Ends the session with `session.close` (on its connection, or after a resume on the next one),
   * best effort: resolves once the server answered, or after `waitMs`, whichever comes first. No
   * hook is called from now on.
   */
  close(waitMs: number): Promise<void> {
    if (this.closing !== null) return this.closing.done;
    this.current = 'closed';
    this.clearTimers();
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const timer = setTimeout(() => this.closing?.finish(), waitMs);
    const closing = {
      done,
      finished: false,
      finish: () => {
        closing.finished = true;
        clearTimeout(timer);
        this.clearTimers();
        this.clearPending();
        finish();
      },
    };
    this.closing = closing;
    // A keepalive in flight no longer matters, and waiting for it could use up the wait; a resume
    // in flight does: the close goes once the session is bound.
    if (this.pending?.op === 'session.keepalive') this.clearPending();
    if (this.session === null) closing.finish();
    else this.step();
    return done;
  }

  /** Sends what the session needs next on `connection`, if anything and if nothing is in flight. */
  private step(connection = this.connector.current): void {
    if (connection === null || !connection.isOpen || this.pending !== null || this.retryTimer !== null) return;
    if (this.closing?.finished === true) return;
    const op = this.nextOp(connection);
    if (op !== null) this.send(connection, op);
  }

  /** The decision: what the session needs on `connection`. */
  private nextOp(connection: Connection): SessionOp | null {
    if (this.closing !== null) {
      if (this.session === null) return null;
      return this.boundTo === connection ? 'session.close' : 'session.resume';
    }
    if (this.session === null) return 'session.open';
    if (this.boundTo !== connection) return 'session.resume';
    return this.keepaliveDue ? 'session.keepalive' : null;
  }

  private send(connection: Connection, op: SessionOp): void {
    const args =
      op === 'session.open'
        ? { timeoutMs: this.options.timeoutMs }
        : op === 'session.resume'
          ? { sessionId: this.session!.id }
          : {};
    if (op === 'session.keepalive') this.keepaliveDue = false;
    const answerMs =
      op === 'session.open' ? this.options.connectTimeoutMs : keepaliveIntervalMs(this.session!.timeoutMs);
    const request: Pending = {
      connection,
      op,
      sentAt: this.now(),
      answerTimer: setTimeout(() => this.unanswered(request), answerMs),
    };
    request.answerTimer.unref();
    this.pending = request;
    connection.write(connection.encode(op, args), (error, result) => this.answered(request, error, result));
  }

  private answered(request: Pending, error: HikariError | null, result: unknown): void {
    if (this.pending !== request) return; // given up on (timeout, disconnect, expiry, close)
    this.clearPending();
    let checked: OpResult<SessionOp> | null = null;
    try {
      if (error === null) checked = checkResult(request.op, result);
    } catch (problem) {
      error = problem as HikariError; // a malformed result: BAD_FRAME
    }
    if (checked !== null) this.succeeded(request, checked);
    else this.failed(request, error!);
    this.step();
  }

  private succeeded(request: Pending, result: OpResult<SessionOp>): void {
    this.waits = 0;
    const { connection } = request;
    // A resume is answered by any node, so it proves nothing about leadership: counting it as a
    // definitive answer would clear the connector's memory of leader hints, and two nodes naming
    // each other would then be tried in a tight loop. Open, keepalive and close come from the leader.
    if (request.op !== 'session.resume') this.connector.markProductive(connection);
    switch (request.op) {
      case 'session.open': {
        const { sessionId, timeoutMs } = result as OpResult<'session.open'>;
        this.session = { id: sessionId, timeoutMs };
        this.lastExpired = null;
        this.boundTo = connection;
        if (this.closing !== null) return; // opened as close() was called: step() closes it
        this.renewed(request.sentAt);
        this.current = 'connected';
        this.opened = true;
        this.hooks.bound(connection);
        return this.hooks.opened(connection, sessionId);
      }
      case 'session.resume':
        this.boundTo = connection;
        if (this.closing !== null) return;
        this.keepaliveDue = true;
        return this.hooks.bound(connection);
      case 'session.keepalive': {
        if (this.closing !== null || this.session === null) return;
        this.session.timeoutMs = (result as OpResult<'session.keepalive'>).timeoutMs;
        this.renewed(request.sentAt);
        if (this.current === 'connected') return;
        this.current = 'connected';
        return this.hooks.reconnected(connection, this.session.id);
      }
      case 'session.close':
        return this.closing?.finish();
    }
  }

  private failed(request: Pending, error: HikariError): void {
    const { connection, op } = request;
    if (this.closing !== null && (op === 'session.close' || !error.retryable)) return this.closing.finish();
    if (error.code === ErrorCode.SESSION_EXPIRED && op !== 'session.open') return this.expire();
    if (op === 'session.keepalive') this.keepaliveDue = true; // still due, wherever it goes next
    const plan = planSessionRetry(error, connection.endpoint, connection.isOpen);
    switch (plan.action) {
      case 'resend':
        return; // the connection is gone: the next one steps
      case 'switch':
        return this.connector.switchAway(connection, plan.leader, error);
      case 'wait':
        return this.wait(backoffDelayMs(++this.waits, this.options.backoff, this.random));
      case 'fail':
        break;
    }
    switch (op) {
      case 'session.open':
        // Before the first session: `connect` fails with it. Later: keep trying, slowly.
        if (!this.opened) return this.hooks.failed(error);
        return this.wait(this.options.backoff.maxMs);
      case 'session.resume':
        return this.expire(); // refused for good: the session cannot come back
      case 'session.keepalive':
        return this.wait(keepaliveIntervalMs(this.session!.timeoutMs)); // the deadline decides meanwhile
    }
  }

  /** No answer in time: that node is stuck or cut off. Leave it; the next connection steps. */
  private unanswered(request: Pending): void {
    if (this.pending !== request) return;
    this.clearPending();
    if (this.closing !== null && request.op === 'session.close') return this.closing.finish();
    const reason = new HikariError(
      ErrorCode.TIMEOUT,
      { op: request.op, timeoutMs: this.now() - request.sentAt },
      { message: `${request.op} unanswered by ${request.connection.endpoint.address}` },
    );
    this.connector.switchAway(request.connection, null, reason);
  }

  /** The server says the session is gone: say so once, then open the next one. */
  private expire(): void {
    const session = this.session;
    if (session === null || this.closing !== null) return;
    this.session = null;
    this.lastExpired = session;
    this.boundTo = null;
    this.current = 'expired';
    this.keepaliveDue = false;
    this.clearTimers();
    this.clearPending();
    this.hooks.expired(session.id);
    this.step();
  }

  /** A renewal (open or keepalive) sent at `sentAt` succeeded: schedule the next, and the local deadline. */
  private renewed(sentAt: number): void {
    const { timeoutMs } = this.session!;
    const nowMs = this.now();
    this.clearTimer('keepaliveTimer');
    this.clearTimer('deadlineTimer');
    this.keepaliveTimer = setTimeout(
      () => {
        this.keepaliveTimer = null;
        this.keepaliveDue = true;
        this.step();
      },
      Math.max(0, sentAt + keepaliveIntervalMs(timeoutMs) - nowMs),
    );
    this.keepaliveTimer.unref();
    this.deadlineTimer = setTimeout(() => this.deadlinePassed(), Math.max(0, sentAt + timeoutMs - nowMs));
    this.deadlineTimer.unref();
  }

  /**
   * The timeout passed with no renewal: as far as this process can tell, the session has expired
   * (it may have been paused, or cut off). Shown at once in `state`; the `expired` event waits for
   * the server's word, which the next keepalive or resume gets.
   */
  private deadlinePassed(): void {
    this.deadlineTimer = null;
    if (this.closing !== null || this.session === null) return;
    this.current = 'expired';
    this.keepaliveDue = true;
    this.step();
  }

  private wait(delayMs: number): void {
    this.clearTimer('retryTimer');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.step();
    }, delayMs);
    this.retryTimer.unref();
  }

  private clearPending(): void {
    if (this.pending === null) return;
    clearTimeout(this.pending.answerTimer);
    this.pending = null;
  }

  private clearTimers(): void {
    this.clearTimer('keepaliveTimer');
    this.clearTimer('deadlineTimer');
    this.clearTimer('retryTimer');
  }

  private clearTimer(name: 'keepaliveTimer' | 'deadlineTimer' | 'retryTimer'): void {
    const timer = this[name];
    if (timer !== null) clearTimeout(timer);
    this[name] = null;
  }
}
