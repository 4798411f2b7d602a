/**
 * Operations on the node namespace: create, get, set, delete, exists, children, sync. (`multi`,
 * which combines them atomically, is in multi.ts.)
 *
 * Reads are linearizable unless `stale: true`, which lets a follower answer from its own state
 * (faster, possibly behind). Writes may carry `seq`, see WriteArgs.
 */
import { ArgReader, RequestLimits } from '../args';
import { HikariError } from '../errors';
import { CHILDREN_PAGE_MAX, NODE_TTL_MS_MAX } from '../limits';
import { ROOT_PATH } from '../path';

/** Metadata of a node. Indexes are Raft log indexes; times are ms since the epoch, taken by the leader. */
export interface Stat {
  /** Data version: 0 at create, +1 on every `set`. Conditions (`version`) compare against it. */
  version: number;
  /** Children version: +1 on every create or delete of a child. */
  cversion: number;
  /** Log index of the create (ZooKeeper's czxid). */
  createdIndex: number;
  /** Log index of the last data change (ZooKeeper's mzxid). */
  modifiedIndex: number;
  childrenCount: number;
  dataLength: number;
  /** The owning session of an ephemeral node; null for a persistent node. */
  ephemeralOwner: string | null;
  createdAt: number;
  modifiedAt: number;
}

/**
 * Fields every write may carry. With the client id established by `hello`, (client id, `seq`)
 * names one write: the state machine applies it once, and answers a retry (after a TIMEOUT or a
 * CONNECTION_LOSS) with the first outcome. The SDK increments `seq` for every new write.
 */
export interface WriteArgs {
  seq?: number;
}

/** Version conditions: a `version` of -1 (or none) matches any version. */
export const ANY_VERSION = -1;

export type CreateMode = 'persistent' | 'persistent_sequential' | 'ephemeral' | 'ephemeral_sequential';
export const CREATE_MODES: readonly CreateMode[] = [
  'persistent',
  'persistent_sequential',
  'ephemeral',
  'ephemeral_sequential',
];
export const isSequentialMode = (mode: CreateMode): boolean => mode.endsWith('_sequential');
export const isEphemeralMode = (mode: CreateMode): boolean => mode.startsWith('ephemeral');

export interface CreateFields {
  /** For a sequential mode, the prefix that the counter is appended to. */
  path: string;
  data: Uint8Array;
  mode: CreateMode;
  /** Persistent modes only: the node is deleted once it has had no child and no change for this long. */
  ttlMs?: number;
}
export interface CreateArgs extends CreateFields, WriteArgs {}
/** `path` is the created node's actual path (with the counter, for a sequential mode). */
export interface CreateResult {
  path: string;
  stat: Stat;
}

export interface GetArgs {
  path: string;
  stale?: boolean;
}
export interface GetResult {
  data: Uint8Array;
  stat: Stat;
}

export interface SetFields {
  path: string;
  data: Uint8Array;
  version?: number;
}
export interface SetArgs extends SetFields, WriteArgs {}
export interface SetResult {
  stat: Stat;
}

export interface DeleteFields {
  path: string;
  version?: number;
}
export interface DeleteArgs extends DeleteFields, WriteArgs {}
export type DeleteResult = Record<string, never>;

export interface ExistsArgs {
  path: string;
  stale?: boolean;
}
/** null when the node does not exist (not an error: checking is the point). */
export type ExistsResult = { stat: Stat } | null;

/** One page of children, sorted by name (byte order); `after` is the last name of the previous page. */
export interface ChildrenArgs {
  path: string;
  after?: string;
  /** Names per page, 1 to CHILDREN_PAGE_MAX; the server uses CHILDREN_PAGE_DEFAULT when absent. */
  limit?: number;
  stale?: boolean;
  /**
   * Also return each child's data and stat (`children`), read at the same point as the names: a
   * listing of small records in one request. The page then also ends once CHILDREN_DATA_PAGE_BYTES_MAX
   * of data is reached (`more` says so; the first child always fits).
   */
  data?: boolean;
}
export interface ChildData {
  name: string;
  data: Uint8Array;
  stat: Stat;
}
export interface ChildrenResult {
  names: string[];
  /** True when names after the last one returned remain. */
  more: boolean;
  stat: Stat;
  /** With `data: true`: every child of `names`, in the same order. */
  children?: ChildData[];
}

/** Waits until this node has applied everything committed when the sync arrived. */
export type SyncArgs = Record<string, never>;
/** `index`: the log index this node had applied; a later stale read here sees at least that much. */
export interface SyncResult {
  index: number;
}

// Field readers, shared with multi.ts.

export const readVersion = (r: ArgReader, key = 'version'): number | undefined =>
  r.optional(key, (k) => r.integer(k, ANY_VERSION, Number.MAX_SAFE_INTEGER));

export const CREATE_FIELDS = ['path', 'data', 'mode', 'ttlMs'] as const;
export function readCreate(r: ArgReader, limits: RequestLimits): CreateFields {
  const mode = r.oneOf('mode', CREATE_MODES);
  const path = isSequentialMode(mode) ? r.sequentialPath('path') : r.path('path');
  const data = r.bytes('data', limits.dataBytesMax);
  const ttlMs = r.optional('ttlMs', (k) => r.integer(k, 1, NODE_TTL_MS_MAX));
  if (ttlMs !== undefined && isEphemeralMode(mode)) {
    throw r.invalid('ttlMs', 'only persistent nodes take a TTL (an ephemeral node lives as long as its session)');
  }
  return { path, data, mode, ttlMs };
}

export const SET_FIELDS = ['path', 'data', 'version'] as const;
export function readSet(r: ArgReader, limits: RequestLimits): SetFields {
  return { path: r.path('path'), data: r.bytes('data', limits.dataBytesMax), version: readVersion(r) };
}

export const DELETE_FIELDS = ['path', 'version'] as const;
export function readDelete(r: ArgReader): DeleteFields {
  const path = r.path('path');
  if (path === ROOT_PATH) throw HikariError.invalidPath(path, 'the root cannot be deleted', r.field('path'));
  return { path, version: readVersion(r) };
}

export const readSeq = (r: ArgReader): number | undefined =>
  r.optional('seq', (k) => r.integer(k, 0, Number.MAX_SAFE_INTEGER));

export function validateCreate(args: unknown, limits: RequestLimits): CreateArgs {
  const r = ArgReader.of(args, [...CREATE_FIELDS, 'seq']);
  return { ...readCreate(r, limits), seq: readSeq(r) };
}

export function validateSet(args: unknown, limits: RequestLimits): SetArgs {
  const r = ArgReader.of(args, [...SET_FIELDS, 'seq']);
  return { ...readSet(r, limits), seq: readSeq(r) };
}

export function validateDelete(args: unknown): DeleteArgs {
  const r = ArgReader.of(args, [...DELETE_FIELDS, 'seq']);
  return { ...readDelete(r), seq: readSeq(r) };
}

export function validateGet(args: unknown): GetArgs {
  const r = ArgReader.of(args, ['path', 'stale']);
  return { path: r.path('path'), stale: r.optional('stale', r.boolean) };
}

export function validateExists(args: unknown): ExistsArgs {
  const r = ArgReader.of(args, ['path', 'stale']);
  return { path: r.path('path'), stale: r.optional('stale', r.boolean) };
}

export function validateChildren(args: unknown): ChildrenArgs {
  const r = ArgReader.of(args, ['path', 'after', 'limit', 'stale', 'data']);
  const out: ChildrenArgs = {
    path: r.path('path'),
    after: r.optional('after', r.nodeName),
    limit: r.optional('limit', (k) => r.integer(k, 1, CHILDREN_PAGE_MAX)),
    stale: r.optional('stale', r.boolean),
  };
  const data = r.optional('data', r.boolean);
  if (data !== undefined) out.data = data;
  return out;
}

export function validateSync(args: unknown): SyncArgs {
  ArgReader.of(args, []);
  return {};
}
