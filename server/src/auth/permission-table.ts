/**
 * The auth records of the replicated state, in memory: roles compiled into Permissions, tokens by
 * id, certificate bindings by subject. Built at start (and after a snapshot) from the stored
 * records, then kept current with the changes of every applied batch, so that a request's check is
 * a few map lookups at most — usually none: a connection's Principal caches its permissions until
 * the table's generation moves (any auth change).
 *
 * Token expiry is checked against this node's clock (`now`) on every check, cached or not: a token
 * stops working at its `expiresAt` on each node by that node's clock (skew between the nodes' clocks
 * moves it by as much), with no command needed.
 */
import { AuthChange, CertRecord, RoleRecord, TokenRecord, tokenExpired } from '../coordination/auth';
import { ADMIN_GRANTS, ADMIN_PERMISSIONS, ADMIN_ROLE, Grant, Permissions } from './grants';
import { hashSecret, sameHash } from './tokens';

export type PrincipalKind = 'admin' | 'token' | 'cert';

/**
 * Who a connection (or an admin HTTP request) is: the bootstrap admin, a token or a bound client
 * certificate. `name` is what logs and `hello` show: `admin`, `token:<id>`, `cert:<subject>`.
 */
export class Principal {
  /** Permissions as of `generation`; null when the credential no longer exists (revoked, unbound). */
  perms: Permissions | null = null;
  generation = -1;
  /** When the credential expires (a token made with a time to live), as of `generation`; null: never. */
  expiresAt: number | null = null;
  readonly name: string;

  constructor(readonly kind: PrincipalKind, readonly id: string) {
    this.name = kind === 'admin' ? 'admin' : `${kind}:${id}`;
  }
}

/** What `list()` shows (never a hash). */
export interface AuthListing {
  roles: Array<{ name: string; builtIn: boolean; grants: readonly Grant[]; updatedAt: number | null }>;
  tokens: Array<{ id: string; role: string; note: string; createdAt: number; expiresAt: number | null; expired: boolean }>;
  certs: Array<{ subject: string; role: string; note: string; createdAt: number }>;
}

export class PermissionTable {
  private readonly roles = new Map<string, { record: RoleRecord; perms: Permissions }>();
  private readonly tokens = new Map<string, TokenRecord>();
  private readonly certs = new Map<string, CertRecord>();
  private gen = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Moves with every change: a Principal whose generation differs looks its permissions up again. */
  get generation(): number {
    return this.gen;
  }

  /** Replaces everything with `changes` (the stored records, at start or after a snapshot). */
  reset(changes: Iterable<AuthChange>): void {
    this.roles.clear();
    this.tokens.clear();
    this.certs.clear();
    this.apply(changes);
  }

  /** Applies the records written by an applied batch, in order. */
  apply(changes: Iterable<AuthChange>): void {
    for (const c of changes) {
      if (c.kind === 'role') {
        if (c.record === null) this.roles.delete(c.name);
        else this.roles.set(c.name, { record: c.record, perms: new Permissions(c.name, c.record.grants) });
      } else if (c.kind === 'token') {
        if (c.record === null) this.tokens.delete(c.name);
        else this.tokens.set(c.name, c.record);
      } else if (c.record === null) {
        this.certs.delete(c.name);
      } else {
        this.certs.set(c.name, c.record);
      }
    }
    this.gen++;
  }

  /**
   * Whether token `id` exists and `secret` is its secret (constant-time comparison of the hashes):
   * `valid`, `expired` (the right secret of a token past its expiry), or `invalid` (unknown, or not its secret).
   */
  checkToken(id: string, secret: string): 'valid' | 'expired' | 'invalid' {
    const record = this.tokens.get(id);
    if (record === undefined || !sameHash(hashSecret(secret), record.hash)) return 'invalid';
    return tokenExpired(record, this.now()) ? 'expired' : 'valid';
  }

  hasCert(subject: string): boolean {
    return this.certs.has(subject);
  }

  /** The principal's permissions now (cached on it until the next change); null when its credential is gone or expired. */
  permissionsOf(p: Principal): Permissions | null {
    if (p.generation !== this.gen) {
      p.expiresAt = p.kind === 'token' ? (this.tokens.get(p.id)?.expiresAt ?? null) : null;
      p.perms = this.lookup(p);
      p.generation = this.gen;
    }
    return this.expired(p) ? null : p.perms;
  }

  /** Has the principal's credential expired (as of its last lookup)? */
  expired(p: Principal): boolean {
    return p.expiresAt !== null && this.now() >= p.expiresAt;
  }

  private lookup(p: Principal): Permissions | null {
    if (p.kind === 'admin') return ADMIN_PERMISSIONS;
    const role = p.kind === 'token' ? this.tokens.get(p.id)?.role : this.certs.get(p.id)?.role;
    if (role === undefined) return null;
    if (role === ADMIN_ROLE) return ADMIN_PERMISSIONS;
    // A role deleted under a binding cannot happen (the state machine refuses it); if it did, nothing is granted.
    return this.roles.get(role)?.perms ?? new Permissions(role, []);
  }

  list(): AuthListing {
    const now = this.now();
    return {
      roles: [
        { name: ADMIN_ROLE, builtIn: true, grants: ADMIN_GRANTS, updatedAt: null },
        ...[...this.roles].sort(byKey).map(([name, r]) => ({ name, builtIn: false, grants: r.record.grants, updatedAt: r.record.updatedAt })),
      ],
      tokens: [...this.tokens].sort(byKey).map(([id, t]) => ({ id, role: t.role, note: t.note, createdAt: t.createdAt, expiresAt: t.expiresAt, expired: tokenExpired(t, now) })),
      certs: [...this.certs].sort(byKey).map(([subject, c]) => ({ subject, role: c.role, note: c.note, createdAt: c.createdAt })),
    };
  }
}

function byKey(a: [string, unknown], b: [string, unknown]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}
