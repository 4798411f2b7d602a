/**
 * A real redis-server for a benchmark or a test: one process on a loopback port, no persistence
 * (`--save '' --appendonly no`), its folder a fresh temporary one unless given (and then removed
 * at the end). The program is installed from Debian's redis-server package if missing (debian.ts).
 *
 * Only the processes started here are ever signalled. They are stopped by `stop()` (SIGTERM, then
 * SIGKILL after STOP_GRACE_MS), and also when the process is interrupted (SIGINT, SIGTERM: the servers
 * are stopped, then the process exits with 128 + signal) or exits without stopping them (SIGKILL,
 * synchronously, from the 'exit' handler).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDebianPackage } from './debian';
import { guard } from '../exit-guard';

export const REDIS_HOST = '127.0.0.1';
/** Time for the server to answer PING after it is spawned. */
export const REDIS_START_TIMEOUT_MS = 10_000;
/** Time the server gets to stop after SIGTERM before SIGKILL. */
export const STOP_GRACE_MS = 5_000;
/** Attempts with a fresh free port when the one picked was taken meanwhile (no port given). */
const PORT_ATTEMPTS = 3;
/** Log lines kept, and shown when the server fails to start. */
const TAIL_LINES = 30;

export interface RedisPeerOptions {
  /** Default: a free port, picked by the system. */
  port?: number;
  /** The server's working folder (created if missing, kept). Default: a fresh temporary folder, removed by stop(). */
  dir?: string;
  /** The redis-server program. Default: found on PATH (installed with apt-get if missing). */
  binary?: string;
}

export interface RedisPeer {
  readonly port: number;
  readonly host: typeof REDIS_HOST;
  readonly pid: number;
  /** The server's last log lines. */
  tail(): string;
  /** Stops the server (and removes its folder if it was a temporary one); idempotent. */
  stop(): Promise<void>;
}

/** Starts redis-server and waits until it answers PING; on failure stops what it started and throws with its last log lines. */
export async function startRedis(opts: RedisPeerOptions = {}): Promise<RedisPeer> {
  const binary = opts.binary ?? ensureDebianPackage('redis-server', 'redis-server');
  if (opts.port !== undefined && (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65_535)) {
    throw new Error(`port ${opts.port} is not a TCP port`);
  }
  const attempts = opts.port === undefined ? PORT_ATTEMPTS : 1;
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort());
    try {
      return await startOnce(binary, port, opts.dir);
    } catch (error) {
      const portTaken = error instanceof StartError && /Address already in use/i.test(error.message);
      if (!portTaken || attempt >= attempts) throw error;
    }
  }
}

class StartError extends Error {}

async function startOnce(binary: string, port: number, dir: string | undefined): Promise<RedisPeer> {
  const ownDir = dir === undefined;
  const workDir = dir ?? mkdtempSync(join(tmpdir(), 'hk-redis-'));
  if (!ownDir) mkdirSync(workDir, { recursive: true });
  const args = ['--port', String(port), '--bind', REDIS_HOST, '--dir', workDir, '--save', '', '--appendonly', 'no', '--daemonize', 'no'];
  let child: ChildProcess;
  try {
    child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    if (ownDir) rmSync(workDir, { recursive: true, force: true });
    throw error;
  }
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n').filter((l) => l.trim() !== ''));
    if (lines.length > TAIL_LINES) lines.splice(0, lines.length - TAIL_LINES);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<string>((resolve) => {
    child.once('error', (error) => resolve(`it could not be started: ${error.message}`));
    child.once('exit', (code, signal) => resolve(`it exited (${signal ?? `code ${code}`})`));
  });

  let stopped: Promise<void> | null = null;
  const peer: RedisPeer = {
    port,
    host: REDIS_HOST,
    pid: child.pid ?? -1,
    tail: () => lines.join('\n'),
    stop() {
      stopped ??= (async () => {
        try {
          if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
            await exited;
            clearTimeout(timer);
          }
        } finally {
          unguard();
          if (ownDir) rmSync(workDir, { recursive: true, force: true });
        }
      })();
      return stopped;
    },
  };
  const unguard = guard({
    what: 'redis-server',
    stop: () => peer.stop(),
    killNow() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      if (ownDir) rmSync(workDir, { recursive: true, force: true });
    },
  });

  const deadline = Date.now() + REDIS_START_TIMEOUT_MS;
  const start: { failure: string | null } = { failure: null };
  void exited.then((why) => (start.failure = why));
  while (start.failure === null && !(await answersPing(port))) {
    if (Date.now() >= deadline) start.failure = `it did not answer PING within ${REDIS_START_TIMEOUT_MS} ms`;
    else await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (start.failure !== null) {
    await peer.stop();
    throw new StartError(`redis-server on port ${port} did not start: ${start.failure}\n${peer.tail()}`);
  }
  return peer;
}

/** Whether a Redis server on the loopback `port` answers PING with PONG. */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: REDIS_HOST, port });
    let answer = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
  });
}

/** A loopback port free right now (another process may take it before redis-server does: see PORT_ATTEMPTS). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, REDIS_HOST, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}
