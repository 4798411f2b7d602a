#!/usr/bin/env node
/**
 * `hikari`: the command-line client. Namespace commands (create, get, set, rm, ls, stat) go through
 * the SDK to `--endpoints`; cluster commands (status, add, remove) use the nodes' admin ports
 * (`--admin`). Human-readable output by default, `--json` for scripts. Exit codes: see EXIT.
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { ErrorCode, HikariClient, HikariError } from '@hikarikeeper/client';
import { AdminClientOptions, adminRequest } from '../admin/admin-client';
import { parseGrant } from './grant-spec';
import { generateToken } from '../auth/tokens';
import { parseDuration } from './duration';

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
  DENIED: 8,
} as const;

const DEFAULT_ENDPOINTS = '127.0.0.1:7701,127.0.0.1:7702,127.0.0.1:7703';
const DEFAULT_ADMIN = '127.0.0.1:7781,127.0.0.1:7782,127.0.0.1:7783';

interface Globals {
  endpoints: string;
  admin: string;
  json: boolean;
  timeout: string;
  clusterId?: string;
  token?: string;
  ca?: string;
  cert?: string;
  key?: string;
}

/** A PEM file named by an option, read once. */
function pem(option: string, file: string | undefined): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (e) {
    throw HikariError.invalidArgument(option, `cannot read ${file}: ${(e as Error).message}`);
  }
}

/** TLS of the SDK and admin connections: on as soon as a CA or a client certificate is given. */
function tlsOf(g: Globals): { ca?: Buffer; cert?: Buffer; key?: Buffer } | undefined {
  if (g.ca === undefined && g.cert === undefined && g.key === undefined) return undefined;
  return { ca: pem('--ca', g.ca), cert: pem('--cert', g.cert), key: pem('--key', g.key) };
}

function adminOptions(g: Globals): AdminClientOptions {
  const tls = tlsOf(g);
  return { ...(g.token === undefined ? {} : { token: g.token }), ...(tls === undefined ? {} : { tls }) };
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
    case ErrorCode.PERMISSION_DENIED:
    case ErrorCode.UNAUTHENTICATED: return EXIT.DENIED;
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
    ...(g.token === undefined ? {} : { token: g.token }),
    ...(tlsOf(g) === undefined ? {} : { tls: tlsOf(g) }),
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

/** GET on an admin port; null when it cannot be reached. Throws the node's refusal (UNAUTHENTICATED, PERMISSION_DENIED). */
async function adminGet(g: Globals, address: string, path: string, timeoutMs: number): Promise<Record<string, unknown> | null> {
  let res;
  try {
    res = await adminRequest(address, 'GET', path, adminOptions(g), undefined, timeoutMs);
  } catch {
    return null;
  }
  if (res.status === 401 || res.status === 403) throw adminError(res.body, res.status);
  return res.body;
}

function adminError(json: Record<string, unknown> | null, status: number): HikariError {
  const err = json?.error as { code?: string; message?: string; details?: Record<string, string> } | undefined;
  const code = err?.code && Object.values(ErrorCode).includes(err.code as ErrorCode) ? (err.code as ErrorCode) : ErrorCode.INTERNAL;
  return new HikariError(code, err?.details ?? {}, { message: err?.message ?? `HTTP ${status}` });
}

async function leaderAdmin(g: Globals): Promise<string> {
  const admins = g.admin.split(',').map((s) => s.trim()).filter(Boolean);
  const statuses = await Promise.all(admins.map((a) => adminGet(g, a, '/status', 2000)));
  const i = statuses.findIndex((s) => s?.role === 'leader');
  if (i < 0) throw new HikariError(ErrorCode.NO_LEADER, {}, { message: `no leader among the admin endpoints ${admins.join(', ')}` });
  return admins[i];
}

/** Waits until the leader sees member `id` replicated up to the commit index. */
async function waitCaughtUp(g: Globals, id: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await adminGet(g, await leaderAdmin(g), '/status', 2000);
    const member = (status?.members as Array<{ id: number; match?: number }> | undefined)?.find((m) => m.id === id);
    if (status && member?.match !== undefined && member.match >= (status.commitIndex as number)) return;
    if (Date.now() > deadline) throw new HikariError(ErrorCode.TIMEOUT, {}, { message: `node ${id} did not catch up within ${timeoutMs} ms (is it running with --join?)` });
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function adminCall(g: Globals, address: string, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await adminRequest(address, method, path, adminOptions(g), body);
  if (res.status < 200 || res.status >= 300) throw adminError(res.body, res.status);
  return res.body ?? {};
}

export function buildProgram(): Command {
  const program = new Command('hikari')
    .description('HikariKeeper command-line client')
    .option('--endpoints <list>', 'client endpoints, comma separated', process.env.HIKARI_ENDPOINTS ?? DEFAULT_ENDPOINTS)
    .option('--admin <list>', 'admin endpoints for cluster commands, comma separated', process.env.HIKARI_ADMIN ?? DEFAULT_ADMIN)
    .option('--cluster-id <id>', 'refuse to talk to another cluster')
    .option('--timeout <ms>', 'per-command timeout in ms', '10000')
    .option('--token <token>', 'credential of a cluster with authentication on', process.env.HIKARI_TOKEN)
    .option('--ca <file>', 'the cluster CA (PEM): connect with TLS', process.env.HIKARI_CA)
    .option('--cert <file>', 'a client certificate (PEM), with --key', process.env.HIKARI_CLIENT_CERT)
    .option('--key <file>', 'its private key (PEM)', process.env.HIKARI_CLIENT_KEY)
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
      const rows = await Promise.all(admins.map(async (a) => ({ admin: a, status: await adminGet(g(), a, '/status', 2000) })));
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
      let r = await adminCall(g(), await leaderAdmin(g()), 'POST', '/members', { id: nodeId, peer, client });
      if (!o.learner) {
        await waitCaughtUp(g(), nodeId, Number(o.wait));
        r = await adminCall(g(), await leaderAdmin(g()), 'POST', '/members', { id: nodeId, promote: true });
      }
      out(g(), `voters ${JSON.stringify(r.voters)} learners ${JSON.stringify(r.learners)}`, r);
    });
  cluster.command('promote <id>').description('promote a caught-up learner to voter')
    .action(async (id: string) => {
      const r = await adminCall(g(), await leaderAdmin(g()), 'POST', '/members', { id: Number(id), promote: true });
      out(g(), `voters ${JSON.stringify(r.voters)} learners ${JSON.stringify(r.learners)}`, r);
    });
  cluster.command('remove <id>').description('remove a node from the cluster')
    .action(async (id: string) => {
      const r = await adminCall(g(), await leaderAdmin(g()), 'DELETE', `/members/${Number(id)}`);
      out(g(), `voters ${JSON.stringify(r.voters)} learners ${JSON.stringify(r.learners)}`, r);
    });
  addAuthCommands(program, g);
  return program;
}

/** `hikari auth ...`: roles, tokens and certificate bindings, through the leader's admin port. */
function addAuthCommands(program: Command, g: () => Globals): void {
  const auth = program.command('auth').description('authentication: roles, tokens, client certificates (needs cluster admin)');
  const onLeader = async (method: string, path: string, body?: unknown) => adminCall(g(), await leaderAdmin(g()), method, path, body);
  const segment = (text: string) => encodeURIComponent(text);
  auth.command('ls').description('every role (with its grants), token (id, role, note) and certificate binding')
    .action(async () => {
      const r = await onLeader('GET', '/v1/auth');
      const roles = r.roles as Array<{ name: string; grants: Array<{ scope: string; access: string; prefix: string }> }>;
      const tokens = r.tokens as Array<{ id: string; role: string; note: string; expiresAt: number | null; expired: boolean }>;
      const certs = r.certs as Array<{ subject: string; role: string; note: string }>;
      const human = [
        'roles:', ...roles.map((x) => `  ${x.name}  ${x.grants.map((gr) => `${gr.scope}:${gr.access}:${gr.prefix}`).join(' ')}`),
        'tokens:', ...tokens.map((t) => `  ${t.id}  ${t.role}  ${t.expiresAt === null ? '' : `${t.expired ? 'expired' : 'expires'} ${new Date(t.expiresAt).toISOString()}  `}${t.note}`),
        'certificates:', ...certs.map((c) => `  ${c.subject}  ${c.role}  ${c.note}`),
      ].join('\n');
      out(g(), human, r);
    });
  const role = auth.command('role').description('roles: named lists of grants');
  role.command('set <name>').description('create or replace a role')
    .requiredOption('--grant <scope:access:prefix...>', 'a grant, repeatable: namespace:write:/app, locks:write:orders/, services:read:, cluster:read:')
    .action(async (name: string, o: { grant: string[] }) => {
      const grants = o.grant.map((spec, i) => parseGrant(spec, `--grant[${i}]`));
      const r = await onLeader('PUT', `/v1/auth/roles/${segment(name)}`, { grants });
      out(g(), `${r.existed ? 'replaced' : 'created'} role ${name}`, r);
    });
  role.command('rm <name>').description('delete a role (no token or certificate may hold it)')
    .action(async (name: string) => {
      const r = await onLeader('DELETE', `/v1/auth/roles/${segment(name)}`);
      out(g(), r.existed ? `deleted role ${name}` : `no role ${name}`, r);
    });
  const token = auth.command('token').description('tokens: what clients authenticate with');
  token.command('create').description('make a token for a role and print it (shown once: the cluster keeps only its hash)')
    .requiredOption('--role <role>', 'the role it gets (admin, or one made with `auth role set`)')
    .option('--note <text>', 'who or what it is for', '')
    .option('--ttl <duration>', 'expire this long from now (45s, 30m, 12h, 90d; 1s to 10 years); default: until revoked')
    .action(async (o: { role: string; note: string; ttl?: string }) => {
      const ttlMs = o.ttl === undefined ? undefined : parseDuration(o.ttl, '--ttl');
      const made = generateToken();
      const r = await onLeader('POST', '/v1/auth/tokens', { id: made.id, secret: made.secret, role: o.role, note: o.note, ...(ttlMs === undefined ? {} : { ttlMs }) });
      out(g(), made.token, { ...r, token: made.token });
    });
  token.command('rotate <id>').description('give a token a new secret (and expiry), and print it: the old secret stops opening connections; the id, its role and its sessions stay')
    .option('--ttl <duration>', 'expire this long from now (45s, 30m, 12h, 90d); default: until revoked')
    .action(async (id: string, o: { ttl?: string }) => {
      const ttlMs = o.ttl === undefined ? undefined : parseDuration(o.ttl, '--ttl');
      const { secret } = generateToken();
      const r = await onLeader('PUT', `/v1/auth/tokens/${segment(id)}`, { secret, ...(ttlMs === undefined ? {} : { ttlMs }) });
      out(g(), `${id}.${secret}`, { ...r, token: `${id}.${secret}` });
    });
  token.command('revoke <id>').description('revoke a token (its connections are refused from their next request)')
    .action(async (id: string) => {
      const r = await onLeader('DELETE', `/v1/auth/tokens/${segment(id)}`);
      out(g(), r.existed ? `revoked token ${id}` : `no token ${id}`, r);
    });
  const cert = auth.command('cert').description('client certificates: bind a certificate subject (CN) to a role');
  cert.command('set <subject>').description('bind a client certificate subject to a role')
    .requiredOption('--role <role>', 'the role it gets')
    .option('--note <text>', 'who or what it is for', '')
    .action(async (subject: string, o: { role: string; note: string }) => {
      const r = await onLeader('PUT', `/v1/auth/certs/${segment(subject)}`, { role: o.role, note: o.note });
      out(g(), `bound ${subject} to ${o.role}`, r);
    });
  cert.command('rm <subject>').description('unbind a client certificate subject')
    .action(async (subject: string) => {
      const r = await onLeader('DELETE', `/v1/auth/certs/${segment(subject)}`);
      out(g(), r.existed ? `unbound ${subject}` : `no binding for ${subject}`, r);
    });
}

/** The last connection error behind a TIMEOUT (a refused TLS certificate, say), for the human output. */
function causeOf(e: HikariError): string {
  return e.code === ErrorCode.TIMEOUT && e.cause instanceof Error ? ` (last error: ${e.cause.message})` : '';
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
    else console.error(`hikari: ${e instanceof HikariError ? `${e.code}: ${e.message}${causeOf(e)}` : String(e)}`);
    return exitCodeOf(e);
  }
}

if (require.main === module) {
  runCli(process.argv).then((code) => process.exit(code));
}
