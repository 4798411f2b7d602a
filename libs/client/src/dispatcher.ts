/**
 * The life of a call: admission, the queue, the in-flight windows, sending on the current
 * connection, retries (see retry.ts), the deadline and cancellation.
 *
 * Windows, checked in order before each send (the queue is FIFO, so a call that does not fit
 * holds back the ones behind it):
 * - requests in flight on the connection: at most the node's `inFlightRequestsMax` (and the
 *   protocol's IN_FLIGHT_REQUESTS_MAX), and IN_FLIGHT_BYTES_MAX of frames (one frame always fits);
 * - writes outstanding: a write takes its seq when it first leaves the queue and holds a slot until
 *   it settles, so no more than `writesInFlightMax` (≤ 128, half the server's dedup memory) seqs are
 *   ever unresolved, and a retried seq is always one the server still remembers.
 *
 * A call settles exactly once: with its result, a non-retryable error, TIMEOUT at its deadline,
 * CANCELLED on abort or close. After that, a late answer is dropped.
 *
 * The gate: calls go out only on a connection the gate opens (with sessions, once the session is
 * bound to it: after a reconnect, `session.resume` comes first, then the calls in flight go again).
 * One slot of the node's in-flight window is left to the session keeper, whose keepalives must
 * never wait behind calls.
 *
 * Pinned calls (internal: watch registrations, unwatch) go on one given connection only, since the
 * ids they carry mean nothing on another: if that connection is gone, or if the node answers
 * anything but a wait, they fail rather than follow the client elsewhere.
 */
import {
  DEFAULT_REQUEST_LIMITS,
  ErrorCode,
  HikariError,
  IN_FLIGHT_BYTES_MAX,
  IN_FLIGHT_REQUESTS_MAX,
  isEphemeralMode,
  OperationKind,
  OpName,
  OpResult,
  RequestLimits,
  validateRequest,
  ValidatedRequest,
  WriteArgs,
} from '@hikarikeeper/protocol';
import { Connection, EncodedRequest } from './connection';
import { Connector } from './connector';
import { backoffDelayMs, Random } from './endpoints';
import { BackoffOptions, timeoutOption } from './options';
import { RequestQueue } from './request-queue';
import { checkResult } from './results';
import { planRetry } from './retry';

/** Options every call takes. */
export interface CallOptions {
  /** Deadline of this call, retries included (ms); default: the client's `timeoutMs`. */
  timeoutMs?: number;
  /** Aborting rejects the call with CANCELLED at once. */
  signal?: AbortSignal;
}

export interface DispatcherOptions {
  readonly timeoutMs: number;
  readonly pendingRequestsMax: number;
  readonly writesInFlightMax: number;
  readonly backoff: BackoffOptions;
  readonly random?: Random;
}

/** Where calls may go; the client's session decides. */
export interface DispatchGate {
  /** Calls may be sent on `connection` (the current one) now. */
  isOpen(connection: Connection): boolean;
  /** A call sent on `connection` was answered SESSION_EXPIRED: the session bound to it is gone. */
  sessionExpired(connection: Connection): void;
  /** The client's session now (null: none). */
  sessionId(): string | null;
}

const ALWAYS_OPEN: DispatchGate = { isOpen: () => true, sessionExpired: () => undefined, sessionId: () => null };

/** Slots of the node's in-flight window left for the session keeper (it has one request out at a time). */
export const SESSION_REQUESTS_RESERVED = 1;

/** The answer to a pinned call, given synchronously. */
export type PinnedReply = (error: HikariError | null, result: unknown) => void;

type CallState = 'queued' | 'waiting' | 'sent' | 'done';

interface Call {
  readonly op: OpName;
  readonly kind: OperationKind;
  readonly args: WriteArgs;
  readonly timeoutMs: number;
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: HikariError) => void;
  /** The only connection this call may go on; null: whichever is current. */
  readonly pin: Connection | null;
  /** Creates ephemeral nodes: it belongs to the session it was made under (see failSessionCalls). */
  readonly ownedBySession: boolean;
  state: CallState;
  holdsWriteSlot: boolean;
  /** When a write first left with its seq (Date.now()); 0 before. */
  firstSentAt: number;
  /** The client's session when it first left (null: none). */
  firstSession: string | null;
  /** Backoff waits so far (TOO_MANY_REQUESTS, TIMEOUT from the node). */
  waits: number;
  /** The last retryable error, given as the `cause` of a TIMEOUT. */
  lastError: HikariError | null;
  /** Encoded for a connection whose byte window was full; sent as is once it drains. */
  encoded: { readonly connection: Connection; readonly request: EncodedRequest } | null;
  deadlineTimer: NodeJS.Timeout | null;
  retryTimer: NodeJS.Timeout | null;
  detachSignal: (() => void) | null;
}

export class Dispatcher {
  private readonly queue = new RequestQueue<Call>();
  /** Every call not settled yet. */
  private readonly live = new Set<Call>();
  private writesOutstanding = 0;
  private nextSeq = 1;
  private requestLimits: RequestLimits = DEFAULT_REQUEST_LIMITS;
  private inFlightRequestsMax = IN_FLIGHT_REQUESTS_MAX;
  /** Half the cluster's client retention, as the last node said (null: not said): see sendNext. */
  private resendWithinMs: number | null = null;
  private pumping = false;
  private closedWith: HikariError | null = null;
  private readonly random: Random;

  constructor(
    private readonly options: DispatcherOptions,
    private readonly connector: Connector,
    private readonly gate: DispatchGate = ALWAYS_OPEN,
  ) {
    this.random = options.random ?? Math.random;
  }

  /** Adopts the limits a node announced in its handshake. */
  setLimits(limits: { dataBytesMax: number; inFlightRequestsMax: number; writeRetentionMs?: number }): void {
    this.requestLimits = { dataBytesMax: limits.dataBytesMax };
    this.resendWithinMs = limits.writeRetentionMs === undefined ? null : Math.floor(limits.writeRetentionMs / 2);
    const nodeMax = Math.min(IN_FLIGHT_REQUESTS_MAX, limits.inFlightRequestsMax);
    this.inFlightRequestsMax = Math.max(1, nodeMax - SESSION_REQUESTS_RESERVED);
  }

  /**
   * Validates `args` with the protocol's own validator (so that INVALID_PATH, INVALID_ARGUMENT and
   * TOO_LARGE come before anything is sent) and queues the call. Rejects with CANCELLED once closed
   * or when the signal is already aborted, TOO_MANY_REQUESTS when the queue is full.
   */
  submit<O extends OpName>(op: O, args: unknown, options: CallOptions = {}): Promise<OpResult<O>> {
    return new Promise<OpResult<O>>((resolve, reject) => {
      if (this.closedWith !== null) throw this.closedWith;
      const timeoutMs = timeoutOption('timeoutMs', options.timeoutMs, this.options.timeoutMs);
      const request = validateRequest(op, args, this.requestLimits);
      if (options.signal?.aborted === true) throw cancelled(op, options.signal.reason);
      if (this.queue.freshCount >= this.options.pendingRequestsMax) throw queueFull(this.options.pendingRequestsMax);
      const call = this.newCall(request, timeoutMs, resolve as (result: unknown) => void, reject, null);
      const signal = options.signal;
      if (signal !== undefined) {
        const onAbort = (): void => this.settle(call, cancelled(op, signal.reason));
        signal.addEventListener('abort', onAbort, { once: true });
        call.detachSignal = () => signal.removeEventListener('abort', onAbort);
      }
      this.queue.pushFresh(call);
      this.pump();
    });
  }

  /**
   * Internal: sends a read on `connection` only (see "Pinned calls" above); `reply` is called once,
   * synchronously, with the answer, CONNECTION_LOSS when that connection is gone, TIMEOUT, or
   * CANCELLED once closed. Such calls queue with the resends, ahead of new calls, and do not count
   * against `pendingRequestsMax` (their number is bounded by their owner, the watch registry).
   */
  sendOn(connection: Connection, op: 'watch' | 'unwatch', args: unknown, reply: PinnedReply): void {
    let request: ValidatedRequest;
    try {
      if (this.closedWith !== null) throw this.closedWith;
      request = validateRequest(op, args, this.requestLimits);
    } catch (error) {
      return reply(error as HikariError, undefined);
    }
    const call = this.newCall(
      request,
      this.options.timeoutMs,
      (result) => reply(null, result),
      (error) => reply(error, undefined),
      connection,
    );
    this.queue.pushAgain(call);
    this.pump();
  }
  /** Sends what the windows allow on the current connection. */
  pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.sendNext());
    } finally {
      this.pumping = false;
    }
  }

  /** Settles every call with `error` and refuses new ones with it. */
  close(error: HikariError): void {
    this.closedWith = error;
    for (const call of [...this.live]) this.settle(call, error);
  }

  /**
   * The session expired: every call not settled that creates ephemeral nodes fails with `error`
   * (SESSION_EXPIRED). Sent again on the next session, such a call would either create a node the
   * application believes the old session owns, or be answered, through the seq, with the outcome
   * of its first attempt on the old session, whose nodes are gone. Later calls go on the new session.
   */
  failSessionCalls(error: HikariError): void {
    for (const call of [...this.live]) if (call.ownedBySession) this.settle(call, error);
  }

  private newCall(
    request: ValidatedRequest,
    timeoutMs: number,
    resolve: (result: unknown) => void,
    reject: (error: HikariError) => void,
    pin: Connection | null,
  ): Call {
    const call: Call = {
      op: request.op,
      kind: request.kind,
      // Reads never read `seq`; writes get theirs when first sent.
      args: request.args as WriteArgs,
      timeoutMs,
      resolve,
      reject,
      pin,
      ownedBySession: createsEphemeral(request),
      state: 'queued',
      holdsWriteSlot: false,
      firstSentAt: 0,
      firstSession: null,
      waits: 0,
      lastError: null,
      encoded: null,
      deadlineTimer: null,
      retryTimer: null,
      detachSignal: null,
    };
    call.deadlineTimer = setTimeout(() => this.settle(call, this.timeout(call)), timeoutMs);
    this.live.add(call);
    return call;
  }

  /** Sends the call at the head of the queue if it fits; false when nothing more can be sent now. */
  private sendNext(): boolean {
    const connection = this.connector.current;
    const call = this.queue.peek();
    if (this.closedWith !== null || connection === null || call === undefined) return false;
    if (call.pin !== null && call.pin !== connection) {
      this.settle(call, lost(call.pin));
      return true;
    }
    if (!this.gate.isOpen(connection)) return false;
    if (connection.inFlightCount >= this.inFlightRequestsMax) return false;
    if (call.kind === 'write' && !call.holdsWriteSlot) {
      if (this.writesOutstanding >= this.options.writesInFlightMax) return false;
      call.holdsWriteSlot = true;
      this.writesOutstanding++;
      call.args.seq = this.nextSeq++;
      call.firstSentAt = Date.now();
      call.firstSession = this.gate.sessionId();
    } else if (call.kind === 'write' && this.resendWithinMs !== null && Date.now() - call.firstSentAt > this.resendWithinMs && this.mayBeForgotten(call)) {
      // Sent again this late, the write might find its outcome forgotten by the cluster (client
      // retention) and apply a second time: its outcome stays unknown instead.
      this.settle(call, this.tooLateToResend(call));
      return true;
    }
    let request = call.encoded?.connection === connection ? call.encoded.request : null;
    if (request === null) {
      try {
        request = connection.encode(call.op, call.args);
      } catch (error) {
        this.settle(call, error as HikariError); // TOO_LARGE: the frame exceeds the node's limit
        return true;
      }
    }
    const bytes = request.frame.length;
    if (connection.inFlightCount > 0 && connection.inFlightBytes + bytes > IN_FLIGHT_BYTES_MAX) {
      call.encoded = { connection, request };
      return false;
    }
    this.queue.delete(call);
    call.encoded = null;
    call.state = 'sent';
    connection.write(request, (error, result) => this.onReply(call, connection, error, result));
    return true;
  }

  private onReply(call: Call, connection: Connection, error: HikariError | null, result: unknown): void {
    if (call.state !== 'sent') return; // settled meanwhile (timeout, abort): a late answer
    if (error === null) {
      this.connector.markProductive(connection);
      let checked: unknown;
      try {
        checked = checkResult(call.op, result);
      } catch (problem) {
        return this.settle(call, problem as HikariError);
      }
      return this.settle(call, null, checked);
    }
    if (!error.retryable) this.connector.markProductive(connection);
    if (error.code === ErrorCode.SESSION_EXPIRED) this.gate.sessionExpired(connection);
    call.lastError = error;
    const plan = planRetry(error, call.kind, connection.endpoint, connection.isOpen);
    if (call.pin !== null && plan.action !== 'wait') return this.settle(call, error);
    switch (plan.action) {
      case 'fail':
        return this.settle(call, error);
      case 'resend':
        return this.requeue(call);
      case 'switch':
        this.connector.switchAway(connection, plan.leader, error);
        return this.requeue(call);
      case 'wait':
        call.state = 'waiting';
        call.waits++;
        call.retryTimer = setTimeout(
          () => {
            call.retryTimer = null;
            this.requeue(call);
          },
          backoffDelayMs(call.waits, this.options.backoff, this.random),
        );
    }
  }

  private requeue(call: Call): void {
    if (call.state === 'done') return;
    call.state = 'queued';
    this.queue.pushAgain(call);
    this.pump();
  }

  private settle(call: Call, error: HikariError | null, result?: unknown): void {
    if (call.state === 'done') return;
    if (call.state === 'queued') this.queue.delete(call);
    call.state = 'done';
    call.encoded = null;
    if (call.deadlineTimer !== null) clearTimeout(call.deadlineTimer);
    if (call.retryTimer !== null) clearTimeout(call.retryTimer);
    call.detachSignal?.();
    this.live.delete(call);
    if (call.holdsWriteSlot) {
      call.holdsWriteSlot = false;
      this.writesOutstanding--;
    }
    if (error !== null) call.reject(error);
    else call.resolve(result);
    this.pump();
  }

  /**
   * Whether the cluster may have forgotten this client's outcomes since `call` first left: not while
   * the session it left in is still the client's (a client with a slot written in a live session is
   * never forgotten), else once it is idle past the retention.
   */
  private mayBeForgotten(call: Call): boolean {
    return call.firstSession === null || call.firstSession !== this.gate.sessionId();
  }

  private tooLateToResend(call: Call): HikariError {
    return new HikariError(
      ErrorCode.TIMEOUT,
      { op: call.op, timeoutMs: call.timeoutMs, reason: 'not sent again: too long since it was first sent for the cluster to remember its outcome; it may or may not have been applied' },
      { message: `${call.op} was not retried: first sent ${Date.now() - call.firstSentAt} ms ago, past half the cluster's client retention (${this.resendWithinMs! * 2} ms)`, cause: call.lastError ?? undefined },
    );
  }

  private timeout(call: Call): HikariError {
    return new HikariError(
      ErrorCode.TIMEOUT,
      { op: call.op, timeoutMs: call.timeoutMs },
      { message: `${call.op} timed out after ${call.timeoutMs} ms`, cause: call.lastError ?? this.connector.lastError ?? undefined },
    );
  }
}

/** Calls that create ephemeral nodes, alone or in a multi. */
function createsEphemeral(request: ValidatedRequest): boolean {
  if (request.op === 'create') return isEphemeralMode(request.args.mode);
  if (request.op === 'multi') return request.args.ops.some((op) => op.op === 'create' && isEphemeralMode(op.mode));
  return false;
}

function lost(connection: Connection): HikariError {
  const { address } = connection.endpoint;
  return new HikariError(
    ErrorCode.CONNECTION_LOSS,
    { endpoint: address, reason: 'the connection this call was for is gone' },
    { message: `connection to ${address} lost before the call was sent` },
  );
}

/** CANCELLED for a call aborted by its signal. */
export function cancelled(op: string, reason: unknown): HikariError {
  return new HikariError(ErrorCode.CANCELLED, { op, reason: 'aborted' }, { message: `${op} was cancelled`, cause: reason });
}

function queueFull(limit: number): HikariError {
  return new HikariError(
    ErrorCode.TOO_MANY_REQUESTS,
    { limit, reason: 'the client queue is full' },
    { message: `${limit} calls are already waiting to be sent` },
  );
}
