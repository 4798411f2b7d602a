/**
 * HikariHealthIndicator: a health indicator for `@nestjs/terminus` — is the cluster reachable, and
 * is this application's session alive — with what an operator wants to see when it is not.
 *
 * ```ts
 * @Controller('health')
 * class HealthController {
 *   constructor(private readonly health: HealthCheckService, private readonly hikari: HikariHealthIndicator) {}
 *   @Get() @HealthCheck()
 *   check() {
 *     return this.health.check([() => this.hikari.isHealthy('hikari')]);
 *   }
 * }
 * ```
 *
 * Its answer has Terminus's shape (`{ [key]: { status: 'up' | 'down', ...details } }`, what
 * Terminus's HealthIndicatorService builds), so this file does not import `@nestjs/terminus`: the
 * module works without it, and an application that has it passes `isHealthy` to its
 * HealthCheckService as it would any indicator. It never throws: a failing check is a `down`
 * answer, which HealthCheckService turns into a 503 with the details.
 *
 * Up when: the module is not shutting down, the session is `connected` (not suspended, expired or
 * closed), and a `sync` (a linearizable round through the leader) answers within `timeoutMs`; with
 * driver 'redis', Redis answers a PING within `timeoutMs` as well. Down otherwise, saying why.
 *
 * Details: `driver`, `endpoint` (the node connected to), `clusterId`, `nodeId`, `leader` (the leader's
 * address as that node knew it when the client connected), `session` (`{ id, state, timeoutMs }`),
 * `syncMs` (the round's duration), `index` (the cluster's log index it saw), `leading` (the elections
 * this application leads), `registration` (`{ service, id, state }`), `redis` ('up', or the error),
 * and `error` (`{ code, message }`) when down.
 */
import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode, HikariError } from '@hikarikeeper/client';
import type { HikariConnection } from './connection';
import { HikariElection } from './election.service';
import { HikariRegistrar } from './registration';
import { HIKARI_CONNECTION } from './tokens';
import { errorText, withTimeout } from './util';

/** Default longest wait for the cluster (and Redis) to answer a health check. */
export const HEALTH_TIMEOUT_MS_DEFAULT = 2_000;

export interface HikariHealthOptions {
  /** Longest wait for the cluster's answer (ms): past it, down with TIMEOUT. Default 2,000. */
  timeoutMs?: number;
}

export interface HikariHealthDetails {
  driver: 'cluster' | 'redis';
  endpoint?: string | null;
  clusterId?: string;
  nodeId?: number;
  leader?: string | null;
  session?: { id: string; state: string; timeoutMs: number } | null;
  syncMs?: number;
  index?: number;
  leading?: string[];
  registration?: { service: string; id: string; state: string } | null;
  redis?: 'up' | { code: string; message: string };
  error?: { code: string; message: string };
}

/** What `isHealthy` answers: Terminus's HealthIndicatorResult. */
export type HikariHealthResult<Key extends string> = Record<Key, { status: 'up' | 'down' } & HikariHealthDetails>;

@Injectable()
export class HikariHealthIndicator {
  constructor(
    @Inject(HIKARI_CONNECTION) private readonly connection: HikariConnection,
    private readonly election: HikariElection,
    private readonly registrar: HikariRegistrar,
  ) {}

  /** Checks the cluster (and Redis, with driver 'redis'); see the head comment. Never throws. */
  async isHealthy<const Key extends string = 'hikari'>(key: Key = 'hikari' as Key, options: HikariHealthOptions = {}): Promise<HikariHealthResult<Key>> {
    const { timeoutMs = HEALTH_TIMEOUT_MS_DEFAULT } = options;
    const details: HikariHealthDetails = { driver: this.connection.options.driver };
    let failure: { code: string; message: string } | null = null;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      failure = { code: ErrorCode.INVALID_ARGUMENT, message: 'timeoutMs must be a positive number of ms' };
    } else if (this.connection.closed) {
      failure = { code: ErrorCode.CANCELLED, message: 'the application is shutting down: its session is closed or closing' };
    } else {
      const [cluster, redis] = await Promise.all([this.checkCluster(details, timeoutMs), this.checkRedis(details, timeoutMs)]);
      failure = cluster ?? redis;
    }
    if (failure !== null) details.error = failure;
    return { [key]: { status: failure === null ? 'up' : 'down', ...details } } as HikariHealthResult<Key>;
  }

  /** Fills in the cluster's details; the failure, or null. */
  private async checkCluster(details: HikariHealthDetails, timeoutMs: number): Promise<{ code: string; message: string } | null> {
    const client = this.connection.client;
    if (client === null) return null; // driver 'redis' alone: no cluster to check
    const node = client.node;
    const session = client.session;
    details.endpoint = client.endpoint;
    if (node !== null) Object.assign(details, { clusterId: node.clusterId, nodeId: node.nodeId, leader: node.leader });
    details.session = session === null ? null : { id: session.id, state: session.state, timeoutMs: session.timeoutMs };
    details.leading = this.election.standing.filter((name) => this.election.isLeader(name));
    const handle = this.registrar.handle;
    if (this.connection.options.registration !== null) {
      details.registration = handle === null ? null : { service: handle.service, id: handle.id, state: handle.state };
    }
    if (session !== null && session.state !== 'connected') {
      const code = session.state === 'suspended' ? ErrorCode.CONNECTION_LOSS : session.state === 'expired' ? ErrorCode.SESSION_EXPIRED : ErrorCode.CANCELLED;
      return { code, message: `the session is ${session.state}: its locks, leaderships and registration cannot be relied on` };
    }
    const started = performance.now();
    try {
      const { index } = await client.sync({ timeoutMs });
      details.syncMs = Math.round((performance.now() - started) * 10) / 10;
      details.index = index;
      return null;
    } catch (error) {
      return failureOf(error, 'the cluster did not answer');
    }
  }

  /** With driver 'redis': PINGs Redis; the failure, or null. */
  private async checkRedis(details: HikariHealthDetails, timeoutMs: number): Promise<{ code: string; message: string } | null> {
    const redis = this.connection.options.redis;
    if (redis === null) return null;
    try {
      await withTimeout(redis.client.ping(), timeoutMs);
      details.redis = 'up';
      return null;
    } catch (error) {
      const failure = failureOf(error, 'Redis did not answer');
      details.redis = failure;
      return failure;
    }
  }
}

function failureOf(error: unknown, what: string): { code: string; message: string } {
  if (HikariError.is(error)) return { code: error.code, message: `${what}: ${error.message}` };
  return { code: ErrorCode.UNAVAILABLE, message: `${what}: ${errorText(error)}` };
}
