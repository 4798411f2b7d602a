import type { MultiOp, WireError } from '@hikarikeeper/protocol';
import { pack, unpack } from './packer';
import type { LockCommand } from './locks';
import type { AuthCommand } from './auth';
import type { ClientsCommand } from './clients';

/**
 * A replicated command: what one log entry asks the state machine to do. Everything the apply
 * needs is inside it — including the leader's clock (`t`), so that timestamps are the same on
 * every replica. `c`/`s` (client id, sequence number) make a retried write apply once.
 */
export type Command =
  | { k: 'ns'; op: MultiOp; c?: string; s?: number; t: number; sid?: string }
  | { k: 'multi'; ops: MultiOp[]; c?: string; s?: number; t: number; sid?: string }
  | SessionCommand
  | LockCommand
  | AuthCommand
  | ClientsCommand;

/**
 * Session commands, proposed by the leader. `t` is the leader's clock: renewals and extensions
 * record it, and an expiry applies only to sessions whose deadline is at or before it, so that a
 * renewal that raced with the expiry decision wins on every replica alike.
 */
export type SessionCommand =
  /** `o`: the principal that opened it (authentication on): only it (or a cluster admin) may use it by id. */
  | { k: 'session'; op: 'open'; id: string; ttl: number; t: number; o?: string }
  | { k: 'session'; op: 'renew'; ids: string[]; t: number }
  | { k: 'session'; op: 'extend'; ids: string[]; t: number }
  | { k: 'session'; op: 'expire'; ids: string[]; t: number }
  | { k: 'session'; op: 'close'; id: string; t: number };

/** The outcome of applying one command, returned to the waiting client. */
export type Outcome = { ok: true; value: unknown } | { ok: false; error: WireError };

export function encodeCommand(cmd: Command): Buffer {
  return pack(cmd);
}

export function decodeCommand(data: Uint8Array): Command {
  return unpack<Command>(data);
}
