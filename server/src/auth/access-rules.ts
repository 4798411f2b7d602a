/**
 * What each client operation needs, checked against a role's Permissions. Allocation-free when the
 * request is allowed (the common case): a denial builds one small object.
 *
 * - Namespace reads (`get`, `exists`, `children`, watches of kind data/children/recursive) need
 *   `read` on the path; writes (`create`, `set`, `delete`) need `write`; a `multi` needs each op's
 *   access (`check` read; `fence` read on its lock).
 * - Paths at and under `/services` belong to the `services` scope, by service name. `/services`
 *   itself (the registry root, created on demand) needs the access on any service; a recursive watch
 *   of `/services` or `/` sees every service, so it needs the access on all of them (prefix '').
 * - `lock.acquire`, `lock.release`, `lock.cancel`, `lock.wait` need `write` on the lock name;
 *   `lock.info` and watches of kind lock need `read`.
 * - `hello`, `ping`, `sync`, `unwatch` and the session operations need only authentication (a
 *   session id is its own credential).
 */
import { MultiOp, ROOT_PATH, ValidatedRequest } from '@hikarikeeper/protocol';
import { Access, AuthScope, Permissions } from './grants';

/** Why a request is refused: the access missing, on what (and which op of a multi). */
export interface Denial {
  readonly scope: AuthScope;
  readonly resource: string;
  readonly access: Access;
  readonly opIndex?: number;
}

const READ = 1;
const WRITE = 2;
const SERVICES_ROOT = '/services';
const SERVICES_CHILD = '/services/';
/** Where a service name starts in `/services/<name>/...`. */
const SERVICE_OFFSET = SERVICES_CHILD.length;

export function deniedAccess(perms: Permissions, req: ValidatedRequest): Denial | null {
  switch (req.op) {
    case 'get':
    case 'exists':
    case 'children':
      return checkPath(perms, req.args.path, READ);
    case 'create':
    case 'set':
    case 'delete':
      return checkPath(perms, req.args.path, WRITE);
    case 'multi':
      return checkMulti(perms, req.args.ops);
    case 'watch': {
      const { path, kind } = req.args;
      if (kind === 'lock') return checkLock(perms, path, READ);
      if (kind === 'recursive' && (path === ROOT_PATH || path === SERVICES_ROOT) && !perms.allows('services', '', READ)) {
        return { scope: 'services', resource: '', access: 'read' };
      }
      return checkPath(perms, path, READ);
    }
    case 'lock.acquire':
    case 'lock.release':
    case 'lock.cancel':
    case 'lock.wait':
      return checkLock(perms, req.args.name, WRITE);
    case 'lock.info':
      return checkLock(perms, req.args.name, READ);
    case 'hello':
    case 'ping':
    case 'sync':
    case 'unwatch':
    case 'session.open':
    case 'session.resume':
    case 'session.keepalive':
    case 'session.close':
      return null;
  }
}

function checkMulti(perms: Permissions, ops: readonly MultiOp[]): Denial | null {
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const denial = op.op === 'fence' ? checkLock(perms, op.lock, READ) : checkPath(perms, op.path, op.op === 'check' ? READ : WRITE);
    if (denial !== null) return { ...denial, opIndex: i };
  }
  return null;
}

/** The access `level` on node `path`: the services scope at and under /services, the namespace scope elsewhere. */
export function checkPath(perms: Permissions, path: string, level: number): Denial | null {
  if (path.startsWith(SERVICES_CHILD)) {
    if (perms.allows('services', path, level, SERVICE_OFFSET)) return null;
    const end = path.indexOf('/', SERVICE_OFFSET);
    return { scope: 'services', resource: end < 0 ? path.slice(SERVICE_OFFSET) : path.slice(SERVICE_OFFSET, end), access: accessName(level) };
  }
  if (path === SERVICES_ROOT) return perms.allowsAny('services', level) ? null : { scope: 'services', resource: '', access: accessName(level) };
  return perms.allows('namespace', path, level) ? null : { scope: 'namespace', resource: path, access: accessName(level) };
}

function checkLock(perms: Permissions, name: string, level: number): Denial | null {
  return perms.allows('locks', name, level) ? null : { scope: 'locks', resource: name, access: accessName(level) };
}

function accessName(level: number): Access {
  return level === READ ? 'read' : level === WRITE ? 'write' : 'admin';
}
