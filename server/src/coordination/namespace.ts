import {
  ANY_VERSION, baseName, CheckOp, CHILDREN_PER_NODE_MAX, clipText, CreateOp, DeleteOp, ErrorCode, HikariError, isEphemeralMode, isSequentialMode,
  MultiOp, MultiOpResult, parentOf, ROOT_PATH, sequentialName, SEQUENCE_MAX, SetOp, validatePath,
} from '@hikarikeeper/protocol';
import type { ChangeType } from '@hikarikeeper/protocol';
import { childKey, dataKey, ephemeralKey, lockKey, statKey } from './keys';
import type { SessionRecord } from './sessions';
import { requireSession } from './sessions';
import { decodeRecord, encodeRecord, NodeRecord, ROOT_RECORD, toStat } from './node-record';
import type { Overlay } from './overlay';
import type { TicketEvent } from './lock-rules';
import { checkFence } from './locks';

/** A change to one node, for watches: made by the entry at `index`. */
export interface ChangeRecord {
  readonly index: number;
  /** A node's path, or a lock's name when `scope` is 'lock' (its holders changed). */
  readonly path: string;
  readonly type: ChangeType;
  readonly scope?: 'lock';
}

/**
 * Where and when a command applies (its log index and the leader's clock when it was proposed), the
 * session of the request (for ephemeral nodes), and where the apply records what it changed.
 */
export interface ApplyPoint {
  readonly index: number;
  readonly time: number;
  readonly session?: string;
  readonly changes: ChangeRecord[];
  /** Sessions written by this batch: their latest record, or null once deleted. */
  readonly sessions: Map<string, SessionRecord | null>;
  /** Queued lock tickets granted or dropped, for the requests waiting on them. */
  readonly tickets: TicketEvent[];
}

/** Reads a node's record through the overlay; the root always exists. */
export async function readRecord(o: Overlay, path: string): Promise<NodeRecord | null> {
  const bytes = await o.get(statKey(path));
  if (bytes) return decodeRecord(bytes);
  return path === ROOT_PATH ? { ...ROOT_RECORD } : null;
}

function writeRecord(o: Overlay, path: string, r: NodeRecord): void {
  o.put(statKey(path), encodeRecord(r));
}

function checkVersion(path: string, r: NodeRecord, version: number | undefined): void {
  if (version !== undefined && version !== ANY_VERSION && version !== r.version) throw HikariError.badVersion(path, version);
}

/** The keys an op will read, so a whole batch can be fetched in one call before applying. */
export function keysToPrefetch(op: MultiOp): Buffer[] {
  if (op.op === 'fence') return [lockKey(op.lock)];
  if (op.op === 'create') {
    const parent = parentOf(isSequentialMode(op.mode) ? op.path + '0' : op.path);
    const keys = [statKey(parent ?? ROOT_PATH)];
    if (!isSequentialMode(op.mode)) keys.push(statKey(op.path));
    return keys;
  }
  const parent = parentOf(op.path);
  return parent === null ? [statKey(op.path)] : [statKey(op.path), statKey(parent)];
}

/**
 * Applies one namespace op to the overlay, or throws a HikariError and changes nothing. Checks are
 * all done before the first write, so a failing op never leaves a partial change behind.
 */
export async function applyOp(o: Overlay, op: MultiOp, at: ApplyPoint): Promise<MultiOpResult> {
  switch (op.op) {
    case 'check':
      return check(o, op);
    case 'create':
      return create(o, op, at);
    case 'set':
      return set(o, op, at);
    case 'delete':
      return remove(o, op, at);
    case 'fence':
      await checkFence(o, op.lock, op.token);
      return { op: 'fence' };
  }
}

async function check(o: Overlay, op: CheckOp): Promise<MultiOpResult> {
  const r = await readRecord(o, op.path);
  if (!r) throw HikariError.noNode(op.path);
  checkVersion(op.path, r, op.version);
  return { op: 'check' };
}

async function create(o: Overlay, op: CreateOp, at: ApplyPoint): Promise<MultiOpResult> {
  const owner = isEphemeralMode(op.mode) ? await requireSession(o, at.session) : null;
  if (op.ttlMs !== undefined) {
    throw new HikariError(ErrorCode.INVALID_ARGUMENT, { field: 'ttlMs', reason: 'TTL nodes are not supported yet' });
  }
  const sequential = isSequentialMode(op.mode);
  const parentPath = parentOf(sequential ? op.path + '0' : op.path);
  if (parentPath === null) throw HikariError.nodeExists(ROOT_PATH);
  const parent = await readRecord(o, parentPath);
  if (!parent) throw HikariError.noNode(parentPath);
  if (parent.ephemeralOwner !== null) throw HikariError.noChildrenForEphemerals(parentPath);
  let path = op.path;
  if (sequential) {
    if (parent.sequence > SEQUENCE_MAX) throw HikariError.invalidArgument('path', `the sequence counter of ${parentPath} is exhausted`);
    path = sequentialName(op.path, parent.sequence);
    validatePath(path);
  }
  if (await readRecord(o, path)) throw HikariError.nodeExists(path);
  if (parent.childrenCount >= CHILDREN_PER_NODE_MAX) throw HikariError.tooLarge(`children of ${clipText(parentPath)}`, parent.childrenCount + 1, CHILDREN_PER_NODE_MAX);
  const record: NodeRecord = {
    version: 0, cversion: 0, createdIndex: at.index, modifiedIndex: at.index, childrenCount: 0,
    dataLength: op.data.length, ephemeralOwner: owner, createdAt: at.time, modifiedAt: at.time, sequence: 0,
  };
  writeRecord(o, path, record);
  o.put(dataKey(path), Buffer.from(op.data.buffer, op.data.byteOffset, op.data.byteLength));
  o.put(childKey(parentPath, baseName(path)), Buffer.alloc(0));
  if (owner !== null) o.put(ephemeralKey(owner, path), Buffer.alloc(0));
  parent.childrenCount++;
  parent.cversion++;
  if (sequential) parent.sequence++;
  writeRecord(o, parentPath, parent);
  at.changes.push({ index: at.index, path, type: 'created' });
  return { op: 'create', path, stat: toStat(record) };
}

async function set(o: Overlay, op: SetOp, at: ApplyPoint): Promise<MultiOpResult> {
  const r = await readRecord(o, op.path);
  if (!r) throw HikariError.noNode(op.path);
  checkVersion(op.path, r, op.version);
  r.version++;
  r.modifiedIndex = at.index;
  r.modifiedAt = at.time;
  r.dataLength = op.data.length;
  writeRecord(o, op.path, r);
  o.put(dataKey(op.path), Buffer.from(op.data.buffer, op.data.byteOffset, op.data.byteLength));
  at.changes.push({ index: at.index, path: op.path, type: 'changed' });
  return { op: 'set', stat: toStat(r) };
}

async function remove(o: Overlay, op: DeleteOp, at: ApplyPoint): Promise<MultiOpResult> {
  if (parentOf(op.path) === null) throw HikariError.invalidPath(op.path, 'the root cannot be deleted');
  const r = await readRecord(o, op.path);
  if (!r) throw HikariError.noNode(op.path);
  checkVersion(op.path, r, op.version);
  if (r.childrenCount > 0) throw HikariError.notEmpty(op.path);
  await deleteNode(o, op.path, at);
  return { op: 'delete' };
}

/** Deletes an existing childless node (a checked delete, or an ephemeral node of an ended session). */
export async function deleteNode(o: Overlay, path: string, at: ApplyPoint): Promise<void> {
  const parentPath = parentOf(path);
  const r = await readRecord(o, path);
  if (parentPath === null || !r) return;
  const parent = await readRecord(o, parentPath);
  if (!parent) throw new HikariError(ErrorCode.INTERNAL, { reason: `node ${path} has no parent record` });
  o.del(statKey(path));
  o.del(dataKey(path));
  o.del(childKey(parentPath, baseName(path)));
  if (r.ephemeralOwner !== null) o.del(ephemeralKey(r.ephemeralOwner, path));
  parent.childrenCount--;
  parent.cversion++;
  writeRecord(o, parentPath, parent);
  at.changes.push({ index: at.index, path, type: 'deleted' });
}
