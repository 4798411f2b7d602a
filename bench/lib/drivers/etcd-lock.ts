/**
 * etcd's own lock for the lock workloads: the server-side Lock API (etcd-v3lock.ts) under a lease.
 *
 * Each driver (one per worker) holds one lease (etcd3's `Lease`: granted once, kept alive by etcd3
 * every TTL / 3) and calls `Lock { name, lease }` / `Unlock { key }`. A worker holds at most one lock
 * at a time, so when a call fails with an unknown outcome (the member died: the lock key may exist
 * under the lease) the driver revokes that lease (which deletes the key if it was created; if the
 * cluster cannot be reached, the lease runs out after its TTL instead) and takes a new one for the next
 * acquire. A wait that times out needs no such care: the member deletes the waiting key itself.
 */
import { Etcd3, Lease } from 'etcd3';
import { openEtcd3 } from './etcd-client';
import { V3LockClient } from './etcd-v3lock';
import { BenchLockDriver, BenchLockGrant, Opened, openAll } from './types';

/** TTL of each worker's lease (HikariKeeper's sessions and ZooKeeper's sessions here: 10 s as well). */
export const ETCD_LEASE_TTL_SECONDS = 10;
/** Time allowed for revoking an abandoned lease. */
const REVOKE_TIMEOUT_MS = 2_000;

export interface EtcdLockGrant extends BenchLockGrant {
  readonly key: Buffer;
}

export class EtcdLockDriver implements BenchLockDriver<EtcdLockGrant> {
  private lease: Lease | null = null;
  private leaseId: Promise<string> | null = null;

  constructor(private readonly etcd: Etcd3, private readonly locks: V3LockClient, private readonly ttlSeconds = ETCD_LEASE_TTL_SECONDS) {}

  async acquire(name: string, options: { waitMs: number }): Promise<EtcdLockGrant> {
    const deadline = Date.now() + options.waitMs;
    const lease = await this.currentLease();
    try {
      const grant = await this.locks.lock(name, lease, deadline);
      return { name, token: grant.revision, key: grant.key };
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'LOCK_TIMEOUT') this.abandonLease();
      throw e;
    }
  }

  async release(grant: EtcdLockGrant): Promise<void> {
    try {
      await this.locks.unlock(grant.key);
    } catch (e) {
      this.abandonLease();
      throw e;
    }
  }

  /** Revokes the lease (best effort) and closes the connections. */
  async close(): Promise<void> {
    const lease = this.lease;
    this.lease = null;
    this.leaseId = null;
    if (lease !== null) await lease.revoke({ deadline: Date.now() + REVOKE_TIMEOUT_MS }).catch(() => lease.release());
    this.locks.close();
    this.etcd.close();
  }

  private currentLease(): Promise<string> {
    if (this.leaseId === null) {
      const lease = this.etcd.lease(this.ttlSeconds);
      this.lease = lease;
      this.leaseId = lease.grant();
      lease.on('lost', () => this.lease === lease && this.forget());
      this.leaseId.catch(() => this.lease === lease && this.forget());
    }
    return this.leaseId;
  }

  private forget(): void {
    this.lease?.release();
    this.lease = null;
    this.leaseId = null;
  }

  private abandonLease(): void {
    const lease = this.lease;
    this.lease = null;
    this.leaseId = null;
    if (lease !== null) void lease.revoke({ deadline: Date.now() + REVOKE_TIMEOUT_MS }).catch(() => lease.release());
  }
}

/** `n` lock drivers, worker i first calling member i mod members (spread like the other systems' clients). */
export async function openEtcdLockDrivers(endpoints: readonly string[], n: number): Promise<Opened<EtcdLockDriver>> {
  const drivers = await openAll(n, async (i) => new EtcdLockDriver(openEtcd3(endpoints), new V3LockClient(endpoints, i)), (d) => d.close());
  return { drivers, close: async () => void (await Promise.allSettled(drivers.map((d) => d.close()))) };
}
