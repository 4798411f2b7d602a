/**
 * node-zookeeper-client (pure JavaScript, no native addon) as the benchmark uses it: connecting with a
 * timeout, promise forms of the calls, and `sync`, which that client lacks.
 *
 * `sync(path)` asks the connected server to catch up with the leader before answering; a read after
 * it sees every write committed before the sync began (ZooKeeper's way to a linearizable read: "sync
 * then read"). It is sent through the client's own connection and queue (so it is ordered with the
 * session's other requests): a SyncRequest (opcode 9, the path) framed as the client frames every
 * request, registered in the client's pending queue as an operation whose answer carries no payload
 * (the client decodes only the types it knows; the answer's path is left unread).
 */
import { Client, createClient, CreateMode, Exception, State, Stat } from 'node-zookeeper-client';
import { BenchError } from './types';

/** Session timeout asked of the servers (they bound it to [2, 20] × tickTime = [4, 40] s). */
export const ZK_SESSION_TIMEOUT_MS = 10_000;
/** Time for a client to connect (its first session). */
export const ZK_CONNECT_TIMEOUT_MS = 15_000;

/** ZooKeeper's wire opcodes (org.apache.zookeeper.ZooDefs.OpCode). */
const OP_DELETE = 2;
const OP_SYNC = 9;

/** A client connected to one of `connectionString`'s servers (its choice), or a rejection after the timeout. */
export function connectZooKeeper(connectionString: string, timeoutMs = ZK_CONNECT_TIMEOUT_MS, sessionTimeoutMs = ZK_SESSION_TIMEOUT_MS): Promise<Client> {
  const client = createClient(connectionString, { sessionTimeout: sessionTimeoutMs, retries: 0 });
  return new Promise<Client>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.close();
      reject(new BenchError('CONNECT_TIMEOUT', `no ZooKeeper session with ${connectionString} within ${timeoutMs} ms`));
    }, timeoutMs);
    client.once('connected', () => {
      clearTimeout(timer);
      resolve(client);
    });
    client.connect();
  });
}

/** Resolves when the client is connected again (now if it is), or rejects after `timeoutMs` or if the session expired. */
export function connected(client: Client, timeoutMs: number): Promise<void> {
  const state = client.getState();
  if (state === State.SYNC_CONNECTED) return Promise.resolve();
  if (state === State.EXPIRED) return Promise.reject(sessionExpired());
  return new Promise<void>((resolve, reject) => {
    const onState = (s: State) => {
      if (s === State.SYNC_CONNECTED) done(null);
      else if (s === State.EXPIRED) done(sessionExpired());
    };
    const timer = setTimeout(() => done(new BenchError('CONNECTION_LOSS', `ZooKeeper: not reconnected within ${timeoutMs} ms`)), Math.max(0, timeoutMs));
    const done = (error: Error | null) => {
      clearTimeout(timer);
      client.removeListener('state', onState);
      if (error === null) resolve();
      else reject(error);
    };
    client.on('state', onState);
  });
}

function sessionExpired(): BenchError {
  return new BenchError('SESSION_EXPIRED', 'ZooKeeper session expired');
}

/** The error's ZooKeeper code (Exception.NO_NODE, ...), or null for another error. */
export function zkCode(error: unknown): number | null {
  return error instanceof Exception || (typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'number')
    ? (error as { code: number }).code
    : null;
}

type Cb<T> = (error: Error | Exception | null, value: T) => void;
function call<T>(run: (cb: Cb<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => run((error, value) => (error ? reject(error) : resolve(value))));
}

export const zk = {
  create: (c: Client, path: string, data: Buffer, mode: number = CreateMode.PERSISTENT) => call<string>((cb) => c.create(path, data, mode, cb)),
  remove: (c: Client, path: string, version = -1) => call<void>((cb) => c.remove(path, version, (e) => cb(e, undefined))),
  setData: (c: Client, path: string, data: Buffer, version = -1) => call<Stat>((cb) => c.setData(path, data, version, cb)),
  getChildren: (c: Client, path: string) => call<string[]>((cb) => c.getChildren(path, (e, children) => cb(e, children))),
  mkdirp: (c: Client, path: string) => call<string>((cb) => c.mkdirp(path, cb)),
  /** The node's data, or null if there is no such node. */
  async getData(c: Client, path: string): Promise<Buffer | null> {
    try {
      return await call<Buffer>((cb) => c.getData(path, (e, data) => cb(e, data)));
    } catch (e) {
      if (zkCode(e) === Exception.NO_NODE) return null;
      throw e;
    }
  },
  /** Whether the node exists; `watcher` is called once when it is created, deleted or changed. */
  exists: (c: Client, path: string, watcher: () => void) => call<Stat | null>((cb) => c.exists(path, watcher, (e, stat) => cb(e, stat ?? null))),
};

interface QueuedRequest {
  header: { xid: number; type: number };
  payload: null;
  toBuffer(): Buffer;
}
interface ConnectionManagerQueue {
  queue(request: QueuedRequest, callback: (error: Error | null) => void): void;
}

/** ZooKeeper's `sync(path)` (see the file's header). */
export function sync(client: Client, path: string): Promise<void> {
  const manager = (client as unknown as { connectionManager?: Partial<ConnectionManagerQueue> }).connectionManager;
  if (typeof manager?.queue !== 'function') throw new Error('node-zookeeper-client has no connectionManager.queue: sync() needs updating for this version');
  const header = { xid: 0, type: OP_DELETE }; // the client sets xid when it sends; OP_DELETE: an answer without payload
  const request: QueuedRequest = {
    header,
    payload: null,
    toBuffer() {
      const pathBytes = Buffer.from(path, 'utf8');
      const frame = Buffer.alloc(4 + 4 + 4 + 4 + pathBytes.length);
      frame.writeInt32BE(frame.length - 4, 0);
      frame.writeInt32BE(header.xid, 4);
      frame.writeInt32BE(OP_SYNC, 8);
      frame.writeInt32BE(pathBytes.length, 12);
      pathBytes.copy(frame, 16);
      return frame;
    },
  };
  return new Promise<void>((resolve, reject) => manager.queue!(request, (error) => (error ? reject(error) : resolve())));
}
