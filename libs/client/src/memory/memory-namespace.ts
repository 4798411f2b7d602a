/**
 * The namespace of a MemoryCluster: nodes with their data and stat, ephemeral owners, sequential
 * names, and the rules of the server's namespace (server/src/coordination/namespace.ts) for the ops
 * of the protocol, applied to plain maps. Arguments arrive validated by the protocol's validators
 * (memory-cluster.ts runs them), as on the server.
 *
 * Every write applies at one index (a log index, on the server); what it changed is appended to the
 * caller's `changes`, which the cluster hands to the watches once the write has applied. A write
 * that fails changes nothing: a `multi` keeps an undo log of the nodes it touched and restores them
 * when one of its ops fails (the server applies to a fork of its state, for the same effect).
 *
 * The root '/' always exists and is not in `nodes` (which callers may read: tests do).
 */
import {
  ANY_VERSION,
  ChangeType,
  ChildrenArgs,
  ChildrenResult,
  CHILDREN_DATA_PAGE_BYTES_MAX,
  CHILDREN_PAGE_DEFAULT,
  CreateMode,
  ErrorCode,
  HikariError,
  isEphemeralMode,
  isSequentialMode,
  MultiOp,
  MultiOpResult,
  parentOf,
  ROOT_PATH,
  sequentialName,
  SEQUENCE_MAX,
  Stat,
  validatePath,
} from '@hikarikeeper/protocol';

export interface MemoryNode {
  data: Buffer;
  stat: Stat;
  /** The next counter of a sequential child. */
  sequence: number;
}

/** What a write changed, for watches: a node (its path), or a lock's holders (`scope` 'lock', its name). */
export interface MemoryChange {
  readonly index: number;
  readonly path: string;
  readonly type: ChangeType;
  readonly scope?: 'lock';
}

/** Where a write applies: its index and time, the request's session, and where it records its changes. */
export interface ApplyAt {
  readonly index: number;
  readonly time: number;
  /** The session of the request; undefined without one. Checked by the caller (it must be live). */
  readonly session: string | undefined;
  readonly changes: MemoryChange[];
  /** The check of a `fence` op: throws FENCE_MISMATCH unless `token` is a current grant of `lock`. */
  readonly checkFence: (lock: string, token: number) => void;
}

export class MemoryNamespace {
  /** Every node but the root, by path. */
  readonly nodes = new Map<string, MemoryNode>();
  private readonly root: MemoryNode = {
    data: Buffer.alloc(0),
    stat: { version: 0, cversion: 0, createdIndex: 0, modifiedIndex: 0, childrenCount: 0, dataLength: 0, ephemeralOwner: null, createdAt: 0, modifiedAt: 0 },
    sequence: 0,
  };
  /** While a multi applies: the nodes it touched, as they were before (undefined: absent). */
  private undo: Map<string, MemoryNode | undefined> | null = null;

  /** The node at `path` (the root included), or undefined. */
  node(path: string): MemoryNode | undefined {
    return path === ROOT_PATH ? this.root : this.nodes.get(path);
  }

  /** Applies `ops` in order, all or none; a failing op's error carries `details.opIndex`. */
  multi(ops: readonly MultiOp[], at: ApplyAt): MultiOpResult[] {
    const undo = new Map<string, MemoryNode | undefined>();
    const changesBefore = at.changes.length;
    this.undo = undo;
    try {
      return ops.map((op, opIndex) => {
        try {
          return this.apply(op, at);
        } catch (error) {
          if (error instanceof HikariError) error.details.opIndex = opIndex;
          throw error;
        }
      });
    } catch (error) {
      for (const [path, before] of undo) {
        if (path === ROOT_PATH) Object.assign(this.root, before);
        else if (before === undefined) this.nodes.delete(path);
        else this.nodes.set(path, before);
      }
      at.changes.length = changesBefore;
      throw error;
    } finally {
      this.undo = null;
    }
  }

  /** One op (a `multi` of one, as the server applies single ops); throws and changes nothing on failure. */
  apply(op: MultiOp, at: ApplyAt): MultiOpResult {
    switch (op.op) {
      case 'check': {
        checkVersion(op.path, this.existing(op.path), op.version);
        return { op: 'check' };
      }
      case 'create':
        return this.create(op.path, op.data, op.mode, op.ttlMs, at);
      case 'set': {
        const node = this.existing(op.path);
        checkVersion(op.path, node, op.version);
        this.touch(op.path);
        node.data = Buffer.from(op.data);
        node.stat = { ...node.stat, version: node.stat.version + 1, modifiedIndex: at.index, modifiedAt: at.time, dataLength: op.data.length };
        at.changes.push({ index: at.index, path: op.path, type: 'changed' });
        return { op: 'set', stat: { ...node.stat } };
      }
      case 'delete': {
        if (op.path === ROOT_PATH) throw HikariError.invalidPath(op.path, 'the root cannot be deleted');
        const node = this.existing(op.path);
        checkVersion(op.path, node, op.version);
        if (node.stat.childrenCount > 0) throw HikariError.notEmpty(op.path);
        this.remove(op.path, at);
        return { op: 'delete' };
      }
      case 'fence':
        at.checkFence(op.lock, op.token);
        return { op: 'fence' };
    }
  }

  /** A page of `path`'s children (see the protocol's `children`). */
  children(args: ChildrenArgs): ChildrenResult {
    const parent = this.existing(args.path);
    const prefix = args.path === ROOT_PATH ? '/' : `${args.path}/`;
    const all = [...this.nodes.keys()].filter((path) => parentOf(path) === args.path).map((path) => path.slice(prefix.length));
    all.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const from = args.after === undefined ? all : all.filter((name) => Buffer.compare(Buffer.from(name), Buffer.from(args.after!)) > 0);
    const limit = args.limit ?? CHILDREN_PAGE_DEFAULT;
    let names = from.slice(0, limit);
    let more = from.length > limit;
    if (args.data !== true) return { names, more, stat: { ...parent.stat } };
    const children: NonNullable<ChildrenResult['children']> = [];
    let bytes = 0;
    for (const name of names) {
      const child = this.nodes.get(prefix + name)!;
      // The page ends early once the data budget is spent (the first child always fits), as on the server.
      if (children.length > 0 && bytes + child.data.length > CHILDREN_DATA_PAGE_BYTES_MAX) {
        more = true;
        break;
      }
      bytes += child.data.length;
      children.push({ name, data: Buffer.from(child.data), stat: { ...child.stat } });
    }
    names = children.map((child) => child.name);
    return { names, more, stat: { ...parent.stat }, children };
  }

  /** Deletes the ephemeral nodes of `sessions` (their session ended), at `at.index`. */
  dropOwners(sessions: ReadonlySet<string>, at: ApplyAt): void {
    for (const [path, node] of [...this.nodes]) {
      if (node.stat.ephemeralOwner !== null && sessions.has(node.stat.ephemeralOwner)) this.remove(path, at);
    }
  }

  /** A node created outside the rules' checks of the request (tests: another process's node). `owner` null: persistent. */
  put(path: string, data: Buffer, owner: string | null, at: ApplyAt): Stat {
    const parentPath = parentOf(path);
    if (parentPath === null) throw HikariError.nodeExists(ROOT_PATH);
    const parent = this.node(parentPath);
    if (parent === undefined) throw HikariError.noNode(parentPath);
    if (parent.stat.ephemeralOwner !== null) throw HikariError.noChildrenForEphemerals(parentPath);
    if (this.nodes.has(path)) throw HikariError.nodeExists(path);
    this.touch(path);
    this.touch(parentPath);
    const stat: Stat = {
      version: 0, cversion: 0, createdIndex: at.index, modifiedIndex: at.index, childrenCount: 0,
      dataLength: data.length, ephemeralOwner: owner, createdAt: at.time, modifiedAt: at.time,
    };
    this.nodes.set(path, { data: Buffer.from(data), stat, sequence: 0 });
    parent.stat = { ...parent.stat, childrenCount: parent.stat.childrenCount + 1, cversion: parent.stat.cversion + 1 };
    at.changes.push({ index: at.index, path, type: 'created' });
    return { ...stat };
  }

  private create(path: string, data: Uint8Array, mode: CreateMode, ttlMs: number | undefined, at: ApplyAt): MultiOpResult {
    let owner: string | null = null;
    if (isEphemeralMode(mode)) {
      if (at.session === undefined) throw new HikariError(ErrorCode.SESSION_EXPIRED, {}, { message: 'ephemeral nodes need a session: open one first' });
      owner = at.session;
    }
    if (ttlMs !== undefined) throw new HikariError(ErrorCode.INVALID_ARGUMENT, { field: 'ttlMs', reason: 'TTL nodes are not supported yet' });
    let actual = path;
    if (isSequentialMode(mode)) {
      const parentPath = parentOf(path + '0')!;
      const parent = this.node(parentPath);
      if (parent === undefined) throw HikariError.noNode(parentPath);
      if (parent.sequence > SEQUENCE_MAX) throw HikariError.invalidArgument('path', `the sequence counter of ${parentPath} is exhausted`);
      actual = sequentialName(path, parent.sequence);
      validatePath(actual);
      const stat = this.put(actual, Buffer.from(data), owner, at);
      parent.sequence++; // touched by put
      return { op: 'create', path: actual, stat };
    }
    return { op: 'create', path: actual, stat: this.put(actual, Buffer.from(data), owner, at) };
  }

  private remove(path: string, at: ApplyAt): void {
    const parentPath = parentOf(path)!;
    const parent = this.node(parentPath)!;
    this.touch(path);
    this.touch(parentPath);
    this.nodes.delete(path);
    parent.stat = { ...parent.stat, childrenCount: parent.stat.childrenCount - 1, cversion: parent.stat.cversion + 1 };
    at.changes.push({ index: at.index, path, type: 'deleted' });
  }

  private existing(path: string): MemoryNode {
    const node = this.node(path);
    if (node === undefined) throw HikariError.noNode(path);
    return node;
  }

  /** Before a multi changes `path`: keeps a copy of the node as it was, once. */
  private touch(path: string): void {
    if (this.undo === null || this.undo.has(path)) return;
    const node = this.node(path);
    this.undo.set(path, node === undefined ? undefined : { data: node.data, stat: { ...node.stat }, sequence: node.sequence });
  }
}

function checkVersion(path: string, node: MemoryNode, version: number | undefined): void {
  if (version !== undefined && version !== ANY_VERSION && version !== node.stat.version) throw HikariError.badVersion(path, version);
}

