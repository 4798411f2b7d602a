import {
  ConfState, decodeConfChange, Entry, EntryType, MemoryStorage, Message, message, MessageType, NodeId,
  ProposalOutcome, ProposalTracker, RaftError, RawNode, Ready, Role, SeededRandom, SnapshotAssembler,
} from '@hikarikeeper/raft';
import type { SnapshotChunk } from '@hikarikeeper/raft';
import { decodeCommand, encodeCommand, KvCommand, KvResult, KvStateMachine, LockBugs, LockCmd, SessionCmd } from './kv-state-machine';
import { isExpiredAt, TicketEvent } from '@hikarikeeper/server';

/** What a node answers a client. `leader` is a hint for NOT_LEADER. */
export type NodeReply =
  | { readonly ok: true; readonly result?: KvResult; readonly value?: string | null }
  | { readonly ok: false; readonly code: string; readonly leader?: NodeId };

/** Where, inside the handling of one Ready, a scheduled crash strikes. */
export enum CrashPoint {
  /** After ready(), before anything is persisted: the Ready is lost entirely. */
  BeforePersist = 'before-persist',
  /** After persisting, before sending: peers never hear what was promised. */
  BeforeSend = 'before-send',
  /** After sending, before applying the committed entries. */
  BeforeApply = 'before-apply',
}

export interface NodeHooks {
  send(m: Message): void;
  reply(to: (r: NodeReply) => void, r: NodeReply): void;
  onSoftState(node: SimNode, role: Role, leader: NodeId, term: number): void;
  onApply(node: SimNode, entry: Entry): void;
  /** After an entry is applied: `lockOp` tells a lock command (acquire, release, cancel). */
  onApplied(node: SimNode, index: number, lockOp: boolean): void;
  onSnapshotInstalled(node: SimNode, index: number): void;
  onSessionExpired(node: SimNode, id: string, t: number): void;
  trace(line: string): void;
}

export interface SimNodeOptions {
  electionTicks: number;
  /** Take a snapshot and compact the log every this many applied entries. */
  snapshotEvery: number;
  /** Entries kept in the log behind a snapshot (so slightly lagging followers avoid a snapshot). */
  compactionLag: number;
  maxInflightMsgs: number;
  maxMsgBytes: number;
  /** Test-only bug in the state machine: expiries applied without re-checking the deadline. */
  unsafeExpireWithoutRecheck?: boolean;
  /** Test-only bugs of the lock commands (kv-state-machine.ts) and of lock waits. */
  unsafeLocks?: LockBugs;
  /** Test-only broken behaviour injected into the core (proves the simulator catches bugs). */
  unsafeFaults?: { voteTwice?: boolean; commitOldTerm?: boolean; skipLogCheckOnVote?: boolean };
}

type PendingRead = { key: string; reply: (r: NodeReply) => void; index: number };
type TicketWait = { name: string; ticket: number; session: string; reply: (r: NodeReply) => void };

/**
 * One simulated server: a RawNode over durable in-memory storage, driving the replicated register.
 * `storage` and `sm` are the node's "disk" and survive a crash; everything else is lost with it.
 */
export class SimNode {
  readonly storage: MemoryStorage;
  readonly sm: KvStateMachine;
  raw: RawNode | null = null;
  private proposals = new ProposalTracker<(r: NodeReply) => void>();
  private reads = new Map<string, PendingRead>();
  private readyReads: PendingRead[] = [];
  private assembler = new SnapshotAssembler(64 << 20, 4096);
  private readSeq = 0;
  crashAt: CrashPoint | null = null;
  /** Removed from the cluster for good: it never restarts. */
  retired = false;
  lastAppliedSeen = 0;

  /** `founders` is the initial membership for a founding member, null for a node added later. */
  constructor(
    readonly id: NodeId,
    founders: readonly NodeId[] | null,
    private readonly rng: SeededRandom,
    private readonly opts: SimNodeOptions,
    private readonly hooks: NodeHooks,
  ) {
    const empty: ConfState = { voters: [], learners: [] };
    this.storage = new MemoryStorage(empty);
    if (founders) this.storage.bootstrap(founders);
    this.sm = new KvStateMachine(empty, opts.unsafeExpireWithoutRecheck === true, opts.unsafeLocks ?? {});
  }

  get alive(): boolean {
    return this.raw !== null;
  }

  start(): void {
    this.raw = new RawNode({
      id: this.id,
      storage: this.storage,
      random: this.rng.fork(),
      electionTicks: this.opts.electionTicks,
      heartbeatTicks: 1,
      maxInflightMsgs: this.opts.maxInflightMsgs,
      maxMsgBytes: this.opts.maxMsgBytes,
      applied: this.sm.applied,
      unsafeTestingFaults: this.opts.unsafeFaults,
    });
    this.lastAppliedSeen = this.sm.applied;
    this.hooks.trace(`n${this.id} start (term ${this.storage.getHardState().term}, applied ${this.sm.applied}, last ${this.storage.lastIndex()})`);
  }

  /** Loses everything volatile: the core, pending requests (their clients time out), partial snapshots. */
  crash(): void {
    this.raw = null;
    this.keepalives.clear();
    this.expiring.clear();
    this.extendedTerm = 0;
    this.expiryFromIndex = Infinity;
    this.proposals = new ProposalTracker();
    this.reads.clear();
    this.readyReads = [];
    this.ticketWaits.clear();
    this.unappliedWaits = [];
    this.assembler = new SnapshotAssembler(64 << 20, 4096);
    this.crashAt = null;
    this.hooks.trace(`n${this.id} crash`);
  }

  // ------------------------------------------------------------------ client requests

  write(cmd: KvCommand | LockCmd, reply: (r: NodeReply) => void): void {
    const raw = this.raw;
    if (!raw) return; // a dead node does not answer
    if (!raw.isLeader()) {
      this.hooks.reply(reply, { ok: false, code: 'NOT_LEADER', leader: raw.leader() });
      return;
    }
    try {
      const index = raw.propose(encodeCommand(cmd));
      this.proposals.track(index, raw.term(), reply);
    } catch (e) {
      const code = e instanceof RaftError ? e.code : 'INTERNAL';
      this.hooks.reply(reply, { ok: false, code, leader: e instanceof RaftError ? e.leader : 0 });
    }
  }

  // ------------------------------------------------------------------ lock waits (any node)

  /** Waits registered on queued tickets, by `name#ticket`: answered when this node applies their fate. */
  private readonly ticketWaits = new Map<string, TicketWait[]>();
  /** Waits on tickets this node has not applied yet. */
  private unappliedWaits: TicketWait[] = [];

  /**
   * The server's `lock.wait`: answers with the token once `ticket` is granted to `session`, or with
   * LOCK_NOT_HELD once it left the queue without a grant. Served by any node: a ticket's fate goes
   * through the log. Until this node has applied the acquire (index `ticket`) the wait is held back
   * (the server does a read barrier first: the same effect). Then, as the server's TicketWaits, it is
   * registered first and the applied state read next, so no grant falls in between.
   */
  lockWait(name: string, ticket: number, session: string, reply: (r: NodeReply) => void): void {
    if (!this.raw) return; // a dead node does not answer
    const w: TicketWait = { name, ticket, session, reply };
    if (this.sm.applied < ticket) this.unappliedWaits.push(w);
    else this.registerWait(w);
  }

  private registerWait(w: TicketWait): void {
    const key = `${w.name}#${w.ticket}`;
    const list = this.ticketWaits.get(key);
    if (list) list.push(w);
    else this.ticketWaits.set(key, [w]);
    this.checkWait(w);
  }

  /** Answers `w` if the applied state already decides it (granted, or no longer queued). */
  private checkWait(w: TicketWait): void {
    const record = this.sm.locks.get(w.name);
    const holder = record?.holders.find((h) => h.ticket === w.ticket);
    if (holder) {
      this.endWait(w, holder.session === w.session ? holder.token : null);
      return;
    }
    const waiter = record?.waiters.find((x) => x.ticket === w.ticket);
    if (!waiter || waiter.session !== w.session) this.endWait(w, null);
    else if (this.opts.unsafeLocks?.earlyWaitAnswer) this.endWait(w, this.sm.fence + 1); // the bug: a guess
  }

  private endWait(w: TicketWait, token: number | null): void {
    const key = `${w.name}#${w.ticket}`;
    const list = this.ticketWaits.get(key);
    const i = list ? list.indexOf(w) : -1;
    if (i < 0) return; // already answered
    list!.splice(i, 1);
    if (list!.length === 0) this.ticketWaits.delete(key);
    this.hooks.reply(w.reply, { ok: true, result: token === null ? { ok: false, code: 'LOCK_NOT_HELD' } : { ok: true, token } });
  }

  /** The fates decided by an applied entry. */
  private onTickets(events: readonly TicketEvent[]): void {
    for (const ev of events) {
      const list = this.ticketWaits.get(`${ev.name}#${ev.ticket}`);
      if (!list) continue;
      for (const w of [...list]) this.endWait(w, ev.token);
    }
  }

  /** After applying (or installing a snapshot): waits whose ticket is now applied are registered. */
  private registerAppliedWaits(): void {
    if (this.unappliedWaits.length === 0) return;
    const later: TicketWait[] = [];
    for (const w of this.unappliedWaits) {
      if (w.ticket <= this.sm.applied) this.registerWait(w);
      else later.push(w);
    }
    this.unappliedWaits = later;
  }

  // ------------------------------------------------------------------ sessions (leader duties)

  private keepalives = new Map<string, Array<(r: NodeReply) => void>>();
  private readonly expiring = new Set<string>();
  private extendedTerm = 0;
  private expiryFromIndex = Infinity;

  openSession(id: string, ttl: number, now: number, reply: (r: NodeReply) => void): void {
    this.proposeInternal({ op: 'session-open', id, ttl, t: now }, reply);
  }

  /** Queues a keepalive; the leader renews all queued sessions in one entry at its next tick. */
  keepalive(id: string, reply: (r: NodeReply) => void): void {
    const raw = this.raw;
    if (!raw) return;
    if (!raw.isLeader()) {
      this.hooks.reply(reply, { ok: false, code: 'NOT_LEADER', leader: raw.leader() });
      return;
    }
    const list = this.keepalives.get(id);
    if (list) list.push(reply);
    else this.keepalives.set(id, [reply]);
  }

  /**
   * What the server's SessionManager does, each tick on the leader: one `extend` per term (a fresh
   * deadline, once per renewal), batched renewals, and expiry of sessions past their deadline — only
   * once this leader's `extend` is applied. Followers do nothing.
   */
  sessionDuties(now: number): void {
    const raw = this.raw;
    if (!raw || !raw.isLeader()) {
      this.extendedTerm = 0;
      this.expiryFromIndex = Infinity;
      this.expiring.clear();
      for (const replies of this.keepalives.values()) for (const r of replies) this.hooks.reply(r, { ok: false, code: 'NOT_LEADER', leader: raw?.leader() ?? 0 });
      this.keepalives.clear();
      return;
    }
    if (this.extendedTerm !== raw.term()) {
      const ids = [...this.sm.sessions].filter(([, r]) => r.extendedAt === null).map(([id]) => id);
      const index = this.proposeInternal({ op: 'session-extend', ids, t: now }, () => undefined);
      if (index > 0) {
        this.extendedTerm = raw.term();
        this.expiryFromIndex = index;
      }
    }
    if (this.keepalives.size > 0) {
      const batch = this.keepalives;
      this.keepalives = new Map();
      this.proposeInternal({ op: 'session-renew', ids: [...batch.keys()], t: now }, (r) => {
        for (const [id, replies] of batch) {
          const renewed = r.ok && (r.result?.renewed ?? []).includes(id);
          for (const reply of replies) this.hooks.reply(reply, renewed ? { ok: true, result: r.ok ? r.result : undefined } : r.ok ? { ok: false, code: 'SESSION_EXPIRED' } : r);
        }
      });
    }
    if (this.sm.applied >= this.expiryFromIndex) {
      const due = [...this.sm.sessions].filter(([id, r]) => isExpiredAt(r, now) && !this.expiring.has(id) && !this.keepalives.has(id)).map(([id]) => id);
      // A lost proposal (leadership changed) frees its ids for a later expiry.
      const forget = (r: NodeReply) => {
        if (!r.ok) for (const id of due) this.expiring.delete(id);
      };
      if (due.length > 0 && this.proposeInternal({ op: 'session-expire', ids: due, t: now }, forget) > 0) {
        for (const id of due) this.expiring.add(id);
      }
    }
  }

  /** Proposes a command on this leader; `reply` gets its outcome. Returns the index, or 0 if refused. */
  private proposeInternal(cmd: SessionCmd, reply: (r: NodeReply) => void): number {
    const raw = this.raw;
    if (!raw || !raw.isLeader()) {
      if (raw) this.hooks.reply(reply, { ok: false, code: 'NOT_LEADER', leader: raw.leader() });
      return 0;
    }
    try {
      const index = raw.propose(encodeCommand(cmd));
      this.proposals.track(index, raw.term(), reply);
      return index;
    } catch (e) {
      this.hooks.reply(reply, { ok: false, code: e instanceof RaftError ? e.code : 'INTERNAL', leader: raw.leader() });
      return 0;
    }
  }

  read(key: string, reply: (r: NodeReply) => void): void {
    const raw = this.raw;
    if (!raw) return;
    const context = `${this.id}:${++this.readSeq}`;
    try {
      raw.readIndex(context);
      this.reads.set(context, { key, reply, index: 0 });
    } catch (e) {
      const code = e instanceof RaftError ? e.code : 'INTERNAL';
      this.hooks.reply(reply, { ok: false, code, leader: raw.leader() });
    }
  }

  // ------------------------------------------------------------------ network input

  tick(): void {
    this.raw?.tick();
  }

  receive(m: Message): void {
    this.raw?.step(m);
  }

  receiveChunk(from: NodeId, term: number, chunk: SnapshotChunk): void {
    if (!this.raw) return;
    const r = this.assembler.accept(chunk);
    if (r.status === 'complete') {
      this.raw.step(message({ type: MessageType.Snap, from, to: this.id, term, snapshot: r.snapshot }));
    }
  }

  snapshotStatus(follower: NodeId, ok: boolean): void {
    this.raw?.reportSnapshot(follower, ok);
  }

  // ------------------------------------------------------------------ the Ready loop

  /** Handles every pending Ready; returns false if the node crashed while doing so. */
  processReadies(): boolean {
    for (let rounds = 0; this.raw && this.raw.hasReady(); rounds++) {
      if (rounds > 1000) throw new Error(`n${this.id}: Ready loop does not settle`);
      if (!this.handleReady(this.raw, this.raw.ready())) return false;
    }
    return this.raw !== null;
  }

  private handleReady(raw: RawNode, rd: Ready): boolean {
    if (this.crashAt === CrashPoint.BeforePersist) {
      this.crash();
      return false;
    }
    if (rd.softState) this.hooks.onSoftState(this, rd.softState.role, rd.softState.leader, raw.term());
    // 1. persist (atomically, as one WriteBatch would be)
    if (rd.snapshot) {
      this.storage.applySnapshot(rd.snapshot);
      this.sm.restore(rd.snapshot.data);
      this.sm.applied = rd.snapshot.metadata.index;
      this.lastAppliedSeen = this.sm.applied;
      this.proposals.snapshotInstalled(rd.snapshot.metadata.index, (reply) => this.hooks.reply(reply, { ok: false, code: 'UNKNOWN' }));
      // The fates in between are unknown: look at every registered wait again (the server's recheckAll).
      for (const list of [...this.ticketWaits.values()]) for (const w of [...list]) this.checkWait(w);
      this.registerAppliedWaits();
      this.hooks.onSnapshotInstalled(this, rd.snapshot.metadata.index);
      this.hooks.trace(`n${this.id} installed snapshot at ${rd.snapshot.metadata.index}`);
    }
    this.storage.append(rd.entries);
    if (rd.hardState) this.storage.setHardState(rd.hardState);
    if (this.crashAt === CrashPoint.BeforeSend) {
      this.crash();
      return false;
    }
    // 2. send
    for (const m of rd.messages) this.hooks.send(m);
    if (this.crashAt === CrashPoint.BeforeApply) {
      this.crash();
      return false;
    }
    // 3. apply
    for (const e of rd.committedEntries) this.applyEntry(raw, e);
    this.registerAppliedWaits();
    for (const rs of rd.readStates) {
      const read = this.reads.get(rs.context);
      if (!read) continue;
      this.reads.delete(rs.context);
      read.index = rs.index;
      this.readyReads.push(read);
    }
    this.serveReads();
    raw.advance();
    this.maybeCompact();
    return true;
  }

  private applyEntry(raw: RawNode, e: Entry): void {
    if (e.index !== this.sm.applied + 1) {
      throw new Error(`n${this.id}: applying ${e.index} after ${this.sm.applied}`);
    }
    this.hooks.onApply(this, e);
    let result: KvResult | undefined;
    let lockOp = false;
    if (e.type === EntryType.ConfChange) {
      const cc = decodeConfChange(e.data);
      const cs = raw.applyConfChange(cc);
      this.sm.confState = cs;
      this.storage.setConfState(cs);
      this.hooks.trace(`n${this.id} applied ${cc.type} n${cc.nodeId} at ${e.index}: voters [${cs.voters}] learners [${cs.learners}]`);
    } else if (e.data.length > 0) {
      const cmd = decodeCommand(e.data);
      if (cmd.op.startsWith('session-')) {
        result = this.sm.applySession(cmd as SessionCmd, e.index);
        if (cmd.op === 'session-expire') {
          for (const id of result.expired ?? []) this.hooks.onSessionExpired(this, id, result.t ?? 0);
          for (const id of (cmd as { readonly ids: readonly string[] }).ids) this.expiring.delete(id);
        }
      } else {
        result = this.sm.apply(cmd as KvCommand | LockCmd, e.index);
        lockOp = cmd.op.startsWith('lock-');
      }
    }
    this.sm.applied = e.index;
    this.lastAppliedSeen = e.index;
    this.hooks.onApplied(this, e.index, lockOp);
    if (this.sm.hasTicketEvents) this.onTickets(this.sm.takeTicketEvents());
    this.proposals.applied(e, (reply, outcome) => {
      if (outcome === ProposalOutcome.Committed) this.hooks.reply(reply, { ok: true, result });
      else this.hooks.reply(reply, { ok: false, code: outcome === ProposalOutcome.Lost ? 'LOST' : 'UNKNOWN' });
    });
  }

  private serveReads(): void {
    if (this.readyReads.length === 0) return;
    const waiting: PendingRead[] = [];
    for (const r of this.readyReads) {
      if (r.index <= this.sm.applied) this.hooks.reply(r.reply, { ok: true, value: this.sm.kv.get(r.key) ?? null });
      else waiting.push(r);
    }
    this.readyReads = waiting;
  }

  private maybeCompact(): void {
    const snapIndex = this.storage.snapshot().metadata.index;
    if (this.sm.applied - snapIndex < this.opts.snapshotEvery) return;
    this.storage.createSnapshot(this.sm.applied, this.sm.confState, this.sm.serialize());
    const compactTo = this.sm.applied - this.opts.compactionLag;
    if (compactTo > this.storage.firstIndex()) this.storage.compact(compactTo);
  }

  isLeader(): boolean {
    return this.raw?.isLeader() ?? false;
  }

}
