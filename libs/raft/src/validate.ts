import { Entry, EntryType, Message, MessageType, NodeId } from './types';

const NETWORK_TYPES = new Set<number>([
  MessageType.App, MessageType.AppResp, MessageType.Vote, MessageType.VoteResp, MessageType.PreVote,
  MessageType.PreVoteResp, MessageType.Heartbeat, MessageType.HeartbeatResp, MessageType.Snap,
  MessageType.TransferLeader, MessageType.TimeoutNow, MessageType.ReadIndex, MessageType.ReadIndexResp,
]);

function isIndex(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

function isNodeId(n: unknown): n is NodeId {
  return isIndex(n) && n > 0;
}

/**
 * Checks a message that arrived from the network before the core sees it. Returns a description of
 * the first problem found, or null when the message is well formed. Anything the core would trust
 * (indexes, terms, entry numbering) is checked here, so a malformed message never reaches its state.
 */
export function validateMessage(m: Message, self: NodeId, maxEntries: number): string | null {
  if (m === null || typeof m !== 'object') return 'not an object';
  if (!NETWORK_TYPES.has(m.type)) return `type ${String(m.type)} is not a network message type`;
  if (!isNodeId(m.from)) return `from ${String(m.from)} is not a node id`;
  if (m.to !== self) return `to ${String(m.to)} is not this node (${self})`;
  if (m.from === self) return 'message from this node to itself';
  for (const f of ['term', 'logTerm', 'index', 'commit', 'rejectHint', 'logTermHint'] as const) {
    if (!isIndex(m[f])) return `${f} ${String(m[f])} is not a non-negative integer`;
  }
  if (typeof m.reject !== 'boolean') return 'reject is not a boolean';
  if (typeof m.context !== 'string') return 'context is not a string';
  if (m.type !== MessageType.TransferLeader && m.type !== MessageType.ReadIndex && m.term === 0) {
    return 'term 0 on a network message';
  }
  if (!Array.isArray(m.entries)) return 'entries is not an array';
  if (m.entries.length > maxEntries) return `${m.entries.length} entries is over the limit of ${maxEntries}`;
  if (m.entries.length > 0 && m.type !== MessageType.App) return 'entries on a message that carries none';
  for (let i = 0; i < m.entries.length; i++) {
    const problem = validateEntry(m.entries[i], m.index + 1 + i, i === 0 ? m.logTerm : m.entries[i - 1].term, m.term);
    if (problem) return `entry ${i}: ${problem}`;
  }
  if ((m.type === MessageType.Snap) !== (m.snapshot !== null && m.snapshot !== undefined)) {
    return m.type === MessageType.Snap ? 'Snap without a snapshot' : 'snapshot on a message that carries none';
  }
  if (m.snapshot) {
    const md = m.snapshot.metadata;
    if (!md || !isIndex(md.index) || !isIndex(md.term) || md.index === 0 || md.term === 0) return 'bad snapshot metadata';
    if (md.term > m.term) return 'snapshot term is newer than the message term';
    const cs = md.confState;
    if (!cs || !Array.isArray(cs.voters) || !Array.isArray(cs.learners)) return 'bad snapshot membership';
    if (!cs.voters.every(isNodeId) || !cs.learners.every(isNodeId)) return 'bad snapshot membership ids';
    if (!(m.snapshot.data instanceof Uint8Array)) return 'snapshot data is not bytes';
  }
  return null;
}

function validateEntry(e: Entry, expectedIndex: number, prevTerm: number, msgTerm: number): string | null {
  if (e === null || typeof e !== 'object') return 'not an object';
  if (e.index !== expectedIndex) return `index ${String(e.index)}, expected ${expectedIndex}`;
  if (!isIndex(e.term) || e.term === 0) return `term ${String(e.term)} is not a positive integer`;
  if (e.term < prevTerm) return `term ${e.term} goes back from ${prevTerm}`;
  if (e.term > msgTerm) return `term ${e.term} is newer than the message term ${msgTerm}`;
  if (e.type !== EntryType.Normal && e.type !== EntryType.ConfChange) return `type ${String(e.type)} is unknown`;
  if (!(e.data instanceof Uint8Array)) return 'data is not bytes';
  return null;
}
