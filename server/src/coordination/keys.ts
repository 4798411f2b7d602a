/**
 * The state machine's part of the key space (prefixes 0x10-0x1F; the Raft storage owns 0x00-0x0F,
 * see server/src/storage/keys.ts). Paths never contain 0x00, which separates a parent from a child
 * name in the children index, so that "/a"'s children sort apart from "/ab"'s.
 *
 * | prefix | key                                   | value                                       |
 * |--------|---------------------------------------|---------------------------------------------|
 * | 0x10   | 0x10 + path                           | node stat record (msgpack array, small)     |
 * | 0x11   | 0x11 + parent path + 0x00 + name      | empty: the children index                   |
 * | 0x14   | 0x14 + path                           | node data (kept apart: a parent's stat      |
 * |        |                                       | changes with every child, its data does not)|
 * | 0x15   | 0x15 + client id + 0x00 + slot (u16)  | dedup slot: [seq, outcome, t] of a write    |
 * | 0x16   | 0x16                                  | applied position: [index, term]             |
 * | 0x17   | 0x17                                  | membership as of the applied index          |
 * | 0x18   | 0x18 + node id (u32)                  | a member's addresses: [peer, client]        |
 * | 0x12   | 0x12 + session id                     | session: [timeoutMs, renewedAt, extendedAt] |
 * | 0x19   | 0x19 + session id + 0x00 + path       | empty: the ephemeral nodes of a session     |
 * | 0x1A   | 0x1A + lock name                      | lock record: [permits, holders, waiters]    |
 * | 0x1B   | 0x1B + session id + 0x00 + lock name  | empty: the locks a session holds or awaits  |
 * | 0x1C   | 0x1C                                  | the last fencing token handed out           |
 * | 0x1D   | 0x1D + 'r' + role name                | auth role: its grants                       |
 * |        | 0x1D + 't' + token id                 | auth token: [SHA-256 of secret, role, ...]  |
 * |        | 0x1D + 'c' + certificate subject      | auth certificate binding: [role, ...]       |
 *
 * Everything in [0x10, 0x20) is the state machine, and it is self-describing: one consistent scan of
 * that range (with the applied position and membership inside it) is a complete snapshot.
 * [0x30, 0x31) holds a snapshot being received (staged apart until it is installed).
 */
export const StateKey = {
  Stat: 0x10,
  Children: 0x11,
  Data: 0x14,
  Dedup: 0x15,
  AppliedPosition: 0x16,
  Membership: 0x17,
  MemberAddress: 0x18,
  Session: 0x12,
  SessionEphemeral: 0x19,
  Lock: 0x1a,
  SessionLock: 0x1b,
  FenceCounter: 0x1c,
  Auth: 0x1d,
} as const;

export const lockKey = (name: string): Buffer => prefixed(StateKey.Lock, name);
export const fenceCounterKey = Buffer.from([StateKey.FenceCounter]);
export const sessionLockKey = (session: string, name: string): Buffer => prefixed(StateKey.SessionLock, `${session}\u0000${name}`);
export function sessionLockRange(session: string): { gte: Buffer; lt: Buffer } {
  return { gte: prefixed(StateKey.SessionLock, `${session}\u0000`), lt: prefixed(StateKey.SessionLock, `${session}\u0001`) };
}
export function sessionLockNameOf(session: string, key: Buffer): string {
  return key.subarray(1 + Buffer.byteLength(session, 'utf8') + 1).toString('utf8');
}

/** The kinds of auth records, by their second key byte. */
export type AuthRecordKind = 'role' | 'token' | 'cert';
const AUTH_KIND_BYTE: { readonly [K in AuthRecordKind]: string } = { role: 'r', token: 't', cert: 'c' };
export const authKey = (kind: AuthRecordKind, name: string): Buffer => prefixed(StateKey.Auth, `${AUTH_KIND_BYTE[kind]}${name}`);
export function authRange(kind?: AuthRecordKind): { gte: Buffer; lt: Buffer } {
  if (kind === undefined) return { gte: Buffer.from([StateKey.Auth]), lt: Buffer.from([StateKey.Auth + 1]) };
  const head = AUTH_KIND_BYTE[kind].charCodeAt(0);
  return { gte: Buffer.from([StateKey.Auth, head]), lt: Buffer.from([StateKey.Auth, head + 1]) };
}
/** The kind and name of an auth record key, or null for a key of an unknown kind. */
export function authKeyOf(key: Uint8Array): { kind: AuthRecordKind; name: string } | null {
  const kind = key[1] === 0x72 ? 'role' : key[1] === 0x74 ? 'token' : key[1] === 0x63 ? 'cert' : null;
  return kind === null ? null : { kind, name: Buffer.from(key.buffer, key.byteOffset + 2, key.byteLength - 2).toString('utf8') };
}

export const sessionKey = (id: string): Buffer => prefixed(StateKey.Session, id);
export const SESSION_RANGE = { gte: Buffer.from([StateKey.Session]), lt: Buffer.from([StateKey.Session + 1]) } as const;
export const sessionIdOf = (key: Buffer): string => key.subarray(1).toString('utf8');
export const ephemeralKey = (session: string, path: string): Buffer => prefixed(StateKey.SessionEphemeral, `${session}\u0000${path}`);
export function ephemeralRange(session: string): { gte: Buffer; lt: Buffer } {
  return { gte: prefixed(StateKey.SessionEphemeral, `${session}\u0000`), lt: prefixed(StateKey.SessionEphemeral, `${session}\u0001`) };
}
export function ephemeralPathOf(session: string, key: Buffer): string {
  return key.subarray(1 + Buffer.byteLength(session, 'utf8') + 1).toString('utf8');
}

export function memberAddressKey(id: number): Buffer {
  const key = Buffer.allocUnsafe(5);
  key[0] = StateKey.MemberAddress;
  key.writeUInt32BE(id, 1);
  return key;
}

export const MEMBER_ADDRESS_RANGE = { gte: Buffer.from([StateKey.MemberAddress]), lt: Buffer.from([StateKey.MemberAddress + 1]) } as const;

export const STATE_RANGE = { gte: Buffer.from([0x10]), lt: Buffer.from([0x20]) } as const;
export const STAGING_PREFIX = 0x30;
export const STAGING_RANGE = { gte: Buffer.from([STAGING_PREFIX]), lt: Buffer.from([STAGING_PREFIX + 1]) } as const;
export const appliedPositionKey = Buffer.from([StateKey.AppliedPosition]);
export const membershipKey = Buffer.from([StateKey.Membership]);

function prefixed(prefix: number, text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  const key = Buffer.allocUnsafe(1 + body.length);
  key[0] = prefix;
  body.copy(key, 1);
  return key;
}

export const statKey = (path: string): Buffer => prefixed(StateKey.Stat, path);
export const dataKey = (path: string): Buffer => prefixed(StateKey.Data, path);

/** The children index key of `name` under `parent`. */
export function childKey(parent: string, name: string): Buffer {
  return prefixed(StateKey.Children, `${parent}\u0000${name}`);
}

/** The key range holding every child of `parent`, in name order. */
export function childrenRange(parent: string): { gte: Buffer; lt: Buffer } {
  return { gte: prefixed(StateKey.Children, `${parent}\u0000`), lt: prefixed(StateKey.Children, `${parent}\u0001`) };
}

/** The child name encoded in a children index key under `parent`. */
export function childNameOf(parent: string, key: Buffer): string {
  return key.subarray(1 + Buffer.byteLength(parent, 'utf8') + 1).toString('utf8');
}

/** Every dedup slot of every client. */
export const DEDUP_RANGE = { gte: Buffer.from([StateKey.Dedup]), lt: Buffer.from([StateKey.Dedup + 1]) } as const;

/** The key range of one client's dedup slots. */
export function dedupRange(clientId: string): { gte: Buffer; lt: Buffer } {
  return { gte: prefixed(StateKey.Dedup, `${clientId}\u0000`), lt: prefixed(StateKey.Dedup, `${clientId}\u0001`) };
}

/** The client id of a dedup slot key. */
export const dedupClientOf = (key: Buffer): string => key.subarray(1, key.length - 3).toString('utf8');

export function dedupKey(clientId: string, slot: number): Buffer {
  const body = Buffer.from(clientId, 'utf8');
  const key = Buffer.allocUnsafe(1 + body.length + 1 + 2);
  key[0] = StateKey.Dedup;
  body.copy(key, 1);
  key[1 + body.length] = 0;
  key.writeUInt16BE(slot, 2 + body.length);
  return key;
}
