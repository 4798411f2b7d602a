import { NodeId, SeededRandom } from '@hikarikeeper/raft';
import type { NodeReply } from './sim-node';
import type { LockCmd, LockMode } from './kv-state-machine';
import type { SimSessionClient } from './sim-session-client';

export interface LockClientEnv {
  now(): number;
  /** Sends a lock command to node `to`; `reply` is called (at most once) when the answer arrives. */
  lock(to: NodeId, cmd: LockCmd, reply: (r: NodeReply) => void): void;
  /** Waits on node `to` for the fate of a queued ticket (the server's lock.wait). */
  wait(to: NodeId, name: string, ticket: number, session: string, reply: (r: NodeReply) => void): void;
  nodeIds(): readonly NodeId[];
  /** The client was told it holds `token`: checked against the applied history. */
  granted(session: string, name: string, ticket: number, token: number): void;
  /** The client was told `token` is released. */
  released(session: string, name: string, token: number): void;
  trace(line: string): void;
}

/**
 * The locks of the workload: two mutexes, a readers–writer lock, and a semaphore of 2 permits. The
 * rw lock is picked twice as often: its mixed queues (readers behind a writer) need three clients on it.
 */
export const SIM_LOCKS: readonly { readonly name: string; readonly permits?: number; readonly rw?: boolean }[] = [
  { name: 'm0' }, { name: 'm1' }, { name: 'rw', rw: true }, { name: 'rw', rw: true }, { name: 'sem', permits: 2 },
];

/** Steps a lock client waits for the answer to a command before trying another node. */
const LOCK_REQUEST_TIMEOUT_STEPS = 300;
/** Steps a lock wait stays with one node before the client waits elsewhere (the node may be down). */
const LOCK_WAIT_TIMEOUT_STEPS = 400;
/** The chance, each step of the faulty phase, that an idle client starts a cycle (about every 5 ticks). */
const START_CHANCE = 0.02;
/** A grant is held for 100 to 599 steps (10 to 60 ticks). */
const HOLD_STEPS_MIN = 100;
const HOLD_STEPS_SPREAD = 500;
/** A client that gives up a queued ticket does so after 50 to 349 steps. */
const PATIENCE_STEPS_MIN = 50;
const PATIENCE_STEPS_SPREAD = 300;

interface Request {
  readonly cmd: LockCmd;
  attempt: number;
  deadline: number;
  /** Step at which the next attempt is sent (after a backoff), or 0 when waiting for a reply. */
  retryAt: number;
}

type Phase =
  | { readonly kind: 'idle' }
  | { readonly kind: 'acquiring'; readonly name: string }
  /** Queued with `ticket`: a wait is out; past `cancelAt` the client gives up the ticket. */
  | { readonly kind: 'waiting'; readonly name: string; readonly ticket: number; readonly cancelAt: number; waitDeadline: number; waitAttempt: number }
  | { readonly kind: 'holding'; readonly name: string; readonly ticket: number; readonly token: number; readonly until: number }
  | { readonly kind: 'releasing'; readonly name: string; readonly token: number }
  | { readonly kind: 'cancelling'; readonly name: string; readonly ticket: number }
  /** The session died or expired: nothing more. */
  | { readonly kind: 'done' };

/**
 * A client taking locks with its session (a SimSessionClient keeps it alive, and may die): acquires
 * one of SIM_LOCKS (exclusive, or shared on the rw lock; mostly waiting, sometimes `wait: false`),
 * learns of a queued ticket's grant by waiting on any node (the server's lock.wait), holds for a
 * random while, releases; sometimes cancels while queued. One command at a time, retried with the same
 * sequence number until answered (so the state machine applies it once, and a later command never
 * races an earlier one); it never gives up while its session lives. What it is told is reported to the
 * lock checks: a grant must be in the applied history, a release must have ended it.
 */
export class SimLockClient {
  private seq = 0;
  private request: Request | null = null;
  private phase: Phase = { kind: 'idle' };
  private leaderHint: NodeId = 0;

  constructor(
    /** The client number of its commands (deduplication). */
    readonly client: number,
    readonly session: SimSessionClient,
    private readonly rng: SeededRandom,
    private readonly env: LockClientEnv,
  ) {}

  get state(): string {
    return this.phase.kind;
  }

  /** Called every step, after the session client's step. May start a cycle when idle and `start` allows. */
  step(start: boolean): void {
    if (this.phase.kind === 'done') return;
    if (this.session.state === 'dead' || this.session.state === 'expired') {
      this.env.trace(`lock client ${this.session.id} stops (${this.session.state}) while ${this.describe()}`);
      this.phase = { kind: 'done' };
      this.request = null;
      return;
    }
    if (this.session.state !== 'live') return;
    const now = this.env.now();
    const req = this.request;
    if (req) {
      if (req.retryAt > 0 && now >= req.retryAt) this.send(req);
      else if (req.retryAt === 0 && now >= req.deadline) this.retry(req, 0);
      return;
    }
    const p = this.phase;
    if (p.kind === 'waiting') {
      if (now >= p.cancelAt) this.command({ op: 'lock-cancel', name: p.name, ticket: p.ticket, session: this.session.id, client: this.client, seq: ++this.seq }, { kind: 'cancelling', name: p.name, ticket: p.ticket });
      else if (now >= p.waitDeadline) this.sendWait(p);
    } else if (p.kind === 'holding') {
      if (now >= p.until) this.command({ op: 'lock-release', name: p.name, token: p.token, session: this.session.id, client: this.client, seq: ++this.seq }, { kind: 'releasing', name: p.name, token: p.token });
    } else if (p.kind === 'idle' && start && this.rng.chance(START_CHANCE)) {
      this.begin();
    }
  }

  private begin(): void {
    const lock = SIM_LOCKS[this.rng.nextInt(SIM_LOCKS.length)];
    const mode: LockMode = lock.rw && this.rng.chance(0.6) ? 'shared' : 'exclusive';
    const wait = this.rng.chance(0.85);
    this.command(
      { op: 'lock-acquire', name: lock.name, mode, permits: lock.permits, wait, session: this.session.id, client: this.client, seq: ++this.seq },
      { kind: 'acquiring', name: lock.name },
    );
  }

  private command(cmd: LockCmd, phase: Phase): void {
    this.phase = phase;
    const req: Request = { cmd, attempt: 0, deadline: 0, retryAt: 0 };
    this.request = req;
    this.send(req);
  }

  private target(): NodeId {
    const ids = this.env.nodeIds();
    return this.leaderHint !== 0 && ids.includes(this.leaderHint) ? this.leaderHint : ids[this.rng.nextInt(ids.length)];
  }

  private send(req: Request): void {
    req.attempt++;
    req.retryAt = 0;
    req.deadline = this.env.now() + LOCK_REQUEST_TIMEOUT_STEPS;
    const attempt = req.attempt;
    this.env.lock(this.target(), req.cmd, (r) => {
      this.report(req.cmd, r);
      if (this.request !== req || req.attempt !== attempt || this.phase.kind === 'done') return; // a late answer
      if (!r.ok) {
        this.leaderHint = r.code === 'NOT_LEADER' ? r.leader ?? 0 : 0;
        this.retry(req, r.code === 'NOT_LEADER' && this.leaderHint !== 0 ? 1 : 10 + this.rng.nextInt(40));
        return;
      }
      this.request = null;
      this.onResult(req.cmd, r);
    });
  }

  /** Retries with the same sequence number: a command applied by an attempt we never heard back from answers as it did then. */
  private retry(req: Request, backoff: number): void {
    if (backoff === 0) this.leaderHint = 0; // a timeout: the hint is stale
    req.retryAt = this.env.now() + Math.max(1, backoff);
  }

  /**
   * What a node told: a grant must be in the applied history, a release must have ended it. Every
   * answer is checked, even one reaching a client that moved on or died: the check is of the server.
   */
  private report(cmd: LockCmd, r: NodeReply): void {
    const result = r.ok ? r.result : undefined;
    if (!result?.ok) return;
    if (cmd.op === 'lock-acquire' && result.granted && result.token !== undefined && result.ticket !== undefined) {
      this.env.granted(cmd.session, cmd.name, result.ticket, result.token);
    } else if (cmd.op === 'lock-release' && result.count === 0) {
      this.env.released(cmd.session, cmd.name, cmd.token);
    }
  }

  private onResult(cmd: LockCmd, r: NodeReply & { ok: true }): void {
    const result = r.result;
    const p = this.phase;
    if (!result?.ok) {
      // SESSION_EXPIRED: the session client hears of it with its next keepalive. Anything else (a
      // release that found the grant gone with the session) leaves nothing to do.
      this.env.trace(`lock client ${this.session.id}: ${cmd.op} ${cmd.name} refused (${result?.code ?? 'stale'})`);
      this.phase = { kind: 'idle' };
      return;
    }
    const now = this.env.now();
    if (cmd.op === 'lock-acquire' && p.kind === 'acquiring') {
      if (result.granted && result.token !== undefined && result.ticket !== undefined) {
        this.hold(cmd.name, result.ticket, result.token);
      } else if (result.ticket !== undefined) {
        const cancelAt = this.rng.chance(0.3) ? now + PATIENCE_STEPS_MIN + this.rng.nextInt(PATIENCE_STEPS_SPREAD) : Infinity;
        const waiting: Phase = { kind: 'waiting', name: cmd.name, ticket: result.ticket, cancelAt, waitDeadline: 0, waitAttempt: 0 };
        this.phase = waiting;
        this.sendWait(waiting);
      } else {
        this.phase = { kind: 'idle' }; // wait: false, and the lock was taken
      }
    } else if (cmd.op === 'lock-release' && p.kind === 'releasing') {
      this.phase = { kind: 'idle' };
    } else if (cmd.op === 'lock-cancel' && p.kind === 'cancelling') {
      // 'held': granted meanwhile, and released by the cancel; 'gone': dropped already.
      this.phase = { kind: 'idle' };
    }
  }

  private hold(name: string, ticket: number, token: number): void {
    this.phase = { kind: 'holding', name, ticket, token, until: this.env.now() + HOLD_STEPS_MIN + this.rng.nextInt(HOLD_STEPS_SPREAD) };
  }

  /** Waits for the ticket's fate on some node (any node serves lock waits). */
  private sendWait(p: Phase & { kind: 'waiting' }): void {
    const attempt = ++p.waitAttempt;
    p.waitDeadline = this.env.now() + LOCK_WAIT_TIMEOUT_STEPS;
    const ids = this.env.nodeIds();
    this.env.wait(ids[this.rng.nextInt(ids.length)], p.name, p.ticket, this.session.id, (r) => {
      if (!r.ok) {
        if (this.phase === p && p.waitAttempt === attempt) p.waitDeadline = this.env.now() + 5; // try elsewhere soon
        return;
      }
      const token = r.result?.ok ? r.result.token : undefined;
      // Told, so checked (see report()), even if the client moved on or died.
      if (token !== undefined) this.env.granted(this.session.id, p.name, p.ticket, token);
      // Any attempt's answer is the ticket's fate; not once a cancel is out (its answer decides).
      if (this.phase !== p || this.request !== null) return;
      if (token !== undefined) this.hold(p.name, p.ticket, token);
      else this.phase = { kind: 'idle' }; // the ticket left the queue without a grant
    });
  }

  private describe(): string {
    const p = this.phase;
    if (p.kind === 'holding') return `holding ${p.name} (token ${p.token})`;
    if (p.kind === 'waiting') return `waiting for ${p.name} (ticket ${p.ticket})`;
    return p.kind === 'idle' || p.kind === 'done' ? p.kind : `${p.kind} ${p.name}`;
  }
}
