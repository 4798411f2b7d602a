import { Entry, EntryType } from '@hikarikeeper/raft';
import {
  CHILDREN_DATA_PAGE_BYTES_MAX, CHILDREN_PAGE_DEFAULT, ChildrenResult, errorToWire, ExistsResult, GetResult, HikariError, MultiResult, ROOT_PATH,
} from '@hikarikeeper/protocol';
import { Command, decodeCommand, Outcome } from './commands';
import { childKey, childNameOf, childrenRange, dataKey, dedupKey, fenceCounterKey, lockKey, SESSION_RANGE, sessionIdOf, sessionKey, statKey } from './keys';
import { applyLock, decodeLock } from './locks';
import { applyAuth, AuthChange } from './auth';
import type { LockRecord, TicketEvent } from './lock-rules';
import { applyOp, ApplyPoint, ChangeRecord, keysToPrefetch, readRecord } from './namespace';
import { applySession, decodeSession, SessionRecord } from './sessions';
import { Overlay } from './overlay';
import { unpack } from './packer';
import { decodeRecord, ROOT_RECORD, toStat } from './node-record';
import type { BatchWriter, StateReader } from './state-store';
import { StateCache, STATE_CACHE_BYTES_DEFAULT } from './state-cache';
import { applyClients, ClientSlots, DEDUP_SLOTS, dedupReadAhead, encodeSlot, scanClients } from './clients';

export { DEDUP_SLOTS } from './clients';
export type { ClientSlots } from './clients';

/** What applying a batch produced: an outcome per command entry, the changes (for watches), the sessions written. */
export interface BatchResult {
  readonly outcomes: Map<number, Outcome>;
  readonly writes: number;
  readonly changes: ChangeRecord[];
  readonly sessions: Map<string, SessionRecord | null>;
  /** Queued lock tickets granted or dropped by this batch (for the `lock.wait` requests on them). */
  readonly tickets: TicketEvent[];
  /** Its number among the batches staged in the cache (see StateCache.staged): `batchWritten` unpins it. */
  readonly stagedAs: number;
  /** Auth records written by the batch (roles, tokens, certificate bindings), for the permission table. */
  readonly auth: AuthChange[];
}

/** An entry's command (null if its data is not one) and the keys its apply reads first, also as latin1 strings. */
interface DecodedCommand {
  readonly cmd: Command | null;
  readonly reads: readonly Buffer[];
  readonly readNames: readonly string[];
}

/** Adds the keys applying `cmd` reads first (read in one batch before the apply). */
function pushReads(keys: Buffer[], cmd: Command): void {
  if (cmd.k === 'ns' || cmd.k === 'multi') for (const op of cmd.k === 'ns' ? [cmd.op] : cmd.ops) keys.push(...keysToPrefetch(op));
  if (cmd.k === 'session' && 'ids' in cmd) for (const id of cmd.ids) keys.push(sessionKey(id));
  if (cmd.k === 'lock') {
    keys.push(lockKey(cmd.name), fenceCounterKey);
    if (cmd.sid !== undefined) keys.push(sessionKey(cmd.sid));
  }
  if (cmd.k !== 'session' && cmd.k !== 'auth' && cmd.k !== 'clients' && cmd.c !== undefined && cmd.s !== undefined) keys.push(dedupKey(cmd.c, cmd.s % DEDUP_SLOTS));
}

/**
 * The coordination state machine. Deterministic: the same committed entries applied to the same
 * state produce the same writes on every replica — nothing here reads a clock, a random source or
 * the node's identity. Writes go into the Ready's WriteBatch, with the applied index, so that a
 * restart neither loses nor re-applies anything.
 */
export class CoordinationStateMachine {
  /** Reads go through a bounded cache of hot records (see state-cache.ts). */
  private readonly store: StateCache;

  constructor(store: StateReader, cacheBytes: number = STATE_CACHE_BYTES_DEFAULT) {
    this.store = new StateCache(store, cacheBytes, dedupReadAhead);
  }

  /** The batch `result` came from is now in the store (batches are written in the order they were applied). */
  batchWritten(result: BatchResult): void {
    this.store.written(result.stagedAs);
  }

  /** A snapshot replaced the whole state. */
  stateReplaced(): void {
    this.store.clear();
  }

  /** Cache figures for metrics. */
  get cacheStats(): { entries: number; bytes: number; hits: number; misses: number } {
    return { entries: this.store.size, bytes: this.store.sizeBytes, hits: this.store.hits, misses: this.store.misses };
  }

  /**
   * Entries were appended to the log (the leader's proposals, or what a follower received): starts
   * reading into the cache the records their apply will read first, so that the apply, which
   * comes once they commit, seldom waits for RocksDB (see StateCache.warm). Returns at once. The
   * decoded commands are kept for the apply (until then only: `applyBatch` drops them).
   */
  warm(entries: readonly Entry[]): void {
    const keys: Buffer[] = [];
    const names: string[] = [];
    for (const entry of entries) {
      if (entry.type !== EntryType.Normal || entry.data.length === 0) continue;
      const { reads, readNames } = this.command(entry);
      for (let i = 0; i < reads.length; i++) {
        keys.push(reads[i]);
        names.push(readNames[i]);
      }
    }
    if (keys.length > 0) this.store.warm(keys, names);
  }

  /** Commands decoded by `warm`, by entry data, until applied. */
  private readonly decoded = new WeakMap<Uint8Array, DecodedCommand>();

  /** The command in `entry` and the keys its apply reads first (decoded once: by `warm`, or now). */
  private command(entry: Entry): DecodedCommand {
    const known = this.decoded.get(entry.data);
    if (known !== undefined) return known;
    let decoded: DecodedCommand;
    try {
      const cmd = decodeCommand(entry.data);
      const reads: Buffer[] = [];
      pushReads(reads, cmd);
      decoded = { cmd, reads, readNames: reads.map((key) => key.toString('latin1')) };
    } catch {
      decoded = { cmd: null, reads: [], readNames: [] }; // not a command: its apply answers so
    }
    this.decoded.set(entry.data, decoded);
    return decoded;
  }

  /** Applies committed entries (in order) into `batch`; returns each command's outcome. */
  async applyBatch(entries: readonly Entry[], batch: BatchWriter): Promise<BatchResult> {
    const overlay = new Overlay(this.store);
    const commands: Array<{ entry: Entry; cmd: Command | null }> = [];
    const prefetch: Buffer[] = [];
    const prefetchNames: string[] = [];
    for (const entry of entries) {
      if (entry.type !== EntryType.Normal || entry.data.length === 0) continue;
      const { cmd, reads, readNames } = this.command(entry);
      this.decoded.delete(entry.data);
      for (let i = 0; i < reads.length; i++) {
        prefetch.push(reads[i]);
        prefetchNames.push(readNames[i]);
      }
      commands.push({ entry, cmd });
    }
    await overlay.prefetch(prefetch, prefetchNames);
    const outcomes = new Map<number, Outcome>();
    const changes: ChangeRecord[] = [];
    const sessions = new Map<string, SessionRecord | null>();
    const tickets: TicketEvent[] = [];
    const auth: AuthChange[] = [];
    for (const { entry, cmd } of commands) {
      outcomes.set(entry.index, cmd?.k === 'auth' ? await applyAuthCommand(overlay, cmd, auth) : await this.applyCommand(overlay, entry, cmd, changes, sessions, tickets));
    }
    // Until `batch` is written, its writes are read from memory: the next batch, which may be applied
    // before this one is on disk (pipelined persistence), sees the state these entries left.
    const stagedAs = this.store.staged(overlay.flush(batch));
    return { outcomes, writes: overlay.writeCount, changes, sessions, tickets, stagedAs, auth };
  }

  private async applyCommand(
    overlay: Overlay, entry: Entry, cmd: Command | null, changes: ChangeRecord[], sessions: Map<string, SessionRecord | null>, tickets: TicketEvent[],
  ): Promise<Outcome> {
    if (cmd === null || (cmd.k !== 'ns' && cmd.k !== 'multi' && cmd.k !== 'session' && cmd.k !== 'lock' && cmd.k !== 'clients')) {
      return { ok: false, error: errorToWire(HikariError.invalidArgument('command', `entry ${entry.index} is not a command`)) };
    }
    if (cmd.k === 'session') {
      return forked(overlay, async (fork) => {
        const at: ApplyPoint = { index: entry.index, time: cmd.t, changes: [], sessions: new Map(), tickets: [] };
        const value = await applySession(fork, cmd, at);
        changes.push(...at.changes);
        tickets.push(...at.tickets);
        for (const [id, r] of at.sessions) sessions.set(id, r);
        return value;
      });
    }
    if (cmd.k === 'clients') return forked(overlay, (fork) => applyClients(fork, cmd));
    const dedup = cmd.c !== undefined && cmd.s !== undefined ? dedupKey(cmd.c, cmd.s % DEDUP_SLOTS) : null;
    if (dedup) {
      const seen = await overlay.get(dedup);
      if (seen) {
        const [seq, outcome] = unpack<[number, Outcome]>(seen);
        if (seq === cmd.s) return outcome; // a retry: answer as the first time, change nothing
        if (seq > cmd.s!) {
          return { ok: false, error: errorToWire(HikariError.invalidArgument('seq', `sequence ${cmd.s} is older than the ${DEDUP_SLOTS} writes remembered`)) };
        }
      }
    }
    const at: ApplyPoint = { index: entry.index, time: cmd.t, session: cmd.sid, changes: [], sessions: new Map(), tickets: [] };
    let outcome: Outcome;
    const fork = overlay.fork();
    try {
      let value: unknown;
      if (cmd.k === 'ns') {
        value = stripOpTag(await applyOp(fork, cmd.op, at));
      } else if (cmd.k === 'lock') {
        value = await applyLock(fork, cmd, at);
      } else {
        const results: MultiResult['results'] = [];
        for (let i = 0; i < cmd.ops.length; i++) {
          try {
            results.push(await applyOp(fork, cmd.ops[i], at));
          } catch (e) {
            if (e instanceof HikariError) e.details.opIndex = i;
            throw e;
          }
        }
        value = { results } satisfies MultiResult;
      }
      overlay.absorb(fork);
      changes.push(...at.changes);
      tickets.push(...at.tickets);
      outcome = { ok: true, value };
    } catch (e) {
      if (!(e instanceof HikariError)) throw e; // a bug: stop rather than diverge
      outcome = { ok: false, error: errorToWire(e) };
    }
    if (dedup) overlay.put(dedup, encodeSlot(cmd.s!, outcome, cmd.t, cmd.sid));
    return outcome;
  }

  /** The clients with dedup slots as applied here, a page at a time (see clients.ts, scanClients). */
  scanClients(after: string | null, keysMax: number): Promise<{ clients: ClientSlots[]; next: string | null }> {
    return scanClients(this.store, after, keysMax);
  }

  /** Every session as applied (to rebuild the in-memory session table at start). */
  async loadSessions(): Promise<Map<string, SessionRecord>> {
    const out = new Map<string, SessionRecord>();
    for await (const [key, value] of this.store.iterate({ gte: SESSION_RANGE.gte, lt: SESSION_RANGE.lt })) {
      out.set(sessionIdOf(key), decodeSession(value));
    }
    return out;
  }

  // ---------------------------------------------------------------- reads (of applied state)

  /** The lock's record as applied on this node; null when nobody holds or awaits it. */
  async lock(name: string): Promise<LockRecord | null> {
    const [bytes] = await this.store.getMany([lockKey(name)]);
    return bytes ? decodeLock(bytes) : null;
  }

  async get(path: string): Promise<GetResult> {
    const [stat, data] = await this.store.getMany([statKey(path), dataKey(path)]);
    if (!stat && path !== ROOT_PATH) throw HikariError.noNode(path);
    const record = stat ? decodeRecord(stat) : ROOT_RECORD;
    return { data: data ?? Buffer.alloc(0), stat: toStat(record) };
  }

  async exists(path: string): Promise<ExistsResult> {
    const [stat] = await this.store.getMany([statKey(path)]);
    if (!stat) return path === ROOT_PATH ? { stat: toStat(ROOT_RECORD) } : null;
    return { stat: toStat(decodeRecord(stat)) };
  }

  async children(path: string, after?: string, limit = CHILDREN_PAGE_DEFAULT, withData = false): Promise<ChildrenResult> {
    const record = await readRecord(new Overlay(this.store), path);
    if (!record) throw HikariError.noNode(path);
    const range = childrenRange(path);
    const names: string[] = [];
    const from = after === undefined ? { gte: range.gte } : { gt: childKey(path, after) };
    let more = false;
    for await (const [key] of this.store.iterate({ ...from, lt: range.lt, limit: limit + 1 })) {
      if (names.length === limit) {
        more = true;
        break;
      }
      names.push(childNameOf(path, key));
    }
    if (!withData) return { names, more, stat: toStat(record) };
    // Data and stats in one read. A child deleted since the scan is left out; the page ends early
    // once the data budget is spent (the first child always fits).
    const keys: Buffer[] = [];
    for (const name of names) {
      const child = path === ROOT_PATH ? `/${name}` : `${path}/${name}`;
      keys.push(statKey(child), dataKey(child));
    }
    const values = await this.store.getMany(keys);
    const children: ChildrenResult['children'] = [];
    const kept: string[] = [];
    let bytes = 0;
    for (let i = 0; i < names.length; i++) {
      const statBytes = values[2 * i];
      if (!statBytes) continue;
      const data = values[2 * i + 1] ?? Buffer.alloc(0);
      if (children.length > 0 && bytes + data.length > CHILDREN_DATA_PAGE_BYTES_MAX) {
        more = true;
        break;
      }
      bytes += data.length;
      kept.push(names[i]);
      children.push({ name: names[i], data, stat: toStat(decodeRecord(statBytes)) });
    }
    return { names: kept, more, stat: toStat(record), children };
  }
}

/** An admin command on auth records (see auth.ts): all or nothing, its changes published once it applied. */
function applyAuthCommand(overlay: Overlay, cmd: Extract<Command, { k: 'auth' }>, auth: AuthChange[]): Promise<Outcome> {
  return forked(overlay, async (fork) => {
    const changes: AuthChange[] = [];
    const value = await applyAuth(fork, cmd, changes);
    auth.push(...changes);
    return value;
  });
}

/**
 * Runs `apply` on a fork of `overlay`: its writes join the overlay if it succeeds (what it records
 * for the caller it records only then, at its end); a HikariError becomes a coded outcome and changes
 * nothing. Any other error is a bug: it propagates, and the node stops rather than diverge.
 */
async function forked(overlay: Overlay, apply: (fork: Overlay) => Promise<unknown>): Promise<Outcome> {
  const fork = overlay.fork();
  try {
    const value = await apply(fork);
    overlay.absorb(fork);
    return { ok: true, value };
  } catch (e) {
    if (!(e instanceof HikariError)) throw e;
    return { ok: false, error: errorToWire(e) };
  }
}

/** Single-op results drop the `op` tag that multi results carry. */
function stripOpTag(result: { op: string }): unknown {
  const { op: _op, ...rest } = result;
  return rest;
}
