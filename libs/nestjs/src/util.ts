/** Small helpers shared by the module's services. */

/** An error's message, for log lines. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `promise`, or a rejection after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms`, or as soon as `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The delay before attempt `failures + 1`: `initialMs` doubling to `maxMs`, with jitter (half to all of it). */
export function backoffMs(failures: number, initialMs: number, maxMs: number): number {
  return Math.round(Math.min(maxMs, initialMs * 2 ** (failures - 1)) * (0.5 + Math.random() / 2));
}
