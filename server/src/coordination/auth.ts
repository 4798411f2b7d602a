/**
 * Authentication records in the replicated state (key 0x1D, see keys.ts): roles (their grants),
 * tokens (SHA-256 of the secret and the role) and certificate bindings (a client certificate's
 * subject and the role). They change only through the log, by admin commands, so every node has the
 * same ones; they are in the state range, so snapshots carry them. Each node keeps an in-memory
 * table built from them (server/src/auth/permission-table.ts), told of every change this module applies.
 *
 * Deterministic: commands carry everything (the leader's clock `t`, the hash — never a secret), and
 * are checked again here with the same pure rules the admin API used.
 */
import { HikariError } from '@hikarikeeper/protocol';
import {
  ADMIN_ROLE, CERT_BINDINGS_MAX, checkCertSubject, checkGrants, checkNote, checkRoleName, Grant, ROLES_MAX, TOKENS_MAX,
} from '../auth/grants';
import { checkTokenId } from '../auth/tokens';
import { authKey, authKeyOf, AuthRecordKind, authRange } from './keys';
import type { Overlay } from './overlay';
import type { StateReader } from './state-store';
import { pack, unpack } from './packer';

export type AuthCommand =
  | { k: 'auth'; op: 'role.set'; name: string; grants: Grant[]; t: number }
  | { k: 'auth'; op: 'role.delete'; name: string; t: number }
  | { k: 'auth'; op: 'token.create'; id: string; hash: Uint8Array; role: string; note: string; t: number; expiresAt?: number | null }
  | { k: 'auth'; op: 'token.rotate'; id: string; hash: Uint8Array; t: number; expiresAt?: number | null }
  | { k: 'auth'; op: 'token.revoke'; id: string; t: number }
  | { k: 'auth'; op: 'cert.set'; subject: string; role: string; note: string; t: number }
  | { k: 'auth'; op: 'cert.delete'; subject: string; t: number };

export interface RoleRecord {
  readonly grants: readonly Grant[];
  readonly updatedAt: number;
}
export interface TokenRecord {
  readonly hash: Buffer;
  readonly role: string;
  readonly createdAt: number;
  readonly note: string;
  /** When it stops being accepted (ms since the epoch, by each node's clock), or null: never. */
  readonly expiresAt: number | null;
}
export interface CertRecord {
  readonly role: string;
  readonly createdAt: number;
  readonly note: string;
}

/** One record written by an applied auth command (null: deleted), for the in-memory tables. */
export type AuthChange =
  | { readonly kind: 'role'; readonly name: string; readonly record: RoleRecord | null }
  | { readonly kind: 'token'; readonly name: string; readonly record: TokenRecord | null }
  | { readonly kind: 'cert'; readonly name: string; readonly record: CertRecord | null };

const SHA256_BYTES = 32;

export function encodeRole(r: RoleRecord): Buffer {
  return pack([r.grants.map((g) => [g.scope, g.access, g.prefix]), r.updatedAt]);
}
export function decodeRole(bytes: Uint8Array): RoleRecord {
  const [grants, updatedAt] = unpack<[Array<[Grant['scope'], Grant['access'], string]>, number]>(bytes);
  return { grants: grants.map(([scope, access, prefix]) => ({ scope, access, prefix })), updatedAt };
}
/** A token without expiry keeps the 4-field record of the versions before expiry existed. */
export function encodeToken(r: TokenRecord): Buffer {
  return pack(r.expiresAt === null ? [r.hash, r.role, r.createdAt, r.note] : [r.hash, r.role, r.createdAt, r.note, r.expiresAt]);
}
export function decodeToken(bytes: Uint8Array): TokenRecord {
  const [hash, role, createdAt, note, expiresAt] = unpack<[Uint8Array, string, number, string, number?]>(bytes);
  return { hash: Buffer.from(hash), role, createdAt, note, expiresAt: expiresAt ?? null };
}

/** Is `r` expired at `now`? */
export function tokenExpired(r: TokenRecord, now: number): boolean {
  return r.expiresAt !== null && now >= r.expiresAt;
}
export function encodeCert(r: CertRecord): Buffer {
  return pack([r.role, r.createdAt, r.note]);
}
export function decodeCert(bytes: Uint8Array): CertRecord {
  const [role, createdAt, note] = unpack<[string, number, string]>(bytes);
  return { role, createdAt, note };
}

/** The change a stored auth record stands for (to load the tables at start or after a snapshot). */
export function authChangeOf(kind: AuthRecordKind, name: string, value: Uint8Array): AuthChange {
  switch (kind) {
    case 'role':
      return { kind, name, record: decodeRole(value) };
    case 'token':
      return { kind, name, record: decodeToken(value) };
    case 'cert':
      return { kind, name, record: decodeCert(value) };
  }
}

/**
 * Applies one auth command to `o`; `changes` receives what it wrote. Throws INVALID_ARGUMENT (or
 * TOO_LARGE past a limit) and then writes nothing. Idempotent where a retry could repeat it: setting
 * a role or binding again replaces it, creating a token again with the same hash and role is a
 * no-op, deleting what is gone answers `existed: false`.
 */
export async function applyAuth(o: Overlay, cmd: AuthCommand, changes: AuthChange[]): Promise<{ existed: boolean }> {
  switch (cmd.op) {
    case 'role.set': {
      const name = mutableRole(cmd.name);
      const grants = checkGrants(cmd.grants);
      const existed = (await o.get(authKey('role', name))) !== null;
      if (!existed) await checkCount(o, 'role', ROLES_MAX, 'roles');
      const record: RoleRecord = { grants, updatedAt: cmd.t };
      o.put(authKey('role', name), encodeRole(record));
      changes.push({ kind: 'role', name, record });
      return { existed };
    }
    case 'role.delete': {
      const name = mutableRole(cmd.name);
      const key = authKey('role', name);
      if ((await o.get(key)) === null) return { existed: false };
      const users = await roleUsers(o, name);
      if (users.length > 0) throw HikariError.invalidArgument('role', `role ${name} is still given to ${users.slice(0, 3).join(', ')}${users.length > 3 ? ` and ${users.length - 3} more` : ''}: revoke or rebind them first`);
      o.del(key);
      changes.push({ kind: 'role', name, record: null });
      return { existed: true };
    }
    case 'token.create': {
      const id = checkTokenId(cmd.id);
      const hash = checkHash(cmd.hash);
      const expiresAt = checkExpiry(cmd.expiresAt, cmd.t);
      await requireRole(o, cmd.role);
      const record: TokenRecord = { hash, role: cmd.role, createdAt: cmd.t, note: checkNote(cmd.note), expiresAt };
      // Tokens expired by the command's time are deleted first: they free their ids and their room.
      const live = await dropExpiredTokens(o, cmd.t, changes);
      const old = await o.get(authKey('token', id));
      if (old !== null) {
        const was = decodeToken(old);
        if (was.hash.equals(record.hash) && was.role === record.role) return { existed: true };
        throw HikariError.invalidArgument('id', `a token with id ${id} exists already`);
      }
      if (live >= TOKENS_MAX) throw HikariError.tooLarge('tokens', live + 1, TOKENS_MAX);
      o.put(authKey('token', id), encodeToken(record));
      changes.push({ kind: 'token', name: id, record });
      return { existed: false };
    }
    case 'token.rotate': {
      // A new secret (and expiry) for an existing token: its id — the principal `token:<id>`, which
      // owns its sessions — stays, so clients move to the new secret without losing their sessions.
      const id = checkTokenId(cmd.id);
      const hash = checkHash(cmd.hash);
      const expiresAt = checkExpiry(cmd.expiresAt, cmd.t);
      const old = await o.get(authKey('token', id));
      if (old === null) throw HikariError.invalidArgument('id', `there is no token ${id}`);
      const was = decodeToken(old);
      if (was.hash.equals(hash) && was.expiresAt === expiresAt) return { existed: true }; // a retried rotation
      const record: TokenRecord = { ...was, hash, expiresAt };
      o.put(authKey('token', id), encodeToken(record));
      changes.push({ kind: 'token', name: id, record });
      return { existed: true };
    }
    case 'token.revoke':
      return remove(o, 'token', checkTokenId(cmd.id), changes);
    case 'cert.set': {
      const subject = checkCertSubject(cmd.subject);
      await requireRole(o, cmd.role);
      const existed = (await o.get(authKey('cert', subject))) !== null;
      if (!existed) await checkCount(o, 'cert', CERT_BINDINGS_MAX, 'certificate bindings');
      const record: CertRecord = { role: cmd.role, createdAt: cmd.t, note: checkNote(cmd.note) };
      o.put(authKey('cert', subject), encodeCert(record));
      changes.push({ kind: 'cert', name: subject, record });
      return { existed };
    }
    case 'cert.delete':
      return remove(o, 'cert', checkCertSubject(cmd.subject), changes);
  }
}

function checkHash(hash: unknown): Buffer {
  if (!(hash instanceof Uint8Array) || hash.length !== SHA256_BYTES) throw HikariError.invalidArgument('hash', 'must be a SHA-256 digest');
  return Buffer.from(hash);
}

function checkExpiry(expiresAt: unknown, t: number): number | null {
  if (expiresAt === undefined || expiresAt === null) return null;
  if (typeof expiresAt !== 'number' || !Number.isSafeInteger(expiresAt) || expiresAt <= t) throw HikariError.invalidArgument('expiresAt', 'must be a time after the command');
  return expiresAt;
}

function mutableRole(name: unknown): string {
  const role = checkRoleName(name, 'name');
  if (role === ADMIN_ROLE) throw HikariError.invalidArgument('name', `${ADMIN_ROLE} is built in: it cannot be changed or deleted`);
  return role;
}

async function requireRole(o: Overlay, role: unknown): Promise<void> {
  const name = checkRoleName(role);
  if (name !== ADMIN_ROLE && (await o.get(authKey('role', name))) === null) throw HikariError.invalidArgument('role', `there is no role ${name}`);
}

async function remove(o: Overlay, kind: 'token' | 'cert', name: string, changes: AuthChange[]): Promise<{ existed: boolean }> {
  const key = authKey(kind, name);
  if ((await o.get(key)) === null) return { existed: false };
  o.del(key);
  changes.push({ kind, name, record: null });
  return { existed: true };
}

/** Deletes the tokens expired at `now` (the command's time: every node deletes the same ones); returns how many are left. */
async function dropExpiredTokens(o: Overlay, now: number, changes: AuthChange[]): Promise<number> {
  const range = authRange('token');
  let live = 0;
  for (const [key, value] of await o.scan(range.gte, range.lt)) {
    if (!tokenExpired(decodeToken(value), now)) {
      live++;
      continue;
    }
    o.del(key);
    changes.push({ kind: 'token', name: authKeyOf(key)!.name, record: null });
  }
  return live;
}

async function checkCount(o: Overlay, kind: AuthRecordKind, max: number, what: string): Promise<void> {
  const range = authRange(kind);
  const count = (await o.scan(range.gte, range.lt)).length;
  if (count >= max) throw HikariError.tooLarge(what, count + 1, max);
}

/** The tokens and certificate bindings given `role` ('token <id>', 'certificate <subject>'). */
async function roleUsers(o: Overlay, role: string): Promise<string[]> {
  const users: string[] = [];
  for (const kind of ['token', 'cert'] as const) {
    const range = authRange(kind);
    for (const [key, value] of await o.scan(range.gte, range.lt)) {
      const holder = kind === 'token' ? decodeToken(value).role : decodeCert(value).role;
      if (holder === role) users.push(`${kind === 'token' ? 'token' : 'certificate'} ${key.subarray(2).toString('utf8')}`);
    }
  }
  return users;
}

/** Every stored auth record, as changes (to fill the in-memory table at start or after a snapshot). */
export async function loadAuthRecords(reader: StateReader): Promise<AuthChange[]> {
  const out: AuthChange[] = [];
  const range = authRange();
  for await (const [key, value] of reader.iterate({ gte: range.gte, lt: range.lt })) {
    const at = authKeyOf(key);
    if (at !== null) out.push(authChangeOf(at.kind, at.name, value));
  }
  return out;
}
