/**
 * The access guard: who a connection is (`authenticate`, at `hello`) and whether it may make a
 * request (`authorize`, before the request is dispatched: a refused request changes nothing). Each
 * refusal is counted (metrics) and logged (throttled: a flood of refused requests cannot flood the log).
 *
 * Exists only when authentication is on: with it off, the dispatcher has no guard and pays nothing.
 */
import { ErrorCode, HikariError, ValidatedRequest, clipText } from '@hikarikeeper/protocol';
import { Logger, ThrottledLog } from '../logger';
import { deniedAccess, Denial } from './access-rules';
import { accessLevel, Access, AuthScope } from './grants';
import { PermissionTable, Principal } from './permission-table';
import { hashSecret, sameHash, splitToken } from './tokens';

export interface AuthSettings {
  /** SHA-256 of the bootstrap admin token (configuration), or null. */
  readonly adminTokenHash: Buffer | null;
  /** Client certificate subjects (CN) that are admins by configuration. */
  readonly adminSubjects: ReadonlySet<string>;
}

export interface AuthObserver {
  /** A request refused with PERMISSION_DENIED (scope 'sessions': another principal's session). */
  denied(op: string, scope: AuthScope | 'sessions'): void;
  /** A credential refused (UNAUTHENTICATED); `reason` is one of a few fixed words. */
  unauthenticated(reason: UnauthenticatedReason): void;
}

export type UnauthenticatedReason = 'missing' | 'bad-token' | 'unknown-certificate' | 'revoked' | 'expired';

const REASONS: { readonly [R in UnauthenticatedReason]: string } = {
  missing: 'no token and no client certificate: the cluster has authentication on',
  'bad-token': 'the token is not valid (unknown, revoked or mistyped)',
  'unknown-certificate': 'the client certificate is not bound to a role',
  revoked: 'the credential of this connection was revoked',
  expired: 'the token has expired',
};

export class AccessGuard {
  private readonly log: ThrottledLog;

  constructor(
    readonly table: PermissionTable,
    private readonly settings: AuthSettings,
    private readonly observer: AuthObserver,
    log: Logger,
  ) {
    this.log = new ThrottledLog(log);
  }

  /**
   * The principal for a `hello` (or an admin HTTP request): the token if one is given (a bad token
   * fails even with a certificate), else the client certificate's subject. A token or binding this
   * node does not know yet may have been made a moment ago on the leader: `catchUp` (a linearizable
   * read point) is awaited once before refusing. Throws UNAUTHENTICATED.
   */
  async authenticate(token: string | undefined, certSubject: string | null, remote: string | undefined, catchUp?: () => Promise<unknown>): Promise<Principal> {
    let found = this.find(token, certSubject);
    if (typeof found === 'string' && found !== 'missing' && found !== 'expired' && catchUp !== undefined) {
      try {
        await catchUp();
        found = this.find(token, certSubject);
      } catch {
        // No read point now (no leader): refuse with what this node knows.
      }
    }
    if (typeof found !== 'string') return found;
    const parts = token === undefined ? null : splitToken(token);
    throw this.unauthenticated(found, remote, parts !== null ? `token:${parts.id}` : token === undefined && certSubject !== null ? `cert:${certSubject}` : undefined);
  }

  private find(token: string | undefined, certSubject: string | null): Principal | UnauthenticatedReason {
    if (token !== undefined) {
      const { adminTokenHash } = this.settings;
      if (adminTokenHash !== null && sameHash(hashSecret(token), adminTokenHash)) return new Principal('admin', '');
      const parts = splitToken(token);
      const status = parts === null ? 'invalid' : this.table.checkToken(parts.id, parts.secret);
      return status === 'valid' ? this.fresh(new Principal('token', parts!.id)) : status === 'expired' ? 'expired' : 'bad-token';
    }
    if (certSubject !== null) {
      if (this.settings.adminSubjects.has(certSubject)) return new Principal('admin', '');
      return this.table.hasCert(certSubject) ? this.fresh(new Principal('cert', certSubject)) : 'unknown-certificate';
    }
    return 'missing';
  }

  /** Throws PERMISSION_DENIED (or UNAUTHENTICATED: no principal, or its credential is gone) unless `req` is allowed. */
  authorize(principal: Principal | null, req: ValidatedRequest, remote?: string): void {
    const perms = principal === null ? null : this.table.permissionsOf(principal);
    if (perms === null) throw this.gone(principal, remote);
    const denial = deniedAccess(perms, req);
    if (denial !== null) throw this.deny(principal!, req.op, denial, remote);
  }

  /** The same check for one resource (the admin HTTP API): `access` on `resource` of `scope`. */
  require(principal: Principal | null, what: string, scope: AuthScope, resource: string, access: Access, remote?: string): void {
    const perms = principal === null ? null : this.table.permissionsOf(principal);
    if (perms === null) throw this.gone(principal, remote);
    if (!perms.allows(scope, resource, accessLevel(access))) throw this.deny(principal!, what, { scope, resource, access }, remote);
  }

  /**
   * Using a session by its id (resume, keepalive or close of a detached session): the session's
   * owner, or a cluster admin. A session opened while authentication was off has no owner: any
   * authenticated client may use it. Throws PERMISSION_DENIED.
   */
  requireSessionOwner(principal: Principal | null, owner: string | undefined, op: string, remote?: string): void {
    if (owner === undefined || principal?.name === owner) return;
    const perms = principal === null ? null : this.table.permissionsOf(principal);
    if (perms === null) throw this.gone(principal, remote);
    if (perms.allows('cluster', '', accessLevel('admin'))) return;
    this.observer.denied(op, 'sessions');
    this.log.warn({ op, scope: 'sessions', principal: principal!.name, remote }, 'request denied');
    throw new HikariError(ErrorCode.PERMISSION_DENIED, { op, scope: 'sessions', access: 'write' }, { message: `permission denied: the session belongs to another principal than ${principal!.name}` });
  }

  /** UNAUTHENTICATED for a request whose principal has no permissions: none, expired, or revoked. */
  private gone(principal: Principal | null, remote: string | undefined): HikariError {
    if (principal === null) return this.unauthenticated('missing', remote);
    return this.unauthenticated(this.table.expired(principal) ? 'expired' : 'revoked', remote, principal.name);
  }

  private fresh(p: Principal): Principal {
    this.table.permissionsOf(p);
    return p;
  }

  private deny(principal: Principal, op: string, denial: Denial, remote: string | undefined): HikariError {
    this.observer.denied(op, denial.scope);
    const details = { op, scope: denial.scope, resource: clipText(denial.resource), access: denial.access, principal: principal.name, ...(denial.opIndex === undefined ? {} : { opIndex: denial.opIndex }) };
    this.log.warn({ ...details, remote }, 'request denied');
    const what = denial.resource === '' ? `all of ${denial.scope}` : `${denial.scope} ${clipText(denial.resource)}`;
    return new HikariError(ErrorCode.PERMISSION_DENIED, details, { message: `permission denied: ${principal.name} has no ${denial.access} access to ${what}` });
  }

  private unauthenticated(reason: UnauthenticatedReason, remote: string | undefined, principal?: string): HikariError {
    this.observer.unauthenticated(reason);
    this.log.warn({ reason, remote, ...(principal === undefined ? {} : { principal }) }, 'authentication refused');
    return new HikariError(ErrorCode.UNAUTHENTICATED, { reason }, { message: `not authenticated: ${REASONS[reason]}` });
  }
}
