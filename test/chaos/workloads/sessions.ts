/**
 * Session workload: owners (each its own client and session) keep an ephemeral node each; every
 * few seconds one owner *dies* — its links are cut for good and it does nothing more, which is
 * what a kill -9 of its process looks like to the cluster — and a new owner takes its place. A
 * watcher records when each ephemeral node disappears.
 *
 * Checks:
 * - never while it lives: a live owner checks its node about every TTL/4; when it finds the node
 *   gone while its client still holds the session that created it, it creates the node again on
 *   that session: if the server accepts (the session was alive), the node vanished while its owner
 *   lived — a violation; SESSION_EXPIRED (or a new session) means the session had ended, which is
 *   the legitimate case;
 * - vanish in time: a dead owner's node disappears within 2·TTL + a slack (the larger of 10 s and
 *   2·TTL, for a loaded machine) after its death (one TTL,
 *   plus one fresh TTL that a new leader grants every session once), counted from the end of the
 *   faults when faults were active meanwhile (a cluster without a quorum can expire nothing).
 *   When a node went is seen by a watch, and by reads twice a second (a watch may resync past it).
 */
import { ErrorCode, HikariClient, HikariError, Watch } from '@hikarikeeper/client';
import { clientName } from '../net/fault-net';
import { now, sleep, sleepUnless } from '../time';
import { CheckReport, connectClient, ensureNode, errorText, Workload, WorkloadContext } from './workload';

const ROOT = '/chaos-sessions';
const OWNERS = 3;

interface Owner {
  readonly name: string;
  readonly client: HikariClient;
  readonly path: string;
  /** The session that created the node now expected to exist, and whether the SDK reported it expired. */
  session: string | null;
  expiredSessions: Set<string>;
  diedAt: number | null;
  /** When the watcher or a read saw the node gone (after death). */
  goneAt: number | null;
  loop: Promise<void> | null;
}

export class SessionWorkload implements Workload {
  readonly name = 'sessions';
  private readonly owners: Owner[] = [];
  private watcher: HikariClient | null = null;
  private watch: Watch | null = null;
  private readonly stopping = new AbortController();
  private nextOwner = 0;
  private killer: Promise<void> | null = null;
  private poller: Promise<void> | null = null;
  private watchResyncs = 0;
  private readonly violations: string[] = [];
  private recreated = 0;
  private checksDone = 0;
  private healedAt = Infinity;

  constructor(private readonly ctx: WorkloadContext) {}

  private get slackMs(): number {
    return Math.max(10_000, 2 * this.ctx.sessionTtlMs);
  }

  async start(): Promise<void> {
    this.watcher = await connectClient(this.ctx, 'session-watch', { session: false });
    await ensureNode(this.watcher, ROOT);
    this.watch = this.watcher.watch(ROOT, { kind: 'children' });
    await this.watch.ready;
    this.watch.on('resync', () => this.watchResyncs++);
    this.watch.on('event', (e) => {
      if (e.type !== 'deleted') return;
      const owner = this.owners.find((o) => o.path === e.path);
      if (owner !== undefined && owner.diedAt !== null && owner.goneAt === null) owner.goneAt = now();
    });
    for (let i = 0; i < OWNERS; i++) await this.spawn();
    this.killer = this.killLoop();
    this.poller = this.pollDead();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.killer;
    await this.poller;
    await Promise.all(this.owners.map((o) => o.loop));
  }

  /** Every dead owner's node must be gone within 2·TTL + slack of the heal (or of its death, if later). */
  async final(): Promise<void> {
    this.healedAt = now();
    const reader = this.watcher!;
    await Promise.all(this.owners.filter((o) => o.diedAt !== null && o.goneAt === null).map(async (o) => {
      const deadline = Math.max(o.diedAt!, this.healedAt) + 2 * this.ctx.sessionTtlMs + this.slackMs + this.ctx.recoveryMs;
      while (o.goneAt === null) {
        try {
          if ((await reader.exists(o.path)) === null) o.goneAt ??= now();
        } catch {
          // unavailable for now
        }
        if (o.goneAt !== null) break;
        if (now() > deadline) {
          this.violations.push(`${o.name} died at ${fmt(o.diedAt!)} but its ephemeral node ${o.path} still existed at ${fmt(now())}`);
          return;
        }
        await sleep(250);
      }
    }));
  }

  check(): CheckReport {
    const violations = [...this.violations];
    const dead = this.owners.filter((o) => o.diedAt !== null);
    for (const o of dead) {
      if (o.goneAt === null) continue; // reported by final() if it never went
      const allowed = this.deadline(o.diedAt!, o.goneAt);
      if (o.goneAt > allowed) {
        violations.push(`${o.name}'s ephemeral node ${o.path} vanished ${Math.round(o.goneAt - o.diedAt!)} ms after its death, over the bound of ${Math.round(allowed - o.diedAt!)} ms`);
      }
    }
    const delays = dead.filter((o) => o.goneAt !== null).map((o) => o.goneAt! - o.diedAt!).sort((a, b) => a - b);
    const gone = delays.length === 0 ? '' : `; a dead owner's node gone after ${Math.round(delays[Math.floor(delays.length / 2)]! / 100) / 10} s (median), ${Math.round(delays.at(-1)! / 100) / 10} s (max)`;
    return {
      workload: this.name, checked: this.checksDone + dead.length, unit: 'liveness checks of live owners and deaths', violations,
      notes: [`${this.owners.length} owners, ${dead.length} died; ${this.checksDone} checks of live owners' nodes; ${this.recreated} nodes re-created after a session expiry${gone}; the watcher resynced ${this.watchResyncs} times`],
    };
  }

  dump(): unknown {
    return this.owners.map((o) => ({ name: o.name, path: o.path, session: o.session, expiredSessions: [...o.expiredSessions], diedAt: o.diedAt, goneAt: o.goneAt }));
  }

  async close(): Promise<void> {
    this.watch?.close();
    await Promise.allSettled([...this.owners.map((o) => o.client.close()), this.watcher?.close()]);
  }

  /** When a node of an owner that died at `diedAt` must be gone by: 2·TTL + slack after the later of its death and the last fault it overlapped. */
  private deadline(diedAt: number, goneAt: number): number {
    let from = diedAt;
    for (const f of this.ctx.journal.faults) {
      if (!f.cluster) continue; // a client's death or pause does not slow the cluster down
      const end = f.end ?? Infinity;
      if (f.start <= goneAt && end >= diedAt) from = Math.max(from, Math.min(end, this.healedAt));
    }
    return from + 2 * this.ctx.sessionTtlMs + this.slackMs;
  }

  private async spawn(): Promise<void> {
    const name = `session-${this.nextOwner++}`;
    let client: HikariClient;
    try {
      client = await connectClient(this.ctx, name, { session: { timeoutMs: this.ctx.sessionTtlMs } });
    } catch {
      return; // the cluster is unavailable: the next round tries again
    }
    const owner: Owner = { name, client, path: `${ROOT}/${name}`, session: null, expiredSessions: new Set(), diedAt: null, goneAt: null, loop: null };
    client.on('expired', ({ sessionId }) => owner.expiredSessions.add(sessionId));
    this.owners.push(owner);
    owner.loop = this.live(owner);
  }

  /** A live owner: (re)creates its node, then checks it is there. */
  private async live(o: Owner): Promise<void> {
    const { journal } = this.ctx;
    while (!this.stopping.signal.aborted && o.diedAt === null) {
      if (o.session === null) await this.create(o);
      else {
        const op = journal.invoke(o.name, 'exists', { path: o.path });
        try {
          const stat = await o.client.exists(o.path);
          journal.complete(op, 'ok', stat === null ? null : stat.stat.ephemeralOwner);
          this.checksDone++;
          if (stat === null && o.diedAt === null) await this.probe(o);
        } catch (e) {
          journal.complete(op, 'fail', errorText(e));
        }
      }
      await sleepUnless(this.ctx.sessionTtlMs / 4, this.stopping.signal);
    }
  }

  private async create(o: Owner): Promise<void> {
    const session = o.client.session?.id ?? null;
    const op = this.ctx.journal.invoke(o.name, 'create-ephemeral', { path: o.path, session });
    try {
      const { stat } = await o.client.create(o.path, o.name, { mode: 'ephemeral' });
      this.ctx.journal.complete(op, 'ok', stat.ephemeralOwner);
      o.session = stat.ephemeralOwner;
    } catch (e) {
      if (HikariError.is(e, ErrorCode.NODE_EXISTS)) {
        // An earlier attempt applied, or the node of an expired session is not gone yet: look again.
        const stat = await o.client.exists(o.path).catch(() => null);
        this.ctx.journal.complete(op, 'ok', stat?.stat.ephemeralOwner ?? null);
        if (stat !== null && stat.stat.ephemeralOwner === o.client.session?.id) o.session = stat.stat.ephemeralOwner;
        return;
      }
      this.ctx.journal.complete(op, HikariError.is(e) && !e.indeterminate ? 'fail' : 'info', errorText(e));
    }
  }

  /** The node is gone: was its session gone too? */
  private async probe(o: Owner): Promise<void> {
    const session = o.session!;
    if (o.expiredSessions.has(session) || o.client.session?.id !== session) {
      o.session = null; // expired, and the SDK said so: the legitimate case
      this.recreated++;
      return;
    }
    const op = this.ctx.journal.invoke(o.name, 'probe', { path: o.path, session });
    try {
      const { stat } = await o.client.create(o.path, o.name, { mode: 'ephemeral' });
      this.ctx.journal.complete(op, 'ok', stat.ephemeralOwner);
      if (stat.ephemeralOwner === session) {
        this.violations.push(`${o.name}'s ephemeral node ${o.path} vanished while its session ${session} was alive (the server accepted a new ephemeral node on it at ${fmt(now())})`);
      }
      o.session = stat.ephemeralOwner;
    } catch (e) {
      this.ctx.journal.complete(op, 'fail', errorText(e));
      if (HikariError.is(e, ErrorCode.SESSION_EXPIRED) || o.expiredSessions.has(session)) {
        o.session = null;
        this.recreated++;
      }
    }
  }

  /**
   * The watch sees a deletion at once, but may not see it at all (a `resync`: the node it resumed
   * on had no history that far back), so dead owners' nodes are also read about twice a second:
   * `goneAt` is then at most that late.
   */
  private async pollDead(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      for (const o of this.owners.filter((x) => x.diedAt !== null && x.goneAt === null)) {
        const seen = await this.watcher!.exists(o.path, { timeoutMs: 1000 }).then((stat) => stat === null, () => false);
        if (seen) o.goneAt ??= now();
      }
      await sleepUnless(500, this.stopping.signal);
    }
  }

  /** Every few seconds an owner dies and a new one is born. */
  private async killLoop(): Promise<void> {
    const random = this.ctx.random;
    for (;;) {
      await sleepUnless(3000 + random.nextInt(4000), this.stopping.signal);
      if (this.stopping.signal.aborted) return;
      const living = this.owners.filter((o) => o.diedAt === null);
      const holding = living.filter((o) => o.session !== null);
      if (living.length >= OWNERS && holding.length > 0) this.kill(holding[random.nextInt(holding.length)]!);
      if (this.ctx.unsafe.has('ephemeral-delete') && holding.length > 1) {
        // The unsafe variant: a live owner's node disappears as if its session had expired.
        await this.watcher!.delete(holding[0]!.path).catch(() => undefined);
      }
      // Back to OWNERS live owners (a spawn that cannot connect now is tried again next round).
      for (let n = this.owners.filter((o) => o.diedAt === null).length; n < OWNERS; n++) await this.spawn();
    }
  }

  private kill(o: Owner): void {
    o.diedAt = now();
    this.ctx.journal.fault('owner-death', `${o.name} dies (links cut for good)`, false).end = o.diedAt;
    this.ctx.net.setAround(clientName(o.name), this.ctx.memberNames(), { cut: true });
    this.ctx.deadClients.add(clientName(o.name));
    // Nothing of it runs any more; closing cannot reach the cluster through the cut links.
    void o.client.close();
  }
}

function fmt(t: number): string {
  return `${(t / 1000).toFixed(3)} s`;
}
