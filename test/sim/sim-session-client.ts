import { NodeId, SeededRandom } from '@hikarikeeper/raft';
import type { NodeReply } from './sim-node';

export interface SessionClientEnv {
  now(): number;
  open(to: NodeId, id: string, ttl: number, reply: (r: NodeReply) => void): void;
  keepalive(to: NodeId, id: string, reply: (r: NodeReply) => void): void;
  nodeIds(): readonly NodeId[];
  trace(line: string): void;
}

/** Steps a session client waits for an answer before trying another node. */
const SESSION_REQUEST_TIMEOUT_STEPS = 60;

/**
 * A client that holds a session: opens it, sends a keepalive every ttl/3 (following NOT_LEADER
 * hints, retrying elsewhere on timeouts), and at a random moment may die (stop everything). It
 * records the clock of every renewal the cluster acknowledged, which is what the checks use: a
 * session must never expire before `acknowledged renewal + ttl`, and a dead client's session must
 * expire once the cluster is healthy.
 */
export class SimSessionClient {
  readonly id: string;
  state: 'opening' | 'live' | 'expired' | 'dead' = 'opening';
  /** The latest renewal time (leader clock) the cluster acknowledged to this client. */
  lastAckedRenewal = -Infinity;
  lastKeepaliveSent = -Infinity;
  diedAt = Infinity;
  private waitingUntil = 0;
  private nextKeepaliveAt = 0;
  private leaderHint: NodeId = 0;
  private attempt = 0;

  constructor(
    n: number,
    readonly ttl: number,
    private readonly dieAt: number,
    private readonly rng: SeededRandom,
    private readonly env: SessionClientEnv,
  ) {
    this.id = `s${n}`;
  }

  step(): void {
    const now = this.env.now();
    if (this.state === 'dead' || this.state === 'expired') return;
    if (now >= this.dieAt) {
      this.state = 'dead';
      this.diedAt = now;
      this.env.trace(`session client ${this.id} dies (last keepalive sent at ${this.lastKeepaliveSent})`);
      return;
    }
    if (now < this.waitingUntil) return;
    if (this.state === 'opening') this.send('open');
    else if (now >= this.nextKeepaliveAt) this.send('keepalive');
  }

  private target(): NodeId {
    const ids = this.env.nodeIds();
    return this.leaderHint !== 0 && ids.includes(this.leaderHint) ? this.leaderHint : ids[this.rng.nextInt(ids.length)];
  }

  private send(kind: 'open' | 'keepalive'): void {
    const attempt = ++this.attempt;
    const now = this.env.now();
    this.waitingUntil = now + SESSION_REQUEST_TIMEOUT_STEPS;
    const reply = (r: NodeReply) => {
      if (attempt !== this.attempt || this.state === 'dead' || this.state === 'expired') return;
      this.waitingUntil = 0;
      if (r.ok && r.result?.ok === false) r = { ok: false, code: 'SESSION_EXPIRED' };
      if (r.ok) {
        this.lastAckedRenewal = Math.max(this.lastAckedRenewal, r.result?.t ?? -Infinity);
        if (this.state === 'opening') this.state = 'live';
        this.nextKeepaliveAt = this.env.now() + Math.floor(this.ttl / 3);
        return;
      }
      if (r.code === 'SESSION_EXPIRED') {
        this.state = 'expired';
        this.env.trace(`session client ${this.id} learns its session expired`);
        return;
      }
      this.leaderHint = r.code === 'NOT_LEADER' ? (r.leader ?? 0) : 0;
      this.waitingUntil = this.env.now() + 5;
    };
    if (kind === 'open') this.env.open(this.target(), this.id, this.ttl, reply);
    else {
      this.lastKeepaliveSent = now;
      this.env.keepalive(this.target(), this.id, reply);
    }
  }
}
