import { NodeId, SeededRandom } from '@hikarikeeper/raft';
import { HistoryRecorder, OperationHandle, RegisterInput, RegisterOutput } from '../checker';
import type { NodeReply } from './sim-node';
import type { KvCommand } from './kv-state-machine';

export interface ClientEnv {
  now(): number;
  /** Sends a request to node `to`; `reply` is called (at most once) when the answer arrives. */
  write(to: NodeId, cmd: KvCommand, reply: (r: NodeReply) => void): void;
  read(to: NodeId, key: string, reply: (r: NodeReply) => void): void;
  nodeIds(): readonly NodeId[];
  trace(line: string): void;
}

interface InFlight {
  input: RegisterInput;
  handle: OperationHandle;
  seq: number;
  attempt: number;
  deadline: number;
  /** Step at which the next attempt is sent (after a backoff), or 0 when waiting for a reply. */
  retryAt: number;
}

/** Steps a client waits for a reply before trying another node. */
export const REQUEST_TIMEOUT_STEPS = 300;
/** Attempts before a client gives up on an operation (a write then has an unknown outcome). */
export const ATTEMPTS_MAX = 6;

/**
 * A client of the replicated register: one operation at a time, sent to some node; it follows
 * NOT_LEADER hints, retries on timeouts and lost proposals with the same sequence number (so the
 * state machine applies a write once), and records every operation in the history.
 */
export class SimClient {
  private seq = 0;
  private current: InFlight | null = null;
  private leaderHint: NodeId = 0;
  completed = 0;
  gaveUp = 0;

  constructor(
    readonly id: number,
    private readonly rng: SeededRandom,
    private readonly keys: readonly string[],
    private readonly history: HistoryRecorder<RegisterInput, RegisterOutput>,
    private readonly env: ClientEnv,
  ) {}

  get busy(): boolean {
    return this.current !== null;
  }

  /** Called every step. Starts a new operation when `start` allows and the client is idle. */
  step(start: boolean): void {
    const now = this.env.now();
    const op = this.current;
    if (op) {
      if (op.retryAt > 0 && now >= op.retryAt) this.send(op);
      else if (op.retryAt === 0 && now >= op.deadline) this.retry(op, 'timeout', 0);
      return;
    }
    if (start) this.begin();
  }

  private begin(): void {
    const key = this.keys[this.rng.nextInt(this.keys.length)];
    const value = `c${this.id}-${this.seq + 1}`;
    const dice = this.rng.nextInt(10);
    let input: RegisterInput;
    if (dice < 4) input = { op: 'read', key };
    else if (dice < 8) input = { op: 'write', key, value };
    else {
      const expected = this.rng.chance(0.3) ? null : `c${this.rng.nextInt(4) + 1}-${this.rng.nextInt(Math.max(1, this.seq)) + 1}`;
      input = { op: 'cas', key, expected, value };
    }
    if (input.op !== 'read') this.seq++;
    const handle = this.history.invoke(this.id, input, this.env.now());
    const op: InFlight = { input, handle, seq: this.seq, attempt: 0, deadline: 0, retryAt: 0 };
    this.current = op;
    this.send(op);
  }

  private target(): NodeId {
    const ids = this.env.nodeIds();
    if (this.leaderHint !== 0 && ids.includes(this.leaderHint)) return this.leaderHint;
    return ids[this.rng.nextInt(ids.length)];
  }

  private send(op: InFlight): void {
    op.attempt++;
    op.retryAt = 0;
    op.deadline = this.env.now() + REQUEST_TIMEOUT_STEPS;
    const attempt = op.attempt;
    const to = this.target();
    const reply = (r: NodeReply) => {
      if (this.current !== op || op.attempt !== attempt) return; // a late answer to an old attempt
      this.onReply(op, r);
    };
    const input = op.input;
    if (input.op === 'read') this.env.read(to, input.key, reply);
    else if (input.op === 'write') this.env.write(to, { op: 'write', key: input.key, value: input.value, client: this.id, seq: op.seq }, reply);
    else this.env.write(to, { op: 'cas', key: input.key, expected: input.expected, value: input.value, client: this.id, seq: op.seq }, reply);
  }

  private onReply(op: InFlight, r: NodeReply): void {
    if (r.ok) {
      const out: RegisterOutput =
        op.input.op === 'read' ? { value: r.value ?? null } : op.input.op === 'cas' ? { ok: r.result?.ok ?? false } : undefined;
      this.history.ok(op.handle, out, this.env.now());
      this.current = null;
      this.completed++;
      return;
    }
    this.leaderHint = r.code === 'NOT_LEADER' ? r.leader ?? 0 : 0;
    this.retry(op, r.code, r.code === 'NOT_LEADER' && this.leaderHint !== 0 ? 1 : 10 + this.rng.nextInt(40));
  }

  private retry(op: InFlight, why: string, backoff: number): void {
    if (why === 'timeout') this.leaderHint = 0;
    if (op.attempt >= ATTEMPTS_MAX) {
      // A write may have been applied by an attempt we never heard back from: its outcome is unknown.
      // A read changes nothing, so giving up on it simply removes it from the history.
      if (op.input.op === 'read') this.history.fail(op.handle);
      else this.history.unknown(op.handle);
      this.env.trace(`client ${this.id} gives up on ${op.input.op} ${op.input.key} (${why})`);
      this.current = null;
      this.gaveUp++;
      return;
    }
    op.retryAt = this.env.now() + Math.max(1, backoff);
  }

  /** End of the run: an operation still in flight has an unknown outcome. */
  abandon(): void {
    const op = this.current;
    if (!op) return;
    if (op.input.op === 'read') this.history.fail(op.handle);
    else this.history.unknown(op.handle);
    this.current = null;
  }
}
