import type { LockRecord } from '@hikarikeeper/server';

/** What the lock checks read of a replica after an applied entry: its lock records and live sessions. */
export interface LockStateView {
  readonly locks: ReadonlyMap<string, LockRecord>;
  readonly sessions: ReadonlyMap<string, unknown>;
}

type Mode = LockRecord['holders'][number]['mode'];

interface Held {
  readonly token: number;
  readonly ticket: number;
  readonly session: string;
  readonly mode: Mode;
}

interface Queued {
  readonly ticket: number;
  readonly session: string;
  readonly mode: Mode;
}

/** A copy of a lock record, as the checks need it (the state machine replaces its records). */
interface LockView {
  readonly permits: number;
  readonly holders: readonly Held[];
  readonly waiters: readonly Queued[];
}

/** One replica as the checks follow it: its locks after its last applied index, the tokens it saw granted. */
interface Replica {
  locks: Map<string, LockView>;
  /** The records `locks` copies: the state machine replaces a record on every change (the rules return copies). */
  records: Map<string, LockRecord>;
  lastTokenOf: Map<string, number>;
  lastToken: number;
}

/** A grant of the applied history: which ticket of which session got the token, and when it ended. */
interface Grant {
  readonly name: string;
  readonly ticket: number;
  readonly session: string;
  readonly index: number;
  endedAt: number | null;
}

function sameRecords(a: ReadonlyMap<string, LockRecord>, b: ReadonlyMap<string, LockRecord>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, r] of b) if (a.get(name) !== r) return false;
  return true;
}

function sessionsLive(v: LockView, state: LockStateView): boolean {
  return v.holders.every((h) => state.sessions.has(h.session)) && v.waiters.every((w) => state.sessions.has(w.session));
}

function viewOf(r: LockRecord): LockView {
  return {
    permits: r.permits,
    holders: r.holders.map((h) => ({ token: h.token, ticket: h.ticket, session: h.session, mode: h.mode })),
    waiters: r.waiters.map((w) => ({ ticket: w.ticket, session: w.session, mode: w.mode })),
  };
}

/** Could `mode` be granted next to these holders? (The specification, written apart from lock-rules.ts.) */
function fits(v: LockView, mode: Mode): boolean {
  if (mode === 'shared') return v.holders.every((h) => h.mode === 'shared');
  return v.holders.length < v.permits && v.holders.every((h) => h.mode === 'exclusive');
}

/**
 * The semantics of lock queues, checked on the applied sequence of every replica (state machine
 * safety already makes replicas agree; these check that what they agree on is right):
 * - Mutual exclusion: at every applied index, at most `permits` exclusive holders, and never
 *   exclusive and shared holders together.
 * - Fencing tokens: in grant order, tokens strictly increase per name (and globally: one counter),
 *   and a token is never handed out twice.
 * - FIFO: the queue stays in enqueue order (a ticket is the index of its acquire), a grant never
 *   overtakes a ticket still waiting ahead of it, and the head waits only while it cannot be granted.
 * - Sessions: a grant goes to a live session, and a session's end takes its grants and tickets with
 *   it in the same entry.
 * - Client-visible: a client told "granted with token T" holds T in the applied history; a client
 *   told "released" no longer does.
 * - Liveness, at the end of a healed run: no lock is held or awaited by an ended session.
 * Violations are recorded (with the step), never thrown, as SafetyChecker does.
 */
export class LockChecker {
  readonly violations: string[] = [];
  private readonly replicas = new Map<number, Replica>();
  /** Every grant of the applied history, by token (recorded by the first replica to apply it). */
  private readonly grants = new Map<number, Grant>();
  private highestIndex = 0;
  /** Lock commands in the applied history (counted once per index). */
  operations = 0;
  /** Grants in the applied history. */
  granted = 0;
  /** Grants and releases told to clients, checked against the history. */
  clientChecks = 0;

  constructor(private readonly now: () => number) {}

  private fail(what: string): void {
    if (this.violations.length < 20) this.violations.push(`step ${this.now()}: ${what}`);
  }

  private replica(id: number): Replica {
    let r = this.replicas.get(id);
    if (!r) {
      r = { locks: new Map(), records: new Map(), lastTokenOf: new Map(), lastToken: 0 };
      this.replicas.set(id, r);
    }
    return r;
  }

  /** Replica `id` applied the entry at `index` (`lockOp`: a lock command) and is now in `state`. */
  onApplied(id: number, index: number, lockOp: boolean, state: LockStateView): void {
    if (index > this.highestIndex) {
      this.highestIndex = index;
      if (lockOp) this.operations++;
    }
    const r = this.replica(id);
    if (sameRecords(r.records, state.locks)) {
      // The entry replaced no record (most entries): only a session of a lock may have ended.
      for (const [name, v] of r.locks) if (!sessionsLive(v, state)) this.checkSessions(`n${id} at ${index}`, name, v, state);
      return;
    }
    const where = `n${id} at ${index}`;
    const next = new Map<string, LockView>();
    const names = new Set(r.locks.keys());
    for (const name of state.locks.keys()) names.add(name);
    for (const name of names) {
      const record = state.locks.get(name);
      const before = r.locks.get(name) ?? null;
      if (record && before && record === r.records.get(name)) {
        // The entry did not touch this lock: only a session of it may have ended meanwhile.
        this.checkSessions(where, name, before, state);
        next.set(name, before);
        continue;
      }
      const after = record ? viewOf(record) : null;
      if (after) {
        this.checkState(where, name, after, state);
        next.set(name, after);
      }
      this.checkTransition(where, r, index, name, before, after, state);
    }
    r.locks = next;
    r.records = new Map(state.locks);
  }

  /** Replica `id` installed a snapshot at `index`: its state jumps, and is checked as it stands. */
  onRestored(id: number, index: number, state: LockStateView): void {
    const r = this.replica(id);
    r.locks = new Map();
    r.records = new Map(state.locks);
    for (const [name, record] of state.locks) {
      const v = viewOf(record);
      this.checkState(`n${id} at ${index} (snapshot)`, name, v, state);
      r.locks.set(name, v);
      // The tokens held were granted before: later grants must exceed them.
      for (const h of v.holders) {
        r.lastTokenOf.set(name, Math.max(r.lastTokenOf.get(name) ?? 0, h.token));
        r.lastToken = Math.max(r.lastToken, h.token);
      }
    }
  }

  /** What must hold of a lock record at every applied index. */
  private checkState(where: string, name: string, v: LockView, state: LockStateView): void {
    const exclusive = v.holders.filter((h) => h.mode === 'exclusive').length;
    const shared = v.holders.length - exclusive;
    if (exclusive > v.permits) this.fail(`mutual exclusion: ${where}, lock ${name} has ${exclusive} exclusive holders (permits ${v.permits}): ${describe(v)}`);
    if (exclusive > 0 && shared > 0) this.fail(`mutual exclusion: ${where}, lock ${name} has exclusive and shared holders together: ${describe(v)}`);
    for (let i = 1; i < v.waiters.length; i++) {
      if (v.waiters[i].ticket <= v.waiters[i - 1].ticket) {
        this.fail(`FIFO: ${where}, the queue of lock ${name} is out of enqueue order: ${describe(v)}`);
        break;
      }
    }
    if (v.waiters.length > 0 && fits(v, v.waiters[0].mode)) {
      this.fail(`FIFO: ${where}, the head of lock ${name} (ticket ${v.waiters[0].ticket}) waits though it could be granted: ${describe(v)}`);
    }
    this.checkSessions(where, name, v, state);
  }

  /** A session's end takes its grants and tickets with it, in the same entry. */
  private checkSessions(where: string, name: string, v: LockView, state: LockStateView): void {
    for (const h of v.holders) {
      if (!state.sessions.has(h.session)) this.fail(`session end: ${where}, lock ${name} is held (token ${h.token}) by session ${h.session}, which has ended`);
    }
    for (const w of v.waiters) {
      if (!state.sessions.has(w.session)) this.fail(`session end: ${where}, lock ${name} is awaited (ticket ${w.ticket}) by session ${w.session}, which has ended`);
    }
  }

  /** What the entry at `index` did to lock `name`: its grants, ended grants and new tickets. */
  private checkTransition(where: string, r: Replica, index: number, name: string, before: LockView | null, after: LockView | null, state: LockStateView): void {
    const held = new Set(before?.holders.map((h) => h.token));
    for (const h of after?.holders ?? []) {
      if (held.has(h.token)) continue;
      // A grant, made by this entry: to the acquire applied here, or to a ticket that was queued.
      const queued = before?.waiters.find((w) => w.ticket === h.ticket);
      if (h.ticket !== index && !queued) this.fail(`FIFO: ${where}, lock ${name} granted ticket ${h.ticket}, which was not queued`);
      if (queued && (queued.session !== h.session || queued.mode !== h.mode)) {
        this.fail(`FIFO: ${where}, lock ${name} granted ticket ${h.ticket} to ${h.session}/${h.mode}, queued by ${queued.session}/${queued.mode}`);
      }
      const overtaken = after!.waiters.find((w) => w.ticket < h.ticket);
      if (overtaken) this.fail(`FIFO: ${where}, lock ${name} granted ticket ${h.ticket} while the earlier ticket ${overtaken.ticket} still waits: ${describe(after!)}`);
      if (!state.sessions.has(h.session)) this.fail(`session end: ${where}, lock ${name} granted token ${h.token} to session ${h.session}, which has ended`);
      const lastOfName = r.lastTokenOf.get(name) ?? 0;
      if (h.token <= lastOfName) this.fail(`fencing tokens: ${where}, lock ${name} granted token ${h.token}, not above its earlier grant of token ${lastOfName}`);
      else if (h.token <= r.lastToken) this.fail(`fencing tokens: ${where}, lock ${name} granted token ${h.token}, not above token ${r.lastToken} granted earlier (one counter)`);
      r.lastTokenOf.set(name, Math.max(lastOfName, h.token));
      r.lastToken = Math.max(r.lastToken, h.token);
      const g = this.grants.get(h.token);
      if (!g) {
        this.grants.set(h.token, { name, ticket: h.ticket, session: h.session, index, endedAt: null });
        this.granted++;
      } else if (g.name !== name || g.ticket !== h.ticket || g.session !== h.session || g.index !== index) {
        this.fail(`fencing tokens: ${where}, token ${h.token} granted to ${h.session} (lock ${name}, ticket ${h.ticket}), but it was granted at ${g.index} to ${g.session} (lock ${g.name}, ticket ${g.ticket})`);
      }
    }
    const now = new Set(after?.holders.map((h) => h.token));
    for (const h of before?.holders ?? []) {
      if (now.has(h.token)) continue;
      const g = this.grants.get(h.token);
      if (g && g.endedAt === null) g.endedAt = index;
    }
    const waited = new Set(before?.waiters.map((w) => w.ticket));
    for (const w of after?.waiters ?? []) {
      if (!waited.has(w.ticket) && w.ticket !== index) this.fail(`FIFO: ${where}, ticket ${w.ticket} joined the queue of lock ${name}, but a ticket is the index of its acquire`);
    }
  }

  /** A client was told that its ticket of `name` is granted with `token`. */
  onClientGrant(session: string, name: string, ticket: number, token: number): void {
    this.clientChecks++;
    const g = this.grants.get(token);
    if (!g) {
      this.fail(`client-visible: ${session} was told lock ${name} (ticket ${ticket}) is granted with token ${token}, which no applied entry granted`);
    } else if (g.name !== name || g.session !== session || g.ticket !== ticket) {
      this.fail(`client-visible: ${session} was told lock ${name} (ticket ${ticket}) is granted with token ${token}, which was granted to ${g.session} (lock ${g.name}, ticket ${g.ticket})`);
    }
  }

  /** A client was told that its grant `token` of `name` is released. */
  onClientRelease(session: string, name: string, token: number): void {
    this.clientChecks++;
    const g = this.grants.get(token);
    if (!g || g.name !== name || g.session !== session) {
      this.fail(`client-visible: ${session} was told token ${token} of lock ${name} is released, but it never held it`);
    } else if (g.endedAt === null) {
      this.fail(`client-visible: ${session} was told token ${token} of lock ${name} is released, but the grant still holds`);
    }
  }

  /** The end of a healed run: no lock is held or awaited by a session that ended. */
  checkEnd(state: LockStateView): string[] {
    const out: string[] = [];
    for (const [name, record] of state.locks) {
      for (const h of record.holders) {
        if (!state.sessions.has(h.session)) out.push(`lock liveness: after healing, lock ${name} is still held (token ${h.token}) by ended session ${h.session}`);
      }
      for (const w of record.waiters) {
        if (!state.sessions.has(w.session)) out.push(`lock liveness: after healing, ticket ${w.ticket} of ended session ${w.session} still waits for lock ${name}`);
      }
    }
    return out;
  }
}

function describe(v: LockView): string {
  const holders = v.holders.map((h) => `${h.session}/${h.mode[0]}#${h.ticket}=${h.token}`).join(' ');
  const waiters = v.waiters.map((w) => `${w.session}/${w.mode[0]}#${w.ticket}`).join(' ');
  return `holders [${holders}] waiters [${waiters}]`;
}
