import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { ConfChangeType, Role } from '@hikarikeeper/raft';
import { errorToWire, HikariError } from '@hikarikeeper/protocol';
import type { Registry } from 'prom-client';
import type { RaftRuntime } from '../runtime/raft-runtime';
import { encodeMemberContext, parseHostPort } from '../runtime/members';
import type { Logger } from '../logger';
import { ServicesApi } from './services-api';
import { failpoints } from '../failpoints';

/** Request bodies the admin port reads (membership changes are tiny). */
const ADMIN_BODY_BYTES_MAX = 64 * 1024;

/**
 * The admin HTTP port: `GET /health` (the process is alive), `GET /ready` (a leader is known and this
 * node has applied everything it knows committed), `GET /status` (JSON), `GET /metrics`
 * (Prometheus), `POST /members` (add a node as a learner, or promote it once caught up) and
 * `DELETE /members/<id>`; with failpoints on (failpoints.ts), `GET /failpoints` and
 * `PUT /failpoints/<name>`; with a ServicesApi, the discovery read API under `/v1/services` (see
 * services-api.ts).
 */
export class AdminServer {
  private server: Server | null = null;

  constructor(
    private readonly runtime: RaftRuntime,
    private readonly registry: Registry,
    private readonly log: Logger,
    private readonly info: () => Record<string, unknown>,
    private readonly services: ServicesApi | null = null,
  ) {}

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const server = createServer((req, res) => {
        this.route(req, res).catch((e) => this.reply(res, 500, { error: errorToWire(e) }));
      });
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        this.server = server;
        const a = server.address();
        resolve(typeof a === 'object' && a ? { host: a.address, port: a.port } : { host, port });
      });
    });
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
    if (req.method === 'GET' && path === '/status') return this.reply(res, 200, this.status());
    if (this.services !== null && ServicesApi.handles(path)) return this.services.handle(req, res, url);
    if (req.method === 'GET' && path === '/metrics') {
      res.writeHead(200, { 'content-type': this.registry.contentType });
      res.end(await this.registry.metrics());
      return;
    }
    if (req.method === 'POST' && path === '/members') return this.addMember(req, res);
    const m = /^\/members\/(\d+)$/.exec(path);
    if (req.method === 'DELETE' && m) return this.removeMember(Number(m[1]), res);
    if (failpoints.enabled && path.startsWith('/failpoints')) return this.failpoint(req, res, path);
    if (req.method === 'POST' && path === '/transfer-leadership') {
      const ok = await this.runtime.stepDown(5000);
      return this.reply(res, ok ? 200 : 409, { transferred: ok, leader: this.runtime.leader() });
    }
    return this.reply(res, 404, { error: { code: 'NOT_FOUND', message: `no route ${req.method} ${path}` } });
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
      code = err.code === 'INVALID_ARGUMENT' ? 400 : err.code === 'NOT_LEADER' ? 421 : err.code === 'UNAVAILABLE' || err.code === 'TIMEOUT' ? 503 : 500;
    }
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
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

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readBody(req);
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw HikariError.invalidArgument('body', 'must be a JSON object');
}
