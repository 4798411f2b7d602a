#!/usr/bin/env node
/**
 * `hikari`: the command-line client. Namespace commands (create, get, set, rm, ls, stat) go through
 * the SDK to `--endpoints`; cluster commands (status, add, remove) use the nodes' admin ports
 * (`--admin`). Human-readable output by default, `--json` for scripts. Exit codes: see EXIT.
 */
import { Command, Option } from 'commander';
import { ErrorCode, HikariClient, HikariError } from '@hikarikeeper/client';

/** Exit codes scripts can test. */
export const EXIT = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  NO_NODE: 3,
  NODE_EXISTS: 4,
  BAD_VERSION: 5,
  UNAVAILABLE: 6,
  NOT_EMPTY: 7,
} as const;

const DEFAULT_ENDPOINTS = '127.0.0.1:7701,127.0.0.1:7702,127.0.0.1:7703';
const DEFAULT_ADMIN = '127.0.0.1:7781,127.0.0.1:7782,127.0.0.1:7783';

interface Globals {
  endpoints: string;
  admin: string;
  json: boolean;
  timeout: string;
  clusterId?: string;
}

function out(g: Globals, human: string, data: unknown): void {
  console.log(g.json ? JSON.stringify(data) : human);
}

function exitCodeOf(e: unknown): number {
  if (!(e instanceof HikariError)) return EXIT.FAILED;
  switch (e.code) {
    case ErrorCode.NO_NODE: return EXIT.NO_NODE;
    case ErrorCode.NODE_EXISTS: return EXIT.NODE_EXISTS;
    case ErrorCode.BAD_VERSION: return EXIT.BAD_VERSION;
    case ErrorCode.NOT_EMPTY: return EXIT.NOT_EMPTY;
    case ErrorCode.INVALID_PATH:
    case ErrorCode.INVALID_ARGUMENT:
    case ErrorCode.TOO_LARGE: return EXIT.USAGE;
    case ErrorCode.TIMEOUT:
    case ErrorCode.UNAVAILABLE:
    case ErrorCode.NO_LEADER:
    case ErrorCode.CONNECTION_LOSS: return EXIT.UNAVAILABLE;
    default: return EXIT.FAILED;
  }
}

async function withClient<T>(g: Globals, fn: (c: HikariClient) => Promise<T>): Promise<T> {
  const client = await HikariClient.connect({
    endpoints: g.endpoints.split(',').map((s) => s.trim()).filter(Boolean),
    timeoutMs: Number(g.timeout),
    connectTimeoutMs: Math.min(3000, Number(g.timeout)),
    // One command, no session: nothing to keep alive, and no two extra log entries per command.
    session: false,
    ...(g.clusterId ? { clusterId: g.clusterId } : {}),
  });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

function describeStat(stat: Record<string, unknown>): string {
  return Object.entries(stat).map(([k, v]) => `${k.padEnd(16)} ${v === null ? '-' : String(v)}`).join('\n');
}

async function adminGet(address: string, path: string, timeoutMs: number): Promise<Record<string, unknown> | null> {
  try {
    const res = await fetch(`http://${address}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    return (await res.json()) as Record<string, unknown>;
  } catch {
    return null;
  }
}

async function leaderAdmin(g: Globals): Promise<string> {
  const admins = g.admin.split(',').map((s) => s.trim()).filter(Boolean);
  const statuses = await Promise.all(admins.map((a) => adminGet(a, '/status', 2000)));
  const i = statuses.findIndex((s) => s?.role === 'leader');
  if (i < 0) throw new HikariError(ErrorCode.NO_LEADER, {}, { message: `no leader among the admin endpoints ${admins.join(', ')}` });
  return admins[i];
}

/** Waits until the leader sees member `id` replicated up to the commit index. */
async function waitCaughtUp(g: Globals, id: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await adminGet(await leaderAdmin(g), '/status', 2000);
    const member = (status?.members as Array<{ id: number; match?: number }> | undefined)?.find((m) => m.id === id);
    if (status && member?.match !== undefined && member.match >= (status.commitIndex as number)) return;
    if (Date.now() > deadline) throw new HikariError(ErrorCode.TIMEOUT, {}, { message: `node ${id} did not catch up within ${timeoutMs} ms (is it running with --join?)` });
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function adminCall(address: string, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`http://${address}${path}`, {
    method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) {
    const err = json.error as { code?: string; message?: string } | undefined;
    const code = err?.code && Object.values(ErrorCode).includes(err.code as ErrorCode) ? (err.code as ErrorCode) : ErrorCode.INTERNAL;
    throw new HikariError(code, {}, { message: err?.message ?? `HTTP ${res.status}` });
  }
  return json;
}

export function buildProgram(): Command {
  const program = new Command('hikari')
    .description('HikariKeeper command-line client')
    .option('--endpoints <list>', 'client endpoints, comma separated', process.env.HIKARI_ENDPOINTS ?? DEFAULT_ENDPOINTS)
    .option('--admin <list>', 'admin endpoints for cluster commands, comma separated', process.env.HIKARI_ADMIN ?? DEFAULT_ADMIN)
    .option('--cluster-id <id>', 'refuse to talk to another cluster')
    .option('--timeout <ms>', 'per-command timeout in ms', '10000')
    .option('--json', 'machine-readable output', false)
    .showHelpAfterError();
  const g = (): Globals => program.opts<Globals>();

  program.command('create <path> [data]').description('create a node')
    .addOption(new Option('--mode <mode>', 'node mode').choices(['persistent', 'persistent_sequential']).default('persistent'))
    .action(async (path: string, data: string | undefined, o: { mode: 'persistent' | 'persistent_sequential' }) => {
      const r = await withClient(g(), (c) => c.create(path, data ?? '', { mode: o.mode }));
      out(g(), r.path, r);
    });
  program.command('get <path>').description('print a node\'s data').option('--stale', 'allow a stale read from the connected node')
    .action(async (path: string, o: { stale?: boolean }) => {
      const r = await withClient(g(), (c) => c.get(path, { stale: o.stale === true }));
      out(g(), r.data.toString('utf8'), { data: r.data.toString('utf8'), stat: r.stat });
    });
  program.command('set <path> <data>').description('replace a node\'s data').option('--version <n>', 'only if the node is at this version')
    .action(async (path: string, data: string, o: { version?: string }) => {
      const r = await withClient(g(), (c) => c.set(path, data, o.version === undefined ? {} : { version: Number(o.version) }));
      out(g(), `version ${r.stat.version}`, r);
    });
  program.command('rm <path>').description('delete a node').option('--version <n>', 'only if the node is at this version')
    .action(async (path: string, o: { version?: string }) => {
      await withClient(g(), (c) => c.delete(path, o.version === undefined ? {} : { version: Number(o.version) }));
      out(g(), `deleted ${path}`, { deleted: path });
    });
  program.command('ls <path>').description('list a node\'s children').option('--stale', 'allow a stale read')
    .action(async (path: string, o: { stale?: boolean }) => {
      const names = await withClient(g(), async (c) => {
        const all: string[] = [];
        for await (const n of c.listChildren(path, { stale: o.stale === true })) all.push(n);
        return all;
      });
      out(g(), names.join('\n'), names);
    });
  program.command('stat <path>').description('print a node\'s stat')
    .action(async (path: string) => {
      const r = await withClient(g(), (c) => c.exists(path));
      if (!r) throw HikariError.noNode(path);
      out(g(), describeStat(r.stat as unknown as Record<string, unknown>), r.stat);
    });

  const cluster = program.command('cluster').description('cluster membership and status (admin ports)');
  cluster.command('status').description('every node\'s role, term and indexes')
    .action(async () => {
      const admins = g().admin.split(',').map((s) => s.trim()).filter(Boolean);
      const rows = await Promise.all(admins.map(async (a) => ({ admin: a, status: await adminGet(a, '/status', 2000) })));
      const human = ['admin                 id  role          term   commit  applied  leader', ...rows.map(({ admin, status: s }) =>
        s ? `${admin.padEnd(21)} ${String(s.id).padEnd(3)} ${String(s.role).padEnd(13)} ${String(s.term).padEnd(6)} ${String(s.commitIndex).padEnd(7)} ${String(s.appliedIndex).padEnd(8)} ${s.leader}`
          : `${admin.padEnd(21)} unreachable`)].join('\n');
      out(g(), human, rows);
      if (rows.every((r) => r.status === null)) process.exitCode = EXIT.UNAVAILABLE;
    });
  cluster.command('add <id> <peer> <client>')
    .description('add a node: as a learner first, promoted to voter once it has caught up (start it with --join --cluster <current members>)')
    .option('--learner', 'leave it a learner (promote later with `cluster promote`)')
    .option('--wait <ms>', 'how long to wait for it to catch up before promoting', '60000')
    .action(async (id: string, peer: string, client: string, o: { learner?: boolean; wait: string }) => {
      const nodeId = Number(id);
      let r = await adminCall(await leaderAdmin(g()), 'POST', '/members', { id: nodeId, peer, client });
      if (!o.learner) {
        await waitCaughtUp(g(), nodeId, Number(o.wait));
        r = await adminCall(await leaderAdmin(g()), 'POST', '/members', { id: nodeId, promote: true });
      }
      out(g(), `voters ${JSON.stringify(r.voters)} learners ${JSON.stringify(r.learners)}`, r);
    });
  cluster.command('promote <id>').description('promote a caught-up learner to voter')
    .action(async (id: string) => {
      const r = await adminCall(await leaderAdmin(g()), 'POST', '/members', { id: Number(id), promote: true });
      out(g(), `voters ${JSON.stringify(r.voters)} learners ${JSON.stringify(r.learners)}`, r);
    });
  cluster.command('remove <id>').description('remove a node from the cluster')
    .action(async (id: string) => {
      const r = await adminCall(await leaderAdmin(g()), 'DELETE', `/members/${Number(id)}`);
      out(g(), `voters ${JSON.stringify(r.voters)} learners ${JSON.stringify(r.learners)}`, r);
    });
  return program;
}

export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK;
  } catch (e) {
    const commanderCode = (e as { code?: string }).code;
    if (typeof commanderCode === 'string' && commanderCode.startsWith('commander.')) {
      return commanderCode === 'commander.helpDisplayed' || commanderCode === 'commander.version' ? EXIT.OK : EXIT.USAGE;
    }
    const json = program.opts<Globals>().json;
    if (json) console.log(JSON.stringify({ error: e instanceof HikariError ? { code: e.code, message: e.message } : { code: 'FAILED', message: String(e) } }));
    else console.error(`hikari: ${e instanceof HikariError ? `${e.code}: ${e.message}` : String(e)}`);
    return exitCodeOf(e);
  }
}

if (require.main === module) {
  runCli(process.argv).then((code) => process.exit(code));
}
