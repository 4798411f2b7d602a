import { ConfChangeType, NodeId, RaftError, Role, SeededRandom } from '@hikarikeeper/raft';
import { checkOperations, HistoryRecorder, RegisterInput, RegisterOutput, registerModel } from '../checker';
import { CALM, SimNetwork } from './sim-network';
import { CrashPoint, NodeHooks, NodeReply, SimNode, SimNodeOptions } from './sim-node';
import { SafetyChecker } from './safety';
import { LockChecker } from './lock-checks';
import { SimClient } from './sim-client';
import { SimSessionClient } from './sim-session-client';
import { SimLockClient } from './sim-lock-client';
import type { KvCommand, LockBugs, LockCmd } from './kv-state-machine';

/** Simulated steps per Raft tick: about ten network round trips fit in one tick. */
export const TICK_STEPS = 10;
/** The highest node id the simulator creates (ids are never reused after a removal). */
const NODE_ID_MAX = 9;
/** Nodes that may be down at the same time during the faulty phase. */
const DOWN_MAX = 2;

export interface SimOptions {
  seed: number;
  /** Ticks of the faulty phase. */
  faultTicks?: number;
  /** Ticks the healed cluster gets to converge before that counts as a liveness violation. */
  healTicksMax?: number;
  clients?: number;
  keys?: number;
  trace?: boolean;
  /** Disables fault kinds (for focused runs). */
  noCrashes?: boolean;
  noMembership?: boolean;
  /** Clients holding sessions (default 3). */
  sessionClients?: number;
  /** Session clients that also take locks with their session (default 3: all of them). */
  lockClients?: number;
  unsafeFaults?: SimNodeOptions['unsafeFaults'];
  unsafeExpireWithoutRecheck?: boolean;
  unsafeLocks?: LockBugs;
}

export interface SimStats {
  ticks: number;
  healTicks: number;
  operations: number;
  gaveUp: number;
  messages: number;
  dropped: number;
  crashes: number;
  partitions: number;
  confChanges: number;
  snapshotsInstalled: number;
  leaders: number;
  committed: number;
  checkerSteps: number;
  /** Lock commands in the applied history, grants made, and grants/releases told to clients (all checked). */
  lockOps: number;
  lockGrants: number;
  lockClientChecks: number;
}

export interface SimResult {
  seed: number;
  violations: string[];
  trace: string[];
  stats: SimStats;
}

/**
 * One deterministic run: a 3- or 5-node cluster of real Raft cores on a simulated network, a client
 * workload on a replicated register, sessions and lock queues, faults for `faultTicks` (loss,
 * duplication, reordering, symmetric and asymmetric partitions, crashes at any point of the Ready
 * loop, restarts, membership changes, leadership transfers), then a healed phase that must converge
 * within `healTicksMax`.
 * Everything random comes from `seed`: the same seed replays the same run exactly.
 */
export function runSimulation(opts: SimOptions): SimResult {
  return new Simulation(opts).run();
}

class Simulation {
  private readonly rng: SeededRandom;
  private readonly net: SimNetwork;
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly safety: SafetyChecker;
  private readonly lockChecks: LockChecker;
  private readonly history = new HistoryRecorder<RegisterInput, RegisterOutput>();
  private readonly clients: SimClient[] = [];
  private readonly callbacks = new Map<number, Array<() => void>>();
  private readonly trace: string[] = [];
  private readonly nodeOpts: SimNodeOptions;
  private readonly hooks: NodeHooks;
  private readonly keys: string[];
  private now = 0;
  private nextId: NodeId;
  private retireAt = new Map<NodeId, number>();
  private readonly sessionClients: SimSessionClient[] = [];
  private readonly lockClients: SimLockClient[] = [];
  /** First application of each session's expiry: the leader clock it was decided at. */
  private readonly sessionExpiredAt = new Map<string, number>();
  private stats: SimStats = {
    ticks: 0, healTicks: 0, operations: 0, gaveUp: 0, messages: 0, dropped: 0, crashes: 0, partitions: 0,
    confChanges: 0, snapshotsInstalled: 0, leaders: 0, committed: 0, checkerSteps: 0, lockOps: 0, lockGrants: 0, lockClientChecks: 0,
  };

  constructor(private readonly opts: SimOptions) {
    this.rng = new SeededRandom(opts.seed);
    this.net = new SimNetwork(this.rng.fork());
    this.safety = new SafetyChecker(() => this.now);
    this.lockChecks = new LockChecker(() => this.now);
    this.keys = Array.from({ length: opts.keys ?? 3 }, (_, i) => `k${i}`);
    this.nodeOpts = {
      electionTicks: 10,
      snapshotEvery: 20 + this.rng.nextInt(60),
      compactionLag: this.rng.nextInt(10),
      maxInflightMsgs: 1 + this.rng.nextInt(8),
      maxMsgBytes: 64 + this.rng.nextInt(4096),
      unsafeFaults: opts.unsafeFaults,
      unsafeExpireWithoutRecheck: opts.unsafeExpireWithoutRecheck,
      unsafeLocks: opts.unsafeLocks,
    };
    this.hooks = {
      send: (m) => this.net.send(m, this.now),
      reply: (to, r) => this.later(1 + this.rng.nextInt(3), () => to(r)),
      onSoftState: (node, role, leader, term) => {
        this.log(`n${node.id} is ${role} (term ${term}, leader n${leader})`);
        if (role === Role.Leader) {
          this.stats.leaders++;
          this.safety.onLeader(node, term);
        }
      },
      onApply: (node, e) => this.safety.onApply(node, e),
      onApplied: (node, index, lockOp) => this.lockChecks.onApplied(node.id, index, lockOp, node.sm),
      onSnapshotInstalled: (node, index) => {
        this.stats.snapshotsInstalled++;
        this.safety.onSnapshotInstalled(node, index);
        this.lockChecks.onRestored(node.id, index, node.sm);
      },
      onSessionExpired: (_node, id, t) => {
        if (!this.sessionExpiredAt.has(id)) {
          this.sessionExpiredAt.set(id, t);
          this.log(`session ${id} expired at ${t}`);
        }
      },
      trace: (line) => this.log(line),
    };
    const size = this.rng.chance(0.5) ? 3 : 5;
    const voters = Array.from({ length: size }, (_, i) => i + 1);
    for (const id of voters) this.addNode(id, voters).start();
    this.nextId = size + 1;
    const env = {
      now: () => this.now,
      write: (to: NodeId, cmd: KvCommand, reply: (r: NodeReply) => void) => this.later(1 + this.rng.nextInt(3), () => this.nodes.get(to)?.write(cmd, reply)),
      read: (to: NodeId, key: string, reply: (r: NodeReply) => void) => this.later(1 + this.rng.nextInt(3), () => this.nodes.get(to)?.read(key, reply)),
      nodeIds: () => [...this.nodes.values()].filter((n) => !n.retired).map((n) => n.id),
      trace: (line: string) => this.log(line),
    };
    for (let c = 1; c <= (opts.clients ?? 3); c++) {
      this.clients.push(new SimClient(c, this.rng.fork(), this.keys, this.history, env));
    }
    const faultSteps = (opts.faultTicks ?? 400) * TICK_STEPS;
    const sessionEnv = {
      now: () => this.now,
      open: (to: NodeId, id: string, ttl: number, reply: (r: NodeReply) => void) => this.later(1 + this.rng.nextInt(3), () => this.nodes.get(to)?.openSession(id, ttl, this.now, reply)),
      keepalive: (to: NodeId, id: string, reply: (r: NodeReply) => void) => this.later(1 + this.rng.nextInt(3), () => this.nodes.get(to)?.keepalive(id, reply)),
      nodeIds: () => [...this.nodes.values()].filter((n) => !n.retired).map((n) => n.id),
      trace: (line: string) => this.log(line),
    };
    for (let c = 1; c <= (opts.sessionClients ?? 3); c++) {
      // Timeouts of 20 to 60 ticks; half the clients die at a random moment of the faulty phase.
      const ttl = (20 + this.rng.nextInt(41)) * TICK_STEPS;
      const dieAt = this.rng.chance(0.5) ? this.rng.nextInt(faultSteps) : Infinity;
      this.sessionClients.push(new SimSessionClient(c, ttl, dieAt, this.rng.fork(), sessionEnv));
    }
    const lockEnv = {
      now: () => this.now,
      lock: (to: NodeId, cmd: LockCmd, reply: (r: NodeReply) => void) => this.later(1 + this.rng.nextInt(3), () => this.nodes.get(to)?.write(cmd, reply)),
      wait: (to: NodeId, name: string, ticket: number, session: string, reply: (r: NodeReply) => void) =>
        this.later(1 + this.rng.nextInt(3), () => this.nodes.get(to)?.lockWait(name, ticket, session, reply)),
      nodeIds: () => [...this.nodes.values()].filter((n) => !n.retired).map((n) => n.id),
      granted: (session: string, name: string, ticket: number, token: number) => {
        this.log(`${session} is told: ${name} granted (ticket ${ticket}, token ${token})`);
        this.lockChecks.onClientGrant(session, name, ticket, token);
      },
      released: (session: string, name: string, token: number) => this.lockChecks.onClientRelease(session, name, token),
      trace: (line: string) => this.log(line),
    };
    for (const [i, session] of this.sessionClients.slice(0, opts.lockClients ?? 3).entries()) {
      // A session client's locks go with its session: when it dies, it dies holding, waiting, or not.
      // Client numbers from 100: apart from the register clients' (and the barrier's 0) in the dedup table.
      this.lockClients.push(new SimLockClient(101 + i, session, this.rng.fork(), lockEnv));
    }
  }

  private log(line: string): void {
    if (this.opts.trace) this.trace.push(`[${String(Math.floor(this.now / TICK_STEPS)).padStart(5)}.${this.now % TICK_STEPS}] ${line}`);
  }

  private later(steps: number, fn: () => void): void {
    const at = this.now + steps;
    const list = this.callbacks.get(at);
    if (list) list.push(fn);
    else this.callbacks.set(at, [fn]);
  }

  private addNode(id: NodeId, founders: NodeId[] | null): SimNode {
    const node = new SimNode(id, founders, this.rng.fork(), this.nodeOpts, this.hooks);
    this.nodes.set(id, node);
    return node;
  }

  run(): SimResult {
    const faultTicks = this.opts.faultTicks ?? 400;
    const healTicksMax = this.opts.healTicksMax ?? 400;
    let converged = false;
    for (let tick = 0; tick < faultTicks + healTicksMax; tick++) {
      const faulty = tick < faultTicks;
      if (tick === faultTicks) this.heal();
      if (faulty) this.nemesis(tick);
      for (let s = 0; s < TICK_STEPS; s++) {
        if (s === 0) for (const n of this.nodes.values()) n.tick();
        this.step(faulty);
      }
      this.stats.ticks = tick + 1;
      if (tick % 50 === 49) this.safety.checkLogMatching([...this.nodes.values()]);
      if (!faulty && this.converged()) {
        converged = true;
        this.stats.healTicks = tick + 1 - faultTicks;
        break;
      }
      if (this.safety.violations.length > 0 || this.lockChecks.violations.length > 0) break;
    }
    const violations = [...this.safety.violations];
    violations.push(...this.checkSessions());
    violations.push(...this.lockChecks.violations);
    if (converged) violations.push(...this.lockChecks.checkEnd(this.leader()!.sm));
    if (violations.length === 0 && !converged) violations.push(`liveness: no convergence within ${healTicksMax} ticks of healing: ${this.describe()}`);
    for (const c of this.clients) c.abandon();
    if (violations.length === 0) {
      const nodes = [...this.nodes.values()].filter((n) => !n.retired);
      this.safety.checkLogMatching(nodes);
      this.safety.checkCommittedPrefix(nodes);
      violations.push(...this.safety.violations);
      this.addFinalReads();
      const ops = this.history.operations();
      this.stats.operations = ops.length;
      const verdict = checkOperations(registerModel, ops, { maxSteps: 2_000_000 });
      this.stats.checkerSteps = verdict.steps;
      if (verdict.result === 'illegal') violations.push(`linearizability: the history of ${ops.length} operations is not linearizable (partition ${verdict.failingPartition})`);
      if (verdict.result === 'unknown') violations.push('linearizability: the checker ran out of budget');
    }
    this.stats.gaveUp = this.clients.reduce((n, c) => n + c.gaveUp, 0);
    this.stats.messages = this.net.sent;
    this.stats.dropped = this.net.dropped;
    this.stats.committed = this.safety.maxCommitted;
    this.stats.lockOps = this.lockChecks.operations;
    this.stats.lockGrants = this.lockChecks.granted;
    this.stats.lockClientChecks = this.lockChecks.clientChecks;
    if (violations.length > 0) this.log(`VIOLATIONS:\n  ${violations.join('\n  ')}`);
    return { seed: this.opts.seed, violations, trace: this.trace, stats: this.stats };
  }

  /** One network step: deliveries, client activity, then every node handles its Readys. */
  private step(faulty: boolean): void {
    for (const d of this.net.take(this.now)) {
      if (d.kind === 'message') this.nodes.get(d.m.to)?.receive(d.m);
      else if (d.kind === 'chunk') this.nodes.get(d.to)?.receiveChunk(d.from, d.term, d.chunk);
      else this.nodes.get(d.leader)?.snapshotStatus(d.follower, d.ok);
    }
    const due = this.callbacks.get(this.now);
    if (due) {
      this.callbacks.delete(this.now);
      for (const fn of due) fn();
    }
    for (const c of this.clients) c.step(faulty && this.rng.chance(0.05));
    for (const c of this.sessionClients) c.step();
    for (const c of this.lockClients) c.step(faulty);
    if (this.now % TICK_STEPS === 0) for (const n of this.nodes.values()) n.sessionDuties(this.now);
    for (const n of this.nodes.values()) {
      if (n.alive && !n.processReadies()) {
        this.stats.crashes++;
        this.connectionsLost(n.id);
      }
    }
    this.now++;
  }

  // ------------------------------------------------------------------ faults

  private nemesis(tick: number): void {
    const r = this.rng;
    const live = [...this.nodes.values()].filter((n) => n.alive);
    const down = [...this.nodes.values()].filter((n) => !n.alive && !n.retired);
    if (!this.opts.noCrashes && r.chance(0.012) && down.length < DOWN_MAX && live.length > 0) {
      const victim = live[r.nextInt(live.length)];
      if (r.chance(0.5)) {
        victim.crash();
        this.stats.crashes++;
        this.connectionsLost(victim.id);
      } else {
        const points = [CrashPoint.BeforePersist, CrashPoint.BeforeSend, CrashPoint.BeforeApply];
        victim.crashAt = points[r.nextInt(points.length)];
        this.log(`n${victim.id} will crash at ${victim.crashAt}`);
      }
    }
    for (const n of down) if (r.chance(0.04)) n.start();
    if (r.chance(0.01)) {
      this.partition();
      this.cutLeadersLost();
    }
    if (r.chance(0.01)) {
      // A wrong report (a connection that broke and came back, a report about a live leader): it
      // must change nothing that matters.
      const n = live[r.nextInt(Math.max(1, live.length))];
      const leader = n?.raw?.leader() ?? 0;
      if (n?.raw && leader !== 0) {
        n.raw.reportLeaderLost(leader);
        this.log(`n${n.id}: spurious report that leader n${leader} was lost`);
      }
    }
    if (r.chance(0.02)) {
      this.net.healAll();
      this.log('partitions healed');
    }
    if (r.chance(0.01)) {
      const drop = [0, 0, 0.02, 0.1, 0.3][r.nextInt(5)];
      const dup = [0, 0.02, 0.1][r.nextInt(3)];
      const delayMax = [3, 6, 15, 40][r.nextInt(4)];
      this.net.faults = { dropRate: drop, duplicateRate: dup, delayMin: 1, delayMax };
      this.log(`network: drop ${drop}, duplicate ${dup}, delay 1..${delayMax}`);
    }
    if (!this.opts.noMembership && r.chance(0.008)) this.changeMembership();
    if (r.chance(0.004)) {
      const leader = this.leader();
      const voters = leader?.raw?.status().conf.voters ?? [];
      const to = voters[r.nextInt(Math.max(1, voters.length))];
      if (leader?.raw && to !== undefined && to !== leader.id) {
        leader.raw.transferLeadership(to);
        this.log(`transfer leadership n${leader.id} -> n${to}`);
      }
    }
    for (const [id, at] of this.retireAt) {
      if (tick >= at) this.retire(id);
    }
  }

  /**
   * `id` crashed: the live nodes see their connection to it close (most of the time: a real TCP close
   * is usually, not always, noticed) and report it to their Raft core (`reportLeaderLost`, which only
   * matters to a follower of `id`).
   */
  private connectionsLost(id: NodeId): void {
    for (const n of this.nodes.values()) {
      if (n.id !== id && n.alive && n.raw && this.rng.chance(0.8)) n.raw.reportLeaderLost(id);
    }
  }

  /** After a partition, nodes cut off from their leader (in its direction) mostly notice the broken connection. */
  private cutLeadersLost(): void {
    for (const n of this.nodes.values()) {
      const leader = n.raw?.leader() ?? 0;
      if (n.alive && n.raw && leader !== 0 && leader !== n.id && this.net.isCut(leader, n.id) && this.rng.chance(0.8)) n.raw.reportLeaderLost(leader);
    }
  }

  private partition(): void {
    const ids = [...this.nodes.values()].filter((n) => !n.retired).map((n) => n.id);
    const r = this.rng;
    const kind = r.nextInt(4);
    this.stats.partitions++;
    if (kind === 0) {
      const leader = this.leader();
      if (!leader) return;
      this.net.partition([[leader.id], ids.filter((id) => id !== leader.id)]);
      this.log(`partition: leader n${leader.id} isolated`);
    } else if (kind === 1) {
      const shuffled = ids.map((id) => ({ id, k: r.next() })).sort((a, b) => a.k - b.k).map((x) => x.id);
      const cut = 1 + r.nextInt(Math.max(1, shuffled.length - 1));
      this.net.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
      this.log(`partition: [${shuffled.slice(0, cut)}] | [${shuffled.slice(cut)}]`);
    } else if (kind === 2) {
      const a = ids[r.nextInt(ids.length)];
      const b = ids[r.nextInt(ids.length)];
      if (a === b) return;
      this.net.cutLink(a, b);
      this.log(`partition: one-way link n${a} -> n${b} cut`);
    } else {
      // A bridge: two sides that only one node can reach.
      if (ids.length < 3) return;
      const bridge = ids[r.nextInt(ids.length)];
      const rest = ids.filter((id) => id !== bridge);
      const half = Math.floor(rest.length / 2);
      this.net.partition([rest.slice(0, half), rest.slice(half)]);
      this.log(`partition: bridge n${bridge} between [${rest.slice(0, half)}] and [${rest.slice(half)}]`);
    }
  }

  private changeMembership(): void {
    const leader = this.leader();
    if (!leader?.raw) return;
    const st = leader.raw.status();
    const { voters, learners } = st.conf;
    const r = this.rng;
    try {
      if (learners.length > 0) {
        const id = learners[0];
        const pr = st.progress.get(id);
        if (pr && pr.match >= st.commit) {
          leader.raw.proposeConfChange({ type: ConfChangeType.AddVoter, nodeId: id, context: '' });
          this.log(`propose promote n${id}`);
          this.stats.confChanges++;
        }
      } else if (voters.length < 5 && this.nextId <= NODE_ID_MAX && r.chance(0.5)) {
        const id = this.nextId;
        leader.raw.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: id, context: '' });
        this.nextId++;
        this.addNode(id, null).start();
        this.log(`propose add learner n${id}`);
        this.stats.confChanges++;
      } else if (voters.length > 3) {
        const id = voters[r.nextInt(voters.length)];
        leader.raw.proposeConfChange({ type: ConfChangeType.Remove, nodeId: id, context: '' });
        // The removed node keeps running for a while (it must not disrupt the cluster), then stops.
        this.retireAt.set(id, Math.floor(this.now / TICK_STEPS) + 50 + r.nextInt(150));
        this.log(`propose remove n${id}`);
        this.stats.confChanges++;
      }
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
      this.log(`membership change refused: ${e.code}`);
    }
  }

  /** Stops a node for good once its removal is applied by the current leader. */
  private retire(id: NodeId): void {
    const leader = this.leader();
    if (!leader?.raw) return;
    const conf = leader.raw.status().conf;
    if (conf.voters.includes(id) || conf.learners.includes(id)) {
      this.retireAt.delete(id); // the removal was lost (e.g. leader change): keep the node
      return;
    }
    const node = this.nodes.get(id);
    if (!node || node.retired) return;
    if (node.alive) node.crash();
    node.retired = true;
    this.retireAt.delete(id);
    this.log(`n${id} retired`);
  }

  private heal(): void {
    this.net.healAll();
    this.net.faults = CALM;
    for (const id of [...this.retireAt.keys()]) this.retire(id);
    for (const n of this.nodes.values()) {
      n.crashAt = null;
      if (!n.alive && !n.retired) n.start();
    }
    this.log('heal: partitions healed, calm network, every node restarted');
  }

  // ------------------------------------------------------------------ convergence

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.isLeader() && (!best || n.raw!.term() > best.raw!.term())) best = n;
    }
    return best;
  }

  private barrier: { index: number; done: boolean; startedAt: number } | null = null;

  /** The healed cluster has converged: a leader committed a fresh write, every member applied it
   *  and holds the same state, and no client operation is still waiting. */
  private converged(): boolean {
    const leader = this.leader();
    if (!leader?.raw) return false;
    if (this.barrier && !this.barrier.done && this.now - this.barrier.startedAt > 100 * TICK_STEPS) this.barrier = null;
    if (!this.barrier) {
      this.barrier = { index: 0, done: false, startedAt: this.now };
      const b = this.barrier;
      leader.write({ op: 'write', key: '__barrier', value: String(this.now), client: 0, seq: this.now }, (r) => {
        if (r.ok) {
          b.done = true;
          b.index = leader.sm.applied;
        } else if (this.barrier === b) {
          this.barrier = null; // retry with the next leader
        }
      });
      return false;
    }
    if (!this.barrier.done) return false;
    if (this.clients.some((c) => c.busy)) return false;
    const conf = leader.raw.status().conf;
    const members = [...conf.voters, ...conf.learners].map((id) => this.nodes.get(id));
    const applied = leader.sm.applied;
    if (applied < this.barrier.index) return false;
    if (!members.every((n) => n !== undefined && n.alive && n.sm.applied === applied && n.sm.digest() === leader.sm.digest())) return false;
    // A dead client's session must expire once the cluster is healthy (within the heal bound).
    return this.sessionClients.every((c) => c.state !== 'dead' || !leader.sm.sessions.has(c.id));
  }

  /** Session safety: no session expired before its last acknowledged renewal + its timeout. */
  private checkSessions(): string[] {
    const out: string[] = [];
    for (const c of this.sessionClients) {
      const expiredAt = this.sessionExpiredAt.get(c.id);
      if (expiredAt !== undefined && expiredAt < c.lastAckedRenewal + c.ttl) {
        out.push(`session safety: ${c.id} expired at ${expiredAt}, but a renewal at ${c.lastAckedRenewal} was acknowledged (timeout ${c.ttl})`);
      }
      if (c.state === 'expired' && expiredAt === undefined) out.push(`session safety: ${c.id} was told it expired, but no expiry was applied`);
    }
    return out;
  }

  private addFinalReads(): void {
    const leader = this.leader();
    if (!leader) return;
    const t = this.now + 1;
    for (const key of this.keys) {
      const h = this.history.invoke(0, { op: 'read', key }, t);
      this.history.ok(h, { value: leader.sm.kv.get(key) ?? null }, t);
    }
  }

  private describe(): string {
    const parts = [...this.nodes.values()].map((n) => {
      if (n.retired) return `n${n.id}:retired`;
      if (!n.raw) return `n${n.id}:down`;
      const s = n.raw.status();
      return `n${n.id}:${s.role}/t${s.term}/c${s.commit}/a${n.sm.applied}`;
    });
    const busy = this.clients.filter((c) => c.busy).length;
    const sessions = this.sessionClients.map((c) => `${c.id}:${c.state}`).join(' ');
    const locks = this.lockClients.map((c) => `${c.session.id}:${c.state}`).join(' ');
    return `${parts.join(' ')}; ${busy} clients busy; barrier ${this.barrier ? (this.barrier.done ? 'done' : 'pending') : 'none'}; sessions ${sessions}; lock clients ${locks}`;
  }
}
