/**
 * Test support for the Raft core (not exported from the package index): a tiny in-memory network of
 * RawNodes that delivers messages synchronously, in the style of etcd's `newNetwork` (raft_test.go),
 * plus builders for hand-made logs and messages.
 *
 * `stabilize()` drives every live node through the Ready protocol exactly as an application must:
 * persist (snapshot, entries, hard state) into its MemoryStorage, queue the messages, apply the
 * committed entries (ConfChange entries through `applyConfChange`), record read states, `advance()`;
 * then deliver the queued messages; until nothing moves. Applying checks two safety properties on the
 * fly and throws if either breaks: every node applies a gap-free sequence of indexes, and no two nodes
 * apply different entries at the same index.
 */
import { ConfChange, decodeConfChange, encodeConfChange } from '../conf-change';
import { RaftConfig } from '../config';
import { SeededRandom } from '../random';
import { RawNode } from '../raw-node';
import { MemoryStorage } from '../storage';
import {
  ConfState, Entry, EntryType, HardState, Message, message, NodeId, ReadState, Ready, Snapshot,
} from '../types';

export type NodeOptions = Partial<Omit<RaftConfig, 'id' | 'storage' | 'random'>>;

export interface NetworkOptions {
  /** Config shared by every node (defaults: electionTicks 10, heartbeatTicks 1, PreVote and CheckQuorum on). */
  config?: NodeOptions;
  /** Seed of the nodes' election-timeout randomness (node `id` gets `seed * 1000 + id`). */
  seed?: number;
}

/** One simulated server: its durable storage, its RawNode and what its state machine applied. */
export class TestNode {
  raw: RawNode;
  /** Every entry this node applied, in order (entries covered by an installed snapshot are absent). */
  readonly applied: Entry[] = [];
  readonly readStates: ReadState[] = [];
  readonly snapshotsInstalled: Snapshot[] = [];
  /** Every Ready this node processed, in order. */
  readonly readys: Ready[] = [];
  appliedIndex: number;
  confState: ConfState;
  /** Normal entries applied, as strings (for readable assertions). */
  get appliedData(): string[] {
    return this.applied.filter((e) => e.type === EntryType.Normal && e.data.length > 0).map((e) => text(e.data));
  }

  constructor(
    readonly id: NodeId,
    readonly storage: MemoryStorage,
    readonly config: NodeOptions,
    readonly seed: number,
  ) {
    this.appliedIndex = storage.firstIndex() - 1;
    this.confState = storage.snapshot().metadata.confState;
    this.raw = this.start();
  }

  /** (Re)creates the RawNode over the durable storage, as after a process restart. */
  start(): RawNode {
    this.raw = new RawNode({
      id: this.id,
      storage: this.storage,
      random: new SeededRandom(this.seed),
      ...this.config,
      applied: this.appliedIndex,
    });
    return this.raw;
  }

  status() {
    return this.raw.status();
  }
}

export class Network {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Every message any node handed out in a Ready, in order, whether or not it was delivered. */
  readonly sent: Message[] = [];
  /** Every message actually stepped into its recipient, in order. */
  readonly delivered: Message[] = [];
  /** Messages handed out and not yet delivered. */
  readonly queue: Message[] = [];
  /**
   * Each filter sees every message about to be delivered; one returning false drops it. A test can
   * hold messages back by pushing them to an array of its own and returning false.
   */
  filters: Array<(m: Message) => boolean> = [];
  /** Called for each message the network itself drops (partition, crashed or unknown recipient). */
  onBlocked: ((m: Message) => void) | null = null;
  private readonly cutLinks = new Set<string>();
  private readonly isolated = new Set<NodeId>();
  private readonly down = new Set<NodeId>();
  /** Index -> the entry applied there by the first node that applied it (state machine safety). */
  private readonly appliedAt = new Map<number, Entry>();

  constructor(readonly options: NetworkOptions = {}) {}

  /** A new cluster whose founding voters are `ids` (their logs start with the bootstrap entries). */
  static bootstrap(ids: readonly NodeId[], options: NetworkOptions = {}): Network {
    const net = new Network(options);
    for (const id of ids) {
      const storage = new MemoryStorage();
      storage.bootstrap(ids);
      net.addNode(id, storage);
    }
    net.stabilize(); // apply the bootstrap entries: every node learns the membership
    return net;
  }

  /**
   * Adds a node over `storage` (by default an empty one: a server about to join an existing cluster).
   * `config` overrides the network-wide config for this node.
   */
  addNode(id: NodeId, storage: MemoryStorage = new MemoryStorage(), config: NodeOptions = {}): TestNode {
    const cfg: NodeOptions = { electionTicks: 10, heartbeatTicks: 1, ...this.options.config, ...config };
    const node = new TestNode(id, storage, cfg, (this.options.seed ?? 1) * 1000 + id);
    this.nodes.set(id, node);
    return node;
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  raw(id: NodeId): RawNode {
    return this.node(id).raw;
  }

  get ids(): NodeId[] {
    return [...this.nodes.keys()];
  }

  /** Nodes that are running (not crashed). */
  get upIds(): NodeId[] {
    return this.ids.filter((id) => !this.down.has(id));
  }

  // ------------------------------------------------------------------ faults

  /** Drops every message to and from `id` until `heal()`. The node keeps running (and ticking). */
  isolate(id: NodeId): void {
    this.isolated.add(id);
  }

  /** Drops the messages between `a` and `b`, both ways, until `heal()`. */
  cut(a: NodeId, b: NodeId): void {
    this.cutLinks.add(`${a}-${b}`);
    this.cutLinks.add(`${b}-${a}`);
  }

  /** Splits the cluster: no message crosses between `side` and the other nodes. */
  partition(side: readonly NodeId[]): void {
    for (const a of side) for (const b of this.ids) if (!side.includes(b)) this.cut(a, b);
  }

  heal(): void {
    this.cutLinks.clear();
    this.isolated.clear();
  }

  /** Stops `id`: its volatile state is lost, messages to it are dropped, it does not tick. */
  crash(id: NodeId): void {
    this.down.add(id);
  }

  /** Restarts a crashed node from its durable storage (and its applied index). */
  restart(id: NodeId): void {
    this.down.delete(id);
    this.node(id).start();
  }

  isDown(id: NodeId): boolean {
    return this.down.has(id);
  }

  private blocked(m: Message): boolean {
    return (
      this.down.has(m.to) || this.down.has(m.from) || this.isolated.has(m.to) || this.isolated.has(m.from) ||
      this.cutLinks.has(`${m.from}-${m.to}`) || !this.nodes.has(m.to)
    );
  }

  // ------------------------------------------------------------------ driving

  /** Runs Readys and delivers messages until no node has anything to do. Returns the rounds taken. */
  stabilize(maxRounds = 10_000): number {
    for (let round = 0; round < maxRounds; round++) {
      let moved = this.processReadys();
      if (this.queue.length > 0) {
        moved = true;
        for (const m of this.queue.splice(0)) this.deliver(m);
      }
      if (!moved) return round;
    }
    throw new Error(`the network did not stabilize within ${maxRounds} rounds`);
  }

  /** Handles every pending Ready of every live node once; returns whether there was any. */
  processReadys(): boolean {
    let any = false;
    for (const id of this.upIds) {
      const node = this.node(id);
      while (node.raw.hasReady()) {
        any = true;
        this.handleReady(node);
      }
    }
    return any;
  }

  /** Steps `m` into its recipient unless the network or a filter drops it. Returns whether delivered. */
  deliver(m: Message): boolean {
    if (this.blocked(m)) {
      this.onBlocked?.(m);
      return false;
    }
    for (const f of this.filters) if (!f(m)) return false;
    this.delivered.push(m);
    this.node(m.to).raw.step(m);
    return true;
  }

  private handleReady(node: TestNode): void {
    const raw = node.raw;
    const rd = raw.ready();
    node.readys.push(rd);
    if (rd.snapshot) {
      node.storage.applySnapshot(rd.snapshot);
      node.snapshotsInstalled.push(rd.snapshot);
      node.appliedIndex = rd.snapshot.metadata.index;
      node.confState = rd.snapshot.metadata.confState;
    }
    node.storage.append(rd.entries);
    if (rd.hardState) node.storage.setHardState(rd.hardState);
    for (const m of rd.messages) {
      this.sent.push(m);
      this.queue.push(m);
    }
    for (const e of rd.committedEntries) this.apply(node, e);
    node.readStates.push(...rd.readStates);
    raw.advance();
  }

  private apply(node: TestNode, e: Entry): void {
    if (e.index !== node.appliedIndex + 1) {
      throw new Error(`node ${node.id} applied ${e.index} after ${node.appliedIndex}: a gap or a repeat`);
    }
    const first = this.appliedAt.get(e.index);
    if (first === undefined) this.appliedAt.set(e.index, e);
    else if (first.term !== e.term || text(first.data) !== text(e.data)) {
      throw new Error(`node ${node.id} applied (${e.index}, term ${e.term}) but another node applied term ${first.term} there`);
    }
    node.applied.push(e);
    node.appliedIndex = e.index;
    if (e.type === EntryType.ConfChange) {
      const cs = node.raw.applyConfChange(decodeConfChange(e.data));
      node.storage.setConfState(cs);
      node.confState = cs;
    }
  }

  /** Ticks every live node (or `ids`) `n` times, stabilizing after each round of ticks. */
  tick(n = 1, ids: readonly NodeId[] = this.upIds): void {
    for (let i = 0; i < n; i++) {
      for (const id of ids) if (!this.down.has(id)) this.raw(id).tick();
      this.stabilize();
    }
  }

  /** Makes `id` campaign now and runs the election to its end. */
  campaign(id: NodeId): void {
    this.raw(id).campaign();
    this.stabilize();
  }

  /** Proposes `data` (a string) on `id` and stabilizes; returns the entry's index. */
  propose(id: NodeId, data: string): number {
    const index = this.raw(id).propose(bytes(data));
    this.stabilize();
    return index;
  }

  proposeConfChange(id: NodeId, cc: ConfChange): number {
    const index = this.raw(id).proposeConfChange(cc);
    this.stabilize();
    return index;
  }

  /** The live node that leads in the highest term, if any. */
  leader(): NodeId | undefined {
    let best: NodeId | undefined;
    for (const id of this.upIds) {
      const raw = this.raw(id);
      if (raw.isLeader() && (best === undefined || raw.term() > this.raw(best).term())) best = id;
    }
    return best;
  }

  /** Messages sent so far (or since `fromIndex` in `sent`) matching the given fields. */
  sentWhere(match: Partial<Pick<Message, 'type' | 'from' | 'to' | 'reject'>>, fromIndex = 0): Message[] {
    return this.sent.slice(fromIndex).filter(
      (m) =>
        (match.type === undefined || m.type === match.type) &&
        (match.from === undefined || m.from === match.from) &&
        (match.to === undefined || m.to === match.to) &&
        (match.reject === undefined || m.reject === match.reject),
    );
  }
}

// -------------------------------------------------------------------- builders

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function bytes(s: string): Uint8Array {
  return encoder.encode(s);
}

export function text(b: Uint8Array): string {
  return decoder.decode(b);
}

/** Entries numbered from `firstIndex` with the given terms (payload "i@t"). */
export function entries(firstIndex: number, terms: readonly number[]): Entry[] {
  return terms.map((term, i) => entry(firstIndex + i, term));
}

export function entry(index: number, term: number, data: string | Uint8Array = `${index}@${term}`): Entry {
  return { index, term, type: EntryType.Normal, data: typeof data === 'string' ? bytes(data) : data };
}

export function confChangeEntry(index: number, term: number, cc: ConfChange): Entry {
  return { index, term, type: EntryType.ConfChange, data: encodeConfChange(cc) };
}

/**
 * A storage holding `voters` (and `learners`) as its membership, a log whose entry `i + 1` has term
 * `terms[i]`, and `hardState` (term defaults to the last log term).
 */
export function storageWith(
  voters: readonly NodeId[],
  terms: readonly number[] = [],
  hardState: Partial<HardState> = {},
  learners: readonly NodeId[] = [],
): MemoryStorage {
  const cs: ConfState = { voters: [...voters], learners: [...learners] };
  const s = new MemoryStorage(cs);
  s.setConfState(cs);
  s.append(entries(1, terms));
  const lastTerm = terms.length > 0 ? terms[terms.length - 1] : 0;
  s.setHardState({ term: hardState.term ?? lastTerm, vote: hardState.vote ?? 0, commit: hardState.commit ?? 0 });
  return s;
}

/** A RawNode over `storage` with a deterministic random source and test-friendly defaults. */
export function rawNode(id: NodeId, storage: MemoryStorage, config: NodeOptions = {}, seed = 1): RawNode {
  return new RawNode({ id, storage, random: new SeededRandom(seed * 1000 + id), electionTicks: 10, heartbeatTicks: 1, ...config });
}

/** A network message with every unspecified field zeroed. */
export function msg(fields: Partial<Message> & Pick<Message, 'type' | 'from' | 'to'>): Message {
  return message(fields);
}

/**
 * Runs the Ready loop of a single node whose messages go nowhere: persists into `storage`, applies
 * committed entries, and returns every message it produced.
 */
export function drain(raw: RawNode, storage: MemoryStorage): { messages: Message[]; committed: Entry[]; readStates: ReadState[] } {
  const out = { messages: [] as Message[], committed: [] as Entry[], readStates: [] as ReadState[] };
  while (raw.hasReady()) {
    const rd = raw.ready();
    if (rd.snapshot) storage.applySnapshot(rd.snapshot);
    storage.append(rd.entries);
    if (rd.hardState) storage.setHardState(rd.hardState);
    out.messages.push(...rd.messages);
    for (const e of rd.committedEntries) {
      out.committed.push(e);
      if (e.type === EntryType.ConfChange) storage.setConfState(raw.applyConfChange(decodeConfChange(e.data)));
    }
    out.readStates.push(...rd.readStates);
    raw.advance();
  }
  return out;
}

