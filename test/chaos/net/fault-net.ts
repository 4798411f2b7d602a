/**
 * The fault table of the chaos harness's network: one rule per directed link between two
 * endpoints ('n<id>' for a server node, 'c:<name>' for a workload client). The link proxies
 * (link-proxy.ts) consult it for every frame and are told when it changes.
 *
 * What a rule does to frames going from `src` to `dst`:
 * - `cut`: no connection between the two (both directions are always cut together: a partition).
 *   Open connections are reset; new ones are closed as soon as they say who they are.
 * - `blackhole`: frames are held, not delivered (a stalled TCP stream: nothing is lost, nothing
 *   arrives), and delivered in order once the blackhole is lifted. Past a bound of held bytes the
 *   connection is reset (as TCP gives up on a peer that never acknowledges). One direction only.
 * - `dropRate`: each frame is lost with that probability. On a Raft message connection, whose
 *   frames are independent batches of messages that Raft may lose, the frame is discarded; on a
 *   client or snapshot connection, where the protocol relies on TCP delivering every byte, a loss
 *   resets the connection instead (a network that loses enough packets breaks a connection; it does
 *   not silently remove a frame from the middle of a stream).
 * - `delayMs` (+ up to `jitterMs`): each frame is delivered that much later, order kept.
 */
import { SeededRandom } from '@hikarikeeper/raft';

export interface LinkRule {
  readonly cut: boolean;
  readonly blackhole: boolean;
  readonly dropRate: number;
  readonly delayMs: number;
  readonly jitterMs: number;
}

export const HEALTHY: LinkRule = Object.freeze({ cut: false, blackhole: false, dropRate: 0, delayMs: 0, jitterMs: 0 });

export const nodeName = (id: number): string => `n${id}`;
export const clientName = (name: string): string => `c:${name}`;
/** Stands for every client in a rule: set(ANY_CLIENT, 'n1', ...) applies to each client's link to n1 that has no rule of its own. */
export const ANY_CLIENT = 'c:*';

function anyClient(endpoint: string): string {
  return endpoint.startsWith('c:') ? ANY_CLIENT : endpoint;
}

export class FaultNet {
  private readonly rules = new Map<string, LinkRule>();
  private readonly listeners = new Set<() => void>();
  /** Draws for drops and jitter; seeded, though the timing of frames is not reproducible anyway. */
  private readonly random: SeededRandom;

  constructor(seed: number) {
    this.random = new SeededRandom(seed ^ 0x5eed);
  }

  /** The rule of src → dst: its own, else the one of any client (ANY_CLIENT) on that side, else healthy. */
  rule(src: string, dst: string): LinkRule {
    return this.rules.get(key(src, dst)) ?? this.rules.get(key(anyClient(src), anyClient(dst))) ?? HEALTHY;
  }

  /** Changes the rule of the directed link src → dst (a cut is applied to both directions). */
  set(src: string, dst: string, change: Partial<LinkRule>): void {
    this.rules.set(key(src, dst), { ...this.own(src, dst), ...change });
    if (change.cut !== undefined) this.rules.set(key(dst, src), { ...this.own(dst, src), cut: change.cut });
    this.changed();
  }

  /** Cuts every link between members of different groups (endpoints in no group are not touched). */
  partition(groups: readonly (readonly string[])[]): void {
    for (let i = 0; i < groups.length; i++) {
      for (let j = 0; j < groups.length; j++) {
        if (i === j) continue;
        for (const a of groups[i]!) for (const b of groups[j]!) this.rules.set(key(a, b), { ...this.own(a, b), cut: true });
      }
    }
    this.changed();
  }

  /** Applies `change` to every directed link among `endpoints` (both directions). */
  setAmong(endpoints: readonly string[], change: Partial<LinkRule>): void {
    for (const a of endpoints) for (const b of endpoints) if (a !== b) this.rules.set(key(a, b), { ...this.own(a, b), ...change });
    this.changed();
  }

  /** Every link of `endpoint`, both directions, to and from each of `others`. */
  setAround(endpoint: string, others: readonly string[], change: Partial<LinkRule>): void {
    for (const o of others) {
      if (o === endpoint) continue;
      this.rules.set(key(endpoint, o), { ...this.own(endpoint, o), ...change });
      this.rules.set(key(o, endpoint), { ...this.own(o, endpoint), ...change });
    }
    this.changed();
  }

  private own(src: string, dst: string): LinkRule {
    return this.rules.get(key(src, dst)) ?? HEALTHY;
  }

  /** Every link back to healthy. */
  heal(): void {
    this.rules.clear();
    this.changed();
  }

  /** The links that are not healthy now, for the report. */
  describe(): string[] {
    const out: string[] = [];
    for (const [k, r] of this.rules) {
      const parts = [r.cut && 'cut', r.blackhole && 'blackhole', r.dropRate > 0 && `drop ${Math.round(r.dropRate * 100)}%`, r.delayMs > 0 && `delay ${r.delayMs}+${r.jitterMs} ms`].filter(Boolean);
      if (parts.length > 0) out.push(`${k}: ${parts.join(', ')}`);
    }
    return out;
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return p > 0 && this.random.next() < p;
  }

  /** A delay for one frame under `rule`. */
  delayFor(rule: LinkRule): number {
    return rule.delayMs + (rule.jitterMs > 0 ? this.random.next() * rule.jitterMs : 0);
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }
}

function key(src: string, dst: string): string {
  return `${src}->${dst}`;
}
