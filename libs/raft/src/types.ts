/**
 * The data types of the Raft core: log entries, hard state, membership, snapshots and messages.
 *
 * Node ids are positive integers; `NONE` (0) means "no node". Terms and indexes are non-negative
 * integers kept as JS numbers (exact up to 2^53, far beyond any log this project will write).
 */

export type NodeId = number;

/** "No node": no vote cast, no leader known. */
export const NONE: NodeId = 0;

export enum EntryType {
  /** Application data (or an empty no-op appended by a new leader). */
  Normal = 0,
  /** A membership change, encoded with `encodeConfChange`. */
  ConfChange = 1,
}

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  /** Opaque to the core. Empty for the no-op a new leader appends. */
  readonly data: Uint8Array;
}

/** What must be durable before messages of the same Ready are sent. */
export interface HardState {
  readonly term: number;
  /** Who this node voted for in `term` (NONE if nobody). */
  readonly vote: NodeId;
  readonly commit: number;
}

/** Membership. Single-step changes: one voter or learner added or removed at a time. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMetadata {
  /** The last log index the snapshot covers. */
  readonly index: number;
  /** The term of the entry at `index`. */
  readonly term: number;
  /** Membership as of `index`. */
  readonly confState: ConfState;
}

/**
 * A point-in-time image of the state machine. `data` is opaque to the core; an application whose
 * snapshots are too large for one buffer leaves it empty and streams the bytes out of band (see
 * `snapshot-chunks.ts`), stepping the `Snap` message into the receiver once all chunks arrived.
 */
export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
}

export enum MessageType {
  // Local messages: never sent over the network, produced by the RawNode API.
  Hup = 0,
  Beat = 1,
  Prop = 2,
  SnapStatus = 3,
  Unreachable = 4,
  CheckQuorum = 5,
  // Network messages.
  App = 10,
  AppResp = 11,
  Vote = 12,
  VoteResp = 13,
  PreVote = 14,
  PreVoteResp = 15,
  Heartbeat = 16,
  HeartbeatResp = 17,
  Snap = 18,
  TransferLeader = 19,
  TimeoutNow = 20,
  ReadIndex = 21,
  ReadIndexResp = 22,
}

/**
 * One flat message shape for every type (as etcd's raftpb.Message): fields a type does not use are
 * zero/empty. The core never keeps a reference to a message it was given, and the application may
 * send the messages of a Ready as-is (they are not mutated after being handed out).
 */
export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  /** App: term of the entry at `index`; Vote/PreVote: the candidate's last log term. */
  readonly logTerm: number;
  /** App: index just before `entries`; AppResp: the last index matched (or rejected at);
   *  Vote/PreVote: the candidate's last log index; ReadIndexResp: the read index. */
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  /** AppResp with reject: the follower's hint for where the logs may agree (fast backtracking). */
  readonly rejectHint: number;
  /** AppResp with reject: the follower's term at `rejectHint`. */
  readonly logTermHint: number;
  /** Heartbeat/HeartbeatResp/ReadIndex/ReadIndexResp: the read request context; Vote: "transfer"
   *  when the campaign is a leadership transfer (it then bypasses the leader lease). */
  readonly context: string;
  readonly snapshot: Snapshot | null;
}

export enum Role {
  Follower = 'follower',
  PreCandidate = 'pre-candidate',
  Candidate = 'candidate',
  Leader = 'leader',
}

/** Volatile state worth telling the application about; not persisted. */
export interface SoftState {
  readonly leader: NodeId;
  readonly role: Role;
}

/** The answer to `readIndex(context)`: once `applied >= index`, a read for `context` is linearizable. */
export interface ReadState {
  readonly index: number;
  readonly context: string;
}

/**
 * What the application must do, in this order:
 *  1. persist `snapshot` (if any), then `entries`, then `hardState`, atomically in one write, synced
 *     when `mustSync` is true;
 *  2. send `messages` (after step 1 completed: a vote or an append response must never reach a peer
 *     before what it promises is durable);
 *  3. apply `committedEntries` in order (calling `applyConfChange` for ConfChange entries) and serve
 *     `readStates` once applied;
 *  4. call `advance()`.
 * The arrays belong to the application after `ready()` returns.
 */
export interface Ready {
  readonly softState: SoftState | null;
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | null;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
  readonly mustSync: boolean;
}

export const emptyHardState: HardState = Object.freeze({ term: 0, vote: NONE, commit: 0 });
export const emptyConfState: ConfState = Object.freeze({ voters: [], learners: [] });

/** Builds a message with every unused field zeroed, so that all messages share one hidden class. */
export function message(fields: Partial<Message> & Pick<Message, 'type' | 'to'>): Message {
  return {
    type: fields.type,
    from: fields.from ?? NONE,
    to: fields.to,
    term: fields.term ?? 0,
    logTerm: fields.logTerm ?? 0,
    index: fields.index ?? 0,
    entries: fields.entries ?? NO_ENTRIES,
    commit: fields.commit ?? 0,
    reject: fields.reject ?? false,
    rejectHint: fields.rejectHint ?? 0,
    logTermHint: fields.logTermHint ?? 0,
    context: fields.context ?? '',
    snapshot: fields.snapshot ?? null,
  };
}

export const NO_ENTRIES: readonly Entry[] = Object.freeze([]) as readonly Entry[];

export function isLocalMessage(type: MessageType): boolean {
  return type < MessageType.App;
}

/** Messages a node sends in reply to a request, whose term may be lower than the receiver's. */
export function isResponseMessage(type: MessageType): boolean {
  return (
    type === MessageType.AppResp ||
    type === MessageType.VoteResp ||
    type === MessageType.PreVoteResp ||
    type === MessageType.HeartbeatResp ||
    type === MessageType.ReadIndexResp ||
    type === MessageType.Unreachable ||
    type === MessageType.SnapStatus
  );
}

/** Bytes an entry accounts for in size limits: its payload plus a fixed overhead for the header. */
export const ENTRY_OVERHEAD_BYTES = 24;

export function entrySize(entry: Entry): number {
  return entry.data.length + ENTRY_OVERHEAD_BYTES;
}
