import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Entry, EntryType } from '@hikarikeeper/raft';
import { ErrorCode, LOCK_WAITERS_MAX } from '@hikarikeeper/protocol';
import { Command, encodeCommand, Outcome } from './commands';
import { CoordinationStateMachine } from './state-machine';
import { RocksStore, WriteBatch } from '../storage/rocks';
import type { TicketEvent } from './lock-rules';
import type { ChangeRecord } from './namespace';

/**
 * Lock commands through the real state machine on real RocksDB: one entry per command, applied in
 * batches as the runtime does. `T` is the leader clock; sessions A, B, C are opened first.
 */
const T = 1_000;
let dir: string;
let store: RocksStore;
let sm: CoordinationStateMachine;
let index: number;
let seq: number;
let tickets: TicketEvent[];
let changes: ChangeRecord[];

async function applyBatch(cmds: Command[]): Promise<Outcome[]> {
  const entries: Entry[] = cmds.map((c) => ({ term: 1, index: ++index, type: EntryType.Normal, data: encodeCommand(c) }));
  const batch = new WriteBatch();
  const result = await sm.applyBatch(entries, batch);
  await store.write(batch, { sync: false });
  sm.batchWritten(result);
  tickets.push(...result.tickets);
  changes.push(...result.changes);
  return entries.map((e) => result.outcomes.get(e.index)!);
}

async function apply(cmd: Command): Promise<Outcome> {
  return (await applyBatch([cmd]))[0];
}

type AcquireFields = { mode?: 'exclusive' | 'shared'; permits?: number; reentrant?: boolean; wait?: boolean; value?: Uint8Array };
const acquire = (sid: string, name: string, f: AcquireFields = {}): Command => ({ k: 'lock', op: 'acquire', name, mode: f.mode ?? 'exclusive', ...f, sid, c: sid, s: ++seq, t: T });
const release = (sid: string, name: string, token: number): Command => ({ k: 'lock', op: 'release', name, token, sid, c: sid, s: ++seq, t: T });
const cancel = (sid: string, name: string, ticket: number): Command => ({ k: 'lock', op: 'cancel', name, ticket, sid, c: sid, s: ++seq, t: T });

function ok(o: Outcome): Record<string, unknown> {
  if (!o.ok) throw new Error(`expected success, got ${o.error.code}: ${o.error.message}`);
  return o.value as Record<string, unknown>;
}
function fails(o: Outcome, code: ErrorCode): void {
  if (o.ok) throw new Error(`expected ${code}, got success ${JSON.stringify(o.value)}`);
  expect(o.error.code).toBe(code);
}

async function dump(): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for await (const [k, v] of store.iterate({ gte: Buffer.from([0x10]), lt: Buffer.from([0x20]) })) out.push([k.toString('hex'), v.toString('hex')]);
  return out;
}

/** Keys of lock state (records and session index) — empty when no lock is in use. */
async function lockKeys(): Promise<string[]> {
  return (await dump()).map(([k]) => k).filter((k) => k.startsWith('1a') || k.startsWith('1b'));
}

async function open(dirPrefix = 'hk-locks-'): Promise<void> {
  dir = mkdtempSync(join(tmpdir(), dirPrefix));
  store = await RocksStore.open(dir);
  sm = new CoordinationStateMachine(store);
  index = 0;
  seq = 0;
  tickets = [];
  changes = [];
  for (const id of ['A', 'B', 'C']) ok(await apply({ k: 'session', op: 'open', id, ttl: 10_000, t: T }));
}

beforeEach(() => open());
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('exclusive locks', () => {
  it('grants, queues FIFO, hands over on release with a larger token, and leaves nothing behind', async () => {
    const a = ok(await apply(acquire('A', 'L')));
    expect(a).toMatchObject({ granted: true, count: 1 });
    const b = ok(await apply(acquire('B', 'L')));
    const c = ok(await apply(acquire('C', 'L')));
    expect(b).toMatchObject({ granted: false, position: 0 });
    expect(c).toMatchObject({ granted: false, position: 1 });
    ok(await apply(release('A', 'L', a.token as number)));
    expect(tickets).toEqual([{ name: 'L', ticket: b.ticket, token: (a.token as number) + 1 }]);
    ok(await apply(release('B', 'L', (a.token as number) + 1)));
    expect(tickets[1]).toEqual({ name: 'L', ticket: c.ticket, token: (a.token as number) + 2 });
    const info = await sm.lock('L');
    expect(info!.holders.map((h) => h.session)).toEqual(['C']);
    ok(await apply(release('C', 'L', (a.token as number) + 2)));
    expect(await sm.lock('L')).toBeNull();
    expect(await lockKeys()).toEqual([]);
    // Holder changes are watchable: grant A, A→B, B→C, release C.
    expect(changes.filter((ch) => ch.scope === 'lock').map((ch) => ch.index)).toHaveLength(4);
  });

  it('tokens keep growing after the lock was idle and deleted', async () => {
    const t1 = ok(await apply(acquire('A', 'L'))).token as number;
    ok(await apply(release('A', 'L', t1)));
    const t2 = ok(await apply(acquire('B', 'L'))).token as number;
    const other = ok(await apply(acquire('C', 'M'))).token as number;
    expect(t2).toBeGreaterThan(t1);
    expect(other).toBeGreaterThan(t2);
  });

  it('tryAcquire (wait: false) refuses without queueing or writing', async () => {
    ok(await apply(acquire('A', 'L')));
    const before = await dump();
    const r = ok(await apply(acquire('B', 'L', { wait: false })));
    expect(r).toEqual({ granted: false });
    const after = (await dump()).filter(([k]) => !k.startsWith('15')); // dedup slots aside
    expect(after).toEqual(before.filter(([k]) => !k.startsWith('15')));
  });

  it('refuses a release by another session (LOCK_NOT_HELD) and a stale token (FENCE_MISMATCH), changing nothing', async () => {
    const t1 = ok(await apply(acquire('A', 'L'))).token as number;
    fails(await apply(release('B', 'L', t1)), ErrorCode.LOCK_NOT_HELD);
    fails(await apply(release('A', 'L', t1 + 100)), ErrorCode.LOCK_NOT_HELD);
    ok(await apply(acquire('B', 'L')));
    ok(await apply(release('A', 'L', t1)));
    fails(await apply(release('A', 'L', t1)), ErrorCode.FENCE_MISMATCH);
    expect((await sm.lock('L'))!.holders.map((h) => h.session)).toEqual(['B']);
  });

  it('a retried acquire (same client and seq) is answered once and not queued twice', async () => {
    ok(await apply(acquire('A', 'L')));
    const cmd = acquire('B', 'L');
    const first = ok(await apply(cmd));
    const retry = ok(await apply(cmd));
    expect(retry).toEqual(first);
    expect((await sm.lock('L'))!.waiters).toHaveLength(1);
  });

  it('needs a live session', async () => {
    const noSession: Command = { k: 'lock', op: 'acquire', name: 'L', mode: 'exclusive', c: 'x', s: 1, t: T };
    fails(await apply(noSession), ErrorCode.SESSION_EXPIRED);
    fails(await apply(acquire('Z', 'L')), ErrorCode.SESSION_EXPIRED);
  });

  it('bounds the queue: past LOCK_WAITERS_MAX, TOO_LARGE and nothing changes', async () => {
    ok(await apply(acquire('A', 'L')));
    const fill: Command[] = [];
    for (let i = 0; i < LOCK_WAITERS_MAX; i++) fill.push(acquire('B', 'L'));
    await applyBatch(fill);
    expect((await sm.lock('L'))!.waiters).toHaveLength(LOCK_WAITERS_MAX);
    fails(await apply(acquire('C', 'L')), ErrorCode.TOO_LARGE);
    expect((await sm.lock('L'))!.waiters.every((w) => w.session === 'B')).toBe(true);
  });
});

describe('sessions own their locks', () => {
  it('an expiry releases the grant, drops the tickets and grants the next waiter in the same entry', async () => {
    const t1 = ok(await apply(acquire('A', 'L'))).token as number;
    const aQueued = ok(await apply(acquire('A', 'M')));
    ok(await apply(acquire('B', 'M')));
    const b = ok(await apply(acquire('B', 'L')));
    expect(aQueued.granted).toBe(true); // M was free
    const expiry = ok(await apply({ k: 'session', op: 'expire', ids: ['A'], t: T + 10_000 }));
    expect(expiry).toEqual({ expired: ['A'] });
    const expiryIndex = index;
    const l = await sm.lock('L');
    expect(l!.holders).toEqual([expect.objectContaining({ session: 'B', ticket: b.ticket, since: expiryIndex })]);
    expect(l!.holders[0].token).toBeGreaterThan(t1);
    expect((await sm.lock('M'))!.holders.map((h) => h.session)).toEqual(['B']);
    expect((await lockKeys()).some((k) => k.startsWith('1b' + Buffer.from('A').toString('hex')))).toBe(false);
  });

  it('sessions ending in one entry are all dropped before any queue moves (no grant to an ending session)', async () => {
    ok(await apply(acquire('A', 'L')));
    const b = ok(await apply(acquire('B', 'L')));
    const c = ok(await apply(acquire('C', 'L')));
    const expiry = ok(await apply({ k: 'session', op: 'expire', ids: ['A', 'B', 'A'], t: T + 10_000 }));
    expect(expiry).toEqual({ expired: ['A', 'B', 'C'].slice(0, 2) });
    // B's ticket is dropped (never granted), C — alive — is granted.
    expect(tickets).toEqual([{ name: 'L', ticket: b.ticket, token: null }, { name: 'L', ticket: c.ticket, token: expect.any(Number) }]);
    expect((await sm.lock('L'))!.holders.map((h) => [h.session, h.token])).toEqual([['C', tickets[1].token]]);
  });

  it('closing a session drops its queued tickets (their waits learn they are gone)', async () => {
    ok(await apply(acquire('A', 'L')));
    const b = ok(await apply(acquire('B', 'L')));
    ok(await apply({ k: 'session', op: 'close', id: 'B', t: T }));
    expect(tickets).toEqual([{ name: 'L', ticket: b.ticket, token: null }]);
    expect((await sm.lock('L'))!.waiters).toEqual([]);
  });
});

describe('read-write locks, semaphores, reentrancy, cancel', () => {
  it('readers share; a queued writer is not starved by later readers', async () => {
    const r1 = ok(await apply(acquire('A', 'RW', { mode: 'shared' })));
    const r2 = ok(await apply(acquire('B', 'RW', { mode: 'shared' })));
    expect([r1.granted, r2.granted]).toEqual([true, true]);
    const w = ok(await apply(acquire('C', 'RW')));
    expect(w.granted).toBe(false);
    const r3 = ok(await apply(acquire('A', 'RW', { mode: 'shared' })));
    expect(r3.granted).toBe(false); // behind the writer
    ok(await apply(release('A', 'RW', r1.token as number)));
    expect(tickets).toEqual([]);
    ok(await apply(release('B', 'RW', r2.token as number)));
    expect(tickets.map((t) => t.ticket)).toEqual([w.ticket]);
    const wToken = tickets[0].token!;
    ok(await apply(release('C', 'RW', wToken)));
    expect(tickets.map((t) => t.ticket)).toEqual([w.ticket, r3.ticket]);
  });

  it('a run of readers at the head is granted together', async () => {
    const w = ok(await apply(acquire('A', 'RW')));
    const r1 = ok(await apply(acquire('B', 'RW', { mode: 'shared' })));
    const r2 = ok(await apply(acquire('C', 'RW', { mode: 'shared' })));
    const w2 = ok(await apply(acquire('A', 'RW')));
    ok(await apply(release('A', 'RW', w.token as number)));
    expect(tickets.map((t) => t.ticket)).toEqual([r1.ticket, r2.ticket]);
    expect(tickets[1].token).toBeGreaterThan(tickets[0].token!);
    expect((await sm.lock('RW'))!.waiters.map((x) => x.ticket)).toEqual([w2.ticket]);
  });

  it('a semaphore admits `permits` holders, each with its own token; all users must agree on permits', async () => {
    const g = [];
    for (const s of ['A', 'B', 'C']) g.push(ok(await apply(acquire(s, 'S', { permits: 2 }))));
    expect(g.map((x) => x.granted)).toEqual([true, true, false]);
    expect(g[1].token).toBeGreaterThan(g[0].token as number);
    fails(await apply(acquire('C', 'S', { permits: 3 })), ErrorCode.INVALID_ARGUMENT);
    fails(await apply(acquire('C', 'S', { mode: 'shared' })), ErrorCode.INVALID_ARGUMENT);
    ok(await apply(release('A', 'S', g[0].token as number)));
    expect(tickets.map((t) => t.ticket)).toEqual([g[2].ticket]);
  });

  it('reentrant acquires are counted; each release undoes one', async () => {
    const first = ok(await apply(acquire('A', 'L', { reentrant: true })));
    const again = ok(await apply(acquire('A', 'L', { reentrant: true })));
    expect(again).toEqual({ ...first, count: 2 });
    const notReentrant = ok(await apply(acquire('A', 'L')));
    expect(notReentrant.granted).toBe(false); // a plain acquire queues, even for the holder's session
    expect(ok(await apply(release('A', 'L', first.token as number)))).toEqual({ count: 1 });
    expect(tickets).toEqual([]);
    expect(ok(await apply(release('A', 'L', first.token as number)))).toEqual({ count: 0 });
    expect(tickets.map((t) => t.ticket)).toEqual([notReentrant.ticket]);
  });

  it('cancel removes a waiting ticket, releases a grant that raced, and is a no-op afterwards', async () => {
    const a = ok(await apply(acquire('A', 'L')));
    const b = ok(await apply(acquire('B', 'L')));
    const c = ok(await apply(acquire('C', 'L')));
    expect(ok(await apply(cancel('B', 'L', b.ticket as number)))).toEqual({ was: 'waiting' });
    expect(tickets).toEqual([{ name: 'L', ticket: b.ticket, token: null }]);
    ok(await apply(release('A', 'L', a.token as number)));
    expect(tickets[1]).toMatchObject({ ticket: c.ticket });
    expect(ok(await apply(cancel('C', 'L', c.ticket as number)))).toEqual({ was: 'held' });
    expect(await sm.lock('L')).toBeNull();
    expect(ok(await apply(cancel('C', 'L', c.ticket as number)))).toEqual({ was: 'gone' });
    expect(ok(await apply(cancel('A', 'L', 999)))).toEqual({ was: 'gone' });
  });

  it('cancelling the exclusive head lets the readers behind it in', async () => {
    ok(await apply(acquire('A', 'RW', { mode: 'shared' })));
    const w = ok(await apply(acquire('B', 'RW')));
    const r = ok(await apply(acquire('C', 'RW', { mode: 'shared' })));
    const before = changes.length;
    ok(await apply(cancel('B', 'RW', w.ticket as number)));
    expect(tickets.map((t) => [t.ticket, t.token === null])).toEqual([[w.ticket, true], [r.ticket, false]]);
    // The holders changed (the reader behind got in): lock watches hear of it.
    expect(changes.slice(before)).toEqual([{ index, path: 'RW', type: 'changed', scope: 'lock' }]);
  });
});

describe('fenced writes', () => {
  it('a multi with a fence applies only while the token is a current grant', async () => {
    ok(await apply({ k: 'ns', op: { op: 'create', path: '/res', data: new Uint8Array(), mode: 'persistent' }, t: T }));
    const t1 = ok(await apply(acquire('A', 'L'))).token as number;
    const write = (token: number, data: string): Command => ({
      k: 'multi', t: T, ops: [{ op: 'fence', lock: 'L', token }, { op: 'set', path: '/res', data: new TextEncoder().encode(data) }],
    });
    ok(await apply(write(t1, 'one')));
    ok(await apply(acquire('B', 'L')));
    ok(await apply(release('A', 'L', t1)));
    const stale = await apply(write(t1, 'two'));
    fails(stale, ErrorCode.FENCE_MISMATCH);
    expect(Buffer.from((await sm.get('/res')).data).toString()).toBe('one');
    ok(await apply(write(t1 + 1, 'three')));
    expect(Buffer.from((await sm.get('/res')).data).toString()).toBe('three');
  });
});

describe('determinism', () => {
  it('the same entries give the same state whether applied one by one or in one batch', async () => {
    const script = (): Command[] => {
      seq = 0;
      return [
        acquire('A', 'L'), acquire('B', 'L'), acquire('C', 'L', { wait: false }), acquire('A', 'RW', { mode: 'shared' }),
        acquire('B', 'RW'), acquire('C', 'RW', { mode: 'shared' }), release('A', 'L', 1), cancel('C', 'RW', 9),
        { k: 'session', op: 'expire', ids: ['A'], t: T + 20_000 }, acquire('C', 'L'), release('B', 'L', 5),
      ];
    };
    for (const cmd of script()) await apply(cmd);
    const oneByOne = await dump();
    const ticketsOneByOne = tickets;
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    await open();
    await applyBatch(script());
    expect(await dump()).toEqual(oneByOne);
    expect(tickets).toEqual(ticketsOneByOne);
  });
});
