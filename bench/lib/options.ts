/**
 * `npm run bench -- <workload> [--clients 64] [--seconds 10] [--warmup 2] [--out FILE] [--nodes 3]`:
 * the command line, parsed and checked in one place. Decides only; the CLI prints and exits.
 */
import { parseArgs } from 'node:util';
import { parseSystems, systemNamed } from './systems';
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

/** Keys of the lock scenarios: A (little contention), B (heavy contention). */
export const LOCK_KEYS_DEFAULT = [10_000, 4];
export const LOCK_KEYS_MAX = 1_000_000;
/** Lock scenarios in one run at most. */
export const LOCK_SCENARIOS_MAX = 8;
export const ROUNDS_MAX = 20;
/** The workloads that take --rounds: comparisons of steady throughput (failover repeats its kills instead). */
const ROUNDS_WORKLOADS = ['locks', 'kv'];

/**
 * Defaults that differ by workload: discovery has 100 watchers and instances with a 2 s session
 * timeout; failover kills 5 leaders, 5 s of steady load before each; the comparisons' systems;
 * locks and kv warm up for 10 s (every system alike), so that what is measured is a server in its
 * steady state — JIT-compiled, its hot records cached — not one in its first seconds.
 */
const WORKLOAD_DEFAULTS: Record<string, { watchers?: number; sessionTimeoutMs?: number; kills?: number; systems?: string; seconds?: number; warmupSeconds?: number }> = {
  discovery: { watchers: 100, sessionTimeoutMs: 2_000 },
  locks: { systems: 'hikari,redis,etcd,zookeeper', warmupSeconds: 10 },
  kv: { systems: 'hikari,etcd,zookeeper', warmupSeconds: 10 },
  failover: { systems: 'hikari,etcd,zookeeper', kills: 5, seconds: 5 },
};

export const USAGE = `usage: npm run bench -- <workload> [options]
  --clients N    concurrent clients, each its own connection (default ${CLIENTS_DEFAULT}); --workers N is the same
  --systems LIST locks, kv, failover: the systems compared, in order, from hikari, redis (locks only), etcd, zookeeper
                 (default: locks all four, kv and failover hikari,etcd,zookeeper)
  --keys LIST    locks: the keys of each scenario, A first (default ${LOCK_KEYS_DEFAULT.join(',')}); failover: the first one
  --seconds S    measured seconds per phase (default ${SECONDS_DEFAULT}); failover: steady load before each kill (default 5)
  --warmup S     warm-up seconds before each phase (default ${WARMUP_SECONDS_DEFAULT}; locks and kv 10)
  --rounds N     locks, kv: run the systems N times, interleaved (round 1: each system, round 2: each again, ...),
                 each round on fresh servers; the table shows the median of the rounds, the range of ops/s and
                 HikariKeeper's ratio to each peer paired by round (default 1)
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
  --kills N      discovery: instances killed with kill -9, and as many closed and deregistered (default ${KILLS_DEFAULT});
                 failover: leaders killed with kill -9 per system (default 5)`;

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
        workers: { type: 'string' },
        systems: { type: 'string' },
        keys: { type: 'string' },
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
        rounds: { type: 'string' },
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
    if (values.clients !== undefined && values.workers !== undefined) throw new Error('--clients and --workers are the same option: give one');
    const options: BenchOptions = {
      clients: integer(values.workers !== undefined ? 'workers' : 'clients', values.workers ?? values.clients, CLIENTS_DEFAULT, 1, CLIENTS_MAX),
      seconds: seconds('seconds', values.seconds, defaults.seconds ?? SECONDS_DEFAULT, false),
      warmupSeconds: seconds('warmup', values.warmup, defaults.warmupSeconds ?? WARMUP_SECONDS_DEFAULT, true),
      nodes: integer('nodes', values.nodes, NODES_DEFAULT, 1, NODES_MAX),
      out: values.out ?? `bench/results/${workload}.jsonl`,
      cpuProfileDir: values['cpu-prof'] ?? null,
      sessions: integer('sessions', values.sessions, SESSIONS_DEFAULT, 1, SESSIONS_MAX),
      watchers: integer('watchers', values.watchers, defaults.watchers ?? WATCHERS_DEFAULT, 0, WATCHERS_MAX),
      sessionsPerConnection: integer('sessions-per-connection', values['sessions-per-connection'], 1, 1, SESSIONS_PER_CONNECTION_MAX),
      sessionTimeoutMs: integer('session-timeout', values['session-timeout'], defaults.sessionTimeoutMs ?? SESSION_TIMEOUT_MS_DEFAULT, 1_000, 600_000),
      instances: integer('instances', values.instances, INSTANCES_DEFAULT, 1, INSTANCES_MAX),
      services: integer('services', values.services, SERVICES_DEFAULT, 1, SERVICES_MAX),
      kills: integer('kills', values.kills, defaults.kills ?? KILLS_DEFAULT, 1, KILLS_MAX),
      systems: parseSystems(values.systems ?? defaults.systems ?? 'hikari'),
      keys: values.keys === undefined ? LOCK_KEYS_DEFAULT : integerList('keys', values.keys, 1, LOCK_KEYS_MAX, LOCK_SCENARIOS_MAX),
      rounds: integer('rounds', values.rounds, 1, 1, ROUNDS_MAX),
    };
    if (values.rounds !== undefined && !ROUNDS_WORKLOADS.includes(workload)) {
      throw new Error(`--rounds is for the ${ROUNDS_WORKLOADS.join(' and ')} workloads, not ${workload}${workload === 'failover' ? ' (it repeats its kills: --kills)' : ''}`);
    }
    if (options.rounds > 1 && options.cpuProfileDir !== null) {
      throw new Error('--cpu-prof profiles one run of each system (every round would write the same files): give it without --rounds');
    }
    if (values.systems !== undefined && defaults.systems === undefined) throw new Error(`--systems is for the locks, kv and failover workloads, not ${workload}`);
    for (const name of options.systems) {
      const system = systemNamed(name);
      if (workload === 'kv' && !system.kv) throw new Error(`${system.label} is not part of the kv workload (it compares systems that replicate and fsync)`);
      if (workload === 'failover' && !system.failover) throw new Error(`${system.label} has no leader to kill: it is not part of the failover workload`);
    }
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

/** The integer value of option `--name` (`fallback` when absent); throws unless it is in [min, max]. */
export function integer(name: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in [${min}, ${max}], got '${text}'`);
  return n;
}

function integerList(name: string, text: string, min: number, max: number, count: number): number[] {
  const items = text.split(',').map((t) => t.trim());
  if (items.length > count) throw new Error(`--${name} takes at most ${count} values, got ${items.length}`);
  return items.map((t) => integer(name, t, NaN, min, max));
}

function seconds(name: string, text: string | undefined, fallback: number, zeroAllowed: boolean): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || (n === 0 && !zeroAllowed) || n > 3600) {
    throw new Error(`--${name} must be a number of seconds in ${zeroAllowed ? '[0' : '(0'}, 3600], got '${text}'`);
  }
  return n;
}
