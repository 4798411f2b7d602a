import { validateRequest } from '@hikarikeeper/protocol';
import { deniedAccess } from './access-rules';
import { ADMIN_PERMISSIONS, checkGrants, Grant, Permissions } from './grants';

const data = new Uint8Array(0);

/** One request of each kind the client protocol has, with the grant it needs. */
const REQUESTS: Array<[label: string, op: string, args: Record<string, unknown>, needs: string | string[] | null]> = [
  ['get', 'get', { path: '/app/x' }, 'namespace:read:/app/x'],
  ['exists', 'exists', { path: '/app' }, 'namespace:read:/app'],
  ['children', 'children', { path: '/app' }, 'namespace:read:/app'],
  ['create', 'create', { path: '/app/x', data, mode: 'persistent' }, 'namespace:write:/app/x'],
  ['sequential create', 'create', { path: '/app/job-', data, mode: 'persistent_sequential' }, 'namespace:write:/app/job-'],
  ['set', 'set', { path: '/app/x', data }, 'namespace:write:/app/x'],
  ['delete', 'delete', { path: '/app/x' }, 'namespace:write:/app/x'],
  ['multi', 'multi', { ops: [{ op: 'check', path: '/app', version: -1 }, { op: 'set', path: '/app/x', data }] }, ['namespace:read:/app', 'namespace:write:/app/x']],
  ['fenced multi', 'multi', { ops: [{ op: 'fence', lock: 'app/l', token: 1 }, { op: 'set', path: '/app/x', data }] }, ['locks:read:app/l', 'namespace:write:/app/x']],
  ['data watch', 'watch', { path: '/app/x', kind: 'data' }, 'namespace:read:/app/x'],
  ['recursive watch', 'watch', { path: '/app', kind: 'recursive' }, 'namespace:read:/app'],
  ['lock watch', 'watch', { path: 'app/l', kind: 'lock' }, 'locks:read:app/l'],
  ['lock.acquire', 'lock.acquire', { name: 'app/l' }, 'locks:write:app/l'],
  ['lock.wait', 'lock.wait', { name: 'app/l', ticket: 3 }, 'locks:write:app/l'],
  ['lock.release', 'lock.release', { name: 'app/l', token: 3 }, 'locks:write:app/l'],
  ['lock.cancel', 'lock.cancel', { name: 'app/l', ticket: 3 }, 'locks:write:app/l'],
  ['lock.info', 'lock.info', { name: 'app/l' }, 'locks:read:app/l'],
  ['service read', 'get', { path: '/services/orders/o1' }, 'services:read:orders'],
  ['service register', 'create', { path: '/services/orders/o1', data, mode: 'ephemeral' }, 'services:write:orders'],
  ['service list', 'children', { path: '/services/orders' }, 'services:read:orders'],
  ['session.open', 'session.open', {}, null],
  ['session.keepalive', 'session.keepalive', {}, null],
  ['session.close', 'session.close', {}, null],
  ['ping', 'ping', {}, null],
  ['sync', 'sync', {}, null],
];

function perms(...specs: string[]): Permissions {
  const grants: Grant[] = checkGrants(specs.map((s) => {
    const [scope, access, ...rest] = s.split(':');
    return { scope, access, prefix: rest.join(':') };
  }));
  return new Permissions('test', grants);
}

const request = (op: string, args: Record<string, unknown>) => validateRequest(op, args);

describe('what each operation needs', () => {
  test.each(REQUESTS)('%s: allowed with exactly its grants (and admin), denied without any one of them', (_label, op, args, needs) => {
    const req = request(op, args);
    expect(deniedAccess(ADMIN_PERMISSIONS, req)).toBeNull();
    if (needs === null) {
      expect(deniedAccess(perms(), req)).toBeNull(); // authentication is all it needs
      return;
    }
    const all = typeof needs === 'string' ? [needs] : needs;
    expect(deniedAccess(perms(...all), req)).toBeNull();
    expect(deniedAccess(perms(), req)).not.toBeNull();
    for (const need of all) {
      const others = all.filter((x) => x !== need);
      const [scope, access, ...rest] = need.split(':');
      const prefix = rest.join(':');
      // Without it: denied, saying what is missing.
      expect(deniedAccess(perms(...others), req)).toMatchObject({ scope, access });
      // A higher level covers a lower one; a lower level does not do.
      if (access === 'read') expect(deniedAccess(perms(...others, `${scope}:write:${prefix}`), req)).toBeNull();
      if (access === 'write') expect(deniedAccess(perms(...others, `${scope}:read:${prefix}`), req)).toMatchObject({ scope, access: 'write' });
      // The same level on another scope does not do either.
      const other = scope === 'locks' ? 'namespace:admin:/' : 'locks:admin:';
      expect(deniedAccess(perms(...others, other), req)).toMatchObject({ scope });
    }
  });

  test('a namespace grant covers its subtree, not a sibling sharing its prefix, and never /services', () => {
    const p = perms('namespace:write:/app');
    expect(deniedAccess(p, request('create', { path: '/app', data, mode: 'persistent' }))).toBeNull();
    expect(deniedAccess(p, request('create', { path: '/app/a/b', data, mode: 'persistent' }))).toBeNull();
    expect(deniedAccess(p, request('create', { path: '/apple', data, mode: 'persistent' }))).toMatchObject({ scope: 'namespace', resource: '/apple' });
    expect(deniedAccess(perms('namespace:admin:/'), request('get', { path: '/services/orders/o1' }))).toMatchObject({ scope: 'services', resource: 'orders' });
  });

  test('lock and service grants are name prefixes', () => {
    expect(deniedAccess(perms('locks:write:orders:'), request('lock.acquire', { name: 'orders:42' }))).toBeNull();
    expect(deniedAccess(perms('locks:write:orders:'), request('lock.acquire', { name: 'billing:1' }))).toMatchObject({ resource: 'billing:1' });
    expect(deniedAccess(perms('services:read:ord'), request('get', { path: '/services/orders/o1' }))).toBeNull();
    expect(deniedAccess(perms('services:read:ord'), request('get', { path: '/services/billing/b1' }))).toMatchObject({ resource: 'billing' });
  });

  test('the registry root needs the access on some service; watching all of it needs it on every service', () => {
    const one = perms('services:write:orders');
    expect(deniedAccess(one, request('create', { path: '/services', data, mode: 'persistent' }))).toBeNull(); // registration creates it on demand
    expect(deniedAccess(one, request('children', { path: '/services' }))).toBeNull();
    expect(deniedAccess(one, request('watch', { path: '/services', kind: 'recursive' }))).toMatchObject({ scope: 'services', resource: '' });
    expect(deniedAccess(perms('namespace:read:/'), request('watch', { path: '/', kind: 'recursive' }))).toMatchObject({ scope: 'services', resource: '' });
    expect(deniedAccess(perms('namespace:read:/', 'services:read:'), request('watch', { path: '/', kind: 'recursive' }))).toBeNull();
    expect(deniedAccess(perms(), request('children', { path: '/services' }))).toMatchObject({ scope: 'services' });
  });

  test('a multi is denied as a whole, naming the first op it may not do', () => {
    const p = perms('namespace:write:/app');
    const req = request('multi', { ops: [{ op: 'set', path: '/app/x', data }, { op: 'delete', path: '/etc/y' }] });
    expect(deniedAccess(p, req)).toEqual({ scope: 'namespace', resource: '/etc/y', access: 'write', opIndex: 1 });
  });
});

describe('grants', () => {
  test.each([
    [{ scope: 'namespace', access: 'write', prefix: 'app' }, 'grants[0].prefix'],
    [{ scope: 'namespace', access: 'write', prefix: '/app/' }, 'grants[0].prefix'],
    [{ scope: 'locks', access: 'write', prefix: 'a\u0000' }, 'grants[0].prefix'],
    [{ scope: 'services', access: 'read', prefix: 'a/b' }, 'grants[0].prefix'],
    [{ scope: 'cluster', access: 'admin', prefix: '/' }, 'grants[0].prefix'],
    [{ scope: 'files', access: 'read', prefix: '' }, 'grants[0].scope'],
    [{ scope: 'locks', access: 'own', prefix: '' }, 'grants[0].access'],
    [{ scope: 'locks', access: 'read', prefix: '', extra: 1 }, 'grants[0].extra'],
  ])('%j is refused, naming %s', (grant, field) => {
    expect(() => checkGrants([grant])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: expect.objectContaining({ field }) }));
  });

  test('a role holds at most 64 grants', () => {
    expect(() => checkGrants(Array(65).fill({ scope: 'locks', access: 'read', prefix: '' }))).toThrow(expect.objectContaining({ code: 'TOO_LARGE' }));
  });
});
