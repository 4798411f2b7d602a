/**
 * Nemeses: the faults a run injects, one at a time, drawn from the run's seed. Each applies its
 * fault, holds it a while, and undoes it (the heal phase undoes whatever is left, too).
 */
import type { SeededRandom } from '@hikarikeeper/raft';
import { FAILPOINTS } from '@hikarikeeper/server/dist/failpoints';
import type { ChaosCluster } from './cluster';
import type { FaultRecord, Journal } from './journal';
import { ANY_CLIENT, FaultNet, nodeName } from './net/fault-net';
import { now, sleep } from './time';
import type { LockWorkload } from './workloads/locks';

export const NEMESES = [
  'kill', 'pause', 'partition', 'one-way', 'flaky', 'member', 'snapshot', 'crash-after-save', 'crash-before-reply', 'pause-holder',
] as const;
export type NemesisName = (typeof NEMESES)[number];

export const NEMESIS_HELP: Record<NemesisName, string> = {
  kill: 'kill -9 a node (the leader half of the time), restart it 1-4 s later',
  pause: 'SIGSTOP a node (the leader half of the time) for longer than the session TTL, then SIGCONT',
  partition: 'cut links: the leader isolated, a random minority/majority split, or a bridge (two sides that only one node joins)',
  'one-way': "blackhole one direction: the leader's messages to its followers, or theirs to it",
  flaky: 'drop 10-30% of Raft frames and delay every frame (peer and client links) by up to 80 ms',
  member: 'remove a node from the membership and add a fresh one (new id, same addresses) in its place',
  snapshot: 'kill a follower and keep it down until the leader has compacted its log past it, so it must catch up by snapshot',
  'crash-after-save': 'failpoint raft-after-save: a node dies right after a write reached its disk, before anything that waits for it (append responses, votes)',
  'crash-before-reply': 'failpoint apply-before-reply: the leader dies after applying committed writes, before answering them',
  'pause-holder': 'a lock holder stops (links blackholed, no work) past its session TTL inside its critical section',
};

export interface NemesisContext {
  readonly cluster: ChaosCluster;
  readonly net: FaultNet;
  readonly journal: Journal;
  readonly random: SeededRandom;
  readonly sessionTtlMs: number;
  readonly locks: LockWorkload | null;
  /** Nodes stopped with SIGSTOP and not resumed yet (the heal resumes them). */
  readonly paused: Set<number>;
  log(line: string): void;
}

/** Runs one nemesis to its end; returns what it did. */
export async function runNemesis(name: NemesisName, ctx: NemesisContext): Promise<FaultRecord> {
  const fault = ctx.journal.fault(name, '');
  const detail = (text: string): void => {
    (fault as { detail: string }).detail = text;
    ctx.log(`nemesis ${name}: ${text}`);
  };
  try {
    await NEMESIS_RUNS[name](ctx, detail);
  } finally {
    fault.end = now();
  }
  return fault;
}

type Run = (ctx: NemesisContext, detail: (text: string) => void) => Promise<void>;

const pick = <T>(random: SeededRandom, items: readonly T[]): T => items[random.nextInt(items.length)]!;
const between = (random: SeededRandom, lo: number, hi: number): number => lo + random.nextInt(hi - lo + 1);

/** The leader (half of the time, when there is one) or any member. */
async function victim(ctx: NemesisContext, preferLeader = 0.5): Promise<number> {
  const leader = await ctx.cluster.leaderNow();
  if (leader !== null && ctx.random.next() < preferLeader) return leader;
  return pick(ctx.random, ctx.cluster.members);
}

async function follower(ctx: NemesisContext): Promise<number> {
  const leader = await ctx.cluster.leader();
  return pick(ctx.random, ctx.cluster.members.filter((id) => id !== leader));
}

const NEMESIS_RUNS: Record<NemesisName, Run> = {
  async kill(ctx, detail) {
    const id = await victim(ctx);
    const downMs = between(ctx.random, 1000, 4000);
    detail(`node ${id} killed (SIGKILL), restarted after ${downMs} ms`);
    await ctx.cluster.kill(id);
    await sleep(downMs);
    await ctx.cluster.restartAndWait(id);
  },

  async pause(ctx, detail) {
    const id = await victim(ctx);
    const pausedMs = ctx.sessionTtlMs + between(ctx.random, 1000, 3000);
    detail(`node ${id} stopped (SIGSTOP) for ${pausedMs} ms`);
    ctx.paused.add(id);
    ctx.cluster.pause(id);
    await sleep(pausedMs);
    ctx.cluster.resume(id);
    ctx.paused.delete(id);
  },

  async partition(ctx, detail) {
    const members = ctx.cluster.members;
    const leader = await ctx.cluster.leaderNow();
    const shuffled = shuffle(ctx.random, members);
    const kind = pick(ctx.random, ['isolate-leader', 'halves', 'bridge'] as const);
    let groups: number[][];
    if (kind === 'isolate-leader' && leader !== null) groups = [[leader], members.filter((id) => id !== leader)];
    else if (kind === 'bridge') {
      // Two sides that cannot talk; one node (the bridge) talks to both.
      const bridge = shuffled[0]!;
      const rest = shuffled.slice(1);
      const half = Math.floor(rest.length / 2);
      const [a, b] = [rest.slice(0, half), rest.slice(half)];
      ctx.net.partition([a.map(nodeName), b.map(nodeName)]);
      const holdMs = between(ctx.random, 3000, 8000);
      detail(`bridge: ${a.join(',')} | ${b.join(',')}, node ${bridge} joins both, for ${holdMs} ms`);
      await sleep(holdMs);
      ctx.net.setAmong(ctx.cluster.memberNames, { cut: false });
      return;
    } else {
      const minority = between(ctx.random, 1, Math.floor((members.length - 1) / 2));
      groups = [shuffled.slice(0, minority), shuffled.slice(minority)];
    }
    const holdMs = between(ctx.random, 3000, 8000);
    detail(`${kind}: ${groups.map((g) => g.join(',')).join(' | ')} for ${holdMs} ms`);
    ctx.net.partition(groups.map((g) => g.map(nodeName)));
    await sleep(holdMs);
    ctx.net.setAmong(ctx.cluster.memberNames, { cut: false });
  },

  async 'one-way'(ctx, detail) {
    const leader = await ctx.cluster.leader();
    const others = ctx.cluster.members.filter((id) => id !== leader);
    const outbound = ctx.random.next() < 0.5;
    const holdMs = between(ctx.random, 3000, 6000);
    detail(`${outbound ? `node ${leader} → the others` : `the others → node ${leader}`} blackholed for ${holdMs} ms`);
    for (const o of others) {
      const [src, dst] = outbound ? [leader, o] : [o, leader];
      ctx.net.set(nodeName(src), nodeName(dst), { blackhole: true });
    }
    await sleep(holdMs);
    ctx.net.setAmong(ctx.cluster.memberNames, { blackhole: false });
  },

  async flaky(ctx, detail) {
    const dropRate = between(ctx.random, 10, 30) / 100;
    const delayMs = between(ctx.random, 0, 30);
    const jitterMs = between(ctx.random, 0, 50);
    const holdMs = between(ctx.random, 4000, 8000);
    detail(`Raft frames dropped ${Math.round(dropRate * 100)}%, every frame delayed ${delayMs}+${jitterMs} ms, for ${holdMs} ms`);
    const names = ctx.cluster.memberNames;
    ctx.net.setAmong(names, { dropRate, delayMs, jitterMs });
    ctx.net.setAround(ANY_CLIENT, names, { delayMs, jitterMs });
    await sleep(holdMs);
    ctx.net.setAmong(names, { dropRate: 0, delayMs: 0, jitterMs: 0 });
    ctx.net.setAround(ANY_CLIENT, names, { delayMs: 0, jitterMs: 0 });
  },

  async member(ctx, detail) {
    const slot = pick(ctx.random, ctx.cluster.slots);
    const before = slot.nodeId;
    detail(`node ${before} removed, a fresh node added in its slot ...`);
    const { added } = await ctx.cluster.replace(slot, 90_000);
    detail(`node ${before} removed; node ${added} added in its place (learner, caught up, promoted)`);
  },

  async snapshot(ctx, detail) {
    const id = await follower(ctx);
    const lastIndex = Number((await ctx.cluster.status(id))?.lastIndex ?? 0);
    await ctx.cluster.kill(id);
    const started = now();
    detail(`node ${id} killed at log index ${lastIndex}; kept down until the leader's log starts past it`);
    let compacted = false;
    while (now() - started < 60_000) {
      const leader = await ctx.cluster.leaderNow();
      const first = leader === null ? 0 : Number((await ctx.cluster.status(leader))?.firstIndex ?? 0);
      if (first > lastIndex + 1) {
        compacted = true;
        break;
      }
      await sleep(250);
    }
    await ctx.cluster.restartAndWait(id);
    if (!compacted) {
      detail(`node ${id} killed at log index ${lastIndex}; the leader had not compacted past it after 60 s (too few writes): restarted anyway`);
      return;
    }
    const installed = await waitFor(() => ctx.cluster.tail(id, 200).includes('snapshot installed'), 30_000);
    detail(`node ${id} down from log index ${lastIndex} for ${Math.round(now() - started)} ms, until compacted past it; ${installed ? 'caught up by snapshot' : 'no snapshot installed within 30 s of its restart'}`);
  },

  async 'crash-after-save'(ctx, detail) {
    await crashAt(ctx, detail, await victim(ctx), FAILPOINTS.raftAfterSave);
  },

  async 'crash-before-reply'(ctx, detail) {
    await crashAt(ctx, detail, await ctx.cluster.leader(), FAILPOINTS.applyBeforeReply);
  },

  async 'pause-holder'(ctx, detail) {
    if (ctx.locks === null) {
      detail('no lock workload: nothing to pause');
      return;
    }
    const worker = ctx.random.nextInt(1000);
    const ms = ctx.sessionTtlMs + between(ctx.random, 2000, 3000);
    detail(`the next critical section of lock worker ${worker} pauses for ${ms} ms`);
    const done = ctx.locks.pausesDone;
    ctx.locks.pauseWorker(worker, ms);
    await waitFor(() => ctx.locks!.pausesDone > done, ms + 15_000);
  },
};

/** Arms a crash failpoint on `id`, waits for the node to die there, restarts it. */
async function crashAt(ctx: NemesisContext, detail: (text: string) => void, id: number, point: string): Promise<void> {
  await ctx.cluster.failpoint(id, point, 'crash');
  const died = await ctx.cluster.waitExit(id, 5000);
  if (!died) {
    await ctx.cluster.failpoint(id, point, 'off').catch(() => undefined);
    detail(`node ${id}: ${point} armed, not reached within 5 s; disarmed`);
    return;
  }
  const downMs = between(ctx.random, 500, 2000);
  detail(`node ${id} crashed at ${point}; restarted after ${downMs} ms`);
  await sleep(downMs);
  await ctx.cluster.restartAndWait(id);
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = now() + timeoutMs;
  while (!condition()) {
    if (now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

function shuffle<T>(random: SeededRandom, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.nextInt(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
