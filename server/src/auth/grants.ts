/**
 * Roles and their grants: what an authenticated client may do. A role is a named list of grants;
 * a grant gives one access level on one scope, for the resources its prefix covers:
 *
 * | scope       | resource                          | a grant's prefix covers                          |
 * |-------------|-----------------------------------|--------------------------------------------------|
 * | `namespace` | a node path (outside `/services`) | that node and its whole subtree (`/` is all)     |
 * | `locks`     | a lock name                       | every name starting with it (`` is all)          |
 * | `services`  | a service name (`/services/<s>`)  | every service name starting with it (`` is all)  |
 * | `cluster`   | the cluster (membership, auth)    | prefix must be empty                             |
 *
 * Access levels are ordered: `admin` includes `write`, which includes `read`. On `cluster`, `read` is
 * the status and `admin` membership and authentication changes; on the data scopes nothing needs
 * more than `write` today (an `admin` grant there is a `write` grant).
 *
 * Everything here is pure and deterministic: the replicated state machine validates with it.
 */
import { HikariError, lockNameProblem, pathProblem, ROOT_PATH } from '@hikarikeeper/protocol';

export const AUTH_SCOPES = ['namespace', 'locks', 'services', 'cluster'] as const;
export type AuthScope = (typeof AUTH_SCOPES)[number];

export const ACCESS_LEVELS = ['read', 'write', 'admin'] as const;
export type Access = (typeof ACCESS_LEVELS)[number];

export interface Grant {
  readonly scope: AuthScope;
  readonly access: Access;
  readonly prefix: string;
}

/** The built-in role: everything, on every scope. It cannot be changed or deleted. */
export const ADMIN_ROLE = 'admin';
export const ADMIN_GRANTS: readonly Grant[] = [
  { scope: 'namespace', access: 'admin', prefix: ROOT_PATH },
  { scope: 'locks', access: 'admin', prefix: '' },
  { scope: 'services', access: 'admin', prefix: '' },
  { scope: 'cluster', access: 'admin', prefix: '' },
];

/** Grants one role may hold: a role is checked grant by grant on every request. */
export const GRANTS_PER_ROLE_MAX = 64;
/** Roles, tokens and certificate bindings a cluster may hold (each is a replicated record). */
export const ROLES_MAX = 1_000;
export const TOKENS_MAX = 10_000;
export const CERT_BINDINGS_MAX = 10_000;
/** Longest note kept with a token or a certificate binding (who it is for). */
export const NOTE_CHARS_MAX = 256;
/** Longest certificate subject (the CN of a client certificate). */
export const CERT_SUBJECT_CHARS_MAX = 256;

const ROLE_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const SERVICE_PREFIX = /^[A-Za-z0-9._-]{0,63}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** The level of an access, for comparisons: read 1, write 2, admin 3. */
export function accessLevel(access: Access): number {
  return access === 'read' ? 1 : access === 'write' ? 2 : 3;
}

/** Throws INVALID_ARGUMENT unless `name` is a role name (1–64 of A-Z a-z 0-9 . _ -). */
export function checkRoleName(name: unknown, field = 'role'): string {
  if (typeof name !== 'string' || !ROLE_NAME.test(name)) throw HikariError.invalidArgument(field, 'must be 1 to 64 characters among A-Z a-z 0-9 . _ -');
  return name;
}

/** Throws INVALID_ARGUMENT unless `subject` can name a certificate (1–256 characters, no control character). */
export function checkCertSubject(subject: unknown, field = 'subject'): string {
  if (typeof subject !== 'string' || subject.length === 0 || subject.length > CERT_SUBJECT_CHARS_MAX || CONTROL.test(subject)) {
    throw HikariError.invalidArgument(field, `must be 1 to ${CERT_SUBJECT_CHARS_MAX} characters without control characters`);
  }
  return subject;
}

/** Throws INVALID_ARGUMENT unless `note` is a string of at most NOTE_CHARS_MAX characters without control characters. */
export function checkNote(note: unknown, field = 'note'): string {
  if (typeof note !== 'string' || note.length > NOTE_CHARS_MAX || CONTROL.test(note)) {
    throw HikariError.invalidArgument(field, `must be at most ${NOTE_CHARS_MAX} characters without control characters`);
  }
  return note;
}

/** The grants in `value` (an array of `{ scope, access, prefix }`), checked; throws INVALID_ARGUMENT naming the field. */
export function checkGrants(value: unknown, field = 'grants'): Grant[] {
  if (!Array.isArray(value)) throw HikariError.invalidArgument(field, 'must be an array of { scope, access, prefix }');
  if (value.length > GRANTS_PER_ROLE_MAX) throw HikariError.tooLarge(field, value.length, GRANTS_PER_ROLE_MAX);
  return value.map((item: unknown, i) => checkGrant(item, `${field}[${i}]`));
}

function checkGrant(item: unknown, field: string): Grant {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) throw HikariError.invalidArgument(field, 'must be { scope, access, prefix }');
  const { scope, access, prefix, ...rest } = item as Record<string, unknown>;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) throw HikariError.invalidArgument(`${field}.${extra}`, 'is not a known field');
  if (typeof scope !== 'string' || !(AUTH_SCOPES as readonly string[]).includes(scope)) {
    throw HikariError.invalidArgument(`${field}.scope`, `must be one of ${AUTH_SCOPES.join(', ')}`);
  }
  if (typeof access !== 'string' || !(ACCESS_LEVELS as readonly string[]).includes(access)) {
    throw HikariError.invalidArgument(`${field}.access`, `must be one of ${ACCESS_LEVELS.join(', ')}`);
  }
  const problem = prefixProblem(scope as AuthScope, prefix);
  if (problem !== null) throw HikariError.invalidArgument(`${field}.prefix`, problem);
  return { scope: scope as AuthScope, access: access as Access, prefix: prefix as string };
}

function prefixProblem(scope: AuthScope, prefix: unknown): string | null {
  if (typeof prefix !== 'string') return 'must be a string';
  switch (scope) {
    case 'namespace': {
      const problem = pathProblem(prefix);
      return problem === null ? null : `must be a node path ('/' for all), but it ${problem}`;
    }
    case 'locks': {
      const problem = prefix === '' ? null : lockNameProblem(prefix);
      return problem === null ? null : `must be a lock name prefix ('' for all), but it ${problem}`;
    }
    case 'services':
      return SERVICE_PREFIX.test(prefix) ? null : "must be a service name prefix ('' for all): up to 63 of A-Z a-z 0-9 . _ -";
    case 'cluster':
      return prefix === '' ? null : "must be '' (the cluster has no parts)";
  }
}

interface CompiledGrant {
  readonly level: number;
  readonly prefix: string;
  /** Namespace grants: the prefix with a trailing '/', so that `/app` covers `/app/x` but not `/apple`. */
  readonly subtree: string;
}

/**
 * A role's grants, compiled for checks that allocate nothing: per scope, an array scanned in order
 * (a role has at most GRANTS_PER_ROLE_MAX grants).
 */
export class Permissions {
  private readonly byScope: { readonly [S in AuthScope]: CompiledGrant[] } = { namespace: [], locks: [], services: [], cluster: [] };

  constructor(readonly role: string, readonly grants: readonly Grant[]) {
    for (const g of grants) {
      this.byScope[g.scope].push({ level: accessLevel(g.access), prefix: g.prefix, subtree: g.prefix === ROOT_PATH ? ROOT_PATH : `${g.prefix}/` });
    }
  }

  /**
   * Whether `level` is granted on `resource` of `scope`. For `services`, the resource may be given as
   * a path with the service name starting at `offset` (`/services/<name>...`, offset 10): no slice.
   */
  allows(scope: AuthScope, resource: string, level: number, offset = 0): boolean {
    const grants = this.byScope[scope];
    for (let i = 0; i < grants.length; i++) {
      const g = grants[i]!;
      if (g.level < level) continue;
      if (scope === 'namespace') {
        if (g.prefix === ROOT_PATH || resource === g.prefix || resource.startsWith(g.subtree)) return true;
      } else if (resource.startsWith(g.prefix, offset)) {
        return true;
      }
    }
    return false;
  }

  /** Whether `level` is granted on some resource of `scope` (the registry root `/services` needs no more). */
  allowsAny(scope: AuthScope, level: number): boolean {
    for (const g of this.byScope[scope]) if (g.level >= level) return true;
    return false;
  }
}

export const ADMIN_PERMISSIONS = new Permissions(ADMIN_ROLE, ADMIN_GRANTS);
