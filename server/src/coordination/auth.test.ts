import { Entry, EntryType } from '@hikarikeeper/raft';
import { CHILDREN_PER_NODE_MAX, ErrorCode } from '@hikarikeeper/protocol';
import { Command, encodeCommand, Outcome } from './commands';
import { CoordinationStateMachine, BatchResult } from './state-machine';
import { MemoryBatch, MemoryStateStore } from './state-store';
import { AuthCommand, decodeToken, encodeToken, loadAuthRecords } from './auth';
import { pack } from './packer';
import { authRange, STATE_RANGE, statKey } from './keys';
import { encodeRecord, ROOT_RECORD } from './node-record';
import { PermissionTable, Principal } from '../auth/permission-table';
import { hashSecret } from '../auth/tokens';
import { ADMIN_ROLE, Grant } from '../auth/grants';

/** A state machine on the in-memory store, one entry per command, publishing auth changes to a table as the node does. */
function harness() {
  const store = new MemoryStateStore();
  const sm = new CoordinationStateMachine(store);
  const clock = { now: t };
  const table = new PermissionTable(() => clock.now);
  let index = 0;
  return {
    store,
    sm,
    table,
    clock,
    async apply(...cmds: Command[]): Promise<Outcome[]> {
      const entries: Entry[] = cmds.map((c) => ({ term: 1, index: ++index, type: EntryType.Normal, data: encodeCommand(c) }));
      const batch = new MemoryBatch();
      const result: BatchResult = await sm.applyBatch(entries, batch);
      store.write(batch);
      sm.batchWritten(result);
      table.apply(result.auth);
      return entries.map((e) => result.outcomes.get(e.index)!);
    },
  };
}

const t = 1_700_000_000_000;
const roleSet = (name: string, grants: Grant[]): AuthCommand => ({ k: 'auth', op: 'role.set', name, grants, t });
const tokenCreate = (id: string, secret: string, role: string): AuthCommand => ({ k: 'auth', op: 'token.create', id, hash: hashSecret(secret), role, note: 'n', t });
const code = (o: Outcome): string => (o.ok ? 'ok' : o.error.code);
const SECRET = 'S'.repeat(43);

describe('auth records in the replicated state', () => {
  test('roles, tokens and certificate bindings apply through the log and reach the permission table', async () => {
    const h = harness();
    const outcomes = await h.apply(
      roleSet('app', [{ scope: 'namespace', access: 'write', prefix: '/app' }]),
      tokenCreate('t1', SECRET, 'app'),
      { k: 'auth', op: 'cert.set', subject: 'svc-a', role: 'app', note: '', t },
    );
    expect(outcomes.map(code)).toEqual(['ok', 'ok', 'ok']);
    expect(h.table.checkToken('t1', SECRET)).toBe('valid');
    expect(h.table.checkToken('t1', 'X'.repeat(43))).toBe('invalid');
    const p = new Principal('token', 't1');
    expect(h.table.permissionsOf(p)?.allows('namespace', '/app/x', 2)).toBe(true);
    expect(h.table.permissionsOf(p)?.allows('namespace', '/apple', 1)).toBe(false);
    expect(h.table.permissionsOf(new Principal('cert', 'svc-a'))?.role).toBe('app');
    // Nothing but the hash is stored: the secret appears nowhere in the state.
    for (const [, value] of h.store.entries()) expect(value.includes(Buffer.from(SECRET))).toBe(false);
  });

  test('the stored records rebuild exactly the table the changes built (start, snapshot install)', async () => {
    const h = harness();
    await h.apply(roleSet('r1', [{ scope: 'locks', access: 'read', prefix: 'a' }]), roleSet('r2', []), tokenCreate('t1', SECRET, 'r1'), tokenCreate('t2', SECRET, ADMIN_ROLE));
    await h.apply({ k: 'auth', op: 'token.revoke', id: 't1', t }, { k: 'auth', op: 'role.delete', name: 'r1', t });
    const rebuilt = new PermissionTable();
    rebuilt.reset(await loadAuthRecords(h.store));
    expect(rebuilt.list()).toEqual(h.table.list());
    expect(h.table.list().tokens.map((x) => x.id)).toEqual(['t2']);
    expect(h.table.list().roles.map((x) => x.name)).toEqual([ADMIN_ROLE, 'r2']);
    // The records are inside the state range, which is what a snapshot streams.
    const range = authRange();
    expect(range.gte.compare(STATE_RANGE.gte)).toBeGreaterThanOrEqual(0);
    expect(range.lt.compare(STATE_RANGE.lt)).toBeLessThanOrEqual(0);
  });

  test('a revoked token or deleted binding loses its permissions at once for principals already holding them', async () => {
    const h = harness();
    await h.apply(tokenCreate('t1', SECRET, ADMIN_ROLE));
    const p = new Principal('token', 't1');
    expect(h.table.permissionsOf(p)).not.toBeNull();
    await h.apply({ k: 'auth', op: 'token.revoke', id: 't1', t });
    expect(h.table.permissionsOf(p)).toBeNull();
  });

  test('refusals are coded and change nothing', async () => {
    const h = harness();
    await h.apply(roleSet('app', []), tokenCreate('t1', SECRET, 'app'));
    const before = h.store.entries();
    const outcomes = await h.apply(
      roleSet(ADMIN_ROLE, []), // built in
      tokenCreate('t2', SECRET, 'nope'), // no such role
      tokenCreate('t1', 'Y'.repeat(43), 'app'), // id taken by another secret
      { k: 'auth', op: 'role.delete', name: 'app', t }, // still given to t1
      roleSet('bad', [{ scope: 'namespace', access: 'write', prefix: 'no-slash' }]),
      roleSet('bad', [{ scope: 'cluster', access: 'admin', prefix: 'x' }]),
      { k: 'auth', op: 'token.create', id: 't3', hash: Buffer.alloc(5), role: 'app', note: '', t },
    );
    expect(outcomes.map(code)).toEqual(Array(7).fill(ErrorCode.INVALID_ARGUMENT));
    // No record changed (auth commands carry no client id, so not even a dedup slot is written).
    expect(h.store.entries()).toEqual(before);
  });

  test('repeating a create or a delete is harmless (an admin call retried)', async () => {
    const h = harness();
    await h.apply(roleSet('app', []));
    const [first, again] = await h.apply(tokenCreate('t1', SECRET, 'app'), tokenCreate('t1', SECRET, 'app'));
    expect([first, again]).toEqual([{ ok: true, value: { existed: false } }, { ok: true, value: { existed: true } }]);
    const [gone, goneAgain] = await h.apply({ k: 'auth', op: 'token.revoke', id: 't1', t }, { k: 'auth', op: 'token.revoke', id: 't1', t });
    expect([gone, goneAgain]).toEqual([{ ok: true, value: { existed: true } }, { ok: true, value: { existed: false } }]);
  });
});

describe('token expiry', () => {
  const expiring = (id: string, at: number, expiresAt: number | null, role = ADMIN_ROLE): AuthCommand => ({ k: 'auth', op: 'token.create', id, hash: hashSecret(SECRET), role, note: '', t: at, expiresAt });

  test('a token made with an expiry works until then by the node\'s clock, then is refused, also for principals holding it', async () => {
    const h = harness();
    await h.apply(expiring('t1', t, t + 60_000));
    const p = new Principal('token', 't1');
    expect(h.table.checkToken('t1', SECRET)).toBe('valid');
    expect(h.table.permissionsOf(p)).not.toBeNull();
    expect(h.table.list().tokens).toEqual([{ id: 't1', role: ADMIN_ROLE, note: '', createdAt: t, expiresAt: t + 60_000, expired: false }]);
    h.clock.now = t + 59_999;
    expect(h.table.permissionsOf(p)).not.toBeNull();
    h.clock.now = t + 60_000;
    expect(h.table.checkToken('t1', SECRET)).toBe('expired');
    expect(h.table.checkToken('t1', 'X'.repeat(43))).toBe('invalid'); // the wrong secret learns nothing
    expect(h.table.permissionsOf(p)).toBeNull(); // cached permissions too: no command was needed
    expect(h.table.expired(p)).toBe(true);
    expect(h.table.list().tokens[0]).toMatchObject({ expired: true });
  });

  test('an expiry that is not after the token is made is refused and changes nothing', async () => {
    const h = harness();
    const before = h.store.entries();
    const outcomes = await h.apply(expiring('t1', t, t), expiring('t2', t, t - 1), expiring('t3', t, 1.5 + t));
    expect(outcomes.map(code)).toEqual(Array(3).fill(ErrorCode.INVALID_ARGUMENT));
    expect(h.store.entries()).toEqual(before);
  });

  test('tokens expired by the time of the next create are deleted by it, on every node alike (their ids and room freed)', async () => {
    const h = harness();
    await h.apply(expiring('old', t, t + 1_000), expiring('forever', t, null), expiring('later', t, t + 10_000));
    const [again] = await h.apply(expiring('old', t + 1_000, null)); // 'old' expired at t + 1,000: its id is free
    expect(again).toEqual({ ok: true, value: { existed: false } });
    expect(h.table.list().tokens.map((x) => [x.id, x.expiresAt])).toEqual([['forever', null], ['later', t + 10_000], ['old', null]]);
    const rebuilt = new PermissionTable(() => t);
    rebuilt.reset(await loadAuthRecords(h.store));
    expect(rebuilt.list()).toEqual(h.table.list());
  });

  test('rotation gives a token a new secret and expiry, keeping its id, role and note; its principal keeps its permissions', async () => {
    const h = harness();
    await h.apply(roleSet('app', [{ scope: 'namespace', access: 'write', prefix: '/app' }]), { ...tokenCreate('t1', SECRET, 'app'), expiresAt: t + 1_000 } as AuthCommand);
    const p = new Principal('token', 't1');
    expect(h.table.permissionsOf(p)?.role).toBe('app');
    const NEW = 'N'.repeat(43);
    const rotate = (at: number, secret: string, expiresAt: number | null): AuthCommand => ({ k: 'auth', op: 'token.rotate', id: 't1', hash: hashSecret(secret), t: at, expiresAt });
    expect(await h.apply(rotate(t + 500, NEW, t + 60_000))).toEqual([{ ok: true, value: { existed: true } }]);
    expect(h.table.checkToken('t1', SECRET)).toBe('invalid');
    expect(h.table.checkToken('t1', NEW)).toBe('valid');
    expect(h.table.list().tokens).toEqual([{ id: 't1', role: 'app', note: 'n', createdAt: t, expiresAt: t + 60_000, expired: false }]);
    h.clock.now = t + 2_000; // past the old expiry: the principal has the new one
    expect(h.table.permissionsOf(p)?.role).toBe('app');
    const before = h.store.entries();
    const outcomes = await h.apply(rotate(t + 600, NEW, t + 60_000), { ...rotate(t + 600, NEW, null), id: 'nope' } as AuthCommand, rotate(t + 600, NEW, t + 600), { ...rotate(t + 600, NEW, null), hash: Buffer.alloc(3) } as AuthCommand);
    expect(outcomes.map(code)).toEqual(['ok', ErrorCode.INVALID_ARGUMENT, ErrorCode.INVALID_ARGUMENT, ErrorCode.INVALID_ARGUMENT]);
    expect(h.store.entries()).toEqual(before); // the retried rotation included: nothing changed
  });

  test('a token record from before expiry existed (4 fields) reads as never expiring, and one without expiry is still written so', () => {
    const hash = hashSecret(SECRET);
    expect(decodeToken(pack([hash, 'app', t, 'n']))).toEqual({ hash, role: 'app', createdAt: t, note: 'n', expiresAt: null });
    expect(encodeToken({ hash, role: 'app', createdAt: t, note: 'n', expiresAt: null })).toEqual(pack([hash, 'app', t, 'n']));
    expect(decodeToken(encodeToken({ hash, role: 'app', createdAt: t, note: 'n', expiresAt: t + 5 }))).toMatchObject({ expiresAt: t + 5 });
  });
});

describe('children per node', () => {
  test(`a create under a node holding ${CHILDREN_PER_NODE_MAX} children is TOO_LARGE and changes nothing`, async () => {
    const h = harness();
    // Make the root hold the maximum (writing a million nodes would take the test a minute).
    const batch = new MemoryBatch();
    batch.put(statKey('/'), encodeRecord({ ...ROOT_RECORD, childrenCount: CHILDREN_PER_NODE_MAX }));
    h.store.write(batch);
    const before = h.store.entries();
    const [full] = await h.apply({ k: 'ns', op: { op: 'create', path: '/one-more', data: new Uint8Array(0), mode: 'persistent' }, t });
    expect(full).toMatchObject({ ok: false, error: { code: ErrorCode.TOO_LARGE, details: { limit: CHILDREN_PER_NODE_MAX } } });
    expect(h.store.entries()).toEqual(before);
  });
});
