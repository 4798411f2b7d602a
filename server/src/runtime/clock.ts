/** The clock port: wall time for command timestamps, and a repeating timer for Raft ticks. */
export interface Clock {
  now(): number;
  every(ms: number, fn: () => void): { cancel(): void };
  after(ms: number, fn: () => void): { cancel(): void };
}

export const systemClock: Clock = {
  now: () => Date.now(),
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref?.();
    return { cancel: () => clearInterval(t) };
  },
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
};
