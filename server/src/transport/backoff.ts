/**
 * Reconnection delays: exponential from `minMs` to `maxMs`, with "equal jitter" (a delay is drawn
 * in [d/2, d]) so that the nodes of a cluster restarted together do not dial in lock-step. The
 * random source is injected: the server passes Math.random, tests a fixed sequence.
 */
export type RandomFn = () => number;

export class Backoff {
  private attempt = 0;

  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly random: RandomFn,
  ) {}

  /** The delay before the next attempt; each call doubles the base delay, up to `maxMs`. */
  next(): number {
    const base = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    const r = Math.min(1, Math.max(0, this.random()));
    return Math.round(base / 2 + (r * base) / 2);
  }

  /** After a success: the next failure starts again from `minMs`. */
  reset(): void {
    this.attempt = 0;
  }
}
