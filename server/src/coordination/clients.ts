/**
 * What the state machine remembers of a client: the outcomes of its last writes, one dedup slot per
 * sequence number modulo DEDUP_SLOTS (`0x15` + client id + `0x00` + slot: `[seq, outcome, t, sid?]`,
 * `t` the leader's clock when the write applied, `sid` the session it was made in), so that a write
 * retried with the same (client id, seq) is answered with its first outcome instead of applying twice.
 *
 * Client ids come and go (every SDK instance picks a fresh one unless told otherwise), so slots of
 * clients that stopped writing are forgotten, or the state would grow with every client that ever
 * connected: the leader proposes `forget` for clients whose newest slot is older than the cluster's
 * client retention and none of whose slots was written in a session still alive (ClientExpiry,
 * server/src/sessions/client-expiry.ts), and the apply checks both again here, from the state alone,
 * so that every replica deletes the same slots. A write retried after its client was forgotten would
 * apply again; the SDK never re-sends a write later than half the retention after first sending it,
 * unless the session it was sent in is still its session — whose slots, then, are kept.
 */
import { HikariError } from '@hikarikeeper/protocol';
import { dedupRange, sessionKey } from './keys';
import type { Overlay } from './overlay';
import { unpack } from './packer';

/** Most client ids in one `forget` entry (each may hold up to DEDUP_SLOTS slots). */
export const FORGET_CLIENTS_MAX = 1_000;

/** `before`: forget a listed client only if every slot of it is older (leader's clock, ms) and none was written in a live session. */
export type ClientsCommand = { k: 'clients'; op: 'forget'; ids: string[]; before: number; t: number };

/**
 * When a slot's write applied (0 for slots written before slots carried it: as old as can be) and the
 * session it was made in (null: none, or not recorded).
 */
export function readSlot(value: Buffer): { t: number; sid: string | null } {
  const fields = unpack<unknown[]>(value);
  const t = fields[2];
  const sid = fields[3];
  return { t: typeof t === 'number' && Number.isFinite(t) ? t : 0, sid: typeof sid === 'string' ? sid : null };
}

/** Deletes the slots of the listed clients whose newest slot is older than `before` and that have no slot of a live session; answers which were forgotten. */
export async function applyClients(o: Overlay, cmd: ClientsCommand): Promise<{ forgotten: string[] }> {
  if (cmd.op !== 'forget') throw HikariError.invalidArgument('op', `unknown clients operation ${String(cmd.op)}`);
  if (!Array.isArray(cmd.ids) || cmd.ids.length === 0 || cmd.ids.length > FORGET_CLIENTS_MAX || !cmd.ids.every((id) => typeof id === 'string' && id.length > 0)) {
    throw HikariError.invalidArgument('ids', `must be 1 to ${FORGET_CLIENTS_MAX} client ids`);
  }
  if (typeof cmd.before !== 'number' || !Number.isFinite(cmd.before)) throw HikariError.invalidArgument('before', 'must be a time in ms');
  const forgotten: string[] = [];
  for (const id of cmd.ids) {
    const { gte, lt } = dedupRange(id);
    const slots = await o.scan(gte, lt);
    if (slots.length === 0) continue;
    const read = slots.map(([, v]) => readSlot(v));
    if (read.some((slot) => slot.t >= cmd.before)) continue;
    if (await anySessionAlive(o, read)) continue;
    for (const [key] of slots) o.del(key);
    forgotten.push(id);
  }
  return { forgotten };
}

/** Whether any of the slots' sessions still exists in the state. */
async function anySessionAlive(o: Overlay, slots: ReadonlyArray<{ sid: string | null }>): Promise<boolean> {
  const seen = new Set<string>();
  for (const { sid } of slots) {
    if (sid === null || seen.has(sid)) continue;
    seen.add(sid);
    if ((await o.get(sessionKey(sid))) !== null) return true;
  }
  return false;
}
