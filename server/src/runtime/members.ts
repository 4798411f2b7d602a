import { NodeId } from '@hikarikeeper/raft';
import { HikariError } from '@hikarikeeper/protocol';

/** Where a member listens: the peer port (Raft) and the client port (SDK). */
export interface MemberAddress {
  readonly id: NodeId;
  readonly peer: string;
  readonly client: string;
}

/** A member's addresses travel in the context of its ConfChange entry, as JSON. */
export function encodeMemberContext(m: MemberAddress): string {
  return JSON.stringify({ peer: m.peer, client: m.client });
}

export function decodeMemberContext(id: NodeId, context: string): MemberAddress | null {
  if (context === '') return null;
  try {
    const o = JSON.parse(context) as { peer?: unknown; client?: unknown };
    if (typeof o.peer !== 'string' || typeof o.client !== 'string') return null;
    return { id, peer: o.peer, client: o.client };
  } catch {
    return null;
  }
}

/** Splits 'host:port' (IPv6 in brackets allowed); throws INVALID_ARGUMENT on anything else. */
export function parseHostPort(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) throw HikariError.invalidArgument('address', `'${address}' is not host:port`);
  return { host: m[1] ?? m[2], port };
}
