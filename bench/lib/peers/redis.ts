/**
 * A real redis-server for a benchmark or a test: one process on a loopback port, no persistence
 * (`--save '' --appendonly no`: nothing is fsynced, there is no replica), its folder a fresh temporary
 * one unless given (and then removed at the end). The program is installed from Debian's
 * redis-server package if missing (debian.ts).
 *
 * Only the process started here is ever signalled: stopped by `stop()` (SIGTERM, then SIGKILL after
 * PEER_STOP_GRACE_MS), and also when the benchmark is interrupted or exits without stopping it
 * (peer-process.ts, through the exit guard).
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDebianPackage } from './debian';
import { PeerGroup, waitFor } from './peer-process';
import { PEER_HOST, withFreePorts } from './ports';

export const REDIS_HOST = PEER_HOST;
/** Time for the server to answer PING after it is spawned. */
export const REDIS_START_TIMEOUT_MS = 10_000;

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
  if (opts.port !== undefined) {
    if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65_535) throw new Error(`port ${opts.port} is not a TCP port`);
    return startOnce(binary, opts.port, opts.dir);
  }
  return withFreePorts(1, ([port]) => startOnce(binary, port, opts.dir));
}

async function startOnce(binary: string, port: number, dir: string | undefined): Promise<RedisPeer> {
  const ownDir = dir === undefined;
  const workDir = dir ?? mkdtempSync(join(tmpdir(), 'hk-redis-'));
  if (!ownDir) mkdirSync(workDir, { recursive: true });
  const group = new PeerGroup('redis-server', workDir, ownDir);
  const server = group.add('redis', binary, ['--port', String(port), '--bind', REDIS_HOST, '--dir', workDir, '--save', '', '--appendonly', 'no', '--daemonize', 'no']);
  await group.startAll((failed) => waitFor(`redis-server on port ${port}`, async () => ((await answersPing(port)) ? true : null), REDIS_START_TIMEOUT_MS, failed));
  return { port, host: REDIS_HOST, pid: server.pid ?? -1, tail: () => server.tail(), stop: () => group.stop() };
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
