/**
 * ZooKeeper's lock recipe (the one in ZooKeeper's "Recipes and Solutions", as Apache Curator's
 * InterProcessMutex runs it) for the lock workloads:
 *
 * 1. create an EPHEMERAL_SEQUENTIAL child `<guid>-lock-` of the lock's node `/hk-bench-locks/<name>`
 *    (the parent is created on first use, PERSISTENT);
 * 2. list the children: if ours has the lowest sequence number, the lock is ours, and that sequence
 *    number (which strictly increases per parent) is the fencing token;
 * 3. otherwise set a watch on the child just before ours (`exists` with a watcher) and wait for it to
 *    go, then list again (no herd: each waiter watches only its predecessor);
 * 4. release = delete our child.
 *
 * Connection losses (a server died): reads are retried once the client has reconnected to another
 * server (the session, and so the ephemeral children, survive for the session timeout); a create whose
 * answer was lost is recovered by looking for our `<guid>` among the children (the recipe's "protected"
 * create), not created twice; a delete whose answer was lost is sent again once reconnected (NO_NODE
 * then means it had applied). When the driver cannot be sure to have cleaned up (a delete that fails,
 * a session that expired), it closes its session — which deletes its ephemeral children — and opens a
 * new one for the next acquire: a leftover child would block the lock forever.
 */
import { randomUUID } from 'node:crypto';
import { Client, CreateMode, Exception } from 'node-zookeeper-client';
import { connected, connectZooKeeper, zk, zkCode } from './zookeeper-client';
import { BenchError, BenchLockDriver, BenchLockGrant, lockTimeout, Opened, openAll } from './types';

export const ZK_LOCK_ROOT = '/hk-bench-locks';
/** How long a release whose delete lost its connection tries again (Curator's "guaranteed delete"). */
export const RELEASE_RETRY_MS = 10_000;
/** Digits of a sequential node's suffix. */
const SEQUENCE_DIGITS = 10;

export interface ZooKeeperLockGrant extends BenchLockGrant {
  /** Our child's path (deleted by release). */
  readonly path: string;
}

const sequenceOf = (child: string) => Number(child.slice(-SEQUENCE_DIGITS));

export class ZooKeeperLockDriver implements BenchLockDriver<ZooKeeperLockGrant> {
  private client: Client | null;
  private connecting: Promise<Client> | null = null;

  constructor(private readonly connectionString: string, client: Client) {
    this.client = client;
  }

  static async open(connectionString: string): Promise<ZooKeeperLockDriver> {
    const client = await connectZooKeeper(connectionString);
    try {
      await zk.mkdirp(client, ZK_LOCK_ROOT);
    } catch (e) {
      client.close();
      throw e;
    }
    return new ZooKeeperLockDriver(connectionString, client);
  }

  async acquire(name: string, options: { waitMs: number }): Promise<ZooKeeperLockGrant> {
    if (name.includes('/')) throw new BenchError('INVALID_ARGUMENT', `a lock name cannot hold '/': ${name}`);
    const deadline = Date.now() + options.waitMs;
    const c = await this.session();
    const dir = `${ZK_LOCK_ROOT}/${name}`;
    const ours = await this.createChild(c, dir, `${randomUUID()}-lock-`, deadline);
    try {
      for (;;) {
        const children = (await this.read(c, deadline, () => zk.getChildren(c, dir))).sort((a, b) => sequenceOf(a) - sequenceOf(b));
        const index = children.indexOf(ours);
        if (index < 0) throw new BenchError('LOCK_LOST', `ZooKeeper: our child ${dir}/${ours} is gone (session expired?)`);
        if (index === 0) return { name, token: sequenceOf(ours), path: `${dir}/${ours}` };
        let fired = false;
        let wake: (() => void) | null = null;
        const stat = await this.read(c, deadline, () => zk.exists(c, `${dir}/${children[index - 1]}`, () => {
          fired = true;
          wake?.();
        }));
        if (stat === null || fired) continue;
        const woke = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
          wake = () => {
            clearTimeout(timer);
            resolve(true);
          };
        });
        if (!woke) throw lockTimeout(name, options.waitMs);
      }
    } catch (e) {
      await this.removeOrDropSession(c, `${dir}/${ours}`);
      throw e;
    }
  }

  async release(grant: ZooKeeperLockGrant): Promise<void> {
    const c = this.client;
    if (c === null) throw new BenchError('LOCK_NOT_HELD', `ZooKeeper: the session holding ${grant.path} was closed`);
    const deadline = Date.now() + RELEASE_RETRY_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        await zk.remove(c, grant.path);
        return;
      } catch (e) {
        const code = zkCode(e);
        if (code === Exception.NO_NODE && attempt > 1) return; // the lost delete had applied
        if (code === Exception.CONNECTION_LOSS && Date.now() < deadline) {
          try {
            await connected(c, deadline - Date.now());
            continue;
          } catch {
            // not reconnected in time: below
          }
        }
        this.dropSession();
        throw e;
      }
    }
  }

  async close(): Promise<void> {
    this.dropSession();
  }

  /** The connected client; a new session if the last one expired or was dropped. */
  private session(): Promise<Client> {
    if (this.client !== null && this.client.getState().name !== 'EXPIRED') return Promise.resolve(this.client);
    this.dropSession();
    this.connecting ??= connectZooKeeper(this.connectionString).then(
      (client) => {
        this.client = client;
        this.connecting = null;
        return client;
      },
      (e: unknown) => {
        this.connecting = null;
        throw e;
      },
    );
    return this.connecting;
  }

  private dropSession(): void {
    this.client?.close();
    this.client = null;
  }

  /** An idempotent read, again after each connection loss (once reconnected) until `deadline`. */
  private async read<T>(c: Client, deadline: number, run: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await run();
      } catch (e) {
        if (zkCode(e) !== Exception.CONNECTION_LOSS || Date.now() >= deadline) throw e;
        await connected(c, deadline - Date.now());
      }
    }
  }

  /** Creates our sequential child (and the lock's node if missing); after a connection loss, finds it by its prefix. */
  private async createChild(c: Client, dir: string, prefix: string, deadline: number): Promise<string> {
    for (;;) {
      try {
        const path = await zk.create(c, `${dir}/${prefix}`, Buffer.alloc(0), CreateMode.EPHEMERAL_SEQUENTIAL);
        return path.slice(dir.length + 1);
      } catch (e) {
        const code = zkCode(e);
        if (code === Exception.NO_NODE) {
          await this.read(c, deadline, () => zk.mkdirp(c, dir));
          continue;
        }
        if (code !== Exception.CONNECTION_LOSS || Date.now() >= deadline) throw e;
        await connected(c, deadline - Date.now());
        const mine = (await this.childrenOrNone(c, dir, deadline)).find((child) => child.startsWith(prefix));
        if (mine !== undefined) return mine;
      }
    }
  }

  /** The lock node's children; none if it does not exist (the lost create was the lock's first: it created nothing). */
  private async childrenOrNone(c: Client, dir: string, deadline: number): Promise<string[]> {
    try {
      return await this.read(c, deadline, () => zk.getChildren(c, dir));
    } catch (e) {
      if (zkCode(e) === Exception.NO_NODE) return [];
      throw e;
    }
  }

  /** Deletes our child after a failed wait; if that fails, drops the session (which deletes it). */
  private async removeOrDropSession(c: Client, path: string): Promise<void> {
    try {
      await zk.remove(c, path);
    } catch (e) {
      if (zkCode(e) !== Exception.NO_NODE) this.dropSession();
    }
  }
}

export async function openZooKeeperLockDrivers(connectionString: string, n: number): Promise<Opened<ZooKeeperLockDriver>> {
  const drivers = await openAll(n, () => ZooKeeperLockDriver.open(connectionString), (d) => d.close());
  return { drivers, close: async () => void (await Promise.allSettled(drivers.map((d) => d.close()))) };
}
