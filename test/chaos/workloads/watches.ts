/**
 * Watch workload: one writer creates, changes and deletes a few nodes, one operation at a time;
 * watchers (each its own client, reconnecting through the faults like any client) watch them
 * recursively.
 *
 * Checks, per watcher:
 * - in order, once: event indexes never go down, no event comes twice, and per node the types
 *   follow created → changed* → deleted → created ...;
 * - every change seen: each acknowledged create and set made after the watch was in place shows
 *   as an event at the index the write returned, with its path and type, and each acknowledged
 *   delete as a `deleted` event between the writes around it — except changes that fall in a
 *   `resync` (the node's history no longer reached back: the documented gap, counted);
 * - nothing invented: an event at the index of an acknowledged write names that write's node and type;
 * - caught up: after the heal, the writer's last write reaches every watcher within the recovery bound.
 */
import { HikariClient, Watch, WatchEvent } from '@hikarikeeper/client';
import type { OpRecord } from '../journal';
import { now, sleep, sleepUnless } from '../time';
import { CheckReport, connectClient, ensureNode, errorText, failureOutcome, Workload, WorkloadContext } from './workload';

const ROOT = '/chaos-watch';
const KEYS = 4;
const WATCHERS = 3;

export interface WriteOp {
  readonly path: string;
  readonly type: 'created' | 'changed' | 'deleted';
  readonly call: number;
  outcome: 'ok' | 'fail' | 'info' | null;
  /** The log index of the change (creates and sets that were acknowledged). */
  index: number | null;
  readonly record: OpRecord;
}

/** What the checks need of a watcher. */
export interface WatcherRecord {
  readonly name: string;
  /** The index the watch started from, and when it was in place. */
  readonly startIndex: number;
  readonly readyAt: number;
  readonly events: (WatchEvent & { at: number })[];
  /** Each resync: changes in (after, index] may be missing. */
  readonly resyncs: { index: number; after: number; at: number }[];
}

interface Watcher extends WatcherRecord {
  readonly client: HikariClient;
  readonly watch: Watch;
  error: string | null;
}

export class WatchWorkload implements Workload {
  readonly name = 'watches';
  private writer: HikariClient | null = null;
  private readonly watchers: Watcher[] = [];
  private readonly writes: WriteOp[] = [];
  private readonly stopping = new AbortController();
  private loop: Promise<void> | null = null;
  private readonly liveness: string[] = [];

  constructor(private readonly ctx: WorkloadContext) {}

  async start(): Promise<void> {
    this.writer = await connectClient(this.ctx, 'watch-writer', { session: false });
    await ensureNode(this.writer, ROOT);
    for (let i = 0; i < WATCHERS; i++) {
      const name = `watcher-${i}`;
      const client = await connectClient(this.ctx, name, { session: false });
      const watch = client.watch(ROOT, { kind: 'recursive' });
      const startIndex = await watch.ready;
      const w: Watcher = { name, client, watch, startIndex, readyAt: now(), events: [], resyncs: [], error: null };
      const lossy = this.ctx.unsafe.has('watch-loss');
      watch.on('event', (e) => {
        if (lossy && this.ctx.random.nextInt(40) === 0) return; // the broken client of the unsafe variant
        w.events.push({ ...e, at: now() });
      });
      watch.on('resync', (r) => w.resyncs.push({ index: r.index, after: w.events.at(-1)?.index ?? w.startIndex, at: now() }));
      watch.on('error', (e) => (w.error = errorText(e)));
      this.watchers.push(w);
    }
    this.loop = this.write();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  /** A last write after the heal must reach every watcher within the recovery bound. */
  async final(): Promise<void> {
    const deadline = now() + this.ctx.recoveryMs;
    let index: number | null = null;
    for (let attempt = 0; index === null && now() < deadline; attempt++) {
      const path = `${ROOT}/final-${attempt}`; // a fresh node each attempt: an earlier one may have applied
      const op = this.record(path, 'created');
      try {
        index = (await this.writer!.create(path, 'last')).stat.modifiedIndex;
        this.settle(op, 'ok', index);
      } catch (e) {
        this.settle(op, failureOutcome(e), null, errorText(e));
        await sleep(200);
      }
    }
    if (index === null) {
      this.liveness.push(`the watch writer could not write within ${this.ctx.recoveryMs} ms of the heal`);
      return;
    }
    await Promise.all(this.watchers.map(async (w) => {
      while ((w.events.at(-1)?.index ?? 0) < index! && w.error === null) {
        if (now() > deadline) {
          this.liveness.push(`${w.name} had not seen index ${index} ${this.ctx.recoveryMs} ms after the heal (last seen ${w.events.at(-1)?.index ?? 'none'})`);
          return;
        }
        await sleep(100);
      }
    }));
  }

  check(): CheckReport {
    const violations = [...this.liveness];
    let events = 0;
    let skipped = 0;
    const byIndex = new Map<number, WriteOp>();
    for (const op of this.writes) if (op.index !== null) byIndex.set(op.index, op);
    for (const w of this.watchers) {
      events += w.events.length;
      if (w.error !== null) violations.push(`${w.name}'s watch closed with ${w.error}`);
      violations.push(...checkOrder(w), ...checkInvented(w, byIndex));
      const missed = checkComplete(w, this.writes);
      skipped += missed.inGaps;
      violations.push(...missed.violations);
    }
    return {
      workload: this.name, checked: events, unit: 'watch events', violations,
      notes: [`${this.writes.length} writes (${this.writes.filter((w) => w.outcome === 'ok').length} acknowledged), ${events} events over ${WATCHERS} watchers, ` +
        `${this.watchers.reduce((n, w) => n + w.resyncs.length, 0)} resyncs (${skipped} changes in their gaps)`],
    };
  }

  dump(): unknown {
    return {
      writes: this.writes.map(({ record: _record, ...w }) => w),
      watchers: this.watchers.map((w) => ({ name: w.name, startIndex: w.startIndex, readyAt: w.readyAt, error: w.error, resyncs: w.resyncs, events: w.events })),
    };
  }

  async close(): Promise<void> {
    for (const w of this.watchers) w.watch.close();
    await Promise.allSettled([this.writer?.close(), ...this.watchers.map((w) => w.client.close())]);
  }

  /** The writer: one operation at a time on KEYS nodes (create when absent, else set or delete). */
  private async write(): Promise<void> {
    const exists = new Map<string, boolean | null>(); // null: unknown (an unknown outcome)
    const random = this.ctx.random;
    let n = 0;
    while (!this.stopping.signal.aborted) {
      const path = `${ROOT}/w${random.nextInt(KEYS)}`;
      let state = exists.has(path) ? exists.get(path)! : false; // never written: absent; null: unknown
      if (state === null) {
        const check = this.ctx.journal.invoke('watch-writer', 'exists', { path });
        try {
          state = (await this.writer!.exists(path)) !== null;
          this.ctx.journal.complete(check, 'ok', state);
          exists.set(path, state);
        } catch (e) {
          this.ctx.journal.complete(check, 'fail', errorText(e));
          await sleepUnless(100, this.stopping.signal);
          continue;
        }
      }
      const type = !state ? 'created' : random.next() < 0.75 ? 'changed' : 'deleted';
      const op = this.record(path, type);
      try {
        if (type === 'created') this.settle(op, 'ok', (await this.writer!.create(path, String(n++))).stat.modifiedIndex);
        else if (type === 'changed') this.settle(op, 'ok', (await this.writer!.set(path, String(n++))).stat.modifiedIndex);
        else {
          await this.writer!.delete(path);
          this.settle(op, 'ok', null);
        }
        exists.set(path, type !== 'deleted');
      } catch (e) {
        this.settle(op, failureOutcome(e), null, errorText(e));
        exists.set(path, null);
      }
      await sleepUnless(20 + random.nextInt(40), this.stopping.signal);
    }
  }

  private record(path: string, type: WriteOp['type']): WriteOp {
    const record = this.ctx.journal.invoke('watch-writer', type, { path });
    const op: WriteOp = { path, type, call: record.call, outcome: null, index: null, record };
    this.writes.push(op);
    return op;
  }

  private settle(op: WriteOp, outcome: 'ok' | 'fail' | 'info', index: number | null, error?: string): void {
    op.outcome = outcome;
    op.index = index;
    this.ctx.journal.complete(op.record, outcome, error ?? index);
  }
}

export function checkOrder(w: WatcherRecord): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const last = new Map<string, { type: WatchEvent['type']; index: number }>();
  let previous = w.startIndex;
  for (const e of w.events) {
    if (e.index < previous) out.push(`${w.name}: event ${e.type} ${e.path} at index ${e.index} came after index ${previous}`);
    previous = Math.max(previous, e.index);
    const id = `${e.index} ${e.type} ${e.path}`;
    if (seen.has(id)) out.push(`${w.name}: event ${id} delivered twice`);
    seen.add(id);
    const before = last.get(e.path);
    // A resync whose gap lies between this node's previous event and this one may hide changes of it.
    const resynced = before !== undefined && w.resyncs.some((r) => r.index > before.index && r.after < e.index);
    if (!resynced && before !== undefined && (e.type === 'created') !== (before.type === 'deleted')) {
      out.push(`${w.name}: ${e.path} went ${before.type} → ${e.type} at index ${e.index}`);
    }
    last.set(e.path, { type: e.type, index: e.index });
  }
  return out.slice(0, 20);
}

export function checkInvented(w: WatcherRecord, byIndex: ReadonlyMap<number, WriteOp>): string[] {
  const out: string[] = [];
  for (const e of w.events) {
    const op = byIndex.get(e.index);
    if (op !== undefined && (op.path !== e.path || op.type !== e.type)) {
      out.push(`${w.name}: event ${e.type} ${e.path} at index ${e.index}, where the write acknowledged there was ${op.type} ${op.path}`);
    }
  }
  return out.slice(0, 20);
}

export function checkComplete(w: WatcherRecord, writes: readonly WriteOp[]): { violations: string[]; inGaps: number } {
  const out: string[] = [];
  let inGaps = 0;
  const inGap = (index: number): boolean => w.resyncs.some((r) => index > r.after && index <= r.index);
  const lastSeen = w.events.at(-1)?.index ?? w.startIndex;
  const has = (path: string, type: string, lo: number, hi: number): boolean =>
    w.events.some((e) => e.path === path && e.type === type && e.index > lo && e.index < hi);
  for (let i = 0; i < writes.length; i++) {
    const op = writes[i]!;
    if (op.outcome !== 'ok' || op.call < w.readyAt) continue;
    if (op.index !== null) {
      if (op.index > lastSeen) continue; // not delivered yet when the run ended: liveness is final()'s check
      if (inGap(op.index)) {
        inGaps++;
        continue;
      }
      if (!has(op.path, op.type, op.index - 1, op.index + 1)) out.push(`${w.name} missed ${op.type} ${op.path} at index ${op.index}`);
      continue;
    }
    // A delete: its index is unknown; it lies between the acknowledged writes of its node around it.
    const before = [...writes.slice(0, i)].reverse().find((o) => o.path === op.path && o.index !== null && o.outcome === 'ok');
    const after = writes.slice(i + 1).find((o) => o.path === op.path && o.index !== null && o.outcome === 'ok');
    const lo = before?.index ?? w.startIndex;
    const hi = after?.index ?? Infinity;
    if (hi === Infinity && lastSeen <= lo) continue; // possibly not delivered yet
    if (w.resyncs.some((r) => r.index > lo && r.after < hi)) {
      inGaps++;
      continue;
    }
    if (!has(op.path, 'deleted', lo, hi)) out.push(`${w.name} missed the deletion of ${op.path} between indexes ${lo} and ${hi}`);
  }
  return { violations: out.slice(0, 20), inGaps };
}
