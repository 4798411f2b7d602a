/**
 * The server processes of a peer system (redis-server, etcd members, ZooKeeper servers) that a
 * benchmark or a test starts next to HikariKeeper: each one a `PeerProcess` (spawn, last log lines,
 * kill -9, graceful stop, restart), grouped with their temporary folder in a `PeerGroup`.
 *
 * Only the processes started here are ever signalled. A group is guarded (../exit-guard.ts) from its
 * creation until `stop()`: on SIGINT / SIGTERM its processes are stopped and its folder removed, and
 * if the benchmark exits without stopping them (an uncaught error, process.exit) they are SIGKILLed
 * and the folder removed synchronously.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { guard } from '../exit-guard';

/** Log lines kept per process, and shown when it fails. */
export const PEER_TAIL_LINES = 40;
/** Time a process gets to stop after SIGTERM before SIGKILL. */
export const PEER_STOP_GRACE_MS = 5_000;
/** Pause between two probes while waiting for a process to be ready. */
const PROBE_INTERVAL_MS = 50;

export interface PeerProcessOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** One server process; `start()` may be called again after it exited (a restart after kill -9). */
export class PeerProcess {
  private child: ChildProcess | null = null;
  private exit: Promise<string> | null = null;
  private readonly lines: string[] = [];

  constructor(
    readonly label: string,
    private readonly command: string,
    private readonly args: readonly string[],
    private readonly opts: PeerProcessOptions = {},
  ) {}

  get pid(): number | null {
    return this.running ? (this.child?.pid ?? null) : null;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Spawns the process (a no-op while it runs). */
  start(): void {
    if (this.running) return;
    const child = spawn(this.command, [...this.args], { cwd: this.opts.cwd, env: this.opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let pending = '';
    const keep = (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      this.lines.push(...parts.filter((l) => l.trim() !== ''));
      if (this.lines.length > PEER_TAIL_LINES) this.lines.splice(0, this.lines.length - PEER_TAIL_LINES);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exit = new Promise<string>((resolve) => {
      child.once('error', (error) => resolve(`it could not be started: ${error.message}`));
      child.once('exit', (code, signal) => resolve(`it exited (${signal ?? `code ${code}`})`));
    });
  }

  /** Why the process ended, once it has (never settles while it runs; '' if it never started). */
  exited(): Promise<string> {
    return this.exit ?? Promise.resolve('');
  }

  /** Its last log lines. */
  tail(): string {
    return this.lines.join('\n');
  }

  /** Sends `signal` (a crash: SIGKILL) and waits until the process has exited. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running) return;
    this.child!.kill(signal);
    await this.exited();
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  async stop(graceMs = PEER_STOP_GRACE_MS): Promise<void> {
    if (!this.running) return;
    const child = this.child!;
    child.kill('SIGCONT'); // a stopped process cannot handle SIGTERM
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exited();
    clearTimeout(timer);
  }

  /** Synchronous last resort (the process is exiting). */
  killNow(): void {
    if (this.running) this.child!.kill('SIGKILL');
  }
}

/**
 * The processes of one peer system and the folder holding their data. Guarded from construction
 * until `stop()`, which stops every process (in parallel) and removes the folder if it owns it.
 */
export class PeerGroup {
  readonly processes: PeerProcess[] = [];
  private stopped: Promise<void> | null = null;
  private readonly unguard: () => void;

  constructor(readonly what: string, readonly dir: string, private readonly ownsDir: boolean) {
    this.unguard = guard({
      what,
      stop: () => this.stop(),
      killNow: () => {
        for (const p of this.processes) p.killNow();
        if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
      },
    });
  }

  add(label: string, command: string, args: readonly string[], opts?: PeerProcessOptions): PeerProcess {
    const p = new PeerProcess(label, command, args, opts);
    this.processes.push(p);
    return p;
  }

  /** Pids of the running processes, by label. */
  pids(): Map<string, number> {
    const pids = new Map<string, number>();
    for (const p of this.processes) if (p.pid !== null) pids.set(p.label, p.pid);
    return pids;
  }

  /** Every process's last lines, labelled: for an error message. */
  tails(): string {
    return this.processes.map((p) => `--- ${p.label} ---\n${p.tail()}`).join('\n');
  }

  /**
   * Starts every process and waits for `ready` (given a `failed()` that names a process that exited
   * meanwhile). If that fails, stops the group and throws the reason with every process's last lines.
   */
  async startAll<T>(ready: (failed: () => string | null) => Promise<T>): Promise<T> {
    try {
      for (const p of this.processes) p.start();
      return await ready(exitWatch(this.processes));
    } catch (error) {
      await this.stop();
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n${this.tails()}`);
    }
  }

  /** Stops every process and removes the folder (if owned); idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      try {
        await Promise.all(this.processes.map((p) => p.stop()));
      } finally {
        this.unguard();
        if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
      }
    })();
    return this.stopped;
  }
}

/**
 * Polls `probe` until it returns a value other than null, and returns it. Throws after `timeoutMs`,
 * or as soon as `failed()` gives a reason (a process that exited), with that reason.
 */
export async function waitFor<T>(what: string, probe: () => Promise<T | null>, timeoutMs: number, failed: () => string | null = () => null): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = failed();
    if (why !== null) throw new Error(`${what}: ${why}`);
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() >= deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, PROBE_INTERVAL_MS));
  }
}

/** Watches processes while they start: `failed()` names the first one that exited, with its reason. */
export function exitWatch(processes: readonly PeerProcess[]): () => string | null {
  const reasons = new Map<string, string>();
  for (const p of processes) void p.exited().then((why) => why !== '' && reasons.set(p.label, why));
  return () => {
    const first = [...reasons][0];
    return first === undefined ? null : `${first[0]}: ${first[1]}`;
  };
}
