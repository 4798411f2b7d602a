import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Entry, EntryType } from '@hikarikeeper/raft';
import { CHILDREN_DATA_PAGE_BYTES_MAX, ErrorCode, MultiOp } from '@hikarikeeper/protocol';
import { Command, encodeCommand, Outcome } from './commands';
import { CoordinationStateMachine, DEDUP_SLOTS } from './state-machine';
import { MemoryBatch, MemoryStateStore } from './state-store';
import { RocksStore, WriteBatch } from '../storage/rocks';

const bytes = (s: string) => new TextEncoder().encode(s);

/** Drives the state machine over either store, one entry per command, like the runtime does. */
interface Harness {
  sm: CoordinationStateMachine;
  apply(cmds: Command[]): Promise<Outcome[]>;
  dump(): Promise<Array<[string, string]>>;
  close(): Promise<void>;
}

function memoryHarness(): Harness {
  const store = new MemoryStateStore();
  const sm = new CoordinationStateMachine(store);
  let index = 0;
  return {
    sm,
    async apply(cmds) {
      const entries: Entry[] = cmds.map((c) => ({ term: 1, index: ++index, type: EntryType.Normal, data: encodeCommand(c) }));
      const batch = new MemoryBatch();
      const result = await sm.applyBatch(entries, batch);
      const { outcomes } = result;
      store.write(batch);
      sm.batchWritten(result);
      return entries.map((e) => outcomes.get(e.index)!);
    },
    async dump() {
      return store.entries().map(([k, v]) => [Buffer.from(k, 'latin1').toString('hex'), v.toString('hex')]);
    },
    async close() {},
  };
}

async function rocksHarness(): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'hk-sm-'));
  const store = await RocksStore.open(dir);
  const sm = new CoordinationStateMachine(store);
  let index = 0;
  return {
    sm,
    async apply(cmds) {
      const entries: Entry[] = cmds.map((c) => ({ term: 1, index: ++index, type: EntryType.Normal, data: encodeCommand(c) }));
      const batch = new WriteBatch();
      const result = await sm.applyBatch(entries, batch);
      const { outcomes } = result;
      await store.write(batch, { sync: false });
      sm.batchWritten(result);
      return entries.map((e) => outcomes.get(e.index)!);
    },
    async dump() {
      const out: Array<[string, string]> = [];
      for await (const [k, v] of store.iterate({ gte: Buffer.from([0x10]), lt: Buffer.from([0x20]) })) out.push([k.toString('hex'), v.toString('hex')]);
      return out;
    },
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const ns = (op: MultiOp, extra: Partial<Command> = {}): Command => ({ k: 'ns', op, t: 1000, ...extra }) as Command;
const create = (path: string, data = '', mode: 'persistent' | 'persistent_sequential' = 'persistent'): Command =>
  ns({ op: 'create', path, data: bytes(data), mode });
const errorCode = (o: Outcome) => (o.ok ? 'ok' : o.error.code);

describe.each([
  ['memory', async () => memoryHarness()],
  ['rocksdb', rocksHarness],
])('namespace state machine on %s', (_name, make) => {
  let h: Harness;
  beforeEach(async () => {
    h = await make();
  });
  afterEach(async () => h.close());

  test('create, get, set with versions, delete', async () => {
    const [c] = await h.apply([create('/a', 'one')]);
    expect(c).toMatchObject({ ok: true, value: { path: '/a', stat: { version: 0, createdIndex: 1, dataLength: 3, createdAt: 1000 } } });
    expect(Buffer.from((await h.sm.get('/a')).data).toString()).toBe('one');
    const [s1, bad, s2] = await h.apply([
      ns({ op: 'set', path: '/a', data: bytes('two'), version: 0 }),
      ns({ op: 'set', path: '/a', data: bytes('x'), version: 0 }),
      ns({ op: 'set', path: '/a', data: bytes('three') }),
    ]);
    expect(s1).toMatchObject({ ok: true, value: { stat: { version: 1, modifiedIndex: 2 } } });
    expect(errorCode(bad)).toBe(ErrorCode.BAD_VERSION);
    expect(s2).toMatchObject({ ok: true, value: { stat: { version: 2 } } });
    expect(Buffer.from((await h.sm.get('/a')).data).toString()).toBe('three');
    const [d] = await h.apply([ns({ op: 'delete', path: '/a', version: 2 })]);
    expect(d.ok).toBe(true);
    await expect(h.sm.get('/a')).rejects.toMatchObject({ code: ErrorCode.NO_NODE });
    expect(await h.sm.exists('/a')).toBeNull();
  });

  test('parents must exist; a node with children cannot be deleted; the root is always there', async () => {
    const out = await h.apply([create('/x/y'), create('/x'), create('/x/y'), create('/x'), ns({ op: 'delete', path: '/x' })]);
    expect(out.map(errorCode)).toEqual([ErrorCode.NO_NODE, 'ok', 'ok', ErrorCode.NODE_EXISTS, ErrorCode.NOT_EMPTY]);
    expect((await h.sm.exists('/'))!.stat.childrenCount).toBe(1);
    expect((await h.sm.exists('/x'))!.stat).toMatchObject({ childrenCount: 1, cversion: 1 });
  });

  test('sequential nodes get increasing zero-padded counters per parent', async () => {
    await h.apply([create('/q')]);
    const out = await h.apply([create('/q/job-', 'a', 'persistent_sequential'), create('/q/job-', 'b', 'persistent_sequential'), create('/q/other-', '', 'persistent_sequential')]);
    expect(out.map((o) => (o.ok ? (o.value as { path: string }).path : o.error.code))).toEqual(['/q/job-0000000000', '/q/job-0000000001', '/q/other-0000000002']);
  });

  test('children are listed sorted and paged; a prefix sibling is not a child', async () => {
    await h.apply([create('/p'), create('/pp'), create('/pp/z'), ...['c', 'a', 'e', 'b', 'd'].map((n) => create(`/p/${n}`))]);
    const page1 = await h.sm.children('/p', undefined, 2);
    expect(page1).toMatchObject({ names: ['a', 'b'], more: true });
    const page2 = await h.sm.children('/p', 'b', 2);
    expect(page2).toMatchObject({ names: ['c', 'd'], more: true });
    const page3 = await h.sm.children('/p', 'd', 2);
    expect(page3).toMatchObject({ names: ['e'], more: false });
    expect((await h.sm.children('/', undefined, 10)).names).toEqual(['p', 'pp']);
    await expect(h.sm.children('/nope')).rejects.toMatchObject({ code: ErrorCode.NO_NODE });
  });

  test('children with data: every child\'s data and stat in the same page; a large page ends early', async () => {
    await h.apply([create('/r'), create('/r/a', 'alpha'), create('/r/b', 'beta'), create('/r/c', 'x'.repeat(CHILDREN_DATA_PAGE_BYTES_MAX))]);
    const page = await h.sm.children('/r', undefined, 10, true);
    expect(page.names).toEqual(['a', 'b']); // c would pass the data budget: the next page
    expect(page.more).toBe(true);
    expect(page.children!.map((c) => [c.name, Buffer.from(c.data).toString(), c.stat.dataLength])).toEqual([['a', 'alpha', 5], ['b', 'beta', 4]]);
    const next = await h.sm.children('/r', 'b', 10, true);
    expect(next.names).toEqual(['c']); // alone, it always fits
    expect(next.children![0].data.length).toBe(CHILDREN_DATA_PAGE_BYTES_MAX);
    expect((await h.sm.children('/r', undefined, 10)).children).toBeUndefined();
  });

  test('multi applies all ops or none, and names the failing op', async () => {
    await h.apply([create('/m')]);
    const before = await h.dump();
    const [failed] = await h.apply([{ k: 'multi', t: 5, ops: [
      { op: 'create', path: '/m/a', data: bytes('1'), mode: 'persistent' },
      { op: 'set', path: '/m', data: bytes('2') },
      { op: 'check', path: '/m', version: 0 }, // /m is at version 1 within the multi: fails
    ] }]);
    expect(failed).toMatchObject({ ok: false, error: { code: ErrorCode.BAD_VERSION, details: { opIndex: 2 } } });
    expect(await h.dump()).toEqual(before);
    const [ok] = await h.apply([{ k: 'multi', t: 5, ops: [
      { op: 'check', path: '/m', version: 0 },
      { op: 'create', path: '/m/a', data: bytes('1'), mode: 'persistent' },
      { op: 'delete', path: '/m/a' },
      { op: 'create', path: '/m/b', data: bytes(''), mode: 'persistent' },
    ] }]);
    expect(ok.ok).toBe(true);
    expect((await h.sm.children('/m')).names).toEqual(['b']);
  });

  test('a retried write (same client and seq) applies once and answers as the first time', async () => {
    await h.apply([create('/d')]);
    const write = ns({ op: 'create', path: '/d/once', data: bytes('x'), mode: 'persistent_sequential' }, { c: 'client-1', s: 7 });
    const [first] = await h.apply([write]);
    const [retry] = await h.apply([write]);
    expect(retry).toEqual(first);
    expect((await h.sm.children('/d')).names).toHaveLength(1);
    const [other] = await h.apply([{ ...write, c: 'client-2' } as Command]);
    expect(other.ok).toBe(true);
    expect((await h.sm.children('/d')).names).toHaveLength(2);
    const [tooOld] = await h.apply([ns({ op: 'set', path: '/d', data: bytes('') }, { c: 'client-1', s: 7 + DEDUP_SLOTS }), { ...write, s: 7 } as Command]);
    expect(tooOld.ok).toBe(true);
    const [stale] = await h.apply([{ ...write, s: 7 } as Command]);
    expect(errorCode(stale)).toBe(ErrorCode.INVALID_ARGUMENT);
  });

  test('forget: an idle client\'s slots all go, a client with one recent slot keeps all, a retry after forget applies anew', async () => {
    await h.apply([create('/f')]);
    const write = (c: string, s: number, t: number, path = `/f/${c}-${s}`) => ns({ op: 'create', path, data: bytes(''), mode: 'persistent' }, { c, s, t });
    await h.apply([write('x', 1, 1000), write('x', 2, 1000), write('x2', 1, 1000), write('y', 1, 1000), write('y', 2, 5000)]);
    expect((await h.apply([write('x', 1, 1000)]))[0]).toEqual({ ok: true, value: expect.anything() }); // remembered: answered as the first time
    const [out] = await h.apply([{ k: 'clients', op: 'forget', ids: ['x', 'y', 'nobody'], before: 3000, t: 6000 }]);
    expect(out).toEqual({ ok: true, value: { forgotten: ['x'] } });
    // 'x2' (a longer id with x as prefix) was not listed and is untouched; y keeps both slots.
    expect((await h.sm.scanClients(null, 100)).clients).toEqual([{ id: 'x2', slots: 1, newest: 1000, sessions: [] }, { id: 'y', slots: 2, newest: 5000, sessions: [] }]);
    expect(errorCode((await h.apply([write('x', 1, 7000)]))[0])).toBe(ErrorCode.NODE_EXISTS); // applied anew
    expect((await h.apply([write('y', 1, 7000)]))[0].ok).toBe(true); // still remembered
  });

  test('forget keeps a client with a slot written in a session still alive, however old; once the session ends, it goes', async () => {
    await h.apply([create('/s'), { k: 'session', op: 'open', id: 'sess-1', ttl: 60_000, t: 1000 }]);
    const [w] = await h.apply([ns({ op: 'create', path: '/s/a', data: bytes(''), mode: 'persistent' }, { c: 'in-session', s: 1, t: 1000, sid: 'sess-1' })]);
    expect(w.ok).toBe(true);
    expect((await h.sm.scanClients(null, 100)).clients).toEqual([{ id: 'in-session', slots: 1, newest: 1000, sessions: ['sess-1'] }]);
    const forget = { k: 'clients', op: 'forget', ids: ['in-session'], before: 9000, t: 10_000 } as Command;
    expect((await h.apply([forget]))[0]).toEqual({ ok: true, value: { forgotten: [] } });
    await h.apply([{ k: 'session', op: 'close', id: 'sess-1', t: 10_000 }]);
    expect((await h.apply([forget]))[0]).toEqual({ ok: true, value: { forgotten: ['in-session'] } });
    expect((await h.sm.scanClients(null, 100)).clients).toEqual([]);
  });

  test('forget with bad arguments fails with a coded error and changes nothing', async () => {
    await h.apply([ns({ op: 'create', path: '/g', data: bytes(''), mode: 'persistent' }, { c: 'z', s: 1, t: 1 })]);
    const before = await h.dump();
    const good = { k: 'clients', op: 'forget', ids: ['z'], before: 10, t: 20 };
    for (const bad of [{ ids: 'z' }, { ids: [] as string[], before: 'soon' }, { ids: Array.from({ length: 1001 }, (_, i) => `c${i}`) }, { ids: [''] }]) {
      const [out] = await h.apply([{ ...good, ...bad } as unknown as Command]);
      expect(errorCode(out)).toBe(ErrorCode.INVALID_ARGUMENT);
    }
    expect(await h.dump()).toEqual(before);
  });

  test('scanClients pages by whole clients, in id order, and resumes after the last one', async () => {
    const cmds: Command[] = [];
    for (const c of ['a', 'b', 'c']) for (const s of [1, 2]) cmds.push(ns({ op: 'create', path: `/${c}${s}`, data: bytes(''), mode: 'persistent' }, { c, s, t: s * 10 }));
    await h.apply(cmds);
    const first = await h.sm.scanClients(null, 3);
    expect(first).toEqual({ clients: [{ id: 'a', slots: 2, newest: 20, sessions: [] }, { id: 'b', slots: 2, newest: 20, sessions: [] }], next: 'b' });
    expect(await h.sm.scanClients(first.next, 3)).toEqual({ clients: [{ id: 'c', slots: 2, newest: 20, sessions: [] }], next: null });
  });

  test('a garbage entry fails with a coded error and changes nothing', async () => {
    const before = await h.dump();
    const out = await h.apply([{ k: 'bogus' } as unknown as Command]);
    expect(errorCode(out[0])).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(await h.dump()).toEqual(before);
  });
});

test('the in-memory twin and RocksDB end in byte-identical states for the same commands', async () => {
  const m = memoryHarness();
  const r = await rocksHarness();
  const script: Command[] = [create('/a'), create('/a/b', 'x'), create('/a/s-', '', 'persistent_sequential'), ns({ op: 'set', path: '/a/b', data: bytes('yy') }), create('/c'), ns({ op: 'delete', path: '/c' })];
  for (const cmd of script) {
    expect(await m.apply([cmd])).toEqual(await r.apply([cmd]));
  }
  expect(await r.dump()).toEqual(await m.dump());
  await r.close();
});

test('warm(): the reads of appended entries are made before they commit, and their apply then reads nothing from the store', async () => {
  const store = new MemoryStateStore();
  let reads = 0;
  const counting = { getMany: async (keys: readonly Buffer[]) => { reads += keys.length; return store.getMany(keys); }, iterate: store.iterate.bind(store) };
  const sm = new CoordinationStateMachine(counting);
  const entries: Entry[] = [create('/w'), create('/w/x', 'data')].map((c, i) => ({ term: 1, index: i + 1, type: EntryType.Normal, data: encodeCommand(c) }));
  sm.warm(entries);
  await new Promise((r) => setImmediate(r));
  expect(reads).toBeGreaterThan(0); // the nodes' and their parents' records
  const warmed = reads;
  const batch = new MemoryBatch();
  const result = await sm.applyBatch(entries, batch);
  expect(reads).toBe(warmed); // all of it was in memory
  expect([...result.outcomes.values()].map(errorCode)).toEqual(['ok', 'ok']);
  store.write(batch);
  sm.batchWritten(result);
  expect(Buffer.from((await sm.get('/w/x')).data).toString()).toBe('data');
  // Entries that are not commands are warmed (nothing to read) and applied (a coded error) alike.
  const garbage: Entry = { term: 1, index: 3, type: EntryType.Normal, data: bytes('not msgpack of a command') };
  sm.warm([garbage]);
  const out = await sm.applyBatch([garbage], new MemoryBatch());
  expect(errorCode(out.outcomes.get(3)!)).toBe(ErrorCode.INVALID_ARGUMENT);
});
