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
import { dedupClientOf, dedupRange, DEDUP_RANGE, sessionKey, StateKey } from './keys';
import type { Overlay } from './overlay';
import { pack, unpack } from './packer';
import type { StateReader } from './state-store';

/**
 * Results remembered per client for deduplication: a ring of this many slots, indexed by sequence
 * number. A client must keep fewer writes than this in flight (the SDK does), so that a retry always
 * finds its first outcome.
 */
export const DEDUP_SLOTS = 256;

/**
 * A client's dedup slot that misses the cache brings this many of its next slots along (state-cache.ts,
 * Read-ahead): its next writes use them, and on a young client they are absent — which the cache
 * then knows — so that a client's first DEDUP_SLOTS writes cost a read every this many, not each.
 */
export const DEDUP_READ_AHEAD = 32;

/** The read-ahead of a state key (latin1) that missed the cache: a dedup slot's next slots. */
export function dedupReadAhead(missed: string): string[] | null {
  if (missed.charCodeAt(0) !== StateKey.Dedup || missed.length < 4) return null;
  const prefix = missed.slice(0, -2); // 0x15 + client id + 0x00
  const slot = (missed.charCodeAt(missed.length - 2) << 8) | missed.charCodeAt(missed.length - 1);
  const out: string[] = new Array(DEDUP_READ_AHEAD);
  for (let j = 1; j <= DEDUP_READ_AHEAD; j++) {
    const next = (slot + j) % DEDUP_SLOTS;
    out[j - 1] = prefix + String.fromCharCode(next >> 8, next & 0xff);
  }
  return out;
}

/** A client's dedup slots, as `scanClients` found them. */
export interface ClientSlots {
  readonly id: string;
  slots: number;
  /** When its newest slot's write applied (leader's clock, ms). */
  newest: number;
  /** The sessions its slots' writes were made in (distinct). */
  sessions: string[];
}

/** Most client ids in one `forget` entry (each may hold up to DEDUP_SLOTS slots). */
export const FORGET_CLIENTS_MAX = 1_000;

/** `before`: forget a listed client only if every slot of it is older (leader's clock, ms) and none was written in a live session. */
export type ClientsCommand = { k: 'clients'; op: 'forget'; ids: string[]; before: number; t: number };

/** A dedup slot's value: the write's seq and outcome, when it applied, and the session it was made in. */
export function encodeSlot(seq: number, outcome: unknown, t: number, sid: string | undefined): Buffer {
  return pack(sid === undefined ? [seq, outcome, t] : [seq, outcome, t, sid]);
}

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

/**
 * The clients with dedup slots in `store`, in client id order after `after` (null: from the first),
 * with the time of each one's newest slot and the sessions of its slots: whole clients only, until
 * `keysMax` slots were read. `next` is where the next page starts (null: this page reached the end).
 */
export async function scanClients(store: StateReader, after: string | null, keysMax: number): Promise<{ clients: ClientSlots[]; next: string | null }> {
  const clients: ClientSlots[] = [];
  let current: ClientSlots | null = null;
  let keys = 0;
  const gte = after === null ? DEDUP_RANGE.gte : dedupRange(after).lt;
  for await (const [key, value] of store.iterate({ gte, lt: DEDUP_RANGE.lt })) {
    const id = dedupClientOf(key);
    if (current === null || current.id !== id) {
      if (keys >= keysMax && current !== null) return { clients, next: current.id };
      current = { id, slots: 0, newest: 0, sessions: [] };
      clients.push(current);
    }
    current.slots++;
    const slot = readSlot(value);
    current.newest = Math.max(current.newest, slot.t);
    if (slot.sid !== null && !current.sessions.includes(slot.sid)) current.sessions.push(slot.sid);
    keys++;
  }
  return { clients, next: null };
}
