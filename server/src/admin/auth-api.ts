/**
 * Authentication management on the admin port (cluster `admin` access; writes on the leader, 421
 * NOT_LEADER elsewhere). Every change is a command through the Raft log (see
 * coordination/auth.ts), so every node applies it and snapshots carry it.
 *
 * | request                              | body                              | answer                            |
 * |--------------------------------------|-----------------------------------|-----------------------------------|
 * | `GET /v1/auth`                       |                                   | `{ roles, tokens, certs }` (no hash, no secret) |
 * | `PUT /v1/auth/roles/<name>`          | `{ grants: [{ scope, access, prefix }] }` | `{ role, existed }`      |
 * | `DELETE /v1/auth/roles/<name>`       |                                   | `{ role, existed }`               |
 * | `POST /v1/auth/tokens`               | `{ id, secret, role, note?, ttlMs? }` | `{ id, role, existed, expiresAt }` |
 * | `PUT /v1/auth/tokens/<id>`           | `{ secret, ttlMs? }`              | `{ id, role, expiresAt }` (rotated: same id, role and sessions; new secret and expiry) |
 * | `DELETE /v1/auth/tokens/<id>`        |                                   | `{ id, existed }` (revoked)       |
 * | `PUT /v1/auth/certs/<subject>`       | `{ role, note? }`                 | `{ subject, role, existed }`      |
 * | `DELETE /v1/auth/certs/<subject>`    |                                   | `{ subject, existed }`            |
 *
 * A token's secret is chosen by the caller (`hikari auth token create` draws 32 random bytes), sent
 * once over this port (use TLS), and only its SHA-256 goes into the log: a retry of the same create
 * is then harmless, and nothing in the cluster can give the secret back. `ttlMs` (TOKEN_TTL_MS_MIN
 * to TOKEN_TTL_MS_MAX) makes a token that expires that long after the leader's clock now; without
 * it, a token lasts until revoked.
 */
import type { IncomingMessage } from 'node:http';
import { errorFromWire, HikariError, isPlainObject } from '@hikarikeeper/protocol';
import type { AuthCommand } from '../coordination/auth';
import type { Command, Outcome } from '../coordination/commands';
import { checkCertSubject, checkGrants, checkNote, checkRoleName } from '../auth/grants';
import type { AuthListing } from '../auth/permission-table';
import { checkSecret, checkTokenId, hashSecret } from '../auth/tokens';

/** What the API needs from its node. */
export interface AuthApiSource {
  /** Proposes a command; resolves once it is in effect on this node (a token revoked is refused from the next request). */
  propose(cmd: Command): Promise<Outcome>;
  /** A linearizable read point, once this node has applied up to it. */
  readBarrier(): Promise<number>;
  list(): AuthListing;
  now(): number;
}

export type HttpAnswer = readonly [status: number, body: unknown];

const PREFIX = '/v1/auth';
/** Shortest and longest time to live of a token: 1 s, 10 years. */
export const TOKEN_TTL_MS_MIN = 1_000;
export const TOKEN_TTL_MS_MAX = 10 * 366 * 24 * 3600 * 1000;

export class AuthApi {
  constructor(private readonly source: AuthApiSource) {}

  static handles(path: string): boolean {
    return path === PREFIX || path.startsWith(`${PREFIX}/`);
  }

  /**
   * The answer to a request for `path` (one `handles` accepted); `readBody` reads the JSON body.
   * Throws HikariErrors (INVALID_ARGUMENT, NOT_LEADER, ...), which the admin server answers.
   */
  async handle(req: IncomingMessage, path: string, readBody: (req: IncomingMessage) => Promise<Record<string, unknown>>): Promise<HttpAnswer> {
    const [, kind, encoded, ...rest] = path.slice(PREFIX.length).split('/');
    const method = req.method ?? '';
    if (kind === undefined) {
      if (method !== 'GET') return notAllowed(method, 'GET');
      await this.source.readBarrier();
      return [200, this.source.list()];
    }
    if (rest.length > 0 || (encoded === undefined && kind !== 'tokens')) return [404, { error: { code: 'NOT_FOUND', message: `no route ${method} ${path}` } }];
    const name = encoded === undefined ? undefined : decode(encoded);
    const t = this.source.now();
    switch (`${method} ${kind}${name === undefined ? '' : '/'}`) {
      case 'PUT roles/': {
        const body = await readBody(req);
        const role = checkRoleName(name, 'name');
        const { existed } = await this.apply({ k: 'auth', op: 'role.set', name: role, grants: checkGrants(body.grants), t });
        return [200, { role, existed }];
      }
      case 'DELETE roles/': {
        const role = checkRoleName(name, 'name');
        const { existed } = await this.apply({ k: 'auth', op: 'role.delete', name: role, t });
        return [200, { role, existed }];
      }
      case 'POST tokens': {
        const body = await readBody(req);
        const id = checkTokenId(body.id);
        const role = checkRoleName(body.role);
        const hash = hashSecret(checkSecret(body.secret));
        const expiresAt = body.ttlMs === undefined ? null : t + checkTtl(body.ttlMs);
        const { existed } = await this.apply({ k: 'auth', op: 'token.create', id, hash, role, note: checkNote(body.note ?? ''), t, expiresAt });
        return [existed ? 200 : 201, { id, role, existed, expiresAt }];
      }
      case 'PUT tokens/': {
        const body = await readBody(req);
        const id = checkTokenId(name);
        const hash = hashSecret(checkSecret(body.secret));
        const expiresAt = body.ttlMs === undefined ? null : t + checkTtl(body.ttlMs);
        await this.apply({ k: 'auth', op: 'token.rotate', id, hash, t, expiresAt });
        const role = this.source.list().tokens.find((x) => x.id === id)?.role ?? null;
        return [200, { id, role, expiresAt }];
      }
      case 'DELETE tokens/': {
        const id = checkTokenId(name);
        const { existed } = await this.apply({ k: 'auth', op: 'token.revoke', id, t });
        return [200, { id, existed }];
      }
      case 'PUT certs/': {
        const body = await readBody(req);
        const subject = checkCertSubject(name);
        const role = checkRoleName(body.role);
        const { existed } = await this.apply({ k: 'auth', op: 'cert.set', subject, role, note: checkNote(body.note ?? ''), t });
        return [200, { subject, role, existed }];
      }
      case 'DELETE certs/': {
        const subject = checkCertSubject(name);
        const { existed } = await this.apply({ k: 'auth', op: 'cert.delete', subject, t });
        return [200, { subject, existed }];
      }
      default:
        return [404, { error: { code: 'NOT_FOUND', message: `no route ${method} ${path}` } }];
    }
  }

  private async apply(cmd: AuthCommand): Promise<{ existed: boolean }> {
    const outcome = await this.source.propose(cmd);
    if (!outcome.ok) throw errorFromWire(outcome.error);
    const value = outcome.value;
    return { existed: isPlainObject(value) && value.existed === true };
  }
}

function checkTtl(ttlMs: unknown): number {
  if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs < TOKEN_TTL_MS_MIN || ttlMs > TOKEN_TTL_MS_MAX) {
    throw HikariError.invalidArgument('ttlMs', `must be an integer number of milliseconds in [${TOKEN_TTL_MS_MIN}, ${TOKEN_TTL_MS_MAX}] (1 s to 10 years)`);
  }
  return ttlMs;
}

function notAllowed(method: string, allowed: string): HttpAnswer {
  return [405, { error: { code: 'METHOD_NOT_ALLOWED', message: `${method} is not allowed here; use ${allowed}` } }];
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw HikariError.invalidArgument('path', 'is not a valid URL path segment');
  }
}
