/**
 * The namespace of discovery's unit tests (a DiscoveryPort): a MemoryClient of a MemoryCluster of
 * its own (memory/: the in-process stand-in for the cluster, with the server's namespace rules,
 * sessions and watches), plus what the tests script: injected failures, held calls, a record of
 * every call, direct writes by other sessions, and watches resynced, failed or ended at will.
 *
 * It is a model of the server, not the server: the integration tests check the same behaviours on a
 * real cluster, and the discovery contract suite (testing/discovery-contract.ts) runs against both.
 *
 * Named *.test.ts so that the build leaves it out of dist; it registers no test of its own.
 */
import { ErrorCode, HikariError, OpArgs, OpName, OpResult, Stat } from '@hikarikeeper/protocol';
import type { Data } from '../client';
import type { CallOptions } from '../dispatcher';
import { MemoryClient } from '../memory/memory-client';
import { MemoryCluster } from '../memory/memory-cluster';
import type { MemoryNode } from '../memory/memory-namespace';
import type { MemoryWatch } from '../memory/memory-watches';
import type { DiscoveryPort } from './port';

type Op = 'create' | 'get' | 'set' | 'delete' | 'exists' | 'children' | 'multi';

/** One call, as the fake saw it: its op, its path (the ops of a multi), its wire arguments. */
export interface FakeCall {
  readonly op: Op;
  readonly path: string;
  readonly args: unknown;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class FakeNamespace extends MemoryClient implements DiscoveryPort {
  readonly calls: FakeCall[] = [];
  private readonly failures: Array<{ op: Op; path: string | null; error: HikariError }> = [];
  private readonly gates: Array<{ op: Op; open: Promise<void> }> = [];

  constructor(options: { sessions?: boolean } = {}) {
    super(new MemoryCluster({ clusterId: 'fake' }), options.sessions === false ? { session: false } : {});
  }

  /** The nodes (the root aside), by path. */
  get nodes(): Map<string, MemoryNode> {
    return this.cluster.namespace.nodes;
  }

  /** The index of the last write. */
  get index(): number {
    return this.cluster.index;
  }

  /** The open watches (the live list: a test may take watches out of it, and put them back). */
  get watches(): MemoryWatch[] {
    return this.cluster.watches.list;
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
  override expireSession(): string {
    const old = this.session!.id;
    this.cluster.expireSession(old);
    return old;
  }

  /** Another session (another process; null: persistent) writes `path` directly. */
  createAs(owner: string | null, path: string, data: Data): Stat {
    return this.cluster.createNode(path, data, owner);
  }

  setDirect(path: string, data: Data): void {
    this.cluster.setNode(path, data);
  }

  deleteDirect(path: string): void {
    this.cluster.deleteNode(path);
  }

  /** Every watch gets a `resync` (as after a compacted history). */
  resyncWatches(): void {
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

  /** Every call is recorded, may be held, answers on a later tick, and may fail as scripted. */
  protected override async call<O extends OpName>(op: O, args: OpArgs<O>, options: CallOptions): Promise<OpResult<O>> {
    const wire = args as { path?: string; ops?: Array<{ op: string }> };
    const name = op as Op;
    const path = op === 'multi' ? (wire.ops ?? []).map((each) => each.op).join(',') : (wire.path ?? '');
    this.calls.push({ op: name, path, args });
    const gate = this.gates.findIndex((each) => each.op === name);
    if (gate >= 0) await this.gates.splice(gate, 1)[0]!.open;
    await tick();
    const failure = this.failures.findIndex((each) => each.op === name && (each.path === null || each.path === path));
    if (failure >= 0) throw this.failures.splice(failure, 1)[0]!.error;
    return super.call(op, args, options);
  }
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
