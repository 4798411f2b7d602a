/**
 * Lock workload: workers (each its own client and session) take a lock, do a read-modify-write
 * of two counters guarded by the grant's fencing token — one in a FencedResource outside the
 * cluster, one in the cluster itself with a fenced `set` — and release it. A nemesis can *pause* a
 * worker inside its critical section: its links are blackholed and it does nothing for longer
 * than the session timeout (a GC pause or a SIGSTOP of the client process), so that the cluster
 * expires its session and grants the lock to another worker while it still believes it holds it.
 *
 * Checks, per lock name:
 * - tokens: no two grants share one, and a grant that began after another ended has a larger one;
 * - mutual exclusion: no grant was given while an older grant was provably still held (its
 *   release, or a fenced write under it, succeeded after the newer grant had been acknowledged);
 * - stale tokens: the FencedResource never accepted a token older than one it had accepted;
 * - no lost updates: every accepted write of the resource wrote back its own read plus one (nobody
 *   wrote in between), and the cluster's counter ends between the acknowledged fenced increments
 *   and those plus the ones whose outcome is unknown.
 */
import { ClusterLockGrant, ErrorCode, HikariClient, HikariError } from '@hikarikeeper/client';
import { clientName } from '../net/fault-net';
import type { OpRecord } from '../journal';
import { now, sleep, sleepUnless } from '../time';
import { FencedResource } from './fenced-resource';
import { CheckReport, connectClient, ensureNode, errorText, failureOutcome, Workload, WorkloadContext } from './workload';

const LOCK_NAMES = ['chaos-a', 'chaos-b'];
const COUNTER_ROOT = '/chaos-locks';
/** Longest wait in a lock's queue (ms). */
const WAIT_MS = 15_000;

export interface Grant {
  readonly process: string;
  readonly lock: string;
  readonly token: number;
  readonly acquire: OpRecord;
  release?: OpRecord;
  readonly fencedWrites: OpRecord[];
}

export class LockWorkload implements Workload {
  readonly name = 'locks';
  private readonly clients: HikariClient[] = [];
  private readonly grants: Grant[] = [];
  private readonly fenced: OpRecord[] = [];
  private readonly resources = new Map<string, FencedResource>();
  private readonly finalCounters = new Map<string, number>();
  private readonly stopping = new AbortController();
  private loops: Promise<void>[] = [];
  private readonly pauses: number[] = [];
  private readonly liveness: string[] = [];
  pausesDone = 0;

  constructor(private readonly ctx: WorkloadContext, private readonly workerCount: number) {
    for (const name of LOCK_NAMES) this.resources.set(name, new FencedResource(name, ctx.unsafe.has('resource')));
  }

  async start(): Promise<void> {
    for (let i = 0; i < this.workerCount; i++) {
      this.clients.push(await connectClient(this.ctx, `lock-${i}`, { session: { timeoutMs: this.ctx.sessionTtlMs } }));
    }
    const c = this.clients[0]!;
    for (const path of [COUNTER_ROOT, ...LOCK_NAMES.map((n) => `${COUNTER_ROOT}/${n}`)]) {
      await ensureNode(c, path, path === COUNTER_ROOT ? '' : '0');
    }
    this.pauses.length = this.workerCount;
    this.pauses.fill(0);
    this.loops = this.clients.map((client, i) => this.loop(client, i));
  }

  /** The next time worker `index` holds a lock, it pauses for `ms` (links blackholed, nothing done). */
  pauseWorker(index: number, ms: number): void {
    this.pauses[index % this.workerCount] = ms;
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.all(this.loops);
  }

  /** Each lock can be taken again after the heal; its counter is read under it. */
  async final(): Promise<void> {
    const client = this.clients[0]!;
    const deadline = now() + this.ctx.recoveryMs;
    for (const name of LOCK_NAMES) {
      for (;;) {
        const op = this.ctx.journal.invoke('lock-final', 'acquire-read-release', { lock: name });
        try {
          const grant = await client.locks.acquire(name, { waitMs: Math.max(1000, Math.floor(deadline - now())) });
          const { data } = await client.get(`${COUNTER_ROOT}/${name}`);
          this.finalCounters.set(name, Number(data.toString('utf8')));
          await client.locks.release(grant);
          this.ctx.journal.complete(op, 'ok', { token: grant.token, counter: this.finalCounters.get(name) });
          break;
        } catch (e) {
          this.ctx.journal.complete(op, failureOutcome(e), errorText(e));
          if (now() > deadline) {
            this.liveness.push(`lock ${name} could not be taken and its counter read within ${this.ctx.recoveryMs} ms of the heal: ${errorText(e)}`);
            break;
          }
          await sleep(200);
        }
      }
    }
  }

  check(): CheckReport {
    const violations = [...this.liveness];
    for (const name of LOCK_NAMES) {
      const grants = this.grants.filter((g) => g.lock === name);
      violations.push(...checkTokens(name, grants), ...checkExclusion(name, grants));
      violations.push(...checkResource(this.resources.get(name)!));
      const writes = this.fenced.filter((w) => (w.input as { lock: string }).lock === name);
      const acked = writes.filter((w) => w.outcome === 'ok').length;
      const unknown = writes.filter((w) => w.outcome === 'info' || w.outcome === undefined).length;
      const final = this.finalCounters.get(name);
      if (final !== undefined && (final < acked || final > acked + unknown)) {
        violations.push(`lock ${name}: the fenced counter ends at ${final}, but ${acked} fenced increments were acknowledged and ${unknown} are unknown (lost or phantom updates)`);
      }
    }
    const resourceOps = [...this.resources.values()].reduce((n, r) => n + r.events.length, 0);
    return {
      workload: this.name, checked: this.grants.length + resourceOps + this.fenced.length, unit: 'grants, resource operations and fenced writes', violations,
      notes: [
        `${this.grants.length} grants, ${this.fenced.length} fenced writes (${this.fenced.filter((w) => w.outcome === 'fail').length} refused), ` +
          `${resourceOps} resource operations (${[...this.resources.values()].reduce((n, r) => n + r.events.filter((e) => !e.accepted).length, 0)} refused), ${this.pausesDone} paused holders`,
      ],
    };
  }

  dump(): unknown {
    return {
      grants: this.grants.map((g) => ({ process: g.process, lock: g.lock, token: g.token, acquire: g.acquire.id, release: g.release?.id, fencedWrites: g.fencedWrites.map((w) => w.id) })),
      resources: [...this.resources.values()].map((r) => ({ name: r.name, value: r.value, events: r.events })),
      finalCounters: Object.fromEntries(this.finalCounters),
    };
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.clients.map((c) => c.close()));
  }

  private async loop(client: HikariClient, index: number): Promise<void> {
    const process = `lock-${index}`;
    const random = this.ctx.random;
    while (!this.stopping.signal.aborted) {
      const lock = LOCK_NAMES[random.nextInt(LOCK_NAMES.length)]!;
      const acquire = this.ctx.journal.invoke(process, 'acquire', { lock });
      let grant: ClusterLockGrant;
      try {
        grant = await client.locks.acquire(lock, { waitMs: WAIT_MS });
        this.ctx.journal.complete(acquire, 'ok', { token: grant.token });
      } catch (e) {
        this.ctx.journal.complete(acquire, HikariError.is(e, ErrorCode.LOCK_TIMEOUT) ? 'fail' : failureOutcome(e), errorText(e));
        await sleepUnless(100, this.stopping.signal);
        continue;
      }
      const g: Grant = { process, lock, token: grant.token, acquire, fencedWrites: [] };
      this.grants.push(g);
      await this.criticalSection(client, index, g, grant);
      const release = this.ctx.journal.invoke(process, 'release', { lock, token: grant.token });
      g.release = release;
      try {
        await client.locks.release(grant);
        this.ctx.journal.complete(release, 'ok');
      } catch (e) {
        this.ctx.journal.complete(release, failureOutcome(e), errorText(e));
      }
      await sleepUnless(random.nextInt(50), this.stopping.signal);
    }
  }

  private async criticalSection(client: HikariClient, index: number, g: Grant, grant: ClusterLockGrant): Promise<void> {
    const { journal, random } = this.ctx;
    const resource = this.resources.get(g.lock)!;
    const read = journal.invoke(g.process, 'resource-read', { lock: g.lock, token: g.token });
    let value: number;
    try {
      value = resource.read(g.process, g.token);
      journal.complete(read, 'ok', value);
    } catch (e) {
      journal.complete(read, 'fail', errorText(e));
      return;
    }
    await this.maybePause(index, g.process);
    await sleep(random.nextInt(60));
    const write = journal.invoke(g.process, 'resource-write', { lock: g.lock, token: g.token, value: value + 1 });
    try {
      resource.write(g.process, g.token, value + 1);
      journal.complete(write, 'ok');
    } catch (e) {
      journal.complete(write, 'fail', errorText(e));
    }
    // The same read-modify-write on a counter inside the cluster, fenced by the server.
    const path = `${COUNTER_ROOT}/${g.lock}`;
    let counter: number;
    try {
      counter = Number((await client.get(path)).data.toString('utf8'));
    } catch {
      return;
    }
    const fencedWrite = journal.invoke(g.process, 'fenced-write', { lock: g.lock, token: g.token, value: counter + 1 });
    this.fenced.push(fencedWrite);
    g.fencedWrites.push(fencedWrite);
    try {
      await client.set(path, String(counter + 1), { fence: grant });
      journal.complete(fencedWrite, 'ok');
    } catch (e) {
      journal.complete(fencedWrite, failureOutcome(e), errorText(e));
    }
  }

  private async maybePause(index: number, process: string): Promise<void> {
    const ms = this.pauses[index] ?? 0;
    if (ms <= 0) return;
    this.pauses[index] = 0;
    const fault = this.ctx.journal.fault('pause-holder', `${process} paused ${ms} ms holding a lock`, false);
    const me = clientName(process);
    this.ctx.net.setAround(me, this.ctx.memberNames(), { blackhole: true });
    await sleep(ms);
    this.ctx.net.setAround(me, this.ctx.memberNames(), { blackhole: false });
    fault.end = now();
    this.pausesDone++;
  }
}

export function checkTokens(name: string, grants: readonly Grant[]): string[] {
  const out: string[] = [];
  const byToken = new Map<number, Grant>();
  for (const g of grants) {
    const other = byToken.get(g.token);
    if (other !== undefined) out.push(`lock ${name}: token ${g.token} granted twice (${other.process} and ${g.process})`);
    byToken.set(g.token, g);
  }
  const sorted = [...grants].sort((a, b) => a.acquire.return! - b.acquire.return!);
  for (const later of grants) {
    for (const earlier of sorted) {
      if (earlier.acquire.return! >= later.acquire.call) break;
      if (earlier.token >= later.token) {
        out.push(`lock ${name}: ${later.process} got token ${later.token} after ${earlier.process} had been granted ${earlier.token}`);
      }
    }
  }
  return out;
}

export function checkExclusion(name: string, grants: readonly Grant[]): string[] {
  const out: string[] = [];
  for (const older of grants) {
    // Moments at which `older` was provably still held: a successful release or fenced write began.
    const proofs = [...(older.release?.outcome === 'ok' ? [older.release] : []), ...older.fencedWrites.filter((w) => w.outcome === 'ok')];
    if (proofs.length === 0) continue;
    const heldUntil = Math.max(...proofs.map((p) => p.call));
    for (const newer of grants) {
      if (newer.token > older.token && newer.acquire.return! < heldUntil) {
        out.push(`lock ${name}: ${newer.process} was granted token ${newer.token} while ${older.process} still held token ${older.token} (its release or fenced write succeeded later)`);
      }
    }
  }
  return out;
}

export function checkResource(resource: FencedResource): string[] {
  const out: string[] = [];
  let max: number | null = null;
  const lastRead = new Map<string, { token: number; value: number }>();
  for (const e of resource.events) {
    if (!e.accepted) continue;
    if (max !== null && e.token < max) out.push(`resource ${resource.name}: ${e.process} used stale token ${e.token} after token ${max} (accepted)`);
    max = Math.max(max ?? 0, e.token);
    if (e.kind === 'read') {
      lastRead.set(e.process, { token: e.token, value: e.value });
    } else {
      const read = lastRead.get(e.process);
      if (read !== undefined && read.token === e.token && e.before !== read.value) {
        out.push(`resource ${resource.name}: lost update — ${e.process} (token ${e.token}) wrote ${e.value} over ${e.before}, having read ${read.value}`);
      }
    }
  }
  return out;
}
