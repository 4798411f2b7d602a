/**
 * Processes a benchmark started must not outlive it. Whatever starts servers (a HikariKeeper cluster,
 * a redis-server, ...) guards them here while they run:
 * - on SIGINT / SIGTERM every guarded thing is stopped (gracefully), then the benchmark exits with
 *   128 + signal;
 * - if the process exits with them still up (an uncaught error, process.exit), they are killed
 *   synchronously (SIGKILL) and their folders removed, from the 'exit' handler.
 * The process hooks exist only while something is guarded.
 */
export interface Guarded {
  /** What it is, for the interruption message: "benchmark cluster", "redis-server". */
  readonly what: string;
  /** Graceful stop (idempotent). */
  stop(): Promise<void>;
  /** Last resort, synchronous: SIGKILL what still runs, remove temporary folders (best effort). */
  killNow(): void;
}

const live = new Set<Guarded>();
let hooksInstalled = false;

/** Guards `g` until the returned function is called (when `g` has stopped). */
export function guard(g: Guarded): () => void {
  live.add(g);
  installHooks();
  return () => {
    live.delete(g);
    if (live.size === 0) uninstallHooks();
  };
}

function onSignal(signal: NodeJS.Signals): void {
  const code = 128 + (signal === 'SIGINT' ? 2 : 15);
  const names = [...new Set([...live].map((g) => g.what))].join(', ');
  process.stderr.write(`\n${signal}: stopping ${live.size} ${names} process group(s) ...\n`);
  void Promise.allSettled([...live].map((g) => g.stop())).then(() => process.exit(code));
}

function onExit(): void {
  for (const g of live) {
    try {
      g.killNow();
    } catch {
      // best effort: the process is exiting
    }
  }
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.on('exit', onExit);
}

function uninstallHooks(): void {
  if (!hooksInstalled) return;
  hooksInstalled = false;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('exit', onExit);
}
