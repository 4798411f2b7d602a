/**
 * `npm run bench -- <workload> [--clients 64] [--seconds 10] [--warmup 2] [--out FILE] [--nodes 3]`:
 * the command line, parsed and checked in one place. Decides only; the CLI prints and exits.
 */
import { parseArgs } from 'node:util';
import { BenchOptions } from './workload';

export const CLIENTS_DEFAULT = 64;
export const CLIENTS_MAX = 5_000;
export const SECONDS_DEFAULT = 10;
export const WARMUP_SECONDS_DEFAULT = 2;
export const NODES_DEFAULT = 3;
export const NODES_MAX = 7;
export const SESSIONS_DEFAULT = 10_000;
/** With one connection per session a node accepts 16,000 of them (this machine's 20,000 open files): see --sessions-per-connection. */
export const SESSIONS_ONE_PER_CONNECTION_MAX = 15_000;
export const SESSIONS_MAX = 200_000;
export const SESSIONS_PER_CONNECTION_MAX = 1000;
export const WATCHERS_DEFAULT = 10_000;
export const WATCHERS_MAX = 100_000;
export const SESSION_TIMEOUT_MS_DEFAULT = 10_000;
export const INSTANCES_DEFAULT = 10_000;
export const INSTANCES_MAX = 100_000;
export const SERVICES_DEFAULT = 100;
export const SERVICES_MAX = 10_000;
export const KILLS_DEFAULT = 30;
export const KILLS_MAX = 1_000;

/** Defaults that differ by workload: discovery has 100 watchers and instances with a 2 s session timeout. */
const WORKLOAD_DEFAULTS: Record<string, { watchers?: number; sessionTimeoutMs?: number }> = {
  discovery: { watchers: 100, sessionTimeoutMs: 2_000 },
};

export const USAGE = `usage: npm run bench -- <workload> [options]
  --clients N    concurrent clients, each its own connection (default ${CLIENTS_DEFAULT})
  --seconds S    measured seconds per phase (default ${SECONDS_DEFAULT})
  --warmup S     warm-up seconds before each phase (default ${WARMUP_SECONDS_DEFAULT})
  --nodes N      server processes in the cluster (default ${NODES_DEFAULT})
  --out FILE     JSON lines appended here (default bench/results/<workload>.jsonl)
  --cpu-prof DIR run the servers under the V8 CPU profiler; DIR/n<id>.cpuprofile at the end
  --sessions N   sessions workload: concurrent sessions (default ${SESSIONS_DEFAULT})
  --watchers N   sessions workload: watchers of one node (default ${WATCHERS_DEFAULT});
                 discovery: watcher clients, each caching the watched services (default 100)
  --sessions-per-connection K   sessions workload: K detached sessions per connection, renewed by id (default 1)
  --session-timeout MS          sessions workload: session timeout, keepalives every third of it (default ${SESSION_TIMEOUT_MS_DEFAULT});
                                discovery: the killed / closed instances' session timeout (default 2000)
  --instances N  discovery: registered instances (default ${INSTANCES_DEFAULT})
  --services N   discovery: services they are spread over (default ${SERVICES_DEFAULT})
  --kills N      discovery: instances killed with kill -9, and as many closed and deregistered (default ${KILLS_DEFAULT})`;

export type ParsedCommand =
  | { kind: 'run'; workload: string; options: BenchOptions }
  | { kind: 'help' }
  | { kind: 'error'; message: string };

export function parseCommand(argv: readonly string[]): ParsedCommand {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        clients: { type: 'string' },
        seconds: { type: 'string' },
        warmup: { type: 'string' },
        nodes: { type: 'string' },
        out: { type: 'string' },
        'cpu-prof': { type: 'string' },
        sessions: { type: 'string' },
        watchers: { type: 'string' },
        'sessions-per-connection': { type: 'string' },
        'session-timeout': { type: 'string' },
        instances: { type: 'string' },
        services: { type: 'string' },
        kills: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    return { kind: 'error', message: e instanceof Error ? e.message : String(e) };
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  if (positionals.length !== 1) return { kind: 'error', message: positionals.length === 0 ? 'no workload given' : `one workload at a time, got: ${positionals.join(' ')}` };
  const workload = positionals[0];
  const defaults = WORKLOAD_DEFAULTS[workload] ?? {};
  try {
    const options: BenchOptions = {
      clients: integer('clients', values.clients, CLIENTS_DEFAULT, 1, CLIENTS_MAX),
      seconds: seconds('seconds', values.seconds, SECONDS_DEFAULT, false),
      warmupSeconds: seconds('warmup', values.warmup, WARMUP_SECONDS_DEFAULT, true),
      nodes: integer('nodes', values.nodes, NODES_DEFAULT, 1, NODES_MAX),
      out: values.out ?? `bench/results/${workload}.jsonl`,
      cpuProfileDir: values['cpu-prof'] ?? null,
      sessions: integer('sessions', values.sessions, SESSIONS_DEFAULT, 1, SESSIONS_MAX),
      watchers: integer('watchers', values.watchers, defaults.watchers ?? WATCHERS_DEFAULT, 0, WATCHERS_MAX),
      sessionsPerConnection: integer('sessions-per-connection', values['sessions-per-connection'], 1, 1, SESSIONS_PER_CONNECTION_MAX),
      sessionTimeoutMs: integer('session-timeout', values['session-timeout'], defaults.sessionTimeoutMs ?? SESSION_TIMEOUT_MS_DEFAULT, 1_000, 600_000),
      instances: integer('instances', values.instances, INSTANCES_DEFAULT, 1, INSTANCES_MAX),
      services: integer('services', values.services, SERVICES_DEFAULT, 1, SERVICES_MAX),
      kills: integer('kills', values.kills, KILLS_DEFAULT, 1, KILLS_MAX),
    };
    if (workload === 'discovery') {
      if (options.services > options.instances) throw new Error(`--services (${options.services}) must not exceed --instances (${options.instances})`);
      if (options.watchers < 1) throw new Error('discovery needs at least one watcher (--watchers)');
    }
    if (options.sessionsPerConnection === 1 && options.sessions > SESSIONS_ONE_PER_CONNECTION_MAX) {
      throw new Error(`--sessions over ${SESSIONS_ONE_PER_CONNECTION_MAX} needs --sessions-per-connection > 1 (one connection per session: a node accepts 16,000 connections here)`);
    }
    return { kind: 'run', workload, options };
  } catch (e) {
    return { kind: 'error', message: e instanceof Error ? e.message : String(e) };
  }
}

function integer(name: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in [${min}, ${max}], got '${text}'`);
  return n;
}

function seconds(name: string, text: string | undefined, fallback: number, zeroAllowed: boolean): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || (n === 0 && !zeroAllowed) || n > 3600) {
    throw new Error(`--${name} must be a number of seconds in ${zeroAllowed ? '[0' : '(0'}, 3600], got '${text}'`);
  }
  return n;
}
