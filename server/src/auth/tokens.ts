/**
 * Credential tokens. A token is `<id>.<secret>`: the id names it (in listings, logs and `revoke`),
 * the secret proves it. The cluster keeps only SHA-256(secret): a leaked data directory or snapshot
 * gives no usable token. Secrets are random (32 bytes from the OS, base64url, when made by
 * `hikari auth token create`), so a fast hash is enough; a password-like secret is refused by
 * length, not by entropy, so do not make tokens by hand from words.
 *
 * The bootstrap admin token (server configuration) is any token-shaped string of at least
 * SECRET_CHARS_MIN characters; it is compared by hash too, in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { HikariError, TOKEN_PATTERN } from '@hikarikeeper/protocol';

const TOKEN_ID = /^[A-Za-z0-9_-]{1,64}$/;
const SECRET = /^[A-Za-z0-9_-]{32,128}$/;
/** Shortest secret (and bootstrap token) accepted: 32 characters of base64url is 192 bits. */
export const SECRET_CHARS_MIN = 32;

export interface TokenParts {
  readonly id: string;
  readonly secret: string;
}

/**
 * A fresh token: an id of `t` and 12 random characters, 32 random bytes of secret. The id starts
 * with a letter: one that began with `-` (1 in 64 of plain base64url) would read as an option on a
 * command line (`hikari auth token revoke -x…`).
 */
export function generateToken(): TokenParts & { readonly token: string } {
  const id = `t${randomBytes(9).toString('base64url')}`;
  const secret = randomBytes(32).toString('base64url');
  return { id, secret, token: `${id}.${secret}` };
}

/** The id and secret of `token`, or null when it is not `<id>.<secret>`. */
export function splitToken(token: string): TokenParts | null {
  const dot = token.indexOf('.');
  if (dot < 0) return null;
  const id = token.slice(0, dot);
  const secret = token.slice(dot + 1);
  return TOKEN_ID.test(id) && SECRET.test(secret) ? { id, secret } : null;
}

/** Throws INVALID_ARGUMENT unless `id` can name a token. */
export function checkTokenId(id: unknown, field = 'id'): string {
  if (typeof id !== 'string' || !TOKEN_ID.test(id)) throw HikariError.invalidArgument(field, 'must be 1 to 64 characters among A-Z a-z 0-9 _ -');
  return id;
}

/** Throws INVALID_ARGUMENT unless `secret` is 32 to 128 characters of base64url. */
export function checkSecret(secret: unknown, field = 'secret'): string {
  if (typeof secret !== 'string' || !SECRET.test(secret)) {
    throw HikariError.invalidArgument(field, 'must be 32 to 128 characters among A-Z a-z 0-9 _ - (random: `hikari auth token create` makes one)');
  }
  return secret;
}

/** Throws INVALID_ARGUMENT unless `token` can be the bootstrap admin token. */
export function checkBootstrapToken(token: string, field = 'adminToken'): string {
  if (!TOKEN_PATTERN.test(token) || token.length < SECRET_CHARS_MIN) {
    throw HikariError.invalidArgument(field, `must be ${SECRET_CHARS_MIN} to 256 characters among A-Z a-z 0-9 . _ ~ + / = - (e.g. from \`openssl rand -base64 32\`)`);
  }
  return token;
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Constant-time comparison of two hashes (false for different lengths). */
export function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
