import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import { ConfChangeType, Role } from '@hikarikeeper/raft';
import { ErrorCode, errorToWire, HikariError, TOKEN_PATTERN } from '@hikarikeeper/protocol';
import type { Registry } from 'prom-client';
import type { RaftRuntime } from '../runtime/raft-runtime';
import { encodeMemberContext, parseHostPort } from '../runtime/members';
import type { Logger } from '../logger';
import type { AccessGuard } from '../auth/guard';
import type { Access, AuthScope } from '../auth/grants';
import type { Principal } from '../auth/permission-table';
import { certSubjectOf, replaceListenerContext } from '../auth/tls';
import { ServicesApi } from './services-api';
import { AuthApi } from './auth-api';
import { failpoints } from '../failpoints';

/** Request bodies the admin port reads (membership changes are tiny). */
const ADMIN_BODY_BYTES_MAX = 64 * 1024;

/** Connections the admin port holds at once: blocking queries (up to 1,000 by default) and room for the rest. */
const ADMIN_CONNECTIONS_MAX = 2_048;

export interface AdminServerOptions {
  /** Serve HTTPS with these options (see auth/tls.ts); plain HTTP when absent. */
  readonly tls?: TlsOptions;
  /** Authentication and access control; null (no check) when authentication is off. */
  readonly guard?: AccessGuard | null;
  /** Authentication management under /v1/auth. */
  readonly auth?: AuthApi | null;
}

/**
 * The admin HTTP port: `GET /health` (the process is alive), `GET /ready` (a leader is known and this
 * node has applied everything it knows committed), `GET /status` (JSON), `GET /metrics`
 * (Prometheus), `POST /members` (add a node as a learner, or promote it once caught up) and
 * `DELETE /members/<id>`; with failpoints on (failpoints.ts), `GET /failpoints` and
 * `PUT /failpoints/<name>`; with a ServicesApi, the discovery read API under `/v1/services` (see
 * services-api.ts); with an AuthApi, authentication management under `/v1/auth` (see auth-api.ts).
 *
 * With authentication on, every route but /health, /ready and /metrics needs a credential: a
 * bearer token (`Authorization: Bearer <token>`) or, over HTTPS, a client certificate. `/status`
 * needs cluster `read`; membership, leadership transfer, `/v1/auth` and `/failpoints` need cluster
 * `admin`; `/v1/services` needs services `read` (on all services for the list).
 */
export class AdminServer {
  private server: Server | null = null;

  constructor(
    private readonly runtime: RaftRuntime,
    private readonly registry: Registry,
    private readonly log: Logger,
    private readonly info: () => Record<string, unknown>,
    private readonly services: ServicesApi | null = null,
    private readonly options: AdminServerOptions = {},
  ) {}

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const handler = (req: IncomingMessage, res: ServerResponse): void => {
        this.route(req, res).catch((e) => this.reply(res, 500, { error: errorToWire(e) }));
      };
      const server = this.options.tls === undefined ? createServer(handler) : createHttpsServer(this.options.tls, handler);
      server.maxConnections = ADMIN_CONNECTIONS_MAX;
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        this.server = server;
        const a = server.address();
        resolve(typeof a === 'object' && a ? { host: a.address, port: a.port } : { host, port });
      });
    });
  }

  /** New TLS material (certificate rotation) for the next handshakes, when served over HTTPS; see auth/tls.ts. */
  setTls(context: SecureContextOptions): void {
    replaceListenerContext(this.server, context);
  }

  async close(): Promise<void> {
    this.services?.close(); // blocking queries answer now rather than hold the close
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((resolve) => { s.close(() => resolve()); s.closeAllConnections?.(); });
  }

  status(): Record<string, unknown> {
    const st = this.runtime.status();
    const members = [...this.runtime.members.values()].map((m) => {
      const pr = st.progress.get(m.id);
      return {
        id: m.id, peer: m.peer, client: m.client,
        voter: st.conf.voters.includes(m.id), learner: st.conf.learners.includes(m.id),
        ...(pr ? { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive } : {}),
      };
    });
    return {
      ...this.info(),
      id: st.id, role: st.role, term: st.term, leader: st.leader, leaderClient: this.runtime.leaderClientAddress(),
      commitIndex: st.commit, appliedIndex: this.runtime.applied, lastIndex: st.lastIndex, firstIndex: st.firstIndex,
      voters: st.conf.voters, learners: st.conf.learners, members,
    };
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    if (req.method === 'GET' && path === '/health') return this.reply(res, 200, { status: 'ok' });
    if (req.method === 'GET' && path === '/ready') {
      const st = this.runtime.status();
      const ready = st.leader !== 0 && this.runtime.applied >= st.commit;
      return this.reply(res, ready ? 200 : 503, { ready, leader: st.leader, commitIndex: st.commit, appliedIndex: this.runtime.applied });
    }
    if (req.method === 'GET' && path === '/metrics') {
      res.writeHead(200, { 'content-type': this.registry.contentType });
      res.end(await this.registry.metrics());
      return;
    }
    // Everything below needs a credential when authentication is on.
    const need = this.access(req);
    if (req.method === 'GET' && path === '/status') {
      await need('status', 'cluster', '', 'read');
      return this.reply(res, 200, this.status());
    }
    if (this.services !== null && ServicesApi.handles(path)) {
      await need('services', 'services', serviceOf(path), 'read');
      return this.services.handle(req, res, url);
    }
    const auth = this.options.auth ?? null;
    if (auth !== null && AuthApi.handles(path)) {
      await need('auth', 'cluster', '', 'admin');
      const [status, body] = await auth.handle(req, path, readJson);
      return this.reply(res, status, body);
    }
    const m = /^\/members\/(\d+)$/.exec(path);
    if ((req.method === 'POST' && (path === '/members' || path === '/transfer-leadership')) || (req.method === 'DELETE' && m)) await need('membership', 'cluster', '', 'admin');
    if (req.method === 'POST' && path === '/members') return this.addMember(req, res);
    if (req.method === 'DELETE' && m) return this.removeMember(Number(m[1]), res);
    if (failpoints.enabled && path.startsWith('/failpoints')) {
      await need('failpoints', 'cluster', '', 'admin');
      return this.failpoint(req, res, path);
    }
    if (req.method === 'POST' && path === '/transfer-leadership') {
      const ok = await this.runtime.stepDown(5000);
      return this.reply(res, ok ? 200 : 409, { transferred: ok, leader: this.runtime.leader() });
    }
    return this.reply(res, 404, { error: { code: 'NOT_FOUND', message: `no route ${req.method} ${path}` } });
  }

  /**
   * The access check of one request: with authentication on, authenticates it (bearer token, else
   * the client certificate) on first use and throws UNAUTHENTICATED or PERMISSION_DENIED; with it
   * off, checks nothing.
   */
  private access(req: IncomingMessage): (what: string, scope: AuthScope, resource: string, access: Access) => Promise<void> {
    const guard = this.options.guard ?? null;
    if (guard === null) return async () => {};
    const remote = req.socket.remoteAddress;
    let principal: Principal | undefined;
    return async (what, scope, resource, access) => {
      principal ??= await guard.authenticate(bearerOf(req), certSubjectOf(req.socket), remote, () => this.runtime.readBarrier());
      guard.require(principal, `admin:${what}`, scope, resource, access, remote);
    };
  }

  /** `{ id, peer, client, promote? }`: adds a learner, or promotes an existing learner to voter. */
  private async addMember(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.runtime.status().role !== Role.Leader) return this.notLeader(res);
    const body = await readJson(req);
    const id = body.id;
    if (!Number.isSafeInteger(id) || (id as number) <= 0) throw HikariError.invalidArgument('id', 'must be a positive integer');
    const promote = body.promote === true;
    let context = '';
    if (!promote) {
      if (typeof body.peer !== 'string' || typeof body.client !== 'string') throw HikariError.invalidArgument('peer', 'peer and client addresses (host:port) are required');
      parseHostPort(body.peer);
      parseHostPort(body.client);
      context = encodeMemberContext({ id: id as number, peer: body.peer, client: body.client });
    }
    const conf = await this.runtime.changeMembership({ type: promote ? ConfChangeType.AddVoter : ConfChangeType.AddLearner, nodeId: id as number, context });
    this.log.info({ id, promote }, promote ? 'member promoted to voter' : 'member added as learner');
    this.reply(res, 200, { voters: conf.voters, learners: conf.learners });
  }

  private async removeMember(id: number, res: ServerResponse): Promise<void> {
    if (this.runtime.status().role !== Role.Leader) return this.notLeader(res);
    const conf = await this.runtime.changeMembership({ type: ConfChangeType.Remove, nodeId: id, context: '' });
    this.log.info({ id }, 'member removed');
    this.reply(res, 200, { voters: conf.voters, learners: conf.learners });
  }

  /** `GET /failpoints` (every point and its term), `PUT /failpoints/<name>` (body: a term). Only with HIKARI_FAILPOINTS set. */
  private async failpoint(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (req.method === 'GET' && path === '/failpoints') return this.reply(res, 200, failpoints.list());
    const m = /^\/failpoints\/([a-z0-9-]{1,64})$/.exec(path);
    if (req.method !== 'PUT' || m === null) return this.reply(res, 404, { error: { code: 'NOT_FOUND', message: `no route ${req.method} ${path}` } });
    failpoints.set(m[1], (await readBody(req)).toString('utf8'));
    this.log.warn({ failpoint: m[1], term: failpoints.list()[m[1]] }, 'failpoint set');
    this.reply(res, 200, failpoints.list());
  }

  private notLeader(res: ServerResponse): void {
    this.reply(res, 421, { error: errorToWire(HikariError.notLeader(this.runtime.leaderClientAddress())), leader: this.runtime.leader() });
  }

  private reply(res: ServerResponse, status: number, body: unknown): void {
    if (res.headersSent) return;
    let code = status;
    if (body && typeof body === 'object' && 'error' in body && status === 500) {
      const err = (body as { error: { code: string } }).error;
      code = HTTP_STATUS[err.code] ?? 500;
    }
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (code === 401) headers['www-authenticate'] = 'Bearer';
    res.writeHead(code, headers);
    res.end(JSON.stringify(body));
  }
}

/** HTTP statuses of the error codes the admin port answers with. */
const HTTP_STATUS: Record<string, number> = {
  [ErrorCode.INVALID_ARGUMENT]: 400,
  [ErrorCode.UNAUTHENTICATED]: 401,
  [ErrorCode.PERMISSION_DENIED]: 403,
  [ErrorCode.TOO_LARGE]: 413,
  [ErrorCode.NOT_LEADER]: 421,
  [ErrorCode.UNAVAILABLE]: 503,
  [ErrorCode.TIMEOUT]: 503,
  [ErrorCode.SHUTTING_DOWN]: 503,
};

/** The bearer token of a request; undefined when there is none. Throws UNAUTHENTICATED for a malformed one. */
function bearerOf(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer (\S+)$/.exec(header);
  if (match === null || !TOKEN_PATTERN.test(match[1]!)) throw new HikariError(ErrorCode.UNAUTHENTICATED, { reason: 'bad-token' }, { message: 'not authenticated: the Authorization header must be "Bearer <token>"' });
  return match[1];
}

/** The service a `/v1/services...` path reads ('' for the list of all services). */
function serviceOf(path: string): string {
  const raw = path.slice('/v1/services/'.length);
  if (!path.startsWith('/v1/services/') || raw === '') return '';
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > ADMIN_BODY_BYTES_MAX) throw HikariError.tooLarge('request body', size, ADMIN_BODY_BYTES_MAX);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readBody(req);
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw HikariError.invalidArgument('body', 'must be a JSON object');
}
