/**
 * An in-memory namespace that plays the client's part for discovery's unit tests (a DiscoveryPort):
 * nodes with stats and versions, ephemeral owners, multi, paged children, watches fed as the
 * server feeds them, a session that can be made to expire (its ephemeral nodes go in one index,
 * then `expired`), and injected failures. Calls answer on a later tick, as a network would.
 *
 * It is a model of the server's namespace rules, not the server: the integration tests check the
 * same behaviours on a real cluster.
 *
 * Named *.test.ts so that the build leaves it out of dist; it registers no test of its own.
 */
import { EventEmitter } from 'node:events';
import {
  ChildrenResult,
  CreateResult,
  ErrorCode,
  ExistsResult,
  HikariError,
  MultiResult,
  parentOf,
  SetResult,
  Stat,
  WatchKind,
} from '@hikarikeeper/protocol';
import type { ChildrenOptions, CreateOptions, Data, MultiOpInput, NodeData, ReadOptions, VersionOptions, WatchOptions } from '../client';
import type { ClientEventName, ClientListener } from '../events';
import type { SessionInfo } from '../session-keeper';
import { Watch, WatchFeed } from '../watch';
import type { DiscoveryPort } from './port';

interface FakeNode {
  data: Buffer;
  stat: Stat;
}

interface FakeWatch {
  readonly path: string;
  readonly kind: WatchKind;
  readonly feed: WatchFeed;
  readonly watch: Watch;
}

type Op = 'create' | 'get' | 'set' | 'delete' | 'exists' | 'children' | 'multi';

/** One call, as the fake saw it. */
export interface FakeCall {
  readonly op: Op;
  readonly path: string;
  readonly args: unknown;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class FakeNamespace implements DiscoveryPort {
  readonly nodes = new Map<string, FakeNode>();
  readonly calls: FakeCall[] = [];
  readonly watches: FakeWatch[] = [];
  index = 100;
  private readonly emitter = new EventEmitter();
  private sessionNumber = 1;
  private sessionState: SessionInfo | null;
  private readonly failures: Array<{ op: Op; path: string | null; error: HikariError }> = [];
  private readonly gates: Array<{ op: Op; open: Promise<void> }> = [];

  constructor(options: { sessions?: boolean } = {}) {
    this.sessionState = options.sessions === false ? null : { id: 'session-1', timeoutMs: 10_000, state: 'connected' };
  }

  get session(): SessionInfo | null {
    return this.sessionState;
  }

  on<E extends ClientEventName>(event: E, listener: ClientListener<E>): this {
    this.emitter.on(event, listener);
    return this;
  }

  off<E extends ClientEventName>(event: E, listener: ClientListener<E>): this {
    this.emitter.off(event, listener);
    return this;
  }

  // ---------------------------------------------------------------- scripting

  /** The next call of `op` (on `path`, if given) fails with `error`, `times` times. */
  fail(op: Op, error: HikariError, times = 1, path: string | null = null): void {
    for (let i = 0; i < times; i++) this.failures.push({ op, path, error });
  }

  /** The next call of `op` waits until the returned function is called. */
  hold(op: Op): () => void {
    let release!: () => void;
    this.gates.push({ op, open: new Promise<void>((resolve) => (release = resolve)) });
    return release;
  }

  /** The session expires: its ephemeral nodes go (one index), `expired` then `connected` with a new session. */
  expireSession(): string {
    const old = this.sessionState!.id;
    this.index++;
    for (const [path, node] of [...this.nodes]) {
      if (node.stat.ephemeralOwner === old) this.remove(path, this.index);
    }
    this.sessionState = { id: `session-${++this.sessionNumber}`, timeoutMs: 10_000, state: 'connected' };
    this.emitter.emit('expired', { sessionId: old });
    this.emitter.emit('connected', { endpoint: 'fake:1', nodeId: 1, clusterId: 'fake', leader: null, sessionId: this.sessionState.id });
    return old;
  }

  /** Another session (another process) writes `path` directly. */
  createAs(owner: string | null, path: string, data: Data): Stat {
    this.ensureParent(path);
    if (this.nodes.has(path)) throw HikariError.nodeExists(path);
    return this.put(path, Buffer.from(data), owner, ++this.index);
  }

  setDirect(path: string, data: Data): void {
    const node = this.nodes.get(path);
    if (node === undefined) throw HikariError.noNode(path);
    this.change(path, node, Buffer.from(data), ++this.index);
  }

  deleteDirect(path: string): void {
    if (!this.nodes.has(path)) throw HikariError.noNode(path);
    this.remove(path, ++this.index);
  }

  /** Every watch gets a `resync` (as after a compacted history). */
  resyncWatches(): void {
    this.index++;
    for (const w of this.watches) w.feed.push({ type: 'resync', index: this.index });
  }

  /** Watches fail as a node refusing them for good would. */
  failWatches(error: HikariError): void {
    for (const w of this.watches.splice(0)) w.feed.fail(error);
  }

  /** The client closes: watches end without error. */
  endWatches(): void {
    for (const w of this.watches.splice(0)) w.feed.end();
  }

  callsOf(op: Op): FakeCall[] {
    return this.calls.filter((call) => call.op === op);
  }

  json(path: string): Record<string, unknown> {
    return JSON.parse(this.nodes.get(path)!.data.toString('utf8')) as Record<string, unknown>;
  }

  // ---------------------------------------------------------------- DiscoveryPort

  async create(path: string, data: Data, options: CreateOptions = {}): Promise<CreateResult> {
    await this.enter('create', path, options);
    const mode = options.mode ?? 'persistent';
    const owner = mode.startsWith('ephemeral') ? this.requireSession() : null;
    this.ensureParent(path);
    if (this.nodes.has(path)) throw HikariError.nodeExists(path);
    return { path, stat: { ...this.put(path, Buffer.from(data), owner, ++this.index) } };
  }

  async get(path: string, options: ReadOptions = {}): Promise<NodeData> {
    await this.enter('get', path, options);
    const node = this.nodes.get(path);
    if (node === undefined) throw HikariError.noNode(path);
    return { data: Buffer.from(node.data), stat: { ...node.stat } };
  }

  async set(path: string, data: Data, options: VersionOptions = {}): Promise<SetResult> {
    await this.enter('set', path, options);
    const node = this.nodes.get(path);
    if (node === undefined) throw HikariError.noNode(path);
    checkVersion(path, node, options.version);
    this.change(path, node, Buffer.from(data), ++this.index);
    return { stat: { ...node.stat } };
  }

  async delete(path: string, options: VersionOptions = {}): Promise<void> {
    await this.enter('delete', path, options);
    const node = this.nodes.get(path);
    if (node === undefined) throw HikariError.noNode(path);
    checkVersion(path, node, options.version);
    if (node.stat.childrenCount > 0) throw HikariError.notEmpty(path);
    this.remove(path, ++this.index);
  }

  async exists(path: string, options: ReadOptions = {}): Promise<ExistsResult> {
    await this.enter('exists', path, options);
    const node = this.nodes.get(path);
    return node === undefined ? null : { stat: { ...node.stat } };
  }

  async children(path: string, options: ChildrenOptions = {}): Promise<ChildrenResult> {
    await this.enter('children', path, options);
    const node = this.nodes.get(path);
    if (node === undefined) throw HikariError.noNode(path);
    const all = [...this.nodes.keys()].filter((each) => parentOf(each) === path).map((each) => each.slice(path.length + 1)).sort();
    const from = options.after === undefined ? all : all.filter((name) => name > options.after!);
    const limit = options.limit ?? 1000;
    const names = from.slice(0, limit);
    const page: ChildrenResult = { names, more: from.length > limit, stat: { ...node.stat } };
    if (options.data === true) {
      page.children = names.map((name) => {
        const child = this.nodes.get(`${path}/${name}`)!;
        return { name, data: Buffer.from(child.data), stat: { ...child.stat } };
      });
    }
    return page;
  }

  async multi(ops: readonly MultiOpInput[], options = {}): Promise<MultiResult> {
    await this.enter('multi', ops.map((op) => op.op).join(','), { ops, options });
    const index = ++this.index;
    // Checked on a copy first: all or nothing.
    const saved = new Map([...this.nodes].map(([path, node]) => [path, { data: node.data, stat: { ...node.stat } }]));
    const pending: Array<() => void> = [];
    const results: MultiResult['results'] = [];
    try {
      ops.forEach((op, opIndex) => {
        try {
          if (op.op === 'delete') {
            const node = this.nodes.get(op.path);
            if (node === undefined) throw HikariError.noNode(op.path);
            checkVersion(op.path, node, op.version);
            this.remove(op.path, index, pending);
            results.push({ op: 'delete' });
          } else if (op.op === 'create') {
            const owner = (op.mode ?? 'persistent').startsWith('ephemeral') ? this.requireSession() : null;
            this.ensureParent(op.path);
            if (this.nodes.has(op.path)) throw HikariError.nodeExists(op.path);
            const stat = this.put(op.path, Buffer.from(op.data ?? ''), owner, index, pending);
            results.push({ op: 'create', path: op.path, stat: { ...stat } });
          } else {
            throw HikariError.invalidArgument('op', `the fake does not do ${op.op}`);
          }
        } catch (error) {
          if (error instanceof HikariError) error.details.opIndex = opIndex;
          throw error;
        }
      });
    } catch (error) {
      this.nodes.clear();
      for (const [path, node] of saved) this.nodes.set(path, node);
      throw error;
    }
    for (const notify of pending) notify();
    return { results };
  }

  watch(path: string, options: WatchOptions = {}): Watch {
    const kind = options.kind ?? 'data';
    let entry!: FakeWatch;
    const { watch, feed } = Watch.open(path, kind, options.signal, () => {
      const at = this.watches.indexOf(entry);
      if (at >= 0) this.watches.splice(at, 1);
    });
    entry = { path, kind, feed, watch };
    this.watches.push(entry);
    const index = this.index;
    setImmediate(() => feed.registered(index));
    return watch;
  }

  // ---------------------------------------------------------------- internals

  private async enter(op: Op, path: string, args: unknown): Promise<void> {
    this.calls.push({ op, path, args });
    const gate = this.gates.findIndex((each) => each.op === op);
    if (gate >= 0) await this.gates.splice(gate, 1)[0]!.open;
    await tick();
    const failure = this.failures.findIndex((each) => each.op === op && (each.path === null || each.path === path));
    if (failure >= 0) throw this.failures.splice(failure, 1)[0]!.error;
  }

  private requireSession(): string {
    if (this.sessionState === null) throw new HikariError(ErrorCode.SESSION_EXPIRED, {}, { message: 'ephemeral nodes need a session' });
    return this.sessionState.id;
  }

  private ensureParent(path: string): void {
    const parent = parentOf(path)!;
    if (parent === '/') return;
    const node = this.nodes.get(parent);
    if (node === undefined) throw HikariError.noNode(parent);
    if (node.stat.ephemeralOwner !== null) throw HikariError.noChildrenForEphemerals(parent);
  }

  private put(path: string, data: Buffer, owner: string | null, index: number, pending?: Array<() => void>): Stat {
    const stat: Stat = {
      version: 0, cversion: 0, createdIndex: index, modifiedIndex: index, childrenCount: 0, dataLength: data.length,
      ephemeralOwner: owner, createdAt: Date.now(), modifiedAt: Date.now(),
    };
    this.nodes.set(path, { data, stat });
    const parent = this.nodes.get(parentOf(path)!);
    if (parent !== undefined) {
      parent.stat.childrenCount++;
      parent.stat.cversion++;
    }
    this.notify(path, 'created', index, pending);
    return stat;
  }

  private change(path: string, node: FakeNode, data: Buffer, index: number): void {
    node.data = data;
    node.stat.version++;
    node.stat.modifiedIndex = index;
    node.stat.dataLength = data.length;
    this.notify(path, 'changed', index);
  }

  private remove(path: string, index: number, pending?: Array<() => void>): void {
    this.nodes.delete(path);
    const parent = this.nodes.get(parentOf(path)!);
    if (parent !== undefined) {
      parent.stat.childrenCount--;
      parent.stat.cversion++;
    }
    this.notify(path, 'deleted', index, pending);
  }

  private notify(path: string, type: 'created' | 'changed' | 'deleted', index: number, pending?: Array<() => void>): void {
    const send = (): void => {
      for (const w of this.watches) {
        const hit =
          w.kind === 'data' ? w.path === path
            : w.kind === 'children' ? type !== 'changed' && parentOf(path) === w.path
              : w.kind === 'recursive' ? path === w.path || path.startsWith(`${w.path}/`)
                : false;
        if (hit) w.feed.push({ type, index, path });
      }
    };
    if (pending !== undefined) pending.push(send);
    else send();
  }
}

function checkVersion(path: string, node: FakeNode, version: number | undefined): void {
  if (version !== undefined && version !== -1 && version !== node.stat.version) throw HikariError.badVersion(path, version);
}

if (expect.getState().testPath?.endsWith('fake-namespace.test.ts') === true) {
  describe('FakeNamespace (the test helper itself)', () => {
    test('a multi applies all or nothing; its events share one index', async () => {
      const ns = new FakeNamespace();
      await ns.create('/s', '');
      await ns.create('/s/a', 'x', { mode: 'ephemeral' });
      const events: Array<[string, number, string]> = [];
      const watch = ns.watch('/s', { kind: 'recursive' });
      watch.on('event', (event) => events.push([event.type, event.index, event.path]));
      await expect(ns.multi([{ op: 'delete', path: '/s/a', version: 5 }, { op: 'create', path: '/s/a', data: 'y', mode: 'ephemeral' }])).rejects.toMatchObject({
        code: ErrorCode.BAD_VERSION,
        details: { opIndex: 0 },
      });
      expect(ns.nodes.get('/s/a')!.data.toString()).toBe('x');
      expect(ns.nodes.get('/s')!.stat.childrenCount).toBe(1);
      await ns.multi([{ op: 'delete', path: '/s/a', version: 0 }, { op: 'create', path: '/s/a', data: 'y', mode: 'ephemeral' }]);
      expect(events).toEqual([['deleted', ns.index, '/s/a'], ['created', ns.index, '/s/a']]);
      watch.close();
    });

    test('an expiring session takes its ephemeral nodes with it, then says expired and connected', async () => {
      const ns = new FakeNamespace();
      await ns.create('/s', '');
      await ns.create('/s/a', 'x', { mode: 'ephemeral' });
      const said: string[] = [];
      ns.on('expired', (event) => said.push(`expired ${event.sessionId}`));
      ns.on('connected', (event) => said.push(`connected ${event.sessionId}`));
      ns.expireSession();
      expect(ns.nodes.has('/s/a')).toBe(false);
      expect(said).toEqual(['expired session-1', 'connected session-2']);
      await expect(ns.create('/s/a', 'x', { mode: 'ephemeral' })).resolves.toMatchObject({ stat: { ephemeralOwner: 'session-2' } });
    });
  });
}
