/**
 * Failpoints, in the spirit of etcd's gofail: named places in the server where a fault-injection
 * test makes the process crash, or misbehave on purpose, at exactly that point.
 *
 * Off unless the environment variable HIKARI_FAILPOINTS is set (to anything, even ''). Then:
 * - the variable arms failpoints at start: `name=term;name=term`;
 * - the admin port serves `GET /failpoints` and `PUT /failpoints/<name>` (body: a term) to arm or
 *   disarm one while the node runs.
 * When off, a call site costs one read of a boolean (`failpoints.enabled`), checked before anything
 * else, and the admin routes answer 404.
 *
 * Terms: `off`; `crash` (the process kills itself with SIGKILL when the point is reached: nothing
 * after it runs, nothing is flushed — a power cut at that instant); `on` (the call site's
 * misbehaviour, for the unsafe points below); either prefixed with `P%` to fire with probability P
 * (e.g. `25%crash`).
 */
import { writeSync } from 'node:fs';
import { HikariError } from '@hikarikeeper/protocol';

/** The points the server has, and where they are. */
export const FAILPOINTS = {
  /**
   * raft-runtime: a Ready's write (log entries, hard state, applied state) is on disk, and nothing
   * that waits for it has happened yet: no append response or vote has left, the leader has not
   * counted its own entries, readers and watches have not seen the batch.
   */
  raftAfterSave: 'raft-after-save',
  /** raft-runtime: committed entries are applied (not yet on this node's disk), writers not answered yet. */
  applyBeforeReply: 'apply-before-reply',
  /**
   * UNSAFE, for proving that a checker catches stale reads: a linearizable read is served from the
   * node's local state without a read index (as a stale read is).
   */
  readSkipReadIndex: 'read-skip-read-index',
} as const;

export type FailpointName = (typeof FAILPOINTS)[keyof typeof FAILPOINTS];

const NAMES: ReadonlySet<string> = new Set(Object.values(FAILPOINTS));

interface Term {
  readonly action: 'crash' | 'on';
  /** Probability of firing each time the point is reached, in (0, 1]. */
  readonly probability: number;
}

/** Parses a term; throws INVALID_ARGUMENT. Null for `off`. */
export function parseTerm(text: string): Term | null {
  const t = text.trim();
  if (t === 'off') return null;
  const m = /^(?:(\d{1,3}(?:\.\d+)?)%)?(crash|on)$/.exec(t);
  const percent = m?.[1] === undefined ? 100 : Number(m[1]);
  if (m === null || !(percent > 0 && percent <= 100)) {
    throw HikariError.invalidArgument('failpoint term', `'${text}' is not off, crash, on, or P%crash / P%on with 0 < P <= 100`);
  }
  return { action: m[2] as Term['action'], probability: percent / 100 };
}

export class Failpoints {
  readonly enabled: boolean;
  private readonly armed = new Map<FailpointName, Term>();

  /** `spec`: the HIKARI_FAILPOINTS value; undefined leaves failpoints off for good. */
  constructor(spec: string | undefined, private readonly random: () => number = Math.random) {
    this.enabled = spec !== undefined;
    if (spec === undefined) return;
    for (const part of spec.split(';').map((p) => p.trim()).filter(Boolean)) {
      const eq = part.indexOf('=');
      if (eq < 0) throw HikariError.invalidArgument('HIKARI_FAILPOINTS', `'${part}' is not name=term`);
      this.set(part.slice(0, eq).trim(), part.slice(eq + 1));
    }
  }

  /** Arms (or with `off` disarms) `name`. Throws INVALID_ARGUMENT for an unknown name or a bad term, or when failpoints are off. */
  set(name: string, termText: string): void {
    if (!this.enabled) throw HikariError.invalidArgument('failpoint', 'failpoints are off (HIKARI_FAILPOINTS is not set)');
    if (!NAMES.has(name)) throw HikariError.invalidArgument('failpoint', `unknown failpoint '${name}' (known: ${[...NAMES].join(', ')})`);
    const term = parseTerm(termText);
    if (term === null) this.armed.delete(name as FailpointName);
    else this.armed.set(name as FailpointName, term);
  }

  /** Every point with its term (`off` when disarmed). */
  list(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const name of NAMES) {
      const t = this.armed.get(name as FailpointName);
      out[name] = t === undefined ? 'off' : `${t.probability < 1 ? `${t.probability * 100}%` : ''}${t.action}`;
    }
    return out;
  }

  /**
   * The point `name` is reached. A `crash` that fires does not return; an `on` that fires returns
   * true (the caller misbehaves); otherwise false. Call sites check `enabled` first.
   */
  hit(name: FailpointName): boolean {
    const term = this.armed.get(name);
    if (term === undefined || (term.probability < 1 && this.random() >= term.probability)) return false;
    if (term.action === 'on') return true;
    // Synchronous, so that the line is out before the signal; then nothing else runs.
    writeSync(2, `${JSON.stringify({ level: 60, time: Date.now(), pid: process.pid, failpoint: name, msg: 'failpoint: crashing (SIGKILL)' })}\n`);
    process.kill(process.pid, 'SIGKILL');
    return false;
  }
}

function fromEnvironment(): Failpoints {
  try {
    return new Failpoints(process.env.HIKARI_FAILPOINTS);
  } catch (e) {
    writeSync(2, `hikari-server: HIKARI_FAILPOINTS: ${(e as Error).message}\n`);
    process.exit(2);
  }
}

/** The process's failpoints, armed from HIKARI_FAILPOINTS (off when it is not set; exit 2 when it is malformed). */
export const failpoints = fromEnvironment();
