import { randomBytes } from 'node:crypto';
import {
  ConfChange, ConfChangeType, ConfState, decodeConfChange, Entry, EntryType, Message, message, MessageType, NodeId,
  ProposalOutcome, ProposalTracker, RaftError, RaftErrorCode, RandomSource, RawNode, Ready, Role, Status,
} from '@hikarikeeper/raft';
import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { RocksStore, WriteBatch } from '../storage/rocks';
import { RocksRaftStorage } from '../storage/raft-storage';
import { CoordinationStateMachine } from '../coordination/state-machine';
import { Command, encodeCommand, Outcome } from '../coordination/commands';
import type { ChangeRecord } from '../coordination/namespace';
import type { SessionRecord } from '../coordination/sessions';
import type { TicketEvent } from '../coordination/lock-rules';
import type { AuthChange } from '../coordination/auth';
import type { Transport, SnapshotStream } from '../transport/transport';
import { framePieces, unframePieces } from '../transport/snapshot-pieces';
import { Clock } from './clock';
import { decodeMemberContext, MemberAddress } from './members';
import { installStaged, openSnapshotSource, stagePosition, stageSnapshot, StagedSnapshot } from './snapshot-transfer';
import { Logger, silentLogger } from '../logger';
import { MEMBER_ADDRESS_RANGE, memberAddressKey } from '../coordination/keys';
import { pack, unpack } from '../coordination/packer';
import { WritesInFlight } from './writes-in-flight';
import { RuntimeMetrics, noMetrics, raftMessageKind } from './metrics';
import { FAILPOINTS, failpoints } from '../failpoints';

/** What one durable batch changed. */
export interface AppliedBatch {
  readonly changes: readonly ChangeRecord[];
  /** Queued lock tickets granted or dropped. */
  readonly tickets: readonly TicketEvent[];
  readonly sessions: ReadonlyMap<string, SessionRecord | null>;
  readonly applied: number;
  /** Auth records written (roles, tokens, certificate bindings). */
  readonly auth: readonly AuthChange[];
}

export interface RuntimeOptions {
  id: NodeId;
  store: RocksStore;
  storage: RocksRaftStorage;
  transport: Transport;
  clock: Clock;
  random: RandomSource;
  logger?: Logger;
  metrics?: RuntimeMetrics;
  /** Milliseconds per Raft tick. Default 50: heartbeats every tick, elections after 10–20 ticks. */
  tickMs?: number;
  electionTicks?: number;
  /** Take a snapshot (and compact the log behind it) every this many applied entries. Default 10,000. */
  snapshotEvery?: number;
  /** Entries kept behind a snapshot, so a briefly lagging follower needs no snapshot. Default 1,000. */
  compactionLag?: number;
  /** A proposal or read not answered within this time fails with TIMEOUT. Default 5,000 ms. */
  requestTimeoutMs?: number;
  /** Most proposals waiting for the next Ready; more are refused with TOO_MANY_REQUESTS. Default 100,000. */
  pendingProposalsMax?: number;
}

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: Error): void;
  timer: { cancel(): void };
}

/** Messages a leader may send before its own write is durable: it counts itself only after it is. */
const SEND_BEFORE_PERSIST = new Set<MessageType>([MessageType.App, MessageType.Heartbeat, MessageType.TimeoutNow]);
/**
 * A read point asked for and not answered after this many ticks is asked for again (the request, or
 * its answer, may have been lost with a leader that died or a message the transport dropped).
 */
const READ_RETRY_TICKS = 4;
/** Ready writes in flight at once (pipelined persistence); past it the loop waits for the oldest. */
const WRITES_IN_FLIGHT_MAX = 4;

/**
 * The driver loop (etcd's raft node + etcd server's apply loop): clock → tick; transport → step;
 * proposals and reads queue up and enter the core together at the start of each cycle (group
 * commit); each Ready becomes ONE RocksDB WriteBatch — log entries, hard state, the state machine's
 * writes for the committed entries and the applied position — synced once when Raft requires it.
 * Persistence is pipelined: the loop hands a Ready's batch to the writer and goes on with the next
 * Ready; writes reach disk in order (grouped while one is on its way), and what needs a write done
 * (the core told `persisted`, late messages, readers, watches) happens when it is (see handleReady).
 */
export class RaftRuntime {
  readonly id: NodeId;
  private readonly raw: RawNode;
  private readonly sm: CoordinationStateMachine;
  private readonly log: Logger;
  private readonly metrics: RuntimeMetrics;
  private readonly tickMs: number;
  private readonly snapshotEvery: number;
  private readonly compactionLag: number;
  private readonly requestTimeoutMs: number;
  private readonly pendingProposalsMax: number;
  private ticker: { cancel(): void } | null = null;
  private running = false;
  private again = false;
  private stopped = false;
  private failure: Error | null = null;

  private pendingProposals: Array<{ data: Buffer; waiter: Waiter<Outcome> }> = [];
  private readonly proposals = new ProposalTracker<Waiter<Outcome>>();
  private pendingReads: Array<Waiter<number>> = [];
  /** Read points asked for and not answered yet, by context, with the tick they were last asked at. */
  private readonly readsByContext = new Map<string, { waiters: Array<Waiter<number>>; askedAt: number }>();
  private ticks = 0;
  private readsReady: Array<{ index: number; waiters: Array<Waiter<number>> }> = [];
  private readSeq = 0;
  private readonly bootNonce = randomBytes(8).toString('hex');
  private readonly confWaiters = new Map<number, Waiter<ConfState>>();
  private stagedSnapshot: StagedSnapshot | null = null;
  private snapshotsSending = new Set<NodeId>();

  applied: number;
  appliedTerm = 0;
  /** The applied position of the last Ready handed to the writer (ahead of `applied` while writes are in flight). */
  private submittedApplied: number;
  private submittedAppliedTerm = 0;
  conf: ConfState;
  readonly members = new Map<NodeId, MemberAddress>();
  private readonly batchListeners = new Set<(b: AppliedBatch) => void>();
  /** Told of lock tickets as soon as their entries are applied, before the Ready's write (see onTicketsApplied). */
  private readonly ticketListeners = new Set<(tickets: readonly TicketEvent[]) => void>();
  private readonly snapshotListeners = new Set<(applied: number) => Promise<void> | void>();
  private lastPublished = 0;
  private readonly roleListeners = new Set<(role: Role, leader: NodeId, term: number) => void>();

  constructor(private readonly opts: RuntimeOptions, sm: CoordinationStateMachine) {
    this.id = opts.id;
    this.sm = sm;
    this.log = opts.logger ?? silentLogger;
    this.metrics = opts.metrics ?? noMetrics;
    this.tickMs = opts.tickMs ?? 50;
    this.snapshotEvery = opts.snapshotEvery ?? 10_000;
    this.compactionLag = opts.compactionLag ?? 1_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 5_000;
    this.pendingProposalsMax = opts.pendingProposalsMax ?? 100_000;
    this.applied = opts.storage.appliedIndex();
    this.submittedApplied = this.applied;
    this.conf = opts.storage.initialState().confState;
    this.raw = new RawNode({
      id: opts.id,
      storage: opts.storage,
      random: opts.random,
      electionTicks: opts.electionTicks ?? 10,
      heartbeatTicks: 1,
      applied: this.applied,
      maxMsgBytes: 1 << 20,
    });
  }

  /**
   * Loads the address book (as applied, from the store; `configured` fills in members the store does
   * not know yet, e.g. the founders before the bootstrap entries are applied) and starts ticking.
   */
  async start(configured: readonly MemberAddress[]): Promise<void> {
    for (const m of configured) this.members.set(m.id, m);
    await this.loadMembers();
    this.appliedTerm = this.raw.logTerm(this.applied);
    this.submittedAppliedTerm = this.appliedTerm;
    this.updatePeers();
    await this.opts.transport.start({
      onMessages: (ms) => this.onMessages(ms),
      onSnapshot: (from, stream) => this.onSnapshot(from, stream),
    });
    this.opts.transport.onUnreachable = (id) => {
      if (!this.stopped) this.raw.reportUnreachable(id);
    };
    // A broken connection to the leader (its process died: the OS closed the socket) starts an
    // election soon rather than after a whole election timeout; harmless if the leader lives.
    this.opts.transport.onDisconnected = (id) => {
      if (this.stopped) return;
      this.raw.reportLeaderLost(id);
      this.schedule();
    };
    this.ticker = this.opts.clock.every(this.tickMs, () => {
      if (this.stopped) return;
      this.ticks++;
      this.raw.tick();
      if (this.readsByContext.size > 0) this.askAgain(false);
      this.schedule();
    });
    this.schedule();
  }

  // ---------------------------------------------------------------- public API

  status(): Status {
    return this.raw.status();
  }

  isLeader(): boolean {
    return this.raw.isLeader();
  }

  leader(): NodeId {
    return this.raw.leader();
  }

  term(): number {
    return this.raw.term();
  }

  leaderClientAddress(): string | null {
    const lead = this.raw.leader();
    return lead === 0 ? null : (this.members.get(lead)?.client ?? null);
  }

  /** Called after every durable batch with what it changed (in apply order). */
  /**
   * Queued lock tickets granted or dropped, as soon as their entries are applied — like writers'
   * answers, before the Ready's write: the entries are committed. (The same tickets come again in
   * the batch's `onBatch`, once the state that shows them is readable.)
   */
  onTicketsApplied(fn: (tickets: readonly TicketEvent[]) => void): () => void {
    this.ticketListeners.add(fn);
    return () => this.ticketListeners.delete(fn);
  }

  onBatch(fn: (b: AppliedBatch) => void): () => void {
    this.batchListeners.add(fn);
    return () => this.batchListeners.delete(fn);
  }

  /** Called (and awaited) after a snapshot from the leader replaced the whole state. */
  onSnapshotInstalled(fn: (applied: number) => Promise<void> | void): () => void {
    this.snapshotListeners.add(fn);
    return () => this.snapshotListeners.delete(fn);
  }

  onRoleChange(fn: (role: Role, leader: NodeId, term: number) => void): () => void {
    this.roleListeners.add(fn);
    return () => this.roleListeners.delete(fn);
  }

  /**
   * `propose`, resolving once the command is in effect on this node: a proposal is answered as soon as
   * it is applied, before its batch is written, while the node's in-memory tables (sessions,
   * permissions) follow written batches. For the calls whose next request reads those tables.
   */
  async proposeInEffect(cmd: Command): Promise<Outcome> {
    const outcome = await this.propose(cmd);
    await this.stateBarrier();
    return outcome;
  }

  /**
   * Replicates a command and resolves with its outcome once applied here. Throws (rejects with)
   * NOT_LEADER on a follower, TOO_MANY_REQUESTS when the queue is full, TIMEOUT when no outcome came
   * in time (the write may still apply: a retry with the same client id and seq is safe).
   */
  propose(cmd: Command): Promise<Outcome> {
    this.checkUsable();
    if (!this.raw.isLeader()) return Promise.reject(HikariError.notLeader(this.leaderClientAddress()));
    if (this.pendingProposals.length >= this.pendingProposalsMax) {
      return Promise.reject(new HikariError(ErrorCode.TOO_MANY_REQUESTS, { reason: 'the proposal queue is full' }));
    }
    return new Promise<Outcome>((resolve, reject) => {
      const waiter = this.waiter(resolve, reject, 'proposal');
      this.pendingProposals.push({ data: encodeCommand(cmd), waiter });
      this.schedule();
    });
  }

  /**
   * Resolves once the state written by the Ready in progress (if any) is readable: a stale read
   * after a write's answer then sees that write (writers are answered before the Ready's write).
   */
  async stateBarrier(): Promise<void> {
    // The writes in flight now, not "until none is" (see WritesInFlight.settled).
    await this.writes.settled();
  }

  /**
   * Resolves once this node has applied (and written) entry `index`: at once if it has, after the
   * Ready in progress if the entry is known committed here, else after a linearizable read point
   * (an index from elsewhere, this node behind). An index beyond the read point resolves too: the
   * caller finds its state at the read point and decides.
   */
  async appliedAtLeast(index: number): Promise<void> {
    if (this.applied >= index) return;
    this.checkUsable();
    if (index <= this.raw.commitIndex()) {
      await new Promise<number>((resolve, reject) => {
        this.readsReady.push({ index, waiters: [this.waiter(resolve, reject, 'read')] });
        this.serveReads();
      });
      return;
    }
    await this.readBarrier();
  }

  /** Resolves with a linearizable read point once this node has applied up to it. */
  readBarrier(): Promise<number> {
    this.checkUsable();
    return new Promise<number>((resolve, reject) => {
      this.pendingReads.push(this.waiter(resolve, reject, 'read'));
      this.schedule();
    });
  }

  /** Proposes a membership change and resolves with the new membership once applied here. */
  changeMembership(cc: ConfChange): Promise<ConfState> {
    this.checkUsable();
    return new Promise<ConfState>((resolve, reject) => {
      try {
        const index = this.raw.proposeConfChange(cc);
        this.confWaiters.set(index, this.waiter(resolve, reject, 'membership change'));
        this.schedule();
      } catch (e) {
        reject(toHikari(e, this.leaderClientAddress()));
      }
    });
  }

  transferLeadership(to: NodeId): void {
    this.raw.transferLeadership(to);
    this.schedule();
  }

  /** Hands leadership to the most caught-up voter, waiting up to `timeoutMs`; false if it did not happen. */
  async stepDown(timeoutMs: number): Promise<boolean> {
    if (!this.raw.isLeader()) return true;
    const st = this.raw.status();
    let best: NodeId = 0;
    let bestMatch = -1;
    for (const id of st.conf.voters) {
      const pr = st.progress.get(id);
      if (id !== this.id && pr && pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    if (best === 0) return false;
    this.transferLeadership(best);
    const deadline = this.opts.clock.now() + timeoutMs;
    while (this.opts.clock.now() < deadline) {
      await new Promise((r) => setTimeout(r, this.tickMs / 2));
      if (!this.raw.isLeader()) return true;
    }
    return false;
  }

  /** Stops ticking and fails every waiting request with SHUTTING_DOWN. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.ticker?.cancel();
    while (this.running) await new Promise((r) => setTimeout(r, 5));
    await this.writes.drained(); // the store must not close under a write
    const err = new HikariError(ErrorCode.SHUTTING_DOWN, {});
    this.failAll(err);
    await this.opts.transport.stop();
  }

  // ---------------------------------------------------------------- input

  private onMessages(ms: Message[]): void {
    if (this.stopped) return;
    for (const m of ms) {
      try {
        this.raw.step(m);
      } catch (e) {
        if (e instanceof RaftError && e.code === RaftErrorCode.INVALID_ARGUMENT) {
          this.metrics.droppedMessages.inc();
          this.log.warn({ from: m.from, err: e.message }, 'dropped an invalid peer message');
          continue;
        }
        this.fail(e);
        return;
      }
    }
    this.schedule();
  }

  /** A snapshot from the leader: stage its records, then let the core decide to install it. */
  private async onSnapshot(from: NodeId, stream: SnapshotStream): Promise<void> {
    if (this.stopped) throw new HikariError(ErrorCode.SHUTTING_DOWN, {});
    const staged = await stageSnapshot(this.opts.store, unframePieces(stream.chunks));
    if (staged.index <= this.applied) return; // nothing new; the leader learns from our next response
    this.stagedSnapshot = staged;
    const m = stream.message;
    this.raw.step(message({
      type: MessageType.Snap, from, to: this.id, term: m.term,
      snapshot: { metadata: { index: staged.index, term: staged.term, confState: staged.confState }, data: new Uint8Array(0) },
    }));
    this.log.info({ from, index: staged.index, records: staged.records }, 'snapshot received');
    this.schedule();
  }

  // ---------------------------------------------------------------- the loop

  private schedule(): void {
    if (this.stopped || this.failure) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    setImmediate(() => {
      this.loop().catch((e) => this.fail(e));
    });
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.again = false;
        this.flushInput();
        while (!this.stopped && this.raw.hasReady()) await this.handleReady(this.raw.ready());
      } while (this.again && !this.stopped);
    } finally {
      this.running = false;
    }
  }

  /** Proposals and reads queued since the last cycle enter the core together (the batching point). */
  private flushInput(): void {
    if (this.pendingProposals.length > 0) {
      const batch = this.pendingProposals;
      this.pendingProposals = [];
      if (!this.raw.isLeader()) {
        const err = HikariError.notLeader(this.leaderClientAddress());
        for (const p of batch) this.settle(p.waiter, () => p.waiter.reject(err));
      } else {
        for (let at = 0; at < batch.length; at += 1000) {
          const part = batch.slice(at, at + 1000);
          try {
            const first = this.raw.proposeBatch(part.map((p) => p.data));
            const term = this.raw.term();
            part.forEach((p, i) => this.proposals.track(first + i, term, p.waiter));
            this.metrics.proposals.inc(part.length);
          } catch (e) {
            const err = toHikari(e, this.leaderClientAddress());
            for (const p of part) this.settle(p.waiter, () => p.waiter.reject(err));
          }
        }
      }
    }
    if (this.pendingReads.length > 0) {
      const waiters = this.pendingReads;
      this.pendingReads = [];
      // Unique across the cluster and across restarts: the leader matches answers by context, and a
      // restarted node must never take an answer meant for its previous life (a stale read point).
      const context = `${this.id}:${this.bootNonce}:${++this.readSeq}`;
      try {
        this.raw.readIndex(context);
        this.readsByContext.set(context, { waiters, askedAt: this.ticks });
      } catch (e) {
        const err = toHikari(e, this.leaderClientAddress());
        for (const w of waiters) this.settle(w, () => w.reject(err));
      }
    }
  }

  /**
   * One Ready. Without a snapshot it is pipelined: stage, apply, answer writers, hand the batch to
   * the writer (writes reach disk in Ready order) and return — the loop takes the next Ready while
   * this one is written; what needs the write (late messages such as votes and append responses,
   * the leader counting its own entries, readers, watches) happens when it is done (`written`). A
   * Ready with a snapshot waits for every write in flight, then is handled whole.
   */
  private async handleReady(rd: Ready): Promise<void> {
    const started = process.hrtime.bigint();
    if (rd.snapshot) await this.writes.drained();
    if (rd.softState) this.onSoftState(rd.softState.role, rd.softState.leader);
    const early: Message[] = [];
    const late: Message[] = [];
    for (const m of rd.messages) {
      if (m.type === MessageType.Snap) this.sendSnapshot(m);
      else (SEND_BEFORE_PERSIST.has(m.type) ? early : late).push(m);
    }
    if (early.length > 0) this.send(early);
    // What the new entries' apply will read is read now, while they are replicated (see warm).
    if (rd.entries.length > 0) this.sm.warm(rd.entries);

    const batch = new WriteBatch();
    const storage = this.opts.storage;
    if (rd.snapshot) {
      const md = rd.snapshot.metadata;
      if (!this.stagedSnapshot || this.stagedSnapshot.index !== md.index) {
        throw new HikariError(ErrorCode.INTERNAL, { reason: `the core installs snapshot ${md.index}, which was not staged` });
      }
      await installStaged(this.opts.store, batch, md);
    }
    storage.stage(batch, { snapshot: rd.snapshot?.metadata ?? null, entries: rd.entries, hardState: rd.hardState });

    // Apply: the state machine's writes join the same batch, with the applied position.
    const normal: Entry[] = [];
    const confEntries: Entry[] = [];
    for (const e of rd.committedEntries) (e.type === EntryType.ConfChange ? confEntries : normal).push(e);
    const applyStarted = process.hrtime.bigint();
    const applyResult = await this.sm.applyBatch(normal, batch);
    const { outcomes, changes, sessions, tickets, auth } = applyResult;
    let confChanged: ConfState | null = null;
    for (const e of confEntries) confChanged = this.applyConfEntry(e, batch);
    let applied = this.submittedApplied;
    let appliedTerm = this.submittedAppliedTerm;
    if (rd.snapshot) {
      applied = rd.snapshot.metadata.index;
      appliedTerm = rd.snapshot.metadata.term;
      this.conf = rd.snapshot.metadata.confState;
    }
    const last = rd.committedEntries[rd.committedEntries.length - 1];
    if (last) {
      applied = last.index;
      appliedTerm = last.term;
    }
    if (applied !== this.submittedApplied) {
      stagePosition(batch, applied, appliedTerm, confChanged ?? (rd.snapshot ? this.conf : null));
      storage.stage(batch, { applied, confState: confChanged ?? (rd.snapshot ? this.conf : null) });
      // (Not in the Ready that installs a snapshot: that snapshot is the newest one already.)
      if (!rd.snapshot && applied - storage.snapshot().metadata.index >= this.snapshotEvery) {
        storage.createSnapshot(batch, applied, this.conf);
        const compactTo = applied - this.compactionLag;
        if (compactTo >= storage.firstIndex()) storage.compact(batch, compactTo);
        this.log.info({ index: applied, compactedTo: compactTo }, 'snapshot taken, log compacted');
      }
    }
    this.submittedApplied = applied;
    this.submittedAppliedTerm = appliedTerm;
    this.metrics.applySeconds.observe(Number(process.hrtime.bigint() - applyStarted) / 1e9);

    if (failpoints.enabled) failpoints.hit(FAILPOINTS.applyBeforeReply);
    // Writers are answered now, before this Ready's write: their entries are committed, so durable on
    // a majority, and a restart re-applies them from the log with the same outcome (deduplicated
    // by client and seq). What must wait for the write is reading the new state, and it does: reads
    // are served once `applied` moves (below), stale ones after `stateBarrier()`.
    for (const e of rd.committedEntries) {
      this.proposals.applied(e, (w, outcome) => {
        if (outcome === ProposalOutcome.Committed) {
          const o = outcomes.get(e.index) ?? { ok: true, value: null };
          this.settle(w, () => w.resolve(o));
        } else {
          this.settle(w, () => w.reject(new HikariError(ErrorCode.NOT_LEADER, { reason: 'leadership changed before the write committed; it was not applied' })));
        }
      });
    }
    if (tickets.length > 0) for (const fn of this.ticketListeners) fn(tickets);
    for (const rs of rd.readStates) {
      const asked = this.readsByContext.get(rs.context);
      if (!asked) continue; // answered already (it was asked again)
      this.readsByContext.delete(rs.context);
      this.readsReady.push({ index: rs.index, waiters: asked.waiters });
    }
    this.metrics.readyEntries.observe(rd.entries.length);
    const lastEntry = rd.entries[rd.entries.length - 1];

    /** Everything that needs this Ready's write: runs once it is on disk. */
    const written = async (): Promise<void> => {
      if (failpoints.enabled) failpoints.hit(FAILPOINTS.raftAfterSave);
      if (rd.snapshot) this.sm.stateReplaced();
      this.sm.batchWritten(applyResult);
      if (late.length > 0) this.send(late);
      if (rd.snapshot) {
        this.proposals.snapshotInstalled(rd.snapshot.metadata.index, (w) => this.settle(w, () => w.reject(new HikariError(ErrorCode.TIMEOUT, { reason: 'a snapshot replaced the log: the outcome is unknown' }))));
        this.stagedSnapshot = null;
        await this.rebuildMembers();
        this.log.info({ index: applied }, 'snapshot installed');
      }
      this.applied = applied;
      this.appliedTerm = appliedTerm;
      // Watches and the session table learn what this (now durable) batch changed, before any reader
      // is answered, so a client that reads after a change also has its watch event.
      if (rd.snapshot) for (const fn of this.snapshotListeners) await fn(applied);
      if (changes.length > 0 || sessions.size > 0 || tickets.length > 0 || auth.length > 0 || applied !== this.lastPublished) {
        this.lastPublished = applied;
        for (const fn of this.batchListeners) fn({ changes, sessions, tickets, applied, auth });
      }
      this.serveReads();
      this.metrics.appliedIndex.set(applied);
    };

    const writeStarted = process.hrtime.bigint();
    if (rd.snapshot) {
      await this.writes.track(storage.persist(batch, { sync: rd.mustSync }));
      this.metrics.fsyncSeconds.observe(Number(process.hrtime.bigint() - writeStarted) / 1e9);
      await written();
      this.raw.advance();
    } else {
      const write = storage.handOff(batch, { sync: rd.mustSync });
      this.raw.advanceSubmitted();
      const done = write.then(async () => {
        this.metrics.fsyncSeconds.observe(Number(process.hrtime.bigint() - writeStarted) / 1e9);
        if (this.stopped) return;
        // The leader counts its own entries only now; a follower's append responses leave now.
        if (lastEntry) this.raw.persisted(lastEntry.index, lastEntry.term);
        await written();
        this.schedule();
      });
      this.writes.track(done).catch((e: unknown) => this.fail(e));
      // Backpressure: a few writes in flight at most (each carries everything that queued meanwhile).
      if (this.writes.size >= WRITES_IN_FLIGHT_MAX) await this.writes.oldest();
    }
    this.metrics.readySeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    this.metrics.commitIndex.set(this.raw.commitIndex());
  }

  private send(ms: Message[]): void {
    for (const m of ms) this.metrics.messagesSent.inc({ kind: raftMessageKind(m) });
    this.opts.transport.send(ms);
  }

  /** Writes in flight (their completion steps); see handleReady. */
  private readonly writes = new WritesInFlight();

  private applyConfEntry(e: Entry, batch: WriteBatch): ConfState {
    const cc = decodeConfChange(e.data);
    const cs = this.raw.applyConfChange(cc);
    this.conf = cs;
    if (cc.type === ConfChangeType.Remove) {
      this.members.delete(cc.nodeId);
      batch.del(memberAddressKey(cc.nodeId));
    } else {
      const addr = decodeMemberContext(cc.nodeId, cc.context);
      if (addr) {
        this.members.set(cc.nodeId, addr);
        batch.put(memberAddressKey(cc.nodeId), pack([addr.peer, addr.client]));
      }
    }
    this.updatePeers();
    this.log.info({ index: e.index, change: cc.type, member: cc.nodeId, voters: cs.voters, learners: cs.learners }, 'membership changed');
    const w = this.confWaiters.get(e.index);
    if (w) {
      this.confWaiters.delete(e.index);
      this.settle(w, () => w.resolve(cs));
    }
    return cs;
  }

  private async loadMembers(): Promise<void> {
    for await (const [key, value] of this.opts.store.iterate(MEMBER_ADDRESS_RANGE)) {
      const id = key.readUInt32BE(1);
      const [peer, client] = unpack<[string, string]>(value);
      this.members.set(id, { id, peer, client });
    }
  }

  private async rebuildMembers(): Promise<void> {
    await this.loadMembers();
    for (const id of [...this.members.keys()]) {
      if (!this.conf.voters.includes(id) && !this.conf.learners.includes(id)) this.members.delete(id);
    }
    this.updatePeers();
  }

  private updatePeers(): void {
    const peers = [...this.members.values()].filter((m) => m.id !== this.id).map((m) => {
      const at = m.peer.lastIndexOf(':');
      return { id: m.id, host: m.peer.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(m.peer.slice(at + 1)) };
    });
    this.opts.transport.setPeers(peers);
  }

  private sendSnapshot(m: Message): void {
    if (this.snapshotsSending.has(m.to)) return;
    this.snapshotsSending.add(m.to);
    const source = openSnapshotSource(this.opts.store);
    this.log.info({ to: m.to, index: this.applied }, 'sending snapshot');
    this.opts.transport
      .sendSnapshot(m, framePieces(source.chunks))
      .then((ok) => {
        this.snapshotsSending.delete(m.to);
        if (!ok) source.abort();
        if (this.stopped) return;
        this.log.info({ to: m.to, ok }, 'snapshot sent');
        this.raw.reportSnapshot(m.to, ok);
        this.schedule();
      })
      .catch((e) => this.fail(e));
  }

  private serveReads(): void {
    if (this.readsReady.length === 0) return;
    const waiting: Array<{ index: number; waiters: Array<Waiter<number>> }> = [];
    for (const r of this.readsReady) {
      if (r.index <= this.applied) for (const w of r.waiters) this.settle(w, () => w.resolve(this.applied));
      else waiting.push(r);
    }
    this.readsReady = waiting;
  }

  /**
   * Asks again for the read points not answered yet: all of them when a (new) leader is known (one
   * asked of a leader that died, or while this node still believed in it, would otherwise wait for its
   * timeout), else those asked READ_RETRY_TICKS ago. The first answer serves a read; a later one for
   * the same context is ignored — either is a valid read point, both being taken after the read began.
   */
  private askAgain(all: boolean): void {
    if (this.raw.leader() === 0) return; // no one to ask: the next leader change asks
    for (const [context, asked] of this.readsByContext) {
      if (!all && this.ticks - asked.askedAt < READ_RETRY_TICKS) continue;
      try {
        this.raw.readIndex(context);
        asked.askedAt = this.ticks;
      } catch {
        return; // the leader is gone again: the next change asks
      }
    }
  }

  private onSoftState(role: Role, leader: NodeId): void {
    const term = this.raw.term();
    this.metrics.term.set(term);
    if (role === Role.Leader) this.metrics.elections.inc();
    this.log.info({ role, leader, term }, role === Role.Leader ? 'became leader' : `is ${role}`);
    if (role !== Role.Leader) {
      // Proposals queued here can no longer enter the log through this node.
      const err = HikariError.notLeader(this.leaderClientAddress());
      const queued = this.pendingProposals;
      this.pendingProposals = [];
      for (const p of queued) this.settle(p.waiter, () => p.waiter.reject(err));
    }
    if (leader !== 0 && this.readsByContext.size > 0) this.askAgain(true);
    for (const fn of this.roleListeners) fn(role, leader, term);
  }

  // ---------------------------------------------------------------- helpers

  private waiter<T>(resolve: (v: T) => void, reject: (e: Error) => void, what: string): Waiter<T> {
    const w: Waiter<T> = {
      resolve,
      reject,
      timer: this.opts.clock.after(this.requestTimeoutMs, () => {
        w.resolve = () => {};
        w.reject = () => {};
        reject(new HikariError(ErrorCode.TIMEOUT, { reason: `no answer to the ${what} within ${this.requestTimeoutMs} ms` }));
      }),
    };
    return w;
  }

  private settle<T>(w: Waiter<T>, fn: () => void): void {
    w.timer.cancel();
    fn();
  }

  private failAll(err: Error): void {
    for (const p of this.pendingProposals) this.settle(p.waiter, () => p.waiter.reject(err));
    this.pendingProposals = [];
    this.proposals.clear((w) => this.settle(w, () => w.reject(err)));
    for (const w of this.pendingReads) this.settle(w, () => w.reject(err));
    this.pendingReads = [];
    for (const { waiters } of this.readsByContext.values()) for (const w of waiters) this.settle(w, () => w.reject(err));
    this.readsByContext.clear();
    for (const r of this.readsReady) for (const w of r.waiters) this.settle(w, () => w.reject(err));
    this.readsReady = [];
    for (const w of this.confWaiters.values()) this.settle(w, () => w.reject(err));
    this.confWaiters.clear();
  }

  private checkUsable(): void {
    if (this.failure) throw new HikariError(ErrorCode.UNAVAILABLE, { reason: 'this node stopped after a storage failure' });
    if (this.stopped) throw new HikariError(ErrorCode.SHUTTING_DOWN, {});
  }

  /** A failed write or a broken invariant: stop serving rather than diverge. The process exits. */
  private fail(e: unknown): void {
    if (this.failure || this.stopped) return;
    this.failure = e instanceof Error ? e : new Error(String(e));
    this.log.error({ err: this.failure.stack ?? this.failure.message }, 'runtime failed; stopping this node');
    this.ticker?.cancel();
    this.failAll(new HikariError(ErrorCode.UNAVAILABLE, { reason: 'this node stopped after an internal failure' }));
    this.onFatal?.(this.failure);
  }

  /** Called once on a fatal failure (the server process exits and restarts from disk). */
  onFatal: ((e: Error) => void) | null = null;
}

function toHikari(e: unknown, leader: string | null): Error {
  if (e instanceof HikariError) return e;
  if (e instanceof RaftError) {
    switch (e.code) {
      case RaftErrorCode.NOT_LEADER:
        return HikariError.notLeader(leader);
      case RaftErrorCode.PROPOSAL_DROPPED:
        return new HikariError(ErrorCode.UNAVAILABLE, { reason: e.message });
      case RaftErrorCode.CONF_CHANGE_PENDING:
        return new HikariError(ErrorCode.UNAVAILABLE, { reason: e.message });
      case RaftErrorCode.INVALID_ARGUMENT:
        return HikariError.invalidArgument('change', e.message);
      case RaftErrorCode.TOO_LARGE:
        return new HikariError(ErrorCode.TOO_LARGE, { what: 'proposal', reason: e.message });
      default:
        return new HikariError(ErrorCode.INTERNAL, { reason: e.message });
    }
  }
  return e instanceof Error ? e : new Error(String(e));
}

